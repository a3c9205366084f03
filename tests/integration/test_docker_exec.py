"""Execs of the `docker:` target (harness/targets/docker_io.py start_exec): the program
writes only after our handshake line reached it, which takes that line and no byte more;
an engine call that fails with an exception without text (TimeoutError()) is an ERROR whose
reason names the exception's type, never "failed: ;"; a session whose exec says nothing
names what it waited for. Real containers of the reference image; in CI a missing podman
fails these tests (needs_tool, through the shared fixtures)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cases import load_file
from harness.errors import TargetFault
from harness.runner import Runner
from harness.targets.base import Target
from harness.targets.docker_ import DockerTarget
from harness.targets.docker_io import ExecStream, TcpRunning, start_exec
from harness.verdict import ERROR
from tests.integration.test_docker_target import (  # noqa: F401 - fixtures
    DOCKER,
    engine,
    ref_image,
    targets,
)


def _started(targets: Callable[[str], Target], options: str = ",api-only") -> DockerTarget:  # noqa: F811
    target = targets(DOCKER + options)
    assert isinstance(target, DockerTarget)
    target.start()
    return target


def _to_end(stream: ExecStream) -> bytes:
    out = b""
    while (got := stream.frame(time.monotonic() + 30)) is not None:
        if got[0] == 1:
            out += got[1]
    return out


def test_an_exec_takes_the_handshake_line_and_no_byte_more(targets: Callable[[str], Target]) -> None:  # noqa: F811
    """What follows the line on stdin is the program's, byte for byte (an SMTP session over
    the exec's stdio starts right behind it); what the prologue writes first arrives."""
    target = _started(targets)
    stream = start_exec(target.engine, target.container, ["cat"], 'echo "first $$" >&2; ')
    try:
        stream.sock.sendall(b"EHLO x\r\n\nno newline at the end")
        stream.sock.shutdown(socket.SHUT_WR)
        assert _to_end(stream) == b"EHLO x\r\n\nno newline at the end"
        assert stream.stderr.startswith(b"first ") and stream.stderr.split()[1].isdigit()
    finally:
        stream.close()


def test_an_engine_call_failing_without_text_names_the_exception(targets: Callable[[str], Target]) -> None:  # noqa: F811
    """A read of a real exec's stream whose deadline passes raises TimeoutError(), whose text
    is empty: the reason names it (the 30 s stall once read "starting the session failed: ;")."""
    target = _started(targets)
    stream = start_exec(target.engine, target.container, ["sleep", "60"])
    try:
        with pytest.raises(TargetFault) as failed:
            target._api("waiting for a marker", stream.until, b"QMC-NEVER", time.monotonic() + 0.5)
    finally:
        stream.close()
    text = str(failed.value)
    assert "waiting for a marker failed: TimeoutError; container running" in text, text


def test_a_session_whose_exec_says_nothing_names_what_it_waited_for(targets: Callable[[str], Target]) -> None:  # noqa: F811
    """A per-session exec (api-only, tcpserver) whose pid and port do not come in time: the
    ERROR says what was awaited and what the stream held, and the run goes on."""
    target = _started(targets)
    with pytest.raises(TargetFault) as failed:
        target._api("starting the session", TcpRunning, target.engine, target.container, "/qmc/none/.run",
                    "0" * 12, target.address, 0.0)
    text = str(failed.value)
    assert "starting the session failed: no tcpserver's pid and port on the exec's stream within 0 s" in text, text


def _own_certificates(count: int) -> str:
    """Cases each of whose client certificates is made during the run (an RSA key each),
    between plain sessions: the runs in which an exec's first lines went missing."""
    cases = []
    for n in range(1, 2 * count + 1):
        if n % 2:
            cases.append(f"""[[case]]
id = "9.8.{n}"
title = "a client certificate of its own"
spec = "test"
profile = "tls"
tls_build = true
files = {{ "control/tlsclients" = "u{n}@example.org\\n", "control/clientca.pem" = "{{clientca}}" }}
steps = ["STARTTLS\\r\\n", {{ starttls = true, tls_version = "TLSv1.2", client_cert = "u{n}@example.org" }},
         "QUIT\\r\\n"]
""")
        else:
            cases.append(f"""[[case]]
id = "9.8.{n}"
title = "a plain session beside it"
spec = "test"
profile = "default"
input = "HELO x\\r\\nQUIT\\r\\n"
""")
    return "\n".join(cases)


@pytest.mark.slow
def test_session_execs_beside_certificates_being_made_all_start(targets: Callable[[str], Target],  # noqa: F811
                                                               tmp_path: Path) -> None:
    """The flake "starting the session failed: ;" (a 30 s stall): with 2 jobs, a session exec
    started while the other job made a client certificate sometimes never got its first
    lines. Before start_exec's handshake this failed in 1 of 3 runs of these 24 cases here
    (in half of the runs of 5.1.* on real eQmail 1.09); each round is a fresh target."""
    (tmp_path / "certs.toml").write_text(_own_certificates(12))
    cases = load_file(tmp_path / "certs.toml").cases
    for _ in range(3):
        ref, docker = targets("ref"), targets(f"{DOCKER},api-only,transport=tcpserver")
        for target in (docker, ref):
            target.start()
        results = Runner([docker, ref], cases, jobs=2).run()
        assert not [(r.case.id, r.reason) for r in results if r.verdict == ERROR]
        docker.stop()
