"""The registry: every table the pipeline builds, declared once, in the order the data flows.

A model's key is its asset key and, when it is built from SQL, the path of its query:
`marts/fan_profile` is the asset `marts/fan_profile`, the query `sql/marts/fan_profile.sql` and the
analysts' table `marts.fan_profile`. What each column means lives in `ofhq_pipeline.dictionary`
under the same key. From this one list come the Dagster assets (key, inputs, group = the key's
layer, owners, domain tag), the warehouse's views, the analysts' file, the empty typed tables a
session reads before a model was ever built, and the order the tests' builder runs the models in.

To add a mart: write `sql/marts/<table>.sql`, declare `Model("marts/<table>", inputs=..., ...)`
below, and describe its columns in the dictionary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ofhq_pipeline.settings import SQL_DIR

# Who answers for the meaning of a domain's tables: the owners shown in the Dagster UI.
DOMAIN_OWNERS = {
    "creators": "team:ingest",
    "ingest": "team:ingest",
    "realtime": "team:ingest",
    "staging": "team:data-engineering",
    "money": "team:finance-analytics",
    "lifecycle": "team:fan-analytics",
    "intelligence": "team:fan-analytics",
    "vault": "team:content",
    "ltv": "team:finance-analytics",
    "segments": "team:fan-analytics",
    "blasts": "team:fan-analytics",
    "chatters": "team:chatter-ops",
    "publish": "team:data-engineering",
    "report": "team:data-engineering",
}

SQL = "sql"  # built by running sql/<key>.sql in the creator's session


@dataclass(frozen=True)
class Model:
    """One table: where it sits (key), what it reads (inputs), who owns it (domain), and how it
    is built: `SQL` (its query, run by the one model asset factory) or the name of the Python
    step that writes it (a step may write several tables at once)."""

    key: str
    inputs: tuple[str, ...] = ()
    domain: str = "money"
    built_by: str = SQL
    per_creator: bool = True
    # Its query reads its own last build, as `previous.<table>`, and redoes only what changed;
    # a build records its definition, and one by another is not started from (lake.definition).
    incremental: bool = False

    @property
    def layer(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def table(self) -> str:
        return self.key.split("/", 1)[1]

    @property
    def path(self) -> list[str]:
        """The asset key's path."""
        return self.key.split("/")

    @property
    def sql_path(self) -> Path:
        return SQL_DIR / f"{self.key}.sql"

    @property
    def is_sql(self) -> bool:
        return self.built_by == SQL

    @property
    def owner(self) -> str:
        return DOMAIN_OWNERS[self.domain]


def m(key: str, *inputs: str, **kwargs) -> Model:
    return Model(key, tuple(inputs), **kwargs)


RAW_FEEDS = ("fans", "transactions", "chargebacks", "chats", "messages", "vault_media")
RAW = tuple(f"raw/{feed}" for feed in (*RAW_FEEDS, "webhook_events"))

