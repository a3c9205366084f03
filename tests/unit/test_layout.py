"""The unit layer's guard (tests/unit/conftest.py) refuses processes and network sockets and
lets a socketpair through; and every test file sits in unit/ or integration/."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def test_a_process_is_refused() -> None:
    with pytest.raises(AssertionError, match="must not start a process"):
        subprocess.run(["true"], check=False)


def test_a_network_socket_is_refused() -> None:
    with socket.socket() as s, pytest.raises(AssertionError, match="must not open a network socket"):
        s.bind(("127.0.0.1", 0))


def test_a_socketpair_is_allowed() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"250 ok\r\n")
        assert b.recv(16) == b"250 ok\r\n"


def test_test_files_are_in_unit_or_integration() -> None:
    stray = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert stray == [], f"move these into tests/unit/ or tests/integration/ (tests/README.md): {stray}"
