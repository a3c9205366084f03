"""Observers: what a case can see besides the SMTP replies (ARCHITECTURE.md, observers).

The incoming side's observers read the case's home after the session (home.py: the queue
capture, checkpassword's fd 3, the plugins' out/ files). The outgoing side's (qmail-remote
cases, categories 7 and 8): the fake upstream relay (relay.py), the fake DNS server (dns.py),
addresses of their own (addresses.py), the case's relay plans and zone turned into their
scripts and table (plan.py; the case model reads them, harness/cases/tables.py) and their
TLS material (certs.py)."""
