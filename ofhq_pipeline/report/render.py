"""The System Intelligence report: what the pipeline holds, how data gets in, how fans are doing.

`collect` reads the analysts' file (exactly what analysts see), the Dagster instance's run
history and the raw rows staging set aside (the lake's staging.cast_rejects files: not published
to analysts); `render_markdown` gives the version shown in the Dagster UI, `render_html` a
standalone page with inline SVG charts (no network, no script), `render_summary` a few lines for
a terminal.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from ofhq_pipeline.chatters.leaderboard import chatter_leaderboard
from ofhq_pipeline.dictionary import FAN_AGENCY, FAN_LIFECYCLE_EVENTS, FAN_PROFILE
from ofhq_pipeline.lake import REJECTS
from ofhq_pipeline.marts.invariants import RULES, InvariantSummary, invariant_summary
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.rotation import Capacity
from ofhq_pipeline.staging.rejects import RejectsSummary, summarize

STAGES = ["new", "warming", "active_buyer", "reactivated", "cooling_off", "at_risk", "churned"]
TEMPERATURES = ["HOT", "WARM", "COOLING", "COLD", "ICE_COLD"]
REVENUE_DAYS = 90

# How data gets in, and the job that carries each path (None: it runs inside other paths' runs).
FLOWS = [
    ("Batch sync", "creator_sync",
     "OnlyFans API and landed webhooks → raw → staging, one creator per run",
     "periodic_sync_schedule: each minute, every creator about to pass the staleness "
     "target; `ofhq sync`"),
    ("Batch marts", "creator_marts",
     "staging → fan intelligence → marts → analysts' file → alerts, one creator per run",
     "creator_marts_sensor: a creator_sync run that staged anything new; `ofhq sync`"),
    ("Real time", "realtime_update",
     "signed webhooks → landing store → raw → staging → marts → analysts' file → alerts",
     "webhook_sensor: new landed events"),
    ("Classifier", None,
     "chat windows → LLM (rules-v1 without a key) → fan_personality → intents, next best action",
     "inside every batch marts and real-time run; `ofhq classify`"),
    ("Stage decay", "stage_decay",
     "lake → staging → marts: stages and lifecycle events as of the tick, no API call",
     "stage_decay_schedule: daily 04:00 UTC, every creator"),
    ("Discovery", "discover_creators", "GET /api/accounts → creator partitions",
     "creator_discovery_schedule: hourly"),
    ("Report", "system_report", "analysts' file → this report",
     "system_report_schedule: hourly"),
    ("Blasts", "segment_blast", "segment → ledger → mass messages (API) → marts.blasts",
     "`ofhq segments send NAME ... --confirm`, or the launchpad with ofhq/blast_* tags"),
]


def report_path(paths: Paths | None = None) -> Path:
    """$OFHQ_HOME/report/index.html."""
    return (paths or Paths.from_env()).home / "report" / "index.html"


@dataclass
class LastRun:
    job: str
    status: str
    at: datetime | None
    partition: str | None


@dataclass
class ReportData:
    generated_at: datetime
    published_at: datetime | None = None
    table_counts: list[tuple[str, str, int]] = field(default_factory=list)
    creators: list[tuple[str, str | None, int, int, int]] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)
    temperatures: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    revenue_by_day: list[tuple[date, int]] = field(default_factory=list)
    people: tuple[int, int] | None = None  # fan_agency: people, people with several creators
    last_runs: list[LastRun] = field(default_factory=list)
    chatter_leaderboard: str = ""  # Markdown, "" without chatter data
    rejects: list[RejectsSummary] = field(default_factory=list)  # creators with rejected rows
    invariants: InvariantSummary | None = None  # the fan profile's cross-field rules
    sync_capacity: SyncCapacity | None = None  # what the periodic sync keeps fresh
    blasts: list[tuple] = field(default_factory=list)  # the latest rows of marts.blasts (BLASTS)

    @property
    def fans(self) -> int:
        return sum(self.stages.values())

    @property
    def revenue_cents(self) -> int:
        return sum(revenue for *_, revenue in self.creators)


@dataclass
class SyncCapacity:
    """How many creators the periodic sync keeps within its target, beside how many there are."""

    capacity: Capacity
    creators: int
    over_target: list[tuple[str, float | None]] = field(default_factory=list)  # (id, age s)


# "What is tracked per fan": the tables with one row per fan or per fan event.
PER_FAN = (FAN_PROFILE, FAN_LIFECYCLE_EVENTS, FAN_AGENCY)


def collect(
    analysts_file: Path,
    last_runs: list[LastRun] | None,
    now: datetime,
    lake_root: Path | None = None,
    creators: Sequence[str] | None = None,
) -> ReportData:
    """What the report shows; with `creators`, only those creators' fans, revenue and blasts,
    and none of the agency-wide tables (the live page's view for an employee)."""
    data = ReportData(generated_at=now)
    data.last_runs = list(last_runs or [])
    if lake_root is not None:
        data.rejects = collect_rejects(lake_root)
    if not analysts_file.exists():
        return data
    con = duckdb.connect(str(analysts_file), read_only=True)
    try:
        con.execute("SET VARIABLE scope = CAST(? AS VARCHAR[])",
                    [None if creators is None else list(creators)])
        con.execute("CREATE TEMP MACRO in_scope(creator) AS "
                    "getvariable('scope') IS NULL OR list_contains(getvariable('scope'), creator)")
        tables = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if creators is not None:  # agency-wide tables say nothing of one creator
            tables -= {"system_stats", "fan_agency", "chatter_performance_daily"}
        if "system_stats" in tables:
            rows = con.execute("SELECT layer, table_name, row_count, refreshed_at "
                               "FROM marts.system_stats ORDER BY layer, table_name").fetchall()
            data.table_counts = [(layer, name, n) for layer, name, n, _ in rows]
            data.published_at = max((at for *_, at in rows), default=None)
        if "creators" in tables:
            data.creators = con.execute(
                "SELECT creator_id, username, fan_count, paying_fans, lifetime_revenue_cents "
                "FROM marts.creators WHERE in_scope(creator_id) "
                "ORDER BY lifetime_revenue_cents DESC, creator_id").fetchall()
        if "fan_profile" in tables:
            if creators is None:
                data.invariants = invariant_summary(con)
            data.stages = counts(con, "stage")
            data.temperatures = counts(con, "temperature")
            data.actions = counts(con, "next_best_action")
        if "creator_revenue_daily" in tables:
            data.revenue_by_day = con.execute(REVENUE_BY_DAY).fetchall()
        if "fan_agency" in tables:
            data.people = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE creators_followed > 1) "
                "FROM marts.fan_agency").fetchone()
        if "blasts" in tables:
            data.blasts = con.execute(BLASTS).fetchall()
        if "chatter_performance_daily" in tables:
            data.chatter_leaderboard = chatter_leaderboard(con)  # the last 7 days in the file
    finally:
        con.close()
    return data


