"""qmail-remote cases (categories 7 and 8): run `qmail-remote HOST SENDER RECIP...` against
fake upstream relays and a fake DNS server the harness starts for the case, and observe
the report bytes, what each relay received, the client's source address, TLS, the DNS
questions.

Per case: every relay of the case's `relay` list (harness/cases/tables.py) listens on
port 25 of a loopback address of its own and the DNS server on port 53 of another
(harness/observe/addresses.py), so a real qmail-remote, which knows only port 25 for
mail exchangers and only port 53 for its resolver, can be pointed at them. Placeholders in
the case's files, DNS records and command line: `{NAME}` / `{NAME_port}` a relay's address
and port, `{dns}`, `{client}` and `{client2}` .. `{client8}` the client's own addresses (the
default source address, and addresses it may bind: domainbindings), and in files `{ca}` /
`{other_ca}` (PEM of the relays' test CA and of an unrelated one). Where the addresses come
from is the target's `outgoing()` (harness/observe/addresses.py): loopback on this machine,
the container network for docker: targets. The target learns the DNS server from
`fx.extra["dns_server"]` ("IP:PORT"): the reference takes `--dns-server`, a qmail install
or image gets a resolv.conf naming it, bind-mounted in a private mount namespace.

What is recorded (Transcript): one exchange, step 1 "REMOTE": sent = the command line and
the message, received = the report (so `expect.replies` and `accept` work as for smtpd
cases); observations "relay" (per connection, in order: `[NAME]` then every byte the
client sent), "source" (`NAME <- source address`), "auth" (the AUTH LOGIN exchange
decoded), "tls" (version and cipher, or the handshake error), "dns" (`name TYPE` per
question). The addresses the harness allocated differ from run to run: they are written
as `{NAME}` / `{dns}` in everything recorded, so two runs compare. The case's pins
(`expect.relay`, `expect.source`, ...) are checked in the verdict stage, as for smtpd cases
(harness/verdict.py).
"""

from __future__ import annotations

import base64
import re
import shlex
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from harness.cases import Case, CaseKind, to_bytes
from harness.errors import TargetFault
from harness.fixtures import Profile, build_fixture
from harness.observe.addresses import OutgoingNet, bind_udp, listen_tcp, reverse
from harness.observe.certs import ca_pem, client_cert_pem, other_ca_pem, server_context
from harness.observe.dns import DnsServer
from harness.observe.plan import fill_in, zone_of
from harness.observe.relay import PeerConnection, SmtpPeer
from harness.targets.base import Target
from harness.transcript import Exchange, Transcript

__all__ = ["run_remote_case"]


class _Stage:
    """The case's relays and DNS server, running; `names` maps each address to its name."""

    def __init__(self, case: Case, net: OutgoingNet, stack: ExitStack) -> None:
        assert case.remote is not None
        pool = net.pool
        self.fill: dict[str, str] = {}
        self.peers: dict[str, SmtpPeer] = {}
        for plan in case.relay:
            if plan.refuse:
                self.fill[plan.name], self.fill[f"{plan.name}_port"] = pool.take(), "25"
                stack.callback(pool.release, self.fill[plan.name])
                continue
            listener = listen_tcp(pool, 25)
            stack.callback(pool.release, listener.getsockname()[0])
            peer = SmtpPeer([list(s) for s in plan.scripts], listener=listener,
                            tls_context=server_context(plan.cert, plan.cn, tls_max=plan.tls_max,
                                                       client_ca=plan.client_ca) if plan.tls else None)
            stack.callback(peer.stop)
            self.peers[plan.name] = peer
            self.fill[plan.name], self.fill[f"{plan.name}_port"] = peer.host, str(peer.port)
        self.fill.update(net.clients)
        self.sources = reverse(net.clients)
        zone = zone_of(case.dns, self.fill)
        udp = bind_udp(pool, 53)
        stack.callback(pool.release, udp.getsockname()[0])
        self.dns = DnsServer(zone, sock=udp)
        stack.callback(self.dns.stop)
        self.fill["dns"], self.fill["dns_port"] = self.dns.address[0], str(self.dns.address[1])
        # the client's addresses stay as they are: a case may name 127.0.0.1 for itself
        names = {self.fill[n]: n for n in self.fill if not n.endswith("_port") and n not in net.clients}
        either = b"|".join(re.escape(a.encode()) for a in names)
        self._rx = re.compile(rb"(?<![\d.])(" + either + rb")(?![\d])")
        self._names = {a.encode(): b"{" + n.encode() + b"}" for a, n in names.items()}

    def symbolic(self, data: bytes) -> bytes:
        """`data` with every allocated address written as its {name}."""
        return self._rx.sub(lambda m: self._names[m.group(1)], data)

    def expand(self, data: bytes) -> bytes:
        data = data.replace(b"{ca}", ca_pem()).replace(b"{other_ca}", other_ca_pem())
        if b"{client_cert}" in data:
            data = data.replace(b"{client_cert}", client_cert_pem())
        return fill_in(data.decode("latin-1"), self.fill).encode("latin-1")

    def connections(self) -> list[tuple[str, PeerConnection]]:
        found = [(name, c) for name, peer in self.peers.items() for c in peer.connections]
        return sorted(found, key=lambda nc: nc[1].serial)


