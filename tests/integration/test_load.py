"""`qmc load`: real messages through real targets at a concurrency, checked against what
the queue program really received. Targets that lose, duplicate or silently drop mail are
made with real queue programs (POSIX sh), never by faking the observer."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from harness.load import ids_in, message_for
from harness.targets.base import Target
from tests.conftest import running_serve
from tests.integration.test_docker_target import engine, ref_image, targets  # noqa: F401 - fixtures

_SAVE = """dir=$QQ_CAPTURE_DIR
f=$(mktemp "$dir/load.XXXXXXXXXX")
cat > "$f"
cat <&1 > "$f.env"
"""


def _queue_program(tmp_path: Path, body: str) -> str:
    path = tmp_path / "qq"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _load(tmp_path: Path, *args: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "load.json"
    status = main(["load", *args, "--json", str(out)])
    return status, json.loads(out.read_text())


def test_ids_survive_the_trip_through_a_message() -> None:
    queue = [message_for("r1", n, 300) for n in (0, 1, 1, 7)] + [message_for("other", 2, 10)]
    assert ids_in(queue, "r1") == {"r1-0": 1, "r1-1": 2, "r1-7": 1}


def test_every_accepted_message_is_queued_once(tmp_path: Path) -> None:
    status, result = _load(tmp_path, "-t", "ref", "--messages", "120", "--concurrency", "8", "--size", "3000")
    assert (status, result["sent"], result["accepted"], result["queued"]) == (0, 120, 120, 120)
    assert (result["lost"], result["duplicated"], result["silent"], result["failed"]) == ([], [], 0, False)
    assert result["latency_ms"]["p50"] > 0 and result["rate"] > 0


def test_auth_and_starttls_sessions(tmp_path: Path) -> None:
    status, result = _load(tmp_path, "-t", "ref:1.09", "-n", "12", "-c", "4", "--auth", "--starttls")
    assert (status, result["accepted"], result["queued"], result["errors"]) == (0, 12, 12, {})


def test_a_target_that_loses_a_message_fails(tmp_path: Path) -> None:
    # says 250 for message 3 and throws it away
    lossy = _queue_program(tmp_path, _SAVE + 'grep -q "^Subject: qmc load 3" "$f" && { rm -f "$f" "$f.env"; exit 0; }\n'
                                            'mv "$f" "$f.msg"\n')
    status, result = _load(tmp_path, "-n", "10", "-c", "3", "--env", f"QMAILQUEUE={lossy}")
    assert status == 1 and result["failed"]
    assert [i.rsplit("-", 1)[1] for i in result["lost"]] == ["3"]  # type: ignore[union-attr]
    assert (result["accepted"], result["queued"]) == (10, 9)


def test_a_target_that_queues_twice_fails(tmp_path: Path) -> None:
    twice = _queue_program(tmp_path, _SAVE + 'grep -q "^Subject: qmc load 5" "$f" && cp "$f" "$f.2.msg"\n'
                                             'mv "$f" "$f.msg"\n')
    status, result = _load(tmp_path, "-n", "8", "-c", "2", "--env", f"QMAILQUEUE={twice}")
    assert status == 1
    assert [i.rsplit("-", 1)[1] for i in result["duplicated"]] == ["5"]  # type: ignore[union-attr]


def test_refusals_are_counted_with_their_reply_and_a_dropped_session_is_silent(tmp_path: Path) -> None:
    # message 2: a permanent refusal (qmail-queue exit 31); message 4: qmail-smtpd is killed
    program = _queue_program(tmp_path, _SAVE + 'grep -q "^Subject: qmc load 2" "$f" && exit 31\n'
                                               'grep -q "^Subject: qmc load 4" "$f" && kill -9 $PPID\n'
                                               'mv "$f" "$f.msg"\n')
    status, result = _load(tmp_path, "-n", "6", "-c", "1", "--env", f"QMAILQUEUE={program}")
    assert status == 1
    assert (result["refused"], result["silent"]) == (1, 1)
    assert result["replies"] == {"554 mail server permanently rejected message (#5.3.0)": 1}


def test_a_running_server_with_its_queue_directory(tmp_path: Path) -> None:
    home, queue = tmp_path / "home", tmp_path / "queue"
    (home / "control").mkdir(parents=True)
    queue.mkdir()
    (home / "control" / "me").write_text("mx.test\n")
    (home / "control" / "rcpthosts").write_text("example.org\n")
    (home / "control" / "smtpplugins").write_text("")  # 1.08 dies without it (spec §1)
    from harness.fixtures import FIXTURES_DIR

    env = {**os.environ, "QMAILQUEUE": str(FIXTURES_DIR / "bin" / "qmail-queue-unique"),
           "QQ_CAPTURE_DIR": str(queue)}
    with running_serve(home, env) as (host, port):
        status, result = _load(tmp_path, "-t", f"tcp:{host}:{port}", "-n", "40", "-c", "8",
                               "--queue-dir", str(queue))
        _, unchecked = _load(tmp_path, "-t", f"tcp:{host}:{port}", "-n", "5", "-c", "2")
    assert (status, result["queued"], result["lost"], result["queue_checked"]) == (0, 40, [], True)
    assert (unchecked["queue_checked"], unchecked["accepted"]) == (False, 5)


def test_soak_samples_memory_and_finds_no_leak(tmp_path: Path) -> None:
    status, result = _load(tmp_path, "-t", "ref", "--duration", "2", "-c", "4")
    assert status == 0 and result["sent"] > 10
    assert result["leaked"] == [] and len(result["memory"]) >= 2  # type: ignore[arg-type]


def test_bad_options_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "-n", "0"]) == 2
    assert "--messages must be at least 1" in capsys.readouterr().err
    assert main(["load", "--env", "NOEQUALS"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_two_thousand_messages_at_sixteen(tmp_path: Path) -> None:
    status, result = _load(tmp_path, "-t", "ref", "--messages", "2000", "--concurrency", "16")
    assert (status, result["queued"], result["lost"], result["duplicated"]) == (0, 2000, [], [])


def test_an_exec_install_under_concurrent_sessions(tmp_path: Path) -> None:
    """Sessions of one load run share a home: the exec: target's per-session links into its
    bin/ once raced ('ln: ... File exists', a session with no greeting)."""
    from harness.targets.ref_home import install_reference_home

    home = install_reference_home(tmp_path / "qhome")
    status, result = _load(tmp_path, "-t", f"exec:{home}", "-n", "16", "-c", "4")
    assert (status, result["accepted"], result["queued"], result["errors"]) == (0, 16, 16, {})


def test_a_docker_image_under_concurrent_sessions(tmp_path: Path,
                                                  targets: Callable[[str], Target]) -> None:  # noqa: F811
    from harness.load import LoadPlan, run_load

    target = targets("docker:localhost/qmc/eqmail-ref")
    target.start()
    result = run_load(target, LoadPlan(messages=8, concurrency=2), tmp_path)
    assert (result.accepted, result.queued, result.lost, result.failed) == (8, 8, [], False)
