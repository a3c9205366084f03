"""`qmc image --from-home` (harness/images/from_home.py): an installed qmail home packaged as
an image for the `docker:` target. Users have no real eQmail in CI, so the reference
installed as a qmail home stands in (harness/targets/ref_home.py, bundled so that the home stands
alone): its image, run through `qmc run -t docker:TAG` as the command prints it, gives the
same verdicts as `ref`. In CI a missing engine fails these tests (needs_tool)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.images.from_home import parse_uids, plan_home
from harness.report.json_ import load_index
from harness.targets.engine import podman_env
from harness.targets.ref_home import install_reference_home
from tests.conftest import needs_tool

UIDS = "alias=7790:2108,qmaild=7791:2108,qmailq=7797:2107,qmail=2107,nofiles=2108"


def _need_root() -> None:
    if os.geteuid() != 0:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("owners other than ours need root")


def test_uids_option() -> None:
    users, groups = parse_uids(UIDS)
    assert [(a.name, a.uid, a.gid) for a in users] == [("alias", 7790, 2108), ("qmaild", 7791, 2108),
                                                       ("qmailq", 7797, 2107)]
    assert groups == {"qmail": 2107, "nofiles": 2108}
    with pytest.raises(HarnessError, match="--uids: 'qmaild=x' is not USER=UID:GID or GROUP=GID"):
        parse_uids("qmaild=x")


def test_not_a_home_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "--from-home", str(tmp_path / "nothing"), "--tag", "localhost/x:1"]) == 2
    assert f"--from-home {tmp_path / 'nothing'}: no such directory" in capsys.readouterr().err
    assert main(["image", "--from-home", str(tmp_path), "--tag", "localhost/x:1"]) == 2
    assert "no bin/ in it: not a qmail home" in capsys.readouterr().err


def test_plan_reads_owners_libraries_and_interpreters(tmp_path: Path) -> None:
    """An ELF program's shared libraries and a script's interpreter map to the Debian
    packages holding them; the owners of the home's files are the accounts it needs."""
    _need_root()
    home = tmp_path / "qmail"
    (home / "bin").mkdir(parents=True)
    (home / "queue" / "mess").mkdir(parents=True)
    shutil.copy("/usr/bin/openssl", home / "bin" / "qmail-tls-helper")  # an ELF with libssl
    (home / "bin" / "qmail-smtpd").write_text("#!/bin/sh\nexec /usr/bin/tcpserver \"$@\"\n")
    (home / "bin" / "qmail-smtpd").chmod(0o755)
    os.chown(home / "queue", 7797, 2107)
    os.chown(home / "bin" / "qmail-smtpd", 0, 2107)
    os.chown(home / "queue" / "mess", 4242, 4343)  # ids with no name anywhere
    plan = plan_home(home, uids=UIDS)
    assert {("qmaild", 7791, 2108), ("qmailq", 7797, 2107)} <= {(a.name, a.uid, a.gid) for a in plan.users}
    assert plan.groups["qmail"] == 2107 and plan.groups["nofiles"] == 2108
    assert {"libssl3", "libc6", "dash", "ucspi-tcp", "openssl"} <= set(plan.packages), plan.packages
    assert any("uid 4242 owns files but has no name here" in n for n in plan.notes), plan.notes
    assert plan.copied == ()


@pytest.mark.timeout(900)  # an image build (apt) and ~70 cases on two targets: minutes on a busy machine
@pytest.mark.parametrize("engine", ["podman", pytest.param("docker", marks=pytest.mark.slow)])
def test_image_of_a_reference_home_matches_ref(tmp_path: Path, engine: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The whole user path: `qmc image --from-home` prints the `qmc run` line, and that run
    gives `ref`'s verdicts on the 1.* cases and a few of 4.* (AUTH, fd 3) and 7.*
    (qmail-remote); the image holds the tree with its owners and the accounts."""
    _need_root()
    needs_tool("podman" if engine == "podman" else "dockerd")
    home = install_reference_home(tmp_path / "qhome", smtpd_flags=("--auth-sleep-scale", "0"), bundle=True)
    (home / "queue").mkdir()
    os.chown(home / "queue", 7797, 2107)
    os.chown(home / "bin" / "qmail-smtpd", 0, 2107)
    tag = f"localhost/qmc/test-from-home-{engine}:1"
    args = ["image", "--from-home", str(home), "--tag", tag, "--uids", UIDS, "--engine", engine,
            "--package", "python3", "--package", "python3-cryptography", "--package", "python3-dnspython"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "user qmaild 7791:2108" in out and "group qmail 2107" in out
    line = out.strip().splitlines()[-1].strip()
    assert line == f"qmc run -t docker:{tag},engine={engine}", out
    spec = shlex.split(line)[-1]
    cli = (["podman"], podman_env()) if engine == "podman" else (
        ["docker", "-H", "unix:///run/qmc-dockerd.sock"], {**os.environ})
    done = subprocess.run([*cli[0], "run", "--rm", "--network", "none", tag, "sh", "-c",
                           f"stat -c '%u:%g %a' {home}/queue {home}/bin/qmail-smtpd; id -u qmaild; "
                           "getent group qmail"], capture_output=True, text=True, env=cli[1], timeout=120)
    assert done.stdout.split("\n")[:4] == ["7797:2107 755", "0:2107 755", "7791", "qmail:x:2107:"], done
    report = tmp_path / "report"
    cases = ["--cases", "1.*", "--cases", "4.1.*", "--cases", "7.1.1", "--cases", "7.2.2", "--cases", "7.5.1"]
    status = main(["run", "-t", spec, "-t", "ref", *cases, "--out", str(report)])
    index = load_index(report)
    verdicts: dict[str, dict[str, str]] = {}
    for result in index["results"]:
        verdicts.setdefault(result["id"], {})[result["target"]] = result["verdict"]
    assert len(verdicts) > 50
    differ = {i: v for i, v in verdicts.items() if v[spec] != v["ref"]}
    assert differ == {}
    assert status == 0, [r for r in index["results"] if r["verdict"] not in ("OK", "NOT_APPLICABLE")][:3]
    assert {v[spec] for i, v in verdicts.items() if i.startswith("7.")} == {"OK"}
