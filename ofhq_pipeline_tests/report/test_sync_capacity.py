"""The System Intelligence report says how many creators the periodic sync keeps within its
staleness target, what bounds it, and what more would need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ofhq_pipeline.defs.report.assets import materialize_report
from ofhq_pipeline.report.render import (
    SyncCapacity,
    collect,
    render_html,
    render_markdown,
    render_summary,
)
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.source.rotation import creators_kept_fresh
from ofhq_pipeline_tests.sync_runs import record_sync, start_sync, sync_job

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def section(markdown: str) -> str:
    return markdown.split("## Sync capacity", 1)[1].split("\n## ", 1)[0]


def report_with(tmp_path, sync: SyncCapacity):
    data = collect(tmp_path / "no-analysts-file.duckdb", None, NOW)
    data.sync_capacity = sync
    return data


def test_the_report_states_the_creators_kept_fresh_and_what_bounds_it(tmp_path):
    """14 s syncs, 2 slots, 1,000 requests a minute at 6 a sync: each creator is synced every
    43.8 min (45 less a tick and a sync); a slot starts one sync a tick: 2 × 2,626 / 60 = 87.5
    by workers, 1,000 × 43.8 / 6 = 7,294 by budget."""
    data = report_with(tmp_path, SyncCapacity(creators_kept_fresh(45, 14.0, 2, 1_000, 6), 80))
    text = section(render_markdown(data))
    assert ("- Creators kept within the 45-minute target: 87 (limited by the run workers); "
            "creators now: 80, enough.") in text
    assert ("- Run workers: 2 concurrent syncs × 43.8 min between a creator's syncs / 60 s a "
            "slot per sync (14.0 s median sync, rounded up to the schedule's 60 s tick) = "
            "87 creators.") in text
    assert ("- API budget: 1,000 requests/min × 43.8 min / 6 requests per sync = 7,294 creators."
            in text)
    assert "each further concurrent sync keeps 43 more creators fresh" in text
    assert "max_concurrent_runs in dagster.yaml" in text and "Kubernetes" in text
    assert "<h2>Sync capacity</h2>" in render_html(data)
    assert ("sync capacity: Creators kept within the 45-minute target: 87"
            in render_summary(data, tmp_path / "index.html"))


def test_over_capacity_the_report_says_what_all_creators_would_need(tmp_path):
    """200 creators, 60 s syncs: every 43 min, 2 × 43 = 86 by workers; the budget (300 a
    minute, 100 a sync) keeps 129. All 200 need 5 slots and 466 requests a minute."""
    over = [("acct_old", 50 * 60.0), ("acct_new", None)]
    data = report_with(tmp_path, SyncCapacity(creators_kept_fresh(45, 60.0, 2, 300, 100), 200,
                                              over))
    text = section(render_markdown(data))
    assert "target: 86 (limited by the run workers); creators now: 200, NOT enough." in text
    assert ("To keep all 200 fresh: 5 concurrent syncs and an API budget of 466 requests/min."
            in text)
    assert "Older than the target now: 2 creator(s): acct_old (50 min), acct_new (never synced)." \
        in text


def test_before_any_sync_the_capacity_is_unknown(tmp_path):
    data = report_with(tmp_path, SyncCapacity(creators_kept_fresh(45, None, 2, 0, None), 3))
    text = section(render_markdown(data))
    assert "not known until a sync has finished. Creators now: 3." in text
    assert "API budget: no limit (OFAPI_REQUESTS_PER_MINUTE=0)." in text


def test_the_report_asset_reads_durations_and_costs_from_the_run_history(
    tmp_path, instance, monkeypatch
):
    """Recorded syncs of 20 s costing 90 requests, 2 concurrent, 900 requests a minute: each
    creator every 43.7 min; workers keep 2 × 2,620 / 60 = 87, the budget 900 × 43.7 / 90 = 436."""
    monkeypatch.setenv("OFAPI_REQUESTS_PER_MINUTE", "900")
    job = sync_job()
    creators = ["acct_a", "acct_b", "acct_c"]
    instance.add_dynamic_partitions("creators", creators)
    start = (datetime.now(UTC) - timedelta(hours=3)).timestamp()  # long over the target
    for n, creator in enumerate(creators[:2]):
        record_sync(instance, job, creator, start + 60 * n, start + 60 * n + 20, requests=90)
    start_sync(instance, job, "acct_c", start)  # still running: covered, not over the target

    materialize_report(instance, LakeResource())

    event = instance.get_latest_materialization_event(dg.AssetKey(["report",
                                                                    "system_intelligence"]))
    metadata = event.asset_materialization.metadata
    assert metadata["creators_kept_fresh"].value == 87
    assert metadata["creators_over_target"].value == 2
    report = metadata["report"].value
    assert "Creators kept within the 45-minute target: 87 (limited by the run workers); " \
           "creators now: 3, enough." in report
    assert "900 requests/min × 43.7 min / 90 requests per sync = 436 creators" in report
    assert "acct_a (" in report and "acct_c" not in section(report).split("Older than")[1]
