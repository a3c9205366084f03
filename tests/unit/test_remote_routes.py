"""smtproutes and domainbindings lookup and parsing (spec §5.3, §6)."""

from __future__ import annotations

import pytest

from eqmail_ref.controls import readfile_entries
from eqmail_ref.remote.routes import (
    BAD_BINDING,
    ColonMap,
    Route,
    binding_for,
    route_for,
)


def routes(text: bytes) -> ColonMap:
    return ColonMap(readfile_entries(text))


@pytest.mark.parametrize("host, relay", [
    (b"a.heaven.af.mil", b"relay1"), (b"heaven.af.mil", b"relay2"), (b"x.af.mil", b"relay1"),
    (b"af.mil", b"default"), (b"other.test", b"default"), (b"HEAVEN.AF.MIL", b"relay2"),
])
def test_lookup_walk(host: bytes, relay: bytes) -> None:
    m = routes(b".af.mil:relay1\nheaven.af.mil:relay2\n:default\n")
    assert route_for(host, m).relay == relay


def test_empty_value_means_mx_and_stops_the_walk() -> None:
    m = routes(b".example.org:\n:default\n")
    assert route_for(b"a.example.org", m) == Route(relay=None)
    assert route_for(b"other", m).relay == b"default"


def test_no_match_no_file_and_lines_without_colon() -> None:
    assert route_for(b"x.test", routes(b"no colon here\n")) == Route(relay=None)
    assert route_for(b"x.test", ColonMap([])) == Route(relay=None)


def test_later_duplicate_wins() -> None:
    assert route_for(b"x.test", routes(b"x.test:first\nX.TEST:second\n")).relay == b"second"


@pytest.mark.parametrize("value, route", [
    (b"relay.test", Route(relay=b"relay.test")),
    (b"relay.test:2525", Route(relay=b"relay.test", port=2525)),
    (b"relay.test:abc", Route(relay=b"relay.test", port=0)),
    (b"[1.2.3.4]:26", Route(relay=b"[1.2.3.4]", port=26)),
    (b"relay:25 joe secret", Route(relay=b"relay", user=b"joe", password=b"secret")),
    (b"relay:25 joe pass word", Route(relay=b"relay", user=b"joe", password=b"pass word")),
    (b"relay  pass", Route(relay=b"relay", user=b"", password=b"pass")),
])
def test_value_parse(value: bytes, route: Route) -> None:
    assert route_for(b"x.test", routes(b"x.test:" + value + b"\n")) == route


def test_user_without_password_reads_the_next_line() -> None:
    # verified in the spec: the password sent was the whole next smtproutes line
    m = routes(b"x.test:127.0.0.1:2525 joe\nnext.example:127.0.0.1:38525\n")
    assert route_for(b"x.test", m).password == b"next.example:127.0.0.1:38525"


def test_user_without_password_on_the_last_line_sends_z() -> None:
    # verified against real eQmail 1.08: AUTH LOGIN with password "Z" (stralloc's sentinel)
    route = route_for(b"x.test", routes(b"x.test:127.0.0.1:2525 joe\n"))
    assert (route.user, route.password, route.wants_auth) == (b"joe", b"Z", True)


@pytest.mark.parametrize("sender, ip, helo", [
    (b"u@example.com", b"\x05\x06\x07\x08", b"example.com"),
    (b"u@x.example.com", b"\x05\x06\x07\x09", b"x.example.com"),
    (b"u@heaven.af.mil", b"\x01\x02\x03\x04", b"heaven.af.mil"),
    (b"u@other.test", None, None),
])
def test_domainbindings_man_page_example(sender: bytes, ip: bytes | None, helo: bytes | None) -> None:
    m = routes(b"example.com:5.6.7.8\n.example.com:5.6.7.9\nheaven.af.mil:1.2.3.4\n")
    b = binding_for(sender, m)
    assert (b.local_ip, b.helo, b.error) == (ip, helo, None)


def test_domainbindings_catch_all_null_sender_and_errors() -> None:
    m = routes(b"empty.test:\n:127.0.0.9\nbad.test:not-an-ip\njunk.test:1.2.3.4junk\n")
    assert binding_for(b"", m).local_ip == b"\x7f\x00\x00\x09"  # <> matches the catch-all
    assert binding_for(b"u@empty.test", m).local_ip is None
    assert binding_for(b"u@bad.test", m).error == BAD_BINDING
    assert binding_for(b"u@junk.test", m).local_ip == b"\x01\x02\x03\x04"  # trailing junk ignored
