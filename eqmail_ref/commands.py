"""The commands of qmail-smtpd (spec §2.4-2.9, §4): one handler per verb and COMMANDS, the
verb table of qmail-smtpd.c with what happens after each command (flush, flush_io, nothing).

A handler takes the session and the argument; it returns None, or a generator when it has
to wait for a request's answer (plugins, qmail-queue, checkpassword, TLS).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from eqmail_ref import replies
from eqmail_ref.addresses import addrparse, badmailfrom_match, parse_mail_params, rcpthosts_allowed
from eqmail_ref.auth import MECHANISMS
from eqmail_ref.cbytes import cstr
from eqmail_ref.data_phase import run_data
from eqmail_ref.effects import ClientCert, VerifyClientCert
from eqmail_ref.spp_engine import NORMAL, REJECT, run_hook, spp_errors, spp_rset

if TYPE_CHECKING:
    from eqmail_ref.smtpd import SmtpServer

__all__ = ["COMMANDS", "FLUSH", "FLUSH_IO", "NOFLUSH", "unrecognised"]

FLUSH = object()
FLUSH_IO = object()
NOFLUSH = object()


def unrecognised(s: SmtpServer, arg: bytes) -> None:
    s.out(replies.UNRECOGNISED)


def _helo(s: SmtpServer, arg: bytes, extended: bool) -> Generator[Any, Any, None]:
    s.env[b"SMTPHELOHOST"] = arg
    if (yield from run_hook(s, "helo", None)) == REJECT:
        return
    greeting = s.controls.greeting
    if not extended:
        s.out(b"250 " + greeting + b"\r\n")
    else:
        s.out(b"250-" + greeting)
        if s.tls_build and not s.tls and s.controls.servercert:
            s.out(b"\r\n250-STARTTLS")
        s.out(b"\r\n250-PIPELINING\r\n250-8BITMIME\r\n")
        s.out(b"250-SIZE %d\r\n" % s.controls.databytes)
        s.out(b"250 AUTH LOGIN PLAIN CRAM-MD5\r\n")
    s.seenmail = False
    s.dohelo(arg)


def _cmd_helo(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    return _helo(s, arg, False)


def _cmd_ehlo(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    return _helo(s, arg, True)


def _cmd_rset(s: SmtpServer, arg: bytes) -> None:
    spp_rset(s)
    s.seenmail = False
    s.out(replies.FLUSHED)


def _parse_addr(s: SmtpServer, arg: bytes) -> bool:
    c = s.controls
    s.addr, ok = addrparse(arg, c.liphost, s.ipme)
    if not ok:
        s.out(replies.SYNTAX)
    return ok


def _cmd_mail(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    if s.version.submission_port and s.localport == s.submission and not s.flagauth:
        s.out(replies.SUBMISSION)
        return
    if not _parse_addr(s, arg):
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
        s.out(replies.SIZE)
        return
    if not spp_errors(s, "mail"):
        s.spp_val = REJECT
        return
    s.rcpt_count = s.rcpt_count_all = 0
    s.spp_val = yield from run_hook(s, "mail", b"SMTPMAILFROM")
    if s.spp_val == REJECT:
        return
    assert s.addr is not None
    if s.spp_val == NORMAL:
        s.flagbarf = badmailfrom_match(s.addr, s.controls.badmailfrom)
    s.seenmail = True
    s.rcptto.clear()
    s.mailfrom = s.addr
    s.out(replies.OK)


def _addrallowed(s: SmtpServer) -> Generator[Any, Any, bool]:
    c = s.controls
    assert s.addr is not None
    more = None
    if c.morercpthosts is not None:
        more = c.morercpthosts.__contains__
    try:
        allowed = rcpthosts_allowed(s.addr, c.rcpthosts, more)
    except OSError:
        s.die_control()
    if not allowed and s.tls_build:
        allowed = yield from _tls_verify(s)
    return allowed


def _tls_verify(s: SmtpServer) -> Generator[Any, Any, bool]:
    """tls_verify(): client-certificate relaying through control/tlsclients (§4)."""
    if not s.tls or s.relayclient is not None or s.tls_verified:
        return False
    s.tls_verified = True
    clients = s.controls.tlsclients
    if clients is None or not s.controls.clientca:
        return False
    cert: ClientCert = yield VerifyClientCert()
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


def _cmd_rcpt(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    if not s.seenmail:
        s.out(replies.WANT_MAIL)
        return
    if not _parse_addr(s, arg):
        return
    if s.flagbarf:
        s.out(replies.BADMAILFROM)
        return
    allowed = True if s.relayclient is not None else (yield from _addrallowed(s))
    if s.version.rcpt_hook_runs:  # upstream qmail-spp; eQmail never calls spp_rcpt (§2.6)
        if not spp_errors(s, "rcpt"):
            s.spp_val = REJECT
            return
        s.rcpt_count_all += 1
        s.env[b"SMTPRCPTCOUNT"] = b"%d" % s.rcpt_count
        s.env[b"SMTPRCPTCOUNTALL"] = b"%d" % s.rcpt_count_all
        s.env[b"SMTPRCPTHOSTSOK"] = b"1" if allowed else b"0"
        s.spp_val = yield from run_hook(s, "rcpt", b"SMTPRCPTTO")
        if s.spp_val == REJECT:
            return
    assert s.addr is not None
    addr = s.addr
    if s.relayclient is not None:
        addr = addr + s.relayclient
        s.addr = addr
    elif s.spp_val == NORMAL and not allowed:
        s.out(replies.NOGATEWAY_HEAD)
        if s.tls_build and s.tls:
            s.out(replies.NOGATEWAY_TLS)
            if s.tls_verify_err is not None:
                s.out(b": " + s.tls_verify_err)
        s.out(replies.NOGATEWAY_TAIL)
        return
    s.rcpt_count += 1
    s.rcptto += b"T" + cstr(addr) + b"\0"
    s.out(replies.OK)


def _cmd_data(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    return run_data(s)


def _cmd_auth(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None]:
    if (s.tls_build and s.version.tls_required and arg != b"cram-md5"
            and s.env.get(b"TLSREQUIRED") == b"1" and not s.tls):
        s.out(replies.TLS_REQUIRED)
        s.flush()
        return
    if not s.checkpassword:
        s.out(replies.AUTH_NOT_AVAILABLE)
        return
    if s.flagauth:
        s.out(replies.AUTH_ALREADY)
        return
    if s.seenmail:
        s.out(replies.AUTH_IN_MAIL)
        return
    space = arg.find(b" ")
    mech, rest = (arg, b"") if space < 0 else (arg[:space], arg[space:].lstrip(b" "))
    mechanism = MECHANISMS.get(mech.lower())
    if mechanism is None:
        s.out(replies.AUTH_UNIMPLEMENTED)
        return
    result = yield from mechanism(s, rest)
    if result == 1:
        s.out(replies.AUTH_FAILED)
        return
    if result != 0:
        return
    user = cstr(s.auth_user)
    s.env[b"SMTPAUTHMETHOD"] = mech.lower()
    s.env[b"SMTPAUTHUSER"] = user
    if (yield from run_hook(s, "auth", None)) == REJECT:
        return
    s.flagauth = True
    s.protocol = b"ESMTPA"
    s.relayclient = b""
    s.remoteinfo = user
    s.remoteinfo_is_fuser = False
    s.env[b"TCPREMOTEINFO"] = user
    s.env[b"RELAYCLIENT"] = b""
    s.out(replies.AUTH_OK_HEAD + user + replies.AUTH_OK_TAIL)


def _cmd_starttls(s: SmtpServer, arg: bytes) -> Generator[Any, Any, None] | None:
    if s.tls:
        s.out(replies.UNIMPLEMENTED)
        return None
    if arg:
        s.out(replies.TLS_NO_PARAMS)
        return None
    return s.tls_init()


def _cmd_quit(s: SmtpServer, arg: bytes) -> None:
    s.out(b"221 " + s.controls.greeting + b"\r\n")
    s.end(0, reason="quit")


def _fixed(reply: bytes) -> Callable[[SmtpServer, bytes], None]:
    """HELP, NOOP, VRFY: one fixed reply, the argument ignored (§2.8)."""

    def handler(s: SmtpServer, arg: bytes) -> None:
        s.out(reply)

    return handler


# verb -> (handler, what happens after it): smtpcommands[] of qmail-smtpd.c.
COMMANDS: dict[bytes, tuple[Callable[[SmtpServer, bytes], Any], object]] = {
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
