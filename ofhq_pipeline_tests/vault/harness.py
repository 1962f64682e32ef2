"""Vault payloads as the contract shapes them, and one creator built through the real models.

`Story` writes fans, a vault, chats (with media) and transactions as one sync through the raw
layer, then `build_vault` runs every staging, lifecycle and mart model (the lifecycle harness,
the asset graph's order) and the vault's own models, exactly as the assets call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg

from ofhq_pipeline.defs.models import DOMAIN_TAG, domains
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.vault.models import MatchingConfig
from ofhq_pipeline.vault.tags import TagReport, tag_creator
from ofhq_pipeline.vault.vision import VisionTagger
from ofhq_pipeline_tests.builders import (
    CREATOR,
    T0,
    build_model,
    fan,
    iso,
    parquet_dicts,
    txn,
    write_sync,
)
from ofhq_pipeline_tests.lifecycle.harness import build

CREATOR_USER = 999  # the creator's own user id in chats (builders.message uses it too)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def vault_item(media_id: int, kind: str = "photo", *, created: datetime | None = None,
               duration: int = 0, likes: int = 0, tips: float = 0.0, **extra) -> dict:
    return {"id": media_id, "type": kind, "createdAt": iso(created or T0 - timedelta(days=30)),
            "duration": duration, "counters": {"likesCount": likes, "tipsSumm": tips}, **extra}


def send(mid: int, fan_id: int, when: datetime, media: list[int], *, price: float = 0.0,
         queue_id: int | None = None, media_types: dict[int, str] | None = None) -> dict:
    """A creator message in the fan's chat carrying vault media (a PPV offer when price > 0)."""
    types = media_types or {}
    return {
        "id": mid, "text": "for you", "price": price, "isFree": price == 0, "isTip": False,
        "mediaCount": len(media), "media": [{"id": m, "type": types.get(m, "photo")} for m in media],
        "fromUser": {"id": CREATOR_USER}, "createdAt": iso(when), "queueId": queue_id,
    }


def fan_says(mid: int, fan_id: int, when: datetime, text: str = "hey") -> dict:
    return {"id": mid, "text": text, "price": 0, "isFree": True, "isTip": False, "mediaCount": 0,
            "media": [], "fromUser": {"id": fan_id}, "createdAt": iso(when), "queueId": None}


class Story:
    """One creator's history: add fans, vault items, sends and purchases, then `write()`."""

    def __init__(self, lake: Lake, creator_id: str = CREATOR) -> None:
        self.lake = lake
        self.creator_id = creator_id
        self.fans: dict[int, dict] = {}
        self.vault: list[dict] = []
        self.messages: list[tuple[int, dict]] = []
        self.transactions: list[dict] = []
        self.next_message = 10_000
        self.next_txn = 0

    def fan(self, fan_id: int, **kw) -> Story:
        self.fans[fan_id] = fan(fan_id, **kw)
        return self

    def item(self, media_id: int, kind: str = "photo", **kw) -> Story:
        self.vault.append(vault_item(media_id, kind, **kw))
        return self

    def send(self, fan_id: int, when: datetime, media: list[int], *, price: float = 0.0,
             mass: bool = False) -> int:
        self.fans.setdefault(fan_id, fan(fan_id))
        self.next_message += 1
        self.messages.append((fan_id, send(self.next_message, fan_id, when, media, price=price,
                                           queue_id=77 if mass else None)))
        return self.next_message

    def say(self, fan_id: int, when: datetime, text: str = "hey") -> int:
        self.fans.setdefault(fan_id, fan(fan_id))
        self.next_message += 1
        self.messages.append((fan_id, fan_says(self.next_message, fan_id, when, text)))
        return self.next_message

    def buy(self, fan_id: int, when: datetime, amount: float, *, kind: str = "message",
            status: str = "done") -> str:
        self.next_txn += 1
        tid = f"tr{self.next_txn}"
        self.transactions.append(txn(tid, fan_id, amount, when, kind=kind, status=status))
        return tid

    def write(self, fetched_at: datetime) -> None:
        write_sync(self.lake, fetched_at=fetched_at, fans=list(self.fans.values()),
                   transactions=self.transactions, messages=self.messages,
                   creator_id=self.creator_id)
        self.lake.write_raw_batch("vault_media", self.creator_id, self.vault,
                                  fetched_at=fetched_at, sync_mode="test")


def build_vault(lake: Lake, as_of: datetime, *, run_id: str = "run1",
                config: MatchingConfig | None = None,
                vision: VisionTagger | None = None, creator_id: str = CREATOR) -> TagReport:
    """Every model up to fan_profile, then the vault's, in the asset graph's order."""
    build(lake, as_of, creator_id=creator_id, run_id=run_id)
    at = {"as_of": as_of, "creator_id": creator_id, "run_id": run_id}
    build_model(lake, "marts/fan_asset_status", **at)
    build_model(lake, "marts/vault_media", **at)
    report = tag_creator(lake, creator_id, vision, as_of=as_of, run_id=run_id)
    build_model(lake, "marts/fan_recommendations", **at,
                prepare=(config or MatchingConfig()).set_variables)
    return report


def mart(lake: Lake, table: str, *, run_id: str = "run1", creator_id: str = CREATOR,
         where: str = "true", order: str = "1") -> list[dict]:
    return parquet_dicts(lake.mart_path(table, creator_id, run_id), where=where, order=order)


