"""The method registry: one record per family, read by specs, recipes, sweeps, plots, AUAC and the CLI help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.evaluation.pareto import family_name
from breadcrumbs.policies import ScoredEvictionPolicy, TOVAPolicy, policy_from_spec
from breadcrumbs.policies.registry import (
    MethodFamily,
    PlotStyle,
    baseline_names,
    families,
    get_family,
    is_learned,
    register,
)
from breadcrumbs.policies.scored import budget_argument

RECORDED = ("streaming", "h2o", "tova", "snapkv", "knorm", "rkv")


def test_recorded_recipes_keep_their_baselines_in_order():
    """The demo, experiment and full comparison ran these lists; a new family joins one only through its record."""
    from breadcrumbs.recipes.comparison import SWEEP_FAMILIES
    from breadcrumbs.recipes.demo import demo_methods
    from breadcrumbs.recipes.experiment import BASELINES

    assert baseline_names("demo") == RECORDED[:5]
    assert BASELINES == SWEEP_FAMILIES == RECORDED
    assert demo_methods()[:4] == ["full", "beacon:2", "beacon:4", "beacon:8"]
    assert demo_methods()[4:] == [f"{name}:@beacon:{c}" for name in RECORDED[:5] for c in (2, 4, 8)]
    assert baseline_names(swept=True) == (*RECORDED, "triattention")


@pytest.mark.parametrize("family", families(), ids=lambda family: family.name)
def test_every_family_builds_from_its_usage_and_names_its_settings(family):
    spec = family.usage.replace(":B", ":8").replace(":C", ":4")
    policy = policy_from_spec(spec)
    assert isinstance(policy, family.policy_class) and policy.family == family.name and policy.label == spec
    if isinstance(policy, ScoredEvictionPolicy):
        assert family.settings == {name: getattr(type(policy)(8), name) for name in policy.settings}


def test_learned_labels_and_styles_come_from_the_records():
    assert [is_learned(name) for name in ("full", "beacon", "beacon-lag2", "window", "tova", "triattention", "x")] == [
        True, True, True, True, False, False, False]
    assert family_name("beacon-lag2") == "Beacons + raw tail of 2 windows"
    assert family_name("triattention") == "TriAttention" and family_name("unregistered") == "unregistered"
    assert get_family("rkv").style == PlotStyle("#17becf", "X")


def test_bad_records_and_names_are_one_line_errors():
    with pytest.raises(BreadcrumbsError, match="registered twice"):
        register(MethodFamily("tova", TOVAPolicy, budget_argument, "TOVA", PlotStyle("k", "o")))
    with pytest.raises(BreadcrumbsError, match="unknown recipe"):
        MethodFamily("new", TOVAPolicy, budget_argument, "New", PlotStyle("k", "o"), recipes=frozenset({"paper"}))
    with pytest.raises(BreadcrumbsError, match="unknown policy 'lru'; choose one of full, beacon.*triattention"):
        get_family("lru")


def test_cli_help_lists_the_registered_baselines():
    from breadcrumbs.cli import app

    wide = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}
    shown = CliRunner().invoke(app, ["eval", "--help"], env=wide).output
    assert "|".join(baseline_names()) + ":BUDGET" in shown
    shown = CliRunner().invoke(app, ["sweep", "--help"], env=wide).output
    assert ",".join(baseline_names(swept=True)) in shown
