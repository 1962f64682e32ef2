"""Chatter KPIs against small conversations computed by hand."""

from __future__ import annotations

from datetime import date

import pytest

from ofhq_pipeline.chatters.models import KpiSettings
from ofhq_pipeline_tests.builders import CREATOR
from ofhq_pipeline_tests.chatters.conftest import at, build_kpis, shift_set

# alice 00:00-08:00, bob 08:00-16:00, chen 23:00-01:00 (across midnight), all from 2026-10-01.
SHIFTS = shift_set(("alice", 0, 480), ("bob", 480, 960), ("chen", 1380, 1500))
DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)


@pytest.fixture
def marts(chat, lake):
    # fan 1, with alice
    chat.fan(1, 10, "hi")
    chat.fan(1, 12, "you there?")  # same turn: the wait runs from 00:10
    chat.creator(1, 15, "hey you")  # answers the turn in 5 min = 300 s
    chat.creator(1, 20, "new set", price=20)  # PPV offered
    chat.buy(1, 25, 20)  # PPV unlocked during alice's shift
    chat.creator(1, 30, "weekend promo", price=10, mass=True)  # mass: not written by her
    chat.buy(1, 40, 5, kind="tip")  # 20 min after her last personal message: hers
    chat.fan(1, 100, "morning")
    chat.creator(1, 130, "good morning")  # answers in 30 min = 1800 s
    chat.buy(1, 161, 7, kind="tip")  # 31 min after her last message: nobody's
    # fan 2: written to in alice's shift, answered in bob's
    chat.fan(2, 470, "hello?")  # alice's turn, answered after her shift ended (20 min wait)
    chat.buy(2, 480, 15)  # exactly bob's start: bob's
    chat.creator(2, 490, "sorry, here's something", price=15)
    chat.fan(2, 500, "ok")
    chat.creator(2, 620, "back!")  # answers in 120 min = 7200 s: left waiting over an hour
    chat.buy(2, 960, 9)  # exactly bob's end: in no shift
    # fan 3: never answered while anyone was on shift
    chat.fan(3, 200, "anyone?")
    chat.creator(3, 960, "late reply")  # in no shift: a gap
    # chen across midnight
    chat.creator(4, 1390, "late night")
    chat.fan(4, 1395, "hey")
    chat.creator(4, 1450, "after midnight")
    chat.write()
    return build_kpis(lake, SHIFTS)


def by(rows, *keys):
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_daily_kpis(marts):
    daily = by(marts["chatter_performance_daily"], "chatter", "day")
    assert set(daily) == {("alice", DAY1), ("bob", DAY1), ("chen", DAY1), ("chen", DAY2)}
    alice = daily["alice", DAY1]
    assert {k: alice[k] for k in (
        "creator_id", "shifts", "shift_hours", "messages_sent", "mass_messages_sent",
        "fans_messaged", "ppv_offered", "ppv_unlocked", "unlock_ratio", "ppv_revenue_cents",
        "tips", "tip_revenue_cents", "revenue_cents", "fan_turns", "turns_answered",
        "median_answer_s", "p90_answer_s", "fans_answered", "fans_left_waiting",
    )} == {
        "creator_id": CREATOR, "shifts": 1, "shift_hours": 8.0, "messages_sent": 3,
        "mass_messages_sent": 1, "fans_messaged": 1, "ppv_offered": 1, "ppv_unlocked": 1,
        "unlock_ratio": 1.0, "ppv_revenue_cents": 2000, "tips": 1, "tip_revenue_cents": 500,
        "revenue_cents": 2500,
        # turns: fan 1 at 00:10 (300 s) and 01:40 (1800 s) answered in her shift; fan 2 at
        # 07:50 answered after it (20 min: not left waiting); fan 3 at 03:20 never (waiting)
        "fan_turns": 4, "turns_answered": 2, "median_answer_s": 1050,
        "p90_answer_s": 1650,  # 300 + 0.9 × (1800 − 300), linear interpolation
        "fans_answered": 1, "fans_left_waiting": 1,
    }
    bob = daily["bob", DAY1]
    assert (bob["messages_sent"], bob["ppv_offered"], bob["ppv_unlocked"], bob["unlock_ratio"],
            bob["revenue_cents"]) == (2, 1, 1, 1.0, 1500)
    assert (bob["fan_turns"], bob["median_answer_s"], bob["p90_answer_s"], bob["fans_answered"],
            bob["fans_left_waiting"]) == (1, 7200, 7200, 1, 1)
    # chen's shift split at midnight: one hour and one message on each day
    assert [(daily["chen", d]["shift_hours"], daily["chen", d]["messages_sent"])
            for d in (DAY1, DAY2)] == [(1.0, 1), (1.0, 1)]
    assert daily["chen", DAY1]["fan_turns"] == 1
    assert daily["chen", DAY1]["median_answer_s"] == 55 * 60
    assert daily["chen", DAY2]["fan_turns"] == 0 and daily["chen", DAY2]["median_answer_s"] is None
    assert daily["chen", DAY2]["unlock_ratio"] is None  # nothing offered


def test_per_shift_detail(marts):
    shifts = by(marts["chatter_shift_performance"], "chatter")
    assert set(shifts) == {"alice", "bob", "chen"}
    chen = shifts["chen"]
    assert (chen["start_at"], chen["end_at"], chen["shift_hours"], chen["messages_sent"],
            chen["in_progress"]) == (at(1380), at(1500), 2.0, 2, False)
    alice = shifts["alice"]
    assert (alice["revenue_cents"], alice["median_answer_s"], alice["fans_left_waiting"]) == (
        2500, 1050, 1)
    assert shifts["bob"]["revenue_cents"] == 1500


def test_unattributed_work_is_an_issue(marts):
    [gap] = marts["chatter_shift_issues"]
    assert (gap["kind"], gap["start_at"], gap["end_at"]) == ("gap", at(960), at(1380))
    assert (gap["message_count"], gap["purchase_count"], gap["purchase_cents"]) == (1, 1, 900)


def test_thresholds_are_configuration(chat, lake):
    chat.creator(1, 10)
    chat.buy(1, 50, 5, kind="tip")  # 40 minutes after the message
    chat.fan(1, 60)
    chat.creator(1, 100)  # a 40 minute wait
    chat.write()
    shifts = shift_set(("alice", 0, 480))
    [default] = build_kpis(lake, shifts)["chatter_performance_daily"]
    assert (default["tip_revenue_cents"], default["fans_left_waiting"]) == (0, 0)
    [custom] = build_kpis(lake, shifts, run_id="custom", settings=KpiSettings(
        tip_window_minutes=45, wait_minutes=30))["chatter_performance_daily"]
    assert (custom["tip_revenue_cents"], custom["fans_left_waiting"]) == (500, 1)


def test_unlocks_beyond_offers_cap_the_ratio_at_one(chat, lake):
    chat.creator(1, 10, price=10)
    chat.buy(1, 20, 10)
    chat.buy(1, 30, 10)  # an older offer unlocked during this shift
    chat.write()
    [day] = build_kpis(lake, shift_set(("alice", 0, 480)))["chatter_performance_daily"]
    assert (day["ppv_offered"], day["ppv_unlocked"], day["unlock_ratio"]) == (1, 2, 1.0)
