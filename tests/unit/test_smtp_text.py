"""The SMTP reply grammar and the CRAM-MD5 answer (harness.drive.smtp_text): replies framed by the
line whose fourth byte is not '-', read whole, one byte at a time and with trailing data
(house rule 5); the answer against RFC 2195's own example."""

from __future__ import annotations

import base64

import pytest

from harness.drive.smtp_text import (
    count_replies,
    cram_answer,
    is_last_line,
    line_codes,
    reply_codes,
    reply_end,
    split_replies,
)

REPLIES = [
    b"220 mx.test ESMTP\r\n",
    b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"250\r\n",  # a bare code: a whole reply
    b"ok\n",  # shorter than four bytes before the LF: ends a reply too
    b"354-\r\n354 go ahead\r\n",
    b"hello there\r\n",  # no code: still a reply by grammar, but it has no code
    b"554 too many hops\n",  # bare LF
]
STREAM = b"".join(REPLIES)


def _incremental(data: bytes) -> tuple[list[bytes], bytes]:
    """A reader fed one byte at a time: each complete reply is taken off its buffer."""
    got: list[bytes] = []
    buf = bytearray()
    for i in range(len(data)):
        buf += data[i:i + 1]
        end = reply_end(buf)
        while end >= 0:
            got.append(bytes(buf[:end]))
            del buf[:end]
            end = reply_end(buf)
    return got, bytes(buf)


def test_replies_whole() -> None:
    assert split_replies(STREAM) == (REPLIES, b"")
    assert count_replies(STREAM) == len(REPLIES)
    assert reply_codes(STREAM) == [220, 250, 250, 354, 554]


def test_replies_one_byte_at_a_time() -> None:
    assert _incremental(STREAM) == (REPLIES, b"")
    # no prefix holds more replies than it has completed
    for cut in range(len(STREAM) + 1):
        done, rest = split_replies(STREAM[:cut])
        assert b"".join(done) + rest == STREAM[:cut]
        assert count_replies(STREAM[:cut]) == len(done)
        assert done == REPLIES[:len(done)]


@pytest.mark.parametrize("trailing", [b"250-partial\r\n", b"250 no LF yet", b"2", b"250-a\r\n250-b\r\n25"])
def test_replies_with_trailing_data(trailing: bytes) -> None:
    data = STREAM + trailing
    assert split_replies(data) == (REPLIES, trailing)
    assert _incremental(data) == (REPLIES, trailing)
    assert count_replies(data) == len(REPLIES)
    assert reply_codes(data) == [220, 250, 250, 354, 554]
    assert reply_end(data, len(STREAM)) == -1


def test_the_complete_reply_test() -> None:
    assert is_last_line(b"250 ok\r\n") and is_last_line(b"250\r\n") and is_last_line(b"25\n")
    assert not is_last_line(b"250-ok\r\n") and not is_last_line(bytearray(b"250-\r\n"))
    assert reply_end(b"250-a\r\n250 b\r\n221 bye\r\n") == len(b"250-a\r\n250 b\r\n")
    assert reply_end(b"250-a\r\n250 b\r\n221 bye\r\n", 14) == len(b"250-a\r\n250 b\r\n221 bye\r\n")


def test_line_codes_count_continuation_lines() -> None:
    # what the verdict compares: a missing EHLO keyword line is a different list
    assert line_codes(b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n") == [b"250"] * 3
    assert line_codes(b"250-mx.test\r\n250 8BITMIME\r\n") == [b"250"] * 2
    assert line_codes(b"hello\r\n250\r\n2500 x\r\n421 bye") == [b"421"]


def test_cram_md5_answer_is_rfc_2195s_example() -> None:
    challenge = base64.b64encode(b"<1896.697170952@postoffice.reston.mci.net>")
    line = cram_answer(b"tim", b"tanstaaftanstaaf", b"334 " + challenge + b"\r\n")
    assert line == b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    assert base64.b64decode(line) == b"tim b913a602c7eda7a495b4e6e7334d3890"


def test_cram_md5_answer_to_a_challenge_that_is_not_base64() -> None:
    # answered over an empty challenge: the server refuses it, the session goes on
    assert cram_answer(b"joe", b"secret", b"334 not*base64\r\n") == cram_answer(b"joe", b"secret", b"334 \r\n")
