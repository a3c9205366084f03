"""qmail-remote's STARTTLS client (spec §5.6) and port 465 (§5.5.1) against a real TLS peer
on loopback, with certificates generated at test time (trustme, tests/helpers/tls_material.py).

The relay is reached by name (mx.tls.test, from a fake DNS server) because tlshosts works on
the partner's name. Real eQmail cannot be compared here: the verification binary is built
without TLS. OpenSSL's error texts are OpenSSL 3's (as real eQmail on OpenSSL 3 prints them;
eqmail_ref/shell/openssl.py), checked exactly.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.helpers.fake_dns_server import DnsServer
from tests.helpers.fake_smtp_peer import CLOSE, GREET, TLS, Item, SmtpPeer
from tests.helpers.remote_conftest_helpers import make_home, run_remote, run_remote_both
from tests.helpers.tls_material import authority, client_cert_files

NAME = "mx.tls.test"
PEM = f"control/tlshosts/{NAME}.pem"
G = b"220 peer ESMTP\r\n"
EHLO_TLS = b"250-peer\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
EHLO = b"250-peer\r\n250 8BITMIME\r\n"
OK, GO, QUEUED = b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"
DELIVERY = [OK, OK, GO, QUEUED]
K = b"r\0K127.0.0.1 accepted message.\nRemote host said: 250 queued\n\0"
MAIL = b"MAIL FROM:<s@y.org>\r\nRCPT TO:<r@x.example>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"
WITH_TLS = [G, EHLO_TLS, b"220 go ahead\r\n", TLS, EHLO, *DELIVERY]


def server_context(*identities: str, common_name: str | None = None,
                   ca: trustme.CA | None = None, tls12: bool = False) -> ssl.SSLContext:
    leaf = (ca or authority()).issue_cert(*identities, common_name=common_name,
                                          key_type=trustme.KeyType.RSA)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer({(NAME, "A"): ["127.0.0.1"]}) as server:
        yield server


def deliver(tmp: Path, dns: DnsServer, script: list[Item], ctx: ssl.SSLContext | None = None, *,
            files: dict[str, str | bytes] | None = None, relay: str = NAME,
            auth: str = "", version: str = "1.08") -> tuple[bytes, SmtpPeer]:
    with SmtpPeer([script], tls_context=ctx or server_context(NAME)) as peer:
        home = make_home(tmp, {**(files or {}),
                               "smtproutes": f"x.example:{relay}:{peer.port}{auth}\n"})
        report = run_remote(home, "x.example", "s@y.org", "r@x.example",
                            options=("--dns-server", dns.spec, "--version", version))
    return report, peer


def ca_pem() -> bytes:
    return authority().cert_pem.bytes()


# ------------------------------------------------------------------ opportunistic TLS


def test_starttls_when_offered_then_ehlo_again(tmp_path: Path, dns: DnsServer) -> None:
    report, peer = deliver(tmp_path, dns, WITH_TLS)
    assert report == K
    assert peer.only.tls_version is not None
    assert peer.only.tls_close_notify is True  # ssl_exit(): SSL_shutdown() after QUIT
    assert bytes(peer.only.received) == b"EHLO mx.test\r\nSTARTTLS\r\nEHLO mx.test\r\n" + MAIL


def test_no_starttls_when_not_offered(tmp_path: Path, dns: DnsServer) -> None:
    report, peer = deliver(tmp_path, dns, [G, EHLO, *DELIVERY])
    assert report == K and bytes(peer.only.received) == b"EHLO mx.test\r\n" + MAIL


@pytest.mark.parametrize("files", [{f"notlshosts/{NAME}": ""}, {"tlshosts/exhaustivelist": ""}],
                         ids=["notlshosts", "exhaustivelist"])
def test_never_tls_for_listed_names(tmp_path: Path, dns: DnsServer, files: dict[str, str | bytes]) -> None:
    report, peer = deliver(tmp_path, dns, [G, EHLO_TLS, *DELIVERY], files=files)
    assert report == K and bytes(peer.only.received) == b"EHLO mx.test\r\n" + MAIL


def test_literal_relay_uses_tls_unverified(tmp_path: Path, dns: DnsServer) -> None:
    # no partner name: STARTTLS when offered, no verification even with an unknown CA
    ctx = server_context("elsewhere.test", ca=trustme.CA())
    report, peer = deliver(tmp_path, dns, WITH_TLS, ctx, relay="127.0.0.1",
                           files={"tlshosts/127.0.0.1.pem": ca_pem()})
    assert report == K and peer.only.tls_version is not None


def test_rejected_starttls_goes_on_in_clear_and_loses_auth(tmp_path: Path, dns: DnsServer) -> None:
    # the STARTTLS reply becomes the text AUTH is looked for in (spec §5.6 step 4): no AUTH
    ehlo = b"250-peer\r\n250-STARTTLS\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"
    report, peer = deliver(tmp_path, dns, [G, ehlo, b"454 not now\r\n", *DELIVERY], auth=" joe pw")
    assert report == K
    assert bytes(peer.only.received) == b"EHLO mx.test\r\nSTARTTLS\r\n" + MAIL


def test_tlsclientciphers_joined_by_colons(tmp_path: Path, dns: DnsServer) -> None:
    ctx = server_context(NAME, tls12=True)
    files: dict[str, str | bytes] = {"tlsclientciphers": "ECDHE-RSA-AES256-GCM-SHA384\n"}
    report, peer = deliver(tmp_path, dns, WITH_TLS, ctx, files=files)
    assert report == K and peer.only.tls_cipher == "ECDHE-RSA-AES256-GCM-SHA384"


def test_clientcert_is_offered(tmp_path: Path, dns: DnsServer) -> None:
    cert, key = client_cert_files(tmp_path, "relay@y.org")
    ctx = server_context(NAME)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cadata=ca_pem().decode())
    report, peer = deliver(tmp_path, dns, WITH_TLS, ctx,
                           files={"clientcert.pem": cert.read_bytes() + key.read_bytes()})
    assert report == K
    assert peer.only.tls_client_cert is not None
    assert "client.test" in str(peer.only.tls_client_cert["subject"])


# ------------------------------------------------------------- required TLS (tlshosts)


@pytest.mark.parametrize("identities, cn, version", [
    ((NAME,), None, "1.08"), (("*.tls.test",), None, "1.08"), (("other.test", NAME), None, "1.08"),
    (("other.test",), NAME, "1.08"),  # 1.08 checks the CN when no subjectAltName matched
    ((NAME,), None, "1.09"),
])
def test_verified_server(tmp_path: Path, dns: DnsServer, identities: tuple[str, ...], cn: str | None,
                         version: str) -> None:
    report, peer = deliver(tmp_path, dns, WITH_TLS, server_context(*identities, common_name=cn),
                           files={f"tlshosts/{NAME}.pem": ca_pem()}, version=version)
    assert report == K and peer.only.tls_version is not None


@pytest.mark.parametrize("identities, cn, text", [
    (("other.test",), None, b"ZTLS unable to verify server mx.tls.test: certificate contains no "
                            b"valid commonName; connected to 127.0.0.1.\n\0"),
    (("other.test",), "other.test", b"ZTLS unable to verify server mx.tls.test: received "
                                    b"certificate for other.test; connected to 127.0.0.1.\n\0"),
    (("x.mx.tls.test",), "*.*.tls.test", b"ZTLS unable to verify server mx.tls.test: received "
                                         b"certificate for *.*.tls.test; connected to 127.0.0.1.\n\0"),
])
def test_name_mismatch(tmp_path: Path, dns: DnsServer, identities: tuple[str, ...], cn: str | None,
                       text: bytes) -> None:
    report, peer = deliver(tmp_path, dns, WITH_TLS[:4], server_context(*identities, common_name=cn),
                           files={f"tlshosts/{NAME}.pem": ca_pem()})
    assert report == text
    assert bytes(peer.only.received).endswith(b"STARTTLS\r\nQUIT\r\n")  # QUIT inside TLS


def test_certificate_from_another_authority(tmp_path: Path, dns: DnsServer) -> None:
    ctx = server_context(NAME, ca=trustme.CA())
    report, peer = deliver(tmp_path, dns, [G, EHLO_TLS, b"220 go ahead\r\n", TLS], ctx,
                           files={f"tlshosts/{NAME}.pem": ca_pem()})
    # eQmail's verify callback accepts: the handshake completes, QUIT goes out inside TLS,
    # and the report names the last verification error of the chain
    assert report == (b"ZTLS unable to verify server with " + PEM.encode()
                      + b": unable to verify the first certificate; connected to 127.0.0.1.\n\0")
    assert peer.only.tls_version is not None and peer.only.tls_close_notify is True
    assert bytes(peer.only.received).endswith(b"STARTTLS\r\nQUIT\r\n")


def test_required_but_not_offered(tmp_path: Path, dns: DnsServer) -> None:
    report, peer = deliver(tmp_path, dns, [G, EHLO], files={f"tlshosts/{NAME}.pem": ca_pem()})
    assert report == (b"ZNo TLS achieved while " + PEM.encode()
                      + b" exists; connecting to 127.0.0.1.\n\0")
    assert bytes(peer.only.received) == b"EHLO mx.test\r\nQUIT\r\n"


def test_required_but_rejected(tmp_path: Path, dns: DnsServer) -> None:
    report, peer = deliver(tmp_path, dns, [G, EHLO_TLS, b"454 TLS not available\r\n"],
                           files={f"tlshosts/{NAME}.pem": ca_pem()})
    assert report == (b"ZSTARTTLS rejected while " + PEM.encode() + b" exists; connecting to "
                      b"127.0.0.1.\nRemote host said: 454 TLS not available\n\0")
    assert bytes(peer.only.received) == b"EHLO mx.test\r\nSTARTTLS\r\nQUIT\r\n"


def test_unloadable_ca_file(tmp_path: Path, dns: DnsServer) -> None:
    report, _ = deliver(tmp_path, dns, [G, EHLO_TLS], files={f"tlshosts/{NAME}.pem": "not a pem\n"})
    assert report == (b"ZTLS unable to load " + PEM.encode() + b": error:05800088:x509 certificate "
                      b"routines::no certificate or crl found; connecting to 127.0.0.1.\n\0")


def test_handshake_failure(tmp_path: Path, dns: DnsServer) -> None:
    report, _ = deliver(tmp_path, dns, [G, EHLO_TLS, b"220 go ahead\r\n", CLOSE])
    assert report == (b"ZTLS connect failed: error:0A000126:SSL routines::unexpected eof while reading; "
                      b"connected to 127.0.0.1.\n\0")


# ------------------------------------------------------- port 465: broken, reproduced


def _can_listen(host: str, port: int) -> bool:
    try:
        with socket.create_server((host, port)):
            return True
    except OSError:
        return False


SMTPS_HOST = "127.0.0.46"
needs_465 = pytest.mark.skipif(not _can_listen(SMTPS_HOST, 465), reason="needs port 465 (root)")


def _smtps(tmp: Path, script: list[Item], version: str, timeout: str = "1") -> tuple[bytes, bytes, SmtpPeer]:
    with SmtpPeer([script], host=SMTPS_HOST, port=465, tls_context=server_context(NAME)) as peer:
        home = make_home(tmp, {"smtproutes": f"x.example:{SMTPS_HOST}:465\n", "timeoutremote": timeout})
        out, err = run_remote_both(home, "x.example", "s@y.org", "r@x.example",
                                   options=("--version", version))
    return out, err, peer


@needs_465
def test_465_in_108_waits_for_a_plaintext_greeting(tmp_path: Path) -> None:
    # a real SMTPS server waits for the ClientHello, 1.08 for a greeting: timeoutremote ends it
    out, err, peer = _smtps(tmp_path, [TLS, GREET(G), EHLO, *DELIVERY], "1.08")
    assert out == b"ZConnected to 127.0.0.46 but connection died. (#4.4.2)\n\0"
    assert b"port 465 (SMTPS) is broken in real eQmail" in err
    assert peer.only.tls_version is None


@needs_465
def test_465_in_108_works_only_with_a_greeting_before_tls(tmp_path: Path) -> None:
    out, _, peer = _smtps(tmp_path, [G, TLS, GREET(b"220 inside\r\n"), EHLO, *DELIVERY], "1.08", "30")
    assert out == b"r\0K127.0.0.46 accepted message.\nRemote host said: 250 queued\n\0"
    assert bytes(peer.only.received) == b"EHLO mx.test\r\n" + MAIL  # no STARTTLS, EHLO in TLS


@needs_465
def test_465_in_109_reads_an_uninitialised_code(tmp_path: Path) -> None:
    out, err, peer = _smtps(tmp_path, [TLS, GREET(G)], "1.09", "30")
    assert out == b"ZConnected to 127.0.0.46 but greeting failed.\n\0"  # nothing sent, no QUIT
    assert b"port 465" in err
