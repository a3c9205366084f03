"""Case files: parsing, errors that name the file, case and step, discovery and selection;
the pytest plugin collecting case files as test items."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cases import CLOSE, SEND, STARTTLS, load_catalogue, select, to_bytes
from tests.conftest import ROOT
from tests.helpers.harness_util import GREETING_CASE, write_cases


def test_strings_are_bytes_and_repeat_expands() -> None:
    assert to_bytes("a\u0000\u00ff{{3*xy}}") == b"a\x00\xffxyxyxy"


def test_input_becomes_one_write_then_close_and_steps_parse(tmp_path: Path) -> None:
    text = GREETING_CASE + '''
[[case]]
id = "5.1.1"
title = "tls"
spec = "4"
steps = ["EHLO x\\r\\n", {send = "STARTTLS\\r\\n", replies = 1}, {starttls = true, tls_version = "TLSv1.2"}]
'''
    cases = {c.id: c for c in load_catalogue([write_cases(tmp_path, text)]).cases}
    assert [s.kind for s in cases["1.1.1"].steps] == [SEND, CLOSE]
    assert cases["1.1.1"].steps[0].replies == 0
    assert [s.kind for s in cases["5.1.1"].steps] == [SEND, SEND, STARTTLS]
    assert cases["5.1.1"].needs_tls and cases["5.1.1"].steps[2].tls_version == "TLSv1.2"


def test_bad_cases_are_named_and_do_not_hide_the_good_ones(tmp_path: Path) -> None:
    text = GREETING_CASE + '''
[[case]]
id = "2.1.1"
title = "no input"
spec = "x"

[[case]]
id = "2.1.2"
title = "bad step"
spec = "x"
steps = ["NOOP\\r\\n", {sned = "x"}]

[[case]]
id = "1.1.1"
title = "duplicate"
spec = "x"
input = ""
'''
    path = write_cases(tmp_path, text)
    catalogue = load_catalogue([path])
    assert [c.id for c in catalogue.cases] == ["1.1.1", "3.1.1", "4.1.1"]
    assert catalogue.problems == [
        f"{path}:24: case 2.1.1: needs exactly one of 'input' or 'steps'",
        f"{path}:32: case 2.1.2: step 2: unknown key 'sned' (did you mean 'send'?)",
        f"{path}:35: case 1.1.1: id already used in {path}:3",
    ]


def test_selection_by_glob_and_tag(tmp_path: Path) -> None:
    cases = load_catalogue([write_cases(tmp_path)]).cases
    assert [c.id for c in select(cases, ["4.*"])] == ["4.1.1"]
    assert [c.id for c in select(cases, ["1.1.1", "3.*"])] == ["1.1.1", "3.1.1"]
    assert select(cases, [], ["nope"]) == []


def test_pytest_plugin_collects_one_item_per_case_and_target(tmp_path: Path) -> None:
    good = write_cases(tmp_path, GREETING_CASE, "good.toml")
    wrong = write_cases(tmp_path, '[[case]]\nid = "1.2.1"\ntitle = "wrong pin"\nspec = "x"\n'
                                  'input = "NOOP\\r\\n"\nexpect = { replies = "nope" }\n', "wrong.toml")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
                           "--target", "ref", "--target", "ref:1.09", str(good), str(wrong)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "6 passed" in done.stdout and "2 failed" in done.stdout
    assert "ERROR: 1.2.1 wrong pin on ref: the reference breaks the case's pinned expectation" in done.stdout


def test_qmc_list_and_show(tmp_path: Path) -> None:
    path = write_cases(tmp_path)
    listed = subprocess.run([sys.executable, "-m", "harness", "list", "--catalogue-only", str(path)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].startswith("1.1.1")
    shown = subprocess.run([sys.executable, "-m", "harness", "show", "4.1.1", "--catalogue-only", str(path)],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "AUTH LOGIN prompts" in shown.stdout and "step 2 SEND b'AUTH LOGIN\\r\\n'" in shown.stdout
