"""harness/drive/session.py ReplyReader: complete SMTP replies framed by the grammar (a line whose
fourth byte is not '-' ends a reply), over a real socketpair, however the bytes arrive."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.drive.session import PlainChannel, ReplyReader

REPLIES = [b"220 mx.test ESMTP\r\n",
           b"250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n",
           b"250 ok\r\n", b"ok\n", b"354 go ahead\n"]


class OneByteChannel(PlainChannel):
    """The same socket read one byte per recv(): every split point of the input is met."""

    def recv(self) -> bytes:
        return self.sock.recv(1)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def reader(sock: socket.socket, one_byte: bool) -> ReplyReader:
    return ReplyReader(OneByteChannel(sock) if one_byte else PlainChannel(sock))


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "byte-by-byte"])
def test_replies_one_by_one(pair: tuple[socket.socket, socket.socket], one_byte: bool) -> None:
    server, client = pair
    server.sendall(b"".join(REPLIES))
    server.shutdown(socket.SHUT_WR)
    r = reader(client, one_byte)
    assert [r.reply() for _ in REPLIES] == REPLIES
    assert r.reply() == b""
    assert r.eof


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "byte-by-byte"])
def test_trailing_partial_reply_is_returned_at_close(pair: tuple[socket.socket, socket.socket],
                                                     one_byte: bool) -> None:
    server, client = pair
    server.sendall(b"250 ok\r\n250-first line\r\n250 sec")
    server.shutdown(socket.SHUT_WR)
    r = reader(client, one_byte)
    assert r.reply() == b"250 ok\r\n"
    assert r.reply() == b"250-first line\r\n250 sec"
    assert r.reply() == b""


def test_reply_leaves_the_next_reply_buffered(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    server.sendall(b"250 flushed\r\n221 mx.test\r\n")
    r = reader(client, False)
    assert r.reply() == b"250 flushed\r\n"
    # the second reply already arrived with the first; reading it needs no more input
    assert bytes(r.buf) == b"221 mx.test\r\n"
    assert r.reply() == b"221 mx.test\r\n"
    assert not r.eof


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "byte-by-byte"])
def test_rest_reads_to_the_end(pair: tuple[socket.socket, socket.socket], one_byte: bool) -> None:
    server, client = pair
    server.sendall(b"221 mx.test\r\n")
    r = reader(client, one_byte)
    assert r.reply() == b"221 mx.test\r\n"
    server.sendall(b"trailing junk\r\nno newline")
    server.shutdown(socket.SHUT_WR)
    assert r.rest() == b"trailing junk\r\nno newline"
    assert r.eof
    assert r.rest() == b""


def test_a_reply_spread_over_several_writes(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    r = reader(client, False)
    server.sendall(b"250-a\r\n25")
    server.sendall(b"0-b\r\n250 c")
    server.sendall(b"\r\n")
    assert r.reply() == b"250-a\r\n250-b\r\n250 c\r\n"
