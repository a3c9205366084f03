"""normalize(): named, documented rules that blank out what legitimately differs between two
runs of the same MTA (times, pids, random challenges, the host's OpenSSL names; OpenSSL 1.x
error texts become OpenSSL 3's, which are compared byte for byte). Each result
records which rules changed something, so a reader sees what was ignored."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RULES", "LOG_RULES", "Rule", "normalize_bytes", "normalize_log"]


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


# ERR_error_string() of OpenSSL 1.0/1.1: the code packs lib << 24 | func << 12 | reason and
# the function is named. OpenSSL 3 dropped the function (`error:0A00010B:SSL routines::wrong
# version number`) but kept the library and reason numbers, so the OpenSSL 3 text is derived
# from OpenSSL itself (eqmail_ref.shell.openssl), sign extension of system errors included.
# Texts of OpenSSL 3 (an empty function field) are left as they are: compared byte for byte.
_OPENSSL_1X = re.compile(rb"error:([0-9A-F]{8}):[^:\r\n]*:[^:\r\n]+:.*?(?=;| \(#\d\.\d\.\d\)|\r|\n|$)")
_ERR_LIB_SYS = 2


def _openssl_1x(data: bytes) -> bytes:
    from eqmail_ref.shell.openssl import SYSTEM_FLAG, eqmail_text, pack

    def repl(m: re.Match[bytes]) -> bytes:
        code = int(m.group(1), 16)
        lib, reason = code >> 24 & 0xFF, code & 0xFFF
        return eqmail_text(SYSTEM_FLAG | reason if lib == _ERR_LIB_SYS else pack(lib, reason))

    return _OPENSSL_1X.sub(repl, data)


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
    Rule("openssl-1.x-error", "an eQmail linked against OpenSSL 1.0/1.1 names an error "
         "'error:<lib func reason>:<library>:<function>:<reason>'; it becomes the text OpenSSL 3 "
         "gives the same library and reason, as eQmail prints it", _openssl_1x, b"error:"),
    Rule("relay-tls-cipher", "the cipher a fake relay agreed with qmail-remote depends on two OpenSSL builds",
         _sub(rb"^(\w+ TLSv1(?:\.\d)?) cipher [A-Za-z0-9_-]+((?: client \S+)?)$", rb"\1 cipher CIPHER\2"),
         b" cipher "),
    Rule("tls-cipher", "the cipher named in 'ESMTPS (<cipher> encrypted)' depends on the OpenSSL build",
         _sub(rb"ESMTPS \([A-Za-z0-9_-]+ encrypted\)", b"ESMTPS (CIPHER encrypted)"), b"ESMTPS ("),
)


def _apply(rules: tuple[Rule, ...], data: bytes, used: set[str]) -> bytes:
    for rule in rules:
        if rule.trigger not in data:
            continue
        out = rule.apply(data)
        if out != data:
            used.add(rule.name)
            data = out
    return data


def normalize_bytes(data: bytes, used: set[str]) -> bytes:
    """Apply every rule; add the names of those that changed something to `used`."""
    return _apply(RULES, data, used)


# log lines (stderr) only: what a shell between the harness and the program adds
LOG_RULES: tuple[Rule, ...] = (
    Rule("shell-signal-report",
         "a shell that ran the program reports its death by a signal ('Segmentation fault'): "
         "the container's session wrappers do, a tcpserver run file may; eQmail itself never "
         "writes these lines",
         _sub(rb"(?m)^(?:Segmentation fault|Killed|Aborted|Bus error)(?: \(core dumped\))?\n", b""),
         b"\n"),
)


def normalize_log(data: bytes, used: set[str]) -> bytes:
    """normalize_bytes(), then the rules for log lines alone."""
    return _apply(LOG_RULES, normalize_bytes(data, used), used)
