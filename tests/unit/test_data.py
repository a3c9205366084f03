"""DATA: transparency, bare LF, hops, databytes, qmail-queue codes (spec §2.7, §2.14-2.16)."""

from __future__ import annotations

import pytest

from eqmail_ref import replies as R
from eqmail_ref.blast import BARE_LF, END, MORE, DataReader
from eqmail_ref.qqueue import queue_status_text
from tests.helpers.core_driver import MODES, make_controls, replies, run

HEAD = b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n"


def body_of(message: bytes) -> bytes:
    assert message.startswith(b"Received: from unknown")
    return message.split(b"+0000\n", 1)[1]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data, body", [
    (b"a\r\nb\r\n.\r\n", b"a\nb\n"),
    (b"..x\r\n.y\r\n.\r\n", b".x\ny\n"),
    (b"a\rb\r\n.\r\n", b"a\rb\n"),  # a lone CR is kept
    (b"a\r\r\n.\r\n", b"a\r\n"),  # CR CR LF -> CR LF
    (b".\rX\r\n.\r\n", b".\rX\n"),  # line-initial .CR X keeps both
    (b".\r\r\n.\r\n", b".\r\n"),
    (b"\r\n\r\nbody\r\n.\r\n", b"\n\nbody\n"),
    (b".\r\n", b""),
    (b"x\r\n.\r\nNOOP\r\n", b"x\n"),
])
def test_transparency(mode: str, data: bytes, body: bytes) -> None:
    t = run(HEAD + data, mode)
    assert body_of(t.messages[0]) == body
    assert replies(t)[-1].startswith(b"250 ok") or replies(t)[-1] == R.OK


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", [
    b"a\nb\r\n.\r\n", b"\n", b"a\r\n\n.\r\n", b"a\r\n.\n", b"x\r\n\r\n.\n", b"\r\n.\n",
])
def test_bare_lf_is_451_and_exit(mode: str, data: bytes) -> None:
    t = run(HEAD + data + b"NOOP\r\n", mode)
    assert replies(t)[-1] == R.BARE_LF
    assert t.close is not None and t.close.exit_code == 1
    assert t.logs[-1].startswith(b"qmail-smtpd: bad newlines: a@b from 1.2.3.4")
    # qmail-queue ran and got EOF: no envelope (nothing queued), and none of the message,
    # which was still in the 1024-byte buffer
    assert (t.messages, t.envelopes) == ([b""], [b""])


def test_received_line_and_envelope() -> None:
    t = run(b"HELO x\r\n" + HEAD + b"Subject: s\r\n\r\nhi\r\n.\r\n")
    assert t.messages[0].startswith(b"Received: from unknown (HELO x) (1.2.3.4)\n  by 5.6.7.8 with SMTP; ")
    assert t.envelopes == [b"Fa@b\0Tr@example.org\0\0"]
    assert replies(t)[-1] == b"250 ok 1795537221 qp 777\r\n"


def test_received_without_helo_and_safeput() -> None:
    env = {b"TCPREMOTEIP": b"1.2.3.4", b"TCPREMOTEHOST": b"Client.Test", b"TCPLOCALHOST": b"my host",
           b"TCPREMOTEINFO": b"joe_<x>"}
    t = run(b"HELO client.test\r\n" + HEAD + b"x\r\n.\r\n", env=env)
    # HELO equal to TCPREMOTEHOST (ignoring case) is not shown; odd bytes become '?'.
    assert t.messages[0].startswith(
        b"Received: from Client.Test (joe??x?@1.2.3.4)\n  by my?host with SMTP; 24 Nov 2026 16:20:21 +0000\n")


@pytest.mark.parametrize("mode", MODES)
def test_hops_boundary(mode: str) -> None:
    ok = b"ReCeIvEd-SPF: x\r\n" * 98 + b"delivered-To: y\r\n" + b"\r\nbody\r\n.\r\n"
    looping = b"Received: x\r\n" * 99 + b"delivered-To: y\r\n" + b"\r\nbody\r\n.\r\n"
    assert replies(run(HEAD + ok, mode))[-1].startswith(b"250 ok ")
    t = run(HEAD + looping, mode)
    assert replies(t)[-1] == R.HOPS
    assert t.envelopes == [b""]  # the message was marked failed: no envelope written


