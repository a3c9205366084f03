"""The fake DNS server of the qmail-remote tests is the harness's (harness/observe/dns.py);
this name stays for the tests that import it."""

from harness.observe.dns import DnsServer, Zone

__all__ = ["DnsServer", "Zone"]
