"""What the exec: target's fork server (harness/targets/exec_server.py) must keep of the
one-process-per-step way it replaced: the case's home at QMAIL_HOME and the user's install
untouched, a case's own bin/ programs next to the install's, the exit status of a crash,
a hang killed with its whole tree, stderr per session, and sessions at once, on distinct
homes and on one shared home. The install here is a tiny sh "qmail" that, like qmail,
finds its control files by its compiled-in home (the reference installed as a home runs
through the same server in test_harness_run.py, test_accept.py, test_remote_cases.py)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.fixtures import Fixture
from harness.targets.exec_ import ExecTarget

SMTPD = """#!/bin/sh
# a qmail-smtpd stand-in: its home is compiled in, as qmail's is
cd {home} || exit 111
printf '220 %s\\r\\n' "$(cat control/me)"
printf 'err %s\\n' "$(cat control/me)" >&2
cat >/dev/null
"""


def _root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("exec: targets need root for a private mount namespace")
        pytest.skip("exec: targets need root for a private mount namespace")


@pytest.fixture
def install(tmp_path: Path) -> Path:
    _root()
    home = tmp_path / "install"
    (home / "bin").mkdir(parents=True)
    (home / "control").mkdir()
    (home / "control" / "me").write_text("the-users-own.test\n")
    (home / "bin" / "qmail-smtpd").write_text(SMTPD.format(home=home))
    (home / "bin" / "qmail-tool").write_text("#!/bin/sh\necho install-tool\n")
    for program in (home / "bin").iterdir():
        program.chmod(0o755)
    return home


@pytest.fixture
def target(install: Path) -> Iterator[ExecTarget]:
    t = ExecTarget(f"exec:{install}", str(install))
    t.start()
    yield t
    t.stop()


def _case_home(where: Path, me: str, files: dict[str, str] | None = None) -> Fixture:
    (where / "control").mkdir(parents=True)
    (where / "control" / "me").write_text(me + "\n")
    for name, text in (files or {}).items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text)
        (where / name).chmod(0o755)
    return Fixture(local=where, home="unused", env={"PATH": b"/usr/bin:/bin"}, args=[])


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def _untouched(install: Path) -> None:
    assert sorted(p.name for p in install.iterdir()) == ["bin", "control"]
    assert sorted(p.name for p in (install / "bin").iterdir()) == ["qmail-smtpd", "qmail-tool"]
    assert (install / "control" / "me").read_text() == "the-users-own.test\n"
    with open("/proc/self/mountinfo") as mounts:  # no mount of a session reached the host
        assert str(install) not in mounts.read()


def test_the_session_sees_the_case_home_and_the_install_is_untouched(
        target: ExecTarget, install: Path, tmp_path: Path) -> None:
    fx = _case_home(tmp_path / "case", "case.test")
    running = target.smtpd(fx)
    assert _line(running.sock) == b"220 case.test\r\n"
    running.sock.close()
    assert running.finish(10) == (0, b"err case.test\n")
    assert running.tree is not None and running.tree.wait(10)
    _untouched(install)


def test_a_case_own_bin_program_wins_and_the_install_programs_stay_visible(
        target: ExecTarget, install: Path, tmp_path: Path) -> None:
    own = f"#!/bin/sh\ncd {install} && echo \"220 own $(bin/qmail-tool)\"\n"
    fx = _case_home(tmp_path / "case", "case.test", {"bin/qmail-smtpd": own})
    running = target.smtpd(fx)
    assert _line(running.sock) == b"220 own install-tool\n"
    running.sock.close()
    assert running.finish(10)[0] == 0
    assert (tmp_path / "case" / "bin" / "qmail-smtpd").read_text() == own
    _untouched(install)


def test_a_crash_gives_139(target: ExecTarget, tmp_path: Path) -> None:
    fx = _case_home(tmp_path / "case", "case.test", {"bin/qmail-smtpd": "#!/bin/sh\nkill -SEGV $$\n"})
    running = target.smtpd(fx)
    running.sock.close()
    assert running.finish(10)[0] == 139


def test_a_hang_is_killed_with_its_whole_tree(target: ExecTarget, tmp_path: Path) -> None:
    hang = "#!/bin/sh\nsleep 600 &\necho 220 hanging\nsleep 600\n"
    fx = _case_home(tmp_path / "case", "case.test", {"bin/qmail-smtpd": hang})
    running = target.smtpd(fx)
    assert _line(running.sock) == b"220 hanging\n"
    with pytest.raises(TimeoutError):
        running.finish(0.2)
    running.kill()
    # the TreeWatch pipe sees EOF only when the session's last process is gone: the
    # background sleep too, not just the program
    assert running.tree is not None and running.tree.wait(10)
    running.sock.close()


def test_a_program_that_cannot_run_gives_127_and_says_why(install: Path, tmp_path: Path) -> None:
    target = ExecTarget(f"exec:{install}", str(install), remote=str(install / "bin" / "no-such"))
    target.start()
    try:
        outcome = target.remote(_case_home(tmp_path / "case", "case.test"), ["x.example"], b"", 10)
    finally:
        target.stop()
    assert outcome.exit == 127
    assert b"no-such" in outcome.stderr


def test_sessions_at_once_each_see_their_own_home(target: ExecTarget, install: Path, tmp_path: Path) -> None:
    fixtures = [_case_home(tmp_path / f"case{i}", f"case{i}.test") for i in range(8)]
    running = [target.smtpd(fx) for fx in fixtures]  # all alive at the same time
    try:
        assert [_line(r.sock) for r in running] == [f"220 case{i}.test\r\n".encode() for i in range(8)]
    finally:
        for r in running:
            r.sock.close()
    assert [r.finish(10) for r in running] == [(0, f"err case{i}.test\n".encode()) for i in range(8)]
    _untouched(install)


def test_threads_sharing_one_home_run_sessions_at_once(target: ExecTarget, install: Path, tmp_path: Path) -> None:
    # `qmc load` shares one home across sessions: the install's programs are linked into
    # it by every session at once (once this raced: 'ln: File exists')
    fx = _case_home(tmp_path / "shared", "shared.test")
    greetings: list[bytes] = []
    failures: list[BaseException] = []

    def sessions() -> None:
        try:
            for _ in range(10):
                running = target.smtpd(fx)
                greetings.append(_line(running.sock))
                running.sock.close()
                assert running.finish(10)[0] == 0
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=sessions) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert greetings == [b"220 shared.test\r\n"] * 40
    _untouched(install)
