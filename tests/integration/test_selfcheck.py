"""The main job until the harness lands: `eqmail-ref selfcheck`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import EQMAIL_REF


def test_selfcheck_passes_and_reports(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    done = subprocess.run([*EQMAIL_REF, "selfcheck", "--report", str(report)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    data = json.loads(report.read_text())
    assert data["failed"] == 0 and data["passed"] >= 20
    assert "selfcheck: " in done.stdout.splitlines()[-1]


def test_broken_case_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[case]]\nid = "1"\ninput = "x"\n')
    done = subprocess.run([*EQMAIL_REF, "selfcheck", "--cases", str(bad), "--report",
                           str(tmp_path / "r.json")], capture_output=True, text=True)
    assert done.returncode != 0
    assert str(bad) in done.stderr and "lacks" in done.stderr


def test_failing_case_is_reported_and_run_goes_on(tmp_path: Path) -> None:
    cases = tmp_path / "c.toml"
    cases.write_text('[defaults.controls]\nme = "mx.test"\nsmtpplugins = ""\n'
                     '[[case]]\nid = "1"\ntitle = "wrong"\ninput = "NOOP\\r\\n"\nexpect = "nope"\n'
                     '[[case]]\nid = "2"\ntitle = "right"\ninput = "NOOP\\r\\n"\n'
                     'expect = "220 mx.test ESMTP\\r\\n250 ok\\r\\n"\n')
    report = tmp_path / "r.json"
    done = subprocess.run([*EQMAIL_REF, "selfcheck", "--cases", str(cases), "--report",
                           str(report)], capture_output=True, text=True)
    assert done.returncode == 1
    data = json.loads(report.read_text())
    assert (data["passed"], data["failed"]) == (1, 1)
