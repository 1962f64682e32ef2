"""Vault intelligence per creator (group `vault`): what each fan has of the vault, the vault with
its figures and tags, and what to offer each fan next.

    staging/messages + marts/transactions ──► marts/fan_asset_status ──► marts/vault_media
    marts/vault_media ──► marts/vault_tags + marts/vault_taggings (rules; vision with a key)
    fan_profile + fan_preferences + vault_tags + fan_asset_status ──► marts/fan_recommendations

Every table is written into the run's mart folder, so `publish_marts` makes it current with the
run's other marts (it must list these keys among its deps to run after them).
"""

import dagster as dg
import duckdb
from pydantic import Field

from ofhq_pipeline.defs.creators.partitions import creator_partitions
from ofhq_pipeline.defs.marts.assets import column_schema
from ofhq_pipeline.resources.lake import LakeResource, quote
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.vault import models
from ofhq_pipeline.vault.resource import VaultTaggerResource
from ofhq_pipeline.vault.tags import tag_creator


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


FAN_ASSET_STATUS = key("marts", "fan_asset_status")
VAULT_MEDIA = key("marts", "vault_media")
VAULT_TAGS = key("marts", "vault_tags")
VAULT_TAGGINGS = key("marts", "vault_taggings")
FAN_RECOMMENDATIONS = key("marts", "fan_recommendations")


def query(path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql.replace("{path}", f"read_parquet({quote(path)})")).fetchall()
    finally:
        con.close()


def schema_of(path) -> dg.TableSchema:
    con = duckdb.connect()
    try:
        return column_schema(con, path)
    finally:
        con.close()


@dg.asset(
    key=FAN_ASSET_STATUS,
    deps=[key("staging", "messages"), key("marts", "transactions"), key("staging", "vault_media")],
    group_name="vault",
    partitions_def=creator_partitions,
    kinds={"duckdb", "parquet"},
    description="\"Has he bought this?\": one row per fan and vault item sent to him, with status "
    "bought / sent_free / offered_unbought (never_sent: no row). A PPV purchase unlocks the "
    "items of the most recent open offer to that fan at or before it with the same price.",
)
def fan_asset_status(
    context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    creator_id = context.partition_key
    as_of = sync.resolve_as_of(context)
    path, rows = models.build(store, "fan_asset_status", creator_id, as_of=as_of,
                              run_id=context.run_id)
    with store.session(creator_id, as_of=as_of, run_id=context.run_id) as con:
        (purchases,) = con.execute(
            "SELECT count(*) FROM marts.transactions WHERE is_purchase AND type = 'message'"
        ).fetchone()
    (matched,) = query(path, "SELECT count(DISTINCT t) FROM (SELECT unnest(bought_transaction_ids)"
                             " AS t FROM {path})")[0]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": schema_of(path),
        "statuses": dg.MetadataValue.json(models.status_counts(path)),
        "ppv_purchases": int(purchases),
        "ppv_purchases_matched_to_an_offer": int(matched),
        "ppv_purchases_unmatched": int(purchases) - int(matched),
        "as_of": as_of.isoformat(),
        "path": str(path),
    })


