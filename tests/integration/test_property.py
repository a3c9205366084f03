"""Property-based differential sessions: the reference against itself agrees, 1.08 against
1.09 shows the known version differences (spec §0), findings shrink, save as case files and
replay (through our replay and through the harness's `run` as a case)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cases import load_file
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.property.__main__ import open_sides
from harness.property.findings import load_finding, save_finding, toml_string
from harness.property.machine import Step, explore, play

PROMPTS = {"reply: '334 VXNlcm5hbWU6' vs '334 Username:'", "reply: '334 UGFzc3dvcmQ6' vs '334 Password:'"}


@pytest.fixture
def worlds() -> Iterator[tuple[RefWorld, RefWorld, RefWorld]]:
    made = (RefWorld("1.08"), RefWorld("1.08"), RefWorld("1.09"))
    try:
        yield made
    finally:
        for world in made:
            world.close()


def test_reference_against_itself_finds_nothing(worlds: tuple[RefWorld, RefWorld, RefWorld]) -> None:
    a, b, _ = worlds
    assert explore(InProcessSide(a), InProcessSide(b), max_examples=200, seed=1) == []


def test_versions_differ_in_the_auth_login_prompts(worlds: tuple[RefWorld, RefWorld, RefWorld]) -> None:
    old, _, new = worlds
    findings = explore(InProcessSide(old), InProcessSide(new), max_examples=200, seed=1, max_findings=1)
    assert [f.signature for f in findings][0] in PROMPTS
    assert len(findings[0].steps) <= 2  # shrunk: AUTH LOGIN (and maybe the user name)


@pytest.mark.slow
@pytest.mark.timeout(600)  # 46 s alone on 2 cores; more than 120 s when the machine is busy
def test_thousand_examples_find_both_prompt_differences_and_nothing_between_equals(
        worlds: tuple[RefWorld, RefWorld, RefWorld]) -> None:
    old, same, new = worlds
    findings = explore(InProcessSide(old), InProcessSide(new), max_examples=1000, seed=7, max_findings=4)
    assert PROMPTS <= {f.signature for f in findings}
    assert explore(InProcessSide(old), InProcessSide(same), max_examples=1000, seed=7) == []


def test_a_finding_saves_as_a_case_and_replays(worlds: tuple[RefWorld, RefWorld, RefWorld],
                                               tmp_path: Path) -> None:
    old, same, new = worlds
    finding = explore(InProcessSide(old), InProcessSide(new), max_examples=200, seed=3, max_findings=1)[0]
    path = save_finding(tmp_path, 1, finding, profile="auth", version="1.08", seed=3, reference="ref",
                        target="ref:1.09")
    catalogue = load_file(path)
    assert catalogue.problems == [] and catalogue.cases[0].id == "99.1"
    steps, profile = load_finding(path)
    assert [s.data for s in steps] == [s.data for s in finding.steps] and profile == "auth"
    again = play(InProcessSide(old), InProcessSide(new), steps)
    assert again is not None and again.signature == finding.signature
    assert play(InProcessSide(old), InProcessSide(same), steps) is None
    # the harness runs it as a case: the reference process 1.08 agrees with the reference 1.08
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--target", "ref", "--catalogue-only", str(path),
                           "--out", str(tmp_path / "report")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # and our replay on the versions that differ reports it again (exit 1)
    done = subprocess.run([sys.executable, "-m", "harness.property", "replay", str(path), "--target", "ref:1.09",
                           "--against", "ref"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and finding.signature in done.stdout, done.stdout + done.stderr


def test_toml_strings_carry_every_byte(tmp_path: Path) -> None:
    data = bytes(range(256)).replace(b"{{", b"{(")
    path = tmp_path / "c.toml"
    path.write_text(f'[[case]]\nid = "99.9"\ntitle = "t"\nspec = "-"\nsteps = [{{ send = {toml_string(data)} }}]\n')
    assert load_file(path).cases[0].steps[0].data == data


def test_process_reference_agrees_with_in_process_reference() -> None:
    """The same generated sessions through the real `eqmail-ref smtpd` processes the harness
    runs (fixture homes, checkpassword stub, queue capture): no difference."""
    pair = open_sides("ref", None, "auth", processes=True, timeout=20.0)
    assert pair.reference is not None
    try:
        assert explore(pair.reference, pair.target, max_examples=25, seed=5, step_count=8) == []
    finally:
        pair.close()


def test_a_process_target_that_differs_is_found_at_its_own_step() -> None:
    """The target's replies to a step are read while the next one is drawn (Side.post):
    a difference is still reported at the step that made it, with the steps up to it."""
    pair = open_sides("ref:1.09", "ref", "auth", processes=True, timeout=20.0)
    assert pair.reference is not None
    steps = [Step(data=b"EHLO client.test\r\n"), Step(data=b"AUTH LOGIN\r\n"), Step(data=b"NOOP\r\n")]
    try:
        finding = play(pair.reference, pair.target, steps)
    finally:
        pair.close()
    assert finding is not None and finding.step == 2 and len(finding.steps) == 2
    assert finding.signature == "reply: '334 VXNlcm5hbWU6' vs '334 Username:'"
