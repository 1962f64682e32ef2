"""marts.blast_recipients and marts.blasts from a blast ledger and real purchase histories,
through the real SQL models: the 7-day windows of sent and held-out fans, unlocks, outcomes,
exclusions, and the uplift against the holdout.

The ledger (ledger.blasts, ledger.blast_recipients) is what the blast job's `prepare` puts in the
session; here each build's `prepare` creates it with the same columns and types."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import sqrt

import duckdb
import pytest

from ofhq_pipeline_tests.builders import (
    CREATOR,
    build,
    build_model,
    day,
    fan,
    make_lake,
    parquet_dicts,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.dictionary.schemas import differences, parquet_schema

LEDGER = """
CREATE SCHEMA ledger;
CREATE TABLE ledger.blasts (
    blast_id VARCHAR, creator_id VARCHAR, segment VARCHAR, text VARCHAR, media_ids BIGINT[],
    price_mode VARCHAR, price_cents BIGINT, send_at VARCHAR, holdout_share DOUBLE,
    recent_mass_message_hours INTEGER, include_expired BOOLEAN, planned_at TIMESTAMPTZ,
    run_id VARCHAR
);
CREATE TABLE ledger.blast_recipients (
    blast_id VARCHAR, creator_id VARCHAR, fan_id BIGINT, cohort VARCHAR, reason VARCHAR,
    price_cents BIGINT, price_basis VARCHAR, scheduled_at TIMESTAMPTZ, state VARCHAR,
    chunk_no INTEGER, queue_id BIGINT, failure_reason VARCHAR, sent_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
);
"""

BLAST_COLUMNS = ("blast_id", "creator_id", "segment", "text", "media_ids", "price_mode",
                 "price_cents", "send_at", "holdout_share", "recent_mass_message_hours",
                 "include_expired", "planned_at", "run_id")
RECIPIENT_COLUMNS = ("blast_id", "creator_id", "fan_id", "cohort", "reason", "price_cents",
                     "price_basis", "scheduled_at", "state", "chunk_no", "queue_id",
                     "failure_reason", "sent_at", "updated_at")


def at(days: float, minutes: float = 0) -> datetime:
    return day(days) + timedelta(minutes=minutes)


@dataclass
class Ledger:
    """The blast job's ledger of one creator: blasts, and one row per blast and fan."""

    blasts: list[dict] = field(default_factory=list)
    recipients: list[dict] = field(default_factory=list)

    def blast(self, blast_id: str, *, planned_at: datetime, price_cents: int | None = 1500,
              send_at: str = "now") -> None:
        self.blasts.append({
            "blast_id": blast_id, "creator_id": CREATOR, "segment": "ready_to_buy",
            "text": f"{blast_id} for you", "media_ids": [7001, 7002],
            "price_mode": "fixed" if price_cents is not None else "recommended",
            "price_cents": price_cents, "send_at": send_at, "holdout_share": 0.1,
            "recent_mass_message_hours": 24, "include_expired": False, "planned_at": planned_at,
            "run_id": f"run-{blast_id}",
        })

    def recipient(self, blast_id: str, fan_id: int, state: str, *, price_cents: int = 1500,
                  price_basis: str = "fixed", reason: str | None = None,
                  scheduled_at: datetime | None = None, sent_at: datetime | None = None,
                  failure_reason: str | None = None) -> None:
        cohort = {"held_out": "holdout", "excluded": "excluded"}.get(state, "send")
        self.recipients.append({
            "blast_id": blast_id, "creator_id": CREATOR, "fan_id": fan_id, "cohort": cohort,
            "reason": "holdout" if cohort == "holdout" else reason, "price_cents": price_cents,
            "price_basis": price_basis, "scheduled_at": scheduled_at, "state": state,
            "chunk_no": 0 if cohort == "send" else None,
            "queue_id": 900 + fan_id if state in ("queued", "sent") else None,
            "failure_reason": failure_reason, "sent_at": sent_at, "updated_at": day(0.95),
        })

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """What the blast job's `prepare` does: the ledger as two tables of the session."""
        con.execute(LEDGER)
        for table, columns, rows in (("blasts", BLAST_COLUMNS, self.blasts),
                                     ("blast_recipients", RECIPIENT_COLUMNS, self.recipients)):
            if rows:
                con.executemany(
                    f"INSERT INTO ledger.{table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [[row[c] for c in columns] for row in rows])


# ---- the story -------------------------------------------------------------------------------
# Blast `now`: a $15 PPV sent at once on day 1 (first delivery day 1, 00:00).
#   fan 1 sent day 1 00:00: $15 PPV day 3 (in, unlock), $20 tip day 9.5 (8.5 days after: out),
#          $5 tip day 0.5 (before: out), $30 PPV day 2 refunded (not a purchase).
#   fan 2 sent day 1 00:10: $10 PPV day 2 (in, another price: no unlock), $15 tip day 4.5 (in,
#          the price but a tip: no unlock).
#   fan 3 sent day 1 00:20: nothing.
#   fans 4, 5 held out (no scheduled_at): measured from the blast's first delivery, day 1 00:00.
#          fan 4: $15 PPV day 1.5 (in, no unlock: never sent it), $9 tip day 0.9 (before: out).
#          fan 5: $7 tip at day 8 minus a minute (in), $11 tip at day 8 exactly (window end: out).
#   fan 6 failed, 7 queued, 8 planned, 9 sending; fans 10-14 excluded.
# Blast `best`: recommended prices, delivered at each fan's best time.
#   fan 20 scheduled day 5 12:00, sent day 5 12:01 at $20: $20 PPV day 6 (unlock), $15 PPV day 6.5.
#   fan 21 held out, scheduled day 6: $12 tip day 5.5 (before his window: out), $8 tip day 10 (in).
# Blast `free`: a free message (price 0) sent day 2 to fan 30, who buys a $10 PPV on day 3.
# Blast `later`: planned, nothing sent yet; fan 40 to be sent, fan 41 held out.
# Blast `ab`: the uplift, sent day 2 to fans 50-54, fans 55-57 held out (see AB_SPEND).
AB_SENT, AB_HELD_OUT = (50, 51, 52, 53, 54), (55, 56, 57)
# Each fan's purchases (dollars, days after day 2); those 7 days or more after are out.
AB_SPEND = {
    50: [(25.0, 1), (10.0, 3)], 51: [(15.0, 0.5)], 52: [], 53: [(40.0, 6.9), (12.0, 7.5)],
    54: [(5.0, 2)], 55: [(10.0, 4)], 56: [], 57: [(3.0, 1), (60.0, 9)],
}
AB_START = day(2)


def transactions() -> list[dict]:
    t = [
        txn("t1", 1, 15.0, at(3)), txn("t2", 1, 20.0, at(9.5), kind="tip"),
        txn("t3", 1, 5.0, at(0.5), kind="tip"), txn("t4", 1, 30.0, at(2), status="refunded"),
        txn("t5", 2, 10.0, at(2)), txn("t6", 2, 15.0, at(4.5), kind="tip"),
        txn("t7", 4, 15.0, at(1.5)), txn("t8", 4, 9.0, at(0.9), kind="tip"),
        txn("t9", 5, 7.0, at(8, -1), kind="tip"), txn("t10", 5, 11.0, at(8), kind="tip"),
        txn("t20", 20, 20.0, at(6)), txn("t21", 20, 15.0, at(6.5)),
        txn("t22", 21, 12.0, at(5.5), kind="tip"), txn("t23", 21, 8.0, at(10), kind="tip"),
        txn("t30", 30, 10.0, at(3)),
    ]
    for fan_id, spend in AB_SPEND.items():
        t += [txn(f"ab{fan_id}_{i}", fan_id, amount, AB_START + timedelta(days=after), kind="tip")
              for i, (amount, after) in enumerate(spend)]
    return t


def ledger() -> Ledger:
    led = Ledger()
    led.blast("now", planned_at=at(0.99))
    led.recipient("now", 1, "sent", sent_at=at(1))
    led.recipient("now", 2, "sent", sent_at=at(1, 10))
    led.recipient("now", 3, "sent", sent_at=at(1, 20))
    led.recipient("now", 4, "held_out")
    led.recipient("now", 5, "held_out")
    led.recipient("now", 6, "failed", failure_reason="fan blocked the creator")
    led.recipient("now", 7, "queued")
    led.recipient("now", 8, "planned")
    led.recipient("now", 9, "sending")
    for fan_id, reason in [(10, "bought_media"), (11, "deprioritized"),
                           (12, "subscription_expired"), (13, "recent_mass_message"),
                           (14, "recent_mass_message")]:
        led.recipient("now", fan_id, "excluded", reason=reason)

    led.blast("best", price_cents=None, send_at="best", planned_at=at(4))
    led.recipient("best", 20, "sent", price_cents=2000, price_basis="recommended_item",
                  scheduled_at=at(5.5), sent_at=at(5.5, 1))
    led.recipient("best", 21, "held_out", price_cents=1800, price_basis="recommended_top",
                  scheduled_at=at(6))

    led.blast("free", price_cents=0, planned_at=at(1.9))
    led.recipient("free", 30, "sent", price_cents=0, price_basis="free", sent_at=at(2))

    led.blast("later", planned_at=at(19))
    led.recipient("later", 40, "planned")
    led.recipient("later", 41, "held_out")

    led.blast("ab", price_cents=900, planned_at=at(1.9))
    for fan_id in AB_SENT:
        led.recipient("ab", fan_id, "sent", price_cents=900, sent_at=AB_START)
    for fan_id in AB_HELD_OUT:
        led.recipient("ab", fan_id, "held_out", price_cents=900)
    return led


FANS = sorted({r["fan_id"] for r in ledger().recipients})
AS_OF = day(20)       # every window of the story complete
EARLY = day(4)        # blast `now`'s windows still open; blast `best` not sent yet


def build_blasts(lake, as_of: datetime, run_id: str, led: Ledger) -> None:
    build(lake, as_of, run_id=run_id)
    for key in ("marts/blast_recipients", "marts/blasts"):
        build_model(lake, key, as_of=as_of, run_id=run_id, prepare=led.prepare)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = make_lake(tmp_path_factory.mktemp("home"))
    write_sync(lake, fetched_at=day(21), fans=[fan(f) for f in FANS], transactions=transactions())
    led = ledger()
    build_blasts(lake, AS_OF, "late", led)
    build_blasts(lake, EARLY, "early", led)
    return lake


def recipients(lake, run_id: str = "late", where: str = "true") -> dict[tuple[str, int], dict]:
    rows = parquet_dicts(lake.mart_path("blast_recipients", CREATOR, run_id), where=where)
    return {(r["blast_id"], r["fan_id"]): r for r in rows}


def blasts(lake, run_id: str = "late") -> dict[str, dict]:
    return {r["blast_id"]: r for r in parquet_dicts(lake.mart_path("blasts", CREATOR, run_id))}


# ---- recipients: windows and revenue ----------------------------------------------------------
def test_a_sent_fans_window_holds_his_purchases_of_the_7_days_after_his_send(lake):
    r = recipients(lake)
    one = r["now", 1]
    assert one["window_start"] == at(1) and one["window_end"] == at(8)
    assert one["window_complete"] is True
    # Day 3 is in; day 9.5 (8.5 days after) and day 0.5 (before) are out; the refund is no purchase.
    assert (one["revenue_7d_cents"], one["purchases_7d"]) == (1500, 1)
    assert (r["now", 2]["revenue_7d_cents"], r["now", 2]["purchases_7d"]) == (2500, 2)
    assert (r["now", 3]["revenue_7d_cents"], r["now", 3]["purchases_7d"]) == (0, 0)


def test_a_held_out_fan_of_a_send_now_blast_is_measured_from_its_first_delivery(lake):
    r = recipients(lake)
    four, five = r["now", 4], r["now", 5]
    assert four["window_start"] == at(1) == five["window_start"]
    assert four["revenue_7d_cents"] == 1500          # day 1.5 in, day 0.9 before it out
    assert five["revenue_7d_cents"] == 700           # a minute before the end in, the end out
    assert four["unlocked_at"] is None and four["unlock_transaction_id"] is None


def test_a_held_out_fan_with_a_scheduled_time_is_measured_from_it(lake):
    held = recipients(lake)["best", 21]
    assert held["window_start"] == at(6) and held["window_end"] == at(13)
    assert held["revenue_7d_cents"] == 800           # the day 5.5 tip came before his window


def test_no_window_for_what_was_not_delivered_nor_for_a_holdout_of_a_blast_not_sent(lake):
    r = recipients(lake)
    for key in [("now", 6), ("now", 7), ("now", 8), ("now", 9), ("now", 10), ("later", 40),
                ("later", 41)]:
        row = r[key]
        assert row["window_start"] is None and row["window_end"] is None, key
        assert row["window_complete"] is False, key
        assert row["revenue_7d_cents"] is None and row["purchases_7d"] is None, key


def test_every_state_maps_to_its_outcome(lake):
    r = recipients(lake)
    outcomes = {fan_id: r["now", fan_id]["outcome"] for fan_id in range(1, 11)}
    assert outcomes == {1: "sent", 2: "sent", 3: "sent", 4: "held_out", 5: "held_out",
                        6: "failed", 7: "scheduled", 8: "pending", 9: "pending", 10: "excluded"}
    assert r["now", 6]["failure_reason"] == "fan blocked the creator"
    assert r["now", 7]["queue_id"] == 907
    assert (r["now", 4]["cohort"], r["now", 4]["reason"]) == ("holdout", "holdout")
    assert (r["now", 12]["cohort"], r["now", 12]["reason"]) == ("excluded", "subscription_expired")
    assert r["now", 1]["segment"] == "ready_to_buy"


# ---- recipients: unlocks ----------------------------------------------------------------------
def test_an_unlock_is_his_first_ppv_purchase_at_his_price_in_his_window(lake):
    r = recipients(lake)
    one = r["now", 1]
    assert (one["unlocked_at"], one["unlock_transaction_id"], one["unlock_cents"]) == \
        (at(3), "t1", 1500)
    # fan 2 paid another price for a PPV, and his price only as a tip.
    assert r["now", 2]["unlock_transaction_id"] is None
    # Recommended prices: his own price ($20), the first such purchase.
    twenty = r["best", 20]
    assert (twenty["unlock_transaction_id"], twenty["unlock_cents"]) == ("t20", 2000)
    assert twenty["revenue_7d_cents"] == 3500


def test_a_free_blast_has_no_unlocks(lake):
    free = recipients(lake)["free", 30]
    assert free["revenue_7d_cents"] == 1000          # the purchase counts as revenue...
    assert free["unlocked_at"] is None               # ...but unlocks nothing
    assert blasts(lake)["free"]["unlocks"] == 0


# ---- blasts: counts ---------------------------------------------------------------------------
def test_a_blast_counts_its_audience_exclusions_and_outcomes(lake):
    now = blasts(lake)["now"]
    counts = {k: now[k] for k in (
        "audience", "eligible", "excluded", "excluded_bought_media", "excluded_deprioritized",
        "excluded_subscription_expired", "excluded_recent_mass_message", "held_out",
        "planned_sends", "sent", "failed", "scheduled", "pending", "unlocks")}
    assert counts == {
        "audience": 14, "eligible": 9, "excluded": 5, "excluded_bought_media": 1,
        "excluded_deprioritized": 1, "excluded_subscription_expired": 1,
        "excluded_recent_mass_message": 2, "held_out": 2, "planned_sends": 7, "sent": 3,
        "failed": 1, "scheduled": 1, "pending": 2, "unlocks": 1,
    }
    assert now["unlock_revenue_cents"] == 1500
    assert (now["first_sent_at"], now["last_sent_at"]) == (at(1), at(1, 20))
    assert now["revenue_7d_sent_cents"] == 4000 and now["revenue_7d_held_out_cents"] == 2200
    assert (now["price_mode"], now["price_cents"], now["send_at"]) == ("fixed", 1500, "now")
    assert now["media_ids"] == [7001, 7002] and now["planned_at"] == at(0.99)
    # Sends still pending or scheduled: the figures are not final.
    assert now["windows_complete"] is False


def test_a_blast_nothing_was_sent_for_has_its_row(lake):
    later = blasts(lake)["later"]
    assert (later["audience"], later["sent"], later["pending"], later["held_out"]) == (2, 0, 1, 1)
    assert later["first_sent_at"] is None
    assert later["revenue_7d_sent_cents"] == 0 and later["revenue_7d_held_out_cents"] == 0
    for column in ("revenue_per_sent_fan_cents", "revenue_per_held_out_fan_cents",
                   "uplift_per_fan_cents", "uplift_ci_low_cents", "uplift_ci_high_cents",
                   "uplift_total_cents"):
        assert later[column] is None, column
    assert later["windows_complete"] is False


# ---- blasts: the uplift -----------------------------------------------------------------------
def revenue_7d_cents(fan_id: int) -> int:
    """From the story: his purchases less than 7 days after the `ab` send."""
    return sum(round(amount * 100) for amount, after in AB_SPEND[fan_id] if 0 <= after < 7)


def to_cents(value: float) -> int:
    """Money in the marts is whole cents: rounded half away from zero, as DuckDB's round()."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def test_the_uplift_and_its_interval_from_the_groups_revenue(lake):
    sent = [revenue_7d_cents(f) for f in AB_SENT]
    held = [revenue_7d_cents(f) for f in AB_HELD_OUT]
    r = recipients(lake)
    assert [r["ab", f]["revenue_7d_cents"] for f in (*AB_SENT, *AB_HELD_OUT)] == [*sent, *held]

    uplift = statistics.mean(sent) - statistics.mean(held)
    half_width = 1.96 * sqrt(statistics.variance(sent) / len(sent)
                             + statistics.variance(held) / len(held))
    ab = blasts(lake)["ab"]
    assert ab["revenue_per_sent_fan_cents"] == to_cents(statistics.mean(sent))
    assert ab["revenue_per_held_out_fan_cents"] == to_cents(statistics.mean(held))
    assert ab["uplift_per_fan_cents"] == to_cents(uplift)
    assert ab["uplift_ci_low_cents"] == to_cents(uplift - half_width)
    assert ab["uplift_ci_high_cents"] == to_cents(uplift + half_width)
    assert ab["uplift_total_cents"] == to_cents(uplift * len(AB_SENT))
    assert ab["revenue_7d_sent_cents"] == sum(sent)
    assert ab["revenue_7d_held_out_cents"] == sum(held)
    assert ab["windows_complete"] is True


def test_one_held_out_fan_gives_an_uplift_without_an_interval(lake):
    best = blasts(lake)["best"]
    assert best["uplift_per_fan_cents"] == to_cents(3500 - 800)
    assert best["uplift_ci_low_cents"] is None and best["uplift_ci_high_cents"] is None
    assert best["windows_complete"] is True


# ---- as of before the windows end --------------------------------------------------------------
def test_before_the_window_ends_it_is_incomplete_and_counts_up_to_as_of(lake):
    r = recipients(lake, "early")
    one, two = r["now", 1], r["now", 2]
    assert one["window_end"] == at(8) and one["window_complete"] is False
    assert one["revenue_7d_cents"] == 1500
    assert two["revenue_7d_cents"] == 1000           # the day 4.5 tip is after as_of
    assert r["now", 5]["revenue_7d_cents"] == 0      # his tips come after as_of
    # A delivery (or a held-out fan's scheduled time) after as_of has no window yet.
    assert r["best", 20]["window_start"] is None and r["best", 21]["window_start"] is None
    assert r["best", 20]["revenue_7d_cents"] is None
    early = blasts(lake, "early")
    assert early["now"]["revenue_7d_sent_cents"] == 2500
    assert early["best"]["revenue_per_sent_fan_cents"] is None
    assert early["ab"]["windows_complete"] is False
    assert all(row["as_of"] == EARLY for row in r.values())


# ---- the written columns are the dictionary's --------------------------------------------------
@pytest.mark.parametrize("table", ["blast_recipients", "blasts"])
def test_the_written_columns_are_the_dictionarys(lake, table):
    path = lake.mart_path(table, CREATOR, "late")
    assert differences(f"marts/{table}", parquet_schema(path)) == []


def test_an_empty_ledger_writes_empty_tables_of_the_documented_columns(lake):
    for key in ("marts/blast_recipients", "marts/blasts"):
        path = build_model(lake, key, as_of=AS_OF, run_id="empty", prepare=Ledger().prepare)
        assert differences(key, parquet_schema(path)) == []
        assert parquet_dicts(path) == []
