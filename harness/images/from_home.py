"""`qmc image --from-home DIR --tag TAG`: an installed qmail, packaged as an image for the
`docker:` target, from the registry-free base (harness/images/build.py) and this machine's
own Debian packages; nothing is compiled or fetched but those packages.

What goes in:
* the tree, with its owners (numeric, as install put them) and modes; files under queue/
  are left out (messages of this machine), its directories kept;
* the qmail users and groups with the ids the binaries were compiled with (qmail's install
  makes the files' owners from the same ids): this machine's accounts of those names, the
  owners of the tree's files, or `--uids alias=7790:2108,qmaild=7791:2108,qmail=2107`
  (USER=UID:GID, GROUP=GID);
* the Debian packages that hold what the programs need: the shared libraries `ldd` names,
  script interpreters and the absolute paths scripts run (`dpkg -S` here), plus ucspi-tcp
  (one tcpserver per session) and openssl, and any `--package`; a library no package holds
  (/usr/local, the home's own) is copied in at its path.

The image is labelled with the home, so `qmc run -t docker:TAG` needs no `home=`.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.images.build import BASE, BuildError, build_base, build_image, engine_cli

__all__ = ["Account", "HomePlan", "image_from_home", "parse_uids", "plan_home"]

QMAIL_USERS = ("alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails")
QMAIL_GROUPS = ("qmail", "nofiles")
ALWAYS = ("ucspi-tcp", "openssl")
HOME_LABEL = "org.qmail-conformance.home"
KIND_LABEL = "org.qmail-conformance.kind"
_LDD_PATH = re.compile(rb"(?:=>\s*)?(/\S+)\s+\(0x")


@dataclass(frozen=True, kw_only=True)
class Account:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True, kw_only=True)
class HomePlan:
    """What the image of `home` holds, worked out from this machine before anything is built."""

    home: Path
    users: tuple[Account, ...]
    groups: dict[str, int]
    packages: tuple[str, ...]
    copied: tuple[Path, ...]  # needed files no Debian package holds
    notes: tuple[str, ...] = field(default=())


def parse_uids(text: str) -> tuple[list[Account], dict[str, int]]:
    """`alias=7790:2108,qmail=2107` -> users and groups; a clear error for anything else."""
    users: list[Account] = []
    groups: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"([a-z_][a-z0-9_-]*)=(\d+)(?::(\d+))?", item)
        if not match:
            raise BuildError(f"--uids: {item!r} is not USER=UID:GID or GROUP=GID")
        name, first, second = match.groups()
        if second is None:
            groups[name] = int(first)
        else:
            users.append(Account(name=name, uid=int(first), gid=int(second)))
    return users, groups


def _add_group(groups: dict[str, int], name: str, gid: int) -> None:
    """A group by this machine's name for `gid`, unless that name is taken by another id."""
    groups[name if groups.get(name, gid) == gid else f"g{gid}"] = gid


def _accounts(home: Path, uids: str) -> tuple[tuple[Account, ...], dict[str, int], list[str]]:
    given_users, given_groups = parse_uids(uids)
    users = {a.name: a for a in given_users}
    groups = dict(given_groups)
    notes: list[str] = []
    # --uids replaces this machine's qmail accounts (mixing two installs' ids would be wrong)
    for name in () if uids.strip() else QMAIL_USERS:
        if name not in users:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            users[name] = Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    for name in () if uids.strip() else QMAIL_GROUPS:
        if name not in groups:
            try:
                groups[name] = grp.getgrnam(name).gr_gid
            except KeyError:
                pass
    owners: set[tuple[int, int]] = set()
    for path in [home, *home.rglob("*")]:
        st = path.lstat()
        owners.add((st.st_uid, st.st_gid))
    known_uids = {a.uid for a in users.values()}
    known_gids = set(groups.values()) | {a.gid for a in users.values()}
    for uid, gid in sorted(owners):
        if uid and uid not in known_uids:
            try:
                entry = pwd.getpwuid(uid)
                users[entry.pw_name] = Account(name=entry.pw_name, uid=uid, gid=entry.pw_gid)
                known_uids.add(uid)
            except KeyError:
                notes.append(f"uid {uid} owns files but has no name here: kept as a number (--uids names it)")
        if gid and gid not in known_gids:
            try:
                _add_group(groups, grp.getgrgid(gid).gr_name, gid)
                known_gids.add(gid)
            except KeyError:
                notes.append(f"gid {gid} owns files but has no name here: kept as a number (--uids names it)")
    for account in users.values():  # a user's primary group must exist in the image
        if account.gid and account.gid not in set(groups.values()):
            try:
                _add_group(groups, grp.getgrgid(account.gid).gr_name, account.gid)
            except KeyError:
                _add_group(groups, f"g{account.gid}", account.gid)
    missing = [n for n in QMAIL_USERS if n not in users]
    if missing:
        notes.append(f"no uid for {', '.join(missing)} (no such account here, not in --uids): "
                     "the image has none; qmail-smtpd's checks do not need them")
    return tuple(sorted(users.values(), key=lambda a: a.uid)), groups, notes


