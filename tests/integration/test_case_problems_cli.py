"""Catalogue problems over real processes: `qmc run` prints each as FILE:LINE: case ID: what,
runs the good cases and exits 1; and the case model imports no observer (no import cycle
between harness.cases and harness.observe)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers.harness_util import write_cases

GOOD = '''
[[case]]
id = "1.1.1"
title = "greeting and QUIT"
spec = "2.2"
input = "QUIT\\r\\n"
'''

REMOTE = '''
[[case]]
id = "7.1.1"
title = "delivered to the relay"
spec = "5.1"
profile = "bare"
remote = { host = "x.example", sender = "s@y.org", recipients = ["r@x.example"] }
files = { "control/smtproutes" = "x.example:{relay}:{relay_port}\\n" }
relay = [{}]
'''


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_case_model_imports_no_observer() -> None:
    code = "import sys, harness.cases; print([m for m in sys.modules if m.startswith('harness.observe')])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_qmc_run_reports_every_problem_with_file_and_line_runs_the_good_case_and_fails(tmp_path: Path) -> None:
    broken = {
        "expect": ('2.1.1', 'input = "QUIT\\r\\n"\nexpect = { exitt = 0 }'),
        "accept": ('2.1.2', 'input = "QUIT\\r\\n"\naccept = [{ reason = "r", replise = "x" }]'),
        "step": ('2.1.3', 'steps = [{ sned = "NOOP\\r\\n" }]'),
    }
    text = GOOD + "".join(f'\n[[case]]\nid = "{i}"\ntitle = "{k}"\nspec = "x"\n{b}\n' for k, (i, b) in broken.items())
    smtpd = write_cases(tmp_path, text, "smtpd.toml")
    remote_text = (REMOTE + REMOTE.replace('"7.1.1"', '"7.1.2"').replace("relay = [{}]", "relay = [{ scirpt = [] }]")
                   + REMOTE.replace('"7.1.1"', '"7.1.3"').replace("relay = [{}]", 'relay = [{}]\ndns = { "x.example MX"'
                                                                  ' = ["10 mx1.x.example."], "y.example AA" = [] }'))
    remote = write_cases(tmp_path, remote_text, "remote.toml")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--target", "ref", "--catalogue-only", str(smtpd),
                           "--catalogue-only", str(remote), "--out", str(out), "-j", "2"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    expected = [
        f"qmc: {smtpd}:{_line_of(text, 'exitt')}: case 2.1.1: expect: unknown key 'exitt'",
        f"qmc: {smtpd}:{_line_of(text, 'replise')}: case 2.1.2: accept #1: unknown key 'replise'",
        f"qmc: {smtpd}:{_line_of(text, 'sned')}: case 2.1.3: step 1: unknown key 'sned'",
        f"qmc: {remote}:{_line_of(remote_text, 'scirpt')}: case 7.1.2: relay #1: unknown key 'scirpt'",
        f"qmc: {remote}:{_line_of(remote_text, 'y.example AA')}: case 7.1.3: dns key 'y.example AA' must be",
    ]
    for line in expected:
        assert any(err.startswith(line) for err in done.stderr.splitlines()), (line, done.stderr)
    index = json.loads((out / "index.json").read_text())
    assert {(r["id"], r["verdict"]) for r in index["results"]} == {("1.1.1", "OK"), ("7.1.1", "OK")}
    assert len(index["run"]["problems"]) == 5
    assert "PROBLEM" in done.stdout
