"""What fuzzer workers share, AFL-style, through files alone (so workers on several machines
can share a directory too): the corpus directory, where each input that reached new
reply-code states is written atomically (a temporary name, then rename, so a reader never
sees half a file) under its content hash, and from which each worker takes, now and then,
what the others added; and the findings' claims, one file per signature created with
O_EXCL, so that of all workers that find one difference exactly one minimizes and saves it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["SharedCorpus", "claim_signature", "CLAIMS_DIR"]

CLAIMS_DIR = ".signatures"  # in the findings directory


class SharedCorpus:
    """A corpus directory of `<sha1 of the input>.bin` files, shared by workers. `known` are the
    names this worker has (read at start, written or taken since): only other names are new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: set[str] = set()

    def load(self) -> list[bytes]:
        """Every input in the directory, in name order (a run is reproducible from a corpus)."""
        return self.take_new()

    def add(self, body: bytes) -> bool:
        """Write `body` unless an input with its content is there already; False then."""
        name = f"{hashlib.sha1(body).hexdigest()}.bin"
        self.known.add(name)
        final = self.path / name
        if final.exists():
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        # a name no other worker (or machine) writes at once, and not *.bin: never taken half-written
        tmp = self.path / f".{name}.{os.getpid()}.{os.uname().nodename}.tmp"
        tmp.write_bytes(body)
        os.replace(tmp, final)
        return True

    def take_new(self) -> list[bytes]:
        """The inputs other workers added since the last call, in name order."""
        try:
            with os.scandir(self.path) as entries:  # every few hundred sessions: the cheapest listing
                new = sorted(e.name for e in entries if e.name.endswith(".bin") and e.name not in self.known)
        except FileNotFoundError:
            return []
        taken = []
        for name in new:
            try:
                taken.append((self.path / name).read_bytes())
            except FileNotFoundError:  # removed by hand meanwhile: nothing to take
                continue
            self.known.add(name)
        return taken


def claim_signature(out: Path, signature: str) -> bool:
    """True for the first caller, ever, with this signature in `out` (any worker, any machine
    on a shared directory); False for every later one, which only counts a hit."""
    claims = out / CLAIMS_DIR
    claims.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(signature.encode("utf-8", "surrogateescape")).hexdigest()
    try:
        fd = os.open(claims / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(signature + "\n")
    return True
