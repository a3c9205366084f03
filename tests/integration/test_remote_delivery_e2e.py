"""`eqmail-ref remote` (eqmail_ref.shell.remote_main) against a real SMTP peer on loopback
that records what the client sent: every row of the spec's report table that a server can
provoke, relay AUTH and its EHLO line variants, smtproutes quirks, the message transfer.

Each case also runs through a REAL eQmail 1.08 qmail-remote when $EQMAIL_REAL_REMOTE names
one (see remote_conftest_helpers.real_remote_binary): same home, same peer script, and the
report and the bytes the peer received must be identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.fake_smtp_peer import CLOSE, Item, SmtpPeer
from tests.helpers.remote_conftest_helpers import make_home, real_remote_binary, run_real_remote, run_remote

G = b"220 peer ESMTP\r\n"
EHLO = b"250-peer\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
EHLO_AUTH = b"250-peer\r\n250-AUTH LOGIN PLAIN CRAM-MD5\r\n250 8BITMIME\r\n"
OK = b"250 ok\r\n"
GO = b"354 go ahead\r\n"
QUEUED = b"250 ok 1234 qp 42\r\n"
AUTH_OK = [b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 go ahead\r\n"]
MSG = b"Subject: x\n\nhi\n"
ROUTE = "x.example:127.0.0.1:{port}\n"
NOCONN = b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"
HEAD = b"EHLO mx.test\r\nMAIL FROM:<s@y.org>\r\nRCPT TO:<r@x.example>\r\n"
BODY = b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"


def accepted(text: bytes = b"250 ok 1234 qp 42\n") -> bytes:
    return b"K127.0.0.1 accepted message.\nRemote host said: " + text + b"\0"


def authed(password_b64: bytes) -> bytes:
    """What the peer receives for a delivery with AUTH LOGIN as joe (am9l)."""
    return (b"EHLO mx.test\r\nAUTH LOGIN\r\nam9l\r\n" + password_b64 + b"\r\n"
            b"MAIL FROM:<s@y.org> AUTH=<s@y.org>\r\nRCPT TO:<r@x.example>\r\n" + BODY)


@dataclass
class Case:
    id: str
    script: list[Item]
    report: bytes
    wire: bytes | None = None  # what the peer received, when checked
    routes: str = ROUTE
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ("x.example", "s@y.org", "r@x.example")
    message: bytes = MSG
    # control files made unreadable (replaced by a directory), or removed ("me")
    broken: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


TEMP_CONTROL = b"ZUnable to read control files. (#4.3.0)\n\0"
CASES = [
    Case("success", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         HEAD + BODY),
    Case("recipients-r-h-s", [G, EHLO, OK, OK, b"550 no such user\r\n", b"451 try later\r\n", GO, QUEUED],
         b"r\0h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0"
         b"s127.0.0.1 does not like recipient.\nRemote host said: 451 try later\n\0" + accepted(),
         args=("x.example", "s@y.org", "a@x.example", "b@x.example", "c@x.example")),
    Case("greeting-421-is-z", [b"421 busy\r\n"],
         b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 421 busy\n\0", b"QUIT\r\n"),
    Case("greeting-554-is-z", [b"554-go\r\n554 away\r\n"],
         b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 554-go\n554 away\n\0",
         b"QUIT\r\n"),
    Case("ehlo-rejected-helo-ok", [G, b"502 no\r\n", OK, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         b"EHLO mx.test\r\nHELO mx.test\r\n" + HEAD[14:] + BODY),
    Case("helo-rejected", [G, b"502 no\r\n", b"501 who are you\r\n"],
         b"ZConnected to 127.0.0.1 but my name was rejected.\nRemote host said: 501 who are you\n\0",
         b"EHLO mx.test\r\nHELO mx.test\r\nQUIT\r\n"),
    Case("mail-5xx", [G, EHLO, b"553 sender denied\r\n"],
         b"DConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 553 sender denied\n\0"),
    Case("mail-4xx", [G, EHLO, b"451 later\r\n"],
         b"ZConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 451 later\n\0"),
    Case("no-recipient-accepted", [G, EHLO, OK, b"550 nope\r\n"],
         b"h127.0.0.1 does not like recipient.\nRemote host said: 550 nope\n\0"
         b"DGiving up on 127.0.0.1.\n\0", HEAD + b"QUIT\r\n"),
    Case("data-5xx", [G, EHLO, OK, OK, b"554 no data\r\n"],
         b"r\0D127.0.0.1 failed on DATA command.\nRemote host said: 554 no data\n\0"),
    Case("data-4xx", [G, EHLO, OK, OK, b"451 no data now\r\n"],
         b"r\0Z127.0.0.1 failed on DATA command.\nRemote host said: 451 no data now\n\0"),
    Case("after-dot-5xx", [G, EHLO, OK, OK, GO, b"552 too big\r\n"],
         b"r\0D127.0.0.1 failed after I sent the message.\nRemote host said: 552 too big\n\0"),
    Case("after-dot-4xx", [G, EHLO, OK, OK, GO, b"452 full\r\n"],
         b"r\0Z127.0.0.1 failed after I sent the message.\nRemote host said: 452 full\n\0"),
    Case("died-before-greeting", [CLOSE], b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),
    Case("died-after-ehlo", [G, CLOSE], b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),
    Case("died-after-dot", [G, EHLO, OK, OK, GO, CLOSE],
         b"r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0"),
    Case("partial-final-line", [G, EHLO, OK, OK, GO, QUEUED],
         b"r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0",
         HEAD + b"DATA\r\n", message=b"Subject: x\n\nno newline"),
    Case("partial-after-a-flush", [G, EHLO, OK, OK, GO, QUEUED],
         b"r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0",
         HEAD + b"DATA\r\n" + b"x" * 1023 + b"\r\n" + b"y" * 2046,
         message=b"x" * 1023 + b"\n" + b"y" * 3000),
    Case("transparency", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         HEAD + b"DATA\r\n..lead\r\n...\r\nmid.dot\r\ncr\r\r\n\r\n.. \r\n.\r\nQUIT\r\n",
         message=b".lead\n..\nmid.dot\ncr\r\n\n. \n"),
    Case("empty-message", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         HEAD + b"DATA\r\n.\r\nQUIT\r\n", message=b""),
    Case("reply-text-nul-and-long", [G, EHLO, OK, OK, GO, b"250-a\0b\r\n250 " + b"z" * 6000 + b"\r\n"],
         b"r\0K127.0.0.1 accepted message.\nRemote host said: 250-a?b\n250 " + b"z" * (5000 - 12) + b"\0"),
    Case("quoted-addresses", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         b'EHLO mx.test\r\nMAIL FROM:<"john doe"@y.org>\r\nRCPT TO:<"a..b"@x.example>\r\n' + BODY,
         args=("x.example", "john doe@y.org", "a..b@x.example")),
    Case("null-sender", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         b"EHLO mx.test\r\nMAIL FROM:<>\r\nRCPT TO:<r@x.example>\r\n" + BODY,
         args=("x.example", "", "r@x.example")),
    # relay AUTH (spec §5.5.4)
    Case("auth-password-with-spaces", [G, EHLO_AUTH, *AUTH_OK, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         authed(b"cGFzcyB3b3JkIHdpdGggc3BhY2Vz"),  # "pass word with spaces"
         routes="x.example:127.0.0.1:{port} joe pass word with spaces\n"),
    Case("auth-password-with-edge-spaces", [G, EHLO_AUTH, *AUTH_OK, OK, OK, GO, QUEUED],
         b"r\0" + accepted(), authed(b"ICBwdyAgeA=="),  # "  pw  x": only the two separators go
         routes="x.example:127.0.0.1:{port} joe   pw  x\t \n"),
    Case("auth-user-without-password-reads-next-line", [G, EHLO_AUTH, *AUTH_OK, OK, OK, GO, QUEUED],
         b"r\0" + accepted(), authed(b"b3RoZXIuZXhhbXBsZToxMjcuMC4wLjE6OTk="),
         routes="x.example:127.0.0.1:{port} joe\nother.example:127.0.0.1:99\n"),
    Case("auth-user-without-password-last-line", [G, EHLO_AUTH, *AUTH_OK, OK, OK, GO, QUEUED],
         b"r\0" + accepted(), authed(b"Wg=="), routes="x.example:127.0.0.1:{port} joe\n"),
    Case("auth-double-space-no-user", [G, EHLO_AUTH, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         HEAD + BODY,
         routes="x.example:127.0.0.1:{port}  secret\n"),
    Case("auth-login-rejected", [G, EHLO_AUTH, b"504 not here\r\n"],
         b"ZConnected to 127.0.0.1 but authentication was rejected (AUTH LOGIN).\n"
         b"Remote host said: 504 not here\n\0", routes="x.example:127.0.0.1:{port} joe pw\n"),
    Case("auth-username-rejected", [G, EHLO_AUTH, AUTH_OK[0], b"535 who\r\n"],
         b"ZConnected to 127.0.0.1 but authentication was rejected (username).\n"
         b"Remote host said: 535 who\n\0", routes="x.example:127.0.0.1:{port} joe pw\n"),
    Case("auth-password-rejected", [G, EHLO_AUTH, *AUTH_OK[:2], b"535 5.7.8 bad\r\n"],
         b"ZConnected to 127.0.0.1 but authentication was rejected (password).\n"
         b"Remote host said: 535 5.7.8 bad\n\0",
         b"EHLO mx.test\r\nAUTH LOGIN\r\nam9l\r\ncHc=\r\nQUIT\r\n",
         routes="x.example:127.0.0.1:{port} joe pw\n"),
    # smtproutes walk and value parse (spec §5.3)
    Case("route-suffix-wildcard", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         args=("a.b.x.example", "s@y.org", "r@x.example"),
         routes=".x.example:127.0.0.1:{port}\nb.x.example:127.0.0.1:1\n.b.x.example:127.0.0.1:{port}\n"),
    Case("route-catch-all", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         args=("anything.test", "s@y.org", "r@x.example"), routes="#comment\n:127.0.0.1:{port}\n"),
    Case("route-bracketed-literal", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         routes="x.example:[127.0.0.1]:{port}\n"),
    Case("route-port-not-a-number", [], NOCONN, routes="x.example:127.0.0.1:smtp\n"),
    # timeoutconn() keeps the low 16 bits of the port; ip_scan keeps the low 8 of an octet
    Case("route-port-wraps-at-16-bits", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         routes="x.example:127.0.0.1:{port+65536}\n"),
    Case("route-relay-octet-wraps-at-8-bits", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         routes="x.example:383.0.0.257:{port}\n"),
    # the fixed rows of the report table (spec §5.1) that a home can provoke
    Case("invoked-improperly", [], b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0",
         args=("x.example", "s@y.org")),
    Case("no-helohost-and-no-me", [], TEMP_CONTROL, removed=("me",)),
    Case("helohost-without-me", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         b"EHLO h.test\r\n" + HEAD[14:] + BODY, files={"helohost": "h.test\n"}, removed=("me",)),
    *(Case(f"unreadable-{name}", [], TEMP_CONTROL, broken=(name,))
      for name in ("me", "helohost", "smtproutes", "timeoutremote", "timeoutconnect")),
    Case("timeoutremote", [G], b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0",
         b"EHLO mx.test\r\n", files={"timeoutremote": "1\n"}),
    Case("helohost-over-me", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         b"EHLO helo.test\r\n" + HEAD[14:] + BODY, files={"helohost": "helo.test \t\nignored\n"}),
    Case("huge-and-junk-control-lines", [G, EHLO, OK, OK, GO, QUEUED], b"r\0" + accepted(),
         files={"timeoutremote": "junk\n", "timeoutconnect": "-\n", "helohost": "h" * 70000 + "\n"},
         routes="no colon at all\n" + "y" * 200000 + ":1.2.3.4\n\x01\x02\xff:junk\n"
                "x.example:127.0.0.1:{port}\n"),
]

AUTH_LINES = [
    (b"250-AUTH LOGIN PLAIN CRAM-MD5\r\n", True), (b"250-AUTH PLAIN LOGIN\r\n", True),
    (b"250-AUTH=LOGIN\r\n", True), (b"250-AUTH LOGIN\r\n", True),
    (b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n", True),
    (b"250-AUTH CRAM-MD5 LOGIN PLAIN\r\n", False), (b"250-AUTH PLAIN CRAM-MD5 LOGIN\r\n", False),
    (b"250-AUTH PLAIN\r\n", False), (b"250-auth login\r\n", False), (b"250-AUTH  LOGIN\r\n", False),
    (b"250-AUTH\tLOGIN\r\n", False),
]
for line, used in AUTH_LINES:
    ehlo = b"250-peer\r\n" + line + b"250 8BITMIME\r\n"
    CASES.append(Case(
        "auth-line-" + line[4:-2].decode().replace(" ", "_").replace("\t", "TAB"),
        [G, ehlo, *(AUTH_OK if used else []), OK, OK, GO, QUEUED], b"r\0" + accepted(),
        authed(b"cGFzcyB3b3Jk") if used else HEAD + BODY,
        routes="x.example:127.0.0.1:{port} joe pass word\n"))


def _home(tmp: Path, case: Case, port: int, name: str) -> Path:
    files = dict(case.files)
    files["smtproutes"] = case.routes.replace("{port}", str(port)).replace("{port+65536}",
                                                                          str(port + 65536))
    home = make_home(tmp / name, files)
    for control in case.removed:
        (home / "control" / control).unlink()
    for control in case.broken:
        path = home / "control" / control
        path.unlink(missing_ok=True)
        path.mkdir()
    return home


def _run(case: Case, tmp: Path, runner: str) -> tuple[bytes, bytes]:
    with SmtpPeer([case.script] if case.script else []) as peer:
        home = _home(tmp, case, peer.port, runner)
        if runner == "ref":
            report = run_remote(home, *case.args, message=case.message)
        else:
            binary = real_remote_binary()
            assert binary is not None
            report = run_real_remote(binary, home, *case.args, message=case.message)
    wire = bytes(peer.connections[0].received) if peer.connections else b""
    return report, wire


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference(case: Case, tmp_path: Path) -> None:
    report, wire = _run(case, tmp_path, "ref")
    assert report == case.report
    if case.wire is not None:
        assert wire == case.wire


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_real_eqmail_108(case: Case, tmp_path: Path) -> None:
    if real_remote_binary() is None:
        pytest.skip("set $EQMAIL_REAL_REMOTE to a real eQmail 1.08 qmail-remote (run as root)")
    assert _run(case, tmp_path, "real") == _run(case, tmp_path, "ref")


def test_home_that_cannot_be_entered(tmp_path: Path) -> None:
    """The first row of the report table: chdir() to the qmail home fails. (The real binary
    chdir()s to its compiled-in /var/qmail, which a test cannot take away.)"""
    assert run_remote(tmp_path / "missing", "x.example", "s@y.org", "r@x.example") == (
        b"ZUnable to switch to home directory. (#4.3.0)\n\0")
