"""Accepted outcomes (ARCHITECTURE.md): a case lists alternatives a target may show instead
of the reference's, each with its reason. A target that differs from the reference but
matches one is ACCEPTED (counted apart from OK, the reason carried into every report, and
no reason for `qmc run` to fail). And one pin check for every kind of case: a reference that
breaks a pin is an ERROR for every target, qmail-remote cases included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.baseline import write_baseline
from harness.targets.golden import write_golden
from harness.targets.ref import RefTarget
from harness.targets.ref_home import install_reference_home
from harness.verdict import ACCEPTED, ERROR, FAILED, NON_STRICT, OK
from tests.conftest import ROOT, needs_tool
from tests.helpers.harness_util import cases_from, run, write_cases

QUIT = "220 mx.test ESMTP\\r\\n221 mx.test\\r\\n"
OTHER = "220 other.test ESMTP\\r\\n221 mx.test\\r\\n"


def _case(case_id: str, accept: str = "", extra: str = "") -> str:
    return (f'\n[[case]]\nid = "{case_id}"\ntitle = "QUIT"\nspec = "2.2"\ninput = "QUIT\\r\\n"\n'
            f'expect = {{ replies = "{QUIT}", exit = 0 }}\n' + (f"accept = [{accept}]\n" if accept else "") + extra)


def _golden(tmp_path: Path, cases_file: Path, change: dict[str, object]) -> str:
    """A golden: directory holding the reference's transcripts of the file's cases, each
    changed as `change` says (`received` of the greeting, `exit`): a target that really
    answers otherwise."""
    ref = RefTarget("ref", "1.08", True)
    ref.start()
    try:
        results = run(["ref"], cases_from(cases_file))
    finally:
        ref.stop()
    directory = tmp_path / "golden"
    write_golden(directory, ref, [r.transcript for r in results if r.transcript is not None])
    for r in results:
        path = directory / f"{r.case.id}.json"
        data = json.loads(path.read_text())
        if "received" in change:
            data["exchanges"][0]["received"] = change["received"]
        if "exit" in change:
            data["exit"] = change["exit"]
        path.write_text(json.dumps(data))
    return f"golden:{directory}"


def test_an_alternative_explains_a_target_that_differs(tmp_path: Path) -> None:
    text = (_case("1.1.1", f'{{ reason = "its own greeting", replies = "{OTHER}" }}')
            + _case("1.1.2", f'{{ reason = "only 1.09 does this", versions = ["1.09"], replies = "{OTHER}" }}')
            + _case("1.1.3", '{ reason = "another greeting", replies = "220 third ESMTP\\r\\n221 mx.test\\r\\n" }')
            + _case("1.1.4"))
    cases_file = write_cases(tmp_path, text)
    golden = _golden(tmp_path, cases_file, {"received": "220 other.test ESMTP\r\n"})
    results = {(r.case.id, r.target): r for r in run(["ref", golden], cases_from(cases_file))}
    # the reference matches the reference: the alternatives do not come into it
    assert {r.verdict for (_, t), r in results.items() if t == "ref"} == {OK}
    got = {case_id: (r.verdict, r.reason) for (case_id, t), r in results.items() if t == golden}
    assert got["1.1.1"] == (ACCEPTED, "accepted: its own greeting")
    # an alternative of another version, or one that says something else, does not apply
    assert got["1.1.2"][0] == got["1.1.3"][0] == got["1.1.4"][0] == NON_STRICT
    accepted = results[("1.1.1", golden)]
    assert [(d.step, d.field) for d in accepted.differences] == [(0, "reply")]  # still shown


def test_what_the_alternative_does_not_mention_must_still_match_the_reference(tmp_path: Path) -> None:
    text = (_case("1.1.1", f'{{ reason = "its own greeting", replies = "{OTHER}" }}')
            + _case("1.1.2", f'{{ reason = "greets and exits otherwise", replies = "{OTHER}", exit = 3 }}'))
    cases_file = write_cases(tmp_path, text)
    golden = _golden(tmp_path, cases_file, {"received": "220 other.test ESMTP\r\n", "exit": 3})
    got = {r.case.id: r for r in run([golden], cases_from(cases_file))}
    assert got["1.1.1"].verdict == FAILED and {d.field for d in got["1.1.1"].differences} == {"reply", "exit"}
    assert got["1.1.2"].verdict == ACCEPTED and got["1.1.2"].reason == "accepted: greets and exits otherwise"


def test_accepted_reaches_every_report_and_does_not_fail_the_run(tmp_path: Path) -> None:
    cases_file = write_cases(tmp_path, _case("1.1.1", f'{{ reason = "known defect: its own greeting", '
                                                      f'replies = "{OTHER}" }}'))
    golden = _golden(tmp_path, cases_file, {"received": "220 other.test ESMTP\r\n"})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--target", golden, "--catalogue-only", str(cases_file),
                           "--out", str(out), "--update-baseline", str(tmp_path / "baseline.json")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ACCEPTED" in done.stdout and "accepted: known defect: its own greeting" in done.stdout
    index = json.loads((out / "index.json").read_text())
    assert index["summary"][golden]["ACCEPTED"] == 1 and index["summary"][golden]["OK"] == 0
    line, = index["results"]
    assert (line["verdict"], line["reason"]) == ("ACCEPTED", "accepted: known defect: its own greeting")
    assert json.loads((out / line["file"]).read_text())["verdict"] == "ACCEPTED"
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    testcase = suite.find("testcase")
    assert testcase is not None and [c.tag for c in testcase] == ["system-out"]
    assert "accepted: known defect" in (testcase.findtext("system-out") or "")
    html = (out / "report.html").read_text()
    assert 'class="cell v-ACCEPTED"' in html and "accepted: known defect: its own greeting" in html
    # the catalogue's knowledge is not a user's divergence: no baseline entry
    assert json.loads((tmp_path / "baseline.json").read_text()) == {}


def test_an_install_of_the_other_version_is_accepted_where_the_case_says_so(tmp_path: Path) -> None:
    """A real qmail install (the reference installed as a qmail home, in a private mount
    namespace) that behaves like 1.09 while claiming 1.08: the AUTH LOGIN prompts differ."""
    needs_tool("unshare")
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("exec: targets need root for a private mount namespace")
        pytest.skip("exec: targets need root for a private mount namespace")
    home = install_reference_home(tmp_path / "qhome", flags=("--version", "1.09"))
    prompts = ("220 mx.test ESMTP\\r\\n250-mx.test\\r\\n250-PIPELINING\\r\\n250-8BITMIME\\r\\n250-SIZE 0\\r\\n"
               "250 AUTH LOGIN PLAIN CRAM-MD5\\r\\n334 Username:\\r\\n334 Password:\\r\\n"
               "235 ok, joe, go ahead (#2.0.0)\\r\\n221 mx.test\\r\\n")
    text = ('[[case]]\nid = "4.1.1"\ntitle = "AUTH LOGIN"\nspec = "0, 4.2"\nprofile = "auth"\n'
            'steps = ["EHLO x\\r\\n", "AUTH LOGIN\\r\\n", "am9l\\r\\n", "c2VjcmV0\\r\\n", "QUIT\\r\\n"]\n'
            f'accept = [{{ reason = "plain-text prompts", versions = ["1.08"], replies = "{prompts}" }}]\n')
    results = run([f"exec:{home}"], cases_from(write_cases(tmp_path, text)))
    assert [(r.verdict, r.reason) for r in results] == [(ACCEPTED, "accepted: plain-text prompts")], \
        [(d.field, d.target) for d in results[0].differences]


REMOTE = '''
[[case]]
id = "7.9.1"
title = "delivered"
spec = "5.1"
profile = "bare"
remote = { host = "x.example", sender = "s@y.org", recipients = ["r@x.example"] }
files = { "control/smtproutes" = "x.example:{relay}:{relay_port}\\n" }
relay = [{}]
expect = { replies = "r\\u0000K{relay} accepted message.\\nRemote host said: 250 queued\\n\\u0000", %s }
accept = [{ reason = "says it otherwise", replies = "r\\u0000Kdone\\n\\u0000" }]
'''


def test_a_remote_case_has_alternatives_and_its_pins_are_checked_for_every_target(tmp_path: Path) -> None:
    good = write_cases(tmp_path, REMOTE % 'source = ["relay <- {client}"]', "good.toml")
    ref = RefTarget("ref", "1.08", True)
    ref.start()
    try:
        recorded = run(["ref"], cases_from(good))
    finally:
        ref.stop()
    assert [r.verdict for r in recorded] == [OK]
    directory = tmp_path / "golden"
    write_golden(directory, ref, [r.transcript for r in recorded if r.transcript is not None])
    data = json.loads((directory / "7.9.1.json").read_text())
    data["exchanges"][0]["received"] = "r\0Kdone\n\0"
    (directory / "7.9.1.json").write_text(json.dumps(data))
    golden = f"golden:{directory}"
    assert [(r.verdict, r.reason) for r in run([golden], cases_from(good))] == [
        (ACCEPTED, "accepted: says it otherwise")]
    # a pin the reference breaks: ERROR for every target, the reference's run itself no fault
    wrong = write_cases(tmp_path, REMOTE % 'source = ["relay <- 10.9.9.9"]', "wrong.toml")
    results = run(["ref", golden], cases_from(wrong))
    assert [r.verdict for r in results] == [ERROR, ERROR]
    for r in results:
        assert r.reason.startswith("the reference breaks the case's pinned expectation source")
        assert r.reference is not None and r.reference.error == ""
        assert [(d.field, d.target) for d in r.differences] == [("expect.source", "['relay <- 10.9.9.9']")]


def test_baselines_leave_accepted_out(tmp_path: Path) -> None:
    cases_file = write_cases(tmp_path, _case("1.1.1", f'{{ reason = "r", replies = "{OTHER}" }}'))
    golden = _golden(tmp_path, cases_file, {"received": "220 other.test ESMTP\r\n"})
    results = run([golden], cases_from(cases_file))
    assert [r.verdict for r in results] == [ACCEPTED]
    write_baseline(tmp_path / "b.json", results)
    assert json.loads((tmp_path / "b.json").read_text()) == {}
