"""Checking a case's raw TOML while the loader builds the model: type checks that name the
key, unknown keys (with a guess at what was meant), and the line each problem is on.

tomllib gives no positions, so the line is found in the file's text: the case's block runs
from its `[[case]]` header to the next one, and a problem's key path (`relay`, `script`,
`wait`) is looked up key after key inside that block, each after the line of the one before.
What cannot be found falls back to the last key found, then to the case's `id` line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from typing import Any

__all__ = ["Bad", "Checker", "case_headers", "Path_", "text", "strings", "table", "flag"]

Path_ = tuple[str, ...]  # the keys from the case table down to the offending one

_HEADER = re.compile(r"^\s*\[\[\s*case\s*\]\]")


def case_headers(lines: Sequence[str]) -> list[int]:
    """The 0-based line numbers of the `[[case]]` headers, in order."""
    return [n for n, line in enumerate(lines) if _HEADER.match(line)]


class Bad(Exception):
    """One problem at `path`; raised where going on would make no sense."""

    def __init__(self, path: Path_, what: str) -> None:
        super().__init__(what)
        self.path = path
        self.what = what


def _key_pattern(key: str) -> re.Pattern[str]:
    k = re.escape(key)
    # a bare, "quoted" or 'quoted' key, then `=`, `.` (dotted key) or `]` (table header)
    return re.compile(rf"""(?:^|[\s{{,.\[])(?:{k}|"{k}"|'{k}')\s*[=.\]]""")


class Checker:
    """The problems of one case, each with its line."""

    def __init__(self, lines: Sequence[str], start: int, end: int) -> None:
        self.lines, self.start, self.end = lines, start, end
        self.found: list[tuple[int, str]] = []
        self.id_line = self._find("id", start) or start

    def _find(self, key: str, after: int) -> int | None:
        rx = _key_pattern(key)
        for n in range(after, self.end):
            if rx.search(self.lines[n]):
                return n
        return None

    def line(self, path: Path_) -> int:
        """The 1-based line of the key `path` names (best effort, see the module text)."""
        at, pos = None, self.start
        for key in path:
            n = self._find(key, pos)
            if n is None:
                break
            at = pos = n
        return (self.id_line if at is None else at) + 1

    def add(self, path: Path_, what: str) -> None:
        if what:  # "": a consequence of a problem already told
            self.found.append((self.line(path), what))

    def run(self, path: Path_, build: Any) -> Any:
        """`build()`, or None with its problem recorded: one bad part does not hide the others."""
        try:
            return build()
        except Bad as bad:
            self.add(bad.path or path, bad.what)
            return None

    # -- checks ------------------------------------------------------------------------
    def keys(self, table: dict[str, Any], known: Collection[str], path: Path_, what: str) -> bool:
        """Every key of `table` not in `known` is a problem; misspellings get a guess. True if
        there was one (the caller then spares the reader what follows from the typo)."""
        unknown = False
        for key in table:
            if key in known:
                continue
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"
            self.add((*path, key), f"{what}: unknown key '{key}'{hint}")
            unknown = True
        return unknown


def text(value: Any, path: Path_, what: str) -> str:
    if not isinstance(value, str):
        raise Bad(path, f"{what} must be a string, not {_type(value)}")
    return value


def strings(value: Any, path: Path_, what: str, *, empty: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Bad(path, f"{what} must be a list of strings, not {_type(value)}")
    if not empty and not value:
        raise Bad(path, f"{what} must not be empty")
    return tuple(value)


def table(value: Any, path: Path_, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Bad(path, f"{what} must be a table, not {_type(value)}")
    return value


def flag(value: Any, path: Path_, what: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(path, f"{what} must be true or false, not {_type(value)}")
    return value


def _type(value: Any) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "true/false",
             list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)
