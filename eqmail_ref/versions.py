"""eQmail versions as small frozen sets of behaviour switches (spec §0).

A version is not a fork of the code: every place where 1.08 and 1.09 differ reads one of
these flags.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Version", "VERSIONS", "DEFAULT_VERSION", "get_version"]


@dataclass(frozen=True, kw_only=True)
class Version:
    name: str
    # §2.9: 1.08 sends base64 prompts "334 VXNlcm5hbWU6", 1.09 plain "334 Username:".
    base64_login_prompts: bool
    # §2.5: 1.09 gates MAIL on TCPLOCALPORT == SUBMISSIONPORT (default 587) with 530.
    submission_port: bool
    # §2.10: 1.09 answers 538 to AUTH unless TLS or the literal argument "cram-md5".
    tls_required: bool
    # §3.1: 1.08 crashes at startup without control/smtpplugins; 1.09 runs with no plugins.
    smtpplugins_missing_fatal: bool
    # §2.6: eQmail never calls the [rcpt] hook. True gives upstream qmail-spp behaviour.
    rcpt_hook_runs: bool = False
    # §4: 1.09's TLS patch also exports RELAYCLIENT= after client-certificate relaying.
    cert_relay_exports_env: bool
    # §4: 1.09 disables SSLv2/SSLv3 (moot with OpenSSL 3, kept for the record).
    tls_no_sslv3: bool
    # §6: domainbindings exists only in 1.08.
    domainbindings: bool
    # §2.11 localiphost: 1.08's ipme holds 0.0.0.0; 1.09 appends it without an address
    # family, so ipme_is() never matches it and [0.0.0.0] is not rewritten (verified).
    ipme_has_zero: bool


VERSIONS: dict[str, Version] = {
    "1.08": Version(
        name="1.08",
        base64_login_prompts=True,
        submission_port=False,
        tls_required=False,
        smtpplugins_missing_fatal=True,
        cert_relay_exports_env=False,
        tls_no_sslv3=False,
        domainbindings=True,
        ipme_has_zero=True,
    ),
    "1.09": Version(
        name="1.09",
        base64_login_prompts=False,
        submission_port=True,
        tls_required=True,
        smtpplugins_missing_fatal=False,
        cert_relay_exports_env=True,
        tls_no_sslv3=True,
        domainbindings=False,
        ipme_has_zero=False,
    ),
}

DEFAULT_VERSION = VERSIONS["1.08"]


def get_version(name: str) -> Version:
    """Return the named version; a clear error for an unknown one."""
    try:
        return VERSIONS[name]
    except KeyError:
        known = ", ".join(sorted(VERSIONS))
        raise ValueError(f"unknown eQmail version {name!r}: choose one of {known}") from None
