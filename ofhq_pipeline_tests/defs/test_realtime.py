"""The real-time path in the graph: sensor ticks, real-time runs merged with the periodic sync,
out-of-order deliveries, alerts sent once, and live revenue.

The in-process tests run on a fixed clock: every run is pinned to NOW (OFHQ_AS_OF) and every
event was received at NOW, so nothing depends on the date or on how long a test takes. The
end-to-end test reads the wall clock once, when it starts, and pins the daemon's runs to it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.realtime.sensors import webhook_sensor
from ofhq_pipeline.realtime.events import parse_delivery
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.simulator import DEFAULT_END
from ofhq_pipeline.sync import sync
from ofhq_pipeline_tests.conftest import point_at

# Whole syncs and daemons: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow

# Noon of the day after the simulated agency's history: a fixed instant, whatever the wall clock.
NOW = DEFAULT_END + timedelta(hours=12)
# Bounds a wait for the daemon's runs: reached only by a hang, never by a slow machine.
HANG_S = 600


def iso(moment: datetime) -> str:
    return moment.isoformat()


def land(store: LandingStore, account_id: str | None, event: str, payload: dict, key: str) -> None:
    """One delivery, received at NOW (the receiver would stamp its own clock)."""
    body = json.dumps({"event": event, "account_id": account_id, "payload": payload})
    delivery = parse_delivery(body.encode())
    store.land(idempotency_key=key, event=event, body=body, account_id=account_id,
               occurred_at=delivery.occurred_at, received_at=NOW)


def purchase(tx_id: str, fan_id: int, dollars: float, at: datetime, **fields) -> dict:
    return {"id": tx_id, "amount": dollars, "net_amount": round(dollars * 0.8, 2),
            "fee_amount": round(dollars * 0.2, 2), "currency": "USD", "type": "message",
            "status": "done", "created_at": iso(at),
            "description": "Payment for message from <a href=\"x\">fan</a>",
            "fan": {"id": fan_id, "username": f"u{fan_id}", "name": f"Fan {fan_id}"}, **fields}


def landing_url() -> str:
    return f"sqlite:///{Paths.from_env().home / 'landing.db'}"


def realtime_run(defs: dg.Definitions, instance: dg.DagsterInstance, creator_id: str):
    if creator_id not in instance.get_dynamic_partitions("creators"):
        instance.add_dynamic_partitions("creators", [creator_id])
    result = defs.resolve_job_def("realtime_update").execute_in_process(
        instance=instance, partition_key=creator_id, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def synced(defs: dg.Definitions, instance: dg.DagsterInstance, creator_id: str) -> None:
    """A periodic sync of the creator, which must succeed."""
    runs = sync(defs, instance, creators=[creator_id])
    assert runs and all(run.success for run in runs), [run.error for run in runs]


def query(sql: str, *params) -> list[tuple]:
    con = duckdb.connect(str(Paths.from_env().analysts_marts), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture
def realtime_defs(monkeypatch, tmp_path) -> dg.Definitions:
    """Definitions with no API behind them: a real-time run must not need one."""
    return point_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "home", as_of=NOW.isoformat())


def test_sensor_requests_a_run_per_creator_and_registers_new_ones(realtime_defs, instance):
    instance.add_dynamic_partitions("creators", ["acct_known"])
    with LandingStore(landing_url()) as store:
        land(store, "acct_known", "transactions.new", purchase("tr_1", 1, 5, NOW), "evt_1")
        land(store, "acct_new", "subscriptions.new", {"user": {"id": 2}, "subscribeAt": iso(NOW)},
             "evt_2")
        land(store, "acct_known", "messages.received",
             {"id": 7, "fromUser": {"id": 1}, "createdAt": iso(NOW)}, "evt_3")
        land(store, "../../etc", "transactions.new", purchase("tr_x", 1, 5, NOW), "evt_4")
        land(store, None, "users.updated", {}, "evt_5")
        last = store.max_event_id()

    resources = {"landing": LandingResource(url=landing_url())}
    result = webhook_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        ("acct_known", "acct_known:3"), ("acct_new", "acct_new:2")]
    (added,) = result.dynamic_partitions_requests
    assert list(added.partition_keys) == ["acct_new"]  # never the path-like id
    assert result.cursor == str(last)

    again = webhook_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                   resources=resources))
    assert isinstance(again, dg.SkipReason)


def test_webhooks_merge_with_the_periodic_sync_and_count_once(
    monkeypatch, tmp_path, simulator, agency, instance
):
    creator_id = sorted(agency.accounts["id"].to_list())[0]
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home", as_of=NOW.isoformat())
    synced(defs, instance, creator_id)
    (spend_before,) = query("SELECT sum(lifetime_spend_cents) FROM marts.fan_profile")[0]
    tx_id, fan_id = query("SELECT transaction_id, fan_id FROM marts.transactions "
                          "WHERE is_purchase ORDER BY created_at DESC LIMIT 1")[0]
    rest_row = query("SELECT amount_cents, created_at FROM marts.transactions "
                     "WHERE transaction_id = ?", tx_id)[0]

    with LandingStore(landing_url()) as store:
        # The same purchase again, by webhook: seen both ways, counted once.
        land(store, creator_id, "transactions.new",
             purchase(tx_id, fan_id, rest_row[0] / 100, rest_row[1]), "evt_dup")
        land(store, creator_id, "transactions.new",
             purchase("tr_live_1", fan_id, 25.0, NOW - timedelta(minutes=1)), "evt_new")
        land(store, creator_id, "subscriptions.new",
             {"user": {"id": 990001, "username": "newbie", "name": "Newbie"},
              "subscribeAt": iso(NOW - timedelta(minutes=2)), "price": 4.99, "regularPrice": 9.99,
              "discount": 50, "expiredAt": iso(NOW + timedelta(days=30))}, "evt_sub")
        land(store, creator_id, "messages.received",
             {"id": 88_000_001, "text": "hi!", "price": 0, "fromUser": {"id": 990001},
              "createdAt": iso(NOW - timedelta(seconds=30)), "queueId": None}, "evt_msg")

    realtime_run(defs, instance, creator_id)
    (spend_after,) = query("SELECT sum(lifetime_spend_cents) FROM marts.fan_profile")[0]
    assert spend_after - spend_before == 2500
    assert query("SELECT count(*) FROM marts.transactions WHERE transaction_id = ?", tx_id) == [(1,)]
    newbie = query("SELECT subscription_status, subscribed_at, lifetime_spend_cents "
                   "FROM marts.fan_profile WHERE fan_id = 990001")
    assert newbie == [("active", NOW - timedelta(minutes=2), 0)]
    live = query("SELECT creator_id, day, gross_cents, purchase_count FROM marts.creator_revenue_live")
    assert live == [(creator_id, NOW.date(), 2500, 1)]  # the simulated history ends before today

    # The next periodic sync still counts every purchase once, and a real-time run with nothing
    # new changes nothing.
    synced(defs, instance, creator_id)
    assert query("SELECT sum(lifetime_spend_cents) FROM marts.fan_profile")[0][0] == spend_after
    realtime_run(defs, instance, creator_id)
    assert query("SELECT sum(lifetime_spend_cents) FROM marts.fan_profile")[0][0] == spend_after
    assert query("SELECT count(*) FROM marts.fan_profile WHERE fan_id = 990001") == [(1,)]


def test_out_of_order_subscription_events_apply_by_their_own_time(realtime_defs, instance):
    fan = {"id": 4242, "username": "u4242", "name": "Late"}
    renewed_at, expired_at = NOW - timedelta(hours=1), NOW - timedelta(hours=2)
    with LandingStore(landing_url()) as store:
        land(store, "acct_rt", "subscriptions.new",
             {"user": fan, "subscribeAt": iso(NOW - timedelta(days=40)), "price": 9.99,
              "regularPrice": 9.99, "discount": 0,
              "expiredAt": iso(NOW - timedelta(days=10))}, "evt_a")
        # The renewal happened after the expiry but is delivered first.
        land(store, "acct_rt", "subscriptions.renewed",
             {"user": fan, "subscribeAt": iso(renewed_at), "price": 4.99, "regularPrice": 9.99,
              "discount": 50, "expiredAt": iso(renewed_at + timedelta(days=30))}, "evt_b")
        land(store, "acct_rt", "subscriptions.expired", {"user": fan, "expiredAt": iso(expired_at)},
             "evt_c")
    realtime_run(realtime_defs, instance, "acct_rt")
    rows = query("SELECT subscription_status, subscription_expires_at, subscribed_at, "
                 "discount_sensitivity FROM marts.fan_profile WHERE fan_id = 4242")
    assert rows == [("active", renewed_at + timedelta(days=30), NOW - timedelta(days=40),
                     "sometimes")]


def test_alerts_go_to_telegram_once_across_re_runs(realtime_defs, monkeypatch, tmp_path,
                                                   instance, telegram):
    defs = point_at(monkeypatch, "http://127.0.0.1:9", Path(Paths.from_env().home),
                    as_of=NOW.isoformat())
    user = {"id": 501, "username": "u501", "name": "Rich"}
    with LandingStore(landing_url()) as store:
        land(store, "acct_al", "subscriptions.new",
             {"user": {"id": 502, "name": "Jay"}, "subscribeAt": iso(NOW), "price": 4.99}, "e1")
        land(store, "acct_al", "tips.received",
             {"id": 9001, "amountGross": 60.0, "amountNet": 48.0, "type": "tip",
              "createdAt": iso(NOW), "user": user, "user_id": 31}, "e2")
        land(store, "acct_al", "tips.received",
             {"id": 9002, "amountGross": 5.0, "createdAt": iso(NOW), "user": user}, "e3")
        land(store, "acct_al", "messages.ppv.unlocked",
             {"id": 9003, "type": "paided_message", "createdAt": iso(NOW),
              "replacePairs": {"{AMOUNT}": "$15.00", "{MESSAGE_LINK}":
                               "https://onlyfans.com/my/chats/chat/503?firstId=1"}, "user_id": 31},
             "e4")
        land(store, "acct_al", "transactions.new", purchase("tr_small", 501, 20.0,
                                                            NOW - timedelta(hours=3)), "e5")
        land(store, "acct_al", "transactions.new", purchase("tr_big", 501, 990.0,
                                                            NOW - timedelta(minutes=5)), "e6")
        land(store, "acct_al", "transactions.new",
             purchase("tr_cb", 504, 30.0, NOW - timedelta(minutes=4), status="chargeback"), "e7")
    realtime_run(defs, instance, "acct_al")

    texts = sorted(body["text"] for _, _, body in telegram.requests)
    assert len(texts) == 5, texts
    assert all(t.startswith("[acct_al] ") for t in texts)
    joined = "\n".join(texts)
    assert "New subscriber Jay at $4.99" in joined and "Tip of $60.00 from Rich" in joined
    assert "$5.00" not in joined  # below the $50 threshold
    assert "PPV unlocked by fan 503 for $15.00" in joined
    assert "New whale: fan 501, lifetime $1010.00" in joined  # known only from purchases
    assert "Chargeback of $30.00 by fan 504 (tr_cb)" in joined
    assert {body["chat_id"] for _, _, body in telegram.requests} == {"-100200"}

    with LandingStore(landing_url()) as store:  # more activity, nothing alert-worthy
        land(store, "acct_al", "messages.received",
             {"id": 1, "fromUser": {"id": 501}, "createdAt": iso(NOW)}, "e8")
    realtime_run(defs, instance, "acct_al")
    assert len(telegram.requests) == 5  # re-running sends nothing twice


def test_end_to_end_through_the_receiver_and_the_daemon(tmp_path):
    """An operator's setup: a signed POST lands, the daemon's sensor runs the job, and the
    purchase is in the analysts' file once, redeliveries included. A purchase landing after that
    run gets a run of its own: the sensor is evaluated again and again, and each landed event
    gets its run. (How often it ticks is a latency: `make bench` measures it, no test asserts it.)
    """
    from ofhq_pipeline_tests.stack import RealtimeStack

    # The receiver stamps deliveries with the wall clock and refuses stale ones, so the test's
    # clock is the wall clock, read once; the daemon's runs are pinned to it.
    now = datetime.now(UTC).replace(microsecond=0)
    with RealtimeStack(tmp_path, env={"OFHQ_AS_OF": now.isoformat()}) as stack:
        payload = purchase("tr_e2e", 77, 12.5, now)
        first = stack.post("transactions.new", "acct_e2e", payload, "evt_e2e_1")
        again = stack.post("transactions.new", "acct_e2e", payload, "evt_e2e_1")
        assert (first.status_code, first.json()["status"]) == (200, "stored")
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert published(stack, "tr_e2e") == [(77, 1250)]

        later = stack.post("transactions.new", "acct_e2e", purchase("tr_e2e_2", 78, 7.5, now),
                           "evt_e2e_2")
        assert (later.status_code, later.json()["status"]) == (200, "stored")
        assert published(stack, "tr_e2e_2") == [(78, 750)]
        assert stack.marts("SELECT creator_id, day, gross_cents FROM marts.creator_revenue_live"
                           ) == [("acct_e2e", now.date(), 2000)]
        assert stack.marts("SELECT count(*) FROM marts.transactions") == [(2,)]

        with LandingStore(f"sqlite:///{stack.home / 'landing.db'}") as store:
            landed = [event.id for event in store.events_after(0, 10)]
        assert realtime_run_keys(stack.dagster_home) == [f"acct_e2e:{i}" for i in landed]


def test_a_failed_real_time_run_is_run_again_and_applies_its_events(tmp_path):
    """A real-time run that fails (here its publish cannot write) is run again by the daemon,
    every step: the purchase reaches the analysts' file though no later event comes."""
    from ofhq_pipeline_tests.stack import RealtimeStack

    now = datetime.now(UTC).replace(microsecond=0)
    with RealtimeStack(tmp_path, env={"OFHQ_AS_OF": now.isoformat()}) as stack:
        # Where publishing records its row counts, a folder: the first publish fails.
        blocker = stack.home / "lake" / "published" / "row_counts.json"
        blocker.mkdir(parents=True)
        posted = stack.post("transactions.new", "acct_retry", purchase("tr_retry", 79, 9.5, now),
                            "evt_retry_1")
        assert posted.status_code == 200
        deadline = time.monotonic() + HANG_S
        while not (runs := realtime_runs(stack.dagster_home, dg.DagsterRunStatus.FAILURE)):
            assert time.monotonic() < deadline, f"hang: no run failed\n{stack.log('daemon')}"
            time.sleep(0.1)
        blocker.rmdir()  # the fault is gone before the retry reaches its publish

        assert published(stack, "tr_retry") == [(79, 950)]
        while not (done := realtime_runs(stack.dagster_home, dg.DagsterRunStatus.SUCCESS)):
            assert time.monotonic() < deadline, f"hang: the retry never ended\n{stack.log('daemon')}"
            time.sleep(0.1)  # it published; its alerts step comes after
        (succeeded,) = done
        assert succeeded.tags["dagster/parent_run_id"] == runs[0].run_id
        assert succeeded.tags["dagster/retry_strategy"] == "ALL_STEPS"


