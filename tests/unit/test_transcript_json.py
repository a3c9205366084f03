"""harness/transcript.py: a transcript survives JSON both ways, every byte value included
(bytes are latin-1 strings in the JSON, the case files' convention)."""

from __future__ import annotations

import json

from harness.transcript import Exchange, Transcript, b2s, s2b

ALL_BYTES = bytes(range(256))


def sample() -> Transcript:
    return Transcript(
        target="ref:1.09", case_id="4.1.3", version="1.09",
        exchanges=[Exchange(step=0, kind="SEND", received=b"220 mx.test ESMTP\r\n"),
                   Exchange(step=1, kind="SEND", sent=b"AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n",
                            received=b"235 ok, joe, go ahead (#2.0.0)\r\n"),
                   Exchange(step=2, kind="STARTTLS", sent=ALL_BYTES, received=ALL_BYTES[::-1],
                            event="tls TLSv1.3"),
                   Exchange(step=3, kind="CLOSE", event="closed")],
        exit=139, stderr=b"qmail-smtpd: read failed: (null) from 1.2.3.4\n\xff",
        observations={"queue": [[b"Received: x\n\nbody\n", b"Fjoe@x.org\x00Tr@far\x00\x00"]],
                      "fd3": b"joe\x00secret\x00\x00", "tls_version": b"TLSv1.3", "count": 2},
        error="", seconds=0.25)


def test_round_trip_through_json_text() -> None:
    t = sample()
    back = Transcript.from_json(json.loads(json.dumps(t.to_json())))
    assert back == t
    assert back.received == t.received


def test_bytes_are_latin1_strings_in_the_json() -> None:
    data = json.loads(json.dumps(sample().to_json()))
    assert data["exchanges"][2]["sent"] == ALL_BYTES.decode("latin-1")
    assert data["observations"]["fd3"] == "joe\x00secret\x00\x00"
    assert data["observations"]["queue"] == [["Received: x\n\nbody\n", "Fjoe@x.org\x00Tr@far\x00\x00"]]
    assert data["exit"] == 139


def test_missing_optional_keys_take_defaults() -> None:
    t = Transcript.from_json({"target": "ref", "case_id": "1.1", "version": "1.08",
                              "exchanges": [{"step": 0, "kind": "SEND", "sent": "", "received": "220 x\r\n"}]})
    assert t == Transcript(target="ref", case_id="1.1", version="1.08",
                           exchanges=[Exchange(step=0, kind="SEND", received=b"220 x\r\n")])


def test_b2s_s2b_inverse_on_every_byte() -> None:
    assert s2b(b2s(ALL_BYTES)) == ALL_BYTES