MODELS: tuple[Model, ...] = (
    # ---- raw: the API's items and the landed webhooks, as received ------------------------
    m("raw/accounts", domain="creators", built_by="creator_accounts", per_creator=False),
    m("raw/fans", "raw/accounts", domain="ingest", built_by="raw_fans"),
    m("raw/transactions", "raw/accounts", domain="ingest", built_by="raw_transactions"),
    m("raw/chargebacks", "raw/accounts", domain="ingest", built_by="raw_chargebacks"),
    m("raw/chats", "raw/accounts", domain="ingest", built_by="raw_chats"),
    m("raw/messages", "raw/chats", domain="ingest", built_by="raw_messages"),
    m("raw/vault_media", "raw/accounts", domain="ingest", built_by="raw_vault_media"),
    m("raw/webhook_events", domain="realtime", built_by="raw_webhook_events"),
    # ---- staging: typed, deduplicated; the rejects first, every other model leaves them out
    m("staging/cast_rejects", *RAW, domain="staging"),
    m("staging/fans", "staging/cast_rejects", "raw/fans", "raw/webhook_events",
      domain="staging"),
    m("staging/subscription_periods", "staging/cast_rejects", "staging/fans",
      "raw/webhook_events", domain="staging"),
    m("staging/transactions", "staging/cast_rejects", "raw/transactions", "raw/chargebacks",
      "raw/webhook_events", domain="staging"),
    m("staging/messages", "staging/cast_rejects", "raw/messages", "raw/chats",
      "raw/webhook_events", domain="staging"),
    m("staging/chats", "staging/cast_rejects", "raw/chats", domain="staging"),
    m("staging/vault_media", "staging/cast_rejects", "raw/vault_media", domain="staging"),
    # ---- money ----------------------------------------------------------------------------
    m("marts/transactions", "staging/transactions"),
    m("intermediate/fan_money", "marts/transactions", "staging/messages",
      "staging/subscription_periods"),
    m("marts/creator_revenue_daily", "marts/transactions"),
    m("marts/creator_revenue_live", "marts/creator_revenue_daily"),
    # ---- the classifier: one step writes its five tables ------------------------------------
    *(m(f"marts/{table}", "staging/messages", "marts/transactions", domain="intelligence",
        built_by="fan_intelligence")
      for table in ("fan_classifications", "fan_intent_events", "fan_facts", "fan_preferences",
                    "fan_personality")),
    # ---- lifecycle: engagement, stage, the append-only log ---------------------------------
    m("intermediate/fan_personality", "staging/fans", "marts/fan_personality",
      domain="lifecycle"),
    m("intermediate/fan_chat", "staging/messages", domain="lifecycle", incremental=True),
    m("intermediate/fan_engagement", "staging/fans", "staging/chats", "staging/messages",
      "intermediate/fan_chat", "marts/transactions", "intermediate/fan_money",
      domain="lifecycle"),
    m("intermediate/fan_stage", "intermediate/fan_engagement", "intermediate/fan_money",
      "marts/transactions", "staging/fans", domain="lifecycle"),
    m("marts/fan_lifecycle_events", "intermediate/fan_stage", "marts/transactions",
      "staging/fans", domain="lifecycle", built_by="fan_lifecycle_events"),
    # ---- the fan profile and the creators ---------------------------------------------------
    m("marts/fan_profile", "intermediate/fan_money", "staging/fans", "staging/chats",
      "intermediate/fan_engagement", "intermediate/fan_stage", "intermediate/fan_personality",
      "marts/fan_lifecycle_events"),
    m("marts/creators", "raw/accounts", "marts/fan_profile"),
    # ---- vault -----------------------------------------------------------------------------
    m("marts/fan_asset_status", "staging/messages", "marts/transactions", "staging/vault_media",
      domain="vault"),
    m("marts/vault_media", "staging/vault_media", "raw/vault_media", "staging/messages",
      "marts/fan_asset_status", domain="vault"),
    m("marts/vault_tags", "marts/vault_media", domain="vault", built_by="vault_tagging"),
    m("marts/vault_taggings", "marts/vault_media", domain="vault", built_by="vault_tagging"),
    m("marts/fan_recommendations", "marts/fan_profile", "marts/fan_preferences",
      "marts/vault_tags", "marts/fan_asset_status", "marts/vault_media", "marts/transactions",
      domain="vault"),
    # ---- lifetime value --------------------------------------------------------------------
    m("marts/fan_ltv", "marts/transactions", "marts/fan_profile", domain="ltv",
      built_by="fan_ltv"),
    # ---- chatters: one step attributes and writes the three KPI marts -----------------------
    *(m(f"marts/{table}", "staging/messages", "marts/transactions", domain="chatters",
        built_by="chatter_performance")
      for table in ("chatter_performance_daily", "chatter_shift_performance",
                    "chatter_shift_issues")),
    m("marts/chat_qa_reviews", "staging/messages", "marts/transactions",
      "marts/chatter_performance_daily", "marts/fan_preferences", domain="chatters",
      built_by="chat_qa_reviews"),
    # ---- segments: one asset per segment of segments.yaml (see `segment_model`) -------------
    m("marts/segment_members", domain="segments", built_by="segment_members"),
    # ---- blasts: a segment's mass message, sent by its own job; its results rebuilt with the
    # marts (the ledger of sends is read into the session: defs/blasts/assets.py)
    m("blasts/sends", "marts/segment_members", "marts/fan_profile", "marts/fan_asset_status",
      "marts/fan_recommendations", "staging/messages", domain="blasts", built_by="blast_sends"),
    m("marts/blast_recipients", "blasts/sends", "marts/transactions", domain="blasts"),
    m("marts/blasts", "marts/blast_recipients", domain="blasts"),
    # ---- publishing ------------------------------------------------------------------------
    m("marts/fan_agency", "marts/fan_profile", domain="lifecycle", built_by="publish_marts"),
    m("marts/system_stats", domain="publish", built_by="publish_marts"),
    m("published/analysts_marts", "marts/system_stats", "marts/fan_agency", domain="publish",
      built_by="publish_marts"),
    m("realtime/alerts", "published/analysts_marts", "raw/webhook_events", domain="realtime",
      built_by="alerts"),
    m("report/system_intelligence", "published/analysts_marts", domain="report",
      built_by="system_intelligence_report", per_creator=False),
)



