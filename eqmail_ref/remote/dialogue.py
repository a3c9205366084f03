"""qmail-remote's smtp() as eQmail's default (TLS) build runs it, per connected address
(spec §5.5, §5.6), written as generator methods of `Dialogue`, the SMTP half of
eqmail_ref.remote.delivery.RemoteDelivery (run by eqmail_ref.pump, as qmail-smtpd's core).

Rules, from qmail-remote.c:
  * One reply parser and one reply text (`smtptext`) live for the whole run, across
    connections, as the C globals do. Replies are read through a 128-byte buffer: bytes a
    server sends after its STARTTLS 220 in the same read stay buffered and are taken as the
    next reply after the handshake, as in C.
  * Every command is flushed on its own. The body is eqmail_ref.remote.body.blast(): the
    1024-byte output buffer with substdio_put's flush rule; `flagcritical` is set after the
    last body byte is buffered, so a failure while flushing what remains, or while waiting
    for the reply, says "Possible duplicate!".
  * Relay AUTH LOGIN (§5.5.4) only when a line after the first of the last EHLO/HELO reply
    has, from its fifth byte, one of AUTH_LINES exactly (case-sensitive), and that line
    starts more than 14 bytes before the reply text's end.
  * quit(): QUIT (not waited for) only when TLS is up, or no TLS was started and this is not
    port 465; then the report line and the last reply text.
  * Greeting: 1.08 any non-220 is Z; 1.09 5xx is D and 4xx tries the next address.
    Port 465 (TLS builds): 1.08 reads a plaintext greeting, then does the handshake without
    STARTTLS and reads a second greeting inside TLS; 1.09 tests an uninitialised code,
    modelled as 0 (a Z "greeting failed" without QUIT). Both are broken in real eQmail
    (§5.5.1) and reproduced, not fixed.
"""

from __future__ import annotations

from typing import NoReturn

from eqmail_ref.b64 import b64encode
from eqmail_ref.effects import Effect
from eqmail_ref.pump import NEED_INPUT, Exit, Program, Pump, Step, ask
from eqmail_ref.remote.body import blast
from eqmail_ref.remote.report import (
    PERM_PARTIAL_LINE,
    TEMP_CONTROL,
    SmtpReplyParser,
    connection_died,
    quit_report,
    recipient_rejected,
)
from eqmail_ref.remote.requests import Report, TlsHandshake, TlsPrepare, Write
from eqmail_ref.remote.resolve import Candidate
from eqmail_ref.remote.snapshot import RemoteControls
from eqmail_ref.remote.switches import RemoteSwitches
from eqmail_ref.remote.tls_rules import (
    CONNECT_FAILED,
    CONNECTED_TO,
    CONNECTING_TO,
    EXISTS,
    LOAD_FAILED_HEAD,
    NO_TLS_HEAD,
    REJECTED_HEAD,
    TLS_GREETING_HEAD,
    VERIFY_WITH_HEAD,
    ehlo_keywords,
    name_problem,
    offers_starttls,
    tls_plan,
)

__all__ = ["Dialogue", "AUTH_LINES", "offers_login"]

AUTH_LINES = (b"AUTH LOGIN\n", b"AUTH LOGIN ", b"AUTH PLAIN LOGIN\n", b"AUTH PLAIN LOGIN ",
              b"AUTH=LOGIN\n", b"AUTH=LOGIN ")


