"""Hypothesis strategies for SMTP client input: commands, addresses and message bodies as
raw bytes, including what well-behaved clients never send (bare LF/CR, NUL, 8-bit, source
routes, quoting, very long arguments, garbage).

Every value is bytes ready for the wire. `{{` never appears in a value, so each one survives
the case files' `{{N*TEXT}}` expansion unchanged (harness.cases.to_bytes) and a saved finding
replays the exact bytes.
"""

from __future__ import annotations

import base64

from hypothesis import strategies as st

__all__ = ["addresses", "domains", "bodies", "commands", "auth_lines", "garbage", "no_braces",
           "USERS"]

# the `auth` fixture profile's users (fixtures/profiles.toml); other names must fail
USERS: tuple[tuple[bytes, bytes], ...] = ((b"joe", b"secret"), (b"ann", b"pass word"))


def no_braces(data: bytes) -> bytes:
    """Break `{{` so the bytes round-trip through a case file."""
    while b"{{" in data:
        data = data.replace(b"{{", b"{(")
    return data


_ATEXT = st.sampled_from([b"joe", b"ann", b"postmaster", b"a", b"x.y", b"first+tag", b"UPPER", b"%",
                          b"a\"b", b"\xe9l\xe8ve", b"\x00", b"a b"])
_LABEL = st.sampled_from([b"example.org", b"EXAMPLE.ORG", b"sub.example.net", b"example.net", b"mx.test",
                          b"elsewhere.com", b"[1.2.3.4]", b"[127.0.0.1]", b"[5.6.7.8]", b"[0.0.0.0]",
                          b"localhost", b"", b"x", b"b\xfccher.de", b"example.org."])

domains = st.one_of(_LABEL, st.binary(max_size=12).map(no_braces))

# Every strategy a composite draws from is made once, here: one made inside the composite
# is made, validated and labelled again at each draw, which was most of hypothesis's cost
# per example (bench/property_speed.py). The same strategies, so the same examples.
_KIND6, _KIND10 = st.integers(0, 5), st.integers(0, 9)
_QUOTED = st.sampled_from([b"a b", b"j\\\"oe", b"", b"x@y", b"\xe9"])
_LONG = st.sampled_from([64, 65, 255, 900, 1100])
_RAW_LOCAL = st.binary(min_size=1, max_size=10)
_SPACE = st.sampled_from([b"", b" "])
_PARAMS = st.sampled_from([b"", b"", b" SIZE=100", b" BODY=8BITMIME", b" SIZE=99999999999", b" x"])
_OPEN = st.sampled_from([b"<", b" <", b"<<"])


@st.composite
def _local(draw: st.DrawFn) -> bytes:
    kind = draw(_KIND6)
    if kind == 0:
        return b'"' + draw(_QUOTED) + b'"'
    if kind == 1:
        return b"a" * draw(_LONG)
    if kind == 2:
        return no_braces(draw(_RAW_LOCAL))
    return draw(_ATEXT)


_LOCAL, _BOOL = _local(), st.booleans()


@st.composite
def addresses(draw: st.DrawFn) -> bytes:
    """What goes between MAIL FROM:/RCPT TO: and the line end, brackets included or not."""
    kind = draw(_KIND10)
    if kind == 0:
        return b"<>"
    addr = draw(_LOCAL) + (b"@" + draw(domains) if draw(_BOOL) or kind > 3 else b"")
    if kind == 1:  # source route
        addr = b"@" + draw(domains) + b",@" + draw(domains) + b":" + addr
    if kind == 2:  # no angle brackets, maybe a space
        return draw(_SPACE) + addr
    if kind == 3:  # unbalanced
        return b"<" + addr
    params = draw(_PARAMS)
    return draw(_OPEN) + addr + b">" + params


_ADDRESS = addresses()


_EOL = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n", b""])


_LINE_TEXT = st.one_of(
    st.sampled_from([b"", b".", b"..", b".x", b"Subject: t", b"Received: x", b"Delivered-To: y",
                     b"\xff\xfe8-bit", b"a\x00b", b" ", b"a\rb", b"x" * 1000]),
    st.binary(max_size=20).map(no_braces))
