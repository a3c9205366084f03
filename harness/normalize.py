"""normalize(): named, documented rules that blank out what legitimately differs between two
runs of the same MTA (times, pids, random challenges, the host's OpenSSL names). Each result
records which rules changed something, so a reader sees what was ignored."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RULES", "Rule", "normalize_bytes"]


@dataclass(frozen=True)
class Rule:
    name: str
    why: str
    apply: Callable[[bytes], bytes]
    # bytes every match contains: a rule whose trigger is absent is not run at all (most
    # data has none of them, and a substring test costs a fraction of a regex scan)
    trigger: bytes = b""


def _sub(pattern: bytes, repl: bytes) -> Callable[[bytes], bytes]:
    rx = re.compile(pattern)
    return lambda data: rx.sub(repl, data)


def _cram(data: bytes) -> bytes:
    def repl(m: re.Match[bytes]) -> bytes:
        try:
            decoded = base64.b64decode(m.group(1), validate=True)
        except ValueError:
            return m.group(0)
        return b"334 CHAL\r\n" if re.fullmatch(rb"<\d+\.\d+@[^>]*>", decoded) else m.group(0)

    return re.sub(rb"334 ([A-Za-z0-9+/=]{16,})\r\n", repl, data)


_FD3_DIGEST = _sub(rb"[0-9a-f]{32}(\x00<\d+\.\d+@[^>]*>\x00)", rb"DIGEST\1")
_FD3_CHALLENGE = _sub(rb"\x00<\d+\.\d+@[^>]*>\x00", b"\x00<CHAL>\x00")


def _cram_fd3(data: bytes) -> bytes:
    return _FD3_CHALLENGE(_FD3_DIGEST(data))


RULES: tuple[Rule, ...] = (
    Rule("queue-accept", "qmail-smtpd's '250 ok <unix time> qp <pid>' (spec §2.7)",
         _sub(rb"250 ok \d+ qp \d+", b"250 ok T qp P"), b"250 ok "),
    Rule("received-date", "the date in the Received line qmail-smtpd writes (spec §2.15)",
         _sub(rb"; \d+ \w+ \d{4} \d\d:\d\d:\d\d [+-]\d{4}", b"; DATE"), b"; "),
    Rule("cram-challenge", "the CRAM-MD5 challenge <pid.time@host> is new every time (spec §2.9)", _cram,
         b"334 "),
    Rule("cram-fd3", "what checkpassword reads for CRAM-MD5 holds the digest of a new challenge",
         _cram_fd3, b"\x00<"),
    Rule("qmail-invoked", "qmail-queue's own Received line names its pid",
         _sub(rb"\(qmail \d+ invoked", b"(qmail PID invoked"), b"(qmail "),
    Rule("tls-error", "the OpenSSL error text in '454 TLS ...: <error> (#4.3.0)' depends on the build",
         _sub(rb"(454 TLS (?:missing certificate|no valid RSA private key|connection failed)): [^\r\n]*"
              rb"(\(#4\.3\.0\))", rb"\1: ERROR \2"), b"454 TLS "),
    Rule("relay-tls-cipher", "the cipher a fake relay agreed with qmail-remote depends on two OpenSSL builds",
         _sub(rb"^(\w+ TLSv1(?:\.\d)?) cipher [A-Za-z0-9_-]+$", rb"\1 cipher CIPHER"), b" cipher "),
    Rule("tls-cipher", "the cipher named in 'ESMTPS (<cipher> encrypted)' depends on the OpenSSL build",
         _sub(rb"ESMTPS \([A-Za-z0-9_-]+ encrypted\)", b"ESMTPS (CIPHER encrypted)"), b"ESMTPS ("),
)


def normalize_bytes(data: bytes, used: set[str]) -> bytes:
    """Apply every rule; add the names of those that changed something to `used`."""
    for rule in RULES:
        if rule.trigger not in data:
            continue
        out = rule.apply(data)
        if out != data:
            used.add(rule.name)
            data = out
    return data
