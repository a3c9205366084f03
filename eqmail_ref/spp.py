"""qmail-spp as integrated in eQmail (spec §3): configuration and plugin output.

Pure parts only: which plugins run at which hook, how a plugin's output splits into lines
and where reading stops. Running a plugin is an effect (`RunPlugin`) performed by a shell;
applying the lines to the session is done by the server core.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HOOKS", "SppConfig", "parse_spp_config", "PluginOutputScanner", "TERMINATING"]

# A section line "[x..." selects the hook by its second character only (§3.1).
HOOKS = {ord("c"): "connection", ord("h"): "helo", ord("m"): "mail",
         ord("r"): "rcpt", ord("d"): "data", ord("a"): "auth"}

# Lines starting with these end the reading of a plugin's output (§3.2).
TERMINATING = frozenset(b"AONDER")


@dataclass(frozen=True, kw_only=True)
class SppConfig:
    plugins: dict[str, tuple[bytes, ...]] = field(default_factory=dict)

    def for_hook(self, hook: str) -> tuple[bytes, ...]:
        return self.plugins.get(hook, ())


def parse_spp_config(entries: list[bytes]) -> SppConfig:
    """Plugins per hook from control_readfile() entries. Leading blanks are kept (§3.1)."""
    plugins: dict[str, list[bytes]] = {}
    current: str | None = None  # lines before any section go to a dummy section
    for entry in entries:
        if entry[:1] == b"[":
            current = HOOKS.get(entry[1]) if len(entry) > 1 else None
        elif current is not None:
            plugins.setdefault(current, []).append(entry)
    return SppConfig(plugins={hook: tuple(lines) for hook, lines in plugins.items()})


class PluginOutputScanner:
    """Splits a plugin's stdout into the lines qmail-spp acts on.

    qmail-spp overwrites the last byte of every line read with NUL, so a `\\n`-terminated
    line loses its newline and an unterminated final line loses its last character; lines of
    one byte or less are ignored. Reading stops after the first terminating command.
    """

    __slots__ = ("lines", "done", "_partial")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.done = False
        self._partial = bytearray()

    def feed(self, data: bytes) -> None:
        """Add output; sets `done` once a terminating command was read."""
        if self.done:
            return
        self._partial += data
        start = 0
        while not self.done:
            nl = self._partial.find(b"\n", start)
            if nl < 0:
                break
            self._line(bytes(self._partial[start : nl + 1]))
            start = nl + 1
        del self._partial[:start]

    def eof(self) -> None:
        if not self.done and self._partial:
            self._line(bytes(self._partial))
        self._partial.clear()
        self.done = True

    def _line(self, raw: bytes) -> None:
        if len(raw) <= 1:
            return
        line = raw[:-1]
        self.lines.append(line)
        if line[0] in TERMINATING:
            self.done = True
