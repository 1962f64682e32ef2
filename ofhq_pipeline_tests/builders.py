"""API payloads as the contract shapes them, and a way to build one creator's models from them.

Tests write these through the real raw layer and run the real SQL models, so every rule is
checked on the same code path the assets use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from ofhq_pipeline import registry
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.lifecycle.models import LOG_KEY, record_events
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.staging.compaction import remove_leftovers
from ofhq_pipeline.staging.merge import Staged, StagingMerge

CREATOR = "acct_test"
T0 = datetime(2026, 10, 1, tzinfo=UTC)

# The models `build` runs (in the registry's build order): staging, money, lifecycle, profile.
BUILT = [
    *(m.key for m in registry.models(layer="staging")),
    "marts/transactions", "intermediate/fan_money", "intermediate/fan_personality",
    "intermediate/fan_chat", "intermediate/fan_engagement", "intermediate/fan_stage",
    LOG_KEY, "marts/fan_profile",
    "marts/creator_revenue_daily", "marts/creators",
]


def iso(at: datetime) -> str:
    return at.isoformat()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def fan(fan_id: int, *, status: str = "active", subscribes: list[dict] | None = None,
        subscribe_at: datetime = T0, expired_at: datetime | None = None) -> dict:
    return {
        "id": fan_id, "username": f"u{fan_id}", "name": f"Fan {fan_id}", "lastSeen": iso(subscribe_at),
        "subscribedOnData": {
            "status": status, "subscribeAt": iso(subscribe_at),
            "expiredAt": iso(expired_at or subscribe_at + timedelta(days=30)),
            "renewedAt": None, "lastActivity": iso(subscribe_at),
            "subscribePrice": 9.99, "regularPrice": 9.99, "discountPercent": 0,
            "totalSumm": 0, "messagesSumm": 0, "tipsSumm": 0, "postsSumm": 0,
            "subscribesSumm": 0, "streamsSumm": 0,
            "subscribes": subscribes or [],
        },
    }


def period(at: datetime, price: float, regular: float = 9.99, discount: int = 0,
           action: str = "subscribe") -> dict:
    return {"action": action, "date": iso(at), "price": price, "regularPrice": regular,
            "discount": discount, "type": "regular", "isCurrent": False}


def txn(tid: str, fan_id: int, amount: float, at: datetime, *, kind: str = "message",
        status: str = "done", custom: bool = False, net: float | None = None) -> dict:
    link = f'<a href="https://onlyfans.com/u{fan_id}">Fan {fan_id}</a>'
    description = {
        "message": f"Payment for message from {link}",
        "tip": f"Tip from {link}",
        "subscription": f"Recurring subscription from {link}",
        "post": f"Payment for post from {link}",
        "stream": f"Payment for stream from {link}",
        "other": f"Referral payout for {link}",
    }[kind] + (" (custom video)" if custom else "")
    return {
        "id": tid, "amount": amount, "net": round(amount * 0.8, 2) if net is None else net,
        "fee": round(amount * 0.2, 2), "vatAmount": 0, "currency": "USD",
        "description": description, "status": status, "createdAt": iso(at),
        "user": {"id": fan_id, "username": f"u{fan_id}", "name": f"Fan {fan_id}"},
    }


def chargeback(cid: str, payment: dict, at: datetime) -> dict:
    return {"id": cid, "createdAt": iso(at), "paymentType": "message", "payment": payment}


def message(mid: int, fan_id: int, at: datetime, *, from_fan: bool, price: float = 0,
            queue_id: int | None = None, text: str = "hi") -> dict:
    return {
        "id": mid, "text": text, "price": price, "isFree": price == 0, "isTip": False,
        "mediaCount": 1 if price else 0, "media": [{"id": 7001, "type": "photo"}] if price else [],
        "fromUser": {"id": fan_id if from_fan else 999}, "createdAt": iso(at), "queueId": queue_id,
    }


def chat(fan_id: int, last: dict) -> dict:
    return {"fan": {"id": fan_id, "username": f"u{fan_id}", "name": f"Fan {fan_id}"},
            "lastMessage": last, "unreadMessagesCount": 0}


def make_lake(home: Path) -> Lake:
    return Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                      analysts_marts=home / "marts.duckdb"))


def write_sync(lake: Lake, *, fetched_at: datetime, fans=(), transactions=(), chargebacks=(),
               messages=(), chats=(), creator_id: str = CREATOR) -> None:
    """One sync's raw batches, as the raw assets write them."""
    opts = {"fetched_at": fetched_at, "sync_mode": "test"}
    lake.write_raw_batch("fans", creator_id, list(fans), **opts)
    lake.write_raw_batch("transactions", creator_id, list(transactions), **opts)
    lake.write_raw_batch("chargebacks", creator_id, list(chargebacks), **opts)
    lake.write_raw_batch("chats", creator_id, list(chats), **opts)
    lake.write_raw_batch("messages", creator_id, [m for _, m in messages], **opts,
                         extra={"chat_fan_id": [f for f, _ in messages]})
    lake.write_raw_batch("vault_media", creator_id, [], **opts)


