"""The pytest plugin on several processes (pytest-xdist): workers start their own targets and
lease the observers' loopback addresses machine-wide (harness/observe/addresses.py), so
qmail-remote cases, whose fake relays and DNS servers listen on ports 25 and 53 of
addresses from one shared range, get the verdicts they get on one process."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR
from harness.observe.addresses import Leases, LoopbackPool
from tests.conftest import ROOT

CASE_FILES = [str(CATALOGUE_DIR / "7-remote.toml"), str(CATALOGUE_DIR / "8-domainbindings.toml")]


def _xdist() -> None:
    try:
        import xdist  # noqa: F401
    except ImportError:
        message = "pytest-xdist is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _verdicts(junit: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out[str(case.get("name"))] = str(props.get("qmc_verdict", "none"))
    return out


def _pytest(tmp: Path, workers: str) -> dict[str, str]:
    junit = tmp / f"n{workers}.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", workers,
                           "--target", "ref", "--target", "ref:1.09", f"--junitxml={junit}", *CASE_FILES],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    if workers != "0":
        assert f"created: {workers}/{workers} workers" in done.stdout, done.stdout[:2000]
    return _verdicts(junit)


def test_two_workers_give_the_verdicts_of_one_process(tmp_path: Path) -> None:
    _xdist()
    alone, spread = _pytest(tmp_path, "0"), _pytest(tmp_path, "2")
    assert spread == alone
    assert len(alone) > 250 and list(alone.values()).count("OK") > 150  # the listeners really served


LEASE_HOLDER = """
import sys
from harness.observe.addresses import Leases
leases = Leases(sys.argv[1])
assert all(leases.take(n) for n in range(int(sys.argv[2]), int(sys.argv[2]) + 5))
print("held", flush=True)
sys.stdin.read()
"""


def test_an_address_another_process_holds_is_skipped() -> None:
    name = f"qmc-test-leases-{os.getpid()}"
    leases = Leases(name)
    pool = LoopbackPool(leases)
    start = (os.getpid() * 97) % 65000  # where this process's walk begins
    holder = subprocess.Popen([sys.executable, "-c", LEASE_HOLDER, name, str(start)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert not leases.take(start) and not leases.take(start + 4)
        n = start + 5  # the first address nobody holds
        assert pool.take() == f"127.42.{n // 254}.{n % 254 + 1}"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    assert leases.take(start)  # a process's leases end with it
    Path(leases.path).unlink()
