"""Vault intelligence per creator: what each fan has of the vault, the vault with its figures
and tags, and what to offer each fan next.

    staging/messages + marts/transactions ──► marts/fan_asset_status ──► marts/vault_media
    marts/vault_media ──► marts/vault_tags + marts/vault_taggings (rules; vision with a key)
    fan_profile + fan_preferences + vault_tags + fan_asset_status ──► marts/fan_recommendations

Every table is written into the run's mart folder, so `publish_marts` makes it current with the
run's other marts. The SQL models are built by the marts' layer steps (defs/marts/assets.py):
status and media with the money marts, the recommendations with fan_profile; the tagger, which
may call a vision model, is a step of its own between them.
"""

import time

import dagster as dg
import duckdb
from pydantic import Field

from ofhq_pipeline.defs.models import ModelOptions, Step, asset_key, spec, write_sql
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.lake import quote
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.resources.vault_tagger import VaultTaggerResource
from ofhq_pipeline.vault.models import MatchingConfig
from ofhq_pipeline.vault.tags import tag_creator

VAULT_TAGS = asset_key("marts/vault_tags")
VAULT_TAGGINGS = asset_key("marts/vault_taggings")
FAN_RECOMMENDATIONS = "marts/fan_recommendations"


def query(con: duckdb.DuckDBPyConnection, path, sql: str) -> list[tuple]:
    """`sql` with `{path}` read as the Parquet file just written, in the step's session."""
    return con.execute(sql.replace("{path}", f"read_parquet({quote(path)})")).fetchall()


def write_fan_asset_status(step: Step, con: duckdb.DuckDBPyConnection, key: str):
    """The statuses, and how many PPV purchases were matched to the offer they unlocked."""
    rows, _ = write_sql(step, con, key)
    (purchases,) = con.execute(
        "SELECT count(*) FROM marts.transactions WHERE is_purchase AND type = 'message'"
    ).fetchone()
    (matched,) = query(con, step.path, "SELECT count(DISTINCT t) FROM (SELECT "
                                       "unnest(bought_transaction_ids) AS t FROM {path})")[0]
    statuses = dict(query(con, step.path,
                          "SELECT status, count(*) FROM {path} GROUP BY 1 ORDER BY 1"))
    return rows, {
        "statuses": dg.MetadataValue.json(statuses),
        "ppv_purchases": int(purchases),
        "ppv_purchases_matched_to_an_offer": int(matched),
        "ppv_purchases_unmatched": int(purchases) - int(matched),
    }


def write_vault_media(step: Step, con: duckdb.DuckDBPyConnection, key: str):
    """The vault, with its media types and how many items carry an image."""
    rows, _ = write_sql(step, con, key)
    types = dict(query(con, step.path,
                       "SELECT media_type, count(*) FROM {path} GROUP BY 1 ORDER BY 1"))
    (with_image,) = query(con, step.path, "SELECT count(image_url) FROM {path}")[0]
    return rows, {
        "types": dg.MetadataValue.json({str(k): v for k, v in types.items()}),
        "items_with_image": int(with_image),
    }


@dg.multi_asset(
    specs=[spec("marts/vault_tags", kinds={"openai", "parquet"}),
           spec("marts/vault_taggings", kinds={"openai", "parquet"})],
    partitions_def=creator_partitions,
    name="vault_tagging",
)
def vault_tagging(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    vault_tagger: VaultTaggerResource,
):
    started = time.perf_counter()
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    tagger = vault_tagger.tagger()
    try:
        report = tag_creator(store, creator_id, tagger, as_of=as_of, run_id=context.run_id,
                             max_failed_attempts=vault_tagger.max_failed_attempts)
    finally:
        if tagger is not None:
            tagger.close()
    context.log.info(
        f"{creator_id}: {report.items} items; rules: {report.rules_tagged} tagged, "
        f"{report.rules_unchanged} unchanged; vision ({report.metadata()['vision_model']}): "
        f"{report.vision_ok} ok, {report.vision_failed} failed, {report.vision_unchanged} "
        f"unchanged, {report.no_image} without an image; ${report.cost_usd:.4f}"
    )
    if report.stop_reason:
        context.log.warning(f"{creator_id}: vision stopped: {report.stop_reason}")
    tags_path = store.mart_path("vault_tags", creator_id, context.run_id)
    with duckdb.connect() as con:
        top = query(con, tags_path, "SELECT tag, count(*) FROM {path} GROUP BY 1 "
                                    "ORDER BY 2 DESC, 1 LIMIT 20")
    yield dg.MaterializeResult(asset_key=VAULT_TAGS, metadata={
        "dagster/row_count": report.mart_rows.get("vault_tags", 0),
        "top_tags": dg.MetadataValue.json(dict(top)),
        **report.metadata(),
        "path": dg.MetadataValue.path(str(tags_path)),
        "seconds": round(time.perf_counter() - started, 3),  # the step's, both tables
    })
    yield dg.MaterializeResult(asset_key=VAULT_TAGGINGS, metadata={
        "dagster/row_count": report.mart_rows.get("vault_taggings", 0),
        "path": dg.MetadataValue.path(
            str(store.mart_path("vault_taggings", creator_id, context.run_id))),
    })


class RecommendationsConfig(dg.Config):
    top_k: int = Field(default=5, description="items recommended per fan")
    exclude_offered_days: int = Field(
        default=30, description="leave out items offered to the fan in this many days"
    )
    new_item_days: int = Field(
        default=30, description="an item this new fits a fan whose best offer is limited_drop"
    )


def matching(step: Step) -> MatchingConfig:
    config = step.config or RecommendationsConfig()  # its section of the step's run config
    return MatchingConfig(config.top_k, config.exclude_offered_days, config.new_item_days)


def prepare_recommendations(step: Step, con: duckdb.DuckDBPyConnection) -> None:
    matching(step).set_variables(con)


def write_recommendations(step: Step, con: duckdb.DuckDBPyConnection, key: str):
    """What each fan should be offered, with the top offers' figures and the settings used."""
    rows, _ = write_sql(step, con, key)
    fans, mean_score, mean_price = query(
        con, step.path, "SELECT count(DISTINCT fan_id), round(avg(score), 2), "
        "CAST(round(avg(suggested_price_cents)) AS BIGINT) FROM {path} WHERE rank = 1")[0]
    basis = dict(query(con, step.path, "SELECT price_basis, count(*) FROM {path} "
                                       "WHERE rank = 1 GROUP BY 1 ORDER BY 1"))
    settings = matching(step)
    return rows, {
        "fans_with_recommendations": int(fans),
        "mean_top_score": mean_score,
        "mean_top_suggested_price_cents": mean_price,
        "price_basis": dg.MetadataValue.json(basis),
        "top_k": settings.top_k,
        "exclude_offered_days": settings.exclude_offered_days,
    }


vault_models = {
    "marts/fan_asset_status": ModelOptions(write=write_fan_asset_status),
    "marts/vault_media": ModelOptions(write=write_vault_media),
    FAN_RECOMMENDATIONS: ModelOptions(prepare=prepare_recommendations,
                                      write=write_recommendations, config=RecommendationsConfig),
}
# The vault's SQL models are assets of the marts' layer steps; the tagger is its own step.
vault_assets = [vault_tagging]
