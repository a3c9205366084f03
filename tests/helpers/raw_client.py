"""Tests use the harness's raw SMTP client."""

from harness.smtp_client import RawClient

__all__ = ["RawClient"]
