"""A target built without a patch (`no-domainbindings`): the spec option is parsed for the
targets that run a build the user brought, and the cases tagged with the patch are not
applicable to it (eQmail's public commit 9254fa9 is a 1.08 without domainbindings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR, load_catalogue, select
from harness.errors import TargetSpecError
from harness.targets import make_target
from harness.verdict import NOT_APPLICABLE, OK
from tests.helpers.harness_util import run
from tests.integration.test_harness_run import _exec_target

CATALOGUE = CATALOGUE_DIR


@pytest.mark.parametrize("spec", ["exec:/opt/qmail,no-domainbindings",
                                  "docker:local/eqmail:1.08,no-domainbindings,home=/opt/qmail"])
def test_the_option_is_parsed_for_targets_the_user_built(spec: str) -> None:
    assert make_target(spec).lacks == frozenset({"domainbindings"})
    assert make_target(spec.replace(",no-domainbindings", "")).lacks == frozenset()


def test_the_reference_has_every_patch_of_its_version() -> None:
    with pytest.raises(TargetSpecError, match="unknown options \\['no-domainbindings'\\]"):
        make_target("ref:1.08,no-domainbindings")


def test_every_domainbindings_case_is_tagged() -> None:
    catalogue = load_catalogue([CATALOGUE / "8-domainbindings.toml"])
    tagged = {c.id for c in catalogue.cases if "domainbindings" in c.tags}
    # 8.1: the patch's behaviour on 1.08; 8.2: 1.09, which has none, runs without it
    assert tagged == {c.id for c in catalogue.cases if c.id.startswith("8.1.")}
    assert len(tagged) == 23


def test_a_build_without_domainbindings_gets_its_cases_not_applicable(tmp_path: Path) -> None:
    spec = _exec_target(tmp_path)
    cases = select(load_catalogue([CATALOGUE / "8-domainbindings.toml"]).cases, ["8.1.1", "8.1.6"])
    results = {(r.target, r.case.id): r for r in run([spec, f"{spec},no-domainbindings"], cases)}
    assert {k: r.verdict for k, r in results.items()} == {
        (spec, "8.1.1"): OK, (spec, "8.1.6"): OK,
        (f"{spec},no-domainbindings", "8.1.1"): NOT_APPLICABLE,
        (f"{spec},no-domainbindings", "8.1.6"): NOT_APPLICABLE}
    assert results[(f"{spec},no-domainbindings", "8.1.1")].reason == \
        "target built without the domainbindings patch"
