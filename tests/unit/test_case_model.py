"""The case model: case files become frozen typed objects at load, and every key at every
level is known or a problem naming the file, the line and the case (ARCHITECTURE.md, house
rule 9). A bad case never hides the good ones. (In-process only: `qmc run`'s report of the
problems is tests/test_case_problems_cli.py.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.cases import (
    CATALOGUE_DIR,
    Alternative,
    CaseKind,
    Expectation,
    Greet,
    RelayAction,
    StepKind,
    load_catalogue,
    load_file,
)
from tests.helpers.harness_util import write_cases

GOOD = '''
[[case]]
id = "1.1.1"
title = "greeting and QUIT"
spec = "2.2"
input = "QUIT\\r\\n"
expect = { replies = "220 mx.test ESMTP\\r\\n221 mx.test\\r\\n", exit = 0 }
'''

REMOTE = '''
[[case]]
id = "7.1.1"
title = "delivered to the relay"
spec = "5.1"
profile = "bare"
remote = { host = "x.example", sender = "s@y.org", recipients = ["r@x.example", "q@x.example"] }
files = { "control/smtproutes" = "x.example:{relay}:{relay_port}\\n" }
relay = [{}]
'''


def _problems(tmp_path: Path, text: str) -> tuple[Path, list[str], list[str]]:
    path = write_cases(tmp_path, text)
    catalogue = load_catalogue([path])
    return path, [c.id for c in catalogue.cases], catalogue.problems


def _line_of(text: str, needle: str, after: int = 0) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line and n > after)


# A misspelt key anywhere: the case goes, the problem names file, line and case, the rest stays.
MISSPELT = [
    ("expect", 'expect = { replies = "x", exitt = 3 }', "exitt", "expect: unknown key 'exitt' (did you mean 'exit'?)"),
    ("accept", 'accept = [{ reason = "r", replise = "x" }]', "replise",
     "accept #1: unknown key 'replise' (did you mean 'replies'?)"),
    ("step", 'steps = ["NOOP\\r\\n",\n  { send = "x", replise = 2 }]', "replise",
     "step 2: unknown key 'replise' (did you mean 'replies'?)"),
    ("case", 'expcet = { exit = 0 }', "expcet", "case: unknown key 'expcet' (did you mean 'expect'?)"),
]


@pytest.mark.parametrize(("where", "line", "key", "message"), MISSPELT, ids=[m[0] for m in MISSPELT])
def test_a_misspelt_key_in_an_smtpd_case_is_a_problem_with_its_line(tmp_path: Path, where: str, line: str,
                                                                    key: str, message: str) -> None:
    body = line if where == "step" else f'input = "QUIT\\r\\n"\n{line}'
    text = GOOD + f'\n[[case]]\nid = "2.1.1"\ntitle = "t"\nspec = "x"\n{body}\n'
    path, ids, problems = _problems(tmp_path, text)
    assert ids == ["1.1.1"]
    assert problems == [f"{path}:{_line_of(text, key)}: case 2.1.1: {message}"]


REMOTE_MISSPELT = [
    ("relay", "relay = [{}]", 'relay = [\n  { name = "mx1" },\n  { nmae = "mx2" },\n]', "nmae",
     "relay #2: unknown key 'nmae' (did you mean 'name'?)"),
    ("script item", "relay = [{}]", 'relay = [{ script = ["220 hi\\r\\n",\n  { wait = 1 }] }]', "wait",
     "relay relay item 2: an item is a reply string or one of"),
    ("dns key", "relay = [{}]", 'relay = [{}]\ndns = { "x.example" = ["1.2.3.4"] }', '"x.example" =',
     "dns key 'x.example' must be 'NAME TYPE'"),
    ("dns record", "relay = [{}]", 'relay = [{}]\ndns = { "x.example MX" = ["mx1.x.example."] }', '"x.example MX"',
     "dns 'x.example MX': 'mx1.x.example.' is not 'PREFERENCE HOST'"),
    ("dns placeholder", "relay = [{}]", 'relay = [{}]\ndns = { "x.example A" = ["{mx9}"] }', '"x.example A"',
     "dns 'x.example A': {mx9} names no relay"),
    ("remote", "recipients = [", "recipeints = [", "recipeints", "remote: unknown key 'recipeints'"),
    ("expect", "relay = [{}]", 'relay = [{}]\nexpect = { sorce = ["relay <- {client}"] }', "sorce",
     "expect: unknown key 'sorce' (did you mean 'source'?)"),
]


@pytest.mark.parametrize(("where", "old", "new", "key", "message"), REMOTE_MISSPELT,
                         ids=[m[0] for m in REMOTE_MISSPELT])
def test_a_misspelt_key_in_a_remote_case_is_a_problem_with_its_line(tmp_path: Path, where: str, old: str, new: str,
                                                                    key: str, message: str) -> None:
    bad = REMOTE.replace('"7.1.1"', '"7.1.2"').replace(old, new)
    text = REMOTE + bad
    path, ids, problems = _problems(tmp_path, text)
    assert ids == ["7.1.1"]
    assert len(problems) == 1, problems
    line = _line_of(text, key, after=_line_of(text, '"7.1.2"'))
    assert problems[0].startswith(f"{path}:{line}: case 7.1.2: {message}"), problems


IMPOSSIBLE = [
    ('input = "QUIT\\r\\n"\nexpect = { exit = "0" }', "expect: exit must be a status 0..255"),
    ('input = "QUIT\\r\\n"\nexpect = { replies = 220 }', "expect: replies must be a string, not a number"),
    ('input = "QUIT\\r\\n"\nexpect = { queue = ["x"] }', "expect: queue must be a list of [message, envelope]"),
    ('input = "QUIT\\r\\n"\nexpect = { relay = ["x"] }', "expect: 'relay' cannot be pinned in this kind of case"),
    ('input = "QUIT\\r\\n"\nrelay = [{}]', "'relay' belongs to qmail-remote cases"),
    ('input = "QUIT\\r\\n"\nsteps = []', "needs exactly one of 'input' or 'steps'"),
    ('steps = [{ send = "x", close = true }]', "step 1: needs exactly one of send, starttls, cram_md5, close, "
                                               "not send and close"),
    ('steps = [{ close = true, replies = 2 }]', "step 1: 'replies' does not go with 'close'"),
    ('steps = [{ starttls = true, tls_version = "TLSv1.1" }]', "step 1: tls_version must be one of"),
    ('steps = [{ starttls = false }]', "step 1: starttls must be true"),
    ('input = "QUIT\\r\\n"\naccept = [{ replies = "x" }]', "accept #1: needs a reason"),
    ('input = "QUIT\\r\\n"\naccept = [{ reason = "r" }]', "accept #1: gives no observation"),
    ('input = "QUIT\\r\\n"\nversions = ["1.08"]\naccept = [{ reason = "r", versions = ["1.09"], exit = 1 }]',
     "accept #1: versions must be among the case's ['1.08']"),
    ('input = "QUIT\\r\\n"\ntimeout = "10"', "timeout must be a number of seconds > 0"),
    ('input = "QUIT\\r\\n"\ntls_build = 1', "tls_build must be true or false"),
    ('input = "QUIT\\r\\n"\ngrade = "lenient"', "grade must be 'strict' or 'informational'"),
]


@pytest.mark.parametrize(("body", "message"), IMPOSSIBLE, ids=[m[1][:40] for m in IMPOSSIBLE])
def test_wrong_types_and_impossible_combinations_are_problems(tmp_path: Path, body: str, message: str) -> None:
    text = GOOD + f'\n[[case]]\nid = "2.1.1"\ntitle = "t"\nspec = "x"\n{body}\n'
    path, ids, problems = _problems(tmp_path, text)
    assert ids == ["1.1.1"]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:"), problems
    assert f": case 2.1.1: {message}" in problems[0]


def test_remote_cases_pin_only_what_qmail_remote_shows(tmp_path: Path) -> None:
    bad = REMOTE.replace('"7.1.1"', '"7.1.2"') + 'expect = { queue = [] }\n' + 'steps = ["x"]\n'
    path, ids, problems = _problems(tmp_path, REMOTE + bad)
    assert ids == ["7.1.1"]
    assert [p.split(": case 7.1.2: ")[1][:40] for p in problems] == [
        "'steps' belongs to qmail-smtpd cases, no", "expect: 'queue' cannot be pinned in this"]


def test_every_problem_of_a_case_is_reported_at_once(tmp_path: Path) -> None:
    text = '[[case]]\nid = "2.1.1"\ntitle = "t"\nspec = "x"\ninput = "QUIT\\r\\n"\n' \
           'accept = [{ reason = "r", exit = "one" }]\n[case.expect]\nexitt = 0\nreplise = "x"\n'
    path, ids, problems = _problems(tmp_path, text)
    assert ids == []
    assert [(p.split(":")[1], p.split(": ", 2)[2][:22]) for p in problems] == [
        ("8", "expect: unknown key 'e"), ("9", "expect: unknown key 'r"), ("6", "accept #1: exit must b")]


def test_the_model_is_frozen_and_typed(tmp_path: Path) -> None:
    text = GOOD.replace("expect", 'accept = [{ reason = "known defect", versions = ["1.09"], exit = 1 }]\nexpect') \
        + REMOTE.replace("relay = [{}]", 'relay = [{ name = "mx1", script = ["220 hi\\r\\n", { tls = true },'
                                         ' { greet = "220 in tls\\r\\n" }] }, { name = "mx2" }]\n'
                                         'dns = { "x.example MX" = ["10 mx1.x.example."], "y.example A" = "SERVFAIL" }')
    catalogue = load_catalogue([write_cases(tmp_path, text)])
    assert catalogue.problems == []
    smtpd, remote = catalogue.cases
    assert smtpd.kind is CaseKind.SMTPD and [s.kind for s in smtpd.steps] == [StepKind.SEND, StepKind.CLOSE]
    assert smtpd.expect == Expectation(replies=b"220 mx.test ESMTP\r\n221 mx.test\r\n", exit=0)
    assert smtpd.expect.pinned() == ("replies", "exit")
    assert smtpd.accept == (Alternative(reason="known defect", versions=("1.09",), exit=1),)
    assert smtpd.line == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        smtpd.expect.exit = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        smtpd.id = "1.1.2"  # type: ignore[misc]
    assert remote.kind is CaseKind.REMOTE
    mx1, mx2 = remote.relay
    assert mx1.scripts == ((b"220 hi\r\n", RelayAction.TLS, Greet(b"220 in tls\r\n")),) and mx1.tls
    # the default dialogue answers every recipient of the job (two here)
    assert mx2.scripts[0].count(b"250 ok\r\n") == 3 and not mx2.tls and mx2.cert == ("mx2.test",)
    zone = {(e.name, e.rtype): e.records or e.rcode for e in remote.dns.entries}
    assert zone == {("x.example", "MX"): ("10 mx1.x.example.",), ("y.example", "A"): "SERVFAIL"}


def test_the_catalogue_loads_without_problems() -> None:
    catalogue = load_catalogue([CATALOGUE_DIR])
    assert catalogue.problems == []
    assert all(c.line > 0 for c in catalogue.cases)


def test_a_syntax_error_is_a_problem_of_the_whole_file(tmp_path: Path) -> None:
    path = write_cases(tmp_path, GOOD + "\n[[case]\n")
    catalogue = load_file(path)
    assert catalogue.cases == [] and catalogue.problems[0].startswith(f"{path}: cannot read the case file")


def test_log_pins_reset_relays_and_log_unstable_load(tmp_path: Path) -> None:
    text = GOOD.replace('exit = 0 }', 'exit = 0, log = "qmail-smtpd: x\\n" }') \
        + 'log_unstable = "a race"\n' \
        + REMOTE.replace("relay = [{}]", 'relay = [{ script = ["220 hi\\r\\n", { reset = true }] }]\n'
                                         'expect = { log = "" }')
    catalogue = load_catalogue([write_cases(tmp_path, text)])
    assert catalogue.problems == []
    smtpd, remote = catalogue.cases
    assert smtpd.expect.log == b"qmail-smtpd: x\n" and smtpd.log_unstable == "a race"
    assert remote.expect.log == b"" and remote.relay[0].scripts[0][1] is RelayAction.RESET


def test_relay_tls_options_load_and_a_bad_version_is_a_problem(tmp_path: Path) -> None:
    good = REMOTE.replace("relay = [{}]", 'relay = [{ tls_max = "TLSv1.2", client_ca = true }]')
    bad = REMOTE.replace('"7.1.1"', '"7.1.2"').replace("relay = [{}]", 'relay = [{ tls_max = "SSLv3" }]')
    catalogue = load_catalogue([write_cases(tmp_path, good + bad)])
    plan = catalogue.cases[0].relay[0]
    assert (plan.tls_max, plan.client_ca) == ("TLSv1.2", True)
    assert [p.split(": case 7.1.2: ")[1] for p in catalogue.problems] == [
        "relay relay: tls_max must be one of TLSv1.2, TLSv1.3"]
