"""Complete SMTP sessions per second through the reference, as ratios measured in one run.

A session: greeting, EHLO, MAIL, RCPT, DATA with a 1 KiB message, QUIT. The client reads
every reply by SMTP grammar (the line whose fourth byte is a space), never by a timeout.

Rows:
  (a)  the sans-IO core in-process, one core, no sockets
  (b)  `eqmail-ref serve` over loopback TCP, qmail-queue = fixtures/bin/qmail-queue-discard
       (POSIX sh, builtins only)
  (b') the same with --memory-queue (in-process queue capture)
  (c)  Debian's tcpserver spawning `eqmail-ref smtpd` per connection (an interpreter each)
  (d)  a minimal canned-reply server: the ceiling this client can measure
  (e)  AUTH PLAIN + STARTTLS sessions against serve (b'), as a ratio to plain (b')

Usage: python bench/smtp_sessions.py [--seconds S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.resources import FIXTURES_DIR  # noqa: E402
from tests.helpers.smtp_client import RawClient  # noqa: E402

MESSAGE = b"Subject: bench\r\n\r\n" + (b"x" * 70 + b"\r\n") * 14 + b".\r\n"  # ~1 KiB
COMMANDS = [b"EHLO client\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<r@example.org>\r\n",
            b"DATA\r\n", MESSAGE, b"QUIT\r\n"]
AUTH = b"AUTH PLAIN " + base64.b64encode(b"\0joe\0secret") + b"\r\n"


def _transaction(c: RawClient) -> bool:
    last, accepted = b"", False
    for cmd in COMMANDS:
        c.send(cmd)
        last = c.reply()
        if cmd is MESSAGE:
            accepted = last.startswith(b"250 ok")
    return accepted and last.startswith(b"221")


def plain_session(port: int) -> bool:
    with RawClient("127.0.0.1", port, timeout=None) as c:
        c.reply()
        return _transaction(c)


def tls_session(port: int, ctx: ssl.SSLContext) -> bool:
    with RawClient("127.0.0.1", port, timeout=None) as c:
        c.reply()
        c.command(b"EHLO client")
        if not c.command(b"STARTTLS").startswith(b"220"):
            return False
        c.use(ctx.wrap_socket(c.sock, server_hostname="mx.test"))
        if not c.command(AUTH[:-2]).startswith(b"235"):
            return False
        return _transaction(c)


def _client_worker(session: Callable[[], bool], seconds: float, out: mp.connection.Connection,
                   start: mp.synchronize.Event) -> None:
    start.wait()
    ok = bad = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        try:
            if session():
                ok += 1
            else:
                bad += 1
        except OSError:
            bad += 1
    out.send((ok, bad))


def measure(session: Callable[[], bool], seconds: float, concurrency: int) -> tuple[float, int, int]:
    ctx = mp.get_context("fork")
    start = ctx.Event()
    pipes, procs = [], []
    for _ in range(concurrency):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_client_worker, args=(session, seconds, w, start))
        p.start()
        pipes.append(r)
        procs.append(p)
    t0 = time.perf_counter()
    start.set()
    results = [r.recv() for r in pipes]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    ok = sum(x for x, _ in results)
    bad = sum(y for _, y in results)
    return ok / elapsed, ok, bad


# ------------------------------------------------------------------------- servers


def make_home(tmp: Path, tls: bool) -> Path:
    home = tmp / "home"
    (home / "control").mkdir(parents=True, exist_ok=True)
    (home / "control" / "me").write_text("mx.test\n")
    (home / "control" / "rcpthosts").write_text("example.org\n")
    (home / "control" / "smtpplugins").write_text("")
    if tls:
        import trustme

        ca = trustme.CA(key_type=trustme.KeyType.RSA)
        leaf = ca.issue_cert("mx.test", key_type=trustme.KeyType.RSA)
        (home / "control" / "servercert.pem").write_bytes(leaf.private_key_and_cert_chain_pem.bytes())
        (tmp / "ca.pem").write_bytes(ca.cert_pem.bytes())
    (home / "users").write_text("joe:secret\n")
    return home


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QMAILQUEUE"] = str(FIXTURES_DIR / "bin" / "qmail-queue-discard")
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextmanager
def serve(home: Path, *extra: str) -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eqmail_ref", "serve", "--listen", "127.0.0.1:0", "--qmail-home",
         str(home), "--concurrency", "16", *extra], env=_env(), stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"serve did not start: {line!r}")
        threading_drain(proc.stderr)  # one log line per message: never let the pipe fill
        yield int(line.rsplit(":", 1)[1])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


@contextmanager
def tcpserver(home: Path) -> Iterator[int]:
    path = shutil.which("tcpserver")
    if path is None:
        raise FileNotFoundError("tcpserver: install ucspi-tcp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [path, "-v", "-H", "-R", "-c", "16", "127.0.0.1", str(port), sys.executable, "-m",
         "eqmail_ref", "smtpd", "--qmail-home", str(home)],
        env=_env(), stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        if "status" not in line:
            raise RuntimeError(f"tcpserver did not start: {line!r}")
        threading_drain(proc.stderr)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def threading_drain(stream: object) -> None:
    """tcpserver -v logs every connection; keep reading so it never blocks on stderr."""
    import threading

    def drain() -> None:
        for _ in stream:  # type: ignore[attr-defined]
            pass

    threading.Thread(target=drain, daemon=True).start()


def _canned_worker(sock: socket.socket) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 canned ESMTP\r\n")
        in_data = False
        while True:
            line = await reader.readline()
            if not line:
                break
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    writer.write(b"250 ok 1 qp 1\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-canned\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 canned\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock)
        await server.serve_forever()

    asyncio.run(main())


@contextmanager
def canned() -> Iterator[int]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = sock.getsockname()[1]
    pids = []
    for _ in range(2):  # one per core
        pid = os.fork()
        if pid == 0:
            os.setsid()
            try:
                _canned_worker(sock)
            finally:
                os._exit(0)
        pids.append(pid)
    sock.close()
    try:
        yield port
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


def in_process(seconds: float) -> tuple[float, int, int]:
    from eqmail_ref.controls import load_smtpd_controls
    from eqmail_ref.inprocess import InProcessSession
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.versions import DEFAULT_VERSION

    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), tls=False)
        env = {b"TCPREMOTEIP": b"127.0.0.1", b"TCPLOCALIP": b"127.0.0.1"}
        controls = load_smtpd_controls(home, env, DEFAULT_VERSION)
    ok = bad = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s = InProcessSession(SmtpServer(controls=controls, env=env, clock=lambda: (1, 0), pid=1))
        for cmd in COMMANDS:  # one command at a time, as a non-pipelining client sends them
            s.feed(cmd)
        if b"250 ok 1 qp 777" in s.t.text and s.t.close is not None:
            ok += 1
        else:
            bad += 1
    return ok / (time.perf_counter() - t0), ok, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="1 second per row")
    args = ap.parse_args()
    secs = 1.0 if args.quick else args.seconds
    rows: dict[str, tuple[int, float, int, int]] = {}

    def row(name: str, conc: int, result: tuple[float, int, int]) -> None:
        rows[name] = (conc, *result)
        rate, ok, bad = result
        err = f"  ERRORS: {bad}" if bad else ""
        print(f"{name:44} c={conc:<3} {ok:7} sessions {rate:9.0f}/s{err}", flush=True)

    print(f"nproc={os.cpu_count()}  {secs:g} s per row  session = EHLO MAIL RCPT DATA(1 KiB) QUIT")
    row("(a)  core in-process", 1, in_process(secs))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = make_home(tmp, tls=True)
        with canned() as port:
            for c in (1, 16):
                row("(d)  canned-reply server", c, measure(lambda: plain_session(port), secs, c))
        with serve(home) as port:
            for c in (1, 16):
                row("(b)  serve + sh queue program", c, measure(lambda: plain_session(port), secs, c))
        accept = str(FIXTURES_DIR / "bin" / "checkpassword-accept")
        with serve(home, "--memory-queue", "--", accept) as port:
            for c in (1, 16):
                row("(b') serve + in-process queue", c, measure(lambda: plain_session(port), secs, c))
            ctx = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
            ctx.check_hostname = False
            for c in (1, 16):
                row("(e)  serve + STARTTLS + AUTH PLAIN", c,
                    measure(lambda: tls_session(port, ctx), secs, c))
        try:
            with tcpserver(home) as port:
                for c in (1, 16):
                    row("(c)  tcpserver + smtpd per connection", c,
                        measure(lambda: plain_session(port), secs, c))
        except FileNotFoundError as exc:
            print(f"(c)  skipped: {exc}")

    print("\nratios (same run):")
    a = rows["(a)  core in-process"][1]
    print(f"  (a) core in-process       {a:8.0f}/s = {a / 2000:5.2f} x target 2,000/s")
    b16 = [v for k, v in rows.items() if k.startswith("(b) ") and v[0] == 16][0][1]
    print(f"  (b) serve c=16            {b16:8.0f}/s = {b16 / 700:5.2f} x target 700/s")
    d16 = [v for k, v in rows.items() if k.startswith("(d)") and v[0] == 16][0][1]
    bp16 = [v for k, v in rows.items() if k.startswith("(b')") and v[0] == 16][0][1]
    print(f"  (b')/(d) at c=16          {bp16 / d16:8.2f}   (target >= 0.50)")
    e16 = [v for k, v in rows.items() if k.startswith("(e)") and v[0] == 16][0][1]
    print(f"  (e)/(b') TLS+AUTH / plain {e16 / bp16:8.2f}")
    c16 = [v for k, v in rows.items() if k.startswith("(c)") and v[0] == 16]
    if c16:
        print(f"  (c)/(b) tcpserver / serve {c16[0][1] / b16:8.2f}")
    return 1 if any(v[3] for v in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
