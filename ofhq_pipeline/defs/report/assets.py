"""The System Intelligence report asset, its job and hourly schedule, and what the demo calls."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.models import asset_attributes
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.defs.source.schedules import sync_history
from ofhq_pipeline.lake import atomic_write
from ofhq_pipeline.report.render import (
    FLOWS,
    LastRun,
    SyncCapacity,
    collect,
    render_html,
    render_markdown,
    render_summary,
    report_path,
)
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.rotation import RotationSettings
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.rotation import creators_kept_fresh, over_target


def last_run(instance: dg.DagsterInstance, job: str) -> LastRun:
    runs = instance.get_run_records(filters=dg.RunsFilter(job_name=job), limit=1)
    if not runs:
        return LastRun(job, "-", None, None)
    record = runs[0]
    at = (datetime.fromtimestamp(record.end_time, tz=UTC) if record.end_time
          else record.create_timestamp)
    return LastRun(job, record.dagster_run.status.value.lower(), at,
                   record.dagster_run.tags.get("dagster/partition"))


def flow_runs(instance: dg.DagsterInstance) -> list[LastRun]:
    """The last run of each data flow's job, for the report's data flows section."""
    return [last_run(instance, job) for _, job, _, _ in FLOWS if job]


def sync_capacity(instance: dg.DagsterInstance, rotation: RotationSettings,
                  ofapi: OfapiResource, now: datetime) -> SyncCapacity:
    """What the periodic sync keeps fresh, from the newest syncs' durations and costs and the
    deployment's settings; and which creators are older than the target now."""
    creators = instance.get_dynamic_partitions(creator_partitions.name)
    history = sync_history(instance, len(creators))
    capacity = creators_kept_fresh(
        rotation.staleness_target_minutes, history.median_sync_s, rotation.max_concurrent_syncs,
        ofapi.rate(), history.requests_per_sync(rotation.requests_per_sync),
    )
    over = over_target(creators, history, now.timestamp(), rotation.target_s)
    return SyncCapacity(capacity, len(creators), over)


@dg.asset(**asset_attributes(
    "report/system_intelligence",
    description="The System Intelligence report: live row counts of every table, what is "
    "tracked per fan (the data dictionary), how data flows in and when each path last ran, "
    "stage and temperature distributions, revenue by day, raw rows staging set aside per "
    "creator, and how many creators the periodic sync keeps within its staleness target. "
    "Shown here as Markdown and written as a standalone page with charts to "
    "$OFHQ_HOME/report/index.html.",
))
def system_intelligence(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    rotation: RotationSettings,
    ofapi: OfapiResource,
) -> dg.MaterializeResult:
    store = lake.lake()
    now = datetime.now(UTC)
    data = collect(store.paths.analysts_marts, flow_runs(context.instance), now, store.root)
    data.sync_capacity = sync_capacity(context.instance, rotation, ofapi, now)
    path = report_path(store.paths)
    page = render_html(data)
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(render_markdown(data)),
            "html": dg.MetadataValue.path(str(path)),
            "fans": data.fans,
            "creators": len(data.creators),
            "tables": len(data.table_counts),
            **({"published_at": dg.MetadataValue.timestamp(data.published_at)}
               if data.published_at else {}),
            "rejected_raw_rows": sum(r.rows for r in data.rejects),
            **capacity_metadata(data.sync_capacity),
        }
    )


def capacity_metadata(sync: SyncCapacity) -> dict:
    """The capacity figures as numbers the UI can plot over time (None: not known yet)."""
    kept = sync.capacity.kept_fresh
    return {"creators_kept_fresh": kept if kept is not None else dg.MetadataValue.null(),
            "creators_over_target": len(sync.over_target)}


system_report_job = dg.define_asset_job(
    "system_report",
    selection=dg.AssetSelection.groups("report"),
    executor_def=dg.in_process_executor,
    description="Renders the System Intelligence report from the analysts' file.",
)

system_report_schedule = dg.ScheduleDefinition(
    name="system_report_schedule",
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    job=system_report_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: refreshes the System Intelligence report.",
)

report_assets = [system_intelligence]


def materialize_report(
    instance: dg.DagsterInstance | None = None, lake: LakeResource | None = None
) -> Path:
    """Materialize the report in the Dagster instance (as the demo does after syncing); its page."""
    resource = lake or LakeResource()
    defs = dg.Definitions(assets=report_assets, jobs=[system_report_job],
                          resources={"lake": resource, "rotation": RotationSettings.from_env(),
                                     "ofapi": OfapiResource()})
    result = defs.resolve_job_def("system_report").execute_in_process(
        instance=instance or dg.DagsterInstance.get(), raise_on_error=False
    )
    if not result.success:
        raise RuntimeError("the System Intelligence report failed; see the run in the Dagster UI")
    return report_path(resource.lake().paths)


def report_summary(paths: Paths | None = None, instance: dg.DagsterInstance | None = None) -> str:
    """The report's terminal summary, ending with where the page is: what `ofhq demo` prints."""
    paths = paths or Paths.from_env()
    runs = flow_runs(instance) if instance is not None else None
    data = collect(paths.analysts_marts, runs, datetime.now(UTC), paths.lake)
    return render_summary(data, report_path(paths))