def test_hops_only_counted_in_the_header() -> None:
    data = b"Subject: x\r\n\r\n" + b"Received: x\r\n" * 150 + b".\r\n"
    assert replies(run(HEAD + data))[-1].startswith(b"250 ok ")


@pytest.mark.parametrize("mode", MODES)
def test_databytes_exact_and_plus_one(mode: str) -> None:
    controls = make_controls(databytes=10)
    exact = run(HEAD + b"123456789\r\n.\r\n", mode, controls=controls)  # 9 + LF = 10 bytes
    assert replies(exact)[-1].startswith(b"250 ok ")
    over = run(HEAD + b"1234567890\r\n.\r\n", mode, controls=controls)
    assert replies(over)[-1] == R.SIZE
    assert body_of(over.messages[0]) == b"1234567890"  # the byte past the limit is not written
    assert over.logs[-1].startswith(b"qmail-smtpd: message too big")


@pytest.mark.parametrize("code, reply", [
    (11, b"554 envelope address too long for qq (#5.1.3)\r\n"),
    (31, b"554 mail server permanently rejected message (#5.3.0)\r\n"),
    (51, b"451 qq out of memory (#4.3.0)\r\n"),
    (71, b"451 mail server temporarily rejected message (#4.3.0)\r\n"),
    (74, b"451 communication with mail server failed (#4.4.2)\r\n"),
    (81, b"451 qq internal bug (#4.3.0)\r\n"),
    (99, b"451 qq temporary problem (#4.3.0)\r\n"),
    (25, b"554 qq permanent problem (#5.3.0)\r\n"),
    (1, b"451 qq temporary problem (#4.3.0)\r\n"),
    (120, b"451 unable to exec qq (#4.3.0)\r\n"),
])
def test_queue_exit_codes(code: int, reply: bytes) -> None:
    t = run(HEAD + b"x\r\n.\r\n", queue_exit=code)
    assert replies(t)[-1] == reply


def test_queue_crash_and_write_failure() -> None:
    assert replies(run(HEAD + b"x\r\n.\r\n", queue_exit=None, queue_signal=9))[-1] == (
        b"451 qq crashed (#4.3.0)\r\n")
    assert replies(run(HEAD + b"x\r\n.\r\n", queue_write_failed=True))[-1] == (
        b"451 qq read error (#4.3.0)\r\n")


def test_queue_status_table_is_total() -> None:
    for code in range(256):
        text = queue_status_text(exit_code=code, signal=None, failed=False)
        assert code == 0 and text == b"" or text[:1] in (b"D", b"Z")


def test_data_reader_three_ways() -> None:
    data = b"x\r\n..y\r\n\r\nz\r\n.\r\ntrailing"
    expected = b"x\n.y\n\nz\n"
    for split in range(1, len(data)):
        reader, out = DataReader(), bytearray()
        outcome, used = reader.feed(data[:split], out)
        if outcome == MORE:
            outcome, used2 = reader.feed(data[split:], out)
            used = split + used2
        assert outcome == END and bytes(out) == expected
        assert data[used:] == b"trailing"
    assert DataReader().feed(b"\n", bytearray())[0] == BARE_LF


def test_data_after_rejected_transaction_needs_mail() -> None:
    t = run(HEAD + b"x\r\n.\r\nDATA\r\n")
    assert replies(t)[-1] == R.WANT_MAIL


def test_client_disconnect_mid_data() -> None:
    from tests.helpers.core_driver import Dialogue
    d = Dialogue()
    d.feed(HEAD + b"partial body")
    t = d.eof()
    assert t.close is not None and t.close.exit_code == 1
    assert (t.messages, t.envelopes) == ([b""], [b""])
