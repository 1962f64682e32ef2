"""The money marts' checks: unique keys, cents that may not be negative, and totals that agree
from staging to the live revenue. A good partition passes every check; a broken one fails the
check that guards it, naming its creator partition and the failing rows. A check that cannot run
says so and is never shown as passed."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from ofhq_pipeline.defs.marts.checks import MART_CHECKS, run_checks
from ofhq_pipeline.lake import quote
from ofhq_pipeline_tests.builders import (
    CREATOR,
    build,
    day,
    fan,
    make_lake,
    message,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.location import definitions_at

AS_OF = day(30.5)  # noon of the day of t4, the day's last purchase before it
RUN = "run1"
TABLES = ["transactions", "fan_profile", "creator_revenue_daily", "creator_revenue_live"]


def inputs(lake) -> None:
    write_sync(
        lake, fetched_at=day(31), fans=[fan(1), fan(2)],
        transactions=[
            txn("t1", 1, 10.0, day(1)),
            txn("t2", 2, 5.0, day(2), kind="tip"),
            txn("t3", 1, 20.0, day(2.5), kind="tip", status="refunded"),
            # a reversal the API sends with a negative amount: allowed outside purchases
            txn("t4r", 2, -3.0, day(3), kind="tip", status="refund"),
            txn("t4", 2, 7.5, day(30.2), kind="tip"),
            txn("t5", 1, 99.0, day(30.9), kind="tip"),  # after as-of
        ],
        messages=[(1, message(1, 1, day(0.5), from_fan=False, price=10)),
                  (1, message(2, 1, day(0.6), from_fan=True))],
    )


@pytest.fixture
def lake(tmp_path):
    lake = make_lake(tmp_path / "home")
    inputs(lake)
    build(lake, AS_OF, run_id=RUN)
    with lake.session(CREATOR, as_of=AS_OF, run_id=RUN) as con:
        lake.write_model(con, "marts/creator_revenue_live", mart(lake, "creator_revenue_live"))
    return lake


def mart(lake, table: str):
    return lake.mart_path(table, CREATOR, RUN)


def checks(lake, table: str) -> dict[str, dg.AssetCheckResult]:
    with lake.session(CREATOR, as_of=AS_OF, run_id=RUN) as con:
        return {r.check_name: r for r in run_checks(lake, con, table, CREATOR, AS_OF,
                                                    mart(lake, table))}


def tamper(lake, table: str, select: str) -> None:
    """Rewrite the run's mart file as `select` over its rows (`m`)."""
    path = mart(lake, table)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE m AS SELECT * FROM read_parquet({quote(path)})")
        con.execute(f"COPY ({select}) TO {quote(path)} (FORMAT parquet)")
    finally:
        con.close()


def values(result: dg.AssetCheckResult) -> dict:
    return {k: getattr(v, "value", v) for k, v in result.metadata.items()}


def test_a_good_partition_passes_every_check(lake):
    for table in TABLES:
        results = checks(lake, table)
        assert set(results) == {c.name for c in MART_CHECKS[table]}
        for name, result in results.items():
            meta = values(result)
            assert result.passed, (table, name, meta)
            assert meta["partition"] == CREATOR and meta["failing_rows"] == 0
            assert "could_not_judge" not in meta


