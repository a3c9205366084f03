"""DATA in the server core (spec §2.7, §2.14-2.16): plugins, qmail-queue, the Received
line, the body through `DataReader`, hop and size limits, and the final reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqmail_ref import replies
from eqmail_ref.blast import BARE_LF, END, DataReader
from eqmail_ref.effects import CloseQueue, OpenQueue, QueueWrite
from eqmail_ref.pump import Step, ask
from eqmail_ref.qqueue import queue_status_text
from eqmail_ref.received import date822, received_pieces
from eqmail_ref.spp_engine import REJECT, run_hook, spp_errors, spp_rset

if TYPE_CHECKING:
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.smtpd_session import Session

__all__ = ["run_data", "MAXHOPS", "QueueBuffer"]

MAXHOPS = 100


class QueueBuffer:
    """qmail.c writes to qmail-queue through a 1024-byte substdio buffer. What is still in
    it when qmail-smtpd exits (bare LF, timeout, client gone) never reaches the queue.

    `put` is one qmail_put() of a string (substdio_put: a string that does not fit flushes
    what is buffered first, so a write can be short of 1024). `put_bytes` is what blast()
    and received()'s safeput() do: qmail_put() one byte at a time, so the buffer goes out
    only when it is full and one more byte comes: every write is exactly 1024 bytes, and a
    session that dies after N bytes has passed 1024 * ((N - 1) // 1024) of them."""

    SIZE = 1024
    CHUNK = 8192  # SUBSTDIO_OUTSIZE

    def __init__(self, io: SmtpServer) -> None:
        self.io = io
        self.buf = bytearray()

    def put(self, data: bytes) -> None:
        if len(data) > self.SIZE - len(self.buf):
            self.flush()
            while len(data) > self.SIZE:
                self.io.emit(QueueWrite(data=bytes(data[: self.CHUNK])))
                data = data[self.CHUNK :]
        self.buf += data

    def put_bytes(self, data: bytes) -> None:
        while len(data) > self.SIZE - len(self.buf):  # full, and another byte comes
            room = self.SIZE - len(self.buf)
            self.buf += data[:room]
            data = data[room:]
            self.flush()
        self.buf += data

    def flush(self) -> None:
        if self.buf:
            self.io.emit(QueueWrite(data=bytes(self.buf)))
            self.buf.clear()


def run_data(s: Session, io: SmtpServer) -> Step:
    if not s.seenmail:
        io.out(replies.WANT_MAIL)
        return
    if not s.rcptto:
        io.out(replies.WANT_RCPT)
        return
    if not spp_errors(s, io, "data") or (yield from run_hook(s, io, "data", None)) == REJECT:
        return
    s.seenmail = False
    databytes = s.controls.databytes
    if s.queue_program is None:  # qmail.c reads $QMAILQUEUE once per process
        s.queue_program = s.env.get(b"QMAILQUEUE", b"bin/qmail-queue")
    opened = yield from ask(OpenQueue(program=s.queue_program, env=dict(s.env)))
    if not opened.ok:
        io.out(replies.QQT_FAILURE)
        return
    io.out(replies.GO_AHEAD)
    now, utcoffset = s.clock()
    queue = QueueBuffer(io)
    for piece, bytewise in received_pieces(
        protocol=s.protocol, local=s.local, remoteip=s.remoteip, remotehost=s.remotehost,
        remoteinfo=s.remoteinfo, helo=s.fakehelo, date=date822(now, utcoffset),
    ):
        (queue.put_bytes if bytewise else queue.put)(piece)
    queue.put(bytes(s.spp_headers))
    spp_rset(s)

    reader = DataReader()
    body = bytearray()
    room = databytes if databytes else -1  # bytes the queue may still take
    overflowed = False
    while True:
        outcome, used = reader.feed(io.input_buffer, body)
        io.consume(used)
        if body:
            if room >= 0 and len(body) > room:
                body = body[:room]
                overflowed = True  # qmail_fail(): the byte past databytes is not written
            if body:
                queue.put_bytes(bytes(body))  # blast(): put(&ch), byte by byte
                if room >= 0:
                    room -= len(body)
            body = bytearray()
        if outcome == END:
            break
        if outcome == BARE_LF:
            io.log(b"bad newlines")
            io.out(replies.BARE_LF)
            io.end(1, reason="bare LF in DATA")
        yield from io.need_input()

    queue.flush()  # qmail_from() flushes the message before the envelope
    hops = reader.hops >= MAXHOPS
    failed = overflowed or hops
    assert s.mailfrom is not None
    envelope = b"F" + s.mailfrom + b"\0" + bytes(s.rcptto) + b"\0"
    result = yield from ask(CloseQueue(envelope=envelope, failed=failed))
    text = queue_status_text(exit_code=result.exit_code, signal=result.signal,
                             failed=failed or result.write_failed)
    if not text:
        when, _ = s.clock()
        io.out(b"250 ok %d qp %d\r\n" % (when, opened.pid))
        io.log(b"message accepted")
    elif hops:
        io.out(replies.HOPS)
        io.log(b"message looping")
    elif overflowed:
        io.out(replies.SIZE)
        io.log(b"message too big")
    elif text[:1] == b"D":
        io.out(b"554 " + text[1:] + b"\r\n")
        io.log(b"message rejected", text[1:])
    else:
        io.out(b"451 " + text[1:] + b"\r\n")
        io.log(b"message delayed", text[1:])
