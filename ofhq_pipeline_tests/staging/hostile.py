"""Raw rows as a hostile or broken source sends them: webhook payloads landed with their text
exactly as given, and `transactions.new` payloads with any field replaced."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import count

import polars as pl

from ofhq_pipeline.lake import Lake, atomic_write, new_batch_id, raw_frame
from ofhq_pipeline_tests.builders import CREATOR, day, txn

EVENT_IDS = count(1)


def land_webhooks(lake: Lake, events: list[tuple[str, str]], at: datetime,
                  creator_id: str = CREATOR) -> None:
    """Webhook events as the raw layer holds them, each payload's text exactly as given (a body
    may spell a number the way Python never writes one, such as 1e400)."""
    batch_id = new_batch_id(at)
    frame = raw_frame(
        [{}] * len(events), creator_id, fetched_at=[at] * len(events), sync_mode="webhook",
        batch_id=batch_id,
        extra={"event": [event for event, _ in events],
               "event_id": [next(EVENT_IDS) for _ in events], "occurred_at": [at] * len(events)},
    ).with_columns(pl.Series("payload", [text for _, text in events]))
    path = lake.raw_dir("webhook_events", creator_id) / f"{batch_id}.parquet"
    atomic_write(path, lambda tmp: frame.write_parquet(tmp))


def sale(tid: str, dollars: float = 5.0, kind: str = "message", **fields) -> dict:
    """A `transactions.new` payload of fan 1, with `fields` sent as given (amount="abc")."""
    return {**txn(tid, 1, dollars, day(4), kind=kind), "type": kind, **fields}


def with_raw(payload: dict, **raw_values: str) -> str:
    """The payload as JSON text, with the values given as "__<name>__" replaced by raw JSON."""
    text = json.dumps(payload)
    for name, value in raw_values.items():
        text = text.replace(f'"__{name}__"', value)
    return text


