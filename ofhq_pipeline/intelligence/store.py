"""What the classifier keeps: state across runs in the lake, and the per-run mart tables.

State (one file per creator, rewritten atomically under a per-creator lock):

    lake/intelligence/fan_classifications/<creator>.parquet   every classification, ok or failed
    lake/intelligence/fan_intent_events/<creator>.parquet     every detection, appended
    lake/intelligence/fan_facts/<creator>.parquet             one row per (fan, category, value)
    lake/intelligence/batches/<creator>/<state>.json          Batch API jobs not yet applied

Marts (written into the run's folder, `Lake.mart_path`, so publishing makes them current with
the run's other marts): `fan_classifications`, `fan_intent_events`, `fan_facts`,
`fan_preferences` and `fan_personality` (one row per fan: the latest successful classification,
flattened, for `fan_profile`).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import polars as pl

from ofhq_pipeline.intelligence.results import OK, Classification, output_json
from ofhq_pipeline.intelligence.rules import RULES_MODEL
from ofhq_pipeline.intelligence.schema import SIGNALS
from ofhq_pipeline.lake import Lake, atomic_write, file_lock

TS = pl.Datetime("us", "UTC")

CLASSIFICATIONS = {
    "creator_id": pl.String, "fan_id": pl.Int64, "classified_at": TS, "window_hash": pl.String,
    "model": pl.String, "method": pl.String, "status": pl.String, "error": pl.String,
    "attempts": pl.Int64, "message_count": pl.Int64, "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64, "cached_tokens": pl.Int64, "cost_usd": pl.Float64,
    "confidence": pl.Int64, "output_json": pl.String,
}
INTENT_EVENTS = {
    "creator_id": pl.String, "fan_id": pl.Int64, "signal": pl.String, "score": pl.Int64,
    "previous_score": pl.Int64, "evidence_message_ids": pl.List(pl.Int64), "detected_at": TS,
    "window_hash": pl.String, "model": pl.String,
}
FACTS = {
    "creator_id": pl.String, "fan_id": pl.Int64, "category": pl.String, "value": pl.String,
    "value_norm": pl.String, "confidence": pl.Int64, "source_message_id": pl.Int64,
    "first_seen_at": TS, "last_seen_at": TS, "model": pl.String, "updated_at": TS,
}
PREFERENCE_COLUMNS = (
    "content_format_preference", "length_preference", "frequency_preference", "best_opener_type",
    "best_offer_type", "tone_preference", "custom_interest_level",
)
PREFERENCES = {
    "creator_id": pl.String, "fan_id": pl.Int64,
    **{c: pl.String for c in PREFERENCE_COLUMNS},
    "custom_interest_level": pl.Int64, "classified_at": TS, "classifier_model": pl.String,
}
PERSONALITY = {
    "creator_id": pl.String, "fan_id": pl.Int64, "fan_type": pl.String,
    "tone_preference": pl.String, "emotional_drivers": pl.List(pl.String),
    "emotional_needs": pl.List(pl.String), "content_format_preference": pl.String,
    "length_preference": pl.String, "narrative_summary": pl.String,
    "frequency_preference": pl.String, "best_opener_type": pl.String,
    "best_offer_type": pl.String, "custom_interest_level": pl.Int64, "toxicity_flag": pl.Boolean,
    "toxicity_reason": pl.String, **{f"intent_{s}": pl.Int64 for s in SIGNALS},
    "classified_at": TS, "classifier_model": pl.String, "classifier_confidence": pl.Int64,
    "last_objection": pl.String, "last_objection_text": pl.String, "top_objection": pl.String,
}
STATE_TABLES = {
    "fan_classifications": CLASSIFICATIONS,
    "fan_intent_events": INTENT_EVENTS,
    "fan_facts": FACTS,
}
MART_TABLES = (
    "fan_classifications", "fan_intent_events", "fan_facts", "fan_preferences", "fan_personality",
)

# The parsed output, for json_decode: the fields the derived tables read.
_INTENT = pl.Struct({"score": pl.Int64, "evidence": pl.List(pl.Int64)})
OUTPUT_DTYPE = pl.Struct({
    "fan_type": pl.String, "tone_preference": pl.String,
    "emotional_drivers": pl.List(pl.String), "emotional_needs": pl.List(pl.String),
    "content_format_preference": pl.String, "length_preference": pl.String,
    "narrative_summary": pl.String, "intents": pl.Struct({s: _INTENT for s in SIGNALS}),
    "objections": pl.List(pl.Struct({"type": pl.String, "text": pl.String})),
    "frequency_preference": pl.String, "best_opener_type": pl.String,
    "best_offer_type": pl.String, "custom_interest_level": pl.Int64,
    "toxicity": pl.Struct({"flag": pl.Boolean, "reason": pl.String}), "confidence": pl.Int64,
})


def state_dir(lake: Lake) -> Path:
    return lake.root / "intelligence"


def state_path(lake: Lake, table: str, creator_id: str) -> Path:
    return state_dir(lake) / table / f"{creator_id}.parquet"


def creator_lock(lake: Lake, creator_id: str) -> AbstractContextManager[None]:
    """One writer of a creator's classifier state at a time (asset runs, the classify command)."""
    return file_lock(state_dir(lake) / "locks" / f"{creator_id}.lock")


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in schema.items()])