def _publish_follows_every_mart(declared: tuple[Model, ...]) -> tuple[Model, ...]:
    """`marts/system_stats` (and so publishing) reads every mart a creator's run writes."""
    run_marts = tuple(m_.key for m_ in declared
                      if m_.layer == "marts" and m_.built_by != "publish_marts")
    return tuple(replace(m_, inputs=run_marts) if m_.key == "marts/system_stats" else m_
                 for m_ in declared)


MODELS = _publish_follows_every_mart(MODELS)
BY_KEY = {model.key: model for model in MODELS}
# The segments' inputs: what `sql/segments/base.sql` joins (the vault status only when a
# segment's rules name it).
SEGMENT_INPUTS = ("marts/fan_profile", "marts/fan_ltv", "marts/fan_recommendations")


def model(key: str) -> Model:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"{key!r} is not a model of the registry (ofhq_pipeline/registry.py)") from None


def segment_model(name: str, needs_vault_status: bool = False) -> Model:
    inputs = SEGMENT_INPUTS + (("marts/fan_asset_status",) if needs_vault_status else ())
    return Model(f"segments/{name}", inputs, domain="segments", built_by="segment")


def models(*, layer: str | None = None, domain: str | None = None,
           built_by: str | None = None) -> list[Model]:
    return [
        m for m in MODELS
        if (layer is None or m.layer == layer) and (domain is None or m.domain == domain)
        and (built_by is None or m.built_by == built_by)
    ]


def in_build_order(keys: Iterable[str]) -> list[Model]:
    """The models named, each after every one of them it reads (the registry's order breaks
    ties), so a builder can run them one after another."""
    wanted = {model(key).key for key in keys}
    done: set[str] = set()
    ordered: list[Model] = []

    def visit(key: str) -> None:
        if key in done:
            return
        done.add(key)
        for upstream in BY_KEY[key].inputs:
            if upstream in wanted:
                visit(upstream)
        ordered.append(BY_KEY[key])

    for m_ in MODELS:
        if m_.key in wanted:
            visit(m_.key)
    return ordered


def upstream(key: str, *, past: str) -> list[Model]:
    """`key` and every model it reads, directly or not, short of raw and of layer `past` (e.g.
    staging), in build order."""
    found: set[str] = set()

    def visit(k: str) -> None:
        if k not in found and BY_KEY[k].layer not in (past, "raw"):
            found.add(k)
            for upstream_key in BY_KEY[k].inputs:
                visit(upstream_key)

    visit(model(key).key)
    return in_build_order(found)


def published_tables() -> list[str]:
    """The tables of the analysts' file (`marts.<table>`), in the registry's order."""
    return [m_.table for m_ in MODELS if m_.layer == "marts"]
