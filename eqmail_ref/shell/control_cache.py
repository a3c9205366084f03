"""Control snapshots for a long-running listener, re-read only when the files change.

Real qmail-smtpd reads its controls at every connection; a listener that re-read a dozen
files per connection would spend more time there than in SMTP. The cache key is the stat
of every entry of control/ (and of SPPCONFFILE) plus the environment that setup() reads,
so an edited control file takes effect at the next connection, as with tcpserver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from eqmail_ref.controls import SmtpdControls, StartupFailure, load_smtpd_controls
from eqmail_ref.versions import Version

__all__ = ["ControlCache"]

_ENV_KEYS = (b"DATABYTES", b"NOSPP", b"SPPCONFFILE")


class ControlCache:
    def __init__(self, home: Path, version: Version) -> None:
        self.home = home
        self.version = version
        self._key: object = None
        self._value: SmtpdControls | StartupFailure | None = None

    def _signature(self, env: Mapping[bytes, bytes]) -> object:
        entries: list[tuple[str, object, int, int]] = []
        try:
            with os.scandir(self.home / "control") as it:
                for entry in it:
                    st = entry.stat()
                    entries.append((entry.name, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError as exc:
            entries.append(("<error>", str(exc), 0, 0))
        spp = env.get(b"SPPCONFFILE")
        if spp:
            try:
                st = os.stat(self.home / os.fsdecode(spp))
                entries.append(("<spp>", st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                entries.append(("<spp>", 0, -1, 0))
        return (tuple(sorted(entries)), tuple(env.get(k) for k in _ENV_KEYS))

    def get(self, env: Mapping[bytes, bytes]) -> SmtpdControls:
        key = self._signature(env)
        if key != self._key:
            try:
                self._value = load_smtpd_controls(self.home, env, self.version)
            except StartupFailure as exc:
                self._value = exc
            self._key = key
        if isinstance(self._value, StartupFailure):
            raise self._value
        assert self._value is not None
        return self._value
