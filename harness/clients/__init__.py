"""Category 10, client interop: real SMTP clients (smtplib, aiosmtplib, `openssl s_client`,
swaks) drive a qmail-smtpd session of the target and of the reference, and what each client
returned or raised is compared (conformance/README.md, client interop).

`play` runs a case's client script on the session socket and gives the transcript's one
exchange: `sent` says what the client was told to do, `received` what came of it
(harness/clients/outcome.py). The other observers (queue, fd3, exit status) are read by the
caller as for any smtpd session (harness/execute.py).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
from pathlib import Path

from harness.cases import CaseKind, ClientScript
from harness.clients.libraries import ClientHang, play_aiosmtplib, play_smtplib
from harness.clients.outcome import describe
from harness.clients.tools import play_openssl, play_swaks
from harness.transcript import Exchange

__all__ = ["play", "unavailable", "ClientHang"]

_TOOLS = {"openssl-s_client": "openssl", "swaks": "swaks"}


def unavailable(script: ClientScript) -> str:
    """Why this machine cannot run the client, or "" (the case is then NOT_APPLICABLE)."""
    if script.client == "aiosmtplib" and importlib.util.find_spec("aiosmtplib") is None:
        return "aiosmtplib is not installed (pip install aiosmtplib)"
    tool = _TOOLS.get(script.client)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed (Debian: apt-get install {tool}; scripts/setup.sh does)"
    return ""


def play(sock: socket.socket, script: ClientScript, timeout: float, workdir: Path) -> list[Exchange]:
    """The client's run as one exchange; ClientHang if the server stopped answering."""
    if script.client == "smtplib":
        outcome = play_smtplib(sock, script, timeout)
    elif script.client == "aiosmtplib":
        outcome = play_aiosmtplib(sock, script, timeout)
    elif script.client == "openssl-s_client":
        outcome = play_openssl(sock, script, timeout, workdir)
    else:
        outcome = play_swaks(sock, script, timeout, workdir)
    return [Exchange(step=1, kind=CaseKind.CLIENT, sent=describe(script), received=outcome)]
