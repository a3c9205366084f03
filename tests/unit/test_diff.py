"""harness/diff.py: two normalized transcripts compared field by field; each difference is
a record (step, field, reference, target) and "the same" is the empty list."""

from __future__ import annotations

from harness.diff import Difference, diff, normalized
from harness.transcript import Exchange, Transcript


def transcript(replies: list[bytes], *, exit: int | None = 0, events: list[str] | None = None,
               **observations: object) -> Transcript:
    events = events or [""] * len(replies)
    return Transcript(target="t", case_id="1.1", version="1.08",
                      exchanges=[Exchange(step=n, kind="SEND", sent=b"X\r\n", received=r, event=e)
                                 for n, (r, e) in enumerate(zip(replies, events, strict=True))],
                      exit=exit, observations=dict(observations))


GREETING = b"220 mx.test ESMTP\r\n"


def test_same_transcripts_give_no_difference() -> None:
    a = transcript([GREETING, b"250 ok\r\n"], queue=[b"msg", b"env"])
    b = transcript([GREETING, b"250 ok\r\n"], queue=[b"msg", b"env"])
    assert diff(a, b) == []


def test_a_reply_difference_names_the_step_and_both_texts() -> None:
    a = transcript([GREETING, b"250 ok\r\n", b"221 mx.test\r\n"])
    b = transcript([GREETING, b"553 no\r\n", b"221 mx.test\r\n"])
    assert diff(a, b) == [Difference(step=1, field="reply", reference="250 ok\r\n", target="553 no\r\n")]


def test_a_missing_step_is_nothing_on_that_side() -> None:
    a = transcript([GREETING, b"250 ok\r\n"])
    b = transcript([GREETING])
    assert diff(a, b) == [Difference(step=1, field="reply", reference="250 ok\r\n", target="(nothing)")]
    assert diff(b, a) == [Difference(step=1, field="reply", reference="(nothing)", target="250 ok\r\n")]


def test_bytes_are_shown_as_latin1() -> None:
    a = transcript([b"250 \xe9\x00\r\n"])
    b = transcript([b"250 e\r\n"])
    assert diff(a, b)[0].reference == "250 \xe9\x00\r\n"


def test_an_event_difference() -> None:
    a = transcript([GREETING, b""], events=["", "closed"])
    b = transcript([GREETING, b""], events=["", "timeout"])
    assert diff(a, b) == [Difference(step=1, field="event", reference="closed", target="timeout")]


def test_exit_status_compared_unless_told_not_to_or_unknown() -> None:
    a = transcript([GREETING], exit=0)
    b = transcript([GREETING], exit=139)
    assert diff(a, b) == [Difference(step=None, field="exit", reference="0", target="139")]
    assert diff(a, b, compare_exit=False) == []
    assert diff(a, transcript([GREETING], exit=None)) == []


def test_observations_compared_by_name_in_order_and_filterable() -> None:
    a = transcript([GREETING], queue=[b"m1", b"e1"], fd3=b"joe\x00pw\x00\x00")
    b = transcript([GREETING], queue=[], fd3=b"joe\x00xx\x00\x00", tls="TLSv1.3")
    assert diff(a, b) == [
        Difference(step=None, field="fd3", reference="joe\x00pw\x00\x00", target="joe\x00xx\x00\x00"),
        Difference(step=None, field="queue", reference="m1\n---\ne1", target="(none)"),
        Difference(step=None, field="tls", reference="(nothing)", target="TLSv1.3"),
    ]
    assert [d.field for d in diff(a, b, observations=["queue"])] == ["queue"]
    assert diff(a, b, observations=[]) == []


def test_normalized_then_diff_ignores_time_and_pid_and_records_the_rule() -> None:
    a = transcript([GREETING, b"250 ok 1795537221 qp 4242\r\n"], queue=[b"Received: (qmail 1 invoked by uid 0)"])
    b = transcript([GREETING, b"250 ok 1795537299 qp 77\r\n"], queue=[b"Received: (qmail 2 invoked by uid 0)"])
    used: set[str] = set()
    assert diff(a, b) != []
    assert diff(normalized(a, used), normalized(b, used)) == []
    assert used == {"queue-accept", "qmail-invoked"}


def test_difference_to_json() -> None:
    d = Difference(step=2, field="reply", reference="250 ok\r\n", target="500 x\r\n")
    assert d.to_json() == {"step": 2, "field": "reply", "reference": "250 ok\r\n", "target": "500 x\r\n"}


def test_log_lines_compared_only_when_asked_and_normalized() -> None:
    a = transcript([GREETING])
    b = transcript([GREETING])
    a.stderr = b"qmail-smtpd: read failed: (null) from 1.2.3.4 to (null) helo unknown\n"
    b.stderr = b""
    assert diff(a, b) == []  # a target whose programs the harness does not run
    assert diff(a, b, compare_log=True) == [
        Difference(step=None, field="log", reference=a.stderr.decode(), target="")]
    # what changes from run to run is normalized in log lines as in replies
    c, d = transcript([GREETING]), transcript([GREETING])
    c.stderr, d.stderr = b"250 ok 1795537221 qp 4242\n", b"250 ok 1795537299 qp 77\n"
    used: set[str] = set()
    assert diff(c, d, compare_log=True) != []
    assert diff(normalized(c, used), normalized(d, used), compare_log=True) == []


def test_a_shell_s_report_of_a_signal_is_not_a_log_line_of_the_mta() -> None:
    a, b = transcript([GREETING], exit=139), transcript([GREETING], exit=139)
    b.stderr = b"Segmentation fault\n"
    used: set[str] = set()
    assert diff(a, b, compare_log=True) != []
    assert diff(normalized(a, used), normalized(b, used), compare_log=True) == []
    assert used == {"shell-signal-report"}
