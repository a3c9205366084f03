"""The unit layer's rule, enforced: no process and no network socket (a socketpair is
fine). A unit test that starts a program or binds/connects a socket fails with a pointer to
tests/integration/ (tests/README.md)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test must not {what}: put it under tests/integration/ (tests/README.md)")

    return refuse


@pytest.fixture(autouse=True)
def no_process_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse("start a process"))
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _refuse("start a process"))
    for name in ("bind", "connect", "connect_ex", "listen"):
        monkeypatch.setattr(socket.socket, name, _refuse("open a network socket"))
