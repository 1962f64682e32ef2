"""A chatter check that could not judge says so; the demo's as-of falls on a day with sales, and
its generated chatter schedule covers every creator message (one handover overlapping on
purpose)."""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg
import polars as pl
import pytest

from ofhq_pipeline.chatters.shifts import ENV_VAR, parse_shift_file
from ofhq_pipeline.cli import DEMO_SHIFTS_FILE, demo_as_of, demo_shifts
from ofhq_pipeline.defs.chatters.assets import MESSAGES_IN_SHIFTS, chatter_performance
from ofhq_pipeline.defs.marts.assets import marts_transactions
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.resources.chatters import ChattersResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, message, write_sync

AS_OF = day(3)


def shifts_check(tmp_path, instance, shift_file=None) -> dg.AssetCheckEvaluation:
    home = tmp_path / "home"
    write_sync(make_lake(home), fetched_at=AS_OF, fans=[fan(1)], messages=[
        (1, message(1, 1, day(1), from_fan=True)),
        (1, message(2, 1, day(1.1), from_fan=False, text="hey you")),
        (1, message(3, 1, day(2), from_fan=False, text="still there?")),
    ])
    instance.add_dynamic_partitions("creators", [CREATOR])
    result = dg.materialize(
        [*staging_assets, marts_transactions, chatter_performance], partition_key=CREATOR,
        instance=instance,
        resources={
            "lake": LakeResource(home=str(home)),
            "sync": SyncSettings(as_of=AS_OF.isoformat()),
            "landing": LandingResource(url=f"sqlite:///{tmp_path / 'landing.db'}"),
            "chatters": ChattersResource(shifts_file=str(shift_file) if shift_file else None,
                                         use_landing_shifts=False),
        },
    )
    assert result.success
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.check_name == MESSAGES_IN_SHIFTS]
    return evaluation


def test_messages_in_shifts_without_any_shift_could_not_judge(tmp_path, instance):
    evaluation = shifts_check(tmp_path, instance)
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "no shifts configured" in meta["could_not_judge"]
    assert (meta["partition"], meta["shifts"], meta["creator_messages"]) == (CREATOR, 0, 2)
    assert evaluation.partition == CREATOR


def test_messages_in_shifts_passes_when_a_shift_covers_them(tmp_path, instance):
    shift_file = tmp_path / "shifts.csv"
    shift_file.write_text("creator_id,chatter,start,end\n"
                          f"{CREATOR},ana,{day(0).isoformat()},{day(3).isoformat()}\n")
    evaluation = shifts_check(tmp_path, instance, shift_file)
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert evaluation.passed and "could_not_judge" not in meta
    assert (meta["shifts"], meta["messages_in_gaps"]) == (1, 0)


@pytest.fixture(scope="module")
def agency():
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=7, scale=0.1)


def test_the_demo_as_of_is_the_last_sale_on_a_day_with_sales(agency):
    as_of = demo_as_of(agency)
    assert as_of == agency.transactions["created_at"].max() < agency.end
    today = agency.transactions.filter(
        (pl.col("created_at").dt.date() == as_of.date()) & (pl.col("created_at") <= as_of)
        & pl.col("status").is_in(["done", "succeeded", "completed"]))
    assert today.height > 0


def test_the_demo_schedule_covers_every_creator_message(agency, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "")  # unset for the demo, and restored after the test
    as_of = demo_as_of(agency)
    described = demo_shifts(agency, as_of, tmp_path)
    path = tmp_path / DEMO_SHIFTS_FILE
    assert described.startswith(str(path)) and os.environ[ENV_VAR] == str(path)
    shifts, problems = parse_shift_file(path)
    assert problems == []
    frame = pl.DataFrame([{"creator_id": s.creator_id, "chatter": s.chatter,
                           "start_at": s.start_at, "end_at": s.end_at} for s in shifts])
    assert set(frame["creator_id"]) == set(agency.accounts["id"])
    # every creator message up to as-of falls in some shift of its creator
    sent = agency.messages.filter(pl.col("created_at") <= as_of).select(
        "creator_id", "created_at").unique()
    covered = sent.join(frame, on="creator_id").filter(
        (pl.col("start_at") <= pl.col("created_at")) & (pl.col("created_at") < pl.col("end_at"))
    ).select("creator_id", "created_at").unique()
    assert covered.height == sent.height
    # one overlap: the first creator's evening handover of the day before as-of
    first = sorted(agency.accounts["id"])[0]
    mine = frame.filter(pl.col("creator_id") == first).sort("start_at")
    overlapping = mine.filter(pl.col("start_at") < pl.col("end_at").shift(1))
    today = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    assert overlapping["start_at"].to_list() == [today - timedelta(hours=8, minutes=15)]
    others = frame.filter(pl.col("creator_id") != first).sort("creator_id", "start_at")
    assert others.filter((pl.col("start_at") < pl.col("end_at").shift(1))
                         & (pl.col("creator_id") == pl.col("creator_id").shift(1))).height == 0


def test_the_demo_keeps_an_operators_schedule(agency, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "")
    own = tmp_path / "chatter_shifts.yaml"
    own.write_text("shifts: []\n")
    assert demo_shifts(agency, demo_as_of(agency), tmp_path) == str(own)
    assert not (tmp_path / DEMO_SHIFTS_FILE).exists()
