"""How a `docker:` target's files reach the container and come back: the case homes
(/qmc/<n>), the session and job scripts, our fixtures/bin, and afterwards what the
observers read (q/, out/, fd3).

Two ways, one interface:
* SharedFiles, when the engine runs on this machine (harness/targets/engine.py
  `on_this_machine`): a host directory of the target's own (removed at stop) is
  bind-mounted at /qmc, so uploading is a local copy and reading back a local read. The
  container runs as root on a rootful engine (or as our user on a rootless one), so what
  its programs write is ours to read and remove.
* ArchiveFiles, for an engine on another machine (tcp://) or `api-only`: put_archive and
  get_archive through the Engine API, one call each way per case.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["ArchiveFiles", "CaseFiles", "SharedFiles", "BACK", "tar", "tree"]

BACK = ("q", "out", "fd3")  # what the observers read in a case's home (harness.observe.home)


def tar(entries: dict[str, bytes | None], links: dict[str, str] | None = None, mode: int = 0o755) -> bytes:
    """A tar of directories (None), files and symlinks (name -> target), for put_archive."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                info.size, info.mode = len(data), mode
                archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return out.getvalue()


def tree(local: Path, prefix: str) -> dict[str, bytes | None]:
    entries: dict[str, bytes | None] = {prefix: None}
    for path in sorted(local.rglob("*")):
        name = f"{prefix}/{path.relative_to(local)}"
        entries[name] = None if path.is_dir() else path.read_bytes()
    return entries


class CaseFiles:
    """Paths are the container's (/qmc/...); `root` is where /qmc is."""

    root = "/qmc"

    def install(self, local: Path, where: str, dirs: list[str]) -> None:
        """The tree `local` at `where` (e.g. fixtures/bin), and empty directories `dirs`."""
        raise NotImplementedError

    def put_case(self, local: Path, workdir: str, files: dict[str, bytes], links: dict[str, str],
                 empty: list[str]) -> None:
        """A case's home at `workdir`, with `files` (scripts, mode 755), symlinks and `empty`
        directories added."""
        raise NotImplementedError

    def put(self, workdir: str, files: dict[str, bytes]) -> None:
        """A few more files (mode 755) into an uploaded case's home."""
        raise NotImplementedError

    def get(self, workdir: str, local: Path) -> None:
        """The files under BACK in `workdir`, into `local`."""
        raise NotImplementedError

    def host_path(self, path: str) -> Path | None:
        """Where a container path is on this machine, None if it is not here."""
        return None

    def close(self) -> None:
        """Remove what is ours; never raises."""


class SharedFiles(CaseFiles):
    def __init__(self, host: Path) -> None:
        self.host = host

    def host_path(self, path: str) -> Path:
        relative = PurePosixPath(path).relative_to(self.root)
        return self.host.joinpath(*relative.parts)

    def install(self, local: Path, where: str, dirs: list[str]) -> None:
        for name in dirs:
            self.host_path(name).mkdir(parents=True, exist_ok=True)
        shutil.copytree(local, self.host_path(where), symlinks=True, dirs_exist_ok=True)

    def put_case(self, local: Path, workdir: str, files: dict[str, bytes], links: dict[str, str],
                 empty: list[str]) -> None:
        home = self.host_path(workdir)
        shutil.copytree(local, home, symlinks=True, dirs_exist_ok=True)
        for name in empty:
            (home / name).mkdir(exist_ok=True)
        for name, target in links.items():
            link = home / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(link):  # a second upload of the same home (qmc load)
                link.symlink_to(target)
        self.put(workdir, files)

    def put(self, workdir: str, files: dict[str, bytes]) -> None:
        home = self.host_path(workdir)
        for name, data in files.items():
            path = home / name
            path.write_bytes(data)
            path.chmod(0o755)

    def get(self, workdir: str, local: Path) -> None:
        home = self.host_path(workdir)
        for top in BACK:  # a directory (q/, out/) or a file (fd3)
            found = [home / top] + [Path(d) / n for d, _dirs, names in os.walk(home / top) for n in names]
            for source in found:
                if source.is_symlink() or not source.is_file():
                    continue  # only what the programs wrote, never a link out of the home
                target = local / source.relative_to(home)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def close(self) -> None:
        shutil.rmtree(self.host, ignore_errors=True)


class ArchiveFiles(CaseFiles):
    def __init__(self, container: Any, api: Callable[..., Any]) -> None:
        self.container = container
        self.api = api  # (what, call, *args): an engine call whose failure is a TargetFault

    def install(self, local: Path, where: str, dirs: list[str]) -> None:
        entries: dict[str, bytes | None] = {d.strip("/"): None for d in [self.root, *dirs]}
        self.container.put_archive("/", tar({**entries, **tree(local, where.strip("/"))}))

    def put_case(self, local: Path, workdir: str, files: dict[str, bytes], links: dict[str, str],
                 empty: list[str]) -> None:
        top = workdir.strip("/")
        entries = {**tree(local, top), **{f"{top}/{name}": data for name, data in files.items()}}
        for name in empty:
            entries.setdefault(f"{top}/{name}", None)
        self.api("uploading the case", self.container.put_archive, "/",
                 tar(entries, {f"{top}/{name}": target for name, target in links.items()}))

    def put(self, workdir: str, files: dict[str, bytes]) -> None:
        self.api("uploading the job", self.container.put_archive, workdir, tar(dict(files)))

    def get(self, workdir: str, local: Path) -> None:
        stream, _ = self.api("reading the case's files back", self.container.get_archive, workdir)
        data = b"".join(stream)
        top = PurePosixPath(workdir).name
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                parts = PurePosixPath(member.name).parts
                if not member.isfile() or parts[:1] != (top,) or ".." in parts or len(parts) < 2:
                    continue
                if parts[1] not in BACK:
                    continue
                target = local.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                target.write_bytes(source.read() if source else b"")
