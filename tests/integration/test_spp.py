"""qmail-spp with real plugin programs (POSIX sh), per command and hook (spec §3)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EQMAIL_REF, FIXTURE_BIN, captured

# A session that passes every hook once: connection, helo, auth, mail, data.
AUTH = b"AUTH PLAIN " + base64.b64encode(b"\0joe\0secret") + b"\r\n"
SESSION = (b"HELO c\r\n" + AUTH + b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n"
           b"x\r\n.\r\nQUIT\r\n")
OK_REPLIES = [b"220 mx.test ESMTP", b"250 mx.test", b"235 ok, joe, go ahead (#2.0.0)", b"250 ok",
              b"250 ok", b"354 go ahead", b"250 ok T", b"221 mx.test"]
HOOKS = ["connection", "helo", "auth", "mail", "data"]
HOOK_REPLY = {"connection": 0, "helo": 1, "auth": 2, "mail": 3, "data": 5}


def spp_session(home: Path, env: dict[str, str], config: str, data: bytes = SESSION,
                plugins: dict[str, str] | None = None) -> tuple[list[bytes], int]:
    (home / "control" / "smtpplugins").write_text(config)
    (home / "users").write_text("joe:secret\n")
    for name, body in (plugins or {}).items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    done = subprocess.run(
        [*EQMAIL_REF, "smtpd", "--qmail-home", str(home), str(FIXTURE_BIN / "checkpassword-stub")],
        input=data, env=dict(env, CHECKPW_USERS=str(home / "users")), capture_output=True,
        timeout=60)
    out = [b"250 ok T" if line.startswith(b"250 ok ") and b" qp " in line else line
           for line in done.stdout.split(b"\r\n")[:-1]]
    return out, done.returncode


def test_no_plugins_baseline(qmail_home: Path, capture_env: dict[str, str]) -> None:
    assert spp_session(qmail_home, capture_env, "") == (OK_REPLIES, 0)


@pytest.mark.parametrize("hook", HOOKS)
def test_E_rejects_the_command(qmail_home: Path, capture_env: dict[str, str], hook: str) -> None:
    out, _ = spp_session(qmail_home, capture_env, f"[{hook}]\n:echo E550 no {hook}\n")
    at = HOOK_REPLY[hook]
    assert out[at] == f"550 no {hook}".encode()
    assert out[:at] == OK_REPLIES[:at]


def test_E_at_connection_replaces_the_greeting(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, code = spp_session(qmail_home, capture_env, "[connection]\n:echo E554 go away\n",
                            b"NOOP\r\nQUIT\r\n")
    assert (out, code) == ([b"554 go away", b"250 ok", b"221 mx.test"], 0)


@pytest.mark.parametrize("hook", HOOKS)
def test_R_prints_and_exits(qmail_home: Path, capture_env: dict[str, str], hook: str) -> None:
    out, code = spp_session(qmail_home, capture_env, f"[{hook}]\n:echo R421 bye\n")
    at = HOOK_REPLY[hook]
    assert (out[at:], code) == ([b"421 bye"], 0)


@pytest.mark.parametrize("hook", HOOKS)
def test_D_exits_silently(qmail_home: Path, capture_env: dict[str, str], hook: str) -> None:
    out, code = spp_session(qmail_home, capture_env, f"[{hook}]\n:echo D\n")
    assert (out, code) == (OK_REPLIES[: HOOK_REPLY[hook]], 0)


def test_unterminated_final_line_loses_its_last_character(qmail_home: Path,
                                                          capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:printf 'R421 bye now'\n")
    assert out[1:] == [b"421 bye no"]


def test_N_skips_the_remaining_plugins(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:echo N\n:echo E550 never\n")
    assert out == OK_REPLIES


def test_A_disables_spp_for_the_session(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:echo A\n[mail]\n:echo E550 never\n")
    assert out == OK_REPLIES


def test_O_at_mail_skips_rcpthosts_and_badmailfrom(qmail_home: Path,
                                                   capture_env: dict[str, str]) -> None:
    (qmail_home / "control" / "badmailfrom").write_text("a@b\n")
    out, _ = spp_session(qmail_home, capture_env, "[mail]\n:echo O\n",
                         b"MAIL FROM:<a@b>\r\nRCPT TO:<u@far.example>\r\n")
    assert out == [b"220 mx.test ESMTP", b"250 ok", b"250 ok"]


def test_H_C_S_U_reach_the_queue(qmail_home: Path, capture_env: dict[str, str]) -> None:
    config = ("[connection]\n:echo HX-Conn: 1\n[mail]\n:echo Cnew@sender; echo SFOO=bar; "
              "echo UQQ_EXIT; echo HX-Mail: $SMTPMAILFROM\n")
    out, _ = spp_session(qmail_home, dict(capture_env, QQ_EXIT="0"), config)
    assert out == OK_REPLIES
    [(message, envelope)] = captured(qmail_home)
    assert envelope == b"Fnew@sender\0Tr@example.org\0\0"
    assert b"\nX-Conn: 1\nX-Mail: a@b\nx\n" in message
    environ = next((qmail_home / "queue").glob("*.environ")).read_text().splitlines()
    assert "FOO=bar" in environ and not any(v.startswith("QQ_EXIT=") for v in environ)
    assert "SMTPMAILFROM=new@sender" in environ and "SMTPHELOHOST=c" in environ


def test_P_prints_without_ending_the_command(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:echo P250-hello there\n")
    assert out[1:3] == [b"250-hello there", b"250 mx.test"]


def test_LM_is_deferred_to_the_next_mail_and_cleared_by_rset(qmail_home: Path,
                                                             capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:echo LM551 later\n",
                         b"HELO c\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nRSET\r\nMAIL FROM:<a@b>\r\n")
    assert out[1:] == [b"250 mx.test", b"551 later", b"551 later", b"250 flushed", b"250 ok"]


def test_LD_is_printed_at_data(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[mail]\n:echo LD554 data later error\n")
    assert out[5:7] == [b"554 data later error", b"500 unrecognised (#5.5.2)"]


def test_rcpt_hook_never_runs(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[rcpt]\n:echo E550 no rcpt\n")
    assert out == OK_REPLIES


def test_exit_120_after_text(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\nplugins/h120\n",
                         plugins={"plugins/h120": "echo E550 helo rejected\nexit 120\n"})
    assert out[1:3] == [b"550 helo rejected",
                        b"451 qmail-spp failure: plugins/h120: can't execute (#4.3.0)"]


def test_plugin_that_does_not_exist(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n  plugins/x\n")  # blanks are kept
    assert out[1] == b"451 qmail-spp failure:   plugins/x: can't execute (#4.3.0)"


def test_crashing_plugin(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:kill -SEGV $$\n")
    assert out[1] == b"451 qmail-spp failure: :kill -SEGV $$: child crashed (#4.3.0)"


def test_plugin_without_output_or_newline(qmail_home: Path, capture_env: dict[str, str]) -> None:
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:true\n:printf N\n")
    assert out == OK_REPLIES  # a lone final letter is ignored


def test_endless_output_after_terminating_command(qmail_home: Path,
                                                  capture_env: dict[str, str]) -> None:
    # Reading stops at E; the plugin then writes into a closed pipe. SIGPIPE is ignored in
    # plugins (inherited from qmail-smtpd), so it sees EPIPE and the session goes on.
    out, _ = spp_session(qmail_home, capture_env, "[helo]\n:echo E550 no; yes\n")
    assert out[1] == b"550 no"


def test_missing_smtpplugins_1_08_crash(qmail_home: Path, capture_env: dict[str, str]) -> None:
    (qmail_home / "control" / "smtpplugins").unlink()
    done = subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home)],
                          input=b"QUIT\r\n", env=capture_env, capture_output=True, timeout=60)
    assert (done.returncode, done.stdout) == (-11, b"")


def test_upstream_rcpt_hook_switch(qmail_home: Path, capture_env: dict[str, str]) -> None:
    (qmail_home / "control" / "smtpplugins").write_text(
        "[rcpt]\n:echo E550 no $SMTPRCPTTO $SMTPRCPTCOUNT $SMTPRCPTCOUNTALL $SMTPRCPTHOSTSOK\n")
    data = b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nRCPT TO:<u@far.example>\r\n"
    done = subprocess.run([*EQMAIL_REF, "smtpd", "--qmail-home", str(qmail_home),
                           "--upstream-spp-rcpt"], input=data, env=capture_env,
                          capture_output=True, timeout=60)
    assert done.stdout.split(b"\r\n")[2:4] == [b"550 no r@example.org 0 1 1",
                                               b"550 no u@far.example 0 2 0"]


def test_hanging_plugin_holds_the_session_until_it_dies(qmail_home: Path,
                                                        capture_env: dict[str, str]) -> None:
    """eQmail waits for a plugin forever; so does the reference (a harness-side timeout
    turns that into a verdict). Killing the plugin then gives the crash reply."""
    import os
    import signal

    from tests.conftest import running_serve
    from tests.helpers.raw_client import RawClient

    fifo = qmail_home / "pid.fifo"
    os.mkfifo(fifo)
    (qmail_home / "control" / "smtpplugins").write_text(
        f"[helo]\n:echo $$ > {fifo}; exec sleep 3600\n")
    with running_serve(qmail_home, capture_env) as (host, port), RawClient(host, port) as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
        c.send(b"HELO x\r\n")
        with open(fifo) as f:  # blocks until the plugin runs: no sleeping, no polling
            pid = int(f.read())
        c.sock.setblocking(False)
        with pytest.raises(BlockingIOError):  # the plugin runs: no reply can have come yet
            c.sock.recv(100)
        c.sock.setblocking(True)
        os.kill(pid, signal.SIGKILL)
        reply = c.reply()
        assert reply.startswith(b"451 qmail-spp failure: :echo") and reply.endswith(
            b": child crashed (#4.3.0)\r\n")
