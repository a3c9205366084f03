"""What a real client did, as stable text: the observation of a category-10 case.

A library either returns (the recipients it says were refused, its final reply) or raises;
a tool exits with a status after printing what it saw. Each becomes CR LF lines in which a
server reply keeps its SMTP form, `CODE text` (the last line of a multi-line reply) or
`CODE-text`, so the verdict's "same codes, other texts" (NON_STRICT) and the normalization
rules (`250 ok T qp P`, harness/normalize.py) work on it as on a wire transcript:

    sent                              raised SMTPRecipientsRefused
    refused <bad@x.test>              refused <bad@x.test>
    553 sorry, ... (#5.7.1)           553 sorry, ... (#5.7.1)

What varies between runs and is no behaviour (OpenSSL's source line in an ssl error, a
socket's address) is dropped here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from harness.cases import ClientScript

__all__ = ["describe", "reply_lines", "returned", "raised", "tool_exit"]

_SSL_WHERE = re.compile(r"\s*\(_ssl\.c:\d+\)")


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def reply_lines(code: Any, message: Any) -> list[str]:
    """A reply as a server sent it: `CODE-line` ... `CODE line` (a library joins the lines
    of a multi-line reply with LF and drops the codes)."""
    lines = _text(message).split("\n") or [""]
    return [f"{code}{'-' if n < len(lines) - 1 else ' '}{line}".rstrip() for n, line in enumerate(lines)]


def _join(lines: Iterable[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1", "replace")


def describe(script: ClientScript) -> bytes:
    """The script as the `sent` side of the report: what the client was told to do."""
    parts = [f"{script.client}: EHLO {script.helo}"]
    if script.starttls != "no":
        parts.append(f"STARTTLS {script.starttls}")
    if script.auth is not None:
        parts.append(f"AUTH {script.auth.mechanism} {script.auth.user} / {script.auth.password}")
    if script.send:
        opts = f" {' '.join(script.mail_options)}" if script.mail_options else ""
        parts.append(f"send {len(script.message)} bytes from <{script.sender}> to "
                     f"{', '.join(f'<{r}>' for r in script.recipients)}{opts}")
    if script.pipelining:
        parts.append("pipelining")
    head = " | ".join(parts).encode("utf-8")
    return head + b"\r\n" + (script.message if script.send and len(script.message) <= 4096 else b"")


def _refused(recipients: Any) -> list[str]:
    """smtplib: {rcpt: (code, message)}; aiosmtplib: {rcpt: SMTPResponse} returned, or a list
    of SMTPRecipientRefused raised."""
    lines: list[str] = []
    items = (recipients.items() if isinstance(recipients, dict)
             else ((r.recipient, (r.code, r.message)) for r in recipients))
    for rcpt, reply in sorted(items, key=lambda kv: str(kv[0])):
        code, message = (reply.code, reply.message) if hasattr(reply, "code") else reply
        lines += [f"refused <{rcpt}>", *reply_lines(code, message)]
    return lines


def returned(refused: Any, final: tuple[Any, Any] | None = None, what: str = "sent") -> bytes:
    """A call that returned: `what` ("sent", "authenticated"), the refused recipients, and the
    final reply when the library gives it."""
    lines = [what, *_refused(refused or {})]
    if final is not None:
        lines += reply_lines(*final)
    return _join(lines)


def raised(exc: BaseException) -> bytes:
    """An exception: its class, the recipients it names, the SMTP reply it carries or its text."""
    lines = [f"raised {type(exc).__name__}"]
    recipients = getattr(exc, "recipients", None)
    sender = getattr(exc, "sender", None)
    code = getattr(exc, "smtp_code", getattr(exc, "code", None))
    message = getattr(exc, "smtp_error", getattr(exc, "message", None))
    if recipients:
        lines += _refused(recipients)
    elif isinstance(code, int) and code > 0 and message is not None:
        if sender is not None:
            lines.append(f"sender <{_text(sender)}>")
        lines += reply_lines(code, message)
    else:
        text = _SSL_WHERE.sub("", _text(message if message is not None else exc))
        lines += [line for line in text.splitlines() if line.strip()]
    return _join(lines)


def tool_exit(status: int, lines: Iterable[str]) -> bytes:
    """A command-line client: its exit status, then the lines it printed that say what
    happened on the wire."""
    return _join([f"exit {status}", *lines])
