"""qmail-remote's behaviour switches: where 1.08 and 1.09 differ (spec §0, §5.4-§5.6), and
the domainbindings paths that no surviving source settles (spec §6, §8).

A `RemoteSwitches` is derived from a `Version` (eqmail_ref.versions) so a version stays one
small set of flags; these could move into `Version` itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from eqmail_ref.versions import Version

__all__ = ["RemoteSwitches", "remote_switches", "NONLOCAL_CONNECT_FAILS", "NONLOCAL_PARSE_ERROR"]

# What a domainbindings address that is not one of this host's addresses does (§6, uncertain):
NONLOCAL_CONNECT_FAILS = "connect-fails"  # bind() fails: that address counts as a failed connect
NONLOCAL_PARSE_ERROR = "parse-error"  # Giam's variant checks ipme first: the "Unable to parse" Z


@dataclass(frozen=True, kw_only=True)
class RemoteSwitches:
    name: str
    # §5.5.1: 1.09 reads the greeting code: 5xx gives D, 4xx tries the next address.
    # 1.08 compares the function pointer instead, so every non-220 greeting is Z.
    greeting_code_checked: bool
    # §5.4: 1.09 (INET6) asks AAAA before A for each name and can connect over IPv6.
    ipv6: bool
    # §5.4: 1.09's stray `break`: only the first answer of each A query is looked at.
    a_first_answer_only: bool
    # §6: domainbindings exists only in 1.08.
    domainbindings: bool
    # §5.6.6: 1.09 checks the certificate's CN only when it has no DNS subjectAltName at
    # all (so a certificate with DNS names, none matching, passes); 1.08 checks the CN
    # whenever no DNS name matched.
    cn_only_without_dns_san: bool
    # §5.6.9: 1.09 disables SSLv2/SSLv3 on the client side.
    tls_no_sslv3: bool
    # eQmail's default build has TLS (EHLO + STARTTLS). False: a build with -DEHLO and no
    # TLS, as the verification binary was built (EHLO, never STARTTLS, port 465 is plain).
    tls_build: bool = True
    # §6 uncertain paths. `bind_nonlocal`: NONLOCAL_CONNECT_FAILS (Cazabon's patch, the
    # spec's preferred path) or NONLOCAL_PARSE_ERROR (Giam's ipme check).
    bind_nonlocal: str = NONLOCAL_CONNECT_FAILS
    # §6: a matched binding replaces helohost by the sender domain, even when that domain
    # is empty (null sender matching a catch-all `:ip`), as the only surviving code does.
    bind_sets_helo: bool = True


_BY_VERSION = {
    "1.08": RemoteSwitches(name="1.08", greeting_code_checked=False, ipv6=False,
                           a_first_answer_only=False, domainbindings=True,
                           cn_only_without_dns_san=False, tls_no_sslv3=False),
    "1.09": RemoteSwitches(name="1.09", greeting_code_checked=True, ipv6=True,
                           a_first_answer_only=True, domainbindings=False,
                           cn_only_without_dns_san=True, tls_no_sslv3=True),
}


def remote_switches(version: Version, *, tls_build: bool = True,
                    bind_nonlocal: str = NONLOCAL_CONNECT_FAILS) -> RemoteSwitches:
    if bind_nonlocal not in (NONLOCAL_CONNECT_FAILS, NONLOCAL_PARSE_ERROR):
        raise ValueError(f"bind_nonlocal must be {NONLOCAL_CONNECT_FAILS!r} or "
                         f"{NONLOCAL_PARSE_ERROR!r}, not {bind_nonlocal!r}")
    base = _BY_VERSION[version.name]
    return dataclasses.replace(base, domainbindings=version.domainbindings, tls_build=tls_build,
                               bind_nonlocal=bind_nonlocal)
