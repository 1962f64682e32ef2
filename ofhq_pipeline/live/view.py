"""What one member's live page holds: the published sections his scope allows, with the live
state laid over them (today's revenue, the latest purchases, the temperature moves).

The page and its stream send only this: a section a member may not see is never sent, not
merely hidden, and every creator-keyed row is filtered by the creators of that section.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ofhq_pipeline.live.scope import SECTIONS, Scope
from ofhq_pipeline.report.render import FLOWS, STAGES, TEMPERATURES, LastRun, ReportData, ordered

REVENUE_DAYS = 30
FLOW_NAMES = {job: name for name, job, _, _ in FLOWS if job}

# The published report for a set of creators (None: every creator).
Published = Callable[[frozenset[str] | None], ReportData]


def page_view(
    scope: Scope, live: dict[str, Any], published: Published, flows: list[LastRun]
) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    for section in SECTIONS:
        if not scope.shows(section):
            continue
        creators = scope.creators(section)

        def keep(creator_id: str | None, creators=creators) -> bool:
            return creators is None or creator_id in creators

        report = published(creators)
        sections[section] = BUILDERS[section](scope, live, report, keep, flows)
    return {"as_of": live["as_of"], "published_at": live["published_at"], "sections": sections}


def _today(live: dict[str, Any], keep) -> list[dict[str, Any]]:
    return [row for creator, row in sorted(live["revenue_today"].items()) if keep(creator)]


def counts(scope, live, report: ReportData, keep, flows) -> dict[str, Any]:
    today = _today(live, keep)
    return {
        "creators": len(report.creators),
        "fans": sum(fans for _, _, fans, _, _ in report.creators),
        "paying_fans": sum(paying for _, _, _, paying, _ in report.creators),
        "revenue_today_cents": sum(row["gross_cents"] for row in today),
        "purchases_today": sum(row["purchase_count"] for row in today),
    }


def revenue(scope, live, report: ReportData, keep, flows) -> dict[str, Any]:
    today = _today(live, keep)
    today_cents = sum(row["gross_cents"] for row in today)
    day = datetime.fromisoformat(live["as_of"]).date()
    days: dict[date, int] = dict(report.revenue_by_day[-REVENUE_DAYS:])
    days[day] = today_cents  # the published day is replaced by the live one
    recent = sorted(days.items())[-REVENUE_DAYS:]
    return {
        "today_cents": today_cents,
        "net_today_cents": sum(row["net_cents"] for row in today),
        "by_creator": [{"creator_id": row["creator_id"], "gross_cents": row["gross_cents"],
                        "purchase_count": row["purchase_count"],
                        "last_purchase_at": row["last_purchase_at"]} for row in today],
        "days": [[d.isoformat(), cents] for d, cents in recent],
    }


def purchases(scope: Scope, live, report, keep, flows) -> list[dict[str, Any]]:
    shown = []
    for row in live["purchases"]:
        if not keep(row["creator_id"]):
            continue
        item = {k: row.get(k) for k in ("creator_id", "transaction_id", "fan_id", "fan", "type",
                                        "amount_cents",
                                        "created_at", "lifetime_spend_cents", "price_range")}
        if scope.allows("temperature", row["creator_id"]):
            item["temperature"] = row.get("temperature")
        shown.append(item)
    return shown


def creators(scope, live, report: ReportData, keep, flows) -> list[dict[str, Any]]:
    today = {row["creator_id"]: row["gross_cents"] for row in _today(live, keep)}
    return [{"creator_id": c, "username": name, "fans": fans, "paying_fans": paying,
             "lifetime_revenue_cents": revenue_cents, "today_cents": today.get(c, 0)}
            for c, name, fans, paying, revenue_cents in report.creators if keep(c)]


def stages(scope, live, report: ReportData, keep, flows) -> list[list[Any]]:
    return [[name, n] for name, n in ordered(report.stages, STAGES)]


def temperature(scope, live, report: ReportData, keep, flows) -> list[list[Any]]:
    """Published counts, with the fans the hot path moved since (a purchase makes a fan HOT)."""
    counts = dict(report.temperatures)
    for creator, moves in live["temperature_moves"].items():
        if keep(creator):
            for name, n in moves.items():
                counts[name] = counts.get(name, 0) + n
    return [[name, max(0, n)] for name, n in ordered(counts, TEMPERATURES)]


def actions(scope, live, report: ReportData, keep, flows) -> list[list[Any]]:
    return [[name, n] for name, n in report.actions.items()]


def flows_section(scope, live, report, keep, flows: list[LastRun]) -> list[dict[str, Any]]:
    return [{"flow": FLOW_NAMES.get(run.job, run.job), "job": run.job, "status": run.status,
             "at": run.at.isoformat() if run.at else None, "creator_id": run.partition}
            for run in flows]


BUILDERS = {"counts": counts, "revenue": revenue, "purchases": purchases, "creators": creators,
            "stages": stages, "temperature": temperature, "actions": actions,
            "flows": flows_section}