def statuses(lake: Lake, run_id: str = "run1") -> dict[tuple[int, int], str]:
    return {(r["fan_id"], r["media_id"]): r["status"]
            for r in mart(lake, "fan_asset_status", run_id=run_id)}


# ---- the asset graph of definitions.py, with the test's own segments file ---------------------
def full_definitions(home: Path, *, extra_resources: dict | None = None,
                     segments_path: Path | None = None) -> dg.Definitions:
    """definitions.py's location with the segments of `segments_path` in place of its own, an
    unconfigured vault tagger (rules only), and every file under `home`."""
    from ofhq_pipeline.defs.segments.assets import build_segment_assets
    from ofhq_pipeline.resources.vault_tagger import VaultTaggerResource
    from ofhq_pipeline_tests.location import definitions_at

    base = definitions_at(home, vault_tagger=VaultTaggerResource(), **(extra_resources or {}))
    assets = [a for a in base.assets
              if "segments" not in {a.tags_by_key[k].get(DOMAIN_TAG) for k in a.keys}]
    return dg.Definitions(assets=[*assets, *build_segment_assets(segments_path)],
                          jobs=base.jobs, schedules=base.schedules, sensors=base.sensors,
                          resources=base.resources)


# ---- one simulated creator through the whole asset graph, built once per test process -------
@dataclass
class Graph:
    lake: Lake
    creator_id: str
    run_id: str
    as_of: datetime
    metadata: dict[str, dict]  # asset key (a/b) → its materialization's metadata
    segments_path: Path

    def mart(self, table: str) -> Path:
        return self.lake.mart_path(table, self.creator_id, self.run_id)


_GRAPHS: dict[str, Graph] = {}
SEGMENTS_YAML = """
segments:
  - name: cooling_whales
    description: big spenders drifting away
    where:
      - {field: spend_tier, op: in, value: [silver, gold, platinum]}
      - {field: stage, op: in, value: [cooling_off, at_risk, churned]}
  - name: hot_non_spenders
    where:
      - {field: buyer_type, op: eq, value: non_spender}
      - {field: temperature, op: in, value: [HOT, WARM, COOLING]}
      - {field: time_waster_score, op: lt, value: 70}
  - name: intent_or_recent
    where:
      any:
        - {field: intent_ready_to_buy, op: gte, value: 60}
        - {field: last_purchase_at, op: within_days, value: 14}
        - all:
            - {field: active_hours, op: contains_any, value: [21, 22]}
            - not: {field: subscription_status, op: eq, value: active}
  - name: likely_gone
    where:
      - {field: churn_probability, op: gte, value: 0.3}
      - {field: lifetime_spend_cents, op: between, value: [2000, 100000000]}
  - name: not_bought_bestseller
    where:
      - {field: ppv_bought_count, op: gte, value: 1}
      - {has_not_bought: MEDIA_ID}
"""


def simulated_graph(agency) -> Graph:
    """The busiest creator of `agency` (the root conftest's seed-7 agency), written straight into
    the raw layer and materialized through every asset below raw: staging, lifecycle, marts,
    the classifier (rules), the vault, segments (SEGMENTS_YAML) and LTV. Cached per process."""
    import atexit
    import dataclasses
    import shutil
    import tempfile

    import polars as pl

    from bench.raw_from_agency import write_agency
    from ofhq_pipeline.resources.sync_settings import SyncSettings
    from ofhq_pipeline_tests.builders import make_lake

    if "graph" in _GRAPHS:
        return _GRAPHS["graph"]
    root = Path(tempfile.mkdtemp(prefix="ofhq-vault-graph-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    counts = agency.fans.group_by("creator_id").len().sort("len", "creator_id", descending=True)
    creator_id = counts["creator_id"][0]
    one = dataclasses.replace(agency, **{
        name: getattr(agency, name).filter(pl.col("creator_id") == creator_id)
        for name in ("fans", "transactions", "chargebacks", "messages", "vault_media")
    })
    lake = make_lake(root / "home")
    write_agency(lake, one, fetched_at=agency.end)
    # A bestseller of this vault, for the item segment.
    bestseller = (one.messages.filter(pl.col("price") > 0).explode("media")
                  .group_by(pl.col("media").struct.field("id")).len().sort("len", "id")["id"][-1])
    segments_path = root / "segments.yaml"
    segments_path.write_text(SEGMENTS_YAML.replace("MEDIA_ID", str(bestseller)))
    defs = full_definitions(lake.paths.home, segments_path=segments_path)
    resources = {**defs.resources, "sync": SyncSettings(as_of=agency.end.isoformat())}
    # What the vault, segments and LTV need, and nothing else (no API, no publishing).
    selection = (domains("vault", "segments", "ltv").upstream()
                 .required_multi_asset_neighbors()
                 - dg.AssetSelection.groups("raw", "realtime"))
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        instance.add_dynamic_partitions("creators", [creator_id])
        result = dg.materialize(list(defs.assets), selection=selection, partition_key=creator_id,
                                instance=instance, resources=resources)
        assert result.success
        metadata = {
            e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()
        }
    graph = Graph(lake, creator_id, result.run_id, agency.end, metadata, segments_path)
    _GRAPHS["graph"] = graph
    return graph
