"""The sans-IO SMTP dialogue of qmail-remote with one connected server (spec §5.5).

Feed the server's bytes with `receive()`; collect `Send` (bytes for the server), `Report`
(bytes for qmail-remote's fd 1) and, at the end, `Finished`. `Finished.try_next` means
"this server said 4xx in its greeting, try the next address" (1.09 only).

Rules (from qmail-remote.c): every command is flushed and answered in lock-step; the body
goes through a 1024-byte buffer, so a message without a final newline ends the delivery
before the buffered tail is sent; relay AUTH LOGIN is used only when a line after the first
of the EHLO (or HELO) reply starts, from its fifth byte, with one of AUTH_LINES.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from eqmail_ref.b64 import b64encode
from eqmail_ref.effects import Effect, Send
from eqmail_ref.remote.report import (
    PERM_PARTIAL_LINE,
    Reply,
    SmtpReplyParser,
    accepted,
    connected_failure,
    delivered,
    fmt_ip,
    recipient_rejected,
)
from eqmail_ref.versions import DEFAULT_VERSION, Version

__all__ = ["Delivery", "SmtpDialogue", "Report", "Finished", "AUTH_LINES", "quote_address"]

AUTH_LINES = (b"AUTH LOGIN\n", b"AUTH LOGIN ", b"AUTH PLAIN LOGIN\n", b"AUTH PLAIN LOGIN ",
              b"AUTH=LOGIN\n", b"AUTH=LOGIN ")
_BODY_BUFFER = 1024  # smtptobuf
_SAFE = frozenset(b"!#$%&'*+-./0123456789=?ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`"
                  b"abcdefghijklmnopqrstuvwxyz{|}~")


@dataclass(frozen=True, kw_only=True)
class Report(Effect):
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Finished(Effect):
    try_next: bool = False


@dataclass(frozen=True, kw_only=True)
class Delivery:
    sender: bytes  # already quoted (quote_address)
    recipients: tuple[bytes, ...]
    message: bytes
    helohost: bytes
    auth_user: bytes = b""
    auth_password: bytes = b""
    version: Version = DEFAULT_VERSION


def quote_address(address: bytes) -> bytes:
    """addrmangle() without CNAME lookup: the local part quoted as RFC 821 needs (quote.c)."""
    at = address.rfind(b"@")
    if at < 0:
        return address
    box, host = address[:at], address[at + 1 :]
    need = (not box or any(c not in _SAFE for c in box) or box[:1] == b"." or box[-1:] == b"."
            or b".." in box)
    if need:
        escaped = bytearray(b'"')
        for c in box:
            if c in b'\r\n"\\':
                escaped.append(0x5C)
            escaped.append(c)
        box = bytes(escaped + b'"')
    return box + b"@" + host


class _Dropped(Exception):
    pass


class _Quit(Exception):
    """quit(): the report is complete; QUIT was already queued."""


class _TryNext(Exception):
    """1.09: a 4xx greeting; the connection is dropped and the next address is tried."""


class SmtpDialogue:
    def __init__(self, delivery: Delivery, ip: bytes) -> None:
        self.d = delivery
        self.ip = ip
        self.parser = SmtpReplyParser()
        self.effects: list[Effect] = []
        self.critical = False  # between the final dot and its reply ("Possible duplicate!")
        self.done = False
        self._eof = False
        self._last_text = b""
        self._gen = self._run()
        self._step()

    # --------------------------------------------------------------- driving API

    def receive(self, data: bytes) -> list[Effect]:
        """Server bytes; b"" means the connection closed (or timed out)."""
        if self.done:
            return []
        if data:
            self.parser.feed(data)
        else:
            self._eof = True
        self._step()
        return self.take()

    def take(self) -> list[Effect]:
        effects, self.effects = self.effects, []
        return effects

    def _step(self) -> None:
        try:
            next(self._gen)
        except StopIteration:
            self.done = True

    # ------------------------------------------------------------------ dialogue

    def _reply(self) -> Generator[None, None, Reply]:
        while True:
            reply = self.parser.next_reply()
            if reply is not None:
                self._last_text = reply.text
                return reply
            if self._eof:
                raise _Dropped
            yield

    def _send(self, data: bytes) -> None:
        self.effects.append(Send(data=data))

    def _quit(self, letter_prefix: bytes, suffix: bytes) -> None:
        self._send(b"QUIT\r\n")
        letter, prefix = letter_prefix[:1], letter_prefix[1:]
        self.effects.append(Report(data=connected_failure(letter, prefix, self.ip, suffix,
                                                          self._last_text)))
        raise _Quit

    def _run(self) -> Generator[None, None, None]:
        try:
            yield from self._dialogue()
        except _Dropped:
            self.effects.append(Report(data=b"ZConnected to " + fmt_ip(self.ip)
                                       + b" but connection died. "
                                       + (b"Possible duplicate! " if self.critical else b"")
                                       + b"(#4.4.2)\n\0"))
        except _Quit:
            pass
        except _TryNext:
            self.effects.append(Finished(try_next=True))
            return
        self.effects.append(Finished())

    def _dialogue(self) -> Generator[None, None, None]:
        d = self.d
        greeting = yield from self._reply()
        if not d.version.submission_port:  # 1.08: any non-220 greeting is Z (§5.5.1)
            if greeting.code != 220:
                self._quit(b"ZConnected to ", b" but greeting failed")
        else:
            if 500 <= greeting.code < 600:
                self._quit(b"DConnected to ", b" but greeting failed")
            if 400 <= greeting.code < 500:
                raise _TryNext
            if greeting.code != 220:
                self._quit(b"ZConnected to ", b" but greeting failed")
        self._send(b"EHLO " + d.helohost + b"\r\n")
        hello = yield from self._reply()
        if hello.code != 250:
            self._send(b"HELO " + d.helohost + b"\r\n")
            hello = yield from self._reply()
            if hello.code != 250:
                self._quit(b"ZConnected to ", b" but my name was rejected")
        if d.auth_user and d.auth_password and _offers_login(hello.text):
            self._send(b"AUTH LOGIN\r\n")
            if (yield from self._reply()).code != 334:
                self._quit(b"ZConnected to ", b" but authentication was rejected (AUTH LOGIN)")
            self._send(b64encode(d.auth_user) + b"\r\n")
            if (yield from self._reply()).code != 334:
                self._quit(b"ZConnected to ", b" but authentication was rejected (username)")
            self._send(b64encode(d.auth_password) + b"\r\n")
            if (yield from self._reply()).code != 235:
                self._quit(b"ZConnected to ", b" but authentication was rejected (password)")
            self._send(b"MAIL FROM:<" + d.sender + b"> AUTH=<" + d.sender + b">\r\n")
        else:
            self._send(b"MAIL FROM:<" + d.sender + b">\r\n")
        code = (yield from self._reply()).code
        if code >= 500:
            self._quit(b"DConnected to ", b" but sender was rejected")
        if code >= 400:
            self._quit(b"ZConnected to ", b" but sender was rejected")
        bother = False
        for rcpt in d.recipients:
            self._send(b"RCPT TO:<" + rcpt + b">\r\n")
            reply = yield from self._reply()
            if reply.code >= 400:
                self.effects.append(Report(data=recipient_rejected(reply.code, self.ip, reply.text)))
            else:
                self.effects.append(Report(data=accepted()))
                bother = True
            self._last_text = b""  # outsmtptext() consumed it
        if not bother:
            self._quit(b"DGiving up on ", b"")
        self._send(b"DATA\r\n")
        code = (yield from self._reply()).code
        if code >= 500:
            self._quit(b"D", b" failed on DATA command")
        if code >= 400:
            self._quit(b"Z", b" failed on DATA command")
        body, complete = _transparent(d.message)
        if not complete:
            sent = len(body) - len(body) % _BODY_BUFFER  # the rest is still in smtptobuf
            if sent:
                self._send(body[:sent])
            self.effects.append(Report(data=PERM_PARTIAL_LINE + b"\0"))
            raise _Quit
        self.critical = True
        self._send(body + b".\r\n")
        code = (yield from self._reply()).code
        self.critical = False
        if code >= 500:
            self._quit(b"D", b" failed after I sent the message")
        if code >= 400:
            self._quit(b"Z", b" failed after I sent the message")
        self._send(b"QUIT\r\n")
        self.effects.append(Report(data=delivered(self.ip, self._last_text)))


def _offers_login(text: bytes) -> bool:
    """The AUTH test of qmail-remote: from the second line on, bytes 4.. of a line start
    with one of AUTH_LINES, and the line starts more than 14 bytes before the text's end."""
    i = 0
    while True:
        nl = text.find(b"\n", i)
        if nl < 0:
            return False
        i = nl + 1
        if not i + 14 < len(text):
            return False
        if any(text[i + 4 : i + 4 + len(p)] == p for p in AUTH_LINES):
            return True


def _transparent(message: bytes) -> tuple[bytes, bool]:
    """blast(): LF -> CRLF, a line-initial '.' doubled. False if the last line has no LF."""
    if not message:
        return b"", True
    lines = message.split(b"\n")
    complete = lines[-1] == b""
    if complete:
        lines.pop()
    out = bytearray()
    for n, line in enumerate(lines):
        if line[:1] == b".":
            out += b"."
        out += line
        if complete or n < len(lines) - 1:
            out += b"\r\n"
    return bytes(out), complete
