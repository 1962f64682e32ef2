"""The chatter leaderboard: the last days' KPIs and QA per chatter, as rows or a Markdown table.

Made for the System Intelligence report, which already holds the analysts' file open
(`collect` in ofhq_pipeline/report/render.py):

    from ofhq_pipeline.chatters.leaderboard import chatter_leaderboard
    data.chatter_leaderboard = chatter_leaderboard(con)        # in collect(), con still open
    ...
    if data.chatter_leaderboard:                                 # in render_markdown()
        lines += ["", "## Chatters (last 7 days)", "", data.chatter_leaderboard]

`leaderboard_rows(con)` gives the same rows as data, for an HTML table. A chatter who works for
several creators is one row (his name is the key across creators). Days are the `days` latest UTC
days present in `marts.chatter_performance_daily`, like the report's revenue chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

DAILY = "chatter_performance_daily"
QA = "chat_qa_reviews"


@dataclass(frozen=True)
class LeaderboardRow:
    chatter: str
    creators: int
    shift_hours: float
    messages_sent: int
    ppv_offered: int
    ppv_unlocked: int
    unlock_ratio: float | None
    revenue_cents: int
    revenue_per_shift_hour_cents: int | None
    median_answer_s: int | None  # the median of his daily medians
    fans_left_waiting: int
    qa_score: float | None  # mean score of his ok reviews in the period
    qa_reviews: int


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}


def leaderboard_rows(
    con: duckdb.DuckDBPyConnection, *, days: int = 7, limit: int = 20
) -> list[LeaderboardRow]:
    """Chatters by revenue credited over the period, biggest first (ties: name)."""
    tables = _tables(con)
    if DAILY not in tables:
        return []
    qa_join = (
        f"""LEFT JOIN (
            SELECT chatter, avg(score) AS qa_score, count(*) AS qa_reviews
            FROM marts.{QA}
            WHERE status = 'ok' AND day > (SELECT last_day FROM period) - {int(days)}
            GROUP BY chatter
        ) qa USING (chatter)"""
        if QA in tables else
        "LEFT JOIN (SELECT NULL::VARCHAR AS chatter, NULL::DOUBLE AS qa_score, "
        "0 AS qa_reviews WHERE false) qa USING (chatter)"
    )
    rows = con.execute(f"""
        WITH period AS (SELECT max(day) AS last_day FROM marts.{DAILY}),
        recent AS (
            SELECT * FROM marts.{DAILY}
            WHERE day > (SELECT last_day FROM period) - {int(days)}
        ),
        per_chatter AS (
            SELECT
                chatter,
                count(DISTINCT creator_id)                  AS creators,
                round(sum(shift_hours), 1)                  AS shift_hours,
                sum(messages_sent)                          AS messages_sent,
                sum(ppv_offered)                            AS ppv_offered,
                sum(ppv_unlocked)                           AS ppv_unlocked,
                sum(revenue_cents)                          AS revenue_cents,
                median(median_answer_s)                     AS median_answer_s,
                sum(fans_left_waiting)                      AS fans_left_waiting
            FROM recent
            GROUP BY chatter
        )
        SELECT
            p.chatter, p.creators, p.shift_hours, p.messages_sent, p.ppv_offered,
            p.ppv_unlocked,
            CASE WHEN p.ppv_offered > 0 THEN least(1.0, p.ppv_unlocked / p.ppv_offered) END,
            p.revenue_cents,
            CASE WHEN p.shift_hours > 0 THEN round(p.revenue_cents / p.shift_hours) END,
            round(p.median_answer_s),
            p.fans_left_waiting,
            qa.qa_score,
            coalesce(qa.qa_reviews, 0)
        FROM per_chatter p
        {qa_join}
        ORDER BY p.revenue_cents DESC, p.chatter
        LIMIT {int(limit)}
    """).fetchall()
    return [
        LeaderboardRow(
            chatter=r[0], creators=int(r[1]), shift_hours=float(r[2] or 0),
            messages_sent=int(r[3] or 0), ppv_offered=int(r[4] or 0),
            ppv_unlocked=int(r[5] or 0), unlock_ratio=r[6], revenue_cents=int(r[7] or 0),
            revenue_per_shift_hour_cents=int(r[8]) if r[8] is not None else None,
            median_answer_s=int(r[9]) if r[9] is not None else None,
            fans_left_waiting=int(r[10] or 0),
            qa_score=float(r[11]) if r[11] is not None else None, qa_reviews=int(r[12]),
        )
        for r in rows
    ]


def money(cents: int | None) -> str:
    return "–" if cents is None else f"${cents / 100:,.2f}"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def render_markdown(rows: list[LeaderboardRow]) -> str:
    if not rows:
        return ""
    header = ["#", "Chatter", "Creators", "Shift h", "Messages", "PPV offered",
              "PPV unlocked", "Unlock %", "Revenue", "Revenue / shift h", "Median answer",
              "Fans left waiting", "QA score"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, r in enumerate(rows, start=1):
        cells = [
            rank, r.chatter.replace("|", "/"), r.creators, f"{r.shift_hours:g}",
            f"{r.messages_sent:,}", f"{r.ppv_offered:,}", f"{r.ppv_unlocked:,}",
            f"{r.unlock_ratio:.0%}" if r.unlock_ratio is not None else "–",
            money(r.revenue_cents), money(r.revenue_per_shift_hour_cents),
            duration(r.median_answer_s), r.fans_left_waiting,
            f"{r.qa_score:.0f} ({r.qa_reviews})" if r.qa_score is not None else "–",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def chatter_leaderboard(con: duckdb.DuckDBPyConnection, *, days: int = 7, limit: int = 20) -> str:
    """The leaderboard as a Markdown table; "" when there is no chatter data yet."""
    return render_markdown(leaderboard_rows(con, days=days, limit=limit))


def chatter_leaderboard_from_file(path: Path, *, days: int = 7, limit: int = 20) -> str:
    """The same, opening the analysts' file read-only; "" when it does not exist."""
    if not Path(path).exists():
        return ""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return chatter_leaderboard(con, days=days, limit=limit)
    finally:
        con.close()
