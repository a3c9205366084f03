"""Images without a registry: a Debian base made with debootstrap and imported into the local
engine, then one small Containerfile per image on top of it.

    localhost/qmc/base:bookworm          debootstrap --variant=minbase (made once, then reused)
    localhost/qmc/eqmail-ref:latest      + python3, ucspi-tcp, openssl + this project's eqmail_ref
    localhost/qmc/postfix|exim4|opensmtpd:latest   Debian's packages, for side-by-side baselines

The Debian mirror is read at run time from the machine's apt sources (never written here).
Every command is printed before it runs; a failure says which step and what to do.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, TargetFault
from harness.resources import EQMAIL_REF_DIR, IMAGES_DIR
from harness.targets.engine import podman_env

__all__ = ["BASE", "CACHE", "IMAGES", "Cli", "base_tarball", "build", "build_image", "debian_mirror",
           "engine_cli", "image_exists"]

HERE = IMAGES_DIR
BASE = "localhost/qmc/base:bookworm"
IMAGES = {name: f"localhost/qmc/{'eqmail-ref' if name == 'ref' else name}:latest"
          for name in ("ref", "postfix", "exim4", "opensmtpd")}
# the debootstrap tarball, shared by the engines (QMC_CACHE moves it)
CACHE = Path(os.environ.get("QMC_CACHE", "/var/cache/qmc"))
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# the reference's entry point inside the image, as the console script would be
ENTRY = '#!/bin/sh\nexec python3 -m eqmail_ref "$@"\n'
# ... and as programs with /var/qmail "compiled in" (the failed-AUTH pause scaled to 0, as `ref`)
QMAIL = '#!/bin/sh\nexec python3 -m eqmail_ref {} --qmail-home /var/qmail {}"$@"\n'
SCRIPTS = {"eqmail-ref": ENTRY, "qmail-smtpd": QMAIL.format("smtpd", "--auth-sleep-scale 0 "),
           "qmail-remote": QMAIL.format("remote", "")}


class BuildError(HarnessError):
    """An image build step failed; the message names the step."""


def debian_mirror(sources: tuple[Path, ...] = SOURCES) -> str:
    """The first Debian mirror serving the plain bookworm suite in the machine's apt sources."""
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if path.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                suites, uris = fields.get("Suites", "").split(), fields.get("URIs", "").split()
                if "deb" in fields.get("Types", "").split() and "bookworm" in suites and uris:
                    return str(uris[0])
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
                if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                    return words[1]
    raise BuildError(f"no Debian bookworm mirror in {' or '.join(map(str, sources))}: "
                     "add one to the apt sources, or set QMC_DEBIAN_MIRROR=URL")


@dataclass(frozen=True, kw_only=True)
class Cli:
    """The engine's command-line tool and its environment: podman works on its store
    directly; docker talks to the engine at DOCKER_HOST."""

    argv0: str
    env: dict[str, str]


def engine_cli(engine: str = "") -> Cli:
    """The CLI for the engine `engine` names (harness/targets/engine.py's choice: podman, docker, a
    URL, or "" for the default, as docker: targets choose), so that images land in the store
    the target will use."""
    from harness.targets.engine import client, is_podman

    try:
        api = client(engine)
    except TargetFault as exc:
        raise BuildError(str(exc)) from None
    podman, url = is_podman(api), api.qmc_choice.url
    api.close()
    if podman:
        if not shutil.which("podman"):
            raise BuildError("the podman CLI is missing: apt-get install podman")
        return Cli(argv0="podman", env=podman_env())  # the CLI works on the service's store
    if not shutil.which("docker"):
        raise BuildError("the docker CLI is missing: apt-get install docker.io")
    # DOCKER_BUILDKIT=0: the classic builder, which every dockerd has (no buildx plugin)
    return Cli(argv0="docker", env={**os.environ, "DOCKER_HOST": url, "DOCKER_BUILDKIT": "0"})


