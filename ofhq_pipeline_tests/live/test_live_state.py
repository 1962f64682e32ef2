"""The hot path's live state against the marts: after the real-time run has published the same
events, the live revenue and each touched fan read exactly what the marts read.

On a fixed clock (NOW), as the real-time tests: every event was received at NOW and every run is
pinned to it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ofhq_pipeline.live.state import LiveState
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.settings import Paths
from ofhq_pipeline_tests.defs.test_realtime import (
    NOW,
    iso,
    land,
    landing_url,
    purchase,
    query,
    realtime_run,
)

# Real-time Dagster runs: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow

CREATOR = "acct_live"


@pytest.fixture
def live_defs(monkeypatch, tmp_path):
    from ofhq_pipeline_tests.conftest import point_at

    return point_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "home", as_of=NOW.isoformat())


def live_state() -> LiveState:
    return LiveState(Paths.from_env().analysts_marts, now=lambda: NOW)


def new_events(store: LandingStore, after: int):
    return store.events_after(after)


def test_live_state_reads_what_the_marts_read_once_published(live_defs, instance):
    with LandingStore(landing_url()) as store:
        # Published first: fan 11 bought yesterday, fan 12 today, fan 13 last month.
        land(store, CREATOR, "transactions.new", purchase("t1", 11, 40, NOW - timedelta(days=1)),
             "e1")
        land(store, CREATOR, "transactions.new", purchase("t2", 12, 15, NOW - timedelta(hours=3)),
             "e2")
        for n in range(10):  # $990 in ten purchases: not a whale yet
            land(store, CREATOR, "transactions.new",
                 purchase(f"t3_{n}", 13, 99, NOW - timedelta(days=31, hours=n)), f"e3_{n}")
        published = store.max_event_id()
    realtime_run(live_defs, instance, CREATOR)

    state = live_state()
    published_temperatures = dict(query(
        "SELECT temperature, count(*) FROM marts.fan_profile GROUP BY ALL"))
    # Nothing new yet: today's revenue is the published one.
    assert state.view()["revenue_today"][CREATOR]["gross_cents"] == query(
        "SELECT gross_cents FROM marts.creator_revenue_live")[0][0] == 1500

    with LandingStore(landing_url()) as store:
        land(store, CREATOR, "transactions.new", purchase("t4", 11, 25, NOW - timedelta(minutes=5)),
             "e4")
        # Fan 13 crosses $1,000: a new whale.
        land(store, CREATOR, "transactions.new", purchase("t5", 13, 20, NOW - timedelta(minutes=4)),
             "e5")
        # Today's purchase of fan 12 is refunded: it leaves today's revenue.
        land(store, CREATOR, "transactions.new",
             purchase("t2", 12, 15, NOW - timedelta(hours=3), status="refund"), "e6")
        # A tip is a purchase like any other.
        land(store, CREATOR, "transactions.new",
             purchase("t6", 14, 75, NOW - timedelta(minutes=1), type="tip",
                      description="Tip from fan"), "e8")
        land(store, CREATOR, "subscriptions.new",
             {"user": {"id": 15, "name": "Newbie"}, "subscribeAt": iso(NOW), "price": 4.99}, "e9")
        # Fan 12 writes: his refunded purchase left him cold, his message makes him hot.
        land(store, CREATOR, "messages.received",
             {"id": 7001, "text": "still there?", "price": 0, "fromUser": {"id": 12},
              "createdAt": iso(NOW - timedelta(minutes=2))}, "e10")
        applied = state.apply(new_events(store, published))

    assert applied.events == 6 and applied.purchases == 3
    keys = {key for _, key, _, _ in applied.candidates[CREATOR]}
    assert keys == {"new_whale:13", f"new_subscriber:15:{iso(NOW)}"}
    live = state.view()

    realtime_run(live_defs, instance, CREATOR)  # the source of truth catches up
    (marts_today,) = query("SELECT gross_cents, net_cents, purchase_count, paying_fans, tips_cents,"
                           " ppv_cents FROM marts.creator_revenue_live")
    today = live["revenue_today"][CREATOR]
    assert (today["gross_cents"], today["net_cents"], today["purchase_count"],
            today["paying_fans"], today["tips_cents"], today["ppv_cents"]) == marts_today
    assert today["gross_cents"] == 2500 + 2000 + 7500  # t2 refunded

    fans = {row["fan_id"]: row for row in state.fans()}
    assert set(fans) == {11, 12, 13, 14, 15}
    for fan_id, spend, purchases, last_at, last_type, last_cents, price_range, temperature in query(
        "SELECT fan_id, lifetime_spend_cents, purchase_count, last_purchase_at, last_purchase_type,"
        " last_purchase_cents, price_range, temperature FROM marts.fan_profile "
        "WHERE fan_id IN (11, 12, 13, 14, 15)"
    ):
        fan = fans[fan_id]
        assert (fan["lifetime_spend_cents"], fan["purchase_count"], fan["last_purchase_type"],
                fan["last_purchase_cents"], fan["price_range"], fan["temperature"]) == (
            spend, purchases, last_type, last_cents, price_range, temperature), fan_id
        assert fan["last_purchase_at"] == (last_at.isoformat() if last_at else None)
    assert fans[13]["price_range"] == "whale"
    assert fans[12]["temperature"] == "HOT" and fans[15]["name"] == "Newbie"
    # The temperature counts the page shows (published, moved by the hot path) are the marts'.
    moved = dict(published_temperatures)
    for name, n in live["temperature_moves"][CREATOR].items():
        moved[name] = moved.get(name, 0) + n
    assert {k: v for k, v in moved.items() if v} == dict(query(
        "SELECT temperature, count(*) FROM marts.fan_profile GROUP BY ALL"))

    # Once the run has published, the snapshot holds the events: nothing counts twice.
    assert state.refresh_snapshot()
    assert state.view()["revenue_today"][CREATOR]["gross_cents"] == today["gross_cents"]
    assert {row["fan_id"]: row["lifetime_spend_cents"] for row in state.fans()} == {
        fan_id: fans[fan_id]["lifetime_spend_cents"] for fan_id in fans}
    state.close()