def load(lake: Lake, table: str, creator_id: str) -> pl.DataFrame:
    path = state_path(lake, table, creator_id)
    schema = STATE_TABLES[table]
    return conform(pl.read_parquet(path), schema) if path.exists() else empty(schema)


def save(lake: Lake, table: str, creator_id: str, frame: pl.DataFrame) -> None:
    path = state_path(lake, table, creator_id)
    data = conform(frame, STATE_TABLES[table])
    atomic_write(path, lambda tmp: data.write_parquet(tmp, compression="zstd"))


def in_recorded_order(frame: pl.DataFrame, *by: str) -> pl.DataFrame:
    """Sorted by `by` then `classified_at`, ties in the order the rows were recorded. A run dates
    its classifications at its as-of, so two runs at one pinned as-of tie on `classified_at`: the
    later recorded (appended) is the later classification."""
    return frame.sort(*by, "classified_at", maintain_order=True)


def latest_ok(history: pl.DataFrame, *, exclude_model: str | None = None) -> pl.DataFrame:
    """The latest successful classification of each fan."""
    ok = history.filter(pl.col("status") == OK)
    if exclude_model:
        ok = ok.filter(pl.col("model") != exclude_model)
    return in_recorded_order(ok).unique("fan_id", keep="last")


def previous_summaries(history: pl.DataFrame, fan_ids: list[int]) -> dict[int, str]:
    """The rolling summary to build on: the latest one an LLM wrote for each fan."""
    latest = latest_ok(history.filter(pl.col("fan_id").is_in(fan_ids)), exclude_model=RULES_MODEL)
    decoded = latest.select(
        "fan_id", summary=pl.col("output_json").str.json_decode(OUTPUT_DTYPE)
        .struct.field("narrative_summary"),
    )
    return {fan: text for fan, text in decoded.iter_rows() if text}


def classification_rows(creator_id: str, results: list[Classification]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "creator_id": creator_id, "fan_id": r.fan_id, "classified_at": r.classified_at,
                "window_hash": r.window_hash, "model": r.model, "method": r.method,
                "status": r.status, "error": r.error, "attempts": r.attempts,
                "message_count": r.message_count, "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens, "cached_tokens": r.cached_tokens,
                "cost_usd": r.cost_usd,
                "confidence": r.output.confidence if r.output is not None else None,
                "output_json": output_json(r.output),
            }
            for r in results
        ],
        schema=CLASSIFICATIONS,
    )


def intent_event_rows(
    creator_id: str, results: list[Classification], history: pl.DataFrame, threshold: int
) -> pl.DataFrame:
    """A row for each signal at or above `threshold` that is new or has risen since the fan's
    previous successful classification."""
    ok = [r for r in results if r.status == OK and r.output is not None]
    before = latest_ok(history.filter(pl.col("fan_id").is_in([r.fan_id for r in ok])))
    previous: dict[int, dict[str, int]] = {}
    if before.height:
        decoded = before.select(
            "fan_id", intents=pl.col("output_json").str.json_decode(OUTPUT_DTYPE).struct.field("intents")
        )
        for fan_id, intents in decoded.iter_rows():
            previous[fan_id] = {s: (intents or {}).get(s, {}).get("score") or 0 for s in SIGNALS}
    rows = []
    for r in ok:
        prior = previous.get(r.fan_id)
        for signal in SIGNALS:
            intent = getattr(r.output.intents, signal)
            was = prior.get(signal) if prior else None
            if intent.score >= threshold and (was is None or intent.score > was):
                rows.append({
                    "creator_id": creator_id, "fan_id": r.fan_id, "signal": signal,
                    "score": intent.score, "previous_score": was,
                    "evidence_message_ids": list(intent.evidence), "detected_at": r.classified_at,
                    "window_hash": r.window_hash, "model": r.model,
                })
    return pl.DataFrame(rows, schema=INTENT_EVENTS)


