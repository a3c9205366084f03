"""A byte-exact Python reference of eQmail's qmail-smtpd (and, later, qmail-remote).

The cores (`smtpd.SmtpServer`) are sans-IO: bytes in, effects out. The shells in
`eqmail_ref.shell` perform the effects on real file descriptors and processes.
"""

from eqmail_ref.versions import DEFAULT_VERSION, VERSIONS, Version

__all__ = ["DEFAULT_VERSION", "VERSIONS", "Version"]