def _needed_paths(home: Path) -> tuple[set[Path], list[str]]:
    """Files outside the home that the home's programs need: ldd's libraries of its ELF
    files, its scripts' interpreters and the absolute paths they name."""
    needed: set[Path] = set()
    notes: list[str] = []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.is_symlink() or not os.access(path, os.X_OK):
            continue
        with open(path, "rb") as f:
            head = f.read(4096)
        if head.startswith(b"\x7fELF"):
            done = subprocess.run(["ldd", str(path)], capture_output=True)
            if done.returncode and b"not a dynamic executable" not in done.stdout + done.stderr:
                notes.append(f"ldd {path}: {done.stderr.decode(errors='replace').strip()}")
            for line in done.stdout.splitlines():
                if b"not found" in line:
                    notes.append(f"{path}: {line.decode(errors='replace').strip()} here either")
                match = _LDD_PATH.search(line)
                if match:
                    needed.add(Path(os.fsdecode(match.group(1))))
        elif head.startswith(b"#!"):
            words = re.findall(rb"(?<![\w./-])(/[\w./+-]+)", head)
            for word in words:
                candidate = Path(os.fsdecode(word))
                inside = candidate == home or home in candidate.parents
                if not inside and candidate.is_file() and os.access(candidate, os.X_OK):
                    needed.add(candidate)
    return needed, notes


def _package_of(path: Path) -> str:
    """The Debian package holding `path` (tried as named and resolved: /usr is merged), or ""."""
    tries = [str(path), str(path.resolve())]
    for t in list(tries):
        if t.startswith("/usr/"):
            tries.append(t[4:])
        else:
            tries.append("/usr" + t)
    for candidate in dict.fromkeys(tries):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True)
        for line in done.stdout.decode().splitlines() if done.returncode == 0 else []:
            if not line.startswith("diversion by "):  # dpkg-divert's lines name no owner
                return line.split(": ", 1)[0].split(",")[0].split(":")[0].strip()
    return ""


def plan_home(home: Path, *, uids: str = "", packages: tuple[str, ...] = ()) -> HomePlan:
    home = home.resolve()
    if not home.is_dir():
        raise BuildError(f"--from-home {home}: no such directory")
    if not (home / "bin").is_dir():
        raise BuildError(f"--from-home {home}: no bin/ in it: not a qmail home")
    users, groups, notes = _accounts(home, uids)
    needed, more = _needed_paths(home)
    notes += more
    found: dict[str, None] = dict.fromkeys(packages)
    copied: list[Path] = []
    for path in sorted(needed):
        package = _package_of(path)
        if package:
            found[package] = None
        else:
            copied.append(path)
            notes.append(f"{path}: in no Debian package here: copied into the image")
    for package in ALWAYS:
        found.setdefault(package, None)
    return HomePlan(home=home, users=users, groups=groups, packages=tuple(found), copied=tuple(copied),
                    notes=tuple(notes))


def _containerfile(plan: HomePlan) -> str:
    lines = [f"# made by `qmc image --from-home {plan.home}` (harness/images/from_home.py)",
             f"FROM {BASE}"]
    # the packages first: that layer is the same for every home needing them (the build cache)
    lines.append("RUN apt-get update -qq \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                 "--no-install-recommends " + " ".join(shlex.quote(p) for p in plan.packages) +
                 " >/dev/null \\\n && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb")
    steps = [f"groupadd -f -o -g {gid} {shlex.quote(name)}" for name, gid in sorted(plan.groups.items())]
    steps += [f"useradd -o -M -N -u {a.uid} -g {a.gid} -d {shlex.quote(str(plan.home))} "
              f"-s /usr/sbin/nologin {shlex.quote(a.name)}" for a in plan.users]
    if steps:
        lines.append("RUN " + " \\\n && ".join(steps))
    # ADD unpacks a local tar with its numeric owners and modes
    lines.append("ADD tree.tar /")
    lines.append(f'LABEL {KIND_LABEL}="qmail-home" {HOME_LABEL}="{plan.home}"')
    lines.append('CMD ["/bin/sh", "-c", "echo a qmail home for the qmc docker: target; exec sleep infinity"]')
    return "\n".join(lines) + "\n"


def _tree_tar(plan: HomePlan, out: Path) -> None:
    def numeric(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        info.uname = info.gname = ""  # owners by number: the compiled-in ids, not names
        parts = Path(info.name).relative_to(str(plan.home).lstrip("/")).parts
        if parts[:1] == ("queue",) and info.isfile():
            return None
        return info

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(plan.home, arcname=str(plan.home).lstrip("/"), filter=numeric)
        for path in plan.copied:
            tar.add(path.resolve(), arcname=str(path).lstrip("/"))


def image_from_home(home: Path, tag: str, *, uids: str = "", packages: tuple[str, ...] = (),
                    engine: str = "") -> str:
    """Build the image; returns the `qmc run` line that uses it."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", tag):
        raise BuildError(f"--tag {tag!r}: an image name, e.g. localhost/me/eqmail:1.09")
    plan = plan_home(home, uids=uids, packages=packages)
    print(f"qmail home {plan.home}", flush=True)
    for account in plan.users:
        print(f"  user {account.name} {account.uid}:{account.gid}", flush=True)
    for name, gid in sorted(plan.groups.items()):
        print(f"  group {name} {gid}", flush=True)
    print(f"  packages {' '.join(plan.packages)}", flush=True)
    for note in plan.notes:
        print(f"  note: {note}", flush=True)
    cli = engine_cli(engine)
    build_base(cli)
    with tempfile.TemporaryDirectory(prefix="qmc-image-") as tmp:
        context = Path(tmp)
        (context / "Containerfile").write_text(_containerfile(plan))
        _tree_tar(plan, context / "tree.tar")
        build_image(cli, tag, context / "Containerfile", context)
    spec = f"docker:{tag}" + (f",engine={engine}" if engine else "")
    return f"qmc run -t {shlex.quote(spec)}"
