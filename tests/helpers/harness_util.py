"""Helpers for the harness tests: small case files written on the fly, and runs."""

from __future__ import annotations

from pathlib import Path

from harness.cases import Case, load_catalogue
from harness.runner import CaseResult, Runner
from harness.targets import make_target
from harness.targets.base import Target

GREETING_CASE = '''
[[case]]
id = "1.1.1"
title = "greeting, EHLO, QUIT"
spec = "2.2"
input = "EHLO x\\r\\nQUIT\\r\\n"
expect = { replies = "220 mx.test ESMTP\\r\\n250-mx.test\\r\\n250-PIPELINING\\r\\n250-8BITMIME\\r\\n250-SIZE 0\\r\\n250 AUTH LOGIN PLAIN CRAM-MD5\\r\\n221 mx.test\\r\\n", exit = 0 }

[[case]]
id = "3.1.1"
title = "a message is queued"
spec = "3.6"
input = "MAIL FROM:<a@b>\\r\\nRCPT TO:<r@example.org>\\r\\nDATA\\r\\nSubject: t\\r\\n\\r\\nhi\\r\\n.\\r\\nQUIT\\r\\n"
expect = { queue = [["Received: from unknown (1.2.3.4)\\n  by 5.6.7.8 with SMTP; DATE\\nSubject: t\\n\\nhi\\n", "Fa@b\\u0000Tr@example.org\\u0000\\u0000"]] }

[[case]]
id = "4.1.1"
title = "AUTH LOGIN prompts (1.08 base64, 1.09 plain text)"
spec = "0, 4.2"
profile = "auth"
steps = ["EHLO x\\r\\n", "AUTH LOGIN\\r\\n", "am9l\\r\\n", "c2VjcmV0\\r\\n", "QUIT\\r\\n"]
'''


def write_cases(tmp: Path, text: str = GREETING_CASE, name: str = "cases.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def cases_from(path: Path) -> list[Case]:
    catalogue = load_catalogue([path])
    assert not catalogue.problems, catalogue.problems
    return catalogue.cases


def run(specs: list[str], cases: list[Case], jobs: int = 1) -> list[CaseResult]:
    targets: list[Target] = []
    try:
        for spec in specs:
            targets.append(make_target(spec))
            targets[-1].start()
        return Runner(targets, cases, jobs=jobs).run()
    finally:
        for target in targets:
            target.stop()


def verdicts(results: list[CaseResult]) -> dict[tuple[str, str], str]:
    return {(r.case.id, r.target): r.verdict for r in results}