class Dialogue(Pump):
    """State and generator steps shared with RemoteDelivery (which sets the job fields and
    starts the pump on its main())."""

    controls: RemoteControls
    sw: RemoteSwitches
    helohost: bytes
    sender: bytes  # quoted
    recipients: list[bytes]  # quoted and canonicalised
    message: bytes
    auth_user: bytes
    auth_password: bytes
    port: int

    def _init_dialogue(self) -> None:
        self.effects: list[Effect] = []
        self.parser = SmtpReplyParser()
        self.smtptext = b""
        self.eof = False
        self.partner = Candidate(ip=b"\0\0\0\0", pref=0, fqdn=None)
        self.critical = False
        self.smtps = False
        self.ssl_state: str | None = None  # None: no SSL object; "ok"; "failed"
        self.ssl_err = b""
        self.ehlokw: list[bytes] = []

    # ------------------------------------------------------------------ primitives

    def out(self, data: bytes) -> None:
        self.effects.append(Report(data=data))

    def end(self, report: bytes) -> NoReturn:
        """The message report (already NUL-terminated) is the last output: exit 0
        (zerodie(), and quit() after a delivery)."""
        self.out(report)
        raise Exit(0)

    def zerodie(self, text: bytes) -> NoReturn:
        self.end(text + b"\0")

    def dropped(self) -> NoReturn:
        self.end(connection_died(self.partner.ip, critical=self.critical, ssl_error=self.ssl_err))

    def write(self, data: bytes) -> Step:
        if not data:
            return
        ok = yield from ask(Write(data=data))
        if ok is not True:
            if isinstance(ok, bytes):
                self.ssl_err = ok
            self.dropped()

    def code(self) -> Program[int]:
        """smtpcode(): the next reply's code; its text becomes smtptext."""
        while True:
            reply = self.parser.next_reply()
            if reply is not None:
                self.smtptext = reply.text
                return reply.code
            if self.eof:
                self.dropped()
            yield NEED_INPUT

    def quit(self, prepend: bytes, append: bytes) -> Step:
        if self.ssl_state == "ok" or (self.ssl_state is None and not self.smtps):
            yield from self.write(b"QUIT\r\n")
        text, self.smtptext = self.smtptext, b""
        self.end(quit_report(prepend, self.partner.ip, append, text))

    # --------------------------------------------------------------------- smtp()

    def smtp(self, partner: Candidate) -> Program[bool]:
        """One connected server. Returns True to try the next address (1.09, 4xx greeting);
        otherwise it ends by raising Exit."""
        sw = self.sw
        self.partner = partner
        self.eof = False
        self.critical = False
        self.ssl_state = None
        self.ssl_err = b""
        self.smtps = sw.tls_build and self.port == 465
        if self.smtps and sw.greeting_code_checked:
            code = 0  # 1.09 reads `code` uninitialised here
        else:
            code = yield from self.code()
        if sw.greeting_code_checked:
            if 500 <= code < 600:
                yield from self.quit(b"DConnected to ", b" but greeting failed")
            if 400 <= code < 500:
                return True
        if code != 220:
            yield from self.quit(b"ZConnected to ", b" but greeting failed")
        code = 0  # uninitialised on port 465 when no TLS is started; modelled as 0
        if not self.smtps:
            code = yield from self.ehlo()
        if sw.tls_build and (yield from self.tls_init()):
            code = yield from self.ehlo()
        if code != 250:
            yield from self.write(b"HELO " + self.helohost + b"\r\n")
            if (yield from self.code()) != 250:
                yield from self.quit(b"ZConnected to ", b" but my name was rejected")
        yield from self.envelope()
        yield from self.body()
        code = yield from self.code()
        self.critical = False
        if code >= 500:
            yield from self.quit(b"D", b" failed after I sent the message")
        if code >= 400:
            yield from self.quit(b"Z", b" failed after I sent the message")
        yield from self.quit(b"K", b" accepted message")
        return False  # not reached: quit() raises Exit

    def ehlo(self) -> Program[int]:
        self.ehlokw = []
        yield from self.write(b"EHLO " + self.helohost + b"\r\n")
        code = yield from self.code()
        if code == 250:
            self.ehlokw = ehlo_keywords(self.smtptext)
        return code

    def envelope(self) -> Step:
        sender = self.sender
        if self.auth_user and self.auth_password and offers_login(self.smtptext):
            yield from self.write(b"AUTH LOGIN\r\n")
            if (yield from self.code()) != 334:
                yield from self.quit(b"ZConnected to ", b" but authentication was rejected (AUTH LOGIN)")
            yield from self.write(b64encode(self.auth_user) + b"\r\n")
            if (yield from self.code()) != 334:
                yield from self.quit(b"ZConnected to ", b" but authentication was rejected (username)")
            yield from self.write(b64encode(self.auth_password) + b"\r\n")
            if (yield from self.code()) != 235:
                yield from self.quit(b"ZConnected to ", b" but authentication was rejected (password)")
            yield from self.write(b"MAIL FROM:<" + sender + b"> AUTH=<" + sender + b">\r\n")
        else:
            yield from self.write(b"MAIL FROM:<" + sender + b">\r\n")
        code = yield from self.code()
        if code >= 500:
            yield from self.quit(b"DConnected to ", b" but sender was rejected")
        if code >= 400:
            yield from self.quit(b"ZConnected to ", b" but sender was rejected")
        bother = False
        for rcpt in self.recipients:
            yield from self.write(b"RCPT TO:<" + rcpt + b">\r\n")
            code = yield from self.code()
            if code >= 400:
                self.out(recipient_rejected(code, self.partner.ip, self.smtptext))
                self.smtptext = b""  # outsmtptext() consumed it: "Giving up" quotes nothing
            else:
                self.out(b"r\0")
                bother = True
        if not bother:
            yield from self.quit(b"DGiving up on ", b"")
        yield from self.write(b"DATA\r\n")
        code = yield from self.code()
        if code >= 500:
            yield from self.quit(b"D", b" failed on DATA command")
        if code >= 400:
            yield from self.quit(b"Z", b" failed on DATA command")

    def body(self) -> Step:
        """blast(): what the buffer flushed before the last body byte went in is written
        first (not critical); the rest with the final dot with flagcritical set. A partial
        final line ends the delivery mid-DATA, without the dot or QUIT (§5.1)."""
        body = blast(self.message)
        yield from self.write(body.sent[: body.early])
        if not body.complete:
            self.zerodie(PERM_PARTIAL_LINE)
        self.critical = True
        yield from self.write(body.sent[body.early :])

    # ------------------------------------------------------------------- tls_init()

    def tls_init(self) -> Program[bool]:
        c = self.controls
        plan = tls_plan(self.partner.fqdn, c.tlshosts, c.notlshosts)
        if not plan.attempt:
            return False
        servercert = plan.servercert
        if not self.smtps and not offers_starttls(self.ehlokw):
            if servercert is None:
                return False
            self.smtptext = b""
            yield from self.quit(NO_TLS_HEAD + servercert + EXISTS + CONNECTING_TO, b"")
        prepared = yield from ask(TlsPrepare(cafile=servercert, client_cert=c.clientcert,
                                             no_sslv3=self.sw.tls_no_sslv3))
        if not prepared.ok and servercert is not None:
            self.smtptext = b""
            yield from self.quit(LOAD_FAILED_HEAD + servercert
                                 + (b": " + prepared.error if prepared.error else b"")
                                 + CONNECTING_TO, b"")
        if not self.smtps:
            yield from self.write(b"STARTTLS\r\n")
        if c.tlsclientciphers_unreadable:
            self.zerodie(TEMP_CONTROL)
        if not self.smtps:
            if (yield from self.code()) != 220:
                if servercert is None:
                    return False  # on in clear; smtptext is now the STARTTLS reply
                yield from self.quit(REJECTED_HEAD + servercert + EXISTS + CONNECTING_TO, b"")
            self.smtptext = b""
        outcome = yield from ask(TlsHandshake(ciphers=c.tlsclientciphers or b"DEFAULT", timeout=c.timeout))
        self.ssl_state = "ok" if outcome.ok and outcome.usable else "failed"
        if not outcome.ok:
            yield from self.quit(CONNECT_FAILED + (b": " + outcome.error if outcome.error else b"")
                                 + CONNECTED_TO, b"")
        if servercert is not None and self.partner.fqdn is not None:
            if outcome.verify_error is not None:
                yield from self.quit(VERIFY_WITH_HEAD + servercert + b": " + outcome.verify_error
                                     + CONNECTED_TO, b"")
            problem = name_problem(self.partner.fqdn, outcome,
                                   cn_only_without_dns_san=self.sw.cn_only_without_dns_san)
            if problem is not None:
                yield from self.quit(problem + CONNECTED_TO, b"")
        if self.smtps and (yield from self.code()) != 220:
            yield from self.quit(TLS_GREETING_HEAD, b" but greeting failed")
        return True


def offers_login(text: bytes) -> bool:
    """The relay AUTH condition of qmail-remote (§5.5.4) on the EHLO/HELO reply text."""
    i = 0
    while True:
        nl = text.find(b"\n", i)
        if nl < 0:
            return False
        i = nl + 1
        if not i + 14 < len(text):
            return False
        if any(text[i + 4 : i + 4 + len(p)] == p for p in AUTH_LINES):
            return True
