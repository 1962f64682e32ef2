"""Raw assets per creator: fans, transactions, chargebacks, chats, messages, vault media.

Each sync appends one batch file per table (possibly empty) holding every item as received,
unknown fields included. Incremental by default: transactions and chargebacks re-read from
`transaction_lookback_hours` before the newest one already held, and a chat's messages are
fetched only when its last message is newer than what raw already holds. Once every
`deep_reread_every_hours` the transactions are re-read from `deep_reread_days` before the newest
one held (sync mode `deep`): a refund changes only an old purchase's status, which the lookback
alone never re-reads. The fan list is read whole (sync mode `snapshot`) once every
`fans_whole_read_every_hours`; syncs in between read only the fans who subscribed since the
newest subscription held, less the same lookback (sync mode `latest`). Chats and vault media are
read whole every time. Tag a run `ofhq/full_history=true` (or run `ofhq sync --full`) to re-read
everything; staging deduplicates, so both give the same marts.
"""


import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from ofhq_pipeline.defs.models import asset_key, spec
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.lake import Lake, quote, raw_select
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.source.client import OfapiClient


def flatten(pages: Iterable[list[dict]]) -> list[dict]:
    return [item for page in pages for item in page]


def fetch_metadata(
    client: OfapiClient, rows: int, sync_mode: str, started: float, **extra
) -> dict:
    """What a data engineer wants to see about one fetch; never the key."""
    limits = client.rate_limits
    return {
        "dagster/row_count": rows,
        "sync_mode": sync_mode,
        "fetch_seconds": round(time.perf_counter() - started, 3),
        "requests": client.requests_made,
        "retries": client.retries,
        "rate_limit_remaining_minute": limits.remaining_minute,
        "rate_limit_remaining_day": limits.remaining_day,
        "credits_balance": limits.credits_balance,
        "unknown_fields": dg.MetadataValue.json(
            {kind: sorted(names) for kind, names in client.unknown_fields.items()}
        ),
        **extra,
    }


# A raw table's read: (context, ofapi, lake, sync) → its materialization.
Feed = Callable[..., dg.MaterializeResult]


def snapshot_read(table: str, fetch) -> Feed:
    """A raw feed re-read whole on every sync (the API offers no change filter for it)."""

    def read(context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource,
             sync: SyncSettings) -> dg.MaterializeResult:
        creator_id = context.partition_key
        fetched_at, started = datetime.now(UTC), time.perf_counter()
        with ofapi.client() as client:
            items = flatten(fetch(client, creator_id))
            meta = fetch_metadata(client, len(items), "snapshot", started)
        path = lake.lake().write_raw_batch(
            table, creator_id, items, fetched_at=fetched_at, sync_mode="snapshot"
        )
        return dg.MaterializeResult(metadata={**meta, "path": dg.MetadataValue.path(str(path))})

    return read


# The newest raw fans batch read whole is when the fan list was last read whole.
LAST_WHOLE_FANS_READ = "CASE WHEN sync_mode = 'snapshot' THEN fetched_at END"
# When a fan first subscribed, as the API states it: a latest read is measured on the source's
# own clock, as the transactions window is. TRY_CAST: a malformed date is staging's to set aside
# and report, never a reason to stop reading the creator's fans.
SUBSCRIBED_AT = "TRY_CAST(payload ->> '$.subscribedOnData.subscribeAt' AS TIMESTAMPTZ)"


@dataclass(frozen=True)
class FansRead:
    """How a sync reads the fan list: whole (`snapshot`) or from `start` on (`latest`), and why."""

    sync_mode: str
    reason: str
    start: datetime | None = None
    last_whole_read: datetime | None = None


def fans_read(
    context: dg.AssetExecutionContext, store: Lake, sync: SyncSettings, now: datetime
) -> FansRead:
    """Whole on a full-history run, before any whole read, and once the last whole read is
    `fans_whole_read_every_hours` old: only a whole read sees a known fan's record change (his
    status, renewals, totals). Otherwise latest fans, from the newest subscription raw holds
    less `transaction_lookback_hours`: the overlap absorbs skew between the API's clock and
    ours and subscriptions the API lists late; a fan read twice is one more sighting."""
    creator_id = context.partition_key
    if sync.full_history(context):
        return FansRead("snapshot", "full_history_run")
    last_whole = store.raw_max("fans", creator_id, LAST_WHOLE_FANS_READ)
    if last_whole is None:
        return FansRead("snapshot", "no_whole_read_yet")
    if now - last_whole >= timedelta(hours=sync.fans_whole_read_every_hours):
        return FansRead("snapshot", "whole_read_due", last_whole_read=last_whole)
    newest = store.raw_max("fans", creator_id, SUBSCRIBED_AT)
    if newest is None:  # no fan, or none with a readable date: nothing to measure from
        return FansRead("snapshot", "no_subscription_date_held", last_whole_read=last_whole)
    start = newest - sync.lookback
    if start >= now:  # the API's dates run a lookback ahead of our clock: no window to trust
        return FansRead("snapshot", "api_clock_ahead", last_whole_read=last_whole)
    return FansRead("latest", "whole_read_recent", start, last_whole)


