"""OpenSSL's texts and behaviour as real eQmail on OpenSSL 3 shows them (spec §4, §5.6),
derived from the OpenSSL that Python's ssl is linked against (eqmail_ref/shell/openssl.py)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from eqmail_ref.shell import openssl
from harness.normalize import normalize_bytes
from tests.helpers.tls_material import authority, install_servercert

WRONG_VERSION = b"error:0A00010B:SSL routines::wrong version number"
NO_SHARED_CIPHER = b"error:0A0000C1:SSL routines::no shared cipher"
NO_FILE = b"error:FFFFFFFF80000002:system library::No such file or directory"


def _server_failure(client_hello: bytes | None, server_ciphers: str = "DEFAULT") -> ssl.SSLError:
    """A real server handshake through memory BIOs fed `client_hello` (None: EOF)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority().issue_cert("mx.test").configure_cert(ctx)
    ctx.set_ciphers(server_ciphers)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    if client_hello is None:
        incoming.write_eof()
    else:
        incoming.write(client_hello)
    with pytest.raises(ssl.SSLError) as info:
        tls.do_handshake()
    return info.value


def _client_hello(ciphers: str) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    with pytest.raises(ssl.SSLWantReadError):
        ctx.wrap_bio(incoming, outgoing).do_handshake()
    return outgoing.read()


def test_ctypes_reaches_the_openssl_of_python() -> None:
    assert openssl.available(), "libcrypto/libssl of _ssl not reachable: the fallback texts are in use"


def test_handshake_errors_are_openssl_3_texts() -> None:
    """Python names the error (WRONG_VERSION_NUMBER); eQmail prints ERR_error_string()."""
    wrong = _server_failure(b"NOOP this is not a TLS record\r\n")
    assert wrong.reason == "WRONG_VERSION_NUMBER"
    assert openssl.exception_text(wrong) == WRONG_VERSION
    cipher = _server_failure(_client_hello("ECDHE-RSA-AES128-GCM-SHA256"), "ECDHE-RSA-AES256-GCM-SHA384")
    assert openssl.exception_text(cipher) == NO_SHARED_CIPHER
    eof = _server_failure(None)
    assert openssl.exception_text(eof) == b"error:0A000126:SSL routines::unexpected eof while reading"
    assert openssl.code_of(ValueError("no OpenSSL error")) is None


def test_packing_is_openssl_3s() -> None:
    assert openssl.pack(20, 0x10B) == 0x0A00010B  # ERR_LIB_SSL = 20 -> 0x0A000000
    assert openssl.error_text(0x0A0000C1) == NO_SHARED_CIPHER


def test_system_errors_are_sign_extended_as_eqmail_prints_them() -> None:
    """eQmail keeps ERR_get_error() in an int: bit 31 of a system error extends to 64 bits."""
    assert openssl.eqmail_text(openssl.SYSTEM_FLAG | 2) == NO_FILE
    assert openssl.exception_text(FileNotFoundError(2, "x")) == NO_FILE
    assert openssl.error_text(openssl.SYSTEM_FLAG | 2) == b"error:80000002:system library::No such file or directory"


