"""qmail-remote's report protocol on fd 1 (spec §5.1).

One report per recipient that reached RCPT (`r`, `h`, `s`) and one message report (`K`,
`Z`, `D`), each ending in NUL. Remote replies are quoted as `Remote host said: <text>`,
with the text as SmtpReplyParser collected it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SmtpReplyParser", "Reply", "fmt_address", "ip6_fmt", "remote_said", "recipient_rejected",
    "quit_report", "connection_died", "host_not_found", "USAGE", "HUGE_TEXT",
    "TEMP_NOMEM", "TEMP_OSERR", "TEMP_NOCONN", "TEMP_CHDIR", "TEMP_CONTROL", "TEMP_DNS",
    "TEMP_DNSCANON", "PERM_PARTIAL_LINE", "PERM_NOMX", "PERM_AMBIGMX",
]

HUGE_TEXT = 5000  # bytes of a remote reply kept for the report (HUGESMTPTEXT)

USAGE = b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n"
TEMP_NOMEM = b"ZOut of memory. (#4.3.0)\n"
TEMP_OSERR = b"ZSystem resources temporarily unavailable. (#4.3.0)\n"
TEMP_NOCONN = b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
TEMP_CHDIR = b"ZUnable to switch to home directory. (#4.3.0)\n"
TEMP_CONTROL = b"ZUnable to read control files. (#4.3.0)\n"
TEMP_DNS = b"ZSorry, I couldn't find any host by that name. (#4.1.2)\n"
TEMP_DNSCANON = b"ZCNAME lookup failed temporarily. (#4.4.3)\n"
PERM_PARTIAL_LINE = b"DSMTP cannot transfer messages with partial final lines. (#5.6.2)\n"
PERM_NOMX = b"DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n"
PERM_AMBIGMX = (b"DSorry. Although I'm listed as a best-preference MX or A for that host,\n"
                b"it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n")


@dataclass(frozen=True, kw_only=True)
class Reply:
    code: int
    text: bytes  # every byte of the reply but CR, at most HUGE_TEXT


class SmtpReplyParser:
    """smtpcode(): the code is read from the FIRST line (digits or not, unsigned
    arithmetic); continuation lines are those whose fourth byte is '-'."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next_reply(self) -> Reply | None:
        """A complete reply from the buffered bytes, or None if more are needed."""
        buf = self.buf
        n = len(buf)
        if n < 4:
            return None
        code = 0
        for ch in buf[:3]:
            code = (code * 10 + (ch - 48)) % (1 << 64)
        pos = 3  # the next byte to read, as get() would
        while True:
            if pos >= n:
                return None
            ch = buf[pos]
            pos += 1
            if ch != 0x2D:  # not '-': this is the last line
                break
            lf = buf.find(b"\n", pos)
            if lf < 0:
                return None
            pos = lf + 4  # skip the LF and the next line's three code bytes
        if ch != 0x0A:
            lf = buf.find(b"\n", pos)
            if lf < 0:
                return None
            pos = lf + 1
        text = bytes(buf[:pos]).replace(b"\r", b"")[:HUGE_TEXT]
        del buf[:pos]
        return Reply(code=code, text=text)


def ip6_fmt(ip: bytes) -> bytes:
    """eQmail 1.09's ip6_fmt(): every run of zero groups shrinks to one more colon, groups
    in lowercase hex without leading zeros. (A v4-mapped address, ::ffff:a.b.c.d, is shown
    dotted here; the C code passes a struct where a pointer is expected there.)"""
    out = bytearray()
    compressing = False
    for j in range(0, 16, 2):
        if j == 12 and ip[:12] == b"\0" * 10 + b"\xff\xff":
            out += b".".join(b"%d" % o for o in ip[12:])
            break
        group = ip[j] << 8 | ip[j + 1]
        if group == 0:
            if not compressing:
                compressing = True
                if j == 0:
                    out += b":"
        else:
            if compressing:
                compressing = False
                out += b":"
            out += b"%x" % group
            if j < 14:
                out += b":"
    return bytes(out)


def fmt_address(ip: bytes) -> bytes:
    """outhost(): a dotted quad, or ip6_fmt for IPv6 (1.09)."""
    if len(ip) == 16:
        return ip6_fmt(ip)
    return b".".join(b"%d" % octet for octet in ip)


def remote_said(text: bytes) -> bytes:
    """outsmtptext(): nothing for an empty text; NULs shown as '?'."""
    if not text:
        return b""
    return b"Remote host said: " + text.replace(b"\0", b"?")


def recipient_rejected(code: int, ip: bytes, text: bytes) -> bytes:
    """`h` (5xx) or `s` (4xx) for one recipient."""
    letter = b"h" if code >= 500 else b"s"
    return letter + fmt_address(ip) + b" does not like recipient.\n" + remote_said(text) + b"\0"


def quit_report(prepend: bytes, ip: bytes, append: bytes, text: bytes) -> bytes:
    """quit()'s report: prepend, the address, append, ".\n", the remote's last reply, NUL."""
    return prepend + fmt_address(ip) + append + b".\n" + remote_said(text) + b"\0"


def connection_died(ip: bytes, *, critical: bool, ssl_error: bytes = b"") -> bytes:
    """dropped(): "Possible duplicate!" only between the final dot and its reply."""
    return (b"ZConnected to " + fmt_address(ip) + b" but connection died. "
            + (b"Possible duplicate! " if critical else b"")
            + (ssl_error + b" " if ssl_error else b"") + b"(#4.4.2)\n\0")


def host_not_found(host: bytes) -> bytes:
    """perm_dns(): the host with bytes < 33 or > 126 shown as '?'."""
    safe = bytes(c if 33 <= c <= 126 else 0x3F for c in host)
    return b"DSorry, I couldn't find any host named " + safe + b". (#5.1.2)\n\0"
