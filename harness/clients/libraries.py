"""The Python client libraries of category 10, each driving the session socket itself (the
client end of the connection the target handed the harness): smtplib through a subclass
whose `_get_socket` returns it, aiosmtplib through its `sock=` option.

Both play a script the way an application does: EHLO, STARTTLS (required: always asked,
whatever the server offers; opportunistic: only when offered), AUTH with the named
mechanism (`any`: the library's own choice and fallbacks), send, and QUIT at the end even
after an error (`with SMTP(...)`). TLS trusts any certificate (the case's server has a
certificate of the run's fixture CA, harness/session.client_tls_context).
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
from typing import Any

from harness.cases import ClientScript
from harness.clients.outcome import raised, returned
from harness.drive.session import client_tls_context

__all__ = ["play_smtplib", "play_aiosmtplib", "ClientHang"]

SERVER_NAME = "mx.test"  # the name the client believes it talks to (TLS SNI); the fixtures' `me`
_SMTPLIB_AUTH = {"PLAIN": "auth_plain", "LOGIN": "auth_login", "CRAM-MD5": "auth_cram_md5"}


class ClientHang(Exception):
    """The client's own timeout ran out: the server stopped answering (a hang, not an outcome)."""


class _SessionSMTP(smtplib.SMTP):
    """smtplib over an already connected socket."""

    def __init__(self, sock: socket.socket, helo: str, timeout: float) -> None:
        super().__init__(local_hostname=helo, timeout=timeout)
        self._session = sock
        self._host = SERVER_NAME  # starttls() names it as the TLS server_hostname

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._session.settimeout(timeout)
        return self._session


def _smtplib_run(smtp: _SessionSMTP, script: ClientScript) -> bytes:
    smtp.connect(SERVER_NAME, 25)
    smtp.ehlo()
    if script.starttls == "required" or (script.starttls == "opportunistic" and smtp.has_extn("starttls")):
        smtp.starttls(context=client_tls_context())
        smtp.ehlo()
    final = None
    if script.auth is not None:
        auth = script.auth
        if auth.mechanism == "any":
            final = smtp.login(auth.user, auth.password)
        else:
            smtp.user, smtp.password = auth.user, auth.password
            final = smtp.auth(auth.mechanism, getattr(smtp, _SMTPLIB_AUTH[auth.mechanism]))
    if not script.send:
        return returned({}, final, "authenticated")
    refused = smtp.sendmail(script.sender, list(script.recipients), script.message,
                            mail_options=list(script.mail_options))
    return returned(refused)


def play_smtplib(sock: socket.socket, script: ClientScript, timeout: float) -> bytes:
    smtp = _SessionSMTP(sock, script.helo, timeout)
    try:
        return _smtplib_run(smtp, script)
    except TimeoutError as exc:
        raise ClientHang(f"smtplib timed out after {timeout:g} s") from exc
    except Exception as exc:  # noqa: BLE001 - what the library raised is the observation
        return raised(exc)
    finally:
        _quietly(smtp.quit)
        smtp.close()


async def _aiosmtplib_run(smtp: Any, script: ClientScript) -> bytes:
    await smtp.connect()
    await smtp.ehlo()
    if script.starttls == "required" or (script.starttls == "opportunistic"
                                         and smtp.supports_extension("starttls")):
        await smtp.starttls(server_hostname=SERVER_NAME, tls_context=client_tls_context())
    final = None
    if script.auth is not None:
        auth = script.auth
        method = {"any": smtp.login, "PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login,
                  "CRAM-MD5": smtp.auth_crammd5}[auth.mechanism]
        response = await method(auth.user, auth.password)
        final = (response.code, response.message)
    if not script.send:
        return returned({}, final, "authenticated")
    refused, message = await smtp.sendmail(script.sender, list(script.recipients), script.message,
                                           mail_options=list(script.mail_options))
    return returned(refused, (250, message))


async def _aiosmtplib(sock: socket.socket, script: ClientScript, timeout: float) -> bytes:
    import aiosmtplib

    smtp = aiosmtplib.SMTP(sock=sock, local_hostname=script.helo, timeout=timeout, start_tls=False,
                           validate_certs=False)
    try:
        return await _aiosmtplib_run(smtp, script)
    except (TimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
        raise ClientHang(f"aiosmtplib timed out after {timeout:g} s") from exc
    except Exception as exc:  # noqa: BLE001 - what the library raised is the observation
        return raised(exc)
    finally:
        if smtp.is_connected:
            try:
                await smtp.quit()
            except Exception:  # noqa: BLE001 - the session may be over already
                smtp.close()


def play_aiosmtplib(sock: socket.socket, script: ClientScript, timeout: float) -> bytes:
    return asyncio.run(_aiosmtplib(sock, script, timeout))


def _quietly(call: Any) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001, S110 - QUIT after an error: the server may be gone
        pass
