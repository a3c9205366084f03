"""Bad input and bad targets: a hanging target, a case file with a syntax error, Ctrl-C in
the middle of a run. Each ends with a clear message and reports, and leaves no process or
temporary directory behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cases import load_catalogue
from harness.verdict import ERROR, OK
from tests.conftest import ROOT, needs_tool
from tests.helpers.harness_util import GREETING_CASE, run, write_cases

# A qmail-smtpd stand-in that answers like the reference except when the case sets HANG:
# then it tells the test its pid through the FIFO in $HANG and never answers.
HANGER = """#!/bin/sh
if [ -n "${HANG:-}" ]; then echo $$ > "$HANG"; exec cat >/dev/null; fi
exec %s -m eqmail_ref smtpd --qmail-home %s "$@"
"""


def _hanger_home(tmp_path: Path) -> Path:
    needs_tool("unshare")
    if os.geteuid() != 0:
        pytest.skip("exec: targets need root for a private mount namespace")
    home = tmp_path / "qhome"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "qmail-smtpd").write_text(HANGER % (sys.executable, home))
    (home / "bin" / "qmail-smtpd").chmod(0o755)
    return home


def _hang_case(fifo: Path, case_id: str = "1.5.1") -> str:
    return (f'[[case]]\nid = "{case_id}"\ntitle = "hangs"\nspec = "-"\ntimeout = 2\n'
            f'env = {{ HANG = "{fifo}" }}\ninput = "QUIT\\r\\n"\n')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_hanging_target_is_an_error_and_the_run_goes_on(tmp_path: Path) -> None:
    home = _hanger_home(tmp_path)
    fifo = tmp_path / "fifo"
    path = write_cases(tmp_path, GREETING_CASE + "\n" + _hang_case(tmp_path / "pidfile"))
    results = run([f"exec:{home}"], load_catalogue([path]).cases)
    by_id = {r.case.id: r for r in results}
    assert by_id["1.5.1"].verdict == ERROR and by_id["1.5.1"].reason.startswith("target: hang:")
    assert by_id["1.1.1"].verdict == OK and by_id["3.1.1"].verdict == OK
    assert not _alive(int((tmp_path / "pidfile").read_text()))
    assert not fifo.exists()


def test_a_case_file_with_a_syntax_error_is_reported_and_the_rest_runs(tmp_path: Path) -> None:
    good = write_cases(tmp_path, GREETING_CASE, "good.toml")
    bad = write_cases(tmp_path, '[[case]]\nid = "9.9.9"\ntitle = "unterminated\n', "bad.toml")
    also_bad = write_cases(tmp_path, '[[case]]\nid = "x"\ntitle = "t"\nspec = "s"\ninput = ""\n', "worse.toml")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "run", "-t", "ref", "--catalogue-only", str(good),
                           "--catalogue-only", str(bad), "--catalogue-only", str(also_bad), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert f"{bad}: cannot read the case file" in done.stderr
    assert f"{also_bad}:2: case x: id 'x' is not dotted numbers" in done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["summary"]["ref"]["OK"] == 3
    assert len(index["run"]["problems"]) == 2
    assert (out / "junit.xml").exists()


def test_ctrl_c_writes_partial_reports_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home = _hanger_home(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = write_cases(tmp_path, GREETING_CASE + "\n" + _hang_case(fifo, "5.9.9"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "-t", f"exec:{home}", "--catalogue-only",
                             str(path), "--out", str(out)], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with open(fifo) as announce:  # blocks until the hanging case runs: no sleeping
            hanger = int(announce.read())
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    index = json.loads((out / "index.json").read_text())
    assert index["run"]["interrupted"] is True
    assert {r["id"] for r in index["results"]} >= {"1.1.1", "3.1.1", "4.1.1"}
    assert not _alive(hanger)
    assert list(tmp.iterdir()) == []  # the run's case homes are gone