# Gross revenue of every creator per UTC day, the last REVENUE_DAYS days up to the latest one
# with a purchase, days without any included (as 0).
REVENUE_BY_DAY = f"""
WITH daily AS (
    SELECT day, CAST(sum(gross_cents) AS BIGINT) AS gross_cents
    FROM marts.creator_revenue_daily
    WHERE in_scope(creator_id)
    GROUP BY day
),
days AS (
    SELECT CAST(unnest(range(CAST(max(day) AS TIMESTAMP) - INTERVAL {REVENUE_DAYS - 1} DAY,
                             CAST(max(day) AS TIMESTAMP) + INTERVAL 1 DAY,
                             INTERVAL 1 DAY)) AS DATE) AS day
    FROM daily
    HAVING max(day) IS NOT NULL
)
SELECT days.day, coalesce(daily.gross_cents, 0)
FROM days
LEFT JOIN daily USING (day)
ORDER BY days.day
"""


# The latest blasts, newest first: what went out, what came back, what it added over the holdout.
BLASTS = """
SELECT blast_id, creator_id, segment, planned_at, sent, failed, scheduled + pending, held_out,
       excluded, unlocks, unlock_revenue_cents, revenue_per_sent_fan_cents,
       revenue_per_held_out_fan_cents, uplift_per_fan_cents, uplift_ci_low_cents,
       uplift_ci_high_cents, windows_complete
FROM marts.blasts
WHERE in_scope(creator_id)
ORDER BY planned_at DESC, blast_id, creator_id
LIMIT 20
"""
BLASTS_HEADER = ["blast", "creator", "segment", "planned", "sent", "failed", "not yet sent",
                 "held out", "excluded", "unlocks", "7-day revenue per fan (sent / held out)",
                 "uplift per fan (95% interval)"]
BLASTS_INTRO = ("Each blast's fans are compared with a random holdout that was never sent it: "
                "revenue per fan in the 7 days after, and the difference with its 95% interval. "
                "Figures marked (so far) still grow until every window has closed.")


