"""qmail-remote cases (catalogue categories 7 and 8) end to end through the harness: fake
relays on port 25 and a fake DNS server on port 53 of loopback addresses of the harness's
own, the reference as `ref` and as an installed qmail home driven by an `exec:` target
(its resolv.conf bind-mounted in a private mount namespace), verdicts and transcripts
identical; a relay that hangs is an ERROR; every relay, DNS server, socket and process is
gone afterwards."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR, Case, load_catalogue, select
from harness.diff import diff, normalized
from harness.observe.addresses import allocated
from harness.runner import CaseResult
from harness.targets.ref_home import install_reference_home
from harness.verdict import ERROR, NOT_APPLICABLE, OK
from tests.conftest import needs_tool
from tests.helpers.harness_util import run, write_cases


def _can_listen_25() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.42.255.254", 25))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _can_listen_25(),
                                reason="fake mail exchangers listen on port 25 of 127.42.x.x (root)")

REMOTE_FILES = sorted(CATALOGUE_DIR.glob("[78]-*.toml"))
# one or more of each kind: report rows, MX/DNS, routes, relay AUTH, STARTTLS, body, bindings
SAMPLE = ["7.1.1", "7.1.16", "7.1.23", "7.1.26", "7.2.2", "7.2.7", "7.2.11", "7.2.14", "7.3.5", "7.4.1",
          "7.4.10", "7.5.1", "7.5.9", "7.6.1", "8.1.1", "8.1.9", "8.1.20"]


def _cases(ids: list[str] | None = None) -> list[Case]:
    catalogue = load_catalogue(REMOTE_FILES)
    assert not catalogue.problems, catalogue.problems
    return select(catalogue.cases, ids or [])


def _in_use(addresses: frozenset[str]) -> list[str]:
    """Sockets a process still holds (inode != 0) on any of `addresses`, from /proc/net."""
    hexes = {f"{int.from_bytes(socket.inet_aton(a), 'little'):08X}" for a in addresses}
    found = []
    for table in ("tcp", "udp"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1].split(":")[0], fields[2].split(":")[0], fields[9]
            if inode != "0" and (local in hexes or remote in hexes):
                found.append(f"{table} {fields[1]} -> {fields[2]} state {fields[3]}")
    return found


def _no_leftovers(before_threads: set[str]) -> None:
    assert _in_use(allocated()) == []
    alive = {t.name for t in threading.enumerate()} - before_threads
    assert not [n for n in alive if n.startswith("relay-")], alive


def _by_id(results: list[CaseResult]) -> dict[str, CaseResult]:
    return {r.case.id: r for r in results}


def test_remote_cases_run_against_the_reference_with_their_pinned_expectations() -> None:
    threads = {t.name for t in threading.enumerate()}
    cases = _cases(SAMPLE)
    assert [c.id for c in cases] == SAMPLE
    results = run(["ref"], cases, jobs=2)
    assert {r.case.id: r.verdict for r in results} == dict.fromkeys(SAMPLE, OK)
    # what the observers saw, as the pinned expectations say (the runner checked them; here
    # a few by hand, so that a runner that checked nothing could not pass)
    by_id = _by_id(results)
    ok = by_id["7.1.1"].transcript
    assert ok is not None and ok.received == b"r\0K{relay} accepted message.\nRemote host said: 250 queued\n\0"
    assert ok.observations["source"] == [b"relay <- {client}"]  # 127.0.0.1, named
    auth = by_id["7.4.10"].transcript
    assert auth is not None and auth.observations["auth"] == [b"relay LOGIN joe / next.example:192.0.2.9:26"]
    bound = by_id["8.1.1"].transcript
    assert bound is not None and bound.observations["source"] == [b"relay <- {client2}"]  # 127.0.0.2
    assert bound.observations["relay"][0].startswith(b"[relay]\nEHLO bound.test\r\n")
    tls = by_id["7.5.1"].transcript
    assert tls is not None and tls.observations["tls"][0].startswith(b"relay TLSv1.")
    mx = by_id["7.2.2"].transcript
    assert mx is not None and mx.observations["dns"] == [b"x.example CNAME", b"x.example MX",
                                                         b"mx1.x.example A", b"mx2.x.example A"]
    _no_leftovers(threads)


def _exec_home(tmp_path: Path) -> Path:
    """The reference installed as a qmail home, for an exec: target."""
    needs_tool("unshare")
    if os.geteuid() != 0:
        pytest.skip("exec: targets need root for a private mount namespace")
    return install_reference_home(tmp_path / "qhome")


def test_an_exec_target_of_the_installed_reference_gets_the_same_verdicts(tmp_path: Path) -> None:
    home = _exec_home(tmp_path)
    threads = {t.name for t in threading.enumerate()}
    ids = ["7.1.16", "7.2.2", "7.2.11", "7.4.1", "7.5.1", "8.1.9"]
    results = run(["ref", f"exec:{home}"], _cases(ids), jobs=2)
    verdicts = {(r.case.id, r.target): r.verdict for r in results}
    assert verdicts == {(i, t): OK for i in ids for t in ("ref", f"exec:{home}")}
    for r in results:  # the exec run went through its own relays and DNS, and saw the same
        if r.target != "ref":
            assert r.reference is not None and r.transcript is not None
            assert r.transcript is not r.reference
            used: set[str] = set()
            assert diff(normalized(r.reference, used), normalized(r.transcript, used)) == []
            assert r.transcript.observations["relay"] or r.case.id == "7.2.11"
    _no_leftovers(threads)


HANGING = '''
[[case]]
id = "7.9.1"
title = "the relay greets, then never answers EHLO (timeoutremote is 1200 s)"
spec = "5.2"
profile = "bare"
timeout = 1
remote = { host = "x.example", sender = "s@y.org", recipients = ["r@x.example"] }
files = { "control/smtproutes" = "x.example:{relay}:{relay_port}\\n" }
relay = [{ script = ["220 relay ESMTP\\r\\n", { hang = true }] }]

[[case]]
id = "7.9.2"
title = "the run goes on"
spec = "5.1"
profile = "bare"
remote = { host = "x.example", sender = "s@y.org", recipients = ["r@x.example"] }
files = { "control/smtproutes" = "x.example:{relay}:{relay_port}\\n" }
relay = [{}]
expect = { replies = "r\\u0000K{relay} accepted message.\\nRemote host said: 250 queued\\n\\u0000" }
'''


def test_a_hanging_relay_makes_an_error_and_nothing_is_left_running(tmp_path: Path) -> None:
    threads = {t.name for t in threading.enumerate()}
    results = _by_id(run(["ref"], load_catalogue([write_cases(tmp_path, HANGING)]).cases))
    hung = results["7.9.1"]
    assert hung.verdict == ERROR and hung.reason.startswith("reference: hang: qmail-remote did not end")
    assert hung.reference is not None
    assert hung.reference.observations["relay"] == [b"[relay]\nEHLO mx.test\r\n"]  # seen before the cut
    assert results["7.9.2"].verdict == OK
    _no_leftovers(threads)


def test_a_pinned_observation_the_reference_breaks_is_an_error(tmp_path: Path) -> None:
    case = HANGING.split("[[case]]")[2].replace('"7.9.2"', '"7.9.3"').replace(
        "expect = {", 'expect = { relay = ["[relay]\\nEHLO someone.else\\r\\n"], ')
    results = run(["ref"], load_catalogue([write_cases(tmp_path, "[[case]]" + case)]).cases)
    assert [r.verdict for r in results] == [ERROR]
    assert "pinned expectation relay" in results[0].reason


def test_a_bad_relay_or_dns_table_is_a_problem_of_that_case_only(tmp_path: Path) -> None:
    good = HANGING.split("[[case]]")[2]
    bad_relay = good.replace('"7.9.2"', '"7.9.4"').replace("relay = [{}]", 'relay = [{ scirpt = [] }]')
    bad_dns = good.replace('"7.9.2"', '"7.9.5"').replace("relay = [{}]", 'relay = [{}]\ndns = { "x.example" = ["1.2.3.4"] }')
    bad_item = good.replace('"7.9.2"', '"7.9.6"').replace("relay = [{}]", 'relay = [{ script = [{ wait = 1 }] }]')
    catalogue = load_catalogue([write_cases(tmp_path, "".join(f"[[case]]{c}" for c in
                                                              (good, bad_relay, bad_dns, bad_item)))])
    assert [c.id for c in catalogue.cases] == ["7.9.2"]
    assert len(catalogue.problems) == 3
    assert "7.9.4: relay #1: unknown key 'scirpt'" in catalogue.problems[0]
    assert "must be 'NAME TYPE'" in catalogue.problems[1]
    assert "an item is a reply string" in catalogue.problems[2]


@pytest.mark.slow
def test_the_whole_of_categories_7_and_8_agree_on_ref_and_ref_109_and_exec(tmp_path: Path) -> None:
    home = _exec_home(tmp_path)
    threads = {t.name for t in threading.enumerate()}
    cases = _cases()
    assert len(cases) >= 60
    results = run(["ref", "ref:1.09", f"exec:{home}"], cases, jobs=4)
    bad = [(r.case.id, r.target, r.verdict, r.reason) for r in results if r.verdict not in (OK, NOT_APPLICABLE)]
    assert bad == []
    exec_ok = {r.case.id for r in results if r.target.startswith("exec:") and r.verdict == OK}
    ref_ok = {r.case.id for r in results if r.target == "ref" and r.verdict == OK}
    assert exec_ok == ref_ok
    _no_leftovers(threads)
