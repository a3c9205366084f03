"""SMTP reply text as bytes: where replies end, their codes, and the CRAM-MD5 answer.

A leaf module (it imports nothing from the project) shared by the session driver, the
verdict, the Sides, property sessions and the fuzzer, so that there is one reading of the
grammar (RFC 5321, section 4.2.1): a reply is one or more lines; every line but the last has '-' as
its fourth byte; a line is complete at its LF. A line shorter than four bytes ends a reply
too (a server that says "250\\r\\n" has said a whole reply).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["is_last_line", "reply_end", "split_replies", "count_replies", "reply_codes", "line_codes",
           "cram_answer"]


def is_last_line(line: bytes | bytearray) -> bool:
    """True when `line` (complete, LF included) ends its reply: its fourth byte is not '-'."""
    return len(line) < 4 or line[3] != 0x2D


def reply_end(data: bytes | bytearray, start: int = 0) -> int:
    """The offset just past the first complete reply that starts at `start`; -1 when the
    data holds none yet (its last line has not arrived)."""
    nl = data.find(b"\n", start)
    while nl >= 0:
        if nl - start < 3 or data[start + 3] != 0x2D:
            return nl + 1
        start = nl + 1
        nl = data.find(b"\n", start)
    return -1


def split_replies(data: bytes) -> tuple[list[bytes], bytes]:
    """(the complete replies at the start of `data`, each with all its lines; what follows
    them: an incomplete reply, or b"")."""
    replies: list[bytes] = []
    start = 0
    end = reply_end(data)
    while end >= 0:
        replies.append(data[start:end])
        start = end
        end = reply_end(data, start)
    return replies, data[start:]


def count_replies(data: bytes) -> int:
    """How many complete replies `data` holds (an incomplete one at the end does not count)."""
    return sum(1 for line in data.split(b"\n")[:-1] if len(line) < 4 or line[3] != 0x2D)


def _code(line: bytes) -> int | None:
    head = line[:3]
    if len(head) == 3 and head.isdigit() and line[3:4] in (b" ", b"\r", b"\n", b""):
        return int(head)
    return None


def reply_codes(data: bytes) -> list[int]:
    """The code of each complete reply (of its last line), in order; a reply whose last line
    does not start with three digits has none and is left out."""
    codes: list[int] = []
    for line in data.split(b"\n")[:-1]:
        if len(line) < 4 or line[3] != 0x2D:
            code = _code(line)
            if code is not None:
                codes.append(code)
    return codes


def line_codes(data: bytes) -> list[bytes]:
    """The code of every reply line, continuation lines included, in order (what the verdict
    compares: a missing EHLO keyword line changes these, another reply text does not)."""
    return [line[:3] for line in data.split(b"\n")
            if len(line) >= 4 and line[:3].isdigit() and line[3] in (0x20, 0x2D)]


def cram_answer(user: bytes, secret: bytes, challenge_reply: bytes) -> bytes:
    """The client's CRAM-MD5 line (RFC 2195) for the server's challenge reply "334 BASE64":
    base64 of "user hex(HMAC-MD5(secret, challenge))", CRLF-terminated. A challenge that is not
    base64 is answered as if it were empty (the server then refuses the answer, as it should)."""
    try:
        challenge = base64.b64decode(challenge_reply[4:].strip(), validate=True)
    except ValueError:
        challenge = b""
    digest = hmac.new(secret, challenge, hashlib.md5).hexdigest().encode()
    return base64.b64encode(user + b" " + digest) + b"\r\n"
