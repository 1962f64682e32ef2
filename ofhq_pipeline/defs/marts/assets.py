"""Mart assets per creator: one SQL model each (sql/marts/<table>.sql, sql/intermediate/...).

A run writes its marts into a folder of its own; `publish` makes them current together, so
neither analysts nor the next run ever see some of a run's marts without the others.

Each mart's checks (`MART_CHECKS`) are computed with it, in the same step and session, on the
file the run just wrote: one SQL query a check (sql/checks/<table>_<check>.sql) returning one row
per failing row, so no row is a pass. A result names its creator partition, counts the failing
rows and shows a sample of them; a check whose query could not run says so (`could_not_judge`,
a WARN failure), never a pass. None blocks: the marts are published with their verdicts beside
them.
"""


import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.defs.marts.invariants import (
    CHECK_FANS_PER_RULE,
    RULES,
    attach_agency_rollup,
)
from ofhq_pipeline.lifecycle.dictionary import TABLES, describe, table_schema
from ofhq_pipeline.resources.lake import (
    Lake,
    LakeResource,
    atomic_write,
    link_or_copy,
    parquet_rows,
    quote,
    sql_text,
)
from ofhq_pipeline.resources.sync_settings import SyncSettings


def column_schema(con: duckdb.DuckDBPyConnection, path) -> dg.TableSchema:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote(path)})").fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype, *_ in rows])


# How a mart's file is written: (store, session, creator, model, path) → (rows, extra metadata).
MartWriter = Callable[[Lake, duckdb.DuckDBPyConnection, str, str, Path], tuple[int, dict]]


def write_sql_model(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, model: str, path: Path
) -> tuple[int, dict]:
    """The usual way a model is built: its SELECT run into the file (rows, extra metadata)."""
    return store.write_model(con, model, path), {}


# ---- checks ---------------------------------------------------------------------------------
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
        MartCheck("matches_transactions", "Every day's gross, net, purchases, paying fans, "
                  "refunds and chargebacks are that UTC day of marts.transactions."),
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
    path: Path,
) -> Iterator[dg.AssetCheckResult]:
    """Every check of `table` on `path`, the mart file this run just wrote."""
    con.execute(
        f"CREATE OR REPLACE VIEW marts.{table} AS SELECT * FROM read_parquet({quote(path)})"
    )
    for check in MART_CHECKS.get(table, []):
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


# ---- assets ---------------------------------------------------------------------------------
def mart_asset(
    table: str,
    deps: list[dg.AssetKey],
    description: str,
    *,
    layer: str = "marts",
    write: MartWriter = write_sql_model,
) -> dg.AssetsDefinition:
    key = dg.AssetKey([layer, table])
    checks = check_specs(table, key) if layer == "marts" else []

    @dg.asset(
        key=key,
        deps=deps,
        group_name="marts" if layer == "marts" else "fan_aggregates",
        partitions_def=creator_partitions,
        kinds={"duckdb", "parquet"},
        description=description,
        metadata={"dagster/column_schema": table_schema(table)} if table in TABLES else None,
        check_specs=checks,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings):
        store = lake.lake()
        creator_id = context.partition_key
        as_of = sync.resolve_as_of(context)
        path = output_path(store, layer, table, creator_id, context.run_id)
        with store.session(creator_id, as_of=as_of, run_id=context.run_id) as con:
            rows, extra = write(store, con, creator_id, f"{layer}/{table}", path)
            schema = describe(column_schema(con, path), table)
            yield dg.MaterializeResult(
                metadata={
                    "dagster/row_count": rows,
                    "dagster/column_schema": schema,
                    "as_of": as_of.isoformat(),
                    "path": str(path),
                    **extra,
                }
            )
            if checks:
                yield from run_checks(store, con, table, creator_id, as_of, path)

    _asset.__name__ = f"{layer}_{table}"
    return _asset


def output_path(store: Lake, layer: str, table: str, creator_id: str, run_id: str):
    if layer == "marts":
        return store.mart_path(table, creator_id, run_id)
    return store.staging_path(table, creator_id, layer=layer)


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def link_or_write_transactions(
    store: Lake, con: duckdb.DuckDBPyConnection, creator_id: str, model: str, path: Path
) -> tuple[int, dict]:
    """When nothing staged lies after as_of(), the mart is the staged file as it is: a hard link
    instead of rewriting every transaction. Otherwise the model filters it to as_of()."""
    staged = store.staging_path("transactions", creator_id)
    if staged.exists() and staged_before(con, staged):
        atomic_write(path, lambda tmp: link_or_copy(staged, tmp))
        return parquet_rows(con, path), {"linked_to_staging": True}
    return store.write_model(con, model, path), {"linked_to_staging": False}


def staged_before(con: duckdb.DuckDBPyConnection, staged: Path) -> bool:
    """Whether every staged transaction and chargeback happened at or before as_of()."""
    (before,) = con.execute(
        f"SELECT coalesce(max(greatest(created_at, chargeback_at)) <= as_of(), true) "
        f"FROM read_parquet({quote(staged)})"
    ).fetchone()
    return before


marts_transactions = mart_asset(
    "transactions",
    [key("staging", "transactions")],
    "The money truth: every transaction created at or before as-of, with its status as of then "
    "and whether it is a purchase (succeeded, amount > 0).",
    write=link_or_write_transactions,
)
fan_money = mart_asset(
    "fan_money",
    [
        key("marts", "transactions"),
        key("staging", "messages"),
        key("staging", "subscription_periods"),
    ],
    "Per fan: every money & purchases field of the fan profile (spend, purchases, spend by type, "
    "price range, buyer type, PPV conversion, discount sensitivity, refunds and chargebacks).",
    layer="intermediate",
)
fan_profile = mart_asset(
    "fan_profile",
    [
        key("intermediate", "fan_money"),
        key("staging", "fans"),
        key("staging", "chats"),
        key("intermediate", "fan_engagement"),
        key("intermediate", "fan_stage"),
        key("intermediate", "fan_personality"),
        key("marts", "fan_lifecycle_events"),
    ],
    "One row per fan: every field of the fan profile (money, subscription, engagement, stage, "
    "next best action, personality and intent), computed as of the run's as-of instant.",
)
creator_revenue_daily = mart_asset(
    "creator_revenue_daily",
    [key("marts", "transactions")],
    "Per creator and UTC day: gross and net purchases, paying fans, spend by type, refunds and "
    "chargebacks.",
)
creators = mart_asset(
    "creators",
    [key("raw", "accounts"), key("marts", "fan_profile")],
    "One row per creator: account, fans, active subscribers, paying fans, whales, revenue.",
)

creator_revenue_live = mart_asset(
    "creator_revenue_live",
    [key("marts", "creator_revenue_daily")],
    "Today's revenue of the creator (UTC day of as-of): refreshed by every real-time run.",
)

mart_assets = [
    marts_transactions,
    fan_money,
    fan_profile,
    creator_revenue_daily,
    creator_revenue_live,
    creators,
]
