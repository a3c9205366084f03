"""Category 10 end to end: real clients (smtplib, aiosmtplib, openssl s_client, swaks) drive
real reference sessions through the runner; what each client returned or raised, the queue
and checkpassword's fd 3 are observed and graded; an install that behaves otherwise gets a
verdict other than OK; the HTML report shows the client's run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cases import load_catalogue, select
from harness.targets.ref_home import install_reference_home
from harness.verdict import FAILED, OK
from tests.conftest import needs_tool
from tests.helpers.harness_util import run, verdicts

ROOT = Path(__file__).resolve().parents[2]
# one case per client and per kind of outcome: a plain send, a refused recipient, STARTTLS +
# AUTH PLAIN pipelined by s_client, CRAM-MD5 by swaks, a failed AUTH, the 1.09 submission port
SAMPLE = ["10.1.2", "10.2.1", "10.4.11", "10.4.10", "10.4.12", "10.7.1"]


def _cases(ids: list[str]) -> list:
    cases = select(load_catalogue().cases, ids)
    assert sorted(c.id for c in cases) == sorted(ids)
    return cases


def test_real_clients_drive_both_reference_versions(tmp_path: Path) -> None:
    needs_tool("swaks")
    needs_tool("openssl")
    results = run(["ref", "ref:1.09"], _cases(SAMPLE), jobs=2)
    got = verdicts(results)
    assert got.pop(("10.7.1", "ref")) == "NOT_APPLICABLE"  # the submission gate is 1.09's
    assert set(got.values()) == {OK}, [(r.case.id, r.target, r.reason) for r in results if r.verdict != OK]
    seen = {(r.case.id, r.target): r.transcript for r in results if r.transcript is not None}
    sent = seen[("10.1.2", "ref")]
    assert sent.exchanges[0].kind == "CLIENT" and sent.exchanges[0].received.startswith(b"sent\r\n250 ok ")
    assert sent.observations["queue"][0][1] == b"Fjoe@example.org\0Trcpt@example.org\0\0"
    refused = seen[("10.2.1", "ref:1.09")]
    assert b"raised SMTPRecipientsRefused\r\nrefused <far@elsewhere.test>\r\n553 " in refused.exchanges[0].received
    assert refused.observations.get("queue", []) == []
    # s_client's pipelined AUTH PLAIN went through checkpassword inside TLS, and relaying followed
    tls = seen[("10.4.11", "ref")]
    assert tls.observations["fd3"] == b"joe\0secret\0\0" and b"235 ok, joe, go ahead" in tls.exchanges[0].received
    assert tls.observations["queue"][0][1] == b"Fjoe@example.org\0Tfar@elsewhere.test\0\0"
    # swaks's CRAM-MD5 (the challenge answered from what it read) ended with exit 0
    assert seen[("10.4.10", "ref:1.09")].exchanges[0].received.startswith(b"exit 0\r\n")
    assert b"530 Authorization required" in seen[("10.7.1", "ref:1.09")].exchanges[0].received


def test_an_install_that_differs_is_not_ok(tmp_path: Path) -> None:
    """A real qmail install (the reference installed as a qmail home, in a private mount
    namespace) that behaves like 1.09 while claiming 1.08: on the submission port smtplib
    gets the 530 at MAIL where 1.08 takes the message, and swaks sees the plain LOGIN prompts."""
    needs_tool("unshare")
    needs_tool("swaks")
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("exec: targets need root for a private mount namespace")
        pytest.skip("exec: targets need root for a private mount namespace")
    home = install_reference_home(tmp_path / "qhome", flags=("--version", "1.09"))
    spec = f"exec:{home}"
    results = run([spec], _cases(["10.7.5", "10.4.9", "10.1.1"]))
    got = {r.case.id: r for r in results}
    assert got["10.1.1"].verdict == OK
    submission = got["10.7.5"]
    assert submission.verdict == FAILED, submission.reason
    [difference] = submission.differences[:1]
    assert (difference.step, difference.field) == (1, "reply")
    assert difference.reference == "sent\r\n"
    assert difference.target.startswith("raised SMTPSenderRefused\r\nsender <joe@example.org>\r\n530 ")
    assert any(d.field == "queue" for d in submission.differences)  # nothing queued on the target
    login = got["10.4.9"]
    assert login.verdict == FAILED and "334 Username:" in login.differences[0].target


def test_the_report_shows_a_client_run(tmp_path: Path) -> None:
    needs_tool("swaks")
    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "harness", "run", "-t", "ref", "--cases", "10.1.3", "--cases", "10.2.2",
                    "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
    index = json.loads((out / "index.json").read_text())
    assert {(r["id"], r["verdict"]) for r in index["results"]} == {("10.1.3", "OK"), ("10.2.2", "OK")}
    page = (out / "report.html").read_text()
    assert "client interop: smtplib, aiosmtplib, openssl s_client, swaks" in page
    assert "raised SMTPRecipientsRefused" in page and "swaks: EHLO client.test" in page
