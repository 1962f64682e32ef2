"""Relationship stages at their exact thresholds, through the real SQL models (fan-profile.md).

"Within N days" of T includes N days exactly; one second more is outside.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from ofhq_pipeline.lifecycle.models import stages_as_of
from ofhq_pipeline_tests.builders import (
    CREATOR,
    day,
    fan,
    make_lake,
    message,
    profile,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.lifecycle.harness import build

T = day(100)
S = timedelta(seconds=1)


def ago(days: float):
    return T - timedelta(days=days)


# fan id → (purchase times, fan message time, subscribed at, expected stage)
WITH_PURCHASES = {
    1: ([ago(7)], "active_buyer"),  # a first purchase is no reactivation
    2: ([ago(7) - timedelta(days=30) - S, ago(7)], "reactivated"),  # gap 30 d + 1 s
    3: ([ago(7) - timedelta(days=30), ago(7)], "active_buyer"),  # gap exactly 30 d
    4: ([ago(50), ago(7) + S], "reactivated"),
    5: ([ago(50), ago(7) - S], "active_buyer"),  # 7 d + 1 s ago: no longer reactivated
    6: ([ago(14)], "active_buyer"),
    7: ([ago(14) - S], "cooling_off"),
    8: ([ago(30)], "cooling_off"),
    9: ([ago(30) - S], "at_risk"),
    10: ([ago(60)], "at_risk"),
    11: ([ago(60) - S], "churned"),
    12: ([ago(3), ago(3)], "active_buyer"),  # two at the same instant: a gap of zero
}
# fan id → (subscribed at, last fan message, expected stage), never purchased
WITHOUT_PURCHASES = {
    21: (ago(7), None, "new"),
    22: (ago(7) - S, None, "cooling_off"),
    23: (ago(90), ago(14), "warming"),
    24: (ago(90), ago(14) - S, "cooling_off"),
    25: (ago(90), ago(30), "cooling_off"),
    26: (ago(90), ago(30) - S, "at_risk"),
    27: (ago(90), ago(60), "at_risk"),
    28: (ago(90), ago(60) - S, "churned"),
    29: (ago(30), None, "cooling_off"),  # never active: decays from the subscription
    30: (ago(30) - S, None, "at_risk"),
    31: (ago(60) - S, None, "churned"),
    32: (ago(3), ago(1), "new"),  # new before warming
    33: (T + timedelta(days=5), None, "churned"),  # subscribes after T: no history at T
}



@pytest.fixture
def profiles(tmp_path):
    lake = make_lake(tmp_path)
    fans, txs, msgs = [], [], []
    for fan_id, (times, _) in WITH_PURCHASES.items():
        fans.append(fan(fan_id, subscribe_at=ago(200), expired_at=T + timedelta(days=10)))
        txs += [txn(f"t{fan_id}_{i}", fan_id, 10, at) for i, at in enumerate(times)]
    for fan_id, (subscribed, said, _) in WITHOUT_PURCHASES.items():
        fans.append(fan(fan_id, subscribe_at=subscribed, expired_at=T + timedelta(days=10)))
        if said:
            msgs.append((fan_id, message(fan_id * 10, fan_id, said, from_fan=True)))
    # Expiry: the override needs "expired" more than 30 days before T.
    fans += [
        fan(40, status="expired", subscribe_at=ago(200), expired_at=ago(30) - S),
        fan(41, status="expired", subscribe_at=ago(200), expired_at=ago(30)),
        fan(42, status="active", subscribe_at=ago(200), expired_at=ago(45)),  # renewed since
    ]
    txs += [txn(f"t{f}", f, 10, ago(1)) for f in (40, 41, 42)]
    write_sync(lake, fetched_at=T, fans=fans, transactions=txs, messages=msgs)
    build(lake, T)
    return lake, profile(lake)


def test_stages_with_purchases(profiles):
    _, p = profiles
    assert {f: p[f]["stage"] for f in WITH_PURCHASES} == {
        f: expected for f, (_, expected) in WITH_PURCHASES.items()}


def test_stages_without_purchases(profiles):
    _, p = profiles
    assert {f: p[f]["stage"] for f in WITHOUT_PURCHASES} == {
        f: expected for f, (*_, expected) in WITHOUT_PURCHASES.items()}


def test_an_expired_subscription_churns_after_30_days(profiles):
    _, p = profiles
    assert p[40]["stage"] == "churned"
    assert p[41]["stage"] == "active_buyer"
    assert p[42]["stage"] == "active_buyer"


def test_reasons_name_the_rule_and_values(profiles):
    lake, _ = profiles
    con = duckdb.connect()
    reasons = dict(con.execute(
        "SELECT fan_id, stage_reason FROM read_parquet(?)",
        [str(lake.staging_path("fan_stage", CREATOR, layer="intermediate"))]).fetchall())
    con.close()
    assert reasons[2] == "purchase 7.0 days ago (<= 7) after a gap of 30.0 days (> 30)"
    assert reasons[9] == "last purchase 30.0 days ago (<= 60)"
    assert reasons[29] == "no purchase; subscribed 30.0 days ago (<= 30)"
    assert reasons[40] == "subscription expired 30.0 days ago (> 30), not renewed"


def test_stages_recomputed_for_any_instant_equal_a_build_at_it(profiles, tmp_path):
    """The stage is a pure function of history and T: recomputing it (no file written) gives
    what a full build at that instant put in fan_profile."""
    lake, p = profiles
    assert stages_as_of(lake, CREATOR, T) == {f: row["stage"] for f, row in p.items()}
    earlier = stages_as_of(lake, CREATOR, ago(20))
    assert (earlier[8], earlier[11], earlier[7]) == ("active_buyer", "at_risk", "churned")
    build(lake, ago(20), run_id="earlier")
    assert earlier == {f: row["stage"] for f, row in profile(lake, "earlier").items()}
