"""qmail-remote's control files as one frozen snapshot (spec §5.2), parsed without I/O.

`parse_remote_controls` takes what the shell read: for each file its bytes, None when it
does not exist, or UNREADABLE when it exists but cannot be read (a directory, no
permission). It raises ControlFailure where qmail-remote would print temp_control():
  me, timeoutremote, timeoutconnect, helohost (neither helohost nor me: failure too),
  smtproutes, and domainbindings (1.08; read with the others, an inference, spec §6).
tlsclientciphers is read by qmail-remote only when a TLS handshake is about to start, so
an unreadable one is recorded and fails there. clientcert.pem, tlshosts/ and notlshosts/
are only tested for existence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eqmail_ref.controls import readfile_entries, readint_value, readline_value
from eqmail_ref.remote.routes import ColonMap

__all__ = ["RemoteControls", "ControlFailure", "UNREADABLE", "parse_remote_controls", "CONTROL_FILES"]

UNREADABLE = object()  # a file that exists but could not be read
FileData = bytes | None | object

CONTROL_FILES = ("me", "timeoutremote", "timeoutconnect", "helohost", "smtproutes",
                 "domainbindings", "tlsclientciphers")


class ControlFailure(Exception):
    """temp_control(): "ZUnable to read control files. (#4.3.0)"."""


@dataclass(frozen=True, kw_only=True)
class RemoteControls:
    helohost: bytes
    timeout: int = 1200  # timeoutremote, seconds per read or write
    timeoutconnect: int = 60
    routes: ColonMap = field(default_factory=lambda: ColonMap([]))
    bindings: ColonMap | None = None  # None: no domainbindings (or 1.09)
    tlsclientciphers: bytes | None = None  # the lines joined by ':'; None or b"": DEFAULT
    tlsclientciphers_unreadable: bool = False
    clientcert: bool = False  # control/clientcert.pem exists
    tlshosts: frozenset[bytes] = frozenset()  # names in control/tlshosts/
    notlshosts: frozenset[bytes] = frozenset()  # names in control/notlshosts/


def _data(files: Mapping[str, FileData], name: str) -> bytes | None:
    value = files.get(name)
    if value is UNREADABLE:
        raise ControlFailure(f"control/{name} cannot be read")
    return value if isinstance(value, bytes) else None


def parse_remote_controls(files: Mapping[str, FileData], *, domainbindings: bool,
                          clientcert: bool = False, tlshosts: frozenset[bytes] = frozenset(),
                          notlshosts: frozenset[bytes] = frozenset()) -> RemoteControls:
    """getcontrols(), in its order."""
    me = _data(files, "me")
    timeout_data = _data(files, "timeoutremote")
    timeout = 1200 if timeout_data is None else readint_value(timeout_data, 1200)
    connect_data = _data(files, "timeoutconnect")
    timeoutconnect = 60 if connect_data is None else readint_value(connect_data, 60)
    helo_data = _data(files, "helohost")
    if helo_data is not None:
        helohost = readline_value(helo_data)
    elif me is not None:
        helohost = readline_value(me)
    else:
        raise ControlFailure("neither control/helohost nor control/me exists")
    routes = ColonMap(readfile_entries(_data(files, "smtproutes") or b""))
    bindings = None
    if domainbindings:
        bindings = ColonMap(readfile_entries(_data(files, "domainbindings") or b""))
    ciphers_raw = files.get("tlsclientciphers")
    ciphers = None
    if isinstance(ciphers_raw, bytes):
        ciphers = b":".join(readfile_entries(ciphers_raw))
    return RemoteControls(
        helohost=helohost, timeout=timeout, timeoutconnect=timeoutconnect, routes=routes,
        bindings=bindings, tlsclientciphers=ciphers,
        tlsclientciphers_unreadable=ciphers_raw is UNREADABLE, clientcert=clientcert,
        tlshosts=tlshosts, notlshosts=notlshosts)
