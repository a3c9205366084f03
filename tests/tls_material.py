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