def read_fans(client: OfapiClient, creator_id: str, read: FansRead, now: datetime) -> list[dict]:
    if read.start is None:
        return flatten(client.fans(creator_id))
    return flatten(client.latest_fans(creator_id, read.start, now))


def fans_read_metadata(read: FansRead) -> dict:
    """Why the fan list was read as it was, and from when."""
    meta: dict = {"sync_reason": read.reason}
    if read.start is not None:
        meta["start_date"] = dg.MetadataValue.timestamp(read.start)
    if read.last_whole_read is not None:
        meta["previous_whole_read_at"] = dg.MetadataValue.timestamp(read.last_whole_read)
    return meta


def raw_fans(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    creator_id = context.partition_key
    fetched_at = datetime.now(UTC)
    read = fans_read(context, store, sync, fetched_at)
    started = time.perf_counter()
    with ofapi.client() as client:
        items = read_fans(client, creator_id, read, fetched_at)
        meta = fetch_metadata(
            client, len(items), read.sync_mode, started, **fans_read_metadata(read)
        )
    path = store.write_raw_batch(
        "fans", creator_id, items, fetched_at=fetched_at, sync_mode=read.sync_mode
    )
    return dg.MaterializeResult(metadata={**meta, "path": dg.MetadataValue.path(str(path))})


raw_chats = snapshot_read("chats", lambda client, creator_id: client.chats(creator_id))
raw_vault_media = snapshot_read(
    "vault_media", lambda client, creator_id: client.vault_media(creator_id))


# When each kind of record happened, as the API states it: the incremental window is measured
# on the source's own clock, never ours, so clock skew cannot open a gap.
CREATED_AT = {
    "transactions": "CAST(coalesce(payload ->> '$.createdAt', payload ->> '$.created_at') "
    "AS TIMESTAMPTZ)",
    "chargebacks": "CAST(payload ->> '$.createdAt' AS TIMESTAMPTZ)",
}


def newest_held(
    context: dg.AssetExecutionContext, store: Lake, table: str, sync: SyncSettings
) -> datetime | None:
    """The newest record raw holds; None before any, and on a run tagged to read all history."""
    if sync.full_history(context):
        return None
    return store.raw_max(table, context.partition_key, CREATED_AT[table])


def window_start(
    context: dg.AssetExecutionContext, store: Lake, table: str, sync: SyncSettings
) -> tuple[datetime, str]:
    """Where a read starts: the newest record raw holds minus the lookback, or all history."""
    newest = newest_held(context, store, table, sync)
    if newest is None:
        return sync.history_start_at, "full"
    return newest - sync.lookback, "incremental"


# A raw batch records how it was read; a deep or full read of the transactions re-read every
# purchase of the deep window, so the newest such batch is when the last deep re-read happened.
LAST_DEEP_READ = "CASE WHEN sync_mode IN ('deep', 'full') THEN fetched_at END"


def transactions_window(
    context: dg.AssetExecutionContext, store: Lake, sync: SyncSettings, now: datetime
) -> tuple[datetime, str, datetime | None]:
    """Where the transactions read starts, its sync mode, and the last deep re-read before it.

    An incremental read goes `deep` (from the newest transaction held minus `deep_reread_days`)
    once the last deep or full read is `deep_reread_every_hours` old: a refund shows only as an
    old purchase's status changing, and the lookback never re-reads a purchase that old.
    """
    newest = newest_held(context, store, "transactions", sync)
    if newest is None:
        return sync.history_start_at, "full", None
    last_deep = store.raw_max("transactions", context.partition_key, LAST_DEEP_READ)
    if sync.deep_reread_due(last_deep, now):
        return newest - max(sync.lookback, sync.deep_reread), "deep", last_deep
    return newest - sync.lookback, "incremental", last_deep


def raw_transactions(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    fetched_at = datetime.now(UTC)
    start, mode, last_deep = transactions_window(context, store, sync, fetched_at)
    previous = ({"previous_deep_reread_at": dg.MetadataValue.timestamp(last_deep)}
                if last_deep else {})
    started = time.perf_counter()
    with ofapi.client() as client:
        items = flatten(client.transactions(context.partition_key, start))
        meta = fetch_metadata(
            client, len(items), mode, started, start_date=dg.MetadataValue.timestamp(start), **previous
        )
    store.write_raw_batch(
        "transactions", context.partition_key, items, fetched_at=fetched_at, sync_mode=mode
    )
    return dg.MaterializeResult(metadata=meta)


def raw_chargebacks(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    start, mode = window_start(context, store, "chargebacks", sync)
    fetched_at, started = datetime.now(UTC), time.perf_counter()
    with ofapi.client() as client:
        items = flatten(client.chargebacks(context.partition_key, start, fetched_at))
        meta = fetch_metadata(client, len(items), mode, started,
                              start_date=dg.MetadataValue.timestamp(start))
    store.write_raw_batch(
        "chargebacks", context.partition_key, items, fetched_at=fetched_at, sync_mode=mode
    )
    return dg.MaterializeResult(metadata=meta)


def known_message_ids(store: Lake, creator_id: str) -> dict[int, int]:
    """Per chat, the newest message id raw already holds (the message-id cursor)."""
    files = store.raw_files("messages", creator_id)  # compacted months and batches
    if not files:
        return {}
    con = store.connect()
    try:
        rows = con.execute(
            "SELECT chat_fan_id, max(CAST(payload ->> '$.id' AS BIGINT)) "
            f"FROM ({raw_select('messages', files)}) GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def latest_chats(store: Lake, creator_id: str) -> list[tuple[int, int | None]]:
    """(fan id, last message id) of every chat in the newest raw chats batch (compaction
    always leaves the newest batch of a table as it is)."""
    batches = store.raw_batches("chats", creator_id)
    if not batches:
        return []
    con = store.connect()
    try:
        return con.execute(
            "SELECT CAST(payload ->> '$.fan.id' AS BIGINT), "
            "CAST(payload ->> '$.lastMessage.id' AS BIGINT) "
            f"FROM read_parquet({quote(batches[-1])})"
        ).fetchall()
    finally:
        con.close()


def new_messages(
    client: OfapiClient, creator_id: str, chats: list[tuple[int, int | None]], known: dict[int, int]
) -> Iterator[tuple[int, dict]]:
    """(chat fan id, message) for every message newer than what is known, chat by chat."""
    for fan_id, last_message_id in chats:
        cursor = known.get(fan_id)
        if cursor is not None and last_message_id is not None and last_message_id <= cursor:
            continue  # nothing new in this chat: no request at all
        for page in client.messages(creator_id, fan_id, newer_than=cursor):
            for message in page:
                yield fan_id, message


def raw_messages(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource, sync: SyncSettings
) -> dg.MaterializeResult:
    store = lake.lake()
    creator_id = context.partition_key
    full = sync.full_history(context)
    known = {} if full else known_message_ids(store, creator_id)
    mode = "incremental" if known else "full"
    chats = latest_chats(store, creator_id)
    fetched_at, started = datetime.now(UTC), time.perf_counter()
    with ofapi.client() as client:
        pairs = list(new_messages(client, creator_id, chats, known))
        meta = fetch_metadata(client, len(pairs), mode, started, chats=len(chats))
    store.write_raw_batch(
        "messages",
        creator_id,
        [message for _, message in pairs],
        fetched_at=fetched_at,
        sync_mode=mode,
        extra={"chat_fan_id": [fan_id for fan_id, _ in pairs]},
    )
    return dg.MaterializeResult(metadata=meta)


# Each raw table's read, in the order a sync runs them (the messages read starts from the newest
# chats batch), with what the UI says of it.
FEEDS: dict[str, tuple[Feed, str]] = {
    "raw/fans": (
        raw_fans,
        "The creator's fans, as received. Whole from GET /api/{account_id}/fans/all (sync mode "
        "`snapshot`) on a first or full-history sync and once every "
        "`fans_whole_read_every_hours` (24 h by default); in between, only the fans who "
        "subscribed since the newest subscription held minus the lookback (24 h by default), "
        "from GET /fans/latest (sync mode `latest`)."),
    "raw/transactions": (
        raw_transactions,
        "The creator's transactions from GET /transactions (newest first, marker paging), as "
        "received: from history_start on a full sync, else from the newest transaction already "
        "held minus the lookback (24 h by default), and once a day (sync mode `deep`) minus 35 "
        "days, so that refunds of older purchases are seen."),
    "raw/chargebacks": (
        raw_chargebacks,
        "Chargebacks from GET /chargebacks, as received; some are visible only here."),
    "raw/chats": (
        raw_chats,
        "Every chat of the creator (fan, last message, unread count) from GET /chats, as "
        "received, re-read whole on every sync."),
    "raw/messages": (
        raw_messages,
        "Chat messages from GET /chats/{fan_id}/messages, as received, with the chat's fan id. "
        "Incremental by message-id cursor per chat: unchanged chats cost no request."),
    "raw/vault_media": (
        raw_vault_media,
        "The creator's vault media from GET /media/vault, as received, re-read whole on every "
        "sync."),
}


@dg.multi_asset(
    name="raw_feeds",
    specs=[spec(key, description=description) for key, (_, description) in FEEDS.items()],
    partitions_def=creator_partitions,
    can_subset=True,
    description="Reads the creator's API feeds into raw, one batch per table (one step: a sync "
    "pays Dagster's bookkeeping once for all of them).",
)
def raw_feeds(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource, sync: SyncSettings
) -> Iterator[dg.MaterializeResult]:
    for key, (read, _) in FEEDS.items():
        if asset_key(key) in context.selected_asset_keys:
            result = read(context, ofapi, lake, sync)
            yield dg.MaterializeResult(asset_key=asset_key(key), metadata=result.metadata)


raw_assets = [raw_feeds]
