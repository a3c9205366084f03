"""TLS material generated at test time (nothing secret is committed)."""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path

import trustme


@cache
def authority() -> trustme.CA:
    return trustme.CA(key_type=trustme.KeyType.RSA)


def install_servercert(home: Path, *, key_type: str = "rsa") -> None:
    """control/servercert.pem: the certificate chain and its private key in one file."""
    kind = trustme.KeyType.RSA if key_type == "rsa" else trustme.KeyType.ECDSA
    leaf = authority().issue_cert("mx.test", key_type=kind)
    (home / "control" / "servercert.pem").write_bytes(leaf.private_key_and_cert_chain_pem.bytes())


def client_context(*, ciphers: str | None = None, tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority().configure_trust(ctx)
    ctx.check_hostname = False
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def ca_file(tmp: Path) -> Path:
    path = tmp / "ca.pem"
    path.write_bytes(authority().cert_pem.bytes())
    return path


def client_cert_files(tmp: Path, email: str | None) -> tuple[Path, Path]:
    """A client certificate signed by the test CA, with emailAddress in the subject."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    ca = authority()
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [x509.NameAttribute(NameOID.COMMON_NAME, "client.test")]
    if email:
        names.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name(names))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    cert_path, key_path = tmp / "client.pem", tmp / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path
