"""Tests use the harness's raw SMTP client."""

from tests.helpers.smtp_client import RawClient

__all__ = ["RawClient"]
