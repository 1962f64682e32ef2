"""One benchmark step per process, so each step's peak memory is its own (see bench.run)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HOME = Path(".bench/home").resolve()
# The money marts: every money & purchases field of the fan profile (intermediate.fan_money), the
# transactions and the daily and live revenue, from the staged tables.
MONEY_MARTS = [["marts", "transactions"], ["intermediate", "fan_money"],
               ["marts", "creator_revenue_daily"], ["marts", "creator_revenue_live"]]
CREATOR_MONEY_COLUMNS = [
    "lifetime_spend_cents", "lifetime_net_cents", "purchase_count", "avg_order_value_cents",
    "biggest_purchase_cents", "first_purchase_at", "last_purchase_at", "last_purchase_type",
    "last_purchase_cents", "tips_cents", "ppv_cents", "subscription_cents", "post_cents",
    "stream_cents", "price_range", "buyer_type", "ppv_sent_count", "ppv_bought_count",
    "conversion_rate", "discount_sensitivity", "chargeback_count", "refund_count", "chargeback_risk",
]


def lake():
    from ofhq_pipeline.lake import Lake
    from ofhq_pipeline.settings import Paths

    return Lake(Paths(home=HOME, warehouse=HOME / "warehouse.duckdb",
                      analysts_marts=HOME / "marts.duckdb"))


def prepare(fans: int, transactions: int, messages: int, creators: int) -> dict:
    import shutil

    from bench.raw_from_agency import write_agency
    from ofhq_pipeline.source.simulator import generate_agency

    shutil.rmtree(HOME, ignore_errors=True)
    start = time.perf_counter()
    agency = generate_agency(seed=11, n_creators=creators, n_fans=fans,
                             n_transactions=transactions, n_messages=messages)
    generated = time.perf_counter() - start
    counts = write_agency(lake(), agency)
    (HOME / "as_of").write_text(agency.end.isoformat())
    return {"generate_s": generated, "raw_s": time.perf_counter() - start - generated, **counts,
            "creators": sorted(agency.accounts["id"].to_list())}


def from_nothing() -> None:
    """Remove the last builds of the incremental models (fan_chat), so that a step
    builds every fan's figures as the hand-written query does, not only those that changed
    since the step before."""
    import shutil

    from ofhq_pipeline import registry

    for model in registry.MODELS:
        if model.incremental:
            shutil.rmtree(lake().root / model.layer / model.table, ignore_errors=True)


def every_mart() -> list[list[str]]:
    """The money and lifecycle models, fan_profile included: a creator's marts run less the
    classifier, vault, chatters, segments and publishing."""
    from ofhq_pipeline import registry

    return [m.path for m in registry.MODELS if m.layer in ("intermediate", "marts")
            and m.domain in ("money", "lifecycle") and m.built_by != "publish_marts"]


def materialize(
    groups: list[str] = (), exclude: list[list[str]] = (), assets: list[list[str]] = ()
) -> tuple[float, dict[str, float]]:
    """Wall seconds of the build (asset groups, or assets by key), and seconds per model (summed
    over creators): the `seconds` a model reports, else its step's time."""
    import os

    import dagster as dg

    os.environ["OFHQ_HOME"] = str(HOME)
    os.environ["OFHQ_AS_OF"] = (HOME / "as_of").read_text()
    from bench.instance import project_instance
    from ofhq_pipeline.definitions import build_definitions

    defs = build_definitions()
    selection = dg.AssetSelection.assets(*assets) if assets else dg.AssetSelection.groups(*groups)
    for key in exclude:
        selection = selection - dg.AssetSelection.assets(key)
    creators = json.loads((HOME / "creators.json").read_text())
    with project_instance() as instance:
        instance.add_dynamic_partitions("creators", creators)
        start = time.perf_counter()  # the build alone, not the test instance's set-up
        for creator_id in creators:
            result = dg.materialize(list(defs.assets), selection=selection, partition_key=creator_id,
                                    instance=instance, resources=defs.resources,
                                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            assert result.success
            (HOME / f"run-{creator_id}").write_text(result.run_id)
        seconds = time.perf_counter() - start
        per_model: dict[str, float] = {}
        for creator_id in creators:
            for key, spent in model_seconds(instance, (HOME / f"run-{creator_id}").read_text()):
                per_model[key] = per_model.get(key, 0.0) + spent
    return seconds, per_model


def model_seconds(instance, run_id: str) -> list[tuple[str, float]]:
    """(model, seconds) of a run: each model's own `seconds` when it reports them (a step may
    build several), else its step's time."""
    import dagster as dg

    found, timed = [], set()
    for record in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        materialization = record.asset_materialization
        seconds = materialization.metadata.get("seconds")
        if seconds is not None:
            found.append(("__".join(materialization.asset_key.path), float(seconds.value)))
            timed.add(record.event_log_entry.step_key)
    found += [(stat.step_key, stat.end_time - stat.start_time)
              for stat in instance.get_run_step_stats(run_id) if stat.step_key not in timed]
    return found


def hand() -> dict:
    import duckdb

    store = lake()
    con = duckdb.connect(config={"threads": store.threads, "memory_limit": store.memory_limit})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET VARIABLE as_of = CAST(? AS TIMESTAMPTZ)", [(HOME / "as_of").read_text()])
    for var, table in [("transactions", "transactions"), ("messages", "messages"),
                       ("periods", "subscription_periods"), ("fans", "fans"), ("chats", "chats")]:
        con.execute(f"SET VARIABLE {var} = ?", [str(HOME / "lake" / "staging" / table / "*.parquet")])
    query = (Path(__file__).parent / "sql" / "hand_written_money.sql").read_text()
    out = HOME / "hand_written_money.parquet"
    start = time.perf_counter()
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return {"seconds": time.perf_counter() - start}


def hand_staging() -> dict:
    """The hand-written staging script over the same raw files the staging step read."""
    import duckdb

    store = lake()
    con = duckdb.connect(config={"threads": store.threads, "memory_limit": store.memory_limit})
    con.execute("SET TimeZone = 'UTC'")
    for table in ("fans", "transactions", "messages", "chats"):
        con.execute(f"SET VARIABLE raw_{table} = ?",
                    [str(HOME / "lake" / "raw" / table / "*" / "*.parquet")])
    script = (Path(__file__).parent / "sql" / "hand_written_staging.sql").read_text()
    os.chdir(HOME)  # the script writes its files beside the lake
    start = time.perf_counter()
    con.execute(script)
    return {"seconds": time.perf_counter() - start}


def compare() -> dict:
    import duckdb

    store = lake()
    creators = json.loads((HOME / "creators.json").read_text())
    ours = [str(store.mart_path("fan_profile", c, (HOME / f"run-{c}").read_text())) for c in creators]
    cols = ", ".join(CREATOR_MONEY_COLUMNS)
    con = duckdb.connect()
    differing = con.execute(
        f"SELECT count(*) FROM ((SELECT creator_id, fan_id, {cols} FROM read_parquet({ours!r}) "
        f"EXCEPT SELECT creator_id, fan_id, {cols} FROM read_parquet('{HOME / 'hand_written_money.parquet'}')) "
        f"UNION ALL (SELECT creator_id, fan_id, {cols} FROM read_parquet('{HOME / 'hand_written_money.parquet'}') "
        f"EXCEPT SELECT creator_id, fan_id, {cols} FROM read_parquet({ours!r})))"
    ).fetchone()[0]
    fans = con.execute(f"SELECT count(*) FROM read_parquet({ours!r})").fetchone()[0]
    return {"differing_rows": differing, "fans": fans}


def main() -> None:
    step = sys.argv[1]
    if step == "prepare":
        fans, transactions, messages, creators = (int(float(a)) for a in sys.argv[2:6])
        result = prepare(fans, transactions, messages, creators)
        (HOME / "creators.json").write_text(json.dumps(result.pop("creators")))
    elif step == "staging":
        seconds, per_step = materialize(["staging"])
        result = {"seconds": seconds, "steps": per_step}
    elif step == "money":
        from_nothing()
        seconds, per_step = materialize(assets=MONEY_MARTS)
        result = {"seconds": seconds, "steps": per_step}
    elif step == "marts":
        from_nothing()
        seconds, per_step = materialize(assets=every_mart())
        result = {"seconds": seconds, "steps": per_step}
    elif step == "publish":
        from ofhq_pipeline.warehouse.publish import publish

        store = lake()
        creators = json.loads((HOME / "creators.json").read_text())
        start = time.perf_counter()
        for creator_id in creators:
            store.commit_marts(creator_id, (HOME / f"run-{creator_id}").read_text())
        counts = publish(store)
        result = {"seconds": time.perf_counter() - start, "fan_profile": counts["marts.fan_profile"]}
    elif step == "hand":
        result = hand()
    elif step == "hand_staging":
        result = hand_staging()
    elif step == "compare":
        result = compare()
    else:
        raise SystemExit(f"unknown step {step}")
    print("RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
