"""`qmc doctor` and the same checks before `qmc run`, each over the real condition it is
about: a PATH without openssl or unshare, a home without bin/, a process that is not root,
a port someone holds, no engine at DOCKER_HOST, an image from the project's base without
openssl or without the MTA."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.doctor import (
    CRAM_CASES,
    Finding,
    Status,
    check_exec_home,
    check_host_tools,
    check_image,
    check_network_backend,
    check_openssl_cli,
    check_ports,
    check_root,
)
from harness.observe.addresses import SubnetPool
from harness.targets.ref_home import install_reference_home
from tests.conftest import needs_tool

NOBODY = 65534


def _needs_root() -> None:
    if os.geteuid() != 0:
        message = "this test drops to an unprivileged user: it needs root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _path_without(tmp_path: Path, *left_out: str) -> str:
    """A PATH of links to every program of the real PATH except `left_out`."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for directory in reversed(os.environ.get("PATH", "/usr/bin:/bin").split(":")):
        for program in Path(directory).glob("*") if Path(directory).is_dir() else ():
            if program.name not in left_out and os.access(program, os.X_OK) and program.is_file():
                (bin_dir / program.name).unlink(missing_ok=True)
                (bin_dir / program.name).symlink_to(program.resolve())
    return str(bin_dir)


def _qmc(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_openssl_cli_found_and_missing(tmp_path: Path) -> None:
    needs_tool("openssl")
    assert check_openssl_cli().status is Status.OK
    missing = check_openssl_cli(path=_path_without(tmp_path, "openssl"))
    assert missing.status is Status.WARNING
    assert CRAM_CASES in missing.message and "535" in missing.message and "openssl" in missing.fix


def test_without_openssl_the_run_warns_and_the_cram_case_fails_as_it_said(tmp_path: Path) -> None:
    """The warning's claim is true: 4.3.1 runs the CRAM-MD5 stub, which needs openssl."""
    path = _path_without(tmp_path, "openssl")
    done = _qmc("run", "-t", "ref", "--cases", "4.3.1", "--out", str(tmp_path / "rep"), env={"PATH": path})
    assert "no openssl CLI on the PATH" in done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    index = json.loads((tmp_path / "rep" / "index.json").read_text())
    # the reference runs the same stub: it answers 535 where the case pins 235
    assert [r["verdict"] for r in index["results"]] == ["ERROR"], index["results"]
    assert "535 authentication failed" in (tmp_path / "rep" / index["results"][0]["file"]).read_text()


def test_host_tools(tmp_path: Path) -> None:
    needs_tool("unshare")
    assert check_host_tools("exec:/x").status is Status.OK
    missing = check_host_tools("exec:/x", path=_path_without(tmp_path, "unshare"))
    assert missing.status is Status.BLOCKING and "unshare not found" in missing.message


def test_an_exec_home_without_bin_is_refused_by_doctor_and_run(tmp_path: Path) -> None:
    home = tmp_path / "qmail"
    (home / "control").mkdir(parents=True)
    finding = check_exec_home(f"exec:{home}", home)
    assert finding.status is Status.BLOCKING and "has no bin/" in finding.message
    doctor = _qmc("doctor", "-t", f"exec:{home}")
    assert doctor.returncode == 1 and f"{home} has no bin/: not a qmail home" in doctor.stdout
    run = _qmc("run", "-t", f"exec:{home}", "--cases", "1.0.1", "--out", str(tmp_path / "rep"))
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{home} has no bin/: not a qmail home" in run.stderr and finding.fix in run.stderr
    assert not (tmp_path / "rep").exists()  # refused before anything started


def test_an_exec_home_with_its_programs(tmp_path: Path) -> None:
    home = install_reference_home(tmp_path / "qmail")
    assert check_exec_home("exec:x", home).status is Status.OK
    (home / "bin" / "qmail-remote").unlink()
    lacking_remote = check_exec_home("exec:x", home)
    assert lacking_remote.status is Status.WARNING and "qmail-remote" in lacking_remote.message
    shutil.rmtree(home / "control")
    assert "has no control/" in check_exec_home("exec:x", home).message
    (home / "bin" / "qmail-smtpd").chmod(0o644)
    assert check_exec_home("exec:x", home).status is Status.BLOCKING
    assert check_exec_home("exec:x", home, smtpd=str(home / "bin" / "nothing")).status is Status.BLOCKING


def _as_nobody(check: Callable[[], Finding]) -> str:
    """The check's status in a forked child that gave up root (setuid: for real)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, check().status.name.encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    return answer


def test_root_and_privileged_ports_as_an_unprivileged_user() -> None:
    _needs_root()
    assert _as_nobody(lambda: check_root("exec:/x")) == "BLOCKING"
    assert _as_nobody(check_ports) == "WARNING"
    assert check_root("exec:/x").status is Status.OK


def test_a_port_someone_holds() -> None:
    _needs_root()
    assert check_ports().status is Status.OK
    address = "127.42.254.77"  # outside the pool's walk (127.42.0-253.x): no harness run takes it
    with socket.socket() as holder:
        holder.bind((address, 25))
        holder.listen()
        held = check_ports(SubnetPool([address]))
    assert held.status is Status.WARNING and "25/tcp (EADDRINUSE)" in held.message


def test_no_engine_at_docker_host(tmp_path: Path) -> None:
    done = _qmc("doctor", "-t", "docker:any/image", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert done.returncode == 1
    assert "missing" in done.stdout and "no container engine" in done.stdout and "fix: install podman" in done.stdout


@pytest.fixture(scope="module")
def engine() -> Any:
    from harness.images.build import BASE, build_base, engine_cli
    from harness.targets import engine as engines

    if not os.environ.get("DOCKER_HOST"):
        needs_tool("podman")
    build_base(engine_cli())  # the project's debootstrap base: sh, env, unshare, mount; no openssl
    engine = engines.client()
    engine.base = BASE
    return engine


def test_images_from_the_projects_base(engine: Any) -> None:
    base = engine.base
    assert check_network_backend(engine).status is Status.OK
    no_mta = check_image(engine, f"docker:{base}", base, {})
    assert no_mta.status is Status.BLOCKING and "lacks /var/qmail/bin/qmail-smtpd" in no_mta.message
    no_openssl = check_image(engine, f"docker:{base}", base, {"smtpd": "/bin/sh"})
    assert no_openssl.status is Status.WARNING and "has no openssl" in no_openssl.message
    absent = check_image(engine, "docker:localhost/qmc/absent", "localhost/qmc/absent:none", {})
    assert absent.status is Status.BLOCKING and "no image" in absent.message
