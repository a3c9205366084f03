"""Category 10's client scripts in the case model: `client` + `script` become a typed
ClientScript at load, and every key, type and combination a client cannot play is a
problem naming the file, the line and the case (harness/cases/client_script.py). The
outcome text of a client run is stable and keeps SMTP replies in their wire form
(harness/clients/outcome.py)."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

import pytest

from harness.cases import CaseKind, ClientAuth, load_file
from harness.cases.client_script import sized_message
from harness.clients.outcome import raised, returned
from harness.verdict import codes
from tests.helpers.harness_util import write_cases

CASE = '''
[[case]]
id = "10.9.1"
title = "a client case"
spec = "2.7"
client = "{client}"
script = {script}
'''


def _load(tmp_path: Path, client: str = "smtplib", script: str = "{}", extra: str = "") -> tuple[Path, list[str], list]:
    text = CASE.format(client=client, script=script) + extra
    path = write_cases(tmp_path, text)
    catalogue = load_file(path)
    return path, catalogue.problems, catalogue.cases


def test_a_client_case_loads_as_a_typed_script(tmp_path: Path) -> None:
    _, problems, [case] = _load(tmp_path, "aiosmtplib",
                                '{ from = "a@b.test", to = ["c@d.test", "e@f.test"], starttls = "required", '
                                'auth = { mechanism = "CRAM-MD5", user = "joe", password = "pass word" }, '
                                'mail_options = ["BODY=8BITMIME"], message = "Subject: x\\r\\n\\r\\n\\u00e9\\r\\n" }')
    assert problems == []
    assert case.kind == CaseKind.CLIENT and case.steps == ()
    script = case.client
    assert script.client == "aiosmtplib" and script.sender == "a@b.test"
    assert script.recipients == ("c@d.test", "e@f.test") and script.starttls == "required"
    assert script.auth == ClientAuth(mechanism="CRAM-MD5", user="joe", password="pass word")
    assert script.mail_options == ("BODY=8BITMIME",)
    assert script.message == b"Subject: x\r\n\r\n\xe9\r\n"  # case strings are bytes


def test_defaults_and_a_sized_message(tmp_path: Path) -> None:
    _, problems, [case] = _load(tmp_path, script="{ size = 5000 }")
    assert problems == []
    assert case.client.sender == "joe@example.org" and case.client.recipients == ("rcpt@example.org",)
    assert case.client.starttls == "no" and case.client.auth is None and case.client.send
    assert len(case.client.message) == 5000 and case.client.message == sized_message(5000)
    assert case.client.message.startswith(b"Subject: large\r\n\r\n")


@pytest.mark.parametrize(("client", "script", "key", "message"), [
    ("smtplib", '{ form = "a@b.test" }', "form", "script: unknown key 'form' (did you mean 'from'?)"),
    ("smtplib", '{ auth = { mechanism = "PLAIN", user = "joe", pasword = "x" } }', "pasword",
     "script.auth: unknown key 'pasword' (known: mechanism, user, password)"),
    ("curl", "{}", "client", "client must be one of smtplib, aiosmtplib, openssl-s_client, swaks, not 'curl'"),
    ("smtplib", '{ starttls = "yes" }', "starttls",
     "script.starttls must be one of no, opportunistic, required"),
    ("smtplib", '{ auth = { mechanism = "NTLM", user = "joe", password = "x" } }', "mechanism",
     "script.auth.mechanism must be one of PLAIN, LOGIN, CRAM-MD5, any"),
    ("smtplib", '{ auth = { user = "joe" } }', "auth", "script.auth needs password"),
    ("smtplib", '{ message = "x", size = 10 }', "size", "script: give message or size, not both"),
    ("smtplib", "{ size = 0 }", "size", "script.size must be a byte count > 0"),
    ("smtplib", "{ to = [] }", "to", "script.to must not be empty"),
    ("smtplib", '{ to = "a@b.test" }', "to", "script.to must be a list of strings, not a string"),
    ("smtplib", "{ pipelining = true }", "pipelining", "script.pipelining: smtplib does not pipeline (swaks does)"),
    ("openssl-s_client", "{}", "script",
     'script.starttls: openssl-s_client speaks SMTP only through its own STARTTLS: starttls must be "required"'),
    ("openssl-s_client", '{ starttls = "required", auth = { mechanism = "CRAM-MD5", user = "j", password = "p" } }',
     "mechanism", "script.auth.mechanism: openssl-s_client writes its script without reading: PLAIN or LOGIN only"),
])
def test_a_bad_script_is_a_problem_with_its_line(tmp_path: Path, client: str, script: str, key: str,
                                                  message: str) -> None:
    path, problems, cases = _load(tmp_path, client, script)
    assert cases == []
    text = path.read_text().splitlines()
    line = next(n for n, t in enumerate(text, 1) if re.search(rf"\b{key}\s*=", t))
    assert problems == [f"{path}:{line}: case 10.9.1: {message}"]


@pytest.mark.parametrize(("extra", "message"), [
    ('input = "QUIT\\r\\n"\n', "'input' does not go with 'client' (a real client plays the script)"),
    ('steps = ["QUIT\\r\\n"]\n', "'steps' does not go with 'client' (a real client plays the script)"),
    ('expect = { relay = [] }\n', "expect: 'relay' cannot be pinned in this kind of case "
                                  "(pinnable: replies, exit, queue, fd3, log)"),
])
def test_a_client_case_takes_no_session_of_its_own(tmp_path: Path, extra: str, message: str) -> None:
    _, problems, cases = _load(tmp_path, extra=extra)
    assert cases == [] and len(problems) == 1 and problems[0].endswith(message)


def test_a_script_without_its_client_is_a_problem(tmp_path: Path) -> None:
    text = CASE.replace('client = "{client}"\n', "").format(script="{}")
    path = write_cases(tmp_path, text)
    catalogue = load_file(path)
    assert catalogue.cases == []
    assert catalogue.problems == [f"{path}:6: case 10.9.1: a client case needs both 'client' and 'script'"]


def test_an_outcome_keeps_replies_in_their_wire_form() -> None:
    refused = smtplib.SMTPRecipientsRefused({"far@x.test": (553, b"sorry, no (#5.7.1)")})
    assert raised(refused) == b"raised SMTPRecipientsRefused\r\nrefused <far@x.test>\r\n553 sorry, no (#5.7.1)\r\n"
    multi = raised(smtplib.SMTPSenderRefused(530, b"first\nsecond", "a@b.test"))
    assert multi == b"raised SMTPSenderRefused\r\nsender <a@b.test>\r\n530-first\r\n530 second\r\n"
    assert codes(multi.decode("latin-1")) == [b"530", b"530"]  # NON_STRICT sees the codes
    assert returned({}, (235, "ok, go ahead"), "authenticated") == b"authenticated\r\n235 ok, go ahead\r\n"
    assert raised(OSError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")) == \
        b"raised OSError\r\n[SSL: WRONG_VERSION_NUMBER] wrong version number\r\n"
