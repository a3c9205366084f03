"""Observers of the outgoing side (qmail-remote cases, categories 7 and 8): the fake upstream
relay (relay.py), the fake DNS server (dns.py), loopback addresses of their own
(addresses.py), the case's relay plans and zone turned into their scripts and table
(plan.py; the case model reads them, harness/cases/tables.py) and their TLS material
(certs.py). The incoming side's observers read the case's home (harness/observe.py)."""
