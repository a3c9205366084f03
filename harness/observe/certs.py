"""TLS material for the fake relays, made at run time (nothing secret is committed): one
test CA per run issues each relay's certificate for the names its case gives; a second,
unrelated CA is what a case uses to make verification fail (`{other_ca}`)."""

from __future__ import annotations

import ssl
import threading
from functools import cache
from typing import Any

__all__ = ["ca_pem", "other_ca_pem", "server_context"]


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


def server_context(names: tuple[str, ...], cn: str = "") -> ssl.SSLContext:
    """A server context whose certificate (from the run's test CA) names `names` (DNS
    subjectAltNames) and `cn` (the commonName, if any)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _leaf(names, cn).configure_cert(ctx)
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
