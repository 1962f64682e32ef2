"""The System Intelligence report asset, its job and hourly schedule, and what the demo calls."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.models import asset_attributes
from ofhq_pipeline.lake import atomic_write
from ofhq_pipeline.report.render import (
    FLOWS,
    LastRun,
    collect,
    render_html,
    render_markdown,
    render_summary,
    report_path,
)
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.settings import Paths


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


@dg.asset(**asset_attributes(
    "report/system_intelligence",
    description="The System Intelligence report: live row counts of every table, what is "
    "tracked per fan (the data dictionary), how data flows in and when each path last ran, "
    "stage and temperature distributions, revenue by day, raw rows staging set aside per "
    "creator. Shown here as Markdown and written as a standalone page with charts to "
    "$OFHQ_HOME/report/index.html.",
))
def system_intelligence(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> dg.MaterializeResult:
    store = lake.lake()
    data = collect(store.paths.analysts_marts, flow_runs(context.instance), datetime.now(UTC),
                   store.root)
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
        }
    )


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
                          resources={"lake": resource})
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