@dg.asset(
    key=VAULT_MEDIA,
    deps=[key("staging", "vault_media"), key("raw", "vault_media"), key("staging", "messages"),
          FAN_ASSET_STATUS],
    group_name="vault",
    partitions_def=creator_partitions,
    kinds={"duckdb", "parquet"},
    description="The creator's vault: type, duration, likes, tips, an image URL when the API "
    "sends one, how often each item was offered (prices, bundles) or sent free, its buyers, "
    "and a popularity score (0-1).",
)
def vault_media(
    context: dg.AssetExecutionContext, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    as_of = sync.resolve_as_of(context)
    path, rows = models.build(store, "vault_media", context.partition_key, as_of=as_of,
                              run_id=context.run_id)
    types = dict(query(path, "SELECT media_type, count(*) FROM {path} GROUP BY 1 ORDER BY 1"))
    (with_image,) = query(path, "SELECT count(image_url) FROM {path}")[0]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": schema_of(path),
        "types": dg.MetadataValue.json({str(k): v for k, v in types.items()}),
        "items_with_image": int(with_image),
        "as_of": as_of.isoformat(),
        "path": str(path),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(VAULT_TAGS, deps=[VAULT_MEDIA], kinds={"openai", "parquet"},
                     description="Current tags of every vault item: media_id, tag, source "
                     "(rules / vision), model, confidence (0-100), tagged_at. Metadata rules "
                     "(vault-rules-v1) always; vision tags when OPENAI_API_KEY is set and the "
                     "item has an image. Unchanged items are never tagged again."),
        dg.AssetSpec(VAULT_TAGGINGS, deps=[VAULT_MEDIA], kinds={"openai", "parquet"},
                     description="Every tagging of a vault item (ok or failed): model, input "
                     "hash, tokens, cost in USD, error."),
    ],
    group_name="vault",
    partitions_def=creator_partitions,
    name="vault_tagging",
)
def vault_tagging(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    vault_tagger: VaultTaggerResource,
):
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
    top = query(tags_path, "SELECT tag, count(*) FROM {path} GROUP BY 1 ORDER BY 2 DESC, 1 "
                           "LIMIT 20")
    yield dg.MaterializeResult(asset_key=VAULT_TAGS, metadata={
        "dagster/row_count": report.mart_rows.get("vault_tags", 0),
        "top_tags": dg.MetadataValue.json(dict(top)),
        **report.metadata(),
        "path": str(tags_path),
    })
    yield dg.MaterializeResult(asset_key=VAULT_TAGGINGS, metadata={
        "dagster/row_count": report.mart_rows.get("vault_taggings", 0),
        "path": str(store.mart_path("vault_taggings", creator_id, context.run_id)),
    })


class RecommendationsConfig(dg.Config):
    top_k: int = Field(default=5, description="items recommended per fan")
    exclude_offered_days: int = Field(
        default=30, description="leave out items offered to the fan in this many days"
    )
    new_item_days: int = Field(
        default=30, description="an item this new fits a fan whose best offer is limited_drop"
    )


@dg.asset(
    key=FAN_RECOMMENDATIONS,
    deps=[key("marts", "fan_profile"), key("marts", "fan_preferences"), VAULT_TAGS,
          FAN_ASSET_STATUS, VAULT_MEDIA, key("marts", "transactions")],
    group_name="vault",
    partitions_def=creator_partitions,
    kinds={"duckdb", "parquet"},
    description="Per fan, the top vault items for him (score 0-100 from his preferences, what he "
    "bought, and popularity), never what he has, nor what he was offered lately, each with a "
    "suggested price from his price range and the reason.",
)
def fan_recommendations(
    context: dg.AssetExecutionContext,
    config: RecommendationsConfig,
    lake: LakeResource,
    sync: SyncSettings,
) -> dg.MaterializeResult:
    store = lake.lake()
    as_of = sync.resolve_as_of(context)
    matching = models.MatchingConfig(config.top_k, config.exclude_offered_days,
                                     config.new_item_days)
    path, rows = models.build(store, "fan_recommendations", context.partition_key, as_of=as_of,
                              run_id=context.run_id, config=matching)
    fans, mean_score, mean_price = query(
        path, "SELECT count(DISTINCT fan_id), round(avg(score), 2), "
              "CAST(round(avg(suggested_price_cents)) AS BIGINT) FROM {path} WHERE rank = 1")[0]
    basis = dict(query(path, "SELECT price_basis, count(*) FROM {path} WHERE rank = 1 "
                             "GROUP BY 1 ORDER BY 1"))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": schema_of(path),
        "fans_with_recommendations": int(fans),
        "mean_top_score": mean_score,
        "mean_top_suggested_price_cents": mean_price,
        "price_basis": dg.MetadataValue.json(basis),
        "top_k": config.top_k,
        "exclude_offered_days": config.exclude_offered_days,
        "as_of": as_of.isoformat(),
        "path": str(path),
    })


vault_assets = [fan_asset_status, vault_media, vault_tagging, fan_recommendations]
VAULT_KEYS = [FAN_ASSET_STATUS, VAULT_MEDIA, VAULT_TAGS, VAULT_TAGGINGS, FAN_RECOMMENDATIONS]
