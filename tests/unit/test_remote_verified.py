"""Replay what REAL eQmail 1.08 qmail-remote (built with -DEHLO, without TLS) sent and
reported against scripted servers through the reference core (eqmail_ref.remote.delivery),
with the server's bytes fed whole and byte by byte:

  conformance/verified-real-qmail-remote.toml       sender s@y.org, r1 and r2@x.example,
                                                    helohost mx.test
  conformance/verified-real-qmail-remote-more.toml  `sender`/`recipients` per case,
                                                    helohost me.example

Each case routes x.example by its `smtproutes` (the real route parse, AUTH quirks included)
to 127.0.0.1; the body bytes are also checked against remote/body.py's blast() alone.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from eqmail_ref.controls import readfile_entries
from eqmail_ref.remote.body import blast
from eqmail_ref.remote.routes import ColonMap
from eqmail_ref.remote.snapshot import RemoteControls
from harness.resources import CONFORMANCE_DIR
from tests.helpers.remote_conftest_helpers import drive, switches

FILES = {
    "verified-real-qmail-remote.toml": {"sender": "s@y.org", "recipients": ["r1@x.example", "r2@x.example"],
                                        "helohost": "mx.test"},
    "verified-real-qmail-remote-more.toml": {"helohost": "me.example"},
}
CASES: list[dict[str, Any]] = [
    {**defaults, **case, "file": name}
    for name, defaults in FILES.items()
    for case in tomllib.loads((CONFORMANCE_DIR / name).read_text())["case"]
]


def _b(text: str) -> bytes:
    return text.encode("latin-1")


def _ids(case: dict[str, Any]) -> str:
    return ("more-" if "more" in case["file"] else "") + str(case["id"])


@pytest.mark.parametrize("mode", ["whole", "bytes"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_dialogue_as_real_qmail_remote(case: dict[str, Any], mode: str) -> None:
    replies = case["replies"]
    if "CLOSE" in replies:  # the server hung up there
        replies = replies[: replies.index("CLOSE")]
    routes = ColonMap(readfile_entries(_b(case["smtproutes"].replace("{port}", "2525"))))
    run = drive(servers=[_b("".join(replies))], host=b"x.example", sender=_b(case["sender"]),
                recipients=tuple(_b(r) for r in case["recipients"]), message=_b(case["message"]),
                controls=RemoteControls(helohost=_b(case["helohost"]), routes=routes),
                sw=switches(tls_build=False), mode=mode)
    assert [c.ip for c in run.connects] == [b"\x7f\x00\x00\x01"]
    assert (run.wire, run.report) == (_b(case["sent"]), _b(case["report"]))


@pytest.mark.parametrize("case", [c for c in CASES if "354" in "".join(c["replies"])], ids=_ids)
def test_body_as_real_qmail_remote(case: dict[str, Any]) -> None:
    body = blast(_b(case["message"]))
    sent = _b(case["sent"])
    if "partial final lines" in case["report"]:
        assert not body.complete
        assert sent.endswith(b"DATA\r\n" + body.sent)
    elif "accepted message" in case["report"]:
        assert body.complete
        assert sent.endswith(b"DATA\r\n" + body.sent + b"QUIT\r\n")
