"""What one target did in one case: the wire exchanges, how the session ended and what the
observers saw. JSON-able both ways (bytes as latin-1 strings, the case files' convention), so
reports and golden data (`record`) hold transcripts as they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Event", "Exchange", "Transcript", "b2s", "s2b"]


class Event(StrEnum):
    """How an exchange ended when not normally. The recorded text is the value, and for TLS
    the value followed by details: "tls TLSv1.3 TLS_AES_256_GCM_SHA384", "tls failed: why"."""

    NONE = ""
    CLOSED = "closed"  # the peer closed before all replies came (or, for CLOSE, as it should)
    UNSENT = "closed before all was sent"
    TIMEOUT = "timeout"
    TLS = "tls"  # the handshake succeeded
    TLS_FAILED = "tls failed"

    def said(self, detail: str) -> str:
        """This event's text with details ("tls failed: no shared cipher")."""
        return f"{self.value}: {detail}" if self is Event.TLS_FAILED else f"{self.value} {detail}"

    @classmethod
    def of(cls, text: str) -> Event:
        """The event a recorded text says (golden data and reports hold the text)."""
        if text.startswith(cls.TLS_FAILED.value):
            return cls.TLS_FAILED
        if text.startswith(cls.TLS.value + " "):
            return cls.TLS
        return cls(text)


def b2s(data: bytes) -> str:
    return data.decode("latin-1")


def s2b(text: str) -> bytes:
    return text.encode("latin-1")


@dataclass(kw_only=True)
class Exchange:
    """One step: the bytes sent and the bytes received for it. `event` says how it ended
    when not normally (Event: its text, with details for TLS); `kind` is the step's kind
    (harness.cases.StepKind) or GREETING, SMTPS, REMOTE."""

    step: int
    kind: str
    sent: bytes = b""
    received: bytes = b""
    event: str = ""


@dataclass(kw_only=True)
class Transcript:
    target: str
    case_id: str
    version: str
    exchanges: list[Exchange] = field(default_factory=list)
    exit: int | None = None  # 128+N for a signal; None when the target cannot tell
    stderr: bytes = b""
    observations: dict[str, Any] = field(default_factory=dict)  # name -> bytes or list of bytes
    error: str = ""  # a target fault (crash of the harness's machinery, hang): ERROR
    seconds: float = 0.0

    @property
    def received(self) -> bytes:
        return b"".join(e.received for e in self.exchanges)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["exchanges"] = [{**e, "sent": b2s(e["sent"]), "received": b2s(e["received"])}
                             for e in data["exchanges"]]
        data["stderr"] = b2s(self.stderr)
        data["observations"] = {k: _enc(v) for k, v in self.observations.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            target=data["target"], case_id=data["case_id"], version=data["version"],
            exchanges=[Exchange(step=e["step"], kind=e["kind"], sent=s2b(e["sent"]),
                                received=s2b(e["received"]), event=e.get("event", ""))
                       for e in data.get("exchanges", [])],
            exit=data.get("exit"), stderr=s2b(data.get("stderr", "")),
            observations={k: _dec(v) for k, v in data.get("observations", {}).items()},
            error=data.get("error", ""), seconds=data.get("seconds", 0.0))


def _enc(value: Any) -> Any:
    if isinstance(value, bytes):
        return b2s(value)
    if isinstance(value, list | tuple):
        return [_enc(v) for v in value]
    return value


def _dec(value: Any) -> Any:
    if isinstance(value, str):
        return s2b(value)
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value
