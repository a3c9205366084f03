"""blast(): the body qmail-remote sends, including how much of a message without a final
newline reaches the server before delivery stops (spec §5.1, §5.5 step 6)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eqmail_ref.remote.body import BUFFER_SIZE, Body, blast


def _model(message: bytes) -> Body:
    """A byte-at-a-time model of blast() over substdio_put (spec §5.5.6)."""
    buf = bytearray()
    wire = bytearray()
    early = 0

    def put(data: bytes) -> None:
        if len(data) > BUFFER_SIZE - len(buf):
            wire.extend(buf)
            buf.clear()
        buf.extend(data)

    i = 0
    while i < len(message):
        if message[i:i + 1] == b".":
            put(b".")
        while True:
            if i >= len(message):
                return Body(sent=bytes(wire), complete=False, early=len(wire))
            ch = message[i:i + 1]
            i += 1
            if ch == b"\n":
                break
            put(ch)
        put(b"\r\n")
    early = len(wire)
    put(b".\r\n")
    return Body(sent=bytes(wire + buf), complete=True, early=early)


def test_transparency() -> None:
    assert blast(b".\n..\n.x\nx.\n\n") == Body(sent=b"..\r\n...\r\n..x\r\nx.\r\n\r\n.\r\n",
                                            complete=True, early=0)
    assert blast(b"a\r\nb\rc\n") == Body(sent=b"a\r\r\nb\rc\r\n.\r\n", complete=True, early=0)
    assert blast(b"") == Body(sent=b".\r\n", complete=True, early=0)


def test_partial_short_message_sends_nothing() -> None:
    assert blast(b"abc") == Body(sent=b"", complete=False, early=0)
    assert blast(b"x\n.") == Body(sent=b"", complete=False, early=0)


def test_crlf_straddling_the_buffer_flushes_early() -> None:
    # Verified against real eQmail 1.08: 3071 body bytes, not 3072.
    body = blast(b"x" * 1023 + b"\n" + b"y" * 3000)
    assert not body.complete
    assert len(body.sent) == 3071
    assert body.sent == b"x" * 1023 + b"\r\n" + b"y" * (3071 - 1025)


def test_early_is_what_was_flushed_before_the_final_dot() -> None:
    # "Possible duplicate!" covers only what is written after the last body byte is put
    body = blast(b"x" * 1500 + b"\n")
    assert (len(body.sent), body.early) == (1505, 1024)
    body = blast(b"x" * 1022 + b"\n")  # the ".\r\n" put no longer fits: 1024 flushed first
    assert (len(body.sent), body.early) == (1027, 0)


def test_exact_buffer_multiples() -> None:
    assert len(blast(b"x" * 5000).sent) == 4096
    assert len(blast(b"x" * 1022 + b"\n" + b"y" * 3000).sent) == 3072
    assert len(blast(b"x" * 1024 + b"\n" + b"y" * 1500).sent) == 2048


@given(st.lists(st.sampled_from([b"a", b".", b"\n", b"\r", b"x" * 700, b"." * 300]), max_size=30))
def test_matches_the_byte_model(parts: list[bytes]) -> None:
    message = b"".join(parts)
    assert blast(message) == _model(message)
