"""Account discovery: the creators the API lists are the partitions, and a creator it no longer
lists leaves them, but never under a run of his that waits or runs."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline_tests.conftest import point_at


def test_a_creator_gone_from_the_list_keeps_his_partition_while_his_run_waits(
        simulator, agency, instance, tmp_path, monkeypatch):
    defs = point_at(monkeypatch, simulator.url, tmp_path / "ofhq")
    # Two creators known from webhooks only: one with a real-time run in the queue.
    instance.add_dynamic_partitions(creator_partitions.name, ["acct_webhook1", "acct_webhook2"])
    waiting = instance.create_run_for_job(
        defs.resolve_job_def("realtime_update"), tags={"dagster/partition": "acct_webhook1"})
    assert instance.get_run_by_id(waiting.run_id).status == dg.DagsterRunStatus.NOT_STARTED

    accounts = defs.get_assets_def(dg.AssetKey(["raw", "accounts"]))
    assert dg.materialize([accounts], instance=instance, resources=defs.resources).success
    listed = set(agency.accounts["id"].to_list())
    assert set(instance.get_dynamic_partitions(creator_partitions.name)) == listed | {
        "acct_webhook1"}

    instance.report_run_canceled(instance.get_run_by_id(waiting.run_id))  # his run ended
    assert dg.materialize([accounts], instance=instance, resources=defs.resources).success
    assert set(instance.get_dynamic_partitions(creator_partitions.name)) == listed