def build(lake: Lake, as_of: datetime, *, creator_id: str = CREATOR, run_id: str = "run1",
          skip: tuple[str, ...] = ()):
    """Every staging, money, lifecycle and profile model of the creator, in the registry's build
    order, as the assets run them (the lifecycle log through the library function its asset
    calls), less the models in `skip`; returns what the evaluation appended to the lifecycle
    log."""
    recorded = None
    # Staging as its step builds it; a model by model build only when a staging table is left out.
    merged = not any(k.startswith("staging/") for k in skip)
    if merged:
        stage(lake, creator_id)
    for model in registry.in_build_order(k for k in BUILT if k not in skip):
        if model.layer == "staging" and merged:
            continue
        if model.key == LOG_KEY:
            recorded = record_events(lake, creator_id, as_of=as_of, run_id=run_id)
            continue
        build_model(lake, model.key, as_of=as_of, creator_id=creator_id, run_id=run_id)
    return recorded


def stage(lake: Lake, creator_id: str = CREATOR, *, full: bool = False) -> dict[str, Staged]:
    """Every staging table of the creator, the rejects first, as the staging step builds them:
    merging the batches written since the last call (`full`: rebuilt from all of raw)."""
    remove_leftovers(lake, creator_id)
    with lake.session(creator_id) as con:
        merge = StagingMerge(lake, con, creator_id)
        return {m.table: merge.build(m.table, full=full) for m in registry.models(layer="staging")}


def build_model(lake: Lake, key: str, *, as_of: datetime | None = None,
                creator_id: str = CREATOR, run_id: str = "run1", prepare=None) -> Path:
    """One SQL model of the registry run as its asset runs it (`prepare(session)` first: session
    variables; staging as of nothing, in no run); the file written."""
    path = lake.model_path(key, creator_id, run_id)
    staging = key.startswith("staging/")
    with lake.session(creator_id, as_of=None if staging else as_of,
                      run_id=None if staging else run_id) as con:
        if prepare is not None:
            prepare(con)
        lake.write_model(con, key, path)
    return path


def parquet_dicts(path, *, where: str = "true", order: str = "1") -> list[dict]:
    """The rows of a Parquet file as dicts, filtered and ordered by SQL expressions."""
    return select_dicts(f"SELECT * FROM read_parquet('{path}')", where=where, order=order)


def staged_dicts(lake: Lake, table: str, creator_id: str = CREATOR, *, where: str = "true",
                 order: str = "1") -> list[dict]:
    """The rows of a staging table (its base with its merged changes) as dicts."""
    return select_dicts(lake.staged_select(table, creator_id), where=where, order=order)


def select_dicts(select: str, *, where: str, order: str) -> list[dict]:
    con = duckdb.connect()
    try:
        rel = con.sql(f"SELECT * FROM ({select}) WHERE {where} ORDER BY {order}")
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def profile(lake: Lake, run_id: str = "run1", creator_id: str = CREATOR) -> dict[int, dict]:
    """fan_profile rows by fan id."""
    rows = parquet_dicts(lake.mart_path("fan_profile", creator_id, run_id))
    return {row["fan_id"]: row for row in rows}
