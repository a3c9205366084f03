"""The commands of qmail-smtpd (spec §2.4-2.9, §4): one handler per verb and COMMANDS, the
verb table of qmail-smtpd.c with what happens after each command (flush, flush_io, nothing).

A handler takes the session (the C globals, eqmail_ref.smtpd_session), the engine (output,
input, exit: eqmail_ref.smtpd) and the argument; it returns None, or a generator when it
has to wait for input or a request's answer (plugins, qmail-queue, checkpassword, TLS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from eqmail_ref import replies
from eqmail_ref.addresses import addrparse, badmailfrom_match, parse_mail_params, rcpthosts_allowed
from eqmail_ref.auth import MECHANISMS
from eqmail_ref.cbytes import cstr
from eqmail_ref.data_phase import run_data
from eqmail_ref.effects import VerifyClientCert
from eqmail_ref.pump import Program, Step, ask
from eqmail_ref.spp_engine import NORMAL, REJECT, run_hook, spp_errors, spp_rset

if TYPE_CHECKING:
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.smtpd_session import Session

__all__ = ["COMMANDS", "FLUSH", "FLUSH_IO", "NOFLUSH", "Handler", "unrecognised"]

Handler = Callable[["Session", "SmtpServer", bytes], "Step | None"]

FLUSH = object()
FLUSH_IO = object()
NOFLUSH = object()


def unrecognised(s: Session, io: SmtpServer, arg: bytes) -> None:
    io.out(replies.UNRECOGNISED)


def _helo(s: Session, io: SmtpServer, arg: bytes, extended: bool) -> Step:
    s.env[b"SMTPHELOHOST"] = arg
    if (yield from run_hook(s, io, "helo", None)) == REJECT:
        return
    greeting = s.controls.greeting
    if not extended:
        io.out(b"250 " + greeting + b"\r\n")
    else:
        io.out(b"250-" + greeting)
        if s.tls_build and not s.tls and s.controls.servercert:
            io.out(b"\r\n250-STARTTLS")
        io.out(b"\r\n250-PIPELINING\r\n250-8BITMIME\r\n")
        io.out(b"250-SIZE %d\r\n" % s.controls.databytes)
        io.out(b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n")
    s.seenmail = False
    s.dohelo(arg)


def _cmd_helo(s: Session, io: SmtpServer, arg: bytes) -> Step:
    return _helo(s, io, arg, False)


def _cmd_ehlo(s: Session, io: SmtpServer, arg: bytes) -> Step:
    return _helo(s, io, arg, True)


def _cmd_rset(s: Session, io: SmtpServer, arg: bytes) -> None:
    spp_rset(s)
    s.seenmail = False
    io.out(replies.FLUSHED)


def _parse_addr(s: Session, io: SmtpServer, arg: bytes) -> bool:
    c = s.controls
    s.addr, ok = addrparse(arg, c.liphost, s.ipme)
    if not ok:
        io.out(replies.SYNTAX)
    return ok


def _cmd_mail(s: Session, io: SmtpServer, arg: bytes) -> Step:
    if s.version.submission_port and s.localport == s.submission and not s.flagauth:
        io.out(replies.SUBMISSION)
        return
    if not _parse_addr(s, io, arg):
        return
    params = parse_mail_params(arg, s.controls.databytes)
    for value in params.auths:
        s.fuser = cstr(value)
        if s.remoteinfo is None or s.remoteinfo_is_fuser:
            if s.remoteinfo is None:
                s.env[b"TCPREMOTEINFO"] = s.fuser
            s.remoteinfo = s.fuser  # remoteinfo points into fuser's buffer (aliasing)
            s.remoteinfo_is_fuser = True
    if params.size_exceeded:
        io.out(replies.SIZE)
        return
    if not spp_errors(s, io, "mail"):
        s.spp_val = REJECT
        return
    s.rcpt_count = s.rcpt_count_all = 0
    s.spp_val = yield from run_hook(s, io, "mail", b"SMTPMAILFROM")
    if s.spp_val == REJECT:
        return
    assert s.addr is not None
    if s.spp_val == NORMAL:
        s.flagbarf = badmailfrom_match(s.addr, s.controls.badmailfrom)
    s.seenmail = True
    s.rcptto.clear()
    s.mailfrom = s.addr
    io.out(replies.OK)


def _addrallowed(s: Session, io: SmtpServer) -> Program[bool]:
    c = s.controls
    assert s.addr is not None
    more = None
    if c.morercpthosts is not None:
        more = c.morercpthosts.__contains__
    try:
        allowed = rcpthosts_allowed(s.addr, c.rcpthosts, more)
    except OSError:
        io.die_control()
    if not allowed and s.tls_build:
        allowed = yield from _tls_verify(s)
    return allowed


def _tls_verify(s: Session) -> Program[bool]:
    """tls_verify(): client-certificate relaying through control/tlsclients (§4)."""
    if not s.tls or s.relayclient is not None or s.tls_verified:
        return False
    s.tls_verified = True
    clients = s.controls.tlsclients
    if clients is None or not s.controls.clientca:
        return False
    cert = yield from ask(VerifyClientCert())
    if cert.verify_error is not None:
        s.tls_verify_err = cert.verify_error
        return False
    if not cert.present:
        return False
    if not cert.email:
        s.tls_verify_err = b"contains no email address"
    elif cert.email.lower() not in {c.lower() for c in clients}:
        s.tls_verify_err = b"email address not in my list of tlsclients"
    else:
        s.relayclient = b""
        s.protocol += b"\n  (cert " + cert.email + b")"
        if s.version.cert_relay_exports_env:
            s.env[b"RELAYCLIENT"] = b""
        return True
    return False


def _cmd_rcpt(s: Session, io: SmtpServer, arg: bytes) -> Step:
    if not s.seenmail:
        io.out(replies.WANT_MAIL)
        return
    if not _parse_addr(s, io, arg):
        return
    if s.flagbarf:
        io.out(replies.BADMAILFROM)
        return
    allowed = True if s.relayclient is not None else (yield from _addrallowed(s, io))
    if s.version.rcpt_hook_runs:  # upstream qmail-spp; eQmail never calls spp_rcpt (§2.6)
        if not spp_errors(s, io, "rcpt"):
            s.spp_val = REJECT
            return
        s.rcpt_count_all += 1
        s.env[b"SMTPRCPTCOUNT"] = b"%d" % s.rcpt_count
        s.env[b"SMTPRCPTCOUNTALL"] = b"%d" % s.rcpt_count_all
        s.env[b"SMTPRCPTHOSTSOK"] = b"1" if allowed else b"0"
        s.spp_val = yield from run_hook(s, io, "rcpt", b"SMTPRCPTTO")
        if s.spp_val == REJECT:
            return
    assert s.addr is not None
    addr = s.addr
    if s.relayclient is not None:
        addr = addr + s.relayclient
        s.addr = addr
    elif s.spp_val == NORMAL and not allowed:
        io.out(replies.NOGATEWAY_HEAD)
        if s.tls_build and s.tls:
            io.out(replies.NOGATEWAY_TLS)
            if s.tls_verify_err is not None:
                io.out(b": " + s.tls_verify_err)
        io.out(replies.NOGATEWAY_TAIL)
        return
    s.rcpt_count += 1
    s.rcptto += b"T" + cstr(addr) + b"\0"
    io.out(replies.OK)


def _cmd_data(s: Session, io: SmtpServer, arg: bytes) -> Step:
    return run_data(s, io)


def _cmd_auth(s: Session, io: SmtpServer, arg: bytes) -> Step:
    if (s.tls_build and s.version.tls_required and arg != b"cram-md5"
            and s.env.get(b"TLSREQUIRED") == b"1" and not s.tls):
        io.out(replies.TLS_REQUIRED)
        io.flush()
        return
    if not s.checkpassword:
        io.out(replies.AUTH_NOT_AVAILABLE)
        return
    if s.flagauth:
        io.out(replies.AUTH_ALREADY)
        return
    if s.seenmail:
        io.out(replies.AUTH_IN_MAIL)
        return
    space = arg.find(b" ")
    mech, rest = (arg, b"") if space < 0 else (arg[:space], arg[space:].lstrip(b" "))
    mechanism = MECHANISMS.get(mech.lower())
    if mechanism is None:
        io.out(replies.AUTH_UNIMPLEMENTED)
        return
    result = yield from mechanism(s, io, rest)
    if result == 1:
        io.out(replies.AUTH_FAILED)
        return
    if result != 0:
        return
    user = cstr(s.auth_user)
    s.env[b"SMTPAUTHMETHOD"] = mech.lower()
    s.env[b"SMTPAUTHUSER"] = user
    if (yield from run_hook(s, io, "auth", None)) == REJECT:
        return
    s.flagauth = True
    s.protocol = b"ESMTPA"
    s.relayclient = b""
    s.remoteinfo = user
    s.remoteinfo_is_fuser = False
    s.env[b"TCPREMOTEINFO"] = user
    s.env[b"RELAYCLIENT"] = b""
    io.out(replies.AUTH_OK_HEAD + user + replies.AUTH_OK_TAIL)


def _cmd_starttls(s: Session, io: SmtpServer, arg: bytes) -> Step | None:
    if s.tls:
        io.out(replies.UNIMPLEMENTED)
        return None
    if arg:
        io.out(replies.TLS_NO_PARAMS)
        return None
    return io.tls_init()


def _cmd_quit(s: Session, io: SmtpServer, arg: bytes) -> None:
    io.out(b"221 " + s.controls.greeting + b"\r\n")
    io.end(0, reason="quit")


def _fixed(reply: bytes) -> Handler:
    """HELP, NOOP, VRFY: one fixed reply, the argument ignored (§2.8)."""

    def handler(s: Session, io: SmtpServer, arg: bytes) -> None:
        io.out(reply)

    return handler


# verb -> (handler, what happens after it): smtpcommands[] of qmail-smtpd.c.
COMMANDS: dict[bytes, tuple[Handler, object]] = {
    b"rcpt": (_cmd_rcpt, NOFLUSH),
    b"mail": (_cmd_mail, NOFLUSH),
    b"data": (_cmd_data, FLUSH),
    b"auth": (_cmd_auth, FLUSH),
    b"quit": (_cmd_quit, FLUSH),
    b"helo": (_cmd_helo, FLUSH),
    b"ehlo": (_cmd_ehlo, FLUSH),
    b"rset": (_cmd_rset, NOFLUSH),
    b"help": (_fixed(replies.HELP), FLUSH),
    b"starttls": (_cmd_starttls, FLUSH_IO),
    b"noop": (_fixed(replies.OK), FLUSH),
    b"vrfy": (_fixed(replies.VRFY), FLUSH),
}
