"""Replay what REAL eQmail 1.08 qmail-remote sent and reported against scripted servers
(conformance/verified-real-qmail-remote.toml) through the reference's dialogue core."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from eqmail_ref.controls import readfile_entries
from eqmail_ref.remote.routes import ColonMap, route_for
from tests.conftest import ROOT
from tests.test_remote_client import talk

CASES: list[dict[str, Any]] = tomllib.loads(
    (ROOT / "conformance" / "verified-real-qmail-remote.toml").read_text())["case"]


def _b(text: str) -> bytes:
    return text.encode("latin-1")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dialogue_as_real_qmail_remote(case: dict[str, Any]) -> None:
    routes = ColonMap(readfile_entries(_b(case["smtproutes"].replace("{port}", "2525"))))
    route = route_for(b"x.example", routes)
    replies = case["replies"]
    if "CLOSE" in replies:  # the server hung up there
        replies = replies[: replies.index("CLOSE")]
    sent, report, _ = talk([_b(r) for r in replies], sender=b"s@y.org",
                           recipients=(b"r1@x.example", b"r2@x.example"),
                           message=_b(case["message"]), auth_user=route.user,
                           auth_password=route.password)
    assert (sent, report) == (_b(case["sent"]), _b(case["report"]))
