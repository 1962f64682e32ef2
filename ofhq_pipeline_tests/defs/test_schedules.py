"""The round-robin periodic sync, evaluated as the daemon would evaluate its ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline.defs.creators.schedules import next_in_rotation, periodic_sync_schedule

START = datetime(2026, 11, 1, tzinfo=UTC)
DEFS = build_definitions()


def tick(instance: dg.DagsterInstance, n: int) -> dg.RunRequest | dg.SkipReason:
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=START + timedelta(minutes=5 * n),
        repository_def=DEFS.get_repository_def(),
    )
    data = periodic_sync_schedule.evaluate_tick(context)
    if data.skip_message:
        return dg.SkipReason(data.skip_message)
    (request,) = data.run_requests
    # What the daemon does with the request: a run of the job, tagged with its partition.
    job = DEFS.resolve_job_def("creator_sync")
    instance.create_run_for_job(
        job_def=job, tags={**request.tags, "dagster/partition": request.partition_key}
    )
    return request


def test_no_creators_yet_skips(instance):
    assert isinstance(tick(instance, 0), dg.SkipReason)


def test_each_creator_in_turn_then_again(instance):
    creators = [f"acct_{i}" for i in range(9)]
    instance.add_dynamic_partitions("creators", list(reversed(creators)))
    picked = [tick(instance, n).partition_key for n in range(18)]
    assert picked == creators + creators  # 9 creators × 5 minutes: each every 45 minutes


def test_cursor_survives_a_restart(tmp_path):
    (tmp_path / "dh").mkdir()
    home = str(tmp_path / "dh")
    first = dg.DagsterInstance.local_temp(tempdir=home)
    first.add_dynamic_partitions("creators", ["acct_a", "acct_b", "acct_c"])
    assert [tick(first, n).partition_key for n in range(2)] == ["acct_a", "acct_b"]
    first.dispose()
    restarted = dg.DagsterInstance.local_temp(tempdir=home)
    assert tick(restarted, 2).partition_key == "acct_c"
    restarted.dispose()


def test_creators_coming_and_going_keep_the_rotation(instance):
    instance.add_dynamic_partitions("creators", ["acct_a", "acct_c", "acct_e"])
    assert tick(instance, 0).partition_key == "acct_a"
    instance.add_dynamic_partitions("creators", ["acct_b"])  # joins after the cursor: next up
    instance.delete_dynamic_partition("creators", "acct_c")
    assert [tick(instance, n).partition_key for n in (1, 2, 3)] == ["acct_b", "acct_e", "acct_a"]


def test_next_in_rotation_when_the_last_creator_left():
    assert next_in_rotation(["acct_a", "acct_d"], "acct_c") == "acct_d"
    assert next_in_rotation(["acct_a", "acct_d"], "acct_z") == "acct_a"
