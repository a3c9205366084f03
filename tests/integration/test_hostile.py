"""Hostile clients against the listener: the reference never crashes or hangs, and one bad
client never affects the next connection."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.raw_client import RawClient


def test_slowloris_client_gets_the_timeout(serve_ref: tuple[str, int], qmail_home: Path) -> None:
    (qmail_home / "control" / "timeoutsmtpd").write_text("1\n")
    host, port = serve_ref
    with RawClient(host, port) as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
        c.send(b"NO")  # ... and never the rest of the line
        assert c.rest() == b"451 timeout (#4.4.2)\r\n"


def test_disconnect_mid_data_then_next_session(serve_ref: tuple[str, int],
                                               qmail_home: Path) -> None:
    host, port = serve_ref
    for _ in range(6):  # more than the pool: every worker survives its broken session
        with RawClient(host, port) as c:
            c.reply()
            c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nhalf a mess")
            assert [c.reply(), c.reply(), c.reply()][2] == b"354 go ahead\r\n"
    with RawClient(host, port) as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
        assert c.command(b"QUIT") == b"221 mx.test\r\n"


def test_bare_lf_in_data_closes_the_connection(serve_ref: tuple[str, int]) -> None:
    host, port = serve_ref
    with RawClient(host, port) as c:
        c.reply()
        c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n")
        c.reply(), c.reply(), c.reply()
        c.send(b"x\r\n.\nMAIL FROM:<smuggled@x>\r\n")
        assert c.rest() == b"451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"


def test_garbage_flood(serve_ref: tuple[str, int]) -> None:
    host, port = serve_ref
    with RawClient(host, port) as c:
        c.reply()
        c.send(bytes(range(256)) * 4000 + b"\r\nQUIT\r\n")
        out = c.rest()
        assert out.endswith(b"221 mx.test\r\n")
        assert out.count(b"500 unrecognised (#5.5.2)\r\n") == out.count(b"\r\n") - 1


def test_serve_workers_die_with_a_killed_listener(qmail_home: Path,
                                                  capture_env: dict[str, str]) -> None:
    import os
    import select
    import subprocess

    from tests.conftest import EQMAIL_REF

    proc = subprocess.Popen([*EQMAIL_REF, "serve", "--listen", "127.0.0.1:0", "--qmail-home",
                             str(qmail_home), "--concurrency", "3"], env=capture_env,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stderr is not None
        assert b"listening on" in proc.stderr.readline()  # said after the workers are forked
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                  text=True).stdout.split()]
        assert len(workers) == 3
        proc.kill()  # SIGKILL: no cleanup in the listener at all
        proc.wait()
        for pid in workers:  # each worker gets SIGTERM from the kernel (PR_SET_PDEATHSIG)
            pidfd = os.pidfd_open(pid)
            try:
                assert select.select([pidfd], [], [], 30)[0] == [pidfd]
            finally:
                os.close(pidfd)
    finally:  # whatever failed, nothing of this test outlives it
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()
