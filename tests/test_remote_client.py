"""The qmail-remote SMTP dialogue core, fed server replies whole and byte by byte."""

from __future__ import annotations

import pytest

from eqmail_ref.effects import Send
from eqmail_ref.remote.client import Delivery, Finished, Report, SmtpDialogue, quote_address
from eqmail_ref.versions import VERSIONS

IP = b"\x7f\x00\x00\x01"
OK_SERVER = [b"220 peer ESMTP\r\n", b"250-peer\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n",
             b"354 go\r\n", b"250 ok queued\r\n"]


def talk(server: list[bytes], mode: str = "whole", **kw: object) -> tuple[bytes, bytes, bool]:
    """(client bytes, report bytes, try_next)"""
    values: dict[str, object] = dict(sender=b"s@x.org", recipients=(b"r@example.org",),
                                     message=b"Subject: x\n\nhi\n", helohost=b"mx.test")
    values.update(kw)
    dialogue = SmtpDialogue(Delivery(**values), IP)  # type: ignore[arg-type]
    sent, report, finished = bytearray(), bytearray(), []

    def apply(effects: list[object]) -> None:
        for e in effects:
            if isinstance(e, Send):
                sent.extend(e.data)
            elif isinstance(e, Report):
                report.extend(e.data)
            elif isinstance(e, Finished):
                finished.append(e.try_next)

    apply(list(dialogue.take()))
    stream = b"".join(server)
    chunks = [stream] if mode == "whole" else [stream[i : i + 1] for i in range(len(stream))]
    for chunk in chunks + [b""]:
        if dialogue.done:
            break
        apply(list(dialogue.receive(chunk)))
    assert len(finished) == 1
    return bytes(sent), bytes(report), finished[0]


@pytest.mark.parametrize("mode", ["whole", "bytes"])
def test_success(mode: str) -> None:
    sent, report, _ = talk(OK_SERVER, mode, message=b"Subject: x\n\n.dot\nhi\n")
    assert sent == (b"EHLO mx.test\r\nMAIL FROM:<s@x.org>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n"
                    b"Subject: x\r\n\r\n..dot\r\nhi\r\n.\r\nQUIT\r\n")
    assert report == b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n\0"


def test_recipients_h_s_r_and_giving_up() -> None:
    _, report, _ = talk([b"220 p\r\n", b"250 p\r\n", b"250 ok\r\n", b"550 no such user\r\n",
                         b"451 later\r\n"], recipients=(b"a@x", b"b@x"))
    assert report == (b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0"
                      b"s127.0.0.1 does not like recipient.\nRemote host said: 451 later\n\0"
                      b"DGiving up on 127.0.0.1.\n\0")


@pytest.mark.parametrize("server, report", [
    ([b"421 busy\r\n"], b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 421 busy\n\0"),
    ([b"554 no\r\n"], b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 554 no\n\0"),
    ([b"220 p\r\n", b"500 what\r\n", b"501 no\r\n"],
     b"ZConnected to 127.0.0.1 but my name was rejected.\nRemote host said: 501 no\n\0"),
    ([b"220 p\r\n", b"250 p\r\n", b"553 bad sender\r\n"],
     b"DConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 553 bad sender\n\0"),
    ([b"220 p\r\n", b"250 p\r\n", b"451 wait\r\n"],
     b"ZConnected to 127.0.0.1 but sender was rejected.\nRemote host said: 451 wait\n\0"),
    ([b"220 p\r\n", b"250 p\r\n", b"250 ok\r\n", b"250 ok\r\n", b"554 no data\r\n"],
     b"r\0D127.0.0.1 failed on DATA command.\nRemote host said: 554 no data\n\0"),
    (OK_SERVER[:5] + [b"452 full\r\n"],
     b"r\0Z127.0.0.1 failed after I sent the message.\nRemote host said: 452 full\n\0"),
    (OK_SERVER[:5], b"r\0ZConnected to 127.0.0.1 but connection died. Possible duplicate! (#4.4.2)\n\0"),
    (OK_SERVER[:2], b"ZConnected to 127.0.0.1 but connection died. (#4.4.2)\n\0"),
])
def test_failure_rows(server: list[bytes], report: bytes) -> None:
    assert talk(server)[1] == report


def test_greeting_in_109() -> None:
    v = VERSIONS["1.09"]
    assert talk([b"421 busy\r\n"], version=v) == (b"", b"", True)
    assert talk([b"554 no\r\n"], version=v)[1].startswith(b"DConnected to 127.0.0.1 but greeting")


def test_partial_final_line() -> None:
    sent, report, _ = talk(OK_SERVER, message=b"Subject: x\n\nno newline")
    assert sent.endswith(b"DATA\r\n")  # the tail never left the 1024-byte buffer
    assert report == b"r\0DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n\0"
    big = b"x" * 3000
    sent, _, _ = talk(OK_SERVER, message=big)
    assert sent.endswith(b"DATA\r\n" + big[:2048])


@pytest.mark.parametrize("line, used", [
    (b"250-AUTH LOGIN PLAIN CRAM-MD5\r\n", True), (b"250-AUTH PLAIN LOGIN\r\n", True),
    (b"250-AUTH=LOGIN\r\n", True), (b"250-AUTH LOGIN\r\n", True),
    (b"250-AUTH CRAM-MD5 LOGIN PLAIN\r\n", False), (b"250-AUTH PLAIN\r\n", False),
    (b"250-auth login\r\n", False),
])
def test_relay_auth_only_for_exact_ehlo_lines(line: bytes, used: bool) -> None:
    server = [b"220 p\r\n", b"250-p\r\n" + line + b"250 8BITMIME\r\n", b"334 VXNlcm5hbWU6\r\n",
              b"334 UGFzc3dvcmQ6\r\n", b"235 ok\r\n"] if used else [
        b"220 p\r\n", b"250-p\r\n" + line + b"250 8BITMIME\r\n"]
    server += [b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 ok\r\n"]
    sent, report, _ = talk(server, auth_user=b"joe", auth_password=b"pass word")
    if used:
        assert b"AUTH LOGIN\r\nam9l\r\ncGFzcyB3b3Jk\r\nMAIL FROM:<s@x.org> AUTH=<s@x.org>\r\n" in sent
    else:
        assert b"AUTH" not in sent and b"MAIL FROM:<s@x.org>\r\n" in sent
    assert report.startswith(b"r\0K127.0.0.1 accepted message.")


def test_auth_rejections() -> None:
    base = [b"220 p\r\n", b"250-p\r\n250-AUTH LOGIN\r\n250 X\r\n"]
    for tail, what in ([[b"504 no\r\n"], b"(AUTH LOGIN)"], [[b"334 u\r\n", b"535 no\r\n"], b"(username)"],
                       [[b"334 u\r\n", b"334 p\r\n", b"535 no\r\n"], b"(password)"]):
        report = talk(base + tail, auth_user=b"joe", auth_password=b"pw")[1]
        assert report == (b"ZConnected to 127.0.0.1 but authentication was rejected " + what
                          + b".\nRemote host said: " + tail[-1].replace(b"\r", b"") + b"\0")


@pytest.mark.parametrize("address, quoted", [
    (b"joe@x.org", b"joe@x.org"), (b"john doe@x.org", b'"john doe"@x.org'),
    (b'a"b@x', b'"a\\"b"@x'), (b".a@x", b'".a"@x'), (b"a..b@x", b'"a..b"@x'), (b"@x", b'""@x'),
    (b"postmaster", b"postmaster"), (b"", b""),
])
def test_quote_address(address: bytes, quoted: bytes) -> None:
    assert quote_address(address) == quoted
