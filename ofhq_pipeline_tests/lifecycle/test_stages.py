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


# fan id → (purchase times, expected stage, expected stage_updated_at: when he entered the stage)
WITH_PURCHASES = {
    1: ([ago(7)], "active_buyer", ago(7)),  # a first purchase is no reactivation
    2: ([ago(7) - timedelta(days=30) - S, ago(7)], "reactivated", ago(7)),  # gap 30 d + 1 s
    3: ([ago(7) - timedelta(days=30), ago(7)], "active_buyer", ago(7)),  # gap exactly 30 d
    4: ([ago(50), ago(7) + S], "reactivated", ago(7) + S),
    # 7 d + 1 s ago after a gap: reactivated until 7 days after that purchase, 1 s ago.
    5: ([ago(50), ago(7) - S], "active_buyer", T - S),
    6: ([ago(14)], "active_buyer", ago(14)),
    7: ([ago(14) - S], "cooling_off", T - S),  # 14 days after the purchase
    8: ([ago(30)], "cooling_off", ago(16)),
    9: ([ago(30) - S], "at_risk", T - S),  # 30 days after the purchase
    10: ([ago(60)], "at_risk", ago(30)),
    11: ([ago(60) - S], "churned", T - S),  # 60 days after the purchase
    12: ([ago(3), ago(3)], "active_buyer", ago(3)),  # two at the same instant: a gap of zero
}
# fan id → (subscribed at, last fan message, expected stage, expected stage_updated_at), never
# purchased
WITHOUT_PURCHASES = {
    21: (ago(7), None, "new", ago(7)),  # the subscription
    22: (ago(7) - S, None, "cooling_off", T - S),  # when new ended
    23: (ago(90), ago(14), "warming", ago(14)),  # the message
    24: (ago(90), ago(14) - S, "cooling_off", T - S),  # when warming ended
    25: (ago(90), ago(30), "cooling_off", ago(16)),
    26: (ago(90), ago(30) - S, "at_risk", T - S),  # 30 days after the last activity
    27: (ago(90), ago(60), "at_risk", ago(30)),
    28: (ago(90), ago(60) - S, "churned", T - S),  # 60 days after the last activity
    29: (ago(30), None, "cooling_off", ago(23)),  # never active: decays from the subscription
    30: (ago(30) - S, None, "at_risk", T - S),
    31: (ago(60) - S, None, "churned", T - S),
    32: (ago(3), ago(1), "new", ago(3)),  # new before warming
    33: (T + timedelta(days=5), None, "churned", T),  # subscribes after T: no history, no instant
    34: (ago(10), ago(9), "warming", ago(3)),  # wrote while new: warming once new ended
}
# Still here: fan id → (subscription expired at (None: active), purchase times, last fan message,
# expected stage, expected stage_updated_at). Subscribed 200 days before T. Active within 14 days
# before T (14 days exactly included), a fan the rules churn is at_risk.
STILL_HERE = {
    # Expired 30 d + 1 s ago (churned from 1 s before T), bought yesterday: kept at_risk since
    # the expiry churned him (he was active_buyer until then).
    43: (ago(30) - S, [ago(1)], None, "at_risk", T - S),
    # Expired 60 days ago (churned from 30 days ago), bought exactly 14 days ago: back since then.
    44: (ago(60), [ago(14)], None, "at_risk", ago(14)),
    45: (ago(60), [ago(14) - S], None, "churned", ago(30)),  # 14 d + 1 s: gone since 30 days ago
    # Last purchase 61 days ago (churned from 1 day ago) but wrote 14 days ago: at_risk all along
    # since 30 days after the purchase.
    46: (None, [ago(61)], ago(14), "at_risk", ago(31)),
    47: (None, [ago(61)], ago(14) - S, "churned", ago(1)),
    48: (None, [ago(100)], ago(5), "at_risk", ago(5)),  # churned 40 days ago, wrote 5 days ago
    # Never bought, wrote 4 days ago (warming), subscription expired 50 days ago (churned 20 days
    # ago): at_risk since he wrote.
    49: (ago(50), [], ago(4), "at_risk", ago(4)),
    # at_risk since 15 days ago (purchase 45 days ago), expired 40 days ago (churned 10 days ago)
    # while he wrote 12 days ago: at_risk without a break since 15 days ago.
    50: (ago(40), [ago(45)], ago(12), "at_risk", ago(15)),
}


