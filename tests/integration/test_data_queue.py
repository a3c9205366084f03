"""DATA through real processes (`eqmail-ref smtpd` with the capture program as qmail-queue):
what qmail-queue receives when a session dies in DATA (spec §2.7, §2.14; catalogue 3.3.6)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eqmail_ref import replies as R
from tests.conftest import EQMAIL_REF, captured
from tests.helpers.core_driver import Dialogue

HEAD = b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n"


def test_an_abandoned_qmail_queue_run_is_observed_in_process_as_by_the_capture_program(
        qmail_home: Path, capture_env: dict[str, str]) -> None:
    # A session that ends in DATA (here: QUIT is body text, then EOF) leaves qmail-queue with
    # what the buffer had passed and no envelope. Real eQmail's capture shows ("", ""); the
    # in-process session (property runs' reference side) must show the same, not nothing.
    script = HEAD + b"QUIT\r\n"
    done = subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home)],
                          input=script, env=capture_env, capture_output=True, timeout=60)
    assert done.returncode == 1 and captured(qmail_home) == [(b"", b"")]
    d = Dialogue()
    d.feed(script)
    t = d.eof()
    assert list(zip(t.messages, t.envelopes, strict=True)) == [(b"", b"")]


@pytest.mark.parametrize("helo", [b"", b"HELO " + b"h" * 1010 + b"\r\n"])
def test_a_bare_lf_leaves_qmail_queue_whole_1024_byte_writes(
        qmail_home: Path, capture_env: dict[str, str], helo: bytes) -> None:
    # blast() and safeput() qmail_put() one byte at a time: the 1024-byte buffer goes to
    # qmail-queue only when it is full and one more byte comes, and what is in it at the
    # bare LF is lost. Real eQmail 1.09 passed exactly 8192 bytes here (catalogue 3.3.6);
    # with a 1010-byte HELO the Received line alone fills the buffer past 1024.
    lines = b"0123456789012345678901234567890123456789\r\n" * 200
    done = subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home)],
                          input=helo + HEAD + lines + b"late\nx\r\n.\r\n", env=capture_env,
                          capture_output=True, timeout=60)
    assert done.stdout.endswith(R.BARE_LF) and done.returncode == 1
    [(message, envelope)] = captured(qmail_home)
    assert envelope == b""
    # what had been put: the Received line, the lines (CR LF became LF), then "late"
    put = message.index(b"0123456789") + len(lines) - 200 + len(b"late")
    assert len(message) == 1024 * ((put - 1) // 1024)
    assert len(message) == (8192 if not helo else 9216)
