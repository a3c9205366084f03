"""qmail's ipme: 0.0.0.0 plus the IPv4 address of every configured interface."""

from __future__ import annotations

import array
import fcntl
import socket
import struct

__all__ = ["local_ipv4_addresses"]

_SIOCGIFCONF = 0x8912
_IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux


def local_ipv4_addresses() -> frozenset[bytes]:
    """Packed 4-byte addresses, as qmail's ipme_init() collects them (SIOCGIFCONF)."""
    found = {b"\0\0\0\0"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        size = 64 * _IFREQ_SIZE
        while True:
            buf = array.array("B", b"\0" * size)
            addr, _ = buf.buffer_info()
            ifconf = struct.pack("iL", size, addr)
            used = struct.unpack("iL", fcntl.ioctl(sock.fileno(), _SIOCGIFCONF, ifconf))[0]
            if used < size - _IFREQ_SIZE or size > 200000:
                break
            size *= 2
        raw = buf.tobytes()[:used]
    for off in range(0, used, _IFREQ_SIZE):
        family = struct.unpack_from("H", raw, off + 16)[0]
        if family == socket.AF_INET:
            found.add(raw[off + 20 : off + 24])
    return frozenset(found)
