"""Checks of the marts, computed with them in the same step and session, on the file the run
just wrote: one SQL query a check (sql/checks/<table>_<check>.sql) returning one row per failing
row, so no row is a pass. A result names its creator partition, counts the failing rows and
shows a sample of them; a check whose query could not run says so (`could_not_judge`, a WARN
failure), never a pass. None blocks: the marts are published with their verdicts beside them.
"""

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.lake import Lake, file_list, mart_files, sql_text
from ofhq_pipeline.marts.invariants import (
    CHECK_FANS_PER_RULE,
    RULES,
    attach_agency_rollup,
)

SAMPLE_ROWS = 50  # failing rows shown in a check's metadata (the count is always whole)

# Sets up what a check's query reads beyond the session: (store, session, creator, mart file).
CheckSetup = Callable[[Lake, duckdb.DuckDBPyConnection, str, Path], None]


@dataclass(frozen=True)
class MartCheck:
    """A check of a mart, computed with it: sql/checks/<table>_<name>.sql returns one row per
    failing row. `by_rule`: the rows carry a `rule` column, and the metadata lists failing fans
    per rule."""

    name: str
    description: str
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    setup: CheckSetup | None = None
    by_rule: bool = False

    def model(self, table: str) -> str:
        return f"checks/{table}_{self.name}"


UNIQUE_KEY = "unique_key"
CENTS_NON_NEGATIVE = "cents_non_negative"
INVARIANTS = "invariants"

MART_CHECKS: dict[str, list[MartCheck]] = {
    "transactions": [
        MartCheck(UNIQUE_KEY, "One row per transaction id."),
        MartCheck(CENTS_NON_NEGATIVE, "A purchase has a positive amount and no negative net, "
                  "fee or VAT (refunds and chargebacks may carry negative amounts: not judged)."),
        MartCheck("matches_staging", "Exactly the staged transactions created at or before "
                  "as-of, with the staged amounts."),
    ],
    "fan_profile": [
        MartCheck(UNIQUE_KEY, "One row per (creator_id, fan_id)."),
        MartCheck(CENTS_NON_NEGATIVE, "No money column (spend, net, AOV, biggest and last "
                  "purchase, spend by type) is negative."),
        MartCheck("spend_matches_transactions", "Each fan's lifetime spend, net and purchase "
                  "count are his purchases in marts.transactions, so the creator's totals agree."),
        MartCheck(INVARIANTS, "Cross-field rules no fan may break: "
                  + "; ".join(f"{rule}: {text}" for rule, text in RULES.items())
                  + " (sql/checks/fan_profile_invariants.sql).",
                  severity=dg.AssetCheckSeverity.WARN, setup=attach_agency_rollup, by_rule=True),
    ],
    "creator_revenue_daily": [
        MartCheck(UNIQUE_KEY, "One row per (creator_id, day)."),
        MartCheck(CENTS_NON_NEGATIVE, "Gross, net and spend by type are never negative "
                  "(refunded_cents and chargeback_cents may be: not judged)."),
        MartCheck("matches_transactions", "Every day's gross, net, purchases, refunds and "
                  "chargebacks are that UTC day of marts.transactions, and its paying fans are "
                  "possible beside its purchases (at least one, at most one per purchase)."),
    ],
    "creator_revenue_live": [
        MartCheck("one_row_today", "One row: the creator, on the UTC day of as-of."),
        MartCheck(CENTS_NON_NEGATIVE, "Gross, net, tips and PPV are never negative."),
        MartCheck("matches_daily", "Today's figures are today's row of creator_revenue_daily "
                  "(zeros before the day's first purchase)."),
    ],
}


def creator_check_spec(name: str, key: dg.AssetKey, description: str) -> dg.AssetCheckSpec:
    """A non-blocking check partitioned by creator, like the assets it checks."""
    # Partitioned checks are a preview feature of dagster 1.13, used on purpose: each evaluation
    # is then recorded against its creator partition, as the asset's materialization is.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=key, description=description, blocking=False,
                                 partitions_def=creator_partitions)


