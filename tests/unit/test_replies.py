"""Every named reply constant is byte-exact: its code, its text, CRLF (spec §2.2)."""

from __future__ import annotations

import re

from eqmail_ref import replies

# name -> the complete reply line, written out from the spec once more.
EXPECTED = {
    "HELP": b"214 netqmail home page: http://qmail.org/netqmail\r\n",
    "OK": b"250 ok\r\n",
    "FLUSHED": b"250 flushed\r\n",
    "VRFY": b"252 send some mail, i'll try my best\r\n",
    "GO_AHEAD": b"354 go ahead\r\n",
    "UNRECOGNISED": b"500 unrecognised (#5.5.2)\r\n",
    "UNIMPLEMENTED": b"502 unimplemented (#5.5.1)\r\n",
    "WANT_MAIL": b"503 MAIL first (#5.5.1)\r\n",
    "WANT_RCPT": b"503 RCPT first (#5.5.1)\r\n",
    "SYNTAX": b"555 syntax error (#5.5.4)\r\n",
    "SIZE": b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n",
    "BADMAILFROM": b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n",
    "NOGATEWAY": b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    "HOPS": b"554 too many hops, this message is looping (#5.4.6)\r\n",
    "QQT_FAILURE": b"451 qqt failure (#4.3.0)\r\n",
    "BARE_LF": b"451 See http://pobox.com/~djb/docs/smtplf.html.\r\n",
    "TIMEOUT": b"451 timeout (#4.4.2)\r\n",
    "NOMEM": b"421 out of memory (#4.3.0)\r\n",
    "CONTROL": b"421 unable to read controls (#4.3.0)\r\n",
    "IPME": b"421 unable to figure out my IP addresses (#4.3.0)\r\n",
    "LOGIN_USER_B64": b"334 VXNlcm5hbWU6\r\n",
    "LOGIN_PASS_B64": b"334 UGFzc3dvcmQ6\r\n",
    "LOGIN_USER_TEXT": b"334 Username:\r\n",
    "LOGIN_PASS_TEXT": b"334 Password:\r\n",
    "PLAIN_PROMPT": b"334 \r\n",
    "AUTH_FAILED": b"535 authentication failed (#5.7.1)\r\n",
    "AUTH_CANCELED": b"501 auth exchange canceled (#5.0.0)\r\n",
    "AUTH_MALFORMED": b"501 malformed auth input (#5.5.4)\r\n",
    "AUTH_NOT_AVAILABLE": b"503 auth not available (#5.3.3)\r\n",
    "AUTH_ALREADY": b"503 you're already authenticated (#5.5.0)\r\n",
    "AUTH_IN_MAIL": b"503 no auth during mail transaction (#5.5.0)\r\n",
    "AUTH_UNIMPLEMENTED": b"504 auth type unimplemented (#5.5.1)\r\n",
    "AUTH_CHILD": b"454 oops, problem with child and I can't auth (#4.3.0)\r\n",
    "AUTH_FORK": b"454 oops, child won't start and I can't auth (#4.3.0)\r\n",
    "AUTH_PIPE": b"454 oops, unable to open pipe and I can't auth (#4.3.0)\r\n",
    "AUTH_WRITE": b"454 oops, unable to write pipe and I can't auth (#4.3.0)\r\n",
    "SUBMISSION": b"530 Authorization required (#5.7.1) \r\n",
    "TLS_REQUIRED": b"538 AUTH PLAIN/LOGIN not available without TLS (#5.3.3)\r\n",
    "TLS_READY": b"220 ready for tls\r\n",
    "TLS_NO_PARAMS": b"501 Syntax error (no parameters allowed) (#5.5.4)\r\n",
}
FRAGMENTS = {"NOGATEWAY_HEAD", "NOGATEWAY_TLS", "NOGATEWAY_TAIL", "SPP_FAILURE_HEAD",
             "SPP_FAILURE_TAIL", "AUTH_OK_HEAD", "AUTH_OK_TAIL", "TLS_FAIL_HEAD", "TLS_FAIL_TAIL"}


def test_every_constant_is_checked() -> None:
    assert set(replies.__all__) == set(EXPECTED) | FRAGMENTS


def test_constants_match_the_spec() -> None:
    for name, value in EXPECTED.items():
        assert getattr(replies, name) == value, name


def test_constants_are_single_smtp_lines() -> None:
    for name in EXPECTED:
        value: bytes = getattr(replies, name)
        assert re.fullmatch(rb"[2-5]\d\d [^\r\n]*\r\n", value), name


def test_fragments_compose() -> None:
    assert replies.NOGATEWAY_HEAD + replies.NOGATEWAY_TAIL == replies.NOGATEWAY
    assert replies.SPP_FAILURE_HEAD.startswith(b"451 ") and replies.TLS_FAIL_HEAD.startswith(b"454 ")
