"""A byte-exact Python reference of eQmail's qmail-smtpd and qmail-remote.

The cores are sans-IO: bytes and answers in, effects out (eqmail_ref.effects), each run by
the one generator pump (eqmail_ref.pump): qmail-smtpd is `smtpd.SmtpServer` (its globals
are `smtpd_session.Session`), qmail-remote is `remote.delivery.RemoteDelivery`. The shells
in `eqmail_ref.shell` perform the effects on real file descriptors, sockets and processes;
`inprocess` answers the server core from a script (selfcheck, tests, fuzzing); `cli` is
the `eqmail-ref` command.
"""

from eqmail_ref.versions import DEFAULT_VERSION, VERSIONS, Version

__all__ = ["DEFAULT_VERSION", "VERSIONS", "Version"]
