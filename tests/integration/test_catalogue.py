"""The conformance catalogue (harness/data/conformance/cases) as data, and the golden regression gate.

(a) The catalogue loads without problems, has enough cases per category, unique ids, and
    every reply string of the spec (docs/spec, §2.2, §2.16, §4) appears in some
    pinned expectation, except the few no case can provoke (listed with the reason).
(b) The gate: the reference's transcripts recorded under harness/data/fixtures/golden/ replay as a
    `golden:` target against today's reference and must all be OK, so a change in the
    reference's behaviour shows up as a failing test and, once re-recorded, as a diff in
    review. Re-record with:
        python3 -m harness record --target ref --out harness/data/fixtures/golden/ref-1.08 -j 2 $GOLDEN_SELECTION
        python3 -m harness record --target ref:1.09 --out harness/data/fixtures/golden/ref-1.09 -j 2 $GOLDEN_SELECTION
    where GOLDEN_SELECTION is the --cases/--skip-tag list in GOLDEN_ARGS below.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR, CLIENT, SMTPD, Case, load_catalogue, to_bytes
from harness.resources import GOLDEN_DIR
from harness.runner import Runner
from harness.targets import make_target
from harness.verdict import OK

GOLDEN = GOLDEN_DIR
# the qmail-smtpd categories; 'big' cases (60 KB+ payloads) are left out of the recordings,
# their pinned expectations guard them
GOLDEN_CATEGORIES = (1, 2, 3, 4, 5, 6, 9, 10)
GOLDEN_ARGS = [*(f"--cases={c}.*" for c in GOLDEN_CATEGORIES), "--skip-tag=big"]
GOLDEN_MAX_BYTES = 3_000_000  # both versions together

MINIMUM_PER_CATEGORY = {1: 50, 2: 80, 3: 80, 4: 90, 5: 60, 6: 140, 9: 40, 10: 25}

# Every fixed reply of the spec, as the catalogue pins it after normalization
# (harness/normalize.py: "250 ok T qp P", "334 CHAL"); the 454 TLS replies end in OpenSSL 3's
# text ("error:..."), compared byte for byte.
SPEC_REPLIES = [
    "220 mx.test ESMTP\r\n", "250 mx.test\r\n", "221 mx.test\r\n",
    "214 netqmail home page: http://qmail.org/netqmail\r\n", "250 ok\r\n", "250 flushed\r\n",
    "252 send some mail, i'll try my best\r\n", "354 go ahead\r\n", "250 ok T qp P\r\n",
    "500 unrecognised (#5.5.2)\r\n", "502 unimplemented (#5.5.1)\r\n", "503 MAIL first (#5.5.1)\r\n",
    "503 RCPT first (#5.5.1)\r\n", "555 syntax error (#5.5.4)\r\n",
    "552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n",
    "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n",
    "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n",
    "553 sorry, that domain isn't in my list of allowed rcpthosts; no valid cert for gatewaying (#5.7.1)\r\n",
    "554 too many hops, this message is looping (#5.4.6)\r\n",
    "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n", "451 timeout (#4.4.2)\r\n",
    "421 unable to read controls (#4.3.0)\r\n", "451 qmail-spp failure: ",
    "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n",
    "250-mx.test\r\n250-STARTTLS\r\n250-PIPELINING\r\n",
    # AUTH
    "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "334 Username:\r\n", "334 Password:\r\n", "334 \r\n",
    "334 CHAL\r\n", "235 ok, joe, go ahead (#2.0.0)\r\n", "535 authentication failed (#5.7.1)\r\n",
    "501 auth exchange canceled (#5.0.0)\r\n", "501 malformed auth input (#5.5.4)\r\n",
    "503 auth not available (#5.3.3)\r\n", "503 you're already authenticated (#5.5.0)\r\n",
    "503 no auth during mail transaction (#5.5.0)\r\n", "504 auth type unimplemented (#5.5.1)\r\n",
    "454 oops, problem with child and I can't auth (#4.3.0)\r\n",
    "530 Authorization required (#5.7.1) \r\n",
    "538 AUTH PLAIN/LOGIN not available without TLS (#5.3.3)\r\n",
    # TLS
    "220 ready for tls\r\n", "501 Syntax error (no parameters allowed) (#5.5.4)\r\n",
    "454 TLS missing certificate: error:", "454 TLS no valid RSA private key: error:",
    "454 TLS connection failed: error:",
    # qmail-queue's exit codes (§2.16)
    "554 envelope address too long for qq (#5.1.3)\r\n",
    "554 mail server permanently rejected message (#5.3.0)\r\n", "451 qq out of memory (#4.3.0)\r\n",
    "451 qq timeout (#4.3.0)\r\n", "451 qq write error or disk full (#4.3.0)\r\n", "451 qq read error (#4.3.0)\r\n",
    "451 qq unable to read configuration (#4.3.0)\r\n", "451 qq trouble making network connection (#4.3.0)\r\n",
    "451 qq trouble in home directory (#4.3.0)\r\n", "451 qq trouble creating files in queue (#4.3.0)\r\n",
    "451 mail server temporarily rejected message (#4.3.0)\r\n",
    "451 connection to mail server timed out (#4.4.1)\r\n", "451 connection to mail server rejected (#4.4.1)\r\n",
    "451 communication with mail server failed (#4.4.2)\r\n", "451 qq internal bug (#4.3.0)\r\n",
    "451 unable to exec qq (#4.3.0)\r\n", "554 qq permanent problem (#5.3.0)\r\n",
    "451 qq temporary problem (#4.3.0)\r\n", "451 qq crashed (#4.3.0)\r\n",
]
# In the spec but provoked by no case: they need a failing fork(), pipe(), malloc() or
# interface list, or a race (a checkpassword that exits before qmail-smtpd writes fd 3).
NOT_PROVOKED = {
    "421 out of memory (#4.3.0)": "malloc() failure",
    "421 unable to figure out my IP addresses (#4.3.0)": "ipme_init() failure",
    "451 qqt failure (#4.3.0)": "pipe()/fork() failure starting qmail-queue",
    "454 oops, child won't start and I can't auth (#4.3.0)": "fork() failure",
    "454 oops, unable to open pipe and I can't auth (#4.3.0)": "pipe() failure",
    "454 oops, unable to write pipe and I can't auth (#4.3.0)": "a race with the checkpassword program",
    "451 qq waitpid surprise (#4.3.0)": "waitpid() returning another child",
}


@pytest.fixture(scope="module")
def catalogue() -> list[Case]:
    cat = load_catalogue([CATALOGUE_DIR])
    assert cat.problems == []
    return cat.cases


def test_catalogue_loads_with_unique_ids(catalogue: list[Case]) -> None:
    ids = [c.id for c in catalogue]
    assert len(ids) == len(set(ids))
    assert len(catalogue) >= 300


def test_enough_cases_per_category(catalogue: list[Case]) -> None:
    per = Counter(c.category for c in catalogue)
    short = {cat: (per[cat], want) for cat, want in MINIMUM_PER_CATEGORY.items() if per[cat] < want}
    assert short == {}


def test_every_case_names_its_spec_section_and_title(catalogue: list[Case]) -> None:
    vague = [c.id for c in catalogue if not c.title.strip() or not c.spec.strip()]
    assert vague == []


def test_unpinned_cases_say_why(catalogue: list[Case]) -> None:
    """A case of categories 1-6, 9 and 10 either pins its replies or carries a note saying why not."""
    silent = [c.id for c in catalogue if c.kind in (SMTPD, CLIENT) and c.category in GOLDEN_CATEGORIES
              and c.expect.replies is None and not c.note and "verified-real" not in c.tags]
    assert silent == []


def test_every_spec_reply_is_pinned_somewhere(catalogue: list[Case]) -> None:
    pinned = b"".join(c.expect.replies for c in catalogue if c.expect.replies is not None)
    missing = [r for r in SPEC_REPLIES if to_bytes(r) not in pinned]
    assert missing == []
    # the exceptions are really not pinned (if one gets a case, move it into SPEC_REPLIES)
    assert [r for r in NOT_PROVOKED if to_bytes(r) in pinned] == []


def test_versions_that_differ_are_separate_cases(catalogue: list[Case]) -> None:
    """The 1.08/1.09 differences (LOGIN prompts, submission, TLSREQUIRED) have cases per version."""
    for marker, version in (("334 VXNlcm5hbWU6", "1.08"), ("334 Username:", "1.09"), ("530 Authorization", "1.09"),
                            ("538 AUTH", "1.09")):
        owners = {c.versions for c in catalogue if marker.encode() in (c.expect.replies or b"")}
        assert owners and owners <= {(version,)}, marker


def _golden_dirs() -> list[Path]:
    return [GOLDEN / "ref-1.08", GOLDEN / "ref-1.09"]


def test_golden_recordings_are_small_and_complete(catalogue: list[Case]) -> None:
    size = sum(p.stat().st_size for d in _golden_dirs() for p in d.glob("*.json"))
    assert size < GOLDEN_MAX_BYTES
    for directory in _golden_dirs():
        index = json.loads((directory / "index.json").read_text())
        recorded = set(index["cases"])
        wanted = {c.id for c in catalogue if c.category in GOLDEN_CATEGORIES and "big" not in c.tags
                  and index["version"] in c.versions and c.tls_build in (None, index["tls_build"])}
        # a new or removed case needs a new recording (see the module docstring)
        assert sorted(wanted - recorded) == [] and sorted(recorded - wanted) == [], directory.name


def _gate(directory: Path, cases: list[Case]) -> None:
    golden = make_target(f"golden:{directory}")
    golden.start()  # reads the index: version and TLS build of the recording
    results = Runner([golden], cases, jobs=2).run()
    changed = {r.case.id: (r.verdict, r.reason) for r in results if r.verdict != OK}
    assert changed == {}
    assert len(results) == len(cases)


def _recorded(directory: Path, catalogue: list[Case]) -> list[Case]:
    recorded = set(json.loads((directory / "index.json").read_text())["cases"])
    return [c for c in catalogue if c.id in recorded]


@pytest.mark.parametrize("directory", _golden_dirs(), ids=lambda d: d.name)
def test_golden_gate(directory: Path, catalogue: list[Case]) -> None:
    """Today's reference against its recordings, default run: every case whose replies are not
    pinned (the recording is all that guards it) and every fourth of the others, a few seconds."""
    cases = _recorded(directory, catalogue)
    sample = [c for n, c in enumerate(cases) if c.expect.replies is None or n % 4 == 0]
    assert len(sample) >= len(cases) // 4
    _gate(directory, sample)


@pytest.mark.slow
@pytest.mark.parametrize("directory", _golden_dirs(), ids=lambda d: d.name)
def test_golden_gate_full(directory: Path, catalogue: list[Case]) -> None:
    """Every recorded case (about 10 s per version with two jobs)."""
    _gate(directory, _recorded(directory, catalogue))


def test_golden_gate_sees_a_changed_reply(tmp_path: Path, catalogue: list[Case]) -> None:
    """The gate can fail: a recording whose greeting differs from today's reference is FAILED."""
    source = GOLDEN / "ref-1.08"
    copy = tmp_path / "golden"
    copy.mkdir()
    (copy / "index.json").write_text((source / "index.json").read_text())
    data = json.loads((source / "1.1.1.json").read_text())
    data["exchanges"][0]["received"] = "554 changed.test\r\n"
    (copy / "1.1.1.json").write_text(json.dumps(data))
    golden = make_target(f"golden:{copy}")
    golden.start()
    [result] = Runner([golden], [c for c in catalogue if c.id == "1.1.1"]).run()
    assert result.verdict == "FAILED"
    assert [d.step for d in result.differences] == [0]
