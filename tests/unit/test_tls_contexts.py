"""The reference's TLS contexts are OpenSSL's defaults as eQmail leaves them: in particular
an EOF inside a handshake stays an error ("unexpected eof while reading", spec §4), even on a
Python that ignores unexpected EOFs by default (Debian's 3.11.2 does; the reference image's
7.5.16 showed Python's own text before)."""

from __future__ import annotations

import ssl
from pathlib import Path

from eqmail_ref.remote.requests import TlsPrepare
from eqmail_ref.shell.remote_tls import prepare
from eqmail_ref.shell.tls import _python_context
from harness.fixtures import servercert_pem


def test_no_context_ignores_an_unexpected_eof(tmp_path: Path) -> None:
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "servercert.pem").write_bytes(servercert_pem())
    server = _python_context(tmp_path)
    assert isinstance(server, tuple)
    _, client = prepare(tmp_path, TlsPrepare(cafile=None, client_cert=False, no_sslv3=True))
    assert client is not None
    for ctx in (server[0], client.ctx):
        assert not ctx.options & ssl.OP_IGNORE_UNEXPECTED_EOF
