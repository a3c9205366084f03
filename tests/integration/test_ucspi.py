"""`eqmail-ref smtpd` over stdin/stdout: exit codes, the crash, hostile input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import EQMAIL_REF, FIXTURE_BIN, captured


def smtpd(home: Path, data: bytes, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(home), *args],
                          input=data, env=env, capture_output=True, timeout=60)


def test_quit_exits_0_and_eof_exits_1(qmail_home: Path, capture_env: dict[str, str]) -> None:
    done = smtpd(qmail_home, b"QUIT\r\n", capture_env)
    assert (done.returncode, done.stdout) == (0, b"220 mx.test ESMTP\r\n221 mx.test\r\n")
    done = smtpd(qmail_home, b"NOOP\r\n", capture_env)
    assert (done.returncode, done.stdout) == (1, b"220 mx.test ESMTP\r\n250 ok\r\n")
    assert done.stderr == b"qmail-smtpd: read failed: (null) from unknown to (null) helo unknown\n"


def test_missing_smtpplugins_crashes_like_eqmail_108(qmail_home: Path,
                                                     capture_env: dict[str, str]) -> None:
    (qmail_home / "control" / "smtpplugins").unlink()
    done = smtpd(qmail_home, b"QUIT\r\n", capture_env)
    assert (done.returncode, done.stdout) == (-11, b"")  # SIGSEGV, no output (spec §1)
    done = smtpd(qmail_home, b"QUIT\r\n", capture_env, "--version", "1.09")
    assert done.returncode == 0


def test_no_home_is_a_clear_error(capture_env: dict[str, str]) -> None:
    env = {k: v for k, v in capture_env.items() if k != "QMAILHOME"}
    done = subprocess.run([*EQMAIL_REF, "smtpd"], input=b"", env=env, capture_output=True)
    assert done.returncode != 0 and b"--qmail-home" in done.stderr


def test_ten_megabyte_line_without_newline(qmail_home: Path, capture_env: dict[str, str]) -> None:
    done = smtpd(qmail_home, b"NOOP " + b"x" * (10 << 20), capture_env)
    assert (done.returncode, done.stdout) == (1, b"220 mx.test ESMTP\r\n")


def test_ten_megabyte_line_with_newline(qmail_home: Path, capture_env: dict[str, str]) -> None:
    done = smtpd(qmail_home, b"MAIL FROM:<" + b"x" * (10 << 20) + b">\r\nQUIT\r\n", capture_env)
    assert done.stdout == b"220 mx.test ESMTP\r\n555 syntax error (#5.5.4)\r\n221 mx.test\r\n"


def test_nul_and_8bit_bytes(qmail_home: Path, capture_env: dict[str, str]) -> None:
    data = (b"\0\0\0\r\nEHLO \xff\xfe\0\r\nMAIL FROM:<\xe4@b>\r\nRCPT TO:<r@example.org>\r\n"
            b"DATA\r\n\x00\xff body\r\n.\r\nQUIT\r\n")
    done = smtpd(qmail_home, data, capture_env)
    lines = done.stdout.split(b"\r\n")
    assert lines[1] == b"500 unrecognised (#5.5.2)"
    assert lines[-3].startswith(b"250 ok ") and lines[-2] == b"221 mx.test"
    [msg] = (qmail_home / "queue").glob("*.msg")
    assert msg.read_bytes().endswith(b"\n\x00\xff body\n")


@pytest.mark.parametrize("queue_exit, reply", [
    ("31", b"554 mail server permanently rejected message (#5.3.0)"),
    ("71", b"451 mail server temporarily rejected message (#4.3.0)"),
])
def test_real_queue_exit_codes(qmail_home: Path, capture_env: dict[str, str],
                               queue_exit: str, reply: bytes) -> None:
    env = dict(capture_env, QQ_EXIT=queue_exit)
    done = smtpd(qmail_home, b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nx\r\n.\r\n",
                 env)
    assert done.stdout.split(b"\r\n")[-2] == reply


def test_queue_program_that_cannot_run(qmail_home: Path, capture_env: dict[str, str]) -> None:
    env = dict(capture_env, QMAILQUEUE=str(qmail_home / "no-such-program"))
    done = smtpd(qmail_home, b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nx\r\n.\r\n",
                 env)
    # qmail_open() succeeds (vfork), so 354 comes first; exec fails with 120 (spec §2.16).
    assert done.stdout.split(b"\r\n")[-3:-1] == [b"354 go ahead", b"451 unable to exec qq (#4.3.0)"]


def test_auth_with_real_checkpassword(qmail_home: Path, capture_env: dict[str, str]) -> None:
    done = smtpd(qmail_home, b"AUTH LOGIN\r\nam9l\r\nc2VjcmV0\r\nQUIT\r\n", capture_env,
                 str(FIXTURE_BIN / "checkpassword-accept"))
    assert done.stdout == (b"220 mx.test ESMTP\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
                           b"235 ok, joe, go ahead (#2.0.0)\r\n221 mx.test\r\n")
    record = qmail_home / "fd3"
    env = dict(capture_env, CHECKPW_RECORD=str(record))
    done = smtpd(qmail_home, b"AUTH LOGIN am9l\r\nc2VjcmV0\r\n", env, "--auth-sleep-scale", "0",
                 "--version", "1.09", str(FIXTURE_BIN / "checkpassword-stub"))
    assert done.stdout == (b"220 mx.test ESMTP\r\n334 Password:\r\n"
                           b"535 authentication failed (#5.7.1)\r\n")
    assert done.returncode == 1
    assert record.read_bytes() == b"joe\0secret\0\0"


def test_eof_mid_data_abandons_the_queue(qmail_home: Path, capture_env: dict[str, str]) -> None:
    done = smtpd(qmail_home, b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nhalf",
                 capture_env)
    assert done.returncode == 1
    [(message, envelope)] = captured(qmail_home)
    # qmail-queue saw EOF on both pipes; the small message never left qmail-smtpd's
    # 1024-byte buffer (verified against eQmail 1.08).
    assert (message, envelope) == (b"", b"")
