"""The blast ledger on SQLite and PostgreSQL: a plan is recorded once, a re-run with other
parameters is refused, chunks move only forward from the states named, and what the marts read
comes back typed (UTC instants, 64-bit fan ids)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from ofhq_pipeline.blasts.ledger import Blast, BlastConflict, BlastLedger, Outcome

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
BIG_FAN = 9_000_000_001  # OnlyFans ids outgrow 32 bits


def blast(blast_id: str = "b1", digest: str = "d1") -> Blast:
    return Blast("acct_1", blast_id, "everyone", "New set <b>tonight</b>", (7001,), "fixed",
                 999, "now", 0.1, 24, False, AT, digest, "run-1")


def audience(fans: list[int], cohorts: list[str], chunks: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({
        "fan_id": fans, "cohort": cohorts,
        "reason": [None if c == "send" else "holdout" if c == "holdout" else "deprioritized"
                   for c in cohorts],
        "price_cents": [999] * len(fans), "price_basis": ["fixed"] * len(fans),
        "scheduled_at": [None] * len(fans), "chunk_no": chunks,
    }, schema_overrides={"scheduled_at": pl.Datetime("us", "UTC"), "chunk_no": pl.Int32})


@pytest.fixture
def ledger(landing_url):
    with BlastLedger(landing_url) as opened:
        yield opened


def test_a_plan_is_recorded_once_and_a_rerun_must_repeat_it(ledger):
    plan = audience([1, 2, BIG_FAN, 4], ["send", "send", "holdout", "excluded"], [1, 2, None, None])
    assert ledger.record_plan(blast(), plan) is True
    assert ledger.record_plan(blast(), plan) is False  # the same blast again: nothing new
    with pytest.raises(BlastConflict, match="other parameters"):
        ledger.record_plan(blast(digest="d2"), plan)
    assert ledger.counts(blast()) == {"planned": 2, "held_out": 1, "excluded": 1}
    assert ledger.blast("acct_1", "b1") == blast()


def test_chunks_move_forward_only_from_the_states_named(ledger):
    ledger.record_plan(blast(), audience([1, 2, 3], ["send"] * 3, [1, 1, 2]))
    assert [(c.chunk_no, c.fan_ids) for c in ledger.open_chunks(blast())] == [(1, (1, 2)), (2, (3,))]
    assert ledger.set_chunk(blast(), 2, "sending", from_states=("planned",)) == 1
    # A chunk left `sending` comes first: it is reconciled before anything else is sent.
    assert [c.chunk_no for c in ledger.open_chunks(blast())] == [2, 1]
    assert ledger.set_chunk(blast(), 2, "queued", from_states=("planned",), queue_id=5) == 0
    assert ledger.set_chunk(blast(), 2, "queued", from_states=("sending",), queue_id=5) == 1
    assert ledger.queue_ids("acct_1") == {5} and ledger.queued(blast()) == [5]
    written = ledger.record_outcomes(blast(), 5, AT, [Outcome(3, "failed", "restricted")])
    assert written == {"sent": 0, "failed": 1}
    assert ledger.queued(blast()) == []
    # An outcome for a fan of another chunk changes nothing.
    assert ledger.record_outcomes(blast(), 5, AT, [Outcome(1, "sent")]) == {"sent": 1, "failed": 0}
    assert ledger.counts(blast()) == {"planned": 2, "failed": 1}


def test_what_the_marts_read_is_typed_and_in_utc(ledger):
    ledger.record_plan(blast(), audience([1, BIG_FAN], ["send", "send"], [1, 1]))
    ledger.set_chunk(blast(), 1, "queued", from_states=("planned",), queue_id=9)
    ledger.record_outcomes(blast(), 9, AT, [Outcome(1, "sent"), Outcome(BIG_FAN, "sent")])
    blasts, recipients = ledger.frames("acct_1")
    assert blasts["planned_at"].to_list() == [AT]
    assert blasts["media_ids"].to_list() == [[7001]]
    assert recipients.schema["sent_at"] == pl.Datetime("us", "UTC")
    assert sorted(recipients["fan_id"].to_list()) == [1, BIG_FAN]
    assert recipients["sent_at"].to_list() == [AT, AT]
    assert ledger.frames("acct_other")[1].is_empty()


def test_recent_sends_are_another_blasts_sends_since_an_instant(ledger):
    ledger.record_plan(blast(), audience([1, 2], ["send", "holdout"], [1, None]))
    ledger.set_chunk(blast(), 1, "queued", from_states=("planned",), queue_id=9)
    ledger.record_outcomes(blast(), 9, AT, [Outcome(1, "sent")])
    recent = ledger.recent_sends("acct_1", AT - timedelta(hours=24), other_than="b2")
    assert recent["fan_id"].to_list() == [1]  # the held-out fan got nothing
    assert ledger.recent_sends("acct_1", AT + timedelta(hours=1), other_than="b2").is_empty()
    assert ledger.recent_sends("acct_1", AT - timedelta(hours=24), other_than="b1").is_empty()
    other = dataclasses.replace(blast(), creator_id="acct_2")
    assert ledger.recent_sends(other.creator_id, AT - timedelta(days=1), other_than="x").is_empty()
