"""Fuzz inputs: protocol states (the prefix that brings a session there), a fast grammar of
SMTP client bytes, and byte-level mutations. Plain `random.Random`, not hypothesis: the
fuzzer needs thousands of inputs per second and a run is reproduced by its seed."""

from __future__ import annotations

import base64
import random

__all__ = ["STATES", "generate", "mutate", "TOKENS"]

# state -> the bytes that bring a session there (the `auth` fixture profile's user is joe)
STATES: dict[str, bytes] = {
    "fresh": b"",
    "ehlo": b"EHLO fuzz.test\r\n",
    "mail": b"EHLO fuzz.test\r\nMAIL FROM:<joe@example.org>\r\n",
    "rcpt": b"EHLO fuzz.test\r\nMAIL FROM:<joe@example.org>\r\nRCPT TO:<joe@example.org>\r\n",
    "data": b"EHLO fuzz.test\r\nMAIL FROM:<joe@example.org>\r\nRCPT TO:<joe@example.org>\r\nDATA\r\n",
    "auth": b"EHLO fuzz.test\r\nAUTH LOGIN\r\n",
}

VERBS = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP", b"VRFY", b"QUIT",
         b"HELP", b"AUTH LOGIN", b"AUTH PLAIN", b"AUTH CRAM-MD5", b"AUTH", b"STARTTLS", b"BDAT 3",
         b"mail from:", b"rcpt to:", b"ehlo", b"EXPN", b"TURN", b"ETRN"]
ADDRESSES = [b"<>", b"<joe@example.org>", b"<ann@sub.example.net>", b"<@a.b,@c.d:joe@example.org>",
             b"<\"a b\"@example.org>", b"<joe@[127.0.0.1]>", b"<joe@[0.0.0.0]>", b"<\xe9@example.org>",
             b"joe@example.org", b"<joe@example.org> SIZE=999999999", b"<joe@example.org> BODY=8BITMIME",
             b"<" + b"a" * 300 + b"@example.org>", b"<joe@elsewhere.com>", b"<joe>", b"<joe@>", b"<<>>"]
LINE_ENDS = [b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n", b"", b"\x00\r\n"]
BODY = [b".", b"..", b".\r\n", b"\r\n.\r\n", b"\n.\n", b"\r\n.\n", b"Received: x\r\n", b"Subject: t\r\n",
        b"\xff\xfe", b"\x00", b"x" * 1000]
CREDENTIALS = [base64.b64encode(x) for x in (b"joe", b"secret", b"\x00joe\x00secret", b"nobody", b"")] + \
    [b"*", b"=", b"!!!", b"====", b"am9l\x00"]
TOKENS = [*VERBS, *ADDRESSES, *LINE_ENDS, *BODY, *CREDENTIALS, b" ", b":", b"<", b">", b"@", b"\x80"]


def _command(rng: random.Random) -> bytes:
    verb = rng.choice(VERBS)
    roll = rng.random()
    if verb.endswith(b":"):
        arg = rng.choice(ADDRESSES)
    elif verb in (b"HELO", b"EHLO", b"ehlo"):
        arg = b" " + rng.choice([b"client.test", b"", b"[1.2.3.4]", b"x" * 600, b"\xe9"])
    elif roll < 0.2:
        arg = b" " + rng.choice(CREDENTIALS)
    else:
        arg = b""
    return verb + arg + rng.choice(LINE_ENDS)


def generate(rng: random.Random, state: str) -> bytes:
    """A few grammar-made lines fitting the state (a body in DATA, credentials in AUTH)."""
    parts: list[bytes] = []
    for _ in range(rng.randint(1, 4)):
        if state == "data" and rng.random() < 0.6:
            parts.append(rng.choice(BODY) + rng.choice(LINE_ENDS))
        elif state == "auth" and rng.random() < 0.5:
            parts.append(rng.choice(CREDENTIALS) + rng.choice(LINE_ENDS))
        elif rng.random() < 0.1:
            parts.append(rng.randbytes(rng.randint(1, 16)))
        else:
            parts.append(_command(rng))
    return b"".join(parts)


def mutate(rng: random.Random, data: bytes, other: bytes = b"") -> bytes:
    """1-4 byte-level edits: flips, token inserts, deletions, duplications, splices."""
    buf = bytearray(data or b"\r\n")
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(buf) + 1)
        op = rng.randrange(7)
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and buf:
            end = min(len(buf), pos + rng.randint(1, 8))
            del buf[pos:end]
        elif op == 3 and buf:
            start = rng.randrange(len(buf))
            chunk = buf[start:start + rng.randint(1, 32)]
            buf[pos:pos] = chunk * rng.randint(1, 4)
        elif op == 4 and other:
            start = rng.randrange(len(other))
            buf[pos:] = other[start:]
        elif op == 5:
            buf[pos:pos] = bytes([rng.choice([0, 10, 13, 32, 46, 127, 128, 255])])
        else:
            buf = bytearray(bytes(buf).replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n"]), 1))
    return bytes(buf[:4096])
