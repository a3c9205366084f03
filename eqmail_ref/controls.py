"""qmail-smtpd's control files as one frozen snapshot (spec §1, control.c).

Parsing is pure (`readline_value`, `readfile_entries`, ...). `load_smtpd_controls` is the
one place that reads files: it reads them in qmail-smtpd's setup() order from a qmail home
directory and raises `StartupFailure` where qmail-smtpd would die before its greeting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eqmail_ref.cbytes import scan_ulong, to_int32, to_uint32
from eqmail_ref.cdb import Cdb
from eqmail_ref.spp import SppConfig, parse_spp_config
from eqmail_ref.versions import Version

__all__ = [
    "SmtpdControls",
    "StartupFailure",
    "load_smtpd_controls",
    "readline_value",
    "readfile_entries",
    "readint_value",
]

_TRAILING = b"\n \t"


class StartupFailure(Exception):
    """qmail-smtpd dies in setup(): with eQmail that is a crash before any output (§1)."""


def readline_value(data: bytes) -> bytes:
    """control_readline(): the first line, trailing LF, spaces and tabs stripped."""
    nl = data.find(b"\n")
    line = data if nl < 0 else data[: nl + 1]
    return line.rstrip(_TRAILING)


def readfile_entries(data: bytes) -> list[bytes]:
    """control_readfile(): the NUL-separated entries (blank and # lines dropped).

    A line with a NUL inside becomes two entries, as it does for constmap in C.
    """
    kept = bytearray()
    for line in data.split(b"\n"):
        line = line.rstrip(_TRAILING)
        if line and line[0] != 0 and line[0] != 0x23:
            kept += line + b"\0"
    return bytes(kept).split(b"\0")[:-1] if kept else []


def readint_value(data: bytes, default: int) -> int:
    """control_readint(): scan_ulong of the first line, stored in a C int."""
    value, digits = scan_ulong(readline_value(data) + b"\0")
    return to_int32(value) if digits else default


@dataclass(frozen=True, kw_only=True)
class SmtpdControls:
    me: bytes | None
    greeting: bytes
    liphost: bytes | None  # None: localiphost rewriting is off (no localiphost and no me)
    timeout: int
    rcpthosts: frozenset[bytes] | None  # lowercased; None: no control/rcpthosts
    morercpthosts: Cdb | None
    spp: SppConfig | None  # None: NOSPP
    badmailfrom: frozenset[bytes] | None  # lowercased; None: no control/badmailfrom
    databytes: int
    servercert: bool  # control/servercert.pem exists (STARTTLS is advertised)
    tlsserverciphers: tuple[bytes, ...] | None = None  # None: no control/tlsserverciphers
    tlsclients: tuple[bytes, ...] | None = None  # None: no control/tlsclients
    clientca: bool = False  # control/clientca.pem exists


def _read(path: Path) -> bytes | None:
    """The file's bytes, None if it does not exist; StartupFailure for any other error."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StartupFailure(f"{path}: {exc.strerror or exc}") from exc


def load_smtpd_controls(
    home: Path, env: Mapping[bytes, bytes], version: Version
) -> SmtpdControls:
    control = home / "control"
    me_data = _read(control / "me")
    me = None if me_data is None else readline_value(me_data)
    greet_data = _read(control / "smtpgreeting")
    if greet_data is not None:
        greeting = readline_value(greet_data)
    elif me is not None:
        greeting = me
    else:
        raise StartupFailure("neither control/smtpgreeting nor control/me exists")
    lip_data = _read(control / "localiphost")
    liphost = readline_value(lip_data) if lip_data is not None else me
    timeout_data = _read(control / "timeoutsmtpd")
    timeout = 1200 if timeout_data is None else readint_value(timeout_data, 1200)
    if timeout <= 0:
        timeout = 1
    rh_data = _read(control / "rcpthosts")
    rcpthosts = None
    more = None
    if rh_data is not None:
        rcpthosts = frozenset(e.lower() for e in readfile_entries(rh_data))
        more_data = _read(control / "morercpthosts.cdb")
        more = None if more_data is None else Cdb(more_data)
    spp = _load_spp(home, env, version)
    bmf_data = _read(control / "badmailfrom")
    badmailfrom = None
    if bmf_data is not None:
        badmailfrom = frozenset(e.lower() for e in readfile_entries(bmf_data))
    db_data = _read(control / "databytes")
    databytes = 0 if db_data is None else to_uint32(readint_value(db_data, 0))
    if b"DATABYTES" in env:
        databytes = to_uint32(scan_ulong(env[b"DATABYTES"])[0])
    if databytes == 0xFFFFFFFF:
        databytes -= 1
    return SmtpdControls(
        me=me,
        greeting=greeting,
        liphost=liphost,
        timeout=timeout,
        rcpthosts=rcpthosts,
        morercpthosts=more,
        spp=spp,
        badmailfrom=badmailfrom,
        databytes=databytes,
        servercert=(control / "servercert.pem").exists(),
        tlsserverciphers=_entries(control / "tlsserverciphers"),
        tlsclients=_entries(control / "tlsclients"),
        clientca=(control / "clientca.pem").exists(),
    )


def _entries(path: Path) -> tuple[bytes, ...] | None:
    data = _read(path)
    return None if data is None else tuple(readfile_entries(data))


def _load_spp(home: Path, env: Mapping[bytes, bytes], version: Version) -> SppConfig | None:
    """spp_init() (§3.1): NOSPP set disables; SPPCONFFILE or control/smtpplugins."""
    if b"NOSPP" in env:
        return None
    conffile = env.get(b"SPPCONFFILE") or b"control/smtpplugins"
    path = home / os.fsdecode(conffile)
    if not version.smtpplugins_missing_fatal and not path.exists():
        return SppConfig()  # 1.09: stat() failed, spp runs with no plugins
    data = _read(path)
    if data is None:
        raise StartupFailure(f"{os.fsdecode(conffile)} is missing (fatal in eQmail 1.08)")
    return parse_spp_config(readfile_entries(data))
