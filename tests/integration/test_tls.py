"""STARTTLS and SMTPS with real handshakes (spec §4)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.conftest import captured, needs_tool, running_serve
from tests.helpers.raw_client import RawClient
from tests.helpers.tls_material import ca_file, client_cert_files, client_context, install_servercert


class TlsClient(RawClient):
    def starttls(self, ctx: ssl.SSLContext) -> None:
        self.use(ctx.wrap_socket(self.sock, server_hostname="mx.test"))


def _session(host: str, port: int, ctx: ssl.SSLContext) -> tuple[TlsClient, str]:
    c = TlsClient(host, port)
    assert c.reply() == b"220 mx.test ESMTP\r\n"
    ehlo = c.command(b"EHLO c")
    assert b"250-STARTTLS\r\n" in ehlo
    assert c.command(b"STARTTLS") == b"220 ready for tls\r\n"
    c.starttls(ctx)
    return c, c.sock.cipher()[0]  # type: ignore[attr-defined]


def test_starttls_session(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home)
    with running_serve(qmail_home, capture_env) as (host, port):
        c, cipher = _session(host, port, client_context())
        with c:
            ehlo = c.command(b"EHLO c")
            assert b"STARTTLS" not in ehlo and ehlo.startswith(b"250-mx.test\r\n")
            assert c.command(b"STARTTLS") == b"502 unimplemented (#5.5.1)\r\n"
            assert c.command(b"MAIL FROM:<a@b>") == b"250 ok\r\n"
            assert c.command(b"RCPT TO:<u@far.example>") == (
                b"553 sorry, that domain isn't in my list of allowed rcpthosts; "
                b"no valid cert for gatewaying (#5.7.1)\r\n")
            assert c.command(b"RCPT TO:<r@example.org>") == b"250 ok\r\n"
            assert c.command(b"DATA") == b"354 go ahead\r\n"
            assert c.command(b"x\r\n.").startswith(b"250 ok ")
            assert c.command(b"QUIT") == b"221 mx.test\r\n"
    [(message, _)] = captured(qmail_home)
    # STARTTLS resets the HELO to the remote host; the EHLO sent after it shows again.
    assert message.startswith(b"Received: from unknown (HELO c) (127.0.0.1)\n  by mx.local with "
                              b"ESMTPS (" + cipher.encode() + b" encrypted); ")


def test_starttls_argument_and_pipelined_input(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home)
    with running_serve(qmail_home, capture_env) as (host, port), TlsClient(host, port) as c:
        c.reply()
        assert c.command(b"STARTTLS now") == b"501 Syntax error (no parameters allowed) (#5.5.4)\r\n"
        c.send(b"STARTTLS\r\nNOOP\r\n")  # the pipelined NOOP is discarded (flush_io)
        assert c.reply() == b"220 ready for tls\r\n"
        c.starttls(client_context())
        assert c.command(b"HELP") == b"214 netqmail home page: http://qmail.org/netqmail\r\n"


def test_missing_certificate(qmail_home: Path, capture_env: dict[str, str]) -> None:
    with running_serve(qmail_home, capture_env) as (host, port), RawClient(host, port) as c:
        c.reply()
        assert b"STARTTLS" not in c.command(b"EHLO c")
        reply = c.command(b"STARTTLS")  # accepted although not advertised
        assert reply.startswith(b"454 TLS missing certificate") and reply.endswith(b" (#4.3.0)\r\n")
        assert c.command(b"NOOP") == b"250 ok\r\n"  # the session goes on in clear


def test_ec_key_is_not_an_rsa_key(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home, key_type="ec")
    with running_serve(qmail_home, capture_env) as (host, port), RawClient(host, port) as c:
        c.reply()
        # OpenSSL's verdict and its earliest error, as eQmail prints it: the missing
        # control/clientca.pem, whose load failed first (and was ignored)
        assert c.command(b"STARTTLS") == (b"454 TLS no valid RSA private key: error:FFFFFFFF80000002:"
                                          b"system library::No such file or directory (#4.3.0)\r\n")


def test_failed_handshake_is_454_in_clear(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home)
    with running_serve(qmail_home, capture_env) as (host, port), RawClient(host, port) as c:
        c.reply()
        assert c.command(b"STARTTLS") == b"220 ready for tls\r\n"
        c.send(b"this is not a TLS client hello\r\n")
        rest = c.rest()
        assert rest.startswith(b"454 TLS connection failed") and rest.endswith(b" (#4.3.0)\r\n")


@pytest.mark.parametrize("setting, offered, accepted", [
    ("AES128-SHA", "AES128-SHA", True),
    ("AES128-SHA", "AES256-SHA", False),
    ("AES128-SHA\nAES256-SHA", "AES256-SHA", True),  # lines joined by ':'
    ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", True),
    ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", False),
])
def test_tlsserverciphers_for_tls12(qmail_home: Path, capture_env: dict[str, str], setting: str,
                                    offered: str, accepted: bool) -> None:
    install_servercert(qmail_home)
    (qmail_home / "control" / "tlsserverciphers").write_text(setting + "\n")
    with running_serve(qmail_home, capture_env) as (host, port):
        if accepted:
            c, cipher = _session(host, port, client_context(ciphers=offered, tls12=True))
            with c:
                assert cipher == offered
                assert c.command(b"NOOP") == b"250 ok\r\n"
        else:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                _session(host, port, client_context(ciphers=offered, tls12=True))


def test_tlsciphers_env_overrides_the_file(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home)
    (qmail_home / "control" / "tlsserverciphers").write_text("AES128-SHA\n")
    env = dict(capture_env, TLSCIPHERS="AES256-SHA")
    with running_serve(qmail_home, env) as (host, port):
        c, cipher = _session(host, port, client_context(ciphers="AES256-SHA", tls12=True))
        c.close()
        assert cipher == "AES256-SHA"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _session(host, port, client_context(ciphers="AES128-SHA", tls12=True))


def test_tls13_suites_are_not_restricted(qmail_home: Path, capture_env: dict[str, str]) -> None:
    # OpenSSL keeps TLS 1.3 suites apart from the cipher string (see README, TLS).
    install_servercert(qmail_home)
    (qmail_home / "control" / "tlsserverciphers").write_text("AES128-SHA\n")
    with running_serve(qmail_home, capture_env) as (host, port):
        c, cipher = _session(host, port, client_context())
        c.close()
        assert cipher.startswith("TLS_")


def test_smtps(qmail_home: Path, capture_env: dict[str, str]) -> None:
    install_servercert(qmail_home)
    env = dict(capture_env, SMTPS="")
    with running_serve(qmail_home, env) as (host, port):
        raw = socket.create_connection((host, port), timeout=30)
        with client_context().wrap_socket(raw, server_hostname="mx.test") as tls:
            c = RawClient.over(tls)
            assert c.reply() == b"220 mx.test ESMTP\r\n"
            assert b"STARTTLS" not in c.command(b"EHLO c")
            assert c.command(b"QUIT") == b"221 mx.test\r\n"


def test_openssl_s_client_starttls(qmail_home: Path, capture_env: dict[str, str],
                                   tmp_path: Path) -> None:
    openssl = needs_tool("openssl")
    install_servercert(qmail_home)
    with running_serve(qmail_home, capture_env) as (host, port):
        done = subprocess.run(
            [openssl, "s_client", "-starttls", "smtp", "-connect", f"{host}:{port}", "-crlf",
             "-quiet", "-CAfile", str(ca_file(tmp_path)), "-verify_return_error",
             "-servername", "mx.test"],
            input=b"NOOP\nQUIT\n", capture_output=True, timeout=60)
    assert done.stdout.endswith(b"250 ok\r\n221 mx.test\r\n"), (done.stdout, done.stderr)
    # qmail-smtpd's exit is ssl_exit(): SSL_shutdown() sends close_notify. Without it OpenSSL 3's
    # s_client reports "unexpected eof while reading" and exits 1 after a clean QUIT.
    assert b"unexpected eof" not in done.stderr and done.returncode == 0, done.stderr


@pytest.mark.parametrize("email, listed", [("joe@client.test", True), ("eve@client.test", False),
                                           (None, False)])
def test_client_certificate_relaying(qmail_home: Path, capture_env: dict[str, str], tmp_path: Path,
                                     email: str | None, listed: bool) -> None:
    install_servercert(qmail_home)
    (qmail_home / "control" / "tlsclients").write_text("JOE@client.test\n")
    (qmail_home / "control" / "clientca.pem").write_bytes(ca_file(tmp_path).read_bytes())
    ctx = client_context()
    ctx.load_cert_chain(*client_cert_files(tmp_path, email))
    with running_serve(qmail_home, capture_env) as (host, port):
        c, _ = _session(host, port, ctx)
        with c:
            assert c.command(b"MAIL FROM:<a@b>") == b"250 ok\r\n"
            reply = c.command(b"RCPT TO:<u@far.example>")
            if listed:
                assert reply == b"250 ok\r\n"
                assert c.command(b"DATA") == b"354 go ahead\r\n"
                assert c.command(b"x\r\n.").startswith(b"250 ok ")
            else:
                why = b"contains no email address" if email is None else (
                    b"email address not in my list of tlsclients")
                assert reply == (b"553 sorry, that domain isn't in my list of allowed rcpthosts; "
                                 b"no valid cert for gatewaying: " + why + b" (#5.7.1)\r\n")
    if listed:
        [(message, _)] = captured(qmail_home)
        assert b" encrypted)\n  (cert joe@client.test); " in message


def test_no_client_certificate_offered(qmail_home: Path, capture_env: dict[str, str],
                                       tmp_path: Path) -> None:
    install_servercert(qmail_home)
    (qmail_home / "control" / "tlsclients").write_text("joe@client.test\n")
    (qmail_home / "control" / "clientca.pem").write_bytes(ca_file(tmp_path).read_bytes())
    with running_serve(qmail_home, capture_env) as (host, port):
        c, _ = _session(host, port, client_context())
        with c:
            c.command(b"MAIL FROM:<a@b>")
            assert c.command(b"RCPT TO:<u@far.example>") == (
                b"553 sorry, that domain isn't in my list of allowed rcpthosts; "
                b"no valid cert for gatewaying (#5.7.1)\r\n")