# (table, check, the mart rewritten, failing rows, what the sample must name)
BROKEN = [
    ("transactions", "unique_key",
     "SELECT * FROM m UNION ALL SELECT * FROM m WHERE transaction_id = 't1'", 1, ["t1"]),
    ("transactions", "cents_non_negative",
     "SELECT * REPLACE (CASE WHEN transaction_id = 't2' THEN -1 ELSE net_cents END AS net_cents)"
     " FROM m", 1, ["t2", "net_cents -1"]),
    ("transactions", "matches_staging",
     "SELECT * FROM m WHERE transaction_id <> 't2'", 1, ["t2", "missing from the mart"]),
    ("transactions", "matches_staging",
     "SELECT * REPLACE (CASE WHEN transaction_id = 't1' THEN 1001 ELSE amount_cents END "
     "AS amount_cents) FROM m", 1, ["t1", "1001"]),
    ("fan_profile", "unique_key",
     "SELECT * FROM m UNION ALL SELECT * FROM m WHERE fan_id = 2", 1, ["2 rows for one fan"]),
    ("fan_profile", "cents_non_negative",
     "SELECT * REPLACE (CASE WHEN fan_id = 2 THEN -100 ELSE tips_cents END AS tips_cents) FROM m",
     1, ["tips_cents is -100"]),
    ("fan_profile", "spend_matches_transactions",
     "SELECT * REPLACE (CASE WHEN fan_id = 1 THEN lifetime_spend_cents + 1 "
     "ELSE lifetime_spend_cents END AS lifetime_spend_cents) FROM m", 1, ["1001", "1000"]),
    ("fan_profile", "spend_matches_transactions",
     "SELECT * FROM m WHERE fan_id <> 2", 1, ["purchaser missing from fan_profile"]),
    ("creator_revenue_daily", "unique_key",
     "SELECT * FROM m UNION ALL SELECT * FROM m WHERE day = DATE '2026-10-02'", 1,
     ["2026-10-02"]),
    ("creator_revenue_daily", "cents_non_negative",
     "SELECT * REPLACE (CASE WHEN day = DATE '2026-10-03' THEN -5 ELSE gross_cents END "
     "AS gross_cents) FROM m", 1, ["2026-10-03", "gross_cents is -5"]),
    ("creator_revenue_daily", "matches_transactions",
     "SELECT * REPLACE (CASE WHEN day = DATE '2026-10-02' THEN gross_cents + 100 "
     "ELSE gross_cents END AS gross_cents) FROM m", 1, ["2026-10-02", "gross differ"]),
    # Paying fans are judged beside the day's purchases (one on 2026-10-02), not counted again.
    ("creator_revenue_daily", "matches_transactions",
     "SELECT * REPLACE (CASE WHEN day = DATE '2026-10-02' THEN 2 ELSE paying_fans END "
     "AS paying_fans) FROM m", 1, ["2026-10-02", "paying fans 2 beside 1 purchases"]),
    ("creator_revenue_daily", "matches_transactions",
     "SELECT * REPLACE (CASE WHEN day = DATE '2026-10-02' THEN 0 ELSE paying_fans END "
     "AS paying_fans) FROM m", 1, ["2026-10-02", "paying fans 0 beside 1 purchases"]),
    ("creator_revenue_live", "one_row_today",
     "SELECT * FROM m UNION ALL SELECT * FROM m", 2, ["the day repeated"]),
    ("creator_revenue_live", "one_row_today",
     "SELECT * REPLACE (day - 1 AS day) FROM m", 2,
     ["not the day of as_of", "no row for the day of as_of"]),
    ("creator_revenue_live", "cents_non_negative",
     "SELECT * REPLACE (-1 AS ppv_cents) FROM m", 1, ["ppv_cents is -1"]),
    ("creator_revenue_live", "matches_daily",
     "SELECT * REPLACE (gross_cents + 1 AS gross_cents) FROM m", 1, ["gross_cents is 751 live"]),
]


@pytest.mark.parametrize(("table", "name", "select", "failing", "named"), BROKEN,
                         ids=[f"{t}.{n}.{i}" for i, (t, n, *_) in enumerate(BROKEN)])
def test_a_broken_partition_fails_naming_the_rows(lake, table, name, select, failing, named):
    tamper(lake, table, select)
    result = checks(lake, table)[name]
    meta = values(result)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert meta["partition"] == CREATOR and "could_not_judge" not in meta
    assert meta["failing_rows"] == failing
    for text in named:
        assert text in meta["sample"], (text, meta["sample"])
    assert meta["query"] == f"sql/checks/{table}_{name}.sql"


def test_the_live_mart_of_the_good_partition_has_todays_sales(lake):
    con = duckdb.connect()
    try:
        row = con.execute("SELECT day, gross_cents, purchase_count FROM "
                          f"read_parquet({quote(mart(lake, 'creator_revenue_live'))})").fetchone()
    finally:
        con.close()
    assert row == (AS_OF.date(), 750, 1)  # t4; t5 comes after as-of


def test_a_check_that_cannot_run_says_so_as_a_warning(lake):
    tamper(lake, "transactions", "SELECT * EXCLUDE (fee_cents) FROM m")
    result = checks(lake, "transactions")["cents_non_negative"]
    meta = values(result)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "fee_cents" in meta["could_not_judge"] and meta["partition"] == CREATOR


def test_the_checks_run_with_their_marts_in_a_dagster_run(tmp_path):
    """Through the stage-decay job (staging → marts → publish): every check of the money marts
    and the invariants is evaluated for the run's creator partition, and passes."""
    home = tmp_path / "home"
    inputs(make_lake(home))
    defs = definitions_at(home)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("creators", [CREATOR])
        result = defs.resolve_job_def("stage_decay").execute_in_process(
            instance=instance, partition_key=CREATOR, tags={"ofhq/as_of": AS_OF.isoformat()},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    assert result.success
    evaluations = {(e.asset_key.path[-1], e.check_name): e
                   for e in result.get_asset_check_evaluations()}
    expected = {(table, c.name) for table, checks_ in MART_CHECKS.items() for c in checks_}
    assert expected <= set(evaluations)
    for key in expected:
        evaluation = evaluations[key]
        assert evaluation.passed, (key, evaluation.metadata)
        assert evaluation.partition == CREATOR
        assert evaluation.metadata["partition"].value == CREATOR