@pytest.fixture
def profiles(tmp_path):
    lake = make_lake(tmp_path)
    fans, txs, msgs = [], [], []
    for fan_id, (times, *_) in WITH_PURCHASES.items():
        fans.append(fan(fan_id, subscribe_at=ago(200), expired_at=T + timedelta(days=10)))
        txs += [txn(f"t{fan_id}_{i}", fan_id, 10, at) for i, at in enumerate(times)]
    for fan_id, (subscribed, said, *_) in WITHOUT_PURCHASES.items():
        fans.append(fan(fan_id, subscribe_at=subscribed, expired_at=T + timedelta(days=10)))
        if said:
            msgs.append((fan_id, message(fan_id * 10, fan_id, said, from_fan=True)))
    # Expiry: the override needs "expired" more than 30 days before T.
    fans += [
        fan(40, status="expired", subscribe_at=ago(200), expired_at=ago(30) - S),
        fan(41, status="expired", subscribe_at=ago(200), expired_at=ago(30)),
        fan(42, status="active", subscribe_at=ago(200), expired_at=ago(45)),  # renewed since
    ]
    txs += [txn("t40", 40, 10, ago(20))] + [txn(f"t{f}", f, 10, ago(1)) for f in (41, 42)]
    for fan_id, (expired, times, said, *_) in STILL_HERE.items():
        fans.append(fan(fan_id, status="expired" if expired else "active", subscribe_at=ago(200),
                        expired_at=expired or T + timedelta(days=10)))
        txs += [txn(f"t{fan_id}_{i}", fan_id, 10, at) for i, at in enumerate(times)]
        if said:
            msgs.append((fan_id, message(fan_id * 10, fan_id, said, from_fan=True)))
    write_sync(lake, fetched_at=T, fans=fans, transactions=txs, messages=msgs)
    build(lake, T)
    return lake, profile(lake)


def test_stages_with_purchases(profiles):
    _, p = profiles
    assert {f: p[f]["stage"] for f in WITH_PURCHASES} == {
        f: stage for f, (_, stage, _) in WITH_PURCHASES.items()}


def test_stages_without_purchases(profiles):
    _, p = profiles
    assert {f: p[f]["stage"] for f in WITHOUT_PURCHASES} == {
        f: stage for f, (_, _, stage, _) in WITHOUT_PURCHASES.items()}


def test_an_expired_subscription_churns_after_30_days(profiles):
    _, p = profiles
    assert p[40]["stage"] == "churned"  # cooling_off by his purchase 20 days ago
    assert p[41]["stage"] == "active_buyer"
    assert p[42]["stage"] == "active_buyer"


def test_a_fan_active_within_14_days_is_never_churned(profiles):
    _, p = profiles
    assert {f: p[f]["stage"] for f in STILL_HERE} == {
        f: stage for f, (*_, stage, _) in STILL_HERE.items()}
    assert [f for f, row in p.items() if row["stage"] == "churned"
            and row["temperature"] in ("HOT", "WARM", "COOLING")] == []


def test_stage_updated_at_is_when_history_entered_the_stage(profiles):
    """On the first evaluation: a purchase stage at the purchase, new at the subscription,
    warming at the message, a decay stage at the boundary crossed; never after T."""
    _, p = profiles
    expected = {
        **{f: since for f, (_, _, since) in WITH_PURCHASES.items()},
        **{f: since for f, (*_, since) in WITHOUT_PURCHASES.items()},
        **{f: since for f, (*_, since) in STILL_HERE.items()},
        40: T - S,  # expired 30 d + 1 s ago: churned 30 days after the expiry
        41: ago(1), 42: ago(1),
    }
    assert {f: p[f]["stage_updated_at"] for f in expected} == expected


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
    assert reasons[23] == "no purchase; fan message 14.0 days ago (<= 14)"
    assert reasons[44] == ("still here: last active 14.0 days ago (<= 14), not churned: "
                           "subscription expired 60.0 days ago (> 30), not renewed")
    assert reasons[48] == ("still here: last active 5.0 days ago (<= 14), not churned: "
                           "last purchase 100.0 days ago (> 60)")


def test_stages_recomputed_for_any_instant_equal_a_build_at_it(profiles, tmp_path):
    """The stage is a pure function of history and T: recomputing it (no file written) gives
    what a full build at that instant put in fan_profile."""
    lake, p = profiles
    assert stages_as_of(lake, CREATOR, T) == {f: row["stage"] for f, row in p.items()}
    earlier = stages_as_of(lake, CREATOR, ago(20))
    assert (earlier[8], earlier[11], earlier[7]) == ("active_buyer", "at_risk", "churned")
    build(lake, ago(20), run_id="earlier")
    assert earlier == {f: row["stage"] for f, row in profile(lake, "earlier").items()}
