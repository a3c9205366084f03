"""Images without a registry (harness.images): the mirror comes from the machine's apt sources,
the base is made once and reused, the reference image runs the reference. The full rebuild
from debootstrap is marked slow; CI's first docker test pays it once anyway."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.images import BASE, IMAGES, build, debian_mirror, image_exists
from harness.images.build import BuildError
from harness.targets.engine import podman_env
from tests.conftest import needs_tool

DEB822 = """Types: deb
# http://snapshot.example/archive
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.example/debian http://other.example/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_mirror_from_deb822(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(DEB822)
    assert debian_mirror((sources,)) == "http://mirror.example/debian"


def test_mirror_from_one_line_format(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# deb http://old.example/debian bookworm main\n"
                       "deb http://security.example/debian-security bookworm-security main\n"
                       "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    assert debian_mirror((tmp_path / "missing.sources", sources)) == "http://one.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("deb http://x.example/debian bullseye main\n")
    with pytest.raises(BuildError, match="no Debian bookworm mirror"):
        debian_mirror((sources,))


def test_unknown_image_name() -> None:
    with pytest.raises(BuildError, match="unknown image 'sendmail'"):
        build("sendmail")


def _podman() -> str:
    return needs_tool("podman")


def _in_image(image: str, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([_podman(), "run", "--rm", "--network", "none", image, *argv],
                          capture_output=True, env=podman_env(), timeout=120)


def test_build_ref_reuses_the_base_and_runs_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    _podman()
    build("ref")  # makes the base if this machine has none yet
    capsys.readouterr()
    assert build("ref") == IMAGES["ref"] == "localhost/qmc/eqmail-ref:latest"
    out = capsys.readouterr().out
    assert f"base image {BASE} exists: reused" in out and "+ podman build" in out
    assert "debootstrap" not in out
    done = _in_image(IMAGES["ref"], "/bin/sh", "-c",
                     "mkdir -p /tmp/h/control; echo mx.test >/tmp/h/control/me; : >/tmp/h/control/smtpplugins; "
                     "printf 'QUIT\\r\\n' | eqmail-ref smtpd --qmail-home /tmp/h; "
                     "command -v tcpserver; ls /var/qmail/bin")
    assert done.stdout.startswith(b"220 "), done
    assert b"/usr/bin/tcpserver" in done.stdout and b"qmail-smtpd" in done.stdout


@pytest.mark.slow
def test_base_from_debootstrap(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole registry-free path: debootstrap (mirror from the apt sources), import, build."""
    _podman()
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root")
    build("ref", force_base=True)
    out = capsys.readouterr().out
    assert "+ debootstrap --variant=minbase bookworm" in out and f"import - {BASE}" in out
    assert image_exists(BASE) and image_exists(IMAGES["ref"])
    done = _in_image(BASE, "/bin/sh", "-c", "cat /etc/debian_version")
    assert done.stdout.startswith(b"12."), done