_VERBS = (b"QUIT", b"MAIL ", b"RCPT ", b"DATA", b"EHLO ", b"HELO ", b"RSET")


def _auth(received: bytes) -> bytes | None:
    """The AUTH exchange in what a relay received, decoded: `LOGIN user / password` (as far
    as the client got: it sends QUIT after a rejected step)."""
    lines = received.split(b"\r\n")
    for n, line in enumerate(lines):
        if line.upper().startswith(b"AUTH "):
            decoded = []
            for answer in lines[n + 1 : n + 3]:
                if answer.upper().startswith(_VERBS) or not answer:
                    break
                try:
                    decoded.append(base64.b64decode(answer, validate=True))
                except ValueError:
                    decoded.append(b"(not base64) " + answer)
            return line[5:] + b" " + b" / ".join(decoded)
    return None


def _client(conn: PeerConnection) -> str:
    """ client CN, when the relay asked for a client certificate and got one."""
    subject = (conn.tls_client_cert or {}).get("subject") or ()
    names = [v for rdn in subject for k, v in rdn if k == "commonName"]  # type: ignore[attr-defined]
    return f" client {names[0]}" if names else ""


def _observe(stage: _Stage, t: Transcript) -> None:
    relay, source, auth, tls = [], [], [], []
    for name, conn in stage.connections():
        received = stage.symbolic(bytes(conn.received))
        relay.append(f"[{name}]\n".encode() + received)
        source.append(f"{name} <- {stage.sources.get(conn.peer[0], conn.peer[0])}".encode())
        seen = _auth(received)
        if seen is not None:
            auth.append(f"{name} ".encode() + seen)
        if conn.tls_version or conn.tls_error:
            tls.append(f"{name} {conn.tls_version} cipher {conn.tls_cipher}{_client(conn)}".encode()
                       if conn.tls_version else f"{name} handshake failed".encode())
    t.observations["relay"] = relay
    t.observations["source"] = source
    if auth:
        t.observations["auth"] = auth
    if tls:
        t.observations["tls"] = tls
    t.observations["dns"] = [f"{name} {rtype}".encode() for name, rtype in stage.dns.queries]


def run_remote_case(target: Target, case: Case, profiles: dict[str, Profile], workdir: Path,
                    t: Transcript) -> None:
    job = case.remote
    assert job is not None
    net = target.outgoing()
    if net is None:
        raise TargetFault(f"{target.name} has no network for qmail-remote's peers")
    with ExitStack() as stack:
        stage = _Stage(case, net, stack)
        home, fixtures = target.place(workdir)
        staged = replace(case, files={k: stage.expand(v) for k, v in case.files.items()})
        fx = build_fixture(staged, profiles, workdir, home=home, fixtures=fixtures)
        fx.extra["dns_server"] = f"{stage.fill['dns']}:{stage.fill['dns_port']}"
        target.upload(fx)
        words = [job.host, job.sender, *job.recipients]
        # argv bytes as the case's latin-1 text says; str for the targets as os.fsdecode gives
        argv = [to_bytes(fill_in(w, stage.fill)).decode("utf-8", "surrogateescape") for w in words]
        outcome = None
        try:
            outcome = target.remote(fx, argv, job.message, case.timeout)
        except TimeoutError as exc:
            hang = str(exc)
        finally:
            stack.close()  # the relays see every byte up to the client's end before we read
        _observe(stage, t)
        if outcome is None:
            raise TargetFault(f"hang: {hang}")
        command = ("qmail-remote " + shlex.join(words) + "\n").encode("latin-1")
        t.exchanges = [Exchange(step=1, kind=CaseKind.REMOTE, sent=command + job.message,
                                received=stage.symbolic(outcome.stdout))]
        t.exit, t.stderr = outcome.exit, outcome.stderr
