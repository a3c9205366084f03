"""SMTP AUTH with a real checkpassword program (spec §2.9-2.10)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EQMAIL_REF, FIXTURE_BIN

STUB = str(FIXTURE_BIN / "checkpassword-stub")
B64 = base64.b64encode


@pytest.fixture
def auth_env(qmail_home: Path, capture_env: dict[str, str]) -> dict[str, str]:
    (qmail_home / "users").write_text("joe:secret\nann:pass word\n")
    return dict(capture_env, CHECKPW_USERS=str(qmail_home / "users"),
                CHECKPW_RECORD=str(qmail_home / "fd3"))


def smtpd(home: Path, env: dict[str, str], data: bytes, *args: str,
          program: tuple[str, ...] = (STUB,)) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(home),
                           "--auth-sleep-scale", "0", *args, *program],
                          input=data, env=env, capture_output=True, timeout=60)


def lines(done: subprocess.CompletedProcess[bytes]) -> list[bytes]:
    return done.stdout.split(b"\r\n")[1:-1]


@pytest.mark.parametrize("version, user_prompt, pass_prompt", [
    ("1.08", b"334 VXNlcm5hbWU6", b"334 UGFzc3dvcmQ6"),
    ("1.09", b"334 Username:", b"334 Password:"),
])
@pytest.mark.parametrize("secret, ok", [(b"secret", True), (b"wrong", False)])
def test_login(auth_env: dict[str, str], qmail_home: Path, version: str, user_prompt: bytes,
               pass_prompt: bytes, secret: bytes, ok: bool) -> None:
    done = smtpd(qmail_home, auth_env, b"AUTH LOGIN\r\n" + B64(b"joe") + b"\r\n" + B64(secret)
                 + b"\r\n", "--version", version)
    result = b"235 ok, joe, go ahead (#2.0.0)" if ok else b"535 authentication failed (#5.7.1)"
    assert lines(done) == [user_prompt, pass_prompt, result]
    assert (qmail_home / "fd3").read_bytes() == b"joe\0" + secret + b"\0\0"


@pytest.mark.parametrize("initial", [True, False])
@pytest.mark.parametrize("secret, ok", [(b"pass word", True), (b"pass", False)])
def test_plain(auth_env: dict[str, str], qmail_home: Path, initial: bool, secret: bytes,
               ok: bool) -> None:
    token = B64(b"authz\0ann\0" + secret)
    data = b"AUTH PLAIN " + token + b"\r\n" if initial else b"AUTH PLAIN\r\n" + token + b"\r\n"
    done = smtpd(qmail_home, auth_env, data)
    result = b"235 ok, ann, go ahead (#2.0.0)" if ok else b"535 authentication failed (#5.7.1)"
    assert lines(done) == ([] if initial else [b"334 "]) + [result]


@pytest.mark.parametrize("secret, ok", [(b"secret", True), (b"wrong", False)])
def test_cram_md5_digest_from_the_received_challenge(auth_env: dict[str, str], qmail_home: Path,
                                                      secret: bytes, ok: bool) -> None:
    proc = subprocess.Popen([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home),
                             "--auth-sleep-scale", "0", STUB],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(auth_env, TCPLOCALHOST="mx.local"))
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"220 mx.test ESMTP\r\n"
        proc.stdin.write(b"AUTH CRAM-MD5\r\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.startswith(b"334 ")
        challenge = base64.b64decode(line[4:].strip())
        assert challenge.startswith(b"<") and challenge.endswith(b"@mx.local>")
        digest = hmac.new(secret, challenge, hashlib.md5).hexdigest().encode()
        proc.stdin.write(B64(b"joe " + digest) + b"\r\n")
        proc.stdin.flush()
        expected = b"235 ok, joe, go ahead (#2.0.0)\r\n" if ok else (
            b"535 authentication failed (#5.7.1)\r\n")
        assert proc.stdout.readline() == expected
    finally:
        proc.stdin.close()
        proc.wait()
    assert (qmail_home / "fd3").read_bytes() == b"joe\0" + digest + b"\0" + challenge + b"\0"


def test_auth_errors_in_order(auth_env: dict[str, str], qmail_home: Path) -> None:
    done = smtpd(qmail_home, auth_env, b"AUTH\r\nAUTH FOO\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN\r\n\r\n"
                 b"MAIL FROM:<a@b>\r\nAUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\nRSET\r\n"
                 b"AUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\nAUTH LOGIN\r\n")
    assert lines(done) == [
        b"504 auth type unimplemented (#5.5.1)", b"504 auth type unimplemented (#5.5.1)",
        b"334 VXNlcm5hbWU6", b"501 auth exchange canceled (#5.0.0)",
        b"334 ", b"501 malformed auth input (#5.5.4)",
        b"250 ok", b"503 no auth during mail transaction (#5.5.0)", b"250 flushed",
        b"235 ok, joe, go ahead (#2.0.0)", b"503 you're already authenticated (#5.5.0)"]


def test_no_checkpassword_program(auth_env: dict[str, str], qmail_home: Path) -> None:
    done = smtpd(qmail_home, auth_env, b"EHLO x\r\nAUTH LOGIN\r\n", program=())
    assert lines(done)[-2:] == [b"250 AUTH LOGIN PLAIN CRAM-MD5", b"503 auth not available (#5.3.3)"]


def test_auth_relays_and_is_shown_in_received(auth_env: dict[str, str], qmail_home: Path) -> None:
    done = smtpd(qmail_home, auth_env, b"EHLO c\r\nAUTH PLAIN " + B64(b"\0joe\0secret") +
                 b"\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@far.example>\r\nDATA\r\nx\r\n.\r\n")
    assert lines(done)[-4:-2] == [b"250 ok", b"250 ok"]
    [msg] = (qmail_home / "queue").glob("*.msg")
    assert msg.read_bytes().startswith(b"Received: from unknown (HELO c) (joe@unknown)\n  by "
                                       b"unknown with ESMTPA; ")
    environ = msg.with_suffix(".environ").read_text().splitlines()
    assert "TCPREMOTEINFO=joe" in environ and "RELAYCLIENT=" in environ


def test_checkpassword_crash_is_454(auth_env: dict[str, str], qmail_home: Path) -> None:
    done = smtpd(qmail_home, dict(auth_env, CHECKPW_MODE="crash"),
                 b"AUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\n")
    assert lines(done) == [b"454 oops, problem with child and I can't auth (#4.3.0)"]


def test_checkpassword_that_cannot_run_is_535(auth_env: dict[str, str], qmail_home: Path) -> None:
    done = smtpd(qmail_home, auth_env, b"AUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\n",
                 program=(str(qmail_home / "missing"),))
    assert lines(done) == [b"535 authentication failed (#5.7.1)"]


def test_checkpassword_flooding_stdout_reaches_the_client(auth_env: dict[str, str],
                                                          qmail_home: Path) -> None:
    # stdout of checkpassword is the SMTP connection (spec §2.9): the flood goes to the
    # client; the reference waits for the program, as eQmail does.
    proc = subprocess.Popen([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home), STUB],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(auth_env, CHECKPW_MODE="flood"), start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"AUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"220 mx.test ESMTP\r\n"
        assert proc.stdout.readline() == b"flood\n"
    finally:
        import os
        import signal
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_submission_port_1_09(auth_env: dict[str, str], qmail_home: Path) -> None:
    env = dict(auth_env, TCPLOCALPORT="587")
    data = (b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nAUTH PLAIN " + B64(b"\0joe\0secret")
            + b"\r\nMAIL FROM:<a@b>\r\n")
    assert lines(smtpd(qmail_home, env, data, "--version", "1.09")) == [
        b"530 Authorization required (#5.7.1) ", b"503 MAIL first (#5.5.1)",
        b"235 ok, joe, go ahead (#2.0.0)", b"250 ok"]
    assert lines(smtpd(qmail_home, env, b"MAIL FROM:<a@b>\r\n"))[0] == b"250 ok"  # not in 1.08


def test_tlsrequired_1_09(auth_env: dict[str, str], qmail_home: Path) -> None:
    env = dict(auth_env, TLSREQUIRED="1")
    done = smtpd(qmail_home, env, b"AUTH PLAIN " + B64(b"\0joe\0secret") + b"\r\nAUTH CRAM-MD5\r\n"
                 b"AUTH\r\nAUTH cram-md5\r\n", "--version", "1.09")
    out = lines(done)
    assert out[:3] == [b"538 AUTH PLAIN/LOGIN not available without TLS (#5.3.3)"] * 3
    assert out[3].startswith(b"334 ")  # only the exact lowercase "cram-md5" passes
    assert lines(smtpd(qmail_home, env, b"AUTH FOO\r\n"))[0] == b"504 auth type unimplemented (#5.5.1)"
