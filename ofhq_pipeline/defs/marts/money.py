"""How the money marts and the fan profile are built: each its SQL model (sql/marts/<table>.sql,
sql/intermediate/fan_money.sql), the marts with their checks (`checks.MART_CHECKS`), run in the
same step and session on the file just written.
"""

import os
from collections.abc import Callable, Iterator

import dagster as dg
import duckdb

from ofhq_pipeline.defs.marts.checks import UNIQUE_KEY, check_specs, run_checks
from ofhq_pipeline.defs.models import ModelOptions, Step, Writer, asset_key, write_sql
from ofhq_pipeline.lake import atomic_write, link_or_copy, parquet_rows, quote
from ofhq_pipeline.staging import verdicts

# The checks of a mart that hold by how its step made the file: check name → why.
ByConstruction = Callable[[Step], dict[str, str]]


def checked(key: str, write: Writer = write_sql,
            by_construction: ByConstruction | None = None) -> ModelOptions:
    """A mart whose checks (sql/checks/<table>_<check>.sql) run on the file just written;
    `by_construction` names those that hold by how this run made the file."""
    table = key.split("/", 1)[1]

    def checks(step: Step, con: duckdb.DuckDBPyConnection) -> Iterator[dg.AssetCheckResult]:
        yield from run_checks(step.store, con, table, step.creator_id, step.as_of, step.path,
                              by_construction=by_construction(step) if by_construction else None)

    return ModelOptions(write=write, checks=checks,
                        check_specs=check_specs(table, asset_key(key)))


def link_or_write_transactions(
    step: Step, con: duckdb.DuckDBPyConnection, key: str
) -> tuple[int, dict]:
    """When nothing staged lies after as_of(), the mart is the staged file as it is: a hard link
    instead of rewriting every transaction. Otherwise (or while changes are merged beside the
    staged file) the model filters it to as_of()."""
    staged = step.store.staging_path("transactions", step.creator_id)
    changes = step.store.staging_changes_path("transactions", step.creator_id)
    merged = changes.exists() and parquet_rows(con, changes) > 0
    if staged.exists() and not merged and staged_before(con, staged):
        atomic_write(step.path, lambda tmp: link_or_copy(staged, tmp))
        return parquet_rows(con, step.path), {"linked_to_staging": True}
    return step.store.write_model(con, key, step.path), {"linked_to_staging": False}


def linked_transactions(step: Step) -> dict[str, str]:
    """A mart that is the staged file itself (a hard link: nothing staged lies after as-of) is
    staging.transactions as of as-of by identity, so matches_staging need not compare 10M rows
    with themselves; and when staging's schema check (transaction_id unique) passed on this very
    file, judged whole, neither need unique_key count them again."""
    staged = step.store.staging_path("transactions", step.creator_id)
    if not (staged.exists() and os.path.samefile(step.path, staged)):
        return {}
    held = {"matches_staging": "the mart is the staged file itself (a hard link), and no "
            "staged transaction or chargeback lies after as-of"}
    if verdicts.passed_whole(step.store, "transactions", step.creator_id, staged):
        held[UNIQUE_KEY] = ("the mart is the staged file itself, on which staging's schema "
                            "check (transaction_id unique) passed, judging it whole")
    return held


def staged_before(con: duckdb.DuckDBPyConnection, staged) -> bool:
    """Whether every staged transaction and chargeback happened at or before as_of()."""
    (before,) = con.execute(
        f"SELECT coalesce(max(greatest(created_at, chargeback_at)) <= as_of(), true) "
        f"FROM read_parquet({quote(staged)})"
    ).fetchone()
    return before


# The models without options here are built by their SQL alone (the layer steps' default).
money_models = {
    "marts/transactions": checked("marts/transactions", write=link_or_write_transactions,
                                  by_construction=linked_transactions),
    "marts/fan_profile": checked("marts/fan_profile"),
    "marts/creator_revenue_daily": checked("marts/creator_revenue_daily"),
    "marts/creator_revenue_live": checked("marts/creator_revenue_live"),
}
