"""The runner hands out first the cases that may pause after a failed AUTH (spec §2.9), so
that real eQmail's 5 s pauses begin early and overlap the run: a case whose steps try AUTH,
and a category-10 client given credentials (no steps of its own: a library that tries
mechanisms one after another, 15 s of pauses in 10.4.15)."""

from __future__ import annotations

from harness.cases import CATALOGUE_DIR, load_catalogue
from harness.runner import may_pause


def test_cases_that_try_auth_may_pause_and_others_not() -> None:
    cases = {c.id: c for c in load_catalogue([CATALOGUE_DIR]).cases}
    assert may_pause(cases["10.4.15"]) and cases["10.4.15"].steps == ()
    assert may_pause(cases["4.2.13"])
    assert not may_pause(cases["1.1.1"])
    clients = [c for c in cases.values() if c.client is not None]
    assert {c.id for c in clients if may_pause(c)} == {c.id for c in clients if c.client and c.client.auth}
