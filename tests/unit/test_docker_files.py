"""SharedFiles (harness/targets/docker_files.py): a case's home goes into the bind-mounted
directory with its modes, links and scripts; only what the observers read comes back, never
through a link; the target's directory goes at close. The container side is tested in
tests/integration/test_docker_supervisor.py."""

from __future__ import annotations

from pathlib import Path

from harness.targets.docker_files import SharedFiles


def _case(local: Path) -> Path:
    (local / "control").mkdir(parents=True)
    (local / "control" / "me").write_text("mx.test\n")
    (local / "bin").mkdir()
    (local / "bin" / "prog").write_text("#!/bin/sh\n")
    (local / "bin" / "prog").chmod(0o750)
    (local / "q").mkdir()
    return local


def test_a_case_goes_in_with_its_modes_links_and_scripts(tmp_path: Path) -> None:
    files = SharedFiles(tmp_path / "host")
    local = _case(tmp_path / "case")
    files.put_case(local, "/qmc/3", {".session": b"#!/bin/sh\n"}, {"bin/qmail-smtpd": "/qmc/qmail-bin/qmail-smtpd"},
                   ["empty"])
    home = tmp_path / "host" / "3"
    assert files.host_path("/qmc/3") == home
    assert (home / "control" / "me").read_text() == "mx.test\n"
    assert (home / "bin" / "prog").stat().st_mode & 0o777 == 0o750
    assert (home / ".session").stat().st_mode & 0o777 == 0o755
    assert str((home / "bin" / "qmail-smtpd").readlink()) == "/qmc/qmail-bin/qmail-smtpd"
    assert (home / "empty").is_dir()
    # a second upload of the same home (qmc load) keeps what is there
    files.put_case(local, "/qmc/3", {}, {"bin/qmail-smtpd": "/qmc/qmail-bin/qmail-smtpd"}, [])


def test_only_what_the_observers_read_comes_back(tmp_path: Path) -> None:
    files = SharedFiles(tmp_path / "host")
    local = _case(tmp_path / "case")
    files.put_case(local, "/qmc/1", {}, {}, [])
    home = tmp_path / "host" / "1"
    (home / "q" / "msg.1").write_bytes(b"message")
    (home / "fd3").write_bytes(b"joe\0secret\0")
    (home / "out" / "deep").mkdir(parents=True)
    (home / "out" / "deep" / "x").write_bytes(b"x")
    (tmp_path / "secret").write_text("not ours")
    (home / "q" / "link").symlink_to(tmp_path / "secret")  # written by a program: never followed
    (home / "control" / "me").write_text("changed\n")
    back = tmp_path / "back"
    back.mkdir()
    files.get("/qmc/1", back)
    got = sorted(str(p.relative_to(back)) for p in back.rglob("*") if p.is_file())
    assert got == ["fd3", "out/deep/x", "q/msg.1"]
    assert (back / "fd3").read_bytes() == b"joe\0secret\0"


def test_close_removes_the_directory(tmp_path: Path) -> None:
    files = SharedFiles(tmp_path / "host")
    files.install(_case(tmp_path / "case") / "bin", "/qmc/fixtures/bin", ["/qmc/qmail-bin", "/qmc/fixtures"])
    assert (tmp_path / "host" / "fixtures" / "bin" / "prog").exists()
    assert (tmp_path / "host" / "qmail-bin").is_dir()
    files.close()
    assert not (tmp_path / "host").exists()
