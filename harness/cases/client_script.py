"""A category-10 case's client, read into the case model: `client = "NAME"` and its
`script` table (conformance/README.md, client interop). Every key is known or a problem,
and so are the combinations a client cannot play: `openssl s_client` writes its whole
script without reading (no CRAM-MD5, whose answer needs the challenge) and only speaks
through STARTTLS; the libraries do not pipeline.

script = { from = "joe@example.org", to = ["rcpt@example.org"], message = "...", size = N,
           mail_options = ["8BITMIME"], starttls = "no" | "opportunistic" | "required",
           auth = { mechanism = "PLAIN" | "LOGIN" | "CRAM-MD5" | "any", user = "joe",
                    password = "secret" },
           helo = "client.test", pipelining = false, send = true }
"""

from __future__ import annotations

from typing import Any

from harness.cases.check import Bad, Checker, Path_, flag, strings, table, text
from harness.cases.model import AUTH_MECHANISMS, CLIENTS, STARTTLS_MODES, ClientAuth, ClientScript, to_bytes

__all__ = ["parse_client", "SCRIPT_KEYS", "sized_message"]

SCRIPT_KEYS = ("from", "to", "message", "size", "mail_options", "starttls", "auth", "helo", "pipelining",
               "send")
_AUTH_KEYS = ("mechanism", "user", "password")
_PATH: Path_ = ("script",)


def sized_message(size: int) -> bytes:
    """A message of exactly `size` bytes (at least the header): lines of 78 letters, CR LF
    ended, so that a large message is an ordinary one, only long."""
    head = b"Subject: large\r\n\r\n"
    body = bytearray()
    line = b"x" * 76 + b"\r\n"
    while len(head) + len(body) < size:
        body += line
    return (head + bytes(body))[:max(size, len(head))]


def _auth(raw: Any) -> ClientAuth:
    path = (*_PATH, "auth")
    got = table(raw, path, "script.auth")
    unknown = sorted(set(got) - set(_AUTH_KEYS))
    if unknown:
        raise Bad((*path, unknown[0]),
                  f"script.auth: unknown key '{unknown[0]}' (known: {', '.join(_AUTH_KEYS)})")
    mechanism = text(got.get("mechanism", "any"), (*path, "mechanism"), "script.auth.mechanism")
    if mechanism not in AUTH_MECHANISMS:
        raise Bad((*path, "mechanism"), f"script.auth.mechanism must be one of {', '.join(AUTH_MECHANISMS)}")
    for key in ("user", "password"):
        if key not in got:
            raise Bad(path, f"script.auth needs {key}")
    return ClientAuth(mechanism=mechanism, user=text(got["user"], (*path, "user"), "script.auth.user"),
                      password=text(got["password"], (*path, "password"), "script.auth.password"))


def parse_client(name: Any, raw: Any, check: Checker) -> ClientScript:
    """The case's `client` and `script` as a ClientScript; what the client cannot do is a problem."""
    client = text(name, ("client",), "client")
    if client not in CLIENTS:
        raise Bad(("client",), f"client must be one of {', '.join(CLIENTS)}, not {client!r}")
    got = table(raw, _PATH, "script")
    if check.keys(got, SCRIPT_KEYS, _PATH, "script"):
        raise Bad(_PATH, "")  # told already
    if "message" in got and "size" in got:
        raise Bad((*_PATH, "size"), "script: give message or size, not both")
    size = got.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise Bad((*_PATH, "size"), "script.size must be a byte count > 0")
    message = (sized_message(size) if size is not None
               else to_bytes(text(got.get("message", "Subject: t\r\n\r\nhi\r\n"), (*_PATH, "message"),
                                  "script.message")))
    starttls = text(got.get("starttls", "no"), (*_PATH, "starttls"), "script.starttls")
    if starttls not in STARTTLS_MODES:
        raise Bad((*_PATH, "starttls"), f"script.starttls must be one of {', '.join(STARTTLS_MODES)}")
    auth = _auth(got["auth"]) if "auth" in got else None
    pipelining = flag(got.get("pipelining", False), (*_PATH, "pipelining"), "script.pipelining")
    send = flag(got.get("send", True), (*_PATH, "send"), "script.send")
    if pipelining and client != "swaks":
        raise Bad((*_PATH, "pipelining"), f"script.pipelining: {client} does not pipeline (swaks does)")
    if client == "openssl-s_client":
        if starttls != "required":
            raise Bad((*_PATH, "starttls"), "script.starttls: openssl-s_client speaks SMTP only through "
                                            "its own STARTTLS: starttls must be \"required\"")
        if auth is not None and auth.mechanism not in ("PLAIN", "LOGIN"):
            raise Bad((*_PATH, "auth", "mechanism"), "script.auth.mechanism: openssl-s_client writes its "
                                                     "script without reading: PLAIN or LOGIN only")
    return ClientScript(
        client=client, message=message, starttls=starttls, auth=auth, pipelining=pipelining, send=send,
        sender=text(got.get("from", "joe@example.org"), (*_PATH, "from"), "script.from"),
        recipients=strings(got.get("to", ["rcpt@example.org"]), (*_PATH, "to"), "script.to", empty=False),
        mail_options=strings(got.get("mail_options", []), (*_PATH, "mail_options"), "script.mail_options"),
        helo=text(got.get("helo", "client.test"), (*_PATH, "helo"), "script.helo"))