def _run(argv: list[str], cli: Cli, *, stdin: int | None = None, what: str) -> None:
    print("+", shlex.join(argv), flush=True)
    try:
        done = subprocess.run(argv, stdin=stdin, env=cli.env)
    except OSError as exc:
        raise BuildError(f"{what}: cannot run {argv[0]}: {exc}") from exc
    if done.returncode:
        raise BuildError(f"{what} failed (exit {done.returncode}); the output above says why")


def _image_id(ref: str, cli: Cli | None = None) -> str:
    cli = cli or engine_cli()
    argv = [cli.argv0, "image", "inspect", "--format", "{{.Id}}", ref]
    done = subprocess.run(argv, capture_output=True, env=cli.env)
    return done.stdout.decode().strip() if done.returncode == 0 else ""


def image_exists(ref: str, cli: Cli | None = None) -> bool:
    return bool(_image_id(ref, cli))


def base_tarball(*, force: bool = False) -> Path:
    """The debootstrap root as a tar, made once and kept: every engine imports the same one."""
    tarball = CACHE / "base-bookworm.tar"
    if tarball.exists() and not force:
        return tarball
    if not shutil.which("debootstrap"):
        raise BuildError("debootstrap is missing: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root")
    mirror = os.environ.get("QMC_DEBIAN_MIRROR") or debian_mirror()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qmc-base-") as tmp:
        root = Path(tmp) / "rootfs"
        host = Cli(argv0="", env={**os.environ})
        _run(["debootstrap", "--variant=minbase", "bookworm", str(root), mirror], host, what="debootstrap")
        # apt lists and downloaded .debs are 80 MB the images never need
        for junk in (root / "var/lib/apt/lists", root / "var/cache/apt/archives"):
            for entry in junk.glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(f".{os.getpid()}.part")
        _run(["tar", "-C", str(root), "-cf", str(partial), "."], host, what="tar of the debootstrap root")
        partial.replace(tarball)
    return tarball


def build_base(cli: Cli, *, force: bool = False) -> None:
    if not force and image_exists(BASE, cli):
        print(f"base image {BASE} exists: reused (--force-base rebuilds it)", flush=True)
        return
    tarball = base_tarball(force=force)
    print(f"+ {cli.argv0} import - {BASE} < {tarball}", flush=True)
    with open(tarball, "rb") as data:
        _run([cli.argv0, "import", "-", BASE], cli, stdin=data.fileno(), what="import of the base")


def _context(name: str, tmp: Path) -> Path:
    """The build context: the Containerfile and, for the reference, this project's package."""
    shutil.copy(HERE / f"{name}.Containerfile", tmp / "Containerfile")
    if name == "ref":
        shutil.copytree(EQMAIL_REF_DIR, tmp / "eqmail_ref",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for script, text in SCRIPTS.items():
            (tmp / script).write_text(text)
            (tmp / script).chmod(0o755)
    return tmp / "Containerfile"


def build(name: str, *, force_base: bool = False, engine: str = "") -> str:
    """Build image `name` (ref, postfix, exim4, opensmtpd) in the store of the engine `engine`
    names (harness/targets/engine.py; "" for the default); returns its reference."""
    if name not in IMAGES:
        raise BuildError(f"unknown image {name!r}: one of {', '.join(IMAGES)}")
    cli = engine_cli(engine)
    build_base(cli, force=force_base)
    before = _image_id(IMAGES[name], cli)
    with tempfile.TemporaryDirectory(prefix="qmc-build-") as tmp:
        containerfile = _context(name, Path(tmp))
        build_image(cli, IMAGES[name], containerfile, Path(tmp))
    if before and before != _image_id(IMAGES[name], cli):
        # the previous build, now untagged: drop it unless a container still uses it
        subprocess.run([cli.argv0, "rmi", before], capture_output=True, env=cli.env)
    print(f"built {IMAGES[name]}", file=sys.stderr, flush=True)
    return IMAGES[name]


def build_image(cli: Cli, tag: str, containerfile: Path, context: Path) -> None:
    # --network host: RUN apt-get resolves and fetches as this machine does (a bridge may
    # not reach the resolver in resolv.conf); nothing else runs during a build
    _run([cli.argv0, "build", "--network", "host", "-t", tag, "-f", str(containerfile), str(context)], cli,
         what=f"build of {tag}")
