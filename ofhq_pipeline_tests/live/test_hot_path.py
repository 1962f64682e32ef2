"""The hot path sends each alert once, across itself and the real-time Dagster run, whichever
comes first; what it could not send, the run sends. Telegram is a fake Bot API over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ofhq_pipeline.live.hot_path import HotPath
from ofhq_pipeline.live.state import LiveState
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.resources.alert_rules import ALERT_RULES
from ofhq_pipeline.resources.telegram import TelegramResource
from ofhq_pipeline.settings import Paths
from ofhq_pipeline_tests.defs.test_realtime import NOW, land, landing_url, purchase, realtime_run
from ofhq_pipeline_tests.servers import FakeTelegram

# Real-time Dagster runs: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow

CREATOR = "acct_hot"


@pytest.fixture
def defs(monkeypatch, tmp_path, telegram):
    """The definitions, built once Telegram's address is in the environment."""
    from ofhq_pipeline_tests.conftest import point_at

    return point_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "home", as_of=NOW.isoformat())


def hot_path(store: LandingStore, **telegram_fields) -> HotPath:
    state = LiveState(Paths.from_env().analysts_marts, now=lambda: NOW)
    sender = TelegramResource(max_backoff_s=0.05, **telegram_fields)  # the environment's chat
    return HotPath(state, store, sender.send, list(ALERT_RULES))


def texts(fake: FakeTelegram) -> list[str]:
    return [body["text"] for _, _, body in fake.requests]


def test_an_alert_goes_out_once_from_the_hot_path_then_never_from_the_run(
    telegram, defs, instance
):
    with LandingStore(landing_url()) as store:
        land(store, CREATOR, "transactions.new", purchase("t1", 21, 30, NOW - timedelta(days=3)),
             "e1")
        realtime_run(defs, instance, CREATOR)  # published; the fan is no whale
        sent_by_run = len(telegram.requests)
        path = hot_path(store)
        land(store, CREATOR, "transactions.new", purchase("t2", 21, 1_200, NOW), "e2")
        land(store, CREATOR, "tips.received",
             {"id": "tip9", "amountGross": 80, "user": {"id": 22, "name": "Tipper"}}, "e3")
        assert path.step() == 3  # everything landed in the last 48 h, the first event too
        path.stop()  # waits for the alert thread
        new = texts(telegram)[sent_by_run:]
        assert sorted(new) == [f"[{CREATOR}] New whale: fan 21, lifetime $1230.00",
                               f"[{CREATOR}] Tip of $80.00 from Tipper"]

        realtime_run(defs, instance, CREATOR)  # evaluates the same rules: nothing left to send
        assert texts(telegram)[sent_by_run:] == new
        # A second hot path (a restart) reads the same events again and sends nothing either.
        again = hot_path(store)
        again.step()
        again.stop()
        assert texts(telegram)[sent_by_run:] == new


def test_what_the_hot_path_could_not_send_the_run_sends(telegram, defs, instance):
    with LandingStore(landing_url()) as store:
        path = hot_path(store, max_attempts=1)
        land(store, CREATOR, "tips.received",
             {"id": "tip1", "amountGross": 90, "user": {"id": 31, "name": "Ana"}}, "e1")
        telegram.replies = [(502, {"ok": False, "description": "Bad Gateway"})]
        path.step()
        path.stop()
        assert path.stats.alerts_failed == 1 and path.stats.alerts_sent == 0
        assert store.alert_keys(CREATOR) == set()  # the key was given back

        realtime_run(defs, instance, CREATOR)
        assert texts(telegram)[-1] == f"[{CREATOR}] Tip of $90.00 from Ana"
        assert store.alert_keys(CREATOR) == {"big_tip:tip1"}
        # The hot path's refused try, then the run's: one alert reached the chat.
        assert len([t for t in texts(telegram) if "Ana" in t]) == 2
