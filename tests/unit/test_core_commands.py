"""qmail-smtpd command handling (spec §2.1-2.8), each fed whole, byte by byte and in chunks."""

from __future__ import annotations

import pytest

from eqmail_ref import replies as R
from tests.helpers.core_driver import MODES, Dialogue, make_controls, replies, run

EHLO_REPLY = (b"250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n"
              b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_greeting_ehlo_quit(mode: str) -> None:
    t = run(b"EHLO client\r\nQUIT\r\n", mode)
    assert t.text == b"220 mx.test ESMTP\r\n" + EHLO_REPLY + b"221 mx.test\r\n"
    assert t.close is not None and t.close.exit_code == 0


def test_trailing_data_after_quit_is_ignored() -> None:
    t = run(b"QUIT\r\nNOOP\r\nNOOP\r\n")
    assert replies(t)[1:] == [b"221 mx.test\r\n"]


def test_greeting_uses_smtpgreeting_verbatim() -> None:
    t = run(b"HELO x\r\n", controls=make_controls(greeting=b"mx foo"))
    assert t.text == b"220 mx foo ESMTP\r\n250 mx foo\r\n"


def test_ehlo_starttls_and_size() -> None:
    t = run(b"EHLO c\r\n", controls=make_controls(servercert=True, databytes=1000))
    assert replies(t)[1:] == [b"250-mx.test\r\n", b"250-STARTTLS\r\n", b"250-PIPELINING\r\n",
                              b"250-8BITMIME\r\n", b"250-SIZE 1000\r\n",
                              b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n"]


def test_no_tls_build_has_no_starttls_verb() -> None:
    t = run(b"EHLO c\r\nSTARTTLS\r\n", controls=make_controls(servercert=True), tls_build=False)
    assert b"STARTTLS" not in t.text
    assert replies(t)[-1] == R.UNRECOGNISED


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("line, reply", [
    (b"NOOP", R.OK), (b"noop whatever", R.OK), (b"VRFY postmaster", R.VRFY),
    (b"HELP", R.HELP), (b"RSET", R.FLUSHED), (b"EXPN x", R.UNRECOGNISED),
    (b"", R.UNRECOGNISED), (b"TURN", R.UNRECOGNISED), (b"NOOP\tx", R.UNRECOGNISED),
    (b"DATA", R.WANT_MAIL), (b"RCPT TO:<a@example.org>", R.WANT_MAIL),
])
def test_simple_verbs(mode: str, line: bytes, reply: bytes) -> None:
    assert replies(run(line + b"\r\n", mode))[1:] == [reply]


def test_bare_lf_ends_a_command_line() -> None:
    assert replies(run(b"NOOP\nVRFY\n"))[1:] == [R.OK, R.VRFY]


def test_nul_cuts_the_command_line() -> None:
    # The line is a C string: "MAIL\0FROM..." is MAIL with an empty argument (null sender).
    t = run(b"MAIL\0FROM:<x@y>\r\nNOOP\0 garbage\r\n")
    assert replies(t)[1:] == [R.OK, R.OK]


def test_unknown_verb_and_8bit() -> None:
    assert replies(run(b"\xff\xfe\r\n"))[1:] == [R.UNRECOGNISED]


def test_helo_not_required_and_resets_only_seenmail() -> None:
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nHELO x\r\nRCPT TO:<r@example.org>\r\n")
    assert replies(t)[1:] == [R.OK, R.OK, b"250 mx.test\r\n", R.WANT_MAIL]


def test_rset_keeps_nothing_of_the_transaction() -> None:
    t = run(b"MAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<r@example.org>\r\n")
    assert replies(t)[1:] == [R.OK, R.FLUSHED, R.WANT_MAIL]


def test_eof_without_quit_closes_silently() -> None:
    d = Dialogue()
    d.feed(b"NOOP\r\nNOO")
    t = d.eof()
    assert t.text == b"220 mx.test ESMTP\r\n250 ok\r\n"
    assert t.close is not None and t.close.exit_code == 1
    assert t.logs == [b"qmail-smtpd: read failed: (null) from 1.2.3.4 to (null) helo unknown\n"]


def test_timeout_gives_451_and_exit_1() -> None:
    d = Dialogue()
    d.feed(b"NOOP\r\n")
    t = d.timeout()
    assert replies(t)[-1] == R.TIMEOUT
    assert t.close is not None and t.close.exit_code == 1


def test_pipelined_mail_rcpt_replies_coalesce() -> None:
    # MAIL, RCPT and RSET are not flushed: their replies leave in one write (§1).
    t = run(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nRSET\r\nNOOP\r\n")
    assert t.sends[1:] == [R.OK + R.OK + R.FLUSHED + R.OK]


def test_startup_failure_closes_without_output() -> None:
    from eqmail_ref.smtpd import SmtpServer

    server = SmtpServer(controls=None, env={}, clock=lambda: (0, 0), startup_error="no me")
    effects = server.start()
    assert len(effects) == 1 and effects[0].crash  # type: ignore[attr-defined]


def test_overlong_line_is_out_of_memory() -> None:
    d = Dialogue(max_line=1000)
    t = d.feed(b"NOOP " + b"x" * 5000)
    assert replies(t)[-1] == R.NOMEM
    assert t.close is not None and t.close.exit_code == 1


def test_quit_and_helo_show_the_greeting_not_me() -> None:
    t = run(b"HELO a\r\nQUIT\r\n", controls=make_controls(greeting=b"greet.example"))
    assert replies(t)[1:] == [b"250 greet.example\r\n", b"221 greet.example\r\n"]


@pytest.mark.parametrize("script", [
    b"AUTH LOGIN ====\r\nc2VjcmV0\r\n",  # user of negative length, crash in authenticate()
    b"AUTH LOGIN am9l\r\n=\r\n",
    b"AUTH PLAIN a====\r\n",
])
def test_base64_of_negative_length_crashes(script: bytes) -> None:
    t = run(script, checkpassword=(b"/bin/true",))
    assert t.close is not None and t.close.crash


def test_negative_length_user_with_empty_password_is_malformed() -> None:
    t = run(b"AUTH LOGIN ====\r\nabc\r\n", checkpassword=(b"/bin/true",))
    assert replies(t)[-1] == R.AUTH_MALFORMED
