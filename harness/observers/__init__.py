"""Observers of the outgoing side (qmail-remote cases, categories 7 and 8): the fake upstream
relay (relay.py), the fake DNS server (dns.py), loopback addresses of their own
(addresses.py), the case tables that script them (plan.py) and their TLS material
(certs.py). The incoming side's observers read the case's home (harness/observe.py)."""
