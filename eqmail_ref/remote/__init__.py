"""The reference qmail-remote (spec §5, §6): one delivery from routing to the report.

The sans-IO core is `delivery.RemoteDelivery` (main(): routing, DNS, the addresses to
try) with `dialogue.Dialogue` (smtp(): one connected server, STARTTLS, relay AUTH, the
body); its requests and answers are in `requests`, and it runs on eqmail_ref.pump like
qmail-smtpd's core. The pure parts: `routes` (smtproutes, domainbindings), `resolve`
(dns.c), `snapshot` (control files), `switches` (1.08/1.09 differences), `tls_rules`,
`body` (blast()), `report` (the r/h/s and K/Z/D texts). The shell is
eqmail_ref.shell.remote_main (`eqmail-ref remote`).
"""