def test_fallback_without_ctypes_gives_the_same_ssl_texts() -> None:
    code = "\n".join([
        "from eqmail_ref.shell import openssl",
        "assert not openssl.available()",
        "print(openssl.error_text(0x0A00010B).decode())",
        "print(openssl.error_text(0x0A0000C1).decode())",
        "print(openssl.eqmail_text(openssl.SYSTEM_FLAG | 2).decode())",
    ])
    env = {**os.environ, "EQMAIL_REF_NO_CTYPES_OPENSSL": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    assert done.stdout.decode().splitlines() == [WRONG_VERSION.decode(), NO_SHARED_CIPHER.decode(),
                                                 NO_FILE.decode()]


def test_tls_init_failures_and_the_earliest_error(tmp_path: Path) -> None:
    """tls_init()'s order: the chain, clientca.pem and clientcrl.pem (failures ignored but
    queued), then the RSA key; tls_err() prints the earliest error of the queue."""
    control = tmp_path / "control"
    control.mkdir()
    queue = openssl.ErrorQueue()
    assert openssl.server_tls_init(tmp_path, queue) == b"missing certificate"
    assert queue.take() == NO_FILE
    queue.clear()
    (control / "servercert.pem").write_text("not a certificate\n")
    assert openssl.server_tls_init(tmp_path, queue) == b"missing certificate"
    assert queue.take() == b"error:0480006C:PEM routines::no start line"
    queue.clear()
    leaf = authority().issue_cert("mx.test")
    (control / "servercert.pem").write_bytes(leaf.cert_chain_pems[0].bytes())  # no key
    assert openssl.server_tls_init(tmp_path, queue) == b"no valid RSA private key"
    assert queue.take() == NO_FILE  # control/clientca.pem, not the key
    queue.clear()
    install_servercert(tmp_path)
    assert openssl.server_tls_init(tmp_path, queue) is None
    install_servercert(tmp_path, key_type="ec")
    assert openssl.server_tls_init(tmp_path, queue) == b"no valid RSA private key"


def test_verify_reports_the_last_error(tmp_path: Path) -> None:
    """qmail-remote's verify callback accepts: SSL_get_verify_result() holds the last error."""
    leaf = authority().issue_cert("relay.test")
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    other = tmp_path / "other.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    mine = tmp_path / "mine.pem"
    mine.write_bytes(authority().cert_pem.bytes())
    assert openssl.verify_last_error(other, [der]) == b"unable to verify the first certificate"
    assert openssl.verify_last_error(mine, [der]) is None


@pytest.mark.parametrize("old, new", [
    (b"454 TLS connection failed: error:1408F10B:SSL routines:ssl3_get_record:wrong version number (#4.3.0)\r\n",
     b"454 TLS connection failed: " + WRONG_VERSION + b" (#4.3.0)\r\n"),
    (b"454 TLS missing certificate: error:02001002:system library:fopen:No such file or directory (#4.3.0)\r\n",
     b"454 TLS missing certificate: " + NO_FILE + b" (#4.3.0)\r\n"),
    (b"ZTLS connect failed: error:1408A0C1:SSL routines:ssl3_get_client_hello:no shared cipher; "
     b"connected to 1.2.3.4.\n", b"ZTLS connect failed: " + NO_SHARED_CIPHER + b"; connected to 1.2.3.4.\n"),
])
def test_openssl_1x_texts_normalize_to_openssl_3s(old: bytes, new: bytes) -> None:
    used: set[str] = set()
    assert normalize_bytes(old, used) == new and used == {"openssl-1.x-error"}
    used.clear()
    assert normalize_bytes(new, used) == new and used == set()  # OpenSSL 3: byte for byte


def _smtpd_eof_in_handshake(home: Path, *flags: str) -> bytes:
    """`eqmail-ref smtpd` on a socket; the client says STARTTLS and hangs up."""
    install_servercert(home)
    (home / "control" / "me").write_text("mx.test\n")
    (home / "control" / "smtpplugins").write_text("")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = subprocess.Popen([sys.executable, "-m", "eqmail_ref", "smtpd", "--qmail-home", str(home),
                                 "--version", "1.09", *flags], stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL)
        theirs.close()
        ours.sendall(b"STARTTLS\r\n")
        ours.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := ours.recv(4096):
            out += chunk
        assert proc.wait(timeout=30) == 1
    return out


def test_eof_inside_the_handshake(tmp_path: Path) -> None:
    """OpenSSL 3: an alert (decode_error), then the 454 with its text in clear (measured with
    real eQmail 1.09); `--openssl 1.1`: no alert and no text, as OpenSSL 1.x builds did."""
    (tmp_path / "control").mkdir()
    head = b"220 mx.test ESMTP\r\n220 ready for tls\r\n"
    assert _smtpd_eof_in_handshake(tmp_path) == head + (
        b"\x15\x03\x03\x00\x02\x02\x32454 TLS connection failed: "
        b"error:0A000126:SSL routines::unexpected eof while reading (#4.3.0)\r\n")
    assert _smtpd_eof_in_handshake(tmp_path, "--openssl", "1.1") == head + b"454 TLS connection failed (#4.3.0)\r\n"


def test_an_openssl_1x_build_is_graded_by_the_cases_accepted_outcomes(tmp_path: Path) -> None:
    """The reference installed with `--openssl 1.1` (an exec: target, as a user's build on
    OpenSSL 1.1 would be) differs from the OpenSSL 3 reference on an EOF in the handshake;
    the cases accept that outcome. Needs root (exec: runs in a private mount namespace)."""
    from harness.cases import load_catalogue
    from harness.targets.ref_home import install_reference_home
    from harness.verdict import ACCEPTED, OK
    from tests.helpers.harness_util import run

    assert os.geteuid() == 0 or not os.environ.get("CI"), "exec: targets need root"
    if os.geteuid() != 0:
        pytest.skip("exec: targets need root for a private mount namespace")
    home = install_reference_home(tmp_path / "qhome", flags=("--version", "1.09", "--openssl", "1.1"))
    spec = f"exec:{home},version=1.09"
    cases = [c for c in load_catalogue().cases if c.id in ("5.1.15", "5.1.16", "7.5.16")]
    results = {r.case.id: r for r in run([spec], cases, jobs=2)}
    assert {i: r.verdict for i, r in results.items()} == {"5.1.15": OK, "5.1.16": ACCEPTED, "7.5.16": ACCEPTED}
    assert results["5.1.15"].reason == ""  # a wrong version number is the same in both
    for case_id in ("5.1.16", "7.5.16"):
        assert results[case_id].reason.startswith("accepted: a build on OpenSSL 1.x"), results[case_id].reason