def blast_rows(data: ReportData) -> list[list[object]]:
    def cents(value: float | None) -> str:
        if value is None:
            return "-"
        return ("−" if value < 0 else "") + money(abs(round(value)))

    rows = []
    for (blast_id, creator, segment, planned, sent, failed, waiting, held, excluded, unlocks,
         unlocked_cents, per_sent, per_held, uplift, low, high, complete) in data.blasts:
        interval = "" if low is None else f" ({cents(low)} to {cents(high)})"
        rows.append([blast_id, creator, segment, stamp(planned), f"{sent:,}", f"{failed:,}",
                     f"{waiting:,}", f"{held:,}", f"{excluded:,}",
                     f"{unlocks:,} ({money(unlocked_cents)})",
                     f"{cents(per_sent)} / {cents(per_held)}",
                     cents(uplift) + interval + ("" if complete else " (so far)")])
    return rows


def collect_rejects(lake_root: Path) -> list[RejectsSummary]:
    """Every creator's staging.cast_rejects file, summed up per creator."""
    files = sorted((lake_root / "staging" / REJECTS).glob("*.parquet"))
    con = duckdb.connect()
    try:
        return summarize(con, files)
    finally:
        con.close()


def counts(con: duckdb.DuckDBPyConnection, column: str) -> dict[str, int]:
    rows = con.execute(
        f"SELECT {column}, count(*) FROM marts.fan_profile WHERE in_scope(creator_id) "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    return {str(value): n for value, n in rows}


# ---- text -----------------------------------------------------------------------------------
def money(cents: int | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


def stamp(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "never"


def ordered(values: dict[str, int], order: list[str]) -> list[tuple[str, int]]:
    return [(name, values.get(name, 0)) for name in order] + [
        (name, n) for name, n in values.items() if name not in order
    ]


def headline(data: ReportData) -> str:
    if data.published_at is None:
        return "Nothing is published yet: sync a creator first (`ofhq sync`)."
    people = f", {data.people[0]:,} people" if data.people else ""
    return (f"Published {stamp(data.published_at)}: {len(data.creators)} creators, "
            f"{data.fans:,} fans{people}, {money(data.revenue_cents)} lifetime revenue.")


def sparkline(values: list[int]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    top = max(values, default=0)
    return "".join(bars[min(7, v * 8 // top)] if top else bars[0] for v in values)


def md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |"
              for row in rows]
    return lines + [""]


FLOW_HEADER = ["path", "what", "trigger", "last run", "status"]


def flow_rows(data: ReportData) -> list[list[object]]:
    runs = {run.job: run for run in data.last_runs}

    def when(run: LastRun) -> str:
        return stamp(run.at) + (f" ({run.partition})" if run.partition else "")

    return [
        [name, what, trigger, when(runs[job]) if job in runs else "-",
         runs[job].status if job in runs else "-"]
        for name, job, what, trigger in FLOWS
    ]


def creator_rows(data: ReportData) -> list[list[object]]:
    return [[c, u or "", f"{f:,}", f"{p:,}", money(r)] for c, u, f, p, r in data.creators]


REJECTS_HEADER = ["creator", "raw rows set aside", "values", "most common reasons"]


def rejects_rows(data: ReportData) -> list[list[object]]:
    return [[r.creator_id, f"{r.rows:,}", f"{r.values:,}",
             "; ".join(f"{label} ({n:,})" for label, n in r.reasons)] for r in data.rejects]


REJECTS_INTRO = ("Raw rows staging sets aside because a value does not cast (an amount of "
                 "\"abc\", a fan id of 1e30): the creator's other rows still build. "
                 "Every value is in staging.cast_rejects.")


def share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def count(n: float) -> str:
    """A number of creators: whole ones only, rounded down as `Capacity.kept_fresh` is."""
    return f"{math.floor(n):,}"


def capacity_lines(sync: SyncCapacity) -> list[str]:
    """The capacity section as sentences: what is kept fresh, what bounds it, what more needs."""
    cap, target = sync.capacity, f"{sync.capacity.target_minutes:g}-minute"
    kept = cap.kept_fresh
    if kept is None:
        lines = [f"Creators kept within the {target} target: not known until a sync has "
                 f"finished. Creators now: {sync.creators:,}."]
    else:
        verdict = "enough" if kept >= sync.creators else "NOT enough"
        lines = [f"Creators kept within the {target} target: {kept:,} "
                 f"(limited by the {cap.limited_by}); creators now: {sync.creators:,}, "
                 f"{verdict}."]
    lines += bound_lines(cap)
    lines.append(more_line(sync))
    if sync.over_target:
        ages = ", ".join(f"{c} ({'never synced' if a is None else f'{a / 60:.0f} min'})"
                         for c, a in sync.over_target[:10])
        more = len(sync.over_target) - 10
        lines.append(f"Older than the target now: {len(sync.over_target):,} creator(s): "
                     f"{ages}" + (f" and {more:,} more" if more > 0 else "") + ".")
    return lines


def bound_lines(cap: Capacity) -> list[str]:
    """The two bounds, each with its arithmetic: a creator is re-synced every `period` (a tick
    and a sync before the target), and a sync holds its run slot until the next tick."""
    period = f"{cap.period_s / 60:.1f} min"
    lines = []
    if cap.by_workers is not None:
        lines.append(f"Run workers: {cap.max_concurrent} concurrent syncs × {period} between a "
                     f"creator's syncs / {cap.slot_cycle_s:.0f} s a slot per sync "
                     f"({cap.median_sync_s:.1f} s median sync, rounded up to the schedule's "
                     f"{cap.tick_s:.0f} s tick) = {count(cap.by_workers)} creators.")
    if cap.budget_per_minute <= 0:
        lines.append("API budget: no limit (OFAPI_REQUESTS_PER_MINUTE=0).")
    elif cap.by_budget is not None:
        lines.append(f"API budget: {cap.budget_per_minute:,} requests/min × {period} / "
                     f"{cap.requests_per_sync:,.0f} requests per sync = "
                     f"{count(cap.by_budget)} creators.")
    return lines


def more_line(sync: SyncCapacity) -> str:
    """What would keep more creators fresh: concrete settings for the current count when it is
    over capacity, else what one more run slot adds."""
    cap = sync.capacity
    how = ("raise max_concurrent_syncs (OFHQ_MAX_CONCURRENT_SYNCS) together with the "
           "QueuedRunCoordinator's max_concurrent_runs in dagster.yaml (leave room for "
           "real-time runs), or launch runs on Kubernetes (docs/scale-out.md)")
    if cap.kept_fresh is not None and cap.kept_fresh < sync.creators:
        workers, budget = cap.needed_for(sync.creators)
        needs = []
        if workers is not None and workers > cap.max_concurrent:
            needs.append(f"{workers} concurrent syncs")
        if budget is not None and 0 < cap.budget_per_minute < budget:
            needs.append(f"an API budget of {budget:,} requests/min")
        return (f"To keep all {sync.creators:,} fresh: " + " and ".join(needs)
                + f". For more run workers, {how}.")
    per_slot = (f"each further concurrent sync keeps {count(cap.by_workers / cap.max_concurrent)}"
                " more creators fresh; " if cap.by_workers else "")
    return f"For more: {per_slot}{how}."


def render_markdown(data: ReportData) -> str:
    lines = ["# System Intelligence", "", headline(data), "", "## How data flows in", ""]
    lines += md_table(FLOW_HEADER, flow_rows(data))
    if data.sync_capacity:
        lines += ["## Sync capacity", "", *(f"- {line}" for line in
                                            capacity_lines(data.sync_capacity)), ""]
    lines += ["## Fans by stage", ""]
    lines += md_table(["stage", "fans", "share"],
                      [[s, f"{n:,}", share(n, data.fans)] for s, n in ordered(data.stages, STAGES)])
    lines += ["## Fans by temperature", ""]
    lines += md_table(["temperature", "fans", "share"],
                      [[t, f"{n:,}", share(n, data.fans)]
                       for t, n in ordered(data.temperatures, TEMPERATURES)])
    lines += ["## Next best actions", ""]
    lines += md_table(["action", "fans"], [[a, f"{n:,}"] for a, n in data.actions.items()])
    lines += [f"## Revenue by day (last {REVENUE_DAYS} days)", ""]
    if data.revenue_by_day:
        first, last = data.revenue_by_day[0][0], data.revenue_by_day[-1][0]
        lines += [f"`{sparkline([c for _, c in data.revenue_by_day])}` {first} → {last}", ""]
        lines += md_table(["day", "gross"],
                          [[d, money(c)] for d, c in reversed(data.revenue_by_day[-14:])])
    lines += ["## Creators", ""]
    lines += md_table(["creator", "username", "fans", "paying", "revenue"], creator_rows(data))
    lines += ["## Live row counts (marts.system_stats)", ""]
    lines += md_table(["layer", "table", "rows"],
                      [[layer, name, f"{n:,}"] for layer, name, n in data.table_counts])
    if data.chatter_leaderboard:
        lines += ["## Chatters (last 7 days)", "", data.chatter_leaderboard, ""]
    if data.blasts:
        lines += ["## Blasts", "", BLASTS_INTRO, ""]
        lines += md_table(BLASTS_HEADER, blast_rows(data))
    if data.invariants:
        lines += ["## Fan profile invariants", "", data.invariants.markdown()]
    lines += ["## Rejected raw rows", "", REJECTS_INTRO, ""]
    lines += md_table(REJECTS_HEADER, rejects_rows(data)) if data.rejects else ["none", ""]
    lines += ["## What is tracked per fan", ""]
    for table in PER_FAN:
        lines += [f"### marts.{table.name}", "", table.description, ""]
        for sec in table.sections:
            lines += [f"**{sec.title}**: " + ", ".join(f"`{c.name}`" for c in sec.columns), ""]
    return "\n".join(lines)


def render_summary(data: ReportData, location: Path) -> str:
    """A few lines for a terminal: the headline, stages, temperatures, where the page is."""
    stages = ", ".join(f"{s} {n:,}" for s, n in ordered(data.stages, STAGES) if n)
    temps = ", ".join(f"{t} {n:,}" for t, n in ordered(data.temperatures, TEMPERATURES) if n)
    lines = ["System Intelligence", f"  {headline(data)}"]
    if stages:
        lines += [f"  stages: {stages}", f"  temperature: {temps}"]
    if data.revenue_by_day:
        lines.append(f"  revenue, last {len(data.revenue_by_day)} days: "
                     f"{sparkline([c for _, c in data.revenue_by_day])}")
    if data.invariants:
        inv = data.invariants
        lines.append("  invariants: " + (
            f"could not judge ({inv.could_not_judge})" if inv.could_not_judge
            else f"every rule holds over {inv.fans:,} fans" if inv.passed
            else f"{inv.violations:,} violations ("
            + ", ".join(f"{r} {n:,}" for r, n in inv.by_rule.items() if n) + ")"))
    if data.sync_capacity:
        lines.append(f"  sync capacity: {capacity_lines(data.sync_capacity)[0]}")
    if data.rejects:
        lines.append(f"  rejected raw rows: {sum(r.rows for r in data.rejects):,} "
                     f"({len(data.rejects)} creator(s), see the report)")
    lines.append(f"  report: {location.as_uri()}  (Dagster UI: asset report/system_intelligence)")
    return "\n".join(lines)


# ---- HTML and SVG ---------------------------------------------------------------------------
COLORS = {
    "new": "#6baed6", "warming": "#fd8d3c", "active_buyer": "#31a354", "reactivated": "#74c476",
    "cooling_off": "#fdd0a2", "at_risk": "#e6550d", "churned": "#969696",
    "HOT": "#de2d26", "WARM": "#fc9272", "COOLING": "#9ecae1", "COLD": "#4292c6",
    "ICE_COLD": "#08519c",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def hbar_svg(items: list[tuple[str, int]], width: int = 560) -> str:
    """Horizontal bars, one per item, labelled with the count and share."""
    total = sum(n for _, n in items) or 1
    top = max((n for _, n in items), default=0) or 1
    row, label_w, bar_w = 26, 110, width - 110 - 120
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{row * len(items) + 8}" role="img">']
    for i, (name, n) in enumerate(items):
        y = 4 + i * row
        w = round(bar_w * n / top)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="13">'
            f"{esc(name)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row - 8}" '
            f'fill="{COLORS.get(name, "#6a51a3")}"><title>{esc(name)}: {n:,}</title></rect>'
            f'<text x="{label_w + w + 6}" y="{y + 17}" font-size="12">{n:,} '
            f'({100 * n / total:.1f}%)</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def revenue_svg(points: list[tuple[date, int]], width: int = 860, height: int = 240) -> str:
    """Daily gross revenue as bars, with the top value and the first and last day on the axes."""
    if not points:
        return "<p>No revenue yet.</p>"
    left, bottom, top_pad = 70, 28, 12
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max(c for _, c in points) or 1
    step = plot_w / len(points)
    axis_y = top_pad + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<line x1="{left}" y1="{axis_y}" x2="{width - 10}" y2="{axis_y}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{axis_y}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" font-size="11">'
        f"{esc(money(top))}</text>",
        f'<text x="{left - 6}" y="{axis_y}" text-anchor="end" font-size="11">$0</text>',
    ]
    for i, (day, cents) in enumerate(points):
        h = plot_h * cents / top
        parts.append(
            f'<rect x="{left + i * step + 0.5:.1f}" y="{top_pad + plot_h - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}" fill="#3182bd">'
            f'<title>{day}: {esc(money(cents))}</title></rect>'
        )
    parts += [f'<text x="{left}" y="{height - 8}" font-size="11">{points[0][0]}</text>',
              f'<text x="{width - 10}" y="{height - 8}" text-anchor="end" font-size="11">'
              f'{points[-1][0]}</text>', "</svg>"]
    return "".join(parts)


def html_table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1000px;
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:14px}td,th{border:1px solid #ddd;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}.muted{color:#666}
.grid{display:flex;flex-wrap:wrap;gap:2rem}code{background:#f4f4f4;padding:0 3px}
"""


def invariants_html(summary: InvariantSummary | None) -> list[str]:
    """The invariants' verdict, one row per rule (0 included), and a few fans of each."""
    if summary is None:
        return []
    if summary.could_not_judge:
        return ["<h2>Fan profile invariants</h2>",
                f"<p><b>could not be judged</b>: {esc(summary.could_not_judge)}</p>"]
    verdict = ("every rule holds" if summary.passed
               else f"<b>{summary.violations:,} violations</b>")
    rows = [[rule, RULES.get(rule, ""), f"{n:,}"] for rule, n in summary.by_rule.items()]
    parts = ["<h2>Fan profile invariants</h2>",
             f"<p class=muted>over {summary.fans:,} fans: {verdict}</p>",
             html_table(["rule", "what it guards", "violations"], rows)]
    if summary.examples:
        parts.append(html_table(["rule", "creator", "fan", "detail"],
                                [list(example) for example in summary.examples]))
    return parts


def capacity_html(sync: SyncCapacity | None) -> list[str]:
    if sync is None:
        return []
    items = "".join(f"<li>{esc(line)}</li>" for line in capacity_lines(sync))
    return [f"<h2>Sync capacity</h2><ul>{items}</ul>"]


def render_html(data: ReportData) -> str:
    flows = html_table(FLOW_HEADER, flow_rows(data))
    dictionary = []
    for table in PER_FAN:
        dictionary.append(f"<h3>marts.{esc(table.name)}</h3><p>{esc(table.description)}</p>")
        dictionary.append(html_table(
            ["section", "column", "type", "description"],
            [[sec.title, c.name, c.type, c.description] for sec in table.sections
             for c in sec.columns]))
    return "".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>System Intelligence</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>System Intelligence</h1>",
        f"<p>{esc(headline(data))}</p>",
        f"<p class=muted>Generated {esc(stamp(data.generated_at))}.</p>",
        "<h2>How data flows in</h2>", flows,
        *capacity_html(data.sync_capacity),
        f"<h2>Revenue by day (gross, last {REVENUE_DAYS} days)</h2>",
        revenue_svg(data.revenue_by_day),
        '<div class=grid><div><h2>Fans by stage</h2>', hbar_svg(ordered(data.stages, STAGES)),
        '</div><div><h2>Fans by temperature</h2>',
        hbar_svg(ordered(data.temperatures, TEMPERATURES)), "</div></div>",
        "<h2>Next best actions</h2>", hbar_svg(list(data.actions.items())),
        "<h2>Creators</h2>",
        html_table(["creator", "username", "fans", "paying", "revenue"], creator_rows(data)),
        "<h2>Live row counts</h2><p class=muted>marts.system_stats, at the last publish</p>",
        html_table(["layer", "table", "rows"],
                   [[layer, name, f"{n:,}"] for layer, name, n in data.table_counts]),
        *invariants_html(data.invariants),
        *([f"<h2>Blasts</h2><p class=muted>{esc(BLASTS_INTRO)}</p>",
           html_table(BLASTS_HEADER, blast_rows(data))] if data.blasts else []),
        f"<h2>Rejected raw rows</h2><p class=muted>{esc(REJECTS_INTRO)}</p>",
        html_table(REJECTS_HEADER, rejects_rows(data)) if data.rejects else "<p>none</p>",
        "<h2>What is tracked per fan</h2>", *dictionary,
        "</body></html>\n",
    ])
