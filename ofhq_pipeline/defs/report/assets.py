"""The System Intelligence report asset, its job and hourly schedule, and what the demo calls."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.report.render import (
    collect,
    render_html,
    render_markdown,
    render_summary,
    report_path,
)
from ofhq_pipeline.resources.lake import LakeResource, atomic_write
from ofhq_pipeline.settings import Paths


@dg.asset(
    key=["report", "system_intelligence"],
    deps=[["published", "analysts_marts"]],
    group_name="report",
    kinds={"html"},
    description="The System Intelligence report: live row counts of every table, what is "
    "tracked per fan (the data dictionary), how data flows in and when each path last ran, "
    "stage and temperature distributions, revenue by day, raw rows staging set aside per "
    "creator. Shown here as Markdown and written as a standalone page with charts to "
    "$OFHQ_HOME/report/index.html.",
)
def system_intelligence(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> dg.MaterializeResult:
    store = lake.lake()
    data = collect(store.paths.analysts_marts, context.instance, datetime.now(UTC), store.root)
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
            "published_at": data.published_at.isoformat() if data.published_at else "never",
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
    data = collect(paths.analysts_marts, instance, datetime.now(UTC), paths.lake)
    return render_summary(data, report_path(paths))
