"""Replay what REAL eQmail 1.08 qmail-remote sent and reported against scripted servers
(conformance/verified-real-qmail-remote.toml) through the reference's dialogue core."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from eqmail_ref.controls import readfile_entries
from eqmail_ref.effects import Send
from eqmail_ref.remote.client import Delivery, Report, SmtpDialogue
from eqmail_ref.remote.routes import ColonMap, route_for
from tests.conftest import ROOT

CASES: list[dict[str, Any]] = tomllib.loads(
    (ROOT / "conformance" / "verified-real-qmail-remote.toml").read_text())["case"]


def _b(text: str) -> bytes:
    return text.encode("latin-1")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dialogue_as_real_qmail_remote(case: dict[str, Any]) -> None:
    routes = ColonMap(readfile_entries(_b(case["smtproutes"].replace("{port}", "2525"))))
    route = route_for(b"x.example", routes)
    dialogue = SmtpDialogue(Delivery(
        sender=b"s@y.org", recipients=(b"r1@x.example", b"r2@x.example"),
        message=_b(case["message"]), helohost=b"mx.test", auth_user=route.user,
        auth_password=route.password), b"\x7f\x00\x00\x01")
    sent, report = bytearray(), bytearray()

    def apply(effects: list[object]) -> None:
        for e in effects:
            if isinstance(e, Send):
                sent.extend(e.data)
            elif isinstance(e, Report):
                report.extend(e.data)

    apply(list(dialogue.take()))
    for reply in case["replies"]:
        if dialogue.done:
            break
        apply(list(dialogue.receive(b"" if reply == "CLOSE" else _b(reply))))
    if not dialogue.done:
        apply(list(dialogue.receive(b"")))
    assert (bytes(sent), bytes(report)) == (_b(case["sent"]), _b(case["report"]))
