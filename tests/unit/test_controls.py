"""Reading control files from a qmail home (spec §1, control.c)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eqmail_ref.controls import (
    StartupFailure,
    load_smtpd_controls,
    readfile_entries,
    readint_value,
    readline_value,
)
from eqmail_ref.versions import VERSIONS


def test_readline_strips_trailing_whitespace_only() -> None:
    assert readline_value(b"mx.test \t\nsecond\n") == b"mx.test"
    assert readline_value(b"  lead\r\n") == b"  lead\r"  # CR is not stripped
    assert readline_value(b"") == b""


def test_readfile_entries() -> None:
    data = b"a\n\n# comment\nb  \n  c\nd\0e\nlast"
    assert readfile_entries(data) == [b"a", b"b", b"  c", b"d", b"e", b"last"]


@pytest.mark.parametrize("data, value", [
    (b"30\n", 30), (b"12abc", 12), (b"abc", 1200), (b"-5", 1200), (b"4294967295", -1),
])
def test_readint(data: bytes, value: int) -> None:
    assert readint_value(data, 1200) == value


def _home(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "control").mkdir()
    for name, text in files.items():
        (tmp_path / "control" / name).write_text(text)
    return tmp_path


def test_greeting_defaults_and_timeout(tmp_path: Path) -> None:
    home = _home(tmp_path, me="mx.test\n", smtpplugins="", timeoutsmtpd="0\n")
    c = load_smtpd_controls(home, {}, VERSIONS["1.08"])
    assert (c.greeting, c.liphost, c.timeout, c.rcpthosts, c.databytes) == (
        b"mx.test", b"mx.test", 1, None, 0)


def test_databytes_env_overrides_and_wraps(tmp_path: Path) -> None:
    home = _home(tmp_path, me="m\n", smtpplugins="", databytes="100\n")
    assert load_smtpd_controls(home, {}, VERSIONS["1.08"]).databytes == 100
    assert load_smtpd_controls(home, {b"DATABYTES": b"x"}, VERSIONS["1.08"]).databytes == 0
    assert load_smtpd_controls(home, {b"DATABYTES": b"4294967295"},
                               VERSIONS["1.08"]).databytes == 4294967294


def test_no_me_and_no_smtpgreeting_is_fatal(tmp_path: Path) -> None:
    home = _home(tmp_path, smtpplugins="")
    with pytest.raises(StartupFailure):
        load_smtpd_controls(home, {}, VERSIONS["1.08"])


def test_missing_smtpplugins_fatal_in_108_only(tmp_path: Path) -> None:
    home = _home(tmp_path, me="m\n")
    with pytest.raises(StartupFailure):
        load_smtpd_controls(home, {}, VERSIONS["1.08"])
    assert load_smtpd_controls(home, {}, VERSIONS["1.09"]).spp is not None
    assert load_smtpd_controls(home, {b"NOSPP": b""}, VERSIONS["1.08"]).spp is None


def test_unreadable_control_is_fatal(tmp_path: Path) -> None:
    home = _home(tmp_path, me="m\n", smtpplugins="")
    (home / "control" / "badmailfrom").mkdir()  # reading a directory fails
    with pytest.raises(StartupFailure):
        load_smtpd_controls(home, {}, VERSIONS["1.08"])


def test_spp_sections_by_second_character(tmp_path: Path) -> None:
    home = _home(tmp_path, me="m\n", smtpplugins=(
        "before/ignored\n[connection]\nplugins/c1\n[hello]\n:echo N\n[mailer]\n  plugins/m\n"
        "[xyz]\nplugins/dummy\n[auth]\nplugins/a\n"))
    spp = load_smtpd_controls(home, {}, VERSIONS["1.08"]).spp
    assert spp is not None
    assert spp.plugins == {"connection": (b"plugins/c1",), "helo": (b":echo N",),
                           "mail": (b"  plugins/m",), "auth": (b"plugins/a",)}
