"""The typed seam between the sans-IO cores and their shells (eqmail_ref.pump): every
request declares its answer type, a wrong answer is refused once with the request's name,
and both cores (qmail-smtpd, qmail-remote) are driven by the same pump."""

from __future__ import annotations

from typing import Any

import pytest

from eqmail_ref import effects
from eqmail_ref.effects import PluginRun, ProcessExit, QueueOpened, Request, Send
from eqmail_ref.pump import Pump, WrongAnswer
from eqmail_ref.remote import requests
from eqmail_ref.remote.delivery import Job, RemoteDelivery
from eqmail_ref.remote.requests import Connect, Connected, DnsQuery, Write
from eqmail_ref.remote.snapshot import RemoteControls
from eqmail_ref.smtpd import SmtpServer
from tests.helpers.core_driver import Dialogue
from tests.helpers.remote_conftest_helpers import a, switches

MAIL = b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"


def _request_classes() -> list[type[Request[Any]]]:
    return [c for module in (effects, requests) for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Request) and c is not Request]


@pytest.mark.parametrize("cls", _request_classes(), ids=lambda c: c.__name__)
def test_every_request_declares_a_checkable_answer_type(cls: type[Request[Any]]) -> None:
    assert cls.answer_type is not Any
    isinstance(None, cls.answer_type)  # a class, NoneType or a union: usable by the pump


def test_a_request_without_an_answer_type_is_refused_when_written() -> None:
    with pytest.raises(TypeError, match="Bare: a request declares its answer type"):
        class Bare(Request):  # type: ignore[type-arg]
            pass


class _WrongShell(Dialogue):
    """A shell that answers qmail-queue's start with a plugin's exit."""

    def _answer(self, request: Request[Any]) -> object:
        return PluginRun(exit_code=0) if isinstance(request, effects.OpenQueue) else super()._answer(request)


def test_smtpd_refuses_a_wrong_answer_naming_the_request() -> None:
    shell = _WrongShell()
    with pytest.raises(WrongAnswer, match=r"^OpenQueue is answered with QueueOpened, not PluginRun\("):
        shell.feed(MAIL)
    assert isinstance(shell.server.pending, effects.OpenQueue)  # nothing was sent into the core
    sent = [e.data for e in shell.server.resolve(QueueOpened(ok=True, pid=9)) if isinstance(e, Send)]
    assert b"".join(sent).endswith(b"354 go ahead\r\n")


def test_smtpd_answer_subclasses_pass_the_check() -> None:
    """CheckPassword is answered with a ProcessExit; QueueExit and PluginRun are ones too."""
    assert effects.CheckPassword.answer_type is ProcessExit
    assert isinstance(effects.QueueExit(exit_code=0), effects.CheckPassword.answer_type)


def _remote(host: bytes = b"x.example", recipient: bytes = b"r@x.example") -> RemoteDelivery:
    return RemoteDelivery(job=Job(host=host, sender=b"s@y.org", recipients=(recipient,),
                                  message=b"hi\n"),
                          controls=RemoteControls(helohost=b"mx.test"), switches=switches(),
                          ipme=frozenset(), seed=0)


def test_remote_refuses_a_wrong_answer_naming_the_request() -> None:
    core = _remote()
    core.start()
    assert isinstance(core.pending, DnsQuery)
    with pytest.raises(WrongAnswer, match=r"^DnsQuery is answered with DnsAnswer, not Connected\("):
        core.resolve(Connected(ok=True))
    first = core.pending
    after = core.resolve(a("192.0.2.1"))  # the refused answer was not sent: it still waits
    assert isinstance(core.pending, DnsQuery) and core.pending != first and after == [core.pending]


def test_remote_write_takes_a_union_answer() -> None:
    core = _remote(b"192.0.2.1", b"r@[192.0.2.1]")  # literals: no DNS
    core.start()
    assert isinstance(core.pending, Connect)
    core.resolve(Connected(ok=True))
    core.receive(b"220 hi\r\n")
    assert isinstance(core.pending, Write)
    with pytest.raises(WrongAnswer, match=r"^Write is answered with bool \| bytes, not 'yes'"):
        core.resolve("yes")
    core.resolve(True)
    assert core.wants_input and core.pending is None


def test_resolve_without_a_pending_request_is_an_error() -> None:
    core = _remote()
    with pytest.raises(RuntimeError, match="no request pending"):
        core.resolve(None)


def test_both_cores_run_on_the_one_pump_with_the_same_fields() -> None:
    smtpd = Dialogue().server
    remote = _remote()
    remote.start()
    assert isinstance(smtpd, Pump) and isinstance(remote, Pump)
    assert (smtpd.pending, smtpd.wants_input, smtpd.done) == (None, True, False)
    assert isinstance(remote.pending, DnsQuery) and not remote.wants_input and not remote.done


def test_the_c_globals_live_in_the_session_not_the_engine() -> None:
    shell = Dialogue()
    shell.feed(b"HELO x\r\nMAIL FROM:<a@b>\r\n")
    server: SmtpServer = shell.server
    assert (server.session.helo, server.session.mailfrom, server.session.seenmail) == (b"x", b"a@b", True)
    assert not hasattr(server, "mailfrom") and not hasattr(server, "seenmail")
