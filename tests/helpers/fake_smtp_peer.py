"""The scripted SMTP peer of the qmail-remote tests is the harness's fake relay
(harness/observe/relay.py); this name stays for the tests that import it."""

from harness.observe.relay import CLOSE, GREET, HANG, TLS, Item, PeerConnection, SmtpPeer

__all__ = ["SmtpPeer", "PeerConnection", "GREET", "TLS", "CLOSE", "HANG", "Item"]
