"""The reference over real TCP: `eqmail-ref serve` with a real qmail-queue program."""

from __future__ import annotations

import smtplib
import threading
from pathlib import Path

from tests.conftest import captured
from tests.helpers.raw_client import RawClient


def test_smtplib_session(serve_ref: tuple[str, int], qmail_home: Path) -> None:
    host, port = serve_ref
    with smtplib.SMTP(host, port, local_hostname="client.test") as smtp:
        code, msg = smtp.ehlo()
        assert code == 250 and msg.split(b"\n") == [
            b"mx.test", b"PIPELINING", b"8BITMIME", b"SIZE 0", b"AUTH LOGIN PLAIN CRAM-MD5"]
        refused = smtp.sendmail("joe@x.org", ["r@example.org", "r@far.example"],
                                b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n")
        assert refused == {"r@far.example": (553, b"sorry, that domain isn't in my list of "
                                                  b"allowed rcpthosts (#5.7.1)")}
    [(message, envelope)] = captured(qmail_home)
    assert envelope == b"Fjoe@x.org\0Tr@example.org\0\0"
    assert message.startswith(b"Received: from unknown (HELO client.test) (127.0.0.1)\n"
                              b"  by mx.local with SMTP; ")
    assert message.endswith(b"\nSubject: hi\n\n.leading dot\nbody\n")


def test_raw_session_and_tcp_environment(serve_ref: tuple[str, int], qmail_home: Path) -> None:
    host, port = serve_ref
    with RawClient(host, port, source="127.0.0.7") as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
        # pipelined: the replies of MAIL and RCPT arrive together, framed one by one
        c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n")
        assert [c.reply(), c.reply(), c.reply()] == [b"250 ok\r\n", b"250 ok\r\n",
                                                      b"354 go ahead\r\n"]
        c.send(b"x\r\n.\r\n")
        assert c.reply().startswith(b"250 ok ")
        assert c.command(b"QUIT") == b"221 mx.test\r\n"
        assert c.rest() == b""
    [(message, _)] = captured(qmail_home)
    assert b"(127.0.0.7)\n  by mx.local with SMTP;" in message
    environ = next((qmail_home / "queue").glob("*.environ")).read_text()
    assert "TCPREMOTEIP=127.0.0.7" in environ and "PROTO=TCP" in environ
    assert f"TCPLOCALPORT={port}" in environ


def test_concurrent_sessions(serve_ref: tuple[str, int], qmail_home: Path) -> None:
    host, port = serve_ref
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with smtplib.SMTP(host, port) as smtp:
                smtp.sendmail(f"s{n}@x.org", ["r@example.org"], b"Subject: %d\r\n\r\nx\r\n" % n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    senders = sorted(env.split(b"\0")[0] for _, env in captured(qmail_home))
    assert senders == sorted(b"Fs%d@x.org" % n for n in range(12))


def test_control_change_takes_effect_next_connection(serve_ref: tuple[str, int],
                                                     qmail_home: Path) -> None:
    host, port = serve_ref
    with RawClient(host, port) as c:
        assert c.reply() == b"220 mx.test ESMTP\r\n"
    (qmail_home / "control" / "smtpgreeting").write_text("changed.test\n")
    with RawClient(host, port) as c:
        assert c.reply() == b"220 changed.test ESMTP\r\n"
