"""TLS material for the fake relays, made at run time (nothing secret is committed): one
test CA per run issues each relay's certificate for the names its case gives; a second,
unrelated CA is what a case uses to make verification fail (`{other_ca}`)."""

from __future__ import annotations

import ssl
import threading
from functools import cache
from typing import Any

__all__ = ["ca_pem", "other_ca_pem", "client_cert_pem", "server_context"]


_CAS: dict[str, Any] = {}
_CAS_LOCK = threading.Lock()


def _ca(which: str) -> Any:
    """One CA per name and run. Locked: cases run in threads, and two CAs made at once
    (functools.cache does not prevent it) gave a relay a certificate of another CA than
    the one the case's tlshosts file holds."""
    import trustme

    with _CAS_LOCK:
        if which not in _CAS:
            _CAS[which] = trustme.CA(key_type=trustme.KeyType.RSA, organization_name=f"qmc {which} CA")
        return _CAS[which]


def ca_pem() -> bytes:
    data: bytes = _ca("relay").cert_pem.bytes()
    return data


def other_ca_pem() -> bytes:
    data: bytes = _ca("other").cert_pem.bytes()
    return data


@cache
def _leaf(names: tuple[str, ...], cn: str) -> Any:
    import trustme

    return _ca("relay").issue_cert(*names, common_name=cn or None, key_type=trustme.KeyType.RSA)


@cache
def client_cert_pem() -> bytes:
    """`{client_cert}`: a client certificate of the run's client CA and its key, in one PEM
    file (what qmail-remote's control/clientcert.pem holds); commonName qmc-client."""
    import trustme

    leaf = _ca("client").issue_cert("qmc-client.test", common_name="qmc-client",
                                    key_type=trustme.KeyType.RSA)
    data: bytes = leaf.private_key_and_cert_chain_pem.bytes()
    return data


def server_context(names: tuple[str, ...], cn: str = "", *, tls_max: str = "",
                   client_ca: bool = False) -> ssl.SSLContext:
    """A server context whose certificate (from the run's test CA) names `names` (DNS
    subjectAltNames) and `cn` (the commonName, if any); `tls_max` caps the version (cipher
    lists apply to TLS 1.2 and below only); `client_ca` asks for a client certificate of
    the run's client CA (not required: a client without one goes on)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _leaf(names, cn).configure_cert(ctx)
    if tls_max:
        ctx.maximum_version = ssl.TLSVersion[tls_max.replace(".", "_")]
    if client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=_ca("client").cert_pem.bytes().decode())
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
