"""Running qmail-spp hooks inside the server core (spec §3.2-3.3).

`run_hook` is a generator used with `yield from` by the core: it yields one `RunPlugin`
request per plugin and applies the answer's lines exactly as qmail-spp.c does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqmail_ref import replies
from eqmail_ref.cbytes import cstr
from eqmail_ref.effects import RunPlugin
from eqmail_ref.pump import Program, ask

if TYPE_CHECKING:
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.smtpd_session import Session

__all__ = ["run_hook", "spp_rset", "spp_errors"]

# Results of a hook, as spp() returns them: reject, normal, normal but skip checks (O).
REJECT, NORMAL, SKIP_CHECKS = 0, 1, 2


def spp_rset(s: Session) -> None:
    s.spp_headers.clear()
    s.rcpt_count = s.rcpt_count_all = 0
    for queue in s.spp_errors.values():
        queue.clear()


def spp_errors(s: Session, io: SmtpServer, hook: str) -> bool:
    """Print the deferred L errors of a hook; True if there were none (§3.2 `L`)."""
    queued = s.spp_errors[hook]
    if not queued:
        return True
    io.out(cstr(bytes(queued)))
    return False


def _err_spp(io: SmtpServer, plugin: bytes, why: bytes) -> None:
    io.out(replies.SPP_FAILURE_HEAD + cstr(plugin) + b": " + why + replies.SPP_FAILURE_TAIL)


def _env_put(s: Session, assignment: bytes) -> None:
    name, eq, value = assignment.partition(b"=")
    if eq:
        s.env[name] = value
    else:  # qmail adds a bare "NAME" entry, which no getenv() finds
        s.env.pop(name, None)


def run_hook(s: Session, io: SmtpServer, hook: str, addrenv: bytes | None) -> Program[int]:
    if not s.spprun:
        return NORMAL
    if addrenv is not None:
        s.env[addrenv] = cstr(s.addr or b"")
    assert s.controls.spp is not None
    for plugin in s.controls.spp.for_hook(hook):
        result = yield from ask(RunPlugin(command=plugin, env=dict(s.env)))
        if result.failure is not None:
            _err_spp(io, plugin, result.failure.encode())
            return REJECT
        last = 0
        for line in result.lines:
            kind = line[0]
            if kind == 0x48:  # H
                s.spp_headers += line[1:] + b"\n"
            elif kind == 0x43:  # C
                if addrenv is not None:
                    s.addr = cstr(line[1:])
                    s.env[addrenv] = s.addr
            elif kind == 0x53:  # S
                _env_put(s, cstr(line[1:]))
            elif kind == 0x55:  # U
                s.env.pop(cstr(line[1:]), None)
            elif kind == 0x50:  # P
                io.out(cstr(line[1:]) + b"\r\n")
            elif kind == 0x4C:  # L
                target = {0x4D: "mail", 0x52: "rcpt", 0x44: "data"}.get(line[1] if len(line) > 1 else 0)
                if target is not None:
                    s.spp_errors[target] += line[2:] + b"\r\n"
            elif kind in b"AONDER":
                if kind == 0x41:  # A
                    s.spprun = False
                if kind in b"ER":
                    io.out(cstr(line[1:]) + b"\r\n")
                last = kind
                break
        if result.signal is not None:
            _err_spp(io, plugin, b"child crashed")
            return REJECT
        if result.exit_code == 120:
            _err_spp(io, plugin, b"can't execute")
            return REJECT
        if last == 0x45:  # E
            return REJECT
        if last in (0x41, 0x4E):  # A, N
            return NORMAL
        if last == 0x4F:  # O
            return SKIP_CHECKS
        if last in (0x52, 0x44):  # R, D: flush and exit 0
            io.end(0)
    return NORMAL
