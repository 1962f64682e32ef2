"""How the money marts and the fan profile are built: each its SQL model (sql/marts/<table>.sql,
sql/intermediate/fan_money.sql), the marts with their checks (`checks.MART_CHECKS`), run in the
same step and session on the file just written.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb

from ofhq_pipeline.defs.marts.checks import UNIQUE_KEY, check_specs, run_checks
from ofhq_pipeline.defs.models import ModelOptions, Step, Writer, asset_key, write_sql
from ofhq_pipeline.lake import atomic_write, link_or_copy, mart_files, parquet_rows, quote
from ofhq_pipeline.staging import verdicts
from ofhq_pipeline.staging.merge import replaces_base

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


# The part of marts.transactions holding the transactions staged since the staged file was last
# written (`lake.mart_files`), beside that file linked.
ADDED_PART = "added"


def link_or_write_transactions(
    step: Step, con: duckdb.DuckDBPyConnection, key: str
) -> tuple[int, dict]:
    """When nothing staged lies after as_of(), the mart is the staged table as it is: its base
    file linked instead of rewriting every transaction, and the transactions merged since (its
    changes) as a part beside it while they only add transactions. Otherwise (a change that
    replaces or removes a transaction of the base) the model filters the table to as_of()."""
    staged = step.store.staging_path("transactions", step.creator_id)
    changes = step.store.staging_changes_path("transactions", step.creator_id)
    added = step.path.with_name(f"{step.path.stem}.{ADDED_PART}.parquet")
    added.unlink(missing_ok=True)  # a retry of the step in the same run starts over
    if staged.exists() and staged_before(con, staged, changes):
        has_changes = changes.exists() and parquet_rows(con, changes) > 0
        if not has_changes or not replaces_base(con, "transaction_id",
                                                f"read_parquet({quote(staged)})",
                                                f"read_parquet({quote(changes)})"):
            atomic_write(step.path, lambda tmp: link_or_copy(staged, tmp))
            if has_changes:
                atomic_write(added, lambda tmp: con.execute(
                    f"COPY (SELECT * EXCLUDE (_replaced, _removed) FROM read_parquet({quote(changes)})) "
                    f"TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)"))
            rows = sum(parquet_rows(con, path) for path in mart_files(step.path))
            return rows, {"linked_to_staging": True, "added_rows": rows - parquet_rows(con, staged)}
    return step.store.write_model(con, key, step.path), {"linked_to_staging": False}


def linked_transactions(step: Step) -> dict[str, str]:
    """A mart that is the staged table itself (its base file linked, its changes added beside
    it: nothing staged lies after as-of) is staging.transactions as of as-of by identity, so
    matches_staging need not compare 10M rows with themselves; and when staging's schema check
    (transaction_id unique) passed on these very files, the base judged whole, neither need
    unique_key count them again: the changes only add transactions the base does not hold."""
    store, creator_id = step.store, step.creator_id
    staged = store.staging_path("transactions", creator_id)
    if not (staged.exists() and os.path.samefile(step.path, staged)):
        return {}
    held = {"matches_staging": "the mart is the staged table itself (its file a hard link, the "
            "transactions merged since added beside it), and no staged transaction or "
            "chargeback lies after as-of"}
    parts = mart_files(step.path)
    changes_passed = len(parts) == 1 or verdicts.judged(
        store, "transactions", creator_id, "changes") is True
    if verdicts.passed_whole(store, "transactions", creator_id, staged) and changes_passed:
        held[UNIQUE_KEY] = ("the mart is the staged table itself, on whose files staging's "
                            "schema check (transaction_id unique) passed, the base judged whole; "
                            "its changes add only transactions the base does not hold")
    return held


def staged_before(con: duckdb.DuckDBPyConnection, staged: Path, changes: Path) -> bool:
    """Whether every staged transaction and chargeback happened at or before as_of(): read in
    the base file and the changes as they lie, without applying one to the other (a base row
    the changes replace can only say no, and the mart is then written, never wrong)."""
    rows = [f"SELECT created_at, chargeback_at FROM read_parquet({quote(staged)})"]
    if changes.exists():
        rows.append(f"SELECT created_at, chargeback_at FROM read_parquet({quote(changes)}) "
                    "WHERE NOT _removed")
    (before,) = con.execute(
        "SELECT coalesce(max(greatest(created_at, chargeback_at)) <= as_of(), true) "
        f"FROM ({' UNION ALL '.join(rows)})"
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
