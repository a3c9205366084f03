"""The harness pipeline end to end over real processes: the reference through the fork
server, an `exec:` target (the reference installed as a qmail home, in a private mount
namespace), verdicts, pinned expectations, golden record and replay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.targets.golden import write_golden
from harness.targets.ref_home import install_reference_home
from harness.verdict import ERROR, FAILED, NON_STRICT, OK
from tests.conftest import needs_tool
from tests.helpers.harness_util import cases_from, run, verdicts, write_cases


def test_reference_versions_side_by_side_are_ok_and_pins_hold(tmp_path: Path) -> None:
    results = run(["ref", "ref:1.09"], cases_from(write_cases(tmp_path)), jobs=2)
    assert set(verdicts(results).values()) == {OK}, [(r.case.id, r.target, r.reason) for r in results]
    auth = {r.target: r.transcript for r in results if r.case.id == "4.1.1"}
    assert auth["ref"] is not None and auth["ref:1.09"] is not None
    # the version difference is in the transcripts (spec §0): base64 vs plain prompts
    assert b"334 VXNlcm5hbWU6\r\n" in auth["ref"].received
    assert b"334 Username:\r\n" in auth["ref:1.09"].received
    queued = next(r for r in results if r.case.id == "3.1.1").transcript
    assert queued is not None and queued.observations["queue"][0][1] == b"Fa@b\0Tr@example.org\0\0"


def test_a_wrong_pinned_expectation_is_an_error_for_every_target(tmp_path: Path) -> None:
    text = '[[case]]\nid = "1.2.1"\ntitle = "wrong pin"\nspec = "x"\ninput = "NOOP\\r\\n"\n' \
           'expect = { replies = "220 nope\\r\\n" }\n'
    results = run(["ref"], cases_from(write_cases(tmp_path, text)))
    assert [r.verdict for r in results] == [ERROR]
    assert "pinned expectation" in results[0].reason
    assert results[0].differences[0].field == "expect.replies"


def _exec_target(tmp_path: Path, *flags: str) -> str:
    needs_tool("unshare")
    if os.geteuid() != 0:
        pytest.skip("exec: targets need root for a private mount namespace")
    home = install_reference_home(tmp_path / "qhome", flags=flags)
    return f"exec:{home}"


def test_exec_target_runs_an_installed_qmail_in_a_private_mount_namespace(tmp_path: Path) -> None:
    spec = _exec_target(tmp_path)
    cases = cases_from(write_cases(tmp_path))
    results = run(["ref", spec], cases, jobs=2)
    assert verdicts(results) == {(c.id, t): OK for c in cases for t in ("ref", spec)}
    # the install's own control/ was never touched
    assert list((tmp_path / "qhome" / "control").iterdir()) == []


def test_an_exec_target_of_the_other_version_gets_graded(tmp_path: Path) -> None:
    # an install that behaves like 1.09 while claiming 1.08: AUTH LOGIN prompts differ
    spec = _exec_target(tmp_path, "--version", "1.09")
    results = run([spec], cases_from(write_cases(tmp_path)))
    got = {r.case.id: r for r in results}
    assert got["1.1.1"].verdict == OK and got["3.1.1"].verdict == OK
    assert got["4.1.1"].verdict == NON_STRICT  # same codes (334 334 235), other texts
    fields = {(d.step, d.field) for d in got["4.1.1"].differences}
    assert fields == {(2, "reply"), (3, "reply")}


def test_a_target_that_crashes_mid_session_fails_with_the_exit_status(tmp_path: Path) -> None:
    home = tmp_path / "crashy"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "qmail-smtpd").write_text("#!/bin/sh\nprintf '220 mx.test ESMTP\\r\\n'\nkill -SEGV $$\n")
    (home / "bin" / "qmail-smtpd").chmod(0o755)
    _exec_target(tmp_path)
    results = run([f"exec:{home}"], cases_from(write_cases(tmp_path))[:1])
    assert results[0].verdict == FAILED
    assert {d.field for d in results[0].differences} >= {"exit"}
    assert results[0].transcript is not None and results[0].transcript.exit == 139


def test_golden_record_and_replay(tmp_path: Path) -> None:
    cases = cases_from(write_cases(tmp_path))
    recorded = run(["ref"], cases)
    golden = tmp_path / "golden"
    from harness.targets import make_target

    write_golden(golden, make_target("ref"), [r.transcript for r in recorded if r.transcript])
    assert set(verdicts(run([f"golden:{golden}"], cases)).values()) == {OK}
    # a change in behaviour shows up as a difference
    data = json.loads((golden / "1.1.1.json").read_text())
    data["exchanges"][-1]["received"] = data["exchanges"][-1]["received"].replace("221", "421")
    (golden / "1.1.1.json").write_text(json.dumps(data))
    replay = {r.case.id: r for r in run([f"golden:{golden}"], cases)}
    assert replay["1.1.1"].verdict == FAILED
    assert replay["3.1.1"].verdict == OK


def test_a_partial_re_record_keeps_the_index_whole(tmp_path: Path) -> None:
    from harness.targets import make_target
    from harness.targets.golden import GOLDEN_INDEX

    recorded = [r.transcript for r in run(["ref"], cases_from(write_cases(tmp_path))) if r.transcript]
    golden = tmp_path / "golden"
    ref = make_target("ref")
    write_golden(golden, ref, recorded)
    write_golden(golden, ref, recorded[:1])  # e.g. qmc record --cases 1.1.1
    assert json.loads((golden / GOLDEN_INDEX).read_text())["cases"] == [t.case_id for t in recorded]


def test_a_case_brings_its_own_bin_programs_next_to_the_install(tmp_path: Path) -> None:
    spec = _exec_target(tmp_path)
    text = ('[[case]]\nid = "4.9.1"\ntitle = "own checkpassword"\nspec = "2.9"\n'
            # it reads fd 3 first: one that exits at once races qmail-smtpd's write (454 oops)
            'files = { "bin/cpw" = "#!/bin/sh\\ncat <&3 >/dev/null\\n" }\nargs = ["{home}/bin/cpw"]\n'
            'input = "AUTH PLAIN AGpvZQBub3Bl\\r\\n"\n')
    results = run(["ref", spec], cases_from(write_cases(tmp_path, text)))
    assert [r.verdict for r in results] == [OK, OK]
    assert all(r.transcript and b"235 ok, joe, go ahead" in r.transcript.received for r in results)
