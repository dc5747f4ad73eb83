"""Policy specs: budgets, matched budgets, and one-line errors for bad input."""

from __future__ import annotations

import pytest

from breadcrumbs.errors import BreadcrumbsError
from breadcrumbs.policies import BudgetMatch, H2OPolicy, SnapKVPolicy, StreamingPolicy, TOVAPolicy, policy_from_spec

NAMES = ["streaming", "h2o", "tova", "snapkv", "knorm"]


@pytest.mark.parametrize("name", NAMES)
def test_budget_spec_round_trips(name):
    policy = policy_from_spec(f"{name}:64")
    assert policy.budget == 64 and policy.match is None and policy.label == f"{name}:64"
    assert policy.capacity(10, 100) == 74 and policy.capacity(10, 20) == 30


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["", ":0", ":-3", ":1.5", ":abc", ":@", ":@beacon:8@max", ":@tova:@beacon:4"])
def test_bad_budgets_are_one_line_errors(name, bad):
    with pytest.raises(BreadcrumbsError) as error:
        policy_from_spec(name + bad)
    assert "\n" not in str(error.value)


def test_unknown_policy_names_the_choices():
    with pytest.raises(BreadcrumbsError, match="unknown policy 'lru'.*tova"):
        policy_from_spec("lru:4")


def test_matched_spec_needs_resolution_before_generating():
    policy = policy_from_spec("tova:@beacon:8")
    assert policy.match == BudgetMatch("beacon:8", "peak") and policy.budget is None
    assert policy.label == "tova:@beacon:8"
    assert policy_from_spec("h2o:@beacon:4@mean").match == BudgetMatch("beacon:4", "mean")
    with pytest.raises(BreadcrumbsError, match="per problem"):
        policy.check(None, None)
    resolved = policy.with_budget(12)
    assert resolved.budget == 12 and resolved.label == "tova:@beacon:8" and policy.budget is None


@pytest.mark.parametrize("budget", [0, -1, 1.5, "8", True])
def test_python_api_rejects_bad_budgets(budget):
    with pytest.raises(BreadcrumbsError):
        TOVAPolicy(budget)


def test_knobs_are_validated_and_clamped():
    with pytest.raises(BreadcrumbsError):
        SnapKVPolicy(8, kernel=4)
    with pytest.raises(BreadcrumbsError):
        StreamingPolicy(8, sinks=-1)
    with pytest.raises(BreadcrumbsError):
        H2OPolicy(8, recent=-2)
    assert StreamingPolicy(4, sinks=10).protected_counts() == (3, 0)
    assert H2OPolicy(9).protected_counts() == (0, 4)
    assert SnapKVPolicy(3, window=8).protected_counts() == (0, 2)
    assert TOVAPolicy(1).protected_counts() == (0, 0)
