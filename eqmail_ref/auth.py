"""SMTP AUTH of eQmail's qmail-smtpd (qmail-auth 0.58/0.59; spec §2.9-2.10).

Each mechanism is a generator used with `yield from` by the core; it returns 0 (the
checkpassword program said yes), 1 (it said no: 535 after the pause) or -1 (a reply was
already given). Requests: `CheckPassword`, `Sleep`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqmail_ref import replies
from eqmail_ref.b64 import b64decode, b64encode
from eqmail_ref.cbytes import cstr
from eqmail_ref.effects import CheckPassword, Sleep
from eqmail_ref.pump import Program, ask

if TYPE_CHECKING:
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.smtpd_session import Session

__all__ = ["MECHANISMS", "AUTH_SLEEP"]

AUTH_SLEEP = 5.0  # seconds qmail-smtpd sleeps before 535 (AUTHSLEEP)

Gen = Program[int]


def _getline(io: SmtpServer) -> Program[bytes | None]:
    """authgetl(): a client line; None after answering `*` (cancel) or an empty line."""
    line = yield from io.readline()
    if line.endswith(b"\r"):
        line = line[:-1]
    if cstr(line) == b"*":
        io.out(replies.AUTH_CANCELED)
        return None
    if not line:
        io.out(replies.AUTH_MALFORMED)
        return None
    return line


def _authenticate(s: Session, io: SmtpServer, user: bytes, password: bytes, challenge: bytes) -> Gen:
    s.auth_user = user
    data = user + b"\0" + password + b"\0" + challenge + b"\0"
    result = yield from ask(CheckPassword(argv=s.checkpassword, data=data, env=dict(s.env)))
    if result.failure is not None:
        io.out({"pipe": replies.AUTH_PIPE, "fork": replies.AUTH_FORK,
               "write": replies.AUTH_WRITE}.get(result.failure, replies.AUTH_CHILD))
        return -1
    if result.signal is not None:
        io.out(replies.AUTH_CHILD)
        return -1
    if result.exit_code:
        yield from ask(Sleep(seconds=s.auth_sleep))
        return 1
    return 0


def _prompt(io: SmtpServer, prompt: bytes) -> Program[bytes | None]:
    io.out(prompt)
    io.flush()
    return (yield from _getline(io))


_NEGATIVE = "base64 input of a negative decoded length: eQmail crashes using it (verified)"


def _decoded(io: SmtpServer, data: bytes) -> bytes:
    """b64decode() where the result is used at once (PLAIN, CRAM-MD5): a negative length
    crashes on the spot."""
    value = b64decode(data)
    if value is None:
        io.end(1, crash=True, reason=_NEGATIVE)
    assert value is not None
    return value


def auth_login(s: Session, io: SmtpServer, arg: bytes) -> Gen:
    b64_prompts = s.version.base64_login_prompts
    if arg:
        user = b64decode(arg)
    else:
        line = yield from _prompt(io, replies.LOGIN_USER_B64 if b64_prompts else replies.LOGIN_USER_TEXT)
        if line is None:
            return -1
        user = b64decode(line)
    line = yield from _prompt(io, replies.LOGIN_PASS_B64 if b64_prompts else replies.LOGIN_PASS_TEXT)
    if line is None:
        return -1
    password = b64decode(line)
    # A negative length is a non-zero (huge) length: it passes the emptiness test below and
    # crashes in authenticate() when the 4 GiB "string" is written to checkpassword.
    if user == b"" or password == b"":
        io.out(replies.AUTH_MALFORMED)
        return -1
    if user is None or password is None:
        io.end(1, crash=True, reason=_NEGATIVE)
    assert user is not None and password is not None
    return (yield from _authenticate(s, io, user, password, b""))


def auth_plain(s: Session, io: SmtpServer, arg: bytes) -> Gen:
    if arg:
        resp = _decoded(io, arg)
    else:
        line = yield from _prompt(io, replies.PLAIN_PROMPT)
        if line is None:
            return -1
        resp = _decoded(io, line)
    resp += b"\0"  # "authzid\0authcid\0passwd"; the authzid is skipped
    first = resp.index(b"\0")
    user = cstr(resp[first + 1 :]) if len(resp) > first + 1 else b""
    rest = first + len(user) + 2
    password = cstr(resp[rest:]) if len(resp) > rest else b""
    if not user or not password:
        io.out(replies.AUTH_MALFORMED)
        return -1
    return (yield from _authenticate(s, io, user, password, b""))


def auth_cram(s: Session, io: SmtpServer, arg: bytes) -> Gen:
    now, _ = s.clock()
    challenge = b"<%d.%d@%s>" % (s.pid, now, s.local)
    line = yield from _prompt(io, b"334 " + b64encode(challenge) + b"\r\n")
    if line is None:
        return -1
    resp = cstr(_decoded(io, line))
    space = resp.find(b" ")
    user = resp if space < 0 else resp[:space]
    digest = b"" if space < 0 else resp[space:].lstrip(b" ")
    if not user or not digest:
        io.out(replies.AUTH_MALFORMED)
        return -1
    return (yield from _authenticate(s, io, user, digest, challenge))


# Names as qmail-smtpd's table spells them; SMTPAUTHMETHOD gets these lowercase names.
MECHANISMS = {b"login": auth_login, b"plain": auth_plain, b"cram-md5": auth_cram}