_END = st.sampled_from([b".\r\n", b"\r\n.\r\n", b"\r\n.\r\n", b"\n.\n", b"\r\n.\n", b"\n.\r\n",
                        b"\r.\r", b"", b"\r\n.\r\nNOOP\r\n"])


@st.composite
def _body_line(draw: st.DrawFn) -> bytes:
    text = draw(_LINE_TEXT)
    return text + draw(_EOL)


_LINES = st.lists(_body_line(), max_size=6)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A message body sent after 354: lines with dots and odd line ends, usually ended by the
    end-of-data mark (sometimes a smuggling-style ambiguous one, sometimes none)."""
    body = b"".join(draw(_LINES))
    end = draw(_END)
    return body + end


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


_CREDENTIALS = st.sampled_from([*USERS, (b"joe", b"wrong"), (b"nobody", b"x"), (b"", b"")])
_ODD_ANSWER = st.sampled_from([b"*\r\n", b"=\r\n", b"\r\n", b"!!!\r\n", b"am9l\n", b"====\r\n"])
_RAW_ANSWER = st.binary(max_size=16)


@st.composite
def auth_lines(draw: st.DrawFn) -> bytes:
    """A line answering a 334 prompt: right or wrong credentials, bad base64, a cancel '*'."""
    user, secret = draw(_CREDENTIALS)
    kind = draw(_KIND6)
    if kind == 0:
        return _b64(user) + b"\r\n"
    if kind == 1:
        return _b64(secret) + b"\r\n"
    if kind == 2:
        return _b64(b"\x00" + user + b"\x00" + secret) + b"\r\n"
    if kind == 3:
        return draw(_ODD_ANSWER)
    if kind == 4:
        return _b64(user + b" " + b"0" * 32) + b"\r\n"
    return no_braces(draw(_RAW_ANSWER)) + b"\r\n"


garbage = st.binary(min_size=1, max_size=64).map(no_braces)
_VERB = st.sampled_from([b"HELO", b"EHLO", b"MAIL", b"RCPT", b"DATA", b"RSET", b"NOOP", b"VRFY",
                         b"AUTH", b"HELP", b"helo", b"ehlo", b"mail", b"rcpt", b"Data", b"BDAT",
                         b"STARTTLS x", b"GARBAGE"])
_HELO_SPACE = st.sampled_from([b" ", b"  ", b""])
_FROM = st.sampled_from([b" FROM:", b" from:", b" FROM: ", b" FROM", b"FROM:"])
_TO = st.sampled_from([b" TO:", b" to:", b" TO: ", b" TO", b"TO:"])
_MECH = st.sampled_from([b" LOGIN", b" PLAIN", b" CRAM-MD5", b" login", b" cram-md5", b"",
                         b" XYZ", b" PLAIN ", b" LOGIN "])
_INITIAL = st.one_of(st.just(b""), auth_lines().map(lambda x: b" " + x.rstrip(b"\r\n")))
_ARG = st.sampled_from([b"", b" x", b" joe", b" " + b"a" * 600])


@st.composite
def commands(draw: st.DrawFn) -> bytes:
    """One command line (or a few pipelined), bytes exactly as sent."""
    verb = draw(_VERB)
    eol = draw(_EOL)
    if verb.upper() in (b"HELO", b"EHLO"):
        arg = draw(_HELO_SPACE) + draw(domains)
    elif verb.upper() == b"MAIL":
        arg = draw(_FROM)
        arg += draw(_ADDRESS)
    elif verb.upper() == b"RCPT":
        arg = draw(_TO) + draw(_ADDRESS)
    elif verb == b"AUTH":
        mech = draw(_MECH)
        initial = draw(_INITIAL)
        arg = mech + initial
    elif verb == b"GARBAGE":
        return draw(garbage) + eol
    else:
        arg = draw(_ARG)
    return verb + arg + eol
