"""Targets by spec string (testinfra-style): `ref`, `ref:1.09`, `exec:/var/qmail`,
`docker:IMAGE`, `tcp:HOST:PORT`, `golden:DIR`. Options follow commas: `ref:1.09,no-tls`,
`exec:/var/qmail,smtpd=/opt/bin/qmail-smtpd,version=1.09`,
`docker:local/eqmail:1,home=/opt/qmail,engine=docker`,
`exec:/opt/qmail,no-domainbindings` (a build without that patch: its cases are not applicable).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import TargetSpecError
from harness.targets.base import Target

__all__ = ["make_target", "parse_spec", "KINDS"]

VERSIONS = ("1.08", "1.09")
# patches a build may lack: option `no-PATCH` makes the cases tagged PATCH not applicable
PATCHES = ("domainbindings",)
PATCH_OPTIONS = {f"no-{p}" for p in PATCHES}


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """`kind:arg,opt=v,flag` -> (kind, arg, {opt: v, flag: ""})."""
    kind, _, rest = spec.strip().partition(":")
    if "," in kind:  # `ref,auth-sleep=5`: options and no argument
        kind, _, options_only = kind.partition(",")
        rest = "," + options_only + (":" + rest if rest else "")
    arg, *opts = rest.split(",") if rest else [""]
    options: dict[str, str] = {}
    for opt in opts:
        key, _, value = opt.partition("=")
        if not key:
            raise TargetSpecError(f"target {spec!r}: empty option")
        options[key.strip()] = value.strip()
    return kind.strip(), arg.strip(), options


def _version(spec: str, value: str) -> str:
    value = value or "1.08"
    if value not in VERSIONS:
        raise TargetSpecError(f"target {spec!r}: version {value!r} is not one of {', '.join(VERSIONS)}")
    return value


def _check(spec: str, options: dict[str, str], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise TargetSpecError(f"target {spec!r}: unknown options {sorted(unknown)} "
                              f"(allowed: {', '.join(sorted(allowed))})")


def _lacks(options: dict[str, str]) -> frozenset[str]:
    return frozenset(p for p in PATCHES if f"no-{p}" in options)


def _ref(spec: str, arg: str, options: dict[str, str]) -> Target:
    from harness.targets.ref import RefTarget

    _check(spec, options, {"no-tls", "auth-sleep", "version"})
    try:
        sleep = float(options.get("auth-sleep", "0"))
    except ValueError:
        raise TargetSpecError(f"target {spec!r}: auth-sleep wants a number") from None
    return RefTarget(spec, _version(spec, arg or options.get("version", "")),
                     tls_build="no-tls" not in options, auth_sleep=sleep)


def _exec(spec: str, arg: str, options: dict[str, str]) -> Target:
    from harness.targets.exec_ import ExecTarget

    _check(spec, options, {"smtpd", "remote", "version", "no-tls", *PATCH_OPTIONS})
    if not arg.startswith("/"):
        raise TargetSpecError(f"target {spec!r}: exec: wants an absolute qmail home, e.g. exec:/var/qmail")
    target = ExecTarget(spec, arg, smtpd=options.get("smtpd", ""), remote=options.get("remote", ""),
                        version=_version(spec, options.get("version", "")), tls_build="no-tls" not in options)
    target.lacks = _lacks(options)
    return target


def _docker(spec: str, arg: str, options: dict[str, str]) -> Target:
    from harness.targets.docker_ import DockerTarget

    _check(spec, options, {"home", "smtpd", "remote", "version", "no-tls", "transport", "port", "engine",
                           "api-only", *PATCH_OPTIONS})
    if options.get("transport", "auto") not in ("auto", "tcpserver", "stdio"):
        raise TargetSpecError(f"target {spec!r}: transport is auto, tcpserver or stdio")
    engine = options.get("engine", "")
    if engine and engine not in ("podman", "docker") and "://" not in engine:
        raise TargetSpecError(f"target {spec!r}: engine is podman, docker or an API URL "
                              "(unix:///run/docker.sock, tcp://HOST:2375)")
    port = options.get("port", "0")
    if not port.isdigit() or int(port) > 65535:
        raise TargetSpecError(f"target {spec!r}: port wants a TCP port number")
    if not arg:
        raise TargetSpecError(f"target {spec!r}: docker: wants an image, "
                              "e.g. docker:localhost/qmc/eqmail-ref:latest")
    target: Target = DockerTarget(
        spec, arg, home=options.get("home", ""), smtpd=options.get("smtpd", ""),
        remote=options.get("remote", ""), version=_version(spec, options.get("version", "")),
        tls_build="no-tls" not in options, transport=options.get("transport", "auto"), port=int(port),
        engine=engine, api_only="api-only" in options)
    target.lacks = _lacks(options)
    return target


def _tcp(spec: str, arg: str, options: dict[str, str]) -> Target:
    from harness.targets.tcp import TcpTarget

    _check(spec, options, {"version", "no-tls"})
    host, _, port = arg.rpartition(":")
    if not host or not port.isdigit():
        raise TargetSpecError(f"target {spec!r}: tcp: wants HOST:PORT, e.g. tcp:127.0.0.1:25")
    return TcpTarget(spec, host.strip("[]"), int(port), version=_version(spec, options.get("version", "")),
                     tls_build="no-tls" not in options)


def _golden(spec: str, arg: str, options: dict[str, str]) -> Target:
    from harness.targets.golden import GoldenTarget

    _check(spec, options, set())
    return GoldenTarget(spec, arg)


KINDS: dict[str, Callable[[str, str, dict[str, str]], Target]] = {
    "ref": _ref, "exec": _exec, "docker": _docker, "tcp": _tcp, "golden": _golden,
}


def make_target(spec: str) -> Target:
    kind, arg, options = parse_spec(spec)
    try:
        factory = KINDS[kind]
    except KeyError:
        raise TargetSpecError(f"target {spec!r}: unknown kind {kind!r}; use one of ref, ref:1.09, "
                              "exec:/var/qmail, docker:IMAGE, tcp:HOST:PORT, golden:DIR") from None
    return factory(spec, arg, options)
