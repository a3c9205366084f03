"""Waiting for the observers' sockets: poll(), not select(), because a long run (a mutation
worker, a soak) reaches file descriptor numbers past select()'s 1023."""

from __future__ import annotations

import select
import socket

__all__ = ["first_readable"]


def first_readable(wake: socket.socket, work: socket.socket) -> bool:
    """Block until `wake` or `work` is readable; True when it is `wake` (stop now)."""
    poll = select.poll()
    poll.register(wake, select.POLLIN)
    poll.register(work, select.POLLIN)
    ready = {fd for fd, _ in poll.poll()}
    return wake.fileno() in ready
