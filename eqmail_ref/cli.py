"""`eqmail-ref`: entry points that behave like the real programs.

  eqmail-ref smtpd [options] [checkpassword args...]   ucspi program (env + fd 0/1)
  eqmail-ref serve --listen HOST:PORT [options] [-- checkpassword args...]
  eqmail-ref remote [options] HOST SENDER RECIP...      qmail-remote (message on stdin)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import signal
import sys
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

from eqmail_ref.__about__ import __version__
from eqmail_ref.shell.openssl import BUILDS as OPENSSL_BUILDS
from eqmail_ref.versions import VERSIONS, Version, get_version

__all__ = ["main"]


def _home(value: str | None) -> Path:
    home = value or os.environ.get("QMAILHOME")
    if not home:
        raise SystemExit("eqmail-ref: no qmail home: give --qmail-home DIR or set $QMAILHOME "
                         "(the directory that holds control/)")
    return Path(home).absolute()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qmail-home", metavar="DIR",
                   help="the directory holding control/ (default: $QMAILHOME)")
    p.add_argument("--version", dest="eqmail_version", default="1.08", choices=sorted(VERSIONS),
                   help="eQmail version to behave as (default 1.08)")
    p.add_argument("--no-tls-build", action="store_true",
                   help="behave like an eQmail compiled without TLS (no STARTTLS verb)")
    p.add_argument("--auth-sleep-scale", type=float, default=1.0, metavar="F",
                   help="scale the 5 s pause after a failed AUTH (reference only; default 1)")
    p.add_argument("--openssl", default="3", choices=OPENSSL_BUILDS,
                   help="the OpenSSL the imitated build links against (default 3): with 1.x an "
                        "EOF inside a TLS handshake is no OpenSSL error (no alert, no text); error "
                        "texts are OpenSSL 3's either way (the harness normalizes 1.x texts)")
    p.add_argument("--upstream-spp-rcpt", action="store_true",
                   help="run [rcpt] plugins as upstream qmail-spp does (eQmail never runs them)")


def _version(args: argparse.Namespace) -> Version:
    version = get_version(args.eqmail_version)
    if args.upstream_spp_rcpt:
        version = dataclasses.replace(version, rcpt_hook_runs=True)
    return version


def _crash() -> None:
    """eQmail dies by SIGSEGV here (spec §1); do the same, without a core file."""
    sys.stdout.flush()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGSEGV)


def _smtpd(args: argparse.Namespace) -> int:
    from eqmail_ref.controls import StartupFailure, load_smtpd_controls
    from eqmail_ref.shell.ipme import local_ipv4_addresses
    from eqmail_ref.shell.session import run_session, system_clock
    from eqmail_ref.shell.transport import FdTransport
    from eqmail_ref.smtpd import SmtpServer

    version = _version(args)
    env = dict(os.environb)
    home = _home(args.qmail_home)
    try:
        os.chdir(home)
        controls, error = load_smtpd_controls(home, env, version), ""
    except (OSError, StartupFailure) as exc:
        controls, error = None, str(exc)
    server = SmtpServer(
        controls=controls, env=env, clock=system_clock, version=version,
        checkpassword=tuple(os.fsencode(a) for a in args.checkpassword),
        ipme=local_ipv4_addresses(), pid=os.getpid(), tls_build=not args.no_tls_build,
        auth_sleep=5.0 * args.auth_sleep_scale, startup_error=error,
    )
    outcome = run_session(server, FdTransport(0, 1), openssl=args.openssl)
    if outcome.crash:
        _crash()
    return outcome.exit_code


def _serve(args: argparse.Namespace) -> int:
    from eqmail_ref.shell.serve import ServeOptions, serve

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"eqmail-ref serve: --listen wants HOST:PORT, got {args.listen!r}")
    checkpassword = list(args.checkpassword)
    if checkpassword[:1] == ["--"]:
        checkpassword = checkpassword[1:]
    serve(ServeOptions(
        host=host.strip("[]"), port=int(port), home=_home(args.qmail_home),
        version=_version(args),
        checkpassword=tuple(os.fsencode(a) for a in checkpassword),
        concurrency=args.concurrency,
        local_name=os.fsencode(args.local_name) if args.local_name else None,
        tls_build=not args.no_tls_build, sleep_scale=args.auth_sleep_scale,
        memory_queue=args.memory_queue, openssl=args.openssl,
    ))
    return 0


def _selfcheck(args: argparse.Namespace) -> int:
    import tempfile

    from eqmail_ref.selfcheck import CaseError
    from eqmail_ref.selfcheck import main as selfcheck

    try:
        # the examples ship inside the package (house rule 11: no path relative to a checkout)
        with as_file(files("eqmail_ref") / "selfcheck.toml") as bundled, \
                tempfile.TemporaryDirectory(prefix="eqmail-selfcheck-") as work:
            return selfcheck(Path(args.cases or bundled), Path(args.report), Path(work))
    except CaseError as exc:
        raise SystemExit(f"eqmail-ref selfcheck: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["remote"]:
        # qmail-remote has its own options (eqmail_ref.shell.remote_main owns them, with
        # --help); handing it the rest of the command line keeps one definition.
        from eqmail_ref.shell.remote_main import main_remote

        return main_remote(argv[1:])
    args = _parser().parse_args(argv)
    return int(args.func(args))


@cache
def _parser() -> argparse.ArgumentParser:
    """Built once per process: a fork server builds it before forking (gettext lookups make
    building cost ~3 ms, more than the rest of a session's start)."""
    parser = argparse.ArgumentParser(prog="eqmail-ref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("smtpd", help="run one SMTP session on stdin/stdout (ucspi)")
    _common(p)
    p.add_argument("checkpassword", nargs=argparse.REMAINDER,
                   help="checkpassword program and its arguments (enables AUTH)")
    p.set_defaults(func=_smtpd)
    p = sub.add_parser("serve", help="listen on TCP and serve SMTP sessions")
    _common(p)
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--concurrency", type=int, default=40, metavar="N",
                   help="worker processes, i.e. simultaneous sessions (tcpserver -c; default 40)")
    p.add_argument("--local-name", metavar="NAME", help="TCPLOCALHOST (tcpserver -l)")
    p.add_argument("--memory-queue", action="store_true",
                   help="keep accepted messages in-process instead of running qmail-queue")
    p.add_argument("checkpassword", nargs=argparse.REMAINDER,
                   help="-- checkpassword program and its arguments")
    p.set_defaults(func=_serve)
    # Listed for --help only: main() hands `remote` to eqmail_ref.shell.remote_main first.
    sub.add_parser("remote", add_help=False,
                   help="deliver stdin like qmail-remote: [options] HOST SENDER RECIP... "
                        "(eqmail-ref remote --help)")
    p = sub.add_parser("selfcheck", help="run the spec's verified examples against the reference")
    p.add_argument("--cases", metavar="FILE", help="the examples (default: the bundled selfcheck.toml)")
    p.add_argument("--report", default="reports/selfcheck.json", metavar="FILE")
    p.set_defaults(func=_selfcheck)
    return parser


if __name__ == "__main__":
    sys.exit(main())
