"""A qmail image's sessions for `docker:IMAGE` (harness/targets/docker_.py): how a qmail
whose programs have their home compiled in (`home=`, default /var/qmail) runs a case whose
home is /qmc/<n>, without changing the image's files.

Each session runs in its own mount namespace (`unshare -m` inside the container, which is
why such a container gets CAP_SYS_ADMIN) where /qmc/<n> is bind-mounted over HOME; the
case's bin/ is the image's HOME/bin bound there, or, when the case brings bin/ files of its
own, holds symlinks to the image's HOME/bin programs (bound at /qmc/qmail-bin in that
namespace) beside them: the program reads the case's control files, sessions stay
independent and concurrent. A case home's sessions after its first two share one such
namespace, made once for a tcpserver of the home's own (harness/targets/docker_case_servers.py).

qmail-remote asks the resolver of /etc/resolv.conf: a case with a DNS server (categories
7-8, harness/targets/docker_net.py) gets a resolv.conf naming it in its home, bind-mounted
over /etc/resolv.conf in the same namespace.

Pure: argv and file contents; docker_.py writes and runs them.
"""

from __future__ import annotations

from pathlib import Path

from harness.targets.base import resolv_conf

__all__ = ["LINKED_BIN", "RESOLV", "bin_layout", "qmail_argv", "resolv_files"]

# $1 = case home, $2 = qmail home, then the program and its args. A case with bin/ files of
# its own gets links to the image's programs beside them, bound at /qmc/qmail-bin first (a
# few cases); any other case has an empty bin/, where the image's HOME/bin is bound whole (a
# real home has ~46 programs: a link each would cost more than the session). Then the case
# home goes over HOME (--rbind: with its submounts).
LINKED_BIN = "/qmc/qmail-bin"
_MOUNT = ('set -e; own() { [ -e "$1" ] || [ -L "$1" ]; }; if [ -d "$2/bin" ]; then '
          'if own "$1"/bin/*; then mount --bind "$2/bin" ' + LINKED_BIN + '; '
          'else mount --bind "$2/bin" "$1/bin"; fi; fi; '
          'mount --rbind "$1" "$2"; shift 2; exec "$@"')
# the case's resolv.conf, in its home, over /etc/resolv.conf in the same namespace
RESOLV = ".resolv.conf"
_MOUNT_DNS = ('set -e; [ -e /etc/resolv.conf ] || : >/etc/resolv.conf; '
              f'mount --bind "$1/{RESOLV}" /etc/resolv.conf; ' + _MOUNT[len("set -e; "):])


def qmail_argv(case_dir: str, home: str, argv: list[bytes], *, dns: bool) -> list[bytes]:
    """`argv` (a program and its args) in a mount namespace of its own where `case_dir` is
    `home` (and, with `dns`, the case's resolv.conf is /etc/resolv.conf)."""
    mount = _MOUNT_DNS if dns else _MOUNT
    return [b"unshare", b"--mount", b"--propagation", b"private", b"sh", b"-c", mount.encode(), b"sh",
            case_dir.encode(), home.encode(), *argv]


def bin_layout(local: Path, bin_names: list[str]) -> tuple[dict[str, str], list[str]]:
    """(symlinks, empty directories) to add to a case's home: links to the image's HOME/bin
    programs (`bin_names`) the case's own bin/ lacks, else an empty bin/ where the session
    binds the image's HOME/bin (_MOUNT)."""
    if bin_names and (local / "bin").is_dir():
        return {f"bin/{name}": f"{LINKED_BIN}/{name}" for name in bin_names
                if not (local / "bin" / name).exists()}, []
    return {}, ["bin"]


def resolv_files(spec: str, dns_server: str) -> dict[str, bytes]:
    """The files a qmail-remote session adds to the case's home: its resolv.conf, if any."""
    return {RESOLV: resolv_conf(spec, dns_server)} if dns_server else {}
