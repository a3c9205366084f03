"""`golden:DIR`: transcripts recorded earlier (`qmc record`), replayed as a target. Diffing a
golden directory against another target (or against today's reference) shows what changed:
the regression gate for the reference's own behaviour (fixtures/golden/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.cases import Case, StepKind
from harness.errors import TargetSpecError
from harness.fixtures import Fixture
from harness.targets.base import RefOptions, Running, Target
from harness.transcript import Transcript

__all__ = ["GoldenTarget", "write_golden", "GOLDEN_INDEX"]

GOLDEN_INDEX = "index.json"


class GoldenTarget(Target):
    kind = "golden"
    runs_remote = True

    def __init__(self, spec: str, directory: str) -> None:
        self.spec = spec
        self.name = spec
        self.dir = Path(directory)
        self.index: dict[str, Any] = {}

    def start(self) -> None:
        try:
            self.index = json.loads((self.dir / GOLDEN_INDEX).read_text())
        except (OSError, ValueError) as exc:
            raise TargetSpecError(f"{self.spec}: {self.dir / GOLDEN_INDEX} is not a golden index "
                                  f"written by `qmc record` ({exc})") from exc
        self.ref = RefOptions(version=self.index.get("version", "1.08"),
                              tls_build=self.index.get("tls_build", True))

    def recorded(self, case: Case) -> Transcript | None:
        path = self.dir / f"{case.id}.json"
        if not path.exists():
            t = Transcript(target=self.name, case_id=case.id, version=self.ref.version)
            t.error = f"no recording of case {case.id} in {self.dir}"
            return t
        t = Transcript.from_json(json.loads(path.read_text()))
        t.target = self.name
        return t

    def smtpd(self, fx: Fixture) -> Running:
        raise NotImplementedError("golden targets replay recordings")


def write_golden(directory: Path, target: Target, transcripts: list[Transcript]) -> None:
    """One JSON file per case (sorted keys, stable for review) and an index of every case
    recorded there (this time and, for the same version, before)."""
    directory.mkdir(parents=True, exist_ok=True)
    from harness.diff import normalized

    for t in transcripts:
        # normalized (dates, pids, challenges): re-recording changes a file only when the
        # behaviour changed, so a review diff shows exactly that
        data = normalized(t, set()).to_json()
        data["seconds"] = 0.0  # timing is not behaviour: keep recordings stable
        for exchange in data["exchanges"]:
            if exchange["kind"] == StepKind.CRAM_MD5:  # our answer to a new challenge each time
                exchange["sent"] = "(the CRAM-MD5 answer to the challenge)\r\n"
        (directory / f"{t.case_id}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    ids = {t.case_id for t in transcripts}
    # a partial re-record (`qmc record --cases 5.2.*`) adds to the directory's index
    try:
        earlier = json.loads((directory / GOLDEN_INDEX).read_text())
    except (OSError, ValueError):
        earlier = {}
    if isinstance(earlier, dict) and earlier.get("version") == target.ref.version:
        ids |= {i for i in earlier.get("cases", [])
                if isinstance(i, str) and (directory / f"{i}.json").exists()}
    index = {"target": target.spec, "version": target.ref.version, "tls_build": target.ref.tls_build,
             "cases": sorted(ids, key=lambda i: [int(x) for x in i.split(".")])}
    (directory / GOLDEN_INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
