"""Replay sessions whose answers were recorded from REAL eQmail 1.08 and 1.09
(conformance/verified-real-eqmail.toml) against the reference, through `eqmail-ref smtpd`
with real plugins, queue program and checkpassword. Compared: the replies, the exit
status, each queued message and envelope, and what checkpassword read on fd 3."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.resources import CONFORMANCE_DIR
from tests.conftest import EQMAIL_REF, FIXTURE_BIN

CASES: list[dict[str, Any]] = tomllib.loads(
    (CONFORMANCE_DIR / "verified-real-eqmail.toml").read_text())["case"]


def _b(text: str) -> bytes:
    return text.encode("latin-1")


def _normalize(data: bytes) -> bytes:
    data = re.sub(rb"250 ok \d+ qp \d+", b"250 ok T qp P", data)
    return re.sub(rb"; \d+ \w+ \d{4} \d\d:\d\d:\d\d [+-]\d{4}", b"; DATE", data)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_answers_as_real_eqmail(case: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path
    for sub in ("control", "q", "plugins"):
        (home / sub).mkdir()
    for name, content in case["files"].items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_b(content))
        if name.startswith("plugins/"):
            path.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "TCPREMOTEIP": "1.2.3.4", "TCPLOCALIP": "5.6.7.8",
           "QMAILQUEUE": str(FIXTURE_BIN / "qmail-queue-capture"), "QQ_CAPTURE_DIR": str(home / "q"),
           "CHECKPW_USERS": str(home / "users"), "CHECKPW_RECORD": str(home / "fd3"),
           **case.get("env", {})}
    args = [a.replace("{fixtures}", str(FIXTURE_BIN.parent)) for a in case.get("args", [])]
    done = subprocess.run([*EQMAIL_REF, "smtpd", "--no-tls-build", "--version", case["version"],
                           "--auth-sleep-scale", "0", "--qmail-home", str(home), *args],
                          input=_b(case["input"]), env=env, capture_output=True, timeout=60)
    exit_code = done.returncode if done.returncode >= 0 else 128 - done.returncode
    replies = _normalize(done.stdout)
    if case["id"].startswith("cram"):
        replies = re.sub(rb"334 \S+", b"334 CHAL", replies)
    queue = [[_normalize(m.read_bytes()), m.with_suffix(".env").read_bytes()]
             for m in sorted((home / "q").glob("*.msg"))]
    assert replies == _b(case["replies"])
    assert exit_code == case["exit"]
    # capture files are named by pid: compare as a multiset, not in pid order
    assert sorted(queue) == sorted([_b(m), _b(e)] for m, e in case["queue"])
    if "checkpassword_read" in case:
        assert (home / "fd3").read_bytes() == _b(case["checkpassword_read"])
