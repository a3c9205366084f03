"""Mount namespaces by system call (libc through ctypes), for the exec: fork server: a
session's private namespace costs two or three system calls instead of unshare(1), sh and
mount(8) (one process each, ~1 ms apiece). Linux only, as root. Python 3.11 has no
os.unshare (3.12 has), and no version has mount(2).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["private_mounts", "new_mounts", "enter_mounts", "bind"]

_CLONE_NEWNS = 0x00020000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def private_mounts() -> None:
    """Give this process its own copy of the mount table, in which no mount propagates
    (to the host or back): what `unshare --mount --propagation private` does. Mounts made
    afterwards are seen by this process and its children only."""
    new_mounts()
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")


def new_mounts() -> None:
    """A new copy of this process's mount table (unshare(CLONE_NEWNS)); in a copy of a
    private table no mount propagates either."""
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")


def enter_mounts(ns_fd: int) -> None:
    """Back into the mount table `ns_fd` (an open /proc/PID/ns/mnt); a single-threaded
    process only. It sets the working directory to that table's root (restore it)."""
    _check(_libc.setns(ns_fd, _CLONE_NEWNS), "setns(CLONE_NEWNS)")


def bind(source: str, target: str, *, recursive: bool = False) -> None:
    """`mount --bind source target` (`--rbind` if recursive: mounts under source come along)."""
    flags = _MS_BIND | (_MS_REC if recursive else 0)
    _check(_libc.mount(os.fsencode(source), os.fsencode(target), None, flags, None),
           f"mount --bind {source} {target}")