def realtime_runs(dagster_home, status: dg.DagsterRunStatus | None = None
                  ) -> list[dg.DagsterRun]:
    """The real-time runs (with `status`), newest first; none before the daemon's first run
    (whose storage this process must not create at the same time)."""
    if not any((Path(dagster_home) / "history" / "runs").glob("*.db")):
        return []
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return list(instance.get_runs(filters=dg.RunsFilter(
            job_name="realtime_update", statuses=[status] if status else None)))
    finally:
        instance.dispose()


def published(stack, transaction_id: str) -> list[tuple]:
    """The purchase's (fan, cents) once a real-time run has published it (polled: the daemon
    runs in processes of its own); fails only when nothing happens for HANG_S."""
    sql = "SELECT fan_id, amount_cents FROM marts.transactions WHERE transaction_id = ?"
    deadline = time.monotonic() + HANG_S
    while not (rows := stack.marts(sql, transaction_id)):
        assert time.monotonic() < deadline, f"hang: {transaction_id} not published after " \
            f"{HANG_S} s\n{stack.log('daemon')}"
        time.sleep(0.2)
    return rows


def realtime_run_keys(dagster_home) -> list[str]:
    """The run keys of the real-time runs the daemon launched, oldest first."""
    return [run.tags.get("dagster/run_key") for run in reversed(realtime_runs(dagster_home))]
