"""Vault tags: the rules tagger, the vision tagger's plan, and the state kept across runs.

State (one file per creator, rewritten atomically under a per-creator lock):

    lake/vault/vault_tags/<creator>.parquet       the current tags: media_id, tag, source, model,
                                                  confidence (0-100), input_hash, tagged_at
    lake/vault/vault_taggings/<creator>.parquet   every tagging (ok or failed): tokens, USD, error

Nothing is tagged again when it has not changed:
- rules (`vault-rules-v1`, sql/marts/vault_tags/rules_tags.sql): an item whose computed tag set equals the
  stored one keeps its rows and their `tagged_at`; only changed items are rewritten;
- vision: an item is sent only when its `input_hash` (image URL without its query string, type,
  duration, prompt version) differs from its last successful tagging by the same model, and not
  when the same input already failed `max_failed_attempts` times.
Tags of items that left the vault are dropped from the current tags (the taggings keep them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ofhq_pipeline.lake import Lake, atomic_write, file_lock, sql_text
from ofhq_pipeline.llm.answers import FAILED, OK
from ofhq_pipeline.llm.tally import Spend
from ofhq_pipeline.vault.vision import Tagging, VisionItem, VisionTagger

RULES_MODEL = "vault-rules-v1"
RULES = "rules"
VISION = "vision"
TS = pl.Datetime("us", "UTC")

TAGS_SCHEMA = {
    "creator_id": pl.String, "media_id": pl.Int64, "tag": pl.String, "source": pl.String,
    "model": pl.String, "confidence": pl.Int64, "input_hash": pl.String, "tagged_at": TS,
}
TAGGINGS_SCHEMA = {
    "creator_id": pl.String, "media_id": pl.Int64, "source": pl.String, "model": pl.String,
    "input_hash": pl.String, "status": pl.String, "error": pl.String, "attempts": pl.Int64,
    "tag_count": pl.Int64, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
    "cost_usd": pl.Float64, "tagged_at": TS,
}
STATE = {"vault_tags": TAGS_SCHEMA, "vault_taggings": TAGGINGS_SCHEMA}


def state_path(lake: Lake, table: str, creator_id: str) -> Path:
    return lake.root / "vault" / table / f"{creator_id}.parquet"


def creator_lock(lake: Lake, creator_id: str) -> AbstractContextManager[None]:
    """One tagger of a creator's vault at a time."""
    return file_lock(lake.root / "vault" / "locks" / f"{creator_id}.lock")