def check_specs(table: str, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [creator_check_spec(c.name, key, c.description) for c in MART_CHECKS.get(table, [])]


def run_checks(
    store: Lake, con: duckdb.DuckDBPyConnection, table: str, creator_id: str, as_of: datetime,
    path: Path, *, by_construction: Mapping[str, str] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Every check of `table` on `path`, the mart file this run just wrote (with its parts). A
    check named in `by_construction` holds by how this file was made (the reason given): it
    passes, saying so, without its query reading every row again."""
    con.execute(f"CREATE OR REPLACE VIEW marts.{table} AS "
                f"SELECT * FROM read_parquet({file_list(mart_files(path))})")
    for check in MART_CHECKS.get(table, []):
        reason = (by_construction or {}).get(check.name)
        if reason is not None:
            yield dg.AssetCheckResult(check_name=check.name, passed=True, metadata={
                "partition": creator_id, "as_of": as_of.isoformat(), "failing_rows": 0,
                "verified_by": reason})
        else:
            yield evaluate(store, con, table, check, creator_id, as_of, path)


def evaluate(
    store: Lake, con: duckdb.DuckDBPyConnection, table: str, check: MartCheck, creator_id: str,
    as_of: datetime, path: Path,
) -> dg.AssetCheckResult:
    model = check.model(table)
    metadata: dict = {"partition": creator_id, "as_of": as_of.isoformat(),
                      "query": f"sql/{model}.sql"}
    try:
        if check.setup is not None:
            check.setup(store, con, creator_id, path)
        con.execute(f"CREATE OR REPLACE TEMP TABLE check_failures AS {sql_text(model)}")
    except duckdb.Error as exc:
        return could_not_judge(check.name, metadata, f"its query failed: {exc}")
    (failing,) = con.execute("SELECT count(*) FROM check_failures").fetchone()
    metadata["failing_rows"] = failing
    if failing:
        metadata["sample"] = dg.MetadataValue.md(failure_sample(con, check.by_rule))
    if check.by_rule:
        metadata.update(rule_metadata(con))
    return dg.AssetCheckResult(
        check_name=check.name, passed=failing == 0, severity=check.severity, metadata=metadata,
        description=None if failing == 0 else f"{failing} failing rows in {creator_id}",
    )


def could_not_judge(check_name: str, metadata: dict, reason: str) -> dg.AssetCheckResult:
    """A check that could not judge fails as a warning, saying why: it is never shown as passed."""
    return dg.AssetCheckResult(
        check_name=check_name, passed=False, severity=dg.AssetCheckSeverity.WARN,
        metadata={**metadata, "could_not_judge": reason},
        description=f"could not judge: {reason}",
    )


def failure_sample(con: duckdb.DuckDBPyConnection, by_rule: bool) -> str:
    """The first SAMPLE_ROWS failing rows as a Markdown table; by rule, the rules take turns."""
    order = ("row_number() OVER (PARTITION BY rule ORDER BY creator_id, fan_id), rule"
             if by_rule else "ALL")
    cursor = con.execute(
        f"SELECT * FROM check_failures ORDER BY {order} LIMIT {SAMPLE_ROWS}"
    )
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).replace("|", "\\|")


def rule_metadata(con: duckdb.DuckDBPyConnection) -> dict:
    """Violations per rule (every rule, 0 included) and the failing fans of each (capped)."""
    rows = con.execute(
        f"SELECT rule, count(*), list(fan_id ORDER BY fan_id)[1:{CHECK_FANS_PER_RULE}] "
        "FROM check_failures GROUP BY rule"
    ).fetchall()
    counts = dict.fromkeys(RULES, 0) | {rule: n for rule, n, _ in rows}
    return {
        "violations_by_rule": dg.MetadataValue.json(counts),
        "failing_fan_ids": dg.MetadataValue.json({rule: fans for rule, _, fans in rows}),
    }


