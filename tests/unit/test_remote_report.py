"""qmail-remote's reply parsing and report texts (spec §5.1)."""

from __future__ import annotations

import pytest

from eqmail_ref.remote.report import (
    HUGE_TEXT,
    SmtpReplyParser,
    connection_died,
    fmt_address,
    host_not_found,
    quit_report,
    recipient_rejected,
)

IP = b"\x7f\x00\x00\x01"


def parse_three_ways(data: bytes) -> list[tuple[int, bytes]]:
    results = []
    for step in (len(data), 1, 5):
        p, got = SmtpReplyParser(), []
        for i in range(0, len(data), step):
            p.feed(data[i : i + step])
            while (r := p.next_reply()) is not None:
                got.append((r.code, r.text))
        results.append(got)
    assert results[0] == results[1] == results[2]
    return results[0]


def test_single_and_multiline_replies_with_trailing_data() -> None:
    got = parse_three_ways(b"250 ok\r\n250-a\r\n250-b\r\n250 c\r\n354 go")
    assert got == [(250, b"250 ok\n"), (250, b"250-a\n250-b\n250 c\n")]


def test_code_comes_from_the_first_line() -> None:
    assert parse_three_ways(b"250-first\r\n550 last\r\n") == [(250, b"250-first\n550 last\n")]


def test_text_is_capped_and_keeps_nul() -> None:
    [(code, text)] = parse_three_ways(b"550 " + b"x" * 6000 + b"\0\r\n")
    assert code == 550 and len(text) == HUGE_TEXT


def test_reports() -> None:
    assert recipient_rejected(550, IP, b"550 no such user\n") == (
        b"h127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\n\0")
    assert recipient_rejected(450, IP, b"450 later\n")[:1] == b"s"
    assert quit_report(b"K", IP, b" accepted message", b"250 ok queued\n") == (
        b"K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n\0")
    assert quit_report(b"ZConnected to ", IP, b" but greeting failed", b"421 busy\0\n") == (
        b"ZConnected to 127.0.0.1 but greeting failed.\nRemote host said: 421 busy?\n\0")
    assert quit_report(b"DGiving up on ", IP, b"", b"") == b"DGiving up on 127.0.0.1.\n\0"
    assert connection_died(IP, critical=True, ssl_error=b"timed out") == (
        b"ZConnected to 127.0.0.1 but connection died. Possible duplicate! timed out (#4.4.2)\n\0")
    assert host_not_found(b"bad host\x80") == (
        b"DSorry, I couldn't find any host named bad?host?. (#5.1.2)\n\0")


@pytest.mark.parametrize("data", [b"", b"25", b"250", b"250-a\r\n", b"250-a\r\n25", b"250 no newline"])
def test_incomplete_replies_wait(data: bytes) -> None:
    p = SmtpReplyParser()
    p.feed(data)
    assert p.next_reply() is None


@pytest.mark.parametrize("ip, text", [
    (IP, b"127.0.0.1"),
    (bytes(15) + b"\x01", b"::1"),
    (b"\x20\x01\x0d\xb8" + bytes(10) + b"\x00\x01", b"2001:db8::1"),
    (b"\xfe\x80" + bytes(13) + b"\x05", b"fe80::5"),
    (bytes(10) + b"\xff\xff\x7f\x00\x00\x01", b"::ffff:127.0.0.1"),
    # every zero run compresses, and nothing closes a trailing one (b:ip.c ip6_fmt, 360e06b)
    (b"\x00\x01" + bytes(4) + b"\x00\x02" + bytes(8), b"1::2:"),
])
def test_address_format(ip: bytes, text: bytes) -> None:
    """outhost(): 1.09's ip6_fmt compresses EVERY run of zero groups (spec §5.4)."""
    assert fmt_address(ip) == text
