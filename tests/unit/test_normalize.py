"""harness/normalize.py: every named rule blanks exactly what differs between two runs, and
the names of the rules that changed something are recorded (README, Normalization)."""

from __future__ import annotations

import base64

import pytest

from harness.normalize import RULES, normalize_bytes

CHALLENGE = base64.b64encode(b"<11676.1795537221@mx.local>")

# rule name -> (raw bytes, normalized bytes); one real sample of what each rule is for
SAMPLES: dict[str, tuple[bytes, bytes]] = {
    "queue-accept": (b"354 go ahead\r\n250 ok 1795537221 qp 4242\r\n",
                     b"354 go ahead\r\n250 ok T qp P\r\n"),
    "received-date": (b"Received: from c (1.2.3.4)\n  by 5.6.7.8 with SMTP; 24 Nov 2026 16:20:14 +0000\n",
                      b"Received: from c (1.2.3.4)\n  by 5.6.7.8 with SMTP; DATE\n"),
    "cram-challenge": (b"334 " + CHALLENGE + b"\r\n", b"334 CHAL\r\n"),
    "cram-fd3": (b"joe\x00" + b"0123456789abcdef" * 2 + b"\x00<11676.1795537221@mx.local>\x00",
                 b"joe\x00DIGEST\x00<CHAL>\x00"),
    "qmail-invoked": (b"Received: (qmail 31337 invoked from network); 24 Nov 2026\n",
                      b"Received: (qmail PID invoked from network); 24 Nov 2026\n"),
    "openssl-1.x-error": (b"454 TLS connection failed: error:1408F10B:SSL routines:ssl3_get_record:"
                          b"wrong version number (#4.3.0)\r\n",
                          b"454 TLS connection failed: error:0A00010B:SSL routines::wrong version number "
                          b"(#4.3.0)\r\n"),
    "relay-tls-cipher": (b"relay1 TLSv1.3 cipher TLS_AES_256_GCM_SHA384",
                         b"relay1 TLSv1.3 cipher CIPHER"),
    "tls-cipher": (b"  by mx with ESMTPS (ECDHE-RSA-AES256-GCM-SHA384 encrypted); DATE\n",
                   b"  by mx with ESMTPS (CIPHER encrypted); DATE\n"),
}


def test_every_rule_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(r.name for r in RULES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_rule_normalizes_and_is_recorded(name: str) -> None:
    raw, want = SAMPLES[name]
    used: set[str] = set()
    assert normalize_bytes(raw, used) == want
    assert used == {name}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_normalized_data_is_a_fixed_point(name: str) -> None:
    _, want = SAMPLES[name]
    used: set[str] = set()
    assert normalize_bytes(want, used) == want
    assert used == set()


def test_untouched_data_records_nothing() -> None:
    used: set[str] = set()
    data = b"220 mx.test ESMTP\r\n250 ok\r\n250 flushed\r\n"
    assert normalize_bytes(data, used) == data
    assert used == set()


def test_two_runs_differing_only_in_time_and_pid_become_equal() -> None:
    a = b"250 ok 1795537221 qp 4242\r\n"
    b = b"250 ok 1795537299 qp 77\r\n"
    used: set[str] = set()
    assert normalize_bytes(a, used) == normalize_bytes(b, used)
    assert used == {"queue-accept"}


def test_several_rules_in_one_text_are_all_recorded() -> None:
    raw = SAMPLES["queue-accept"][0] + SAMPLES["cram-challenge"][0] + SAMPLES["openssl-1.x-error"][0]
    used: set[str] = set()
    out = normalize_bytes(raw, used)
    assert out == SAMPLES["queue-accept"][1] + SAMPLES["cram-challenge"][1] + SAMPLES["openssl-1.x-error"][1]
    assert used == {"queue-accept", "cram-challenge", "openssl-1.x-error"}


@pytest.mark.parametrize("reply", [
    b"334 VXNlcm5hbWU6\r\n",  # the 1.08 LOGIN prompt is not a challenge
    b"334 " + base64.b64encode(b"not a challenge at all here") + b"\r\n",
    b"334 !!!!not-base64!!!!!!!!\r\n",
])
def test_cram_rule_keeps_what_is_not_a_challenge(reply: bytes) -> None:
    used: set[str] = set()
    assert normalize_bytes(reply, used) == reply
    assert used == set()


def test_queue_accept_keeps_other_250_replies() -> None:
    used: set[str] = set()
    data = b"250 ok\r\n250 ok, go ahead\r\n"
    assert normalize_bytes(data, used) == data
    assert used == set()