def normalise_value(value: str) -> str:
    return " ".join(value.lower().split()).strip(" .,!?;:'\"")


def fact_rows(creator_id: str, results: list[Classification]) -> pl.DataFrame:
    rows = []
    for r in results:
        if r.status != OK or r.output is None:
            continue
        for fact in r.output.facts:
            norm = normalise_value(fact.value)
            if not norm:
                continue
            seen = r.fact_times.get(fact.message_id) if fact.message_id is not None else None
            rows.append({
                "creator_id": creator_id, "fan_id": r.fan_id, "category": fact.category,
                "value": fact.value.strip(), "value_norm": norm, "confidence": fact.confidence,
                "source_message_id": fact.message_id, "first_seen_at": seen or r.classified_at,
                "last_seen_at": seen or r.classified_at, "model": r.model,
                "updated_at": r.classified_at,
            })
    return pl.DataFrame(rows, schema=FACTS)


def merge_facts(existing: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per (fan, category, normalised value): first seen kept, the rest from the latest."""
    if not new.height:
        return existing
    key = ["creator_id", "fan_id", "category", "value_norm"]
    # Stable: a fact seen again at the same instant (one pinned as-of) takes the newer values.
    both = pl.concat([existing, new]).sort("updated_at", "last_seen_at", maintain_order=True)
    return conform(
        both.group_by(key).agg(
            pl.col("value").last(),
            pl.col("confidence").last(),
            pl.col("source_message_id").drop_nulls().last(),
            pl.col("first_seen_at").min(),
            pl.col("last_seen_at").max(),
            pl.col("model").last(),
            pl.col("updated_at").max(),
        ),
        FACTS,
    ).sort("fan_id", "category", "value_norm")


def apply_results(
    lake: Lake, creator_id: str, results: list[Classification], *, intent_threshold: int = 50
) -> None:
    """Fold classifications into the creator's state (call under `creator_lock`)."""
    if not results:
        return
    history = load(lake, "fan_classifications", creator_id)
    events = intent_event_rows(creator_id, results, history, intent_threshold)
    old_events = load(lake, "fan_intent_events", creator_id)
    key = ["fan_id", "signal", "window_hash", "model"]
    events = events.join(old_events.select(key), on=key, how="anti").unique(key, keep="first")
    save(lake, "fan_intent_events", creator_id, pl.concat([old_events, events]))
    facts = merge_facts(load(lake, "fan_facts", creator_id), fact_rows(creator_id, results))
    save(lake, "fan_facts", creator_id, facts)
    save(
        lake, "fan_classifications", creator_id,
        pl.concat([history, classification_rows(creator_id, results)]),
    )


# ---- derived tables -------------------------------------------------------------------------
def personality(history: pl.DataFrame) -> pl.DataFrame:
    """One row per fan from his latest successful classification (fan-profile.md's fields)."""
    latest = latest_ok(history)
    out = latest.select(
        "creator_id", "fan_id", "classified_at", "model",
        o=pl.col("output_json").str.json_decode(OUTPUT_DTYPE),
    )
    o = pl.col("o")
    flat = out.select(
        "creator_id", "fan_id",
        *[o.struct.field(c).alias(c) for c in (
            "fan_type", "tone_preference", "emotional_drivers", "emotional_needs",
            "content_format_preference", "length_preference", "narrative_summary",
            "frequency_preference", "best_opener_type", "best_offer_type",
            "custom_interest_level",
        )],
        toxicity_flag=o.struct.field("toxicity").struct.field("flag"),
        toxicity_reason=o.struct.field("toxicity").struct.field("reason"),
        **{
            f"intent_{s}": o.struct.field("intents").struct.field(s).struct.field("score")
            for s in SIGNALS
        },
        classified_at=pl.col("classified_at"),
        classifier_model=pl.col("model"),
        classifier_confidence=o.struct.field("confidence"),
    )
    joined = flat.join(objection_summary(history), on="fan_id", how="left")
    return conform(joined, PERSONALITY).sort("fan_id")


def objection_summary(history: pl.DataFrame) -> pl.DataFrame:
    """Per fan: the type and text of his latest objection, and his most frequent objection type
    over all his successful classifications (ties: the most recent)."""
    ok = history.filter(pl.col("status") == OK).select(
        "fan_id", "classified_at",
        objections=pl.col("output_json").str.json_decode(OUTPUT_DTYPE).struct.field("objections"),
    )
    items = (
        ok.explode("objections")
        .filter(pl.col("objections").is_not_null())
        .with_columns(
            order=pl.int_range(pl.len()).over("fan_id", "classified_at"),
            type=pl.col("objections").struct.field("type"),
            text=pl.col("objections").struct.field("text"),
        )
        .sort("fan_id", "classified_at", "order", maintain_order=True)
    )
    last = items.group_by("fan_id").agg(
        last_objection=pl.col("type").last(), last_objection_text=pl.col("text").last()
    )
    top = (
        items.with_columns(seq=pl.int_range(pl.len()).over("fan_id"))
        .group_by("fan_id", "type")
        .agg(n=pl.len(), latest=pl.col("seq").max())
        .sort("n", "latest")
        .group_by("fan_id")
        .agg(top_objection=pl.col("type").last())
    )
    return last.join(top, on="fan_id", how="full", coalesce=True)


def preferences(personality_frame: pl.DataFrame) -> pl.DataFrame:
    return conform(
        personality_frame.with_columns(classifier_model=pl.col("classifier_model")), PREFERENCES
    )


def classifications_mart(history: pl.DataFrame) -> pl.DataFrame:
    """Every classification, with `is_latest` marking each fan's newest one."""
    return (
        in_recorded_order(history, "fan_id")
        .with_columns(
            is_latest=pl.int_range(pl.len()).over("fan_id") == pl.len().over("fan_id") - 1
        )
    )


def mart_frames(lake: Lake, creator_id: str) -> dict[str, pl.DataFrame]:
    history = load(lake, "fan_classifications", creator_id)
    persona = personality(history)
    return {
        "fan_classifications": classifications_mart(history),
        "fan_intent_events": load(lake, "fan_intent_events", creator_id).sort("fan_id", "detected_at"),
        "fan_facts": load(lake, "fan_facts", creator_id),
        "fan_preferences": preferences(persona),
        "fan_personality": persona,
    }


def write_marts(lake: Lake, creator_id: str, run_id: str) -> dict[str, int]:
    """The five tables into the run's mart folder; returns their row counts."""
    counts = {}
    for table, frame in mart_frames(lake, creator_id).items():
        path = lake.mart_path(table, creator_id, run_id)
        atomic_write(path, lambda tmp, f=frame: f.write_parquet(tmp, compression="zstd"))
        counts[table] = frame.height
    return counts


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, default=str)))


# ---- debounced fans: due for classification after the interval --------------------------------
def due_path(lake: Lake, creator_id: str) -> Path:
    return state_dir(lake) / "due" / f"{creator_id}.json"


def write_due(lake: Lake, creator_id: str, due_at: datetime | None, fan_ids: list[int]) -> None:
    """Record when the creator's debounced fans fall due (or that none wait)."""
    path = due_path(lake, creator_id)
    if due_at is None:
        path.unlink(missing_ok=True)
    else:
        write_json(path, {"due_at": due_at.isoformat(), "fan_ids": sorted(fan_ids)})


def due_creators(lake: Lake, now: datetime) -> dict[str, datetime]:
    """Creators with debounced fans due at or before `now`, and since when."""
    due = {}
    for path in sorted((state_dir(lake) / "due").glob("*.json")):
        at = datetime.fromisoformat(json.loads(path.read_text())["due_at"])
        if at <= now:
            due[path.stem] = at
    return due