def conform(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def load(lake: Lake, table: str, creator_id: str) -> pl.DataFrame:
    path = state_path(lake, table, creator_id)
    schema = STATE[table]
    return conform(pl.read_parquet(path), schema) if path.exists() else pl.DataFrame(schema=schema)


def save(lake: Lake, table: str, creator_id: str, frame: pl.DataFrame) -> None:
    data = conform(frame, STATE[table])
    atomic_write(state_path(lake, table, creator_id),
                 lambda tmp: data.write_parquet(tmp, compression="zstd"))


@dataclass
class TagReport(Spend):
    creator_id: str
    vision_model: str | None
    items: int = 0
    rules_tagged: int = 0
    rules_unchanged: int = 0
    no_image: int = 0
    vision_sent: int = 0
    vision_ok: int = 0
    vision_failed: int = 0
    vision_unchanged: int = 0
    vision_skipped_failed: int = 0
    vision_pending_budget: int = 0
    mart_rows: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> dict:
        data = asdict(self)
        data.pop("mart_rows")
        data.pop("errors")
        data["vision_model"] = self.vision_model or "off (no OPENAI_API_KEY)"
        data["stop_reason"] = self.stop_reason or ""
        data["dollars"] = round(self.cost_usd, 6)
        data["first_errors"] = "; ".join(self.errors[:3])
        return data


# ---- rules ----------------------------------------------------------------------------------
def rules_hash(tags: list[str]) -> str:
    return hashlib.sha256(("|".join([RULES_MODEL, *sorted(tags)])).encode()).hexdigest()[:16]


def rules_tags(con, creator_id: str, now: datetime, previous: pl.DataFrame) -> tuple[
        pl.DataFrame, pl.DataFrame, int]:
    """(current rules tags, taggings of changed items, unchanged item count) from
    sql/marts/vault_tags/rules_tags.sql over this session's marts.vault_media."""
    computed = con.execute(sql_text("marts/vault_tags/rules_tags")).pl()
    per_item = computed.group_by("media_id").agg(pl.col("tag").sort().alias("tags"))
    hashes = per_item.select(
        "media_id",
        input_hash=pl.col("tags").map_elements(lambda t: rules_hash(list(t)),
                                               return_dtype=pl.String),
    )
    old = previous.filter(pl.col("source") == RULES)
    old_hash = old.select("media_id", "input_hash").unique("media_id")
    joined = hashes.join(old_hash, on="media_id", how="left", suffix="_old")
    unchanged_ids = joined.filter(pl.col("input_hash") == pl.col("input_hash_old"))["media_id"]
    changed = joined.filter(
        pl.col("input_hash_old").is_null() | (pl.col("input_hash") != pl.col("input_hash_old"))
    ).select("media_id", "input_hash")
    kept = old.filter(pl.col("media_id").is_in(unchanged_ids.implode()))
    fresh = (
        computed.join(changed, on="media_id")
        .with_columns(creator_id=pl.lit(creator_id), source=pl.lit(RULES),
                      model=pl.lit(RULES_MODEL), tagged_at=pl.lit(now, dtype=TS))
    )
    current = pl.concat([conform(kept, TAGS_SCHEMA), conform(fresh, TAGS_SCHEMA)])
    counts = fresh.group_by("media_id").agg(tag_count=pl.len())
    taggings = changed.join(counts, on="media_id", how="left").with_columns(
        creator_id=pl.lit(creator_id), source=pl.lit(RULES), model=pl.lit(RULES_MODEL),
        status=pl.lit(OK), error=pl.lit(None, dtype=pl.String), attempts=pl.lit(1),
        tag_count=pl.col("tag_count").fill_null(0), prompt_tokens=pl.lit(0),
        completion_tokens=pl.lit(0), cost_usd=pl.lit(0.0), tagged_at=pl.lit(now, dtype=TS),
    )
    return current, conform(taggings, TAGGINGS_SCHEMA), unchanged_ids.len()


# ---- vision ---------------------------------------------------------------------------------
SEND = "send"
UNCHANGED = "unchanged"
FAILED_BEFORE = "failed_before"


def plan_vision(items: list[VisionItem], taggings: pl.DataFrame, model: str,
                max_failed_attempts: int) -> dict[int, str]:
    """media_id → send | unchanged | failed_before, for items with an image."""
    same = taggings.filter((pl.col("source") == VISION) & (pl.col("model") == model))
    last_ok = dict(
        same.filter(pl.col("status") == OK).sort("tagged_at").unique("media_id", keep="last")
        .select("media_id", "input_hash").iter_rows()
    )
    failures = {
        (m, h): n for m, h, n in same.filter(pl.col("status") == FAILED)
        .group_by("media_id", "input_hash").len().iter_rows()
    }
    decisions = {}
    for item in items:
        if last_ok.get(item.media_id) == item.input_hash:
            decisions[item.media_id] = UNCHANGED
        elif failures.get((item.media_id, item.input_hash), 0) >= max_failed_attempts:
            decisions[item.media_id] = FAILED_BEFORE
        else:
            decisions[item.media_id] = SEND
    return decisions


def tagging_rows(creator_id: str, results: list[Tagging]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tag rows of the successful taggings, one tagging row each)."""
    tags = pl.DataFrame(
        [
            {"creator_id": creator_id, "media_id": r.media_id, "tag": tag, "source": r.source,
             "model": r.model, "confidence": confidence, "input_hash": r.input_hash,
             "tagged_at": r.tagged_at}
            for r in results if r.status == OK for tag, confidence in r.tags
        ],
        schema=TAGS_SCHEMA,
    )
    runs = pl.DataFrame(
        [
            {"creator_id": creator_id, "media_id": r.media_id, "source": r.source,
             "model": r.model, "input_hash": r.input_hash, "status": r.status, "error": r.error,
             "attempts": r.attempts, "tag_count": len(r.tags), "prompt_tokens": r.prompt_tokens,
             "completion_tokens": r.completion_tokens, "cost_usd": r.cost_usd,
             "tagged_at": r.tagged_at}
            for r in results
        ],
        schema=TAGGINGS_SCHEMA,
    )
    return tags, runs


def vision_items(vault: pl.DataFrame) -> list[VisionItem]:
    """Items with an image, the newest first (what the budget spends on)."""
    rows = vault.filter(pl.col("image_url").is_not_null()).sort(
        "created_at", "media_id", descending=True, nulls_last=True
    )
    return [
        VisionItem(media_id=m, media_type=t, duration_s=d, image_url=u)
        for m, t, d, u in rows.select("media_id", "media_type", "duration_s", "image_url").iter_rows()
    ]


# ---- one creator ----------------------------------------------------------------------------
def tag_creator(
    lake: Lake,
    creator_id: str,
    vision: VisionTagger | None,
    *,
    as_of: datetime,
    run_id: str,
    now: Callable[[], datetime] | None = None,
    max_failed_attempts: int = 2,
) -> TagReport:
    """Tag the creator's vault (marts.vault_media of `run_id`) and write `vault_tags` and
    `vault_taggings` into the run's mart folder."""
    clock = now or (lambda: datetime.now(UTC))
    report = TagReport(creator_id, vision.model if vision else None)
    with creator_lock(lake, creator_id):
        previous = load(lake, "vault_tags", creator_id)
        taggings = load(lake, "vault_taggings", creator_id)
        with lake.session(creator_id, as_of=as_of, run_id=run_id) as con:
            vault = con.execute(
                "SELECT media_id, media_type, duration_s, image_url, created_at "
                "FROM marts.vault_media"
            ).pl()
            rules, rule_runs, unchanged = rules_tags(con, creator_id, clock(), previous)
        report.items = vault.height
        report.rules_unchanged = unchanged
        report.rules_tagged = rule_runs.height
        items = vision_items(vault)
        report.no_image = vault.height - len(items)
        current_ids = vault["media_id"].implode()
        vision_tags = previous.filter(
            (pl.col("source") == VISION) & pl.col("media_id").is_in(current_ids)
        )
        new_runs = [rule_runs]
        if vision is not None and items:
            decisions = plan_vision(items, taggings, vision.model, max_failed_attempts)
            report.vision_unchanged = sum(d == UNCHANGED for d in decisions.values())
            report.vision_skipped_failed = sum(d == FAILED_BEFORE for d in decisions.values())
            to_send = [i for i in items if decisions[i.media_id] == SEND]
            report.vision_sent = len(to_send)
            outcome = vision.tag(to_send, now=clock)
            # The shared Budget speaks of classifications; here they are images.
            stop_reason = outcome.stop_reason and outcome.stop_reason.replace(
                "max_classifications_per_run", "max_images_per_run")
            report.vision_pending_budget = len(outcome.pending)
            report.vision_ok, report.vision_failed = report.tally(
                outcome.results, stop_reason, lambda r: f"media {r.media_id}")
            fresh, runs = tagging_rows(creator_id, outcome.results)
            retagged = [r.media_id for r in outcome.results
                        if r.status == OK and r.model == vision.model]
            vision_tags = pl.concat([
                vision_tags.filter(~(pl.col("media_id").is_in(retagged)
                                     & (pl.col("model") == vision.model))),
                fresh,
            ])
            new_runs.append(runs)
        current = pl.concat([conform(rules, TAGS_SCHEMA), conform(vision_tags, TAGS_SCHEMA)])
        current = current.filter(pl.col("media_id").is_in(current_ids)).sort(
            "media_id", "source", "tag"
        )
        save(lake, "vault_tags", creator_id, current)
        all_runs = pl.concat([taggings, *new_runs]).sort("tagged_at", "media_id")
        save(lake, "vault_taggings", creator_id, all_runs)
        report.mart_rows = write_marts(lake, creator_id, run_id, current, all_runs)
    return report


def write_marts(lake: Lake, creator_id: str, run_id: str, tags: pl.DataFrame,
                taggings: pl.DataFrame) -> dict[str, int]:
    counts = {}
    for table, frame in (("vault_tags", tags), ("vault_taggings", taggings)):
        path = lake.mart_path(table, creator_id, run_id)
        atomic_write(path, lambda tmp, f=frame: f.write_parquet(tmp, compression="zstd"))
        counts[table] = frame.height
    return counts
