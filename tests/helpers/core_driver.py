"""Drive the sans-IO server core in-process (eqmail_ref.inprocess) with test defaults.

Input can be fed whole, one byte at a time, or in chunks (house rule 5: parsers are tested
three ways).
"""

from __future__ import annotations

from collections.abc import Iterable

from eqmail_ref.controls import SmtpdControls
from eqmail_ref.inprocess import Answers, InProcessSession, Transcript
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.spp import SppConfig
from eqmail_ref.versions import DEFAULT_VERSION, Version

__all__ = ["NOW", "MODES", "Dialogue", "Transcript", "make_controls", "run", "replies"]

NOW = 1795537221  # fixed clock for reproducible Received lines and 250 ok


def make_controls(**overrides: object) -> SmtpdControls:
    values: dict[str, object] = dict(
        me=b"mx.test", greeting=b"mx.test", liphost=b"mx.test", timeout=1200,
        rcpthosts=frozenset({b"example.org"}), morercpthosts=None, spp=SppConfig(),
        badmailfrom=None, databytes=0, servercert=False,
    )
    values.update(overrides)
    return SmtpdControls(**values)  # type: ignore[arg-type]


class Dialogue(InProcessSession):
    def __init__(self, controls: SmtpdControls | None = None, *,
                 env: dict[bytes, bytes] | None = None, version: Version = DEFAULT_VERSION,
                 checkpassword: tuple[bytes, ...] = (), tls_build: bool = True,
                 max_line: int | None = None, **answers: object) -> None:
        if env is None:
            env = {b"TCPREMOTEIP": b"1.2.3.4", b"TCPLOCALIP": b"5.6.7.8"}
        kwargs = {} if max_line is None else {"max_line": max_line}
        server = SmtpServer(
            controls=controls if controls is not None else make_controls(), env=env,
            clock=lambda: (NOW, 0), version=version, pid=4242, checkpassword=checkpassword,
            tls_build=tls_build, **kwargs,
        )
        super().__init__(server, Answers(**answers))  # type: ignore[arg-type]

    def feed_mode(self, data: bytes, mode: str = "whole") -> Transcript:
        for chunk in _chunks(data, mode):
            self.feed(chunk)
        return self.t


def _chunks(data: bytes, mode: str) -> Iterable[bytes]:
    if mode == "whole":
        yield data
    elif mode == "bytes":
        for i in range(len(data)):
            yield data[i : i + 1]
    elif mode.startswith("chunks"):
        size = int(mode[6:] or 7)
        for i in range(0, len(data), size):
            yield data[i : i + size]
    else:
        raise ValueError(mode)


MODES = ["whole", "bytes", "chunks7"]


def run(script: bytes, mode: str = "whole", **kwargs: object) -> Transcript:
    return Dialogue(**kwargs).feed_mode(script, mode)  # type: ignore[arg-type]


def replies(t: Transcript) -> list[bytes]:
    """The output split into lines (CRLF kept)."""
    return [line + b"\n" for line in t.text.split(b"\n")[:-1]]
