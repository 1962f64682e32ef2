"""The rotation's decisions and its capacity, as plain functions over a sync history."""

from __future__ import annotations

import math

import pytest

from ofhq_pipeline.source.rotation import (
    DEFAULT_REQUESTS_PER_SYNC,
    Limits,
    SyncHistory,
    creators_kept_fresh,
    plan,
)

NOW = 1_800_000_000.0
MIN = 60.0
TARGET = 45 * MIN


def history(ages_min: dict[str, float], **kwargs) -> SyncHistory:
    return SyncHistory(last_synced={c: NOW - age * MIN for c, age in ages_min.items()}, **kwargs)


def test_never_synced_first_then_the_oldest_and_only_those_due():
    synced = history({"acct_a": 50, "acct_b": 10, "acct_c": 44}, durations_s=(30.0,))
    decision = plan(["acct_a", "acct_b", "acct_c", "acct_d", "acct_e"], synced, NOW,
                    Limits(target_s=TARGET, max_concurrent=10))
    # acct_c is 44 min old: a sync launched at the next tick (1 min) lands 30 s later, past 45.
    assert decision.launch == decision.due == ["acct_d", "acct_e", "acct_a", "acct_c"]
    assert decision.over_target == [("acct_d", None), ("acct_e", None), ("acct_a", 50 * MIN)]
    assert decision.held_by is None


def test_a_creator_that_can_wait_a_tick_waits():
    decision = plan(["acct_a"], history({"acct_a": 43}, durations_s=(30.0,)), NOW,
                    Limits(target_s=TARGET))
    assert decision.launch == [] and decision.due == []
    assert decision.next_due_in_s == pytest.approx(30.0)  # 45 − 1 − 0.5 − 43 minutes


def test_in_flight_syncs_take_run_slots_and_cover_their_creators():
    synced = history({}, in_flight=frozenset({"acct_a"}), in_flight_runs=1)
    decision = plan(["acct_a", "acct_b", "acct_c"], synced, NOW,
                    Limits(target_s=TARGET, max_concurrent=2))
    assert decision.due == ["acct_b", "acct_c"]
    assert decision.launch == ["acct_b"]
    assert decision.held_by == "run slots"


def test_the_budget_left_this_minute_bounds_the_launches():
    creators = [f"acct_{i}" for i in range(6)]
    limits = dict(target_s=TARGET, max_concurrent=6, budget_per_minute=1_000,
                  requests_per_sync=200)
    fresh = plan(creators, history({}), NOW, Limits(budget_remaining=1_000, **limits))
    nearly_used = plan(creators, history({}), NOW, Limits(budget_remaining=450, **limits))
    assert len(fresh.launch) == 5 and fresh.held_by == "API budget"
    assert nearly_used.launch == creators[:2] and nearly_used.held_by == "API budget"


def test_a_sync_costing_more_than_a_minute_still_launches_on_a_full_budget():
    decision = plan(["acct_a"], history({}), NOW,
                    Limits(target_s=TARGET, budget_per_minute=100, budget_remaining=100,
                           requests_per_sync=5_000))
    assert decision.launch == ["acct_a"]


def test_requests_per_sync_configured_else_learned_else_a_default():
    learned = history({}, requests=(40, 10, 30))
    assert learned.requests_per_sync(None) == 30
    assert learned.requests_per_sync(7) == 7
    assert history({}).requests_per_sync(None) == DEFAULT_REQUESTS_PER_SYNC


def test_capacity_is_the_brief_formula_without_ticks():
    """target / median × concurrent syncs against budget × target / requests per sync."""
    cap = creators_kept_fresh(45, 15.0, 2, 1_000, 150, tick_s=0)
    assert cap.by_workers == pytest.approx(2_700 / 15 * 2)  # 360
    assert cap.by_budget == pytest.approx(1_000 * 45 / 150)  # 300
    assert (cap.kept_fresh, cap.limited_by) == (300, "API budget")


def test_capacity_under_a_minute_tick_counts_a_slot_per_tick_and_the_lookahead():
    """A 15 s sync still holds its slot until the next tick (60 s), and each creator is synced
    a tick and a sync before the target: every 2,625 s. 2 × 2,625 / 60 = 87.5 by workers;
    1,000 × 43.75 / 150 = 291.7 by budget."""
    cap = creators_kept_fresh(45, 15.0, 2, 1_000, 150)
    assert (cap.slot_cycle_s, cap.period_s) == (60.0, 2_625.0)
    assert cap.by_workers == pytest.approx(87.5)
    assert cap.by_budget == pytest.approx(291.67, abs=0.01)
    assert (cap.kept_fresh, cap.limited_by) == (87, "run workers")
    assert cap.needed_for(200) == (5, 686)


def test_a_sync_longer_than_a_tick_holds_its_slot_for_whole_ticks():
    cap = creators_kept_fresh(45, 70.0, 2, 0, None)
    assert cap.slot_cycle_s == 120.0
    assert cap.kept_fresh == math.floor((2_700 - 60 - 70) / 120 * 2)  # 42
    assert (cap.by_budget, cap.limited_by) == (None, "run workers")


def test_capacity_limited_by_the_budget():
    cap = creators_kept_fresh(45, 15.0, 2, 100, 150)
    assert (cap.kept_fresh, cap.limited_by) == (29, "API budget")  # 100 × 43.75 / 150


def test_capacity_unknown_before_any_sync():
    cap = creators_kept_fresh(45, None, 2, 0, None)
    assert (cap.kept_fresh, cap.limited_by) == (None, None)


@pytest.mark.parametrize("args", [(0, 10.0, 2, 1000, 5), (45, 10.0, 0, 1000, 5),
                                  (45, 10.0, 2, -1, 5)])
def test_capacity_refuses_settings_out_of_range(args):
    with pytest.raises(ValueError, match="must be positive"):
        creators_kept_fresh(*args)
