"""The OnlyFans API simulator: the source contract's REST endpoints over a generated agency.

Only what happened at or before the simulator's clock is visible, so moving the clock forward
(`SimulatorServer.set_clock` or `POST /_sim/clock`) plays time forward for incremental syncs.
Frames are partitioned per creator and sorted once, when the app is created; a request then only
binary-searches numpy arrays and renders the rows of its page.

Quirks of the real API, on request: short pages (fewer items than `limit` while `hasMore` is
true), a 429 every Nth request with `Retry-After: 0`, and a bearer key. Mass messaging (the only
API state a request changes) lives in `mass_messaging.py`; this module only routes to it.
"""

from __future__ import annotations

import inspect
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import polars as pl
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ofhq_pipeline.source.simulator.agency import PERIOD, Agency

FANS_MAX_LIMIT = 20
MAX_LIMIT = 100
DEFAULT_WINDOW = timedelta(days=30)  # /transactions without startDate
LIMIT_MINUTE, LIMIT_DAY, CREDITS = 1_000, 1_000_000, 10_000_000
NEVER = np.iinfo(np.int64).max
SUCCEEDED = ("done", "succeeded", "completed")
# Type codes as the contract derives them from a description (see description_type).
TIP, MESSAGE, POST, STREAM, OTHER, SUBSCRIPTION = range(6)
SUMM_FIELDS = {TIP: "tipsSumm", MESSAGE: "messagesSumm", POST: "postsSumm", STREAM: "streamsSumm",
               SUBSCRIPTION: "subscribesSumm"}
CHARGEBACK_SPELLINGS = ("chargeback",) * 8 + ("chargedback", "disputed")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _epoch_us(frame: pl.DataFrame, column: str, null: int = NEVER) -> np.ndarray:
    return frame[column].dt.epoch("us").fill_null(null).to_numpy().astype(np.int64)


def parse_instant(text: str) -> datetime:
    """ISO-8601 (a trailing Z, a date alone, or no offset meaning UTC) or epoch seconds."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    if "T" in text and " " in text:  # an unencoded "+" in a query string arrives as a space
        text = text.replace(" ", "+")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _short(limit: int, key: int) -> int:
    """Deterministically, about one page in four holds fewer items than asked (at least one)."""
    if limit <= 1:
        return limit
    mixed = (key * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
    return 1 + (mixed >> 8) % (limit - 1) if mixed % 4 == 0 else limit


_TAG = re.compile(r"<[^>]*>")


def description_type(description: str) -> int:
    """The contract's type of a transaction, from its HTML-stripped description."""
    text = _TAG.sub("", description).lower()
    if text.startswith("tip from"):
        return TIP
    for needle, code in (("payment for message", MESSAGE), ("subscription", SUBSCRIPTION),
                         ("payment for post", POST), ("stream", STREAM)):
        if needle in text:
            return code
    return OTHER


# ---------------------------------------------------------------------------------------------
# Per-creator indexes, built once


@dataclass
class _Money:
    """One creator's transactions by (fan, time), for the fan record's running totals."""

    fan: np.ndarray
    created: np.ndarray
    amount: np.ndarray
    succeeded: np.ndarray
    chargeback: np.ndarray  # when the API starts showing it as a chargeback; NEVER if not
    row: np.ndarray  # in the creator's transactions frame (for the description)

    def of_fan(self, fan_id: int) -> slice:
        lo = int(np.searchsorted(self.fan, fan_id, "left"))
        return slice(lo, int(np.searchsorted(self.fan, fan_id, "right")))


@dataclass
class _Creator:
    account: dict
    fans: pl.DataFrame  # by (first subscription, id)
    fan_first: np.ndarray
    fan_last_seen: np.ndarray
    fan_index_ids: np.ndarray  # sorted fan ids ...
    fan_index_rows: np.ndarray  # ... and their rows in `fans`
    tx: pl.DataFrame  # oldest first; served newest first (position p is row len - 1 - p)
    tx_created: np.ndarray
    tx_shown_chargeback: np.ndarray  # when /transactions starts saying chargeback; NEVER if not
    money: _Money
    fan_msg_fan: np.ndarray  # the fans' own messages by (fan, time): for last activity
    fan_msg_created: np.ndarray
    msgs: pl.DataFrame  # by (chat, id)
    msg_id: np.ndarray
    msg_created: np.ndarray
    msg_from_fan: np.ndarray
    chat_fan: np.ndarray  # one per chat, ascending, with its rows [start, end) in msgs
    chat_start: np.ndarray
    chat_end: np.ndarray
    chargebacks: pl.DataFrame  # by createdAt, with the payment's fields
    cb_created: np.ndarray
    vault: pl.DataFrame  # by createdAt
    vault_created: np.ndarray


def _split(frame: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Rows per creator, and an empty frame of the same schema for creators without any."""
    parts = {key[0]: part for key, part in frame.partition_by("creator_id", as_dict=True).items()}
    return parts, frame.clear()


def _split_by_time(frame: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Rows per creator in time order: zero-copy slices when already sorted so (the generator's)."""
    creator, created = frame["creator_id"], frame["created_at"]
    in_order = creator.is_sorted() and not (
        (creator == creator.shift(1)) & (created < created.shift(1))).any()
    if not in_order:
        frame = frame.sort("creator_id", "created_at", maintain_order=True)
    runs = frame.group_by("creator_id", maintain_order=True).len()
    parts, offset = {}, 0
    for creator_id, length in runs.iter_rows():
        parts[creator_id] = frame.slice(offset, length)
        offset += length
    return parts, frame.clear()


def _index(agency: Agency) -> dict[str, _Creator]:
    fans = _split(agency.fans.with_columns(
        pl.col("subscribes").list.first().struct.field("date").alias("_first")))
    tx = _split_by_time(agency.transactions)
    # Chargebacks carry their payment: join the (few) charged-back transactions only.
    payments = agency.transactions.filter(pl.col("chargeback_at").is_not_null())
    if not agency.chargebacks["transaction_id"].is_in(payments["id"].implode()).all():
        payments = agency.transactions
    cbs = _split(agency.chargebacks.join(
        payments.drop("chargeback_at", "chargeback_hidden").rename({"id": "transaction_id", "created_at": "_paid_at"}),
        on=["creator_id", "transaction_id"], how="left"))
    msgs = _split(agency.messages)
    vault = _split(agency.vault_media)

    def part(split: tuple[dict[str, pl.DataFrame], pl.DataFrame], cid: str) -> pl.DataFrame:
        return split[0].get(cid, split[1])

    return {
        account["id"]: _creator(
            {k: account[k] for k in ("id", "username", "name", "is_authenticated")},
            part(fans, account["id"]), part(tx, account["id"]), part(cbs, account["id"]),
            part(msgs, account["id"]), part(vault, account["id"]),
        )
        for account in agency.accounts.iter_rows(named=True)
    }


def _creator(account: dict, fans: pl.DataFrame, tx: pl.DataFrame, cbs: pl.DataFrame,
             msgs: pl.DataFrame, vault: pl.DataFrame) -> _Creator:
    fans = fans.sort("_first", "id")
    by_id = np.argsort(fans["id"].to_numpy(), kind="stable")
    tx_created = _epoch_us(tx, "created_at")
    shown = np.where(tx["chargeback_hidden"].to_numpy(), NEVER, _epoch_us(tx, "chargeback_at"))
    tx_fan = tx["fan_id"].to_numpy()
    by_fan = np.argsort(tx_fan, kind="stable")  # stable: each fan's transactions stay in time order
    msgs = msgs.sort("fan_id", "id")
    msg_fan = msgs["fan_id"].to_numpy()
    chat_fan, chat_start = np.unique(msg_fan, return_index=True)
    from_fan = (msgs["from_user_id"] == msgs["fan_id"]).to_numpy()
    own = np.flatnonzero(from_fan)  # ids grow with time: already by (fan, time)
    cbs = cbs.sort("created_at", "id")
    vault = vault.sort("created_at", "id")
    return _Creator(
        account=account,
        fans=fans,
        fan_first=_epoch_us(fans, "_first"),
        fan_last_seen=_epoch_us(fans, "last_seen"),
        fan_index_ids=fans["id"].to_numpy()[by_id],
        fan_index_rows=by_id,
        tx=tx,
        tx_created=tx_created,
        tx_shown_chargeback=shown,
        money=_Money(
            fan=tx_fan[by_fan], created=tx_created[by_fan], amount=tx["amount"].to_numpy()[by_fan],
            succeeded=tx["status"].is_in(SUCCEEDED).to_numpy()[by_fan], chargeback=shown[by_fan], row=by_fan,
        ),
        fan_msg_fan=msg_fan[own],
        fan_msg_created=_epoch_us(msgs, "created_at")[own],
        msgs=msgs,
        msg_id=msgs["id"].to_numpy(),
        msg_created=_epoch_us(msgs, "created_at"),
        msg_from_fan=from_fan,
        chat_fan=chat_fan,
        chat_start=chat_start.astype(np.int64),
        chat_end=np.append(chat_start[1:], msg_fan.size).astype(np.int64),
        chargebacks=cbs,
        cb_created=_epoch_us(cbs, "created_at"),
        vault=vault,
        vault_created=_epoch_us(vault, "created_at"),
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def _user(fan_id: int, username: str, name: str) -> dict:
    return {"id": fan_id, "username": username, "name": name}


def _transaction(row: dict, status: str) -> dict:
    """A transaction in the field names of its variant (0 canonical, 1-3 the known alternatives)."""
    variant = row["variant"]
    out: dict[str, Any] = {"id": row["id"], "amount": row["amount"]}
    if variant == 2:
        out |= {"net_amount": row["net"], "fee_amount": row["fee"]}
    else:
        out |= {"net": row["net"], "fee": row["fee"]}
    out |= {"vatAmount": row["vat_amount"], "currency": row["currency"], "description": row["description"],
            "status": status, ("created_at" if variant == 1 else "createdAt"): _iso(row["created_at"])}
    out["fan" if variant == 3 else "user"] = _user(row["fan_id"], row["fan_username"], row["fan_name"])
    return out


def _message(row: dict) -> dict:
    media = [{"id": item["id"], "type": item["type"]} for item in row["media"]]
    return {
        "id": row["id"], "text": row["text"], "price": row["price"], "isFree": row["is_free"],
        "isTip": row["is_tip"], "mediaCount": len(media), "media": media,
        "fromUser": {"id": row["from_user_id"]}, "createdAt": _iso(row["created_at"]),
        "queueId": row["queue_id"],
    }


def _vault_item(row: dict) -> dict:
    return {"id": row["id"], "type": row["type"], "createdAt": _iso(row["created_at"]),
            "duration": row["duration"],
            "counters": {"likesCount": row["likes_count"], "tipsSumm": row["tips_summ"]}}


# ---------------------------------------------------------------------------------------------
# The simulator: state, gatekeeping and endpoints


class Simulator:
    """What the HTTP app serves; kept on `app.state.sim`."""

    def __init__(self, agency: Agency, *, clock: datetime | None = None, api_key: str | None = None,
                 short_pages: bool = True, throttle_every: int = 0, retry_after: int = 1,
                 mass_message_max_users: int = 1_000, mass_messages_per_minute: int = 0,
                 mass_message_restricted_share: float = 0.01) -> None:
        # Imported here: mass messaging builds on this module (HttpError, parse_instant).
        from ofhq_pipeline.source.simulator.mass_messaging import MassMessaging

        self.agency = agency
        self.creators = _index(agency)
        self.api_key = api_key
        self.short_pages = short_pages
        self.throttle_every = max(0, int(throttle_every))
        self.retry_after = retry_after
        self.clock_us = _us(clock or agency.end)
        self.now = self.clock_us  # the clock as of the request being served (set per request)
        self.counts: Counter[str] = Counter()
        self.requests = 0  # API requests that passed the key check (the throttle counts these)
        self.throttled = 0
        self.unauthorized = 0
        self.served = 0
        self._minute = (int(time.monotonic() // 60), 0)
        self._chats: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.mass_messaging = MassMessaging(
            self, max_users=mass_message_max_users, per_minute=mass_messages_per_minute,
            restricted_share=mass_message_restricted_share)

    # -- clock and stats

    @property
    def clock(self) -> datetime:
        return _from_us(self.clock_us)

    def set_clock(self, now: datetime) -> None:
        self.clock_us = _us(now)

    def stats(self) -> dict:
        return {"requests": dict(self.counts), "total": sum(self.counts.values()), "throttled": self.throttled,
                "unauthorized": self.unauthorized, "clock": _iso(self.clock)}

    # -- envelope

    def gate(self, request: Request) -> Response | None:
        """The key check, then the throttle: a response that ends the request, or None."""
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            self.unauthorized += 1
            return JSONResponse({"error": "Unauthorized: missing or invalid API key"}, status_code=401)
        self.requests += 1
        if self.throttle_every and self.requests % self.throttle_every == 0:
            self.throttled += 1
            return JSONResponse({"error": "Too many requests", "retry_after": self.retry_after},
                                status_code=429, headers={"Retry-After": "0"})
        return None

    def ok(self, data: Any, **extra: Any) -> JSONResponse:
        self.served += 1
        minute, count = self._minute
        now = int(time.monotonic() // 60)
        self._minute = (now, count + 1 if now == minute else 1)
        meta = {
            "_rate_limits": {"limit_minute": LIMIT_MINUTE, "limit_day": LIMIT_DAY,
                             "remaining_minute": max(0, LIMIT_MINUTE - self._minute[1]),
                             "remaining_day": max(0, LIMIT_DAY - self.served)},
            "_credits": {"used": self.served, "balance": max(0, CREDITS - self.served)},
        }
        return JSONResponse({"data": data, **extra, "_meta": meta})

    def creator(self, request: Request) -> _Creator:
        account_id = request.path_params["account_id"]
        if account_id not in self.creators:
            raise HttpError(404, f"Account {account_id} not found")
        return self.creators[account_id]

    def page_size(self, limit: int, key: int) -> int:
        return _short(limit, key) if self.short_pages else limit

    # -- endpoints

    def accounts(self, request: Request) -> Response:
        return self.ok([c.account for c in self.creators.values()])

    def fans(self, request: Request) -> Response:
        c = self.creator(request)
        visible = int(np.searchsorted(c.fan_first, self.now, "right"))
        return self._fan_page(request, c, 0, visible)

    def latest_fans(self, request: Request) -> Response:
        """Fans whose first subscription lies within [start_date, end_date] (both required), in
        the order and paging of fans/all: offset within the range, `_pagination.next_page`. (The
        real API lists newest first; a closed range pages alike in either order.)"""
        c = self.creator(request)
        start, end = _required_time_param(request, "start_date"), _required_time_param(request, "end_date")
        if end < start:
            raise HttpError(400, "end_date must not be before start_date")
        first = int(np.searchsorted(c.fan_first, _us(start), "left"))
        stop = int(np.searchsorted(c.fan_first, min(self.now, _us(end)), "right"))
        return self._fan_page(request, c, first, max(first, stop))

    def _fan_page(self, request: Request, c: _Creator, first: int, stop: int) -> Response:
        """One page of the fans in rows [first, stop) of `c.fans`; `offset` counts from `first`."""
        limit = _int_param(request, "limit", FANS_MAX_LIMIT, 1)
        if limit > FANS_MAX_LIMIT:
            raise HttpError(400, f"limit must be at most {FANS_MAX_LIMIT}")
        offset = _int_param(request, "offset", 0, 0)
        begin = min(stop, first + offset)
        end = min(stop, begin + self.page_size(limit, offset))
        rows = c.fans.slice(begin, end - begin).to_dicts()
        items = [self._fan(c, row, begin + i) for i, row in enumerate(rows)]
        more = end < stop
        next_page = (str(request.url.include_query_params(offset=end - first, limit=limit))
                     if more else None)
        return self.ok({"list": items, "hasMore": more}, _pagination={"next_page": next_page})

    def _fan(self, c: _Creator, row: dict, position: int) -> dict:
        clock = self.now
        subs = [s for s in row["subscribes"] if _us(s["date"]) <= clock]
        last = subs[-1]
        expires = last["date"] + timedelta(seconds=PERIOD)
        active = clock < _us(expires)
        renewals = [s["date"] for s in subs if s["action"] == "renew"]
        trial = last["type"] == "trial"  # after a trial, the next period costs the regular price
        money = c.money
        span = money.of_fan(row["id"])
        seen = money.created[span] <= clock
        ok = seen & money.succeeded[span] & (money.chargeback[span] > clock)
        rows = money.row[span][ok]
        types = [description_type(d) for d in c.tx["description"].gather(rows).to_list()] if rows.size else []
        by_type = np.bincount(np.array(types, dtype=np.int64), weights=money.amount[span][ok], minlength=6)
        summ = {name: round(float(by_type[code]), 2) for code, name in SUMM_FIELDS.items()}
        last_seen = self._last_seen(c, row, position, subs, money.created[span][seen])
        return {
            "id": row["id"], "username": row["username"], "name": row["name"], "lastSeen": _iso(last_seen),
            "subscribedOnData": {
                "status": "active" if active else "expired",
                "subscribeAt": _iso(subs[0]["date"]),
                "expiredAt": _iso(expires),
                "renewedAt": _iso(renewals[-1]) if renewals else None,
                "lastActivity": _iso(last_seen),
                "subscribePrice": last["regularPrice"] if trial else last["price"],
                "regularPrice": last["regularPrice"],
                "discountPercent": 0 if trial else last["discount"],
                "totalSumm": round(float(by_type.sum()), 2),
                **summ,
                "subscribes": [
                    {"action": s["action"], "date": _iso(s["date"]), "price": s["price"],
                     "regularPrice": s["regularPrice"], "discount": s["discount"], "type": s["type"],
                     "isCurrent": active and i == len(subs) - 1}
                    for i, s in enumerate(subs)
                ],
            },
        }

    def _last_seen(self, c: _Creator, row: dict, position: int, subs: list[dict],
                   paid_at: np.ndarray) -> datetime:
        """The fan's last sighting at the clock: the recorded one once the clock has passed it."""
        if c.fan_last_seen[position] <= self.now:
            return row["last_seen"]
        lo = int(np.searchsorted(c.fan_msg_fan, row["id"], "left"))
        hi = int(np.searchsorted(c.fan_msg_fan, row["id"], "right"))
        said = c.fan_msg_created[lo:hi]
        said = said[said <= self.now]
        latest = max([_us(subs[-1]["date"])] + ([int(paid_at.max())] if paid_at.size else [])
                     + ([int(said.max())] if said.size else []))
        return _from_us(latest)

    def transactions(self, request: Request) -> Response:
        c = self.creator(request)
        limit = min(_int_param(request, "limit", MAX_LIMIT, 1), MAX_LIMIT)
        start = _time_param(request, "startDate")
        start_us = _us(start) if start else self.now - DEFAULT_WINDOW // timedelta(microseconds=1)
        # Positions count from the newest transaction: p is row n - 1 - p of the time-ordered frame.
        n = c.tx_created.size
        first = n - int(np.searchsorted(c.tx_created, self.now, "right"))  # newest visible
        stop = n - int(np.searchsorted(c.tx_created, start_us, "left"))  # past the oldest wanted
        marker = _int_param(request, "marker", None, 0)
        pos = first if marker is None else max(first, marker)
        end = min(stop, pos + self.page_size(limit, pos))
        rows = c.tx.slice(n - end, max(0, end - pos)).to_dicts()[::-1] if end > pos else []
        items = []
        for p, row in enumerate(rows, start=pos):
            charged = c.tx_shown_chargeback[n - 1 - p] <= self.now
            items.append(_transaction(row, CHARGEBACK_SPELLINGS[(n - 1 - p) % 10] if charged else row["status"]))
        more = end < stop
        return self.ok({"list": items, "hasMore": more, "nextMarker": str(end) if more else None})

    def chargebacks(self, request: Request) -> Response:
        c = self.creator(request)
        limit = min(_int_param(request, "limit", MAX_LIMIT, 1), MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0)
        start, end_date = _time_param(request, "start_date"), _time_param(request, "end_date")
        lo = int(np.searchsorted(c.cb_created, _us(start), "left")) if start else 0
        until = min(self.now, _us(end_date)) if end_date else self.now
        hi = int(np.searchsorted(c.cb_created, until, "right"))
        begin = lo + offset
        end = min(hi, begin + self.page_size(limit, offset))
        rows = c.chargebacks.slice(begin, max(0, end - begin)).to_dicts() if begin < hi else []
        items = [{"id": row["id"], "createdAt": _iso(row["created_at"]), "paymentType": row["payment_type"],
                  "payment": _transaction(
                      {**row, "id": row["transaction_id"], "created_at": row["_paid_at"]}, "chargeback")}
                 for row in rows]
        return self.ok({"list": items, "hasMore": end < hi})

    def _chat_order(self, c: _Creator) -> tuple[np.ndarray, np.ndarray]:
        """Chats visible at the clock, most recent first, and the row of each one's last message."""
        key = (c.account["id"], self.now)
        if key not in self._chats:
            if len(self._chats) > 256:
                self._chats.clear()
            visible = c.msg_created <= self.now
            # Messages of a chat are in id (= time) order, so the visible ones are a prefix.
            counts = (np.add.reduceat(visible.astype(np.int64), c.chat_start) if c.chat_start.size
                      else np.empty(0, np.int64))
            chats = np.flatnonzero(counts > 0)
            last = c.chat_start[chats] + counts[chats] - 1
            order = np.argsort(-c.msg_id[last], kind="stable")
            self._chats[key] = (chats[order], last[order])
        return self._chats[key]

    def chats(self, request: Request) -> Response:
        c = self.creator(request)
        limit = min(_int_param(request, "limit", MAX_LIMIT, 1), MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0)
        chats, last = self._chat_order(c)
        end = min(chats.size, offset + self.page_size(limit, offset))
        items = []
        for chat, row in zip(chats[offset:end], last[offset:end], strict=True):
            fan = c.fans.row(int(c.fan_index_rows[np.searchsorted(c.fan_index_ids, c.chat_fan[chat])]), named=True)
            from_fan = c.msg_from_fan[c.chat_start[chat]:row + 1][::-1]
            unread = int(from_fan.size if from_fan.all() else np.argmin(from_fan))
            items.append({"fan": _user(fan["id"], fan["username"], fan["name"]),
                          "lastMessage": _message(c.msgs.row(int(row), named=True)),
                          "unreadMessagesCount": unread})
        return self.ok({"list": items, "hasMore": end < chats.size})

    def messages(self, request: Request) -> Response:
        c = self.creator(request)
        fan_id = _int_param(request, "fan_id", None, 0, source=request.path_params)
        limit = min(_int_param(request, "limit", MAX_LIMIT, 1), MAX_LIMIT)
        order = request.query_params.get("order", "desc")
        if order not in ("desc", "asc"):
            raise HttpError(400, "order must be desc or asc")
        cursor = _int_param(request, "id", None, 0)
        chat = int(np.searchsorted(c.chat_fan, fan_id))
        if chat >= c.chat_fan.size or c.chat_fan[chat] != fan_id:
            return self.ok({"list": [], "hasMore": False})
        lo, hi = int(c.chat_start[chat]), int(c.chat_end[chat])
        hi = lo + int(np.searchsorted(c.msg_created[lo:hi], self.now, "right"))
        size = self.page_size(limit, cursor or 0)
        if order == "desc":
            top = hi if cursor is None else lo + int(np.searchsorted(c.msg_id[lo:hi], cursor, "left"))
            begin = max(lo, top - size)
            rows, more = c.msgs.slice(begin, max(0, top - begin)).to_dicts()[::-1], begin > lo
        else:
            begin = lo if cursor is None else lo + int(np.searchsorted(c.msg_id[lo:hi], cursor, "right"))
            end = min(hi, begin + size)
            rows, more = c.msgs.slice(begin, max(0, end - begin)).to_dicts(), end < hi
        return self.ok({"list": [_message(row) for row in rows], "hasMore": more})

    def vault(self, request: Request) -> Response:
        c = self.creator(request)
        limit = min(_int_param(request, "limit", MAX_LIMIT, 1), MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0)
        visible = int(np.searchsorted(c.vault_created, self.now, "right"))
        end = min(visible, offset + self.page_size(limit, offset))
        rows = c.vault.slice(offset, max(0, end - offset)).to_dicts() if offset < visible else []
        return self.ok({"list": [_vault_item(row) for row in rows], "hasMore": end < visible})


def _int_param(request: Request, name: str, default: int | None, minimum: int,
               source: Any = None) -> int | None:
    raw = (source if source is not None else request.query_params).get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"{name} must be an integer") from None
    if value < minimum:
        raise HttpError(400, f"{name} must be at least {minimum}")
    return value


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError, OSError):  # the last two: outside years 1-9999
        raise HttpError(400, f"{name} must be an ISO-8601 instant") from None


def _required_time_param(request: Request, name: str) -> datetime:
    moment = _time_param(request, name)
    if moment is None:
        raise HttpError(400, f"{name} is required (an ISO-8601 instant)")
    return moment


# ---------------------------------------------------------------------------------------------
# The app


def create_app(agency: Agency, *, clock: datetime | None = None, api_key: str | None = None,
               short_pages: bool = True, throttle_every: int = 0, retry_after: int = 1,
               mass_message_max_users: int = 1_000, mass_messages_per_minute: int = 0,
               mass_message_restricted_share: float = 0.01) -> Starlette:
    """The simulator as an ASGI app; its state is `app.state.sim` (a Simulator)."""
    sim = Simulator(agency, clock=clock, api_key=api_key, short_pages=short_pages,
                    throttle_every=throttle_every, retry_after=retry_after,
                    mass_message_max_users=mass_message_max_users,
                    mass_messages_per_minute=mass_messages_per_minute,
                    mass_message_restricted_share=mass_message_restricted_share)

    def api(name: str, method) -> Any:
        async def endpoint(request: Request) -> Response:
            blocked = sim.gate(request)
            if blocked is not None:
                return blocked
            sim.counts[name] += 1
            sim.now = sim.clock_us  # one instant per request, even if the clock moves meanwhile
            try:
                response = method(request)  # a POST's handler is async: it awaits the body
                return await response if inspect.isawaitable(response) else response
            except HttpError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
        return endpoint

    async def clock_endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                sim.set_clock(parse_instant(str((await request.json())["now"])))
            except (KeyError, TypeError, ValueError, json.JSONDecodeError):
                return JSONResponse({"error": 'expected {"now": "<ISO-8601 instant>"}'}, status_code=400)
        return JSONResponse({"now": _iso(sim.clock)})

    async def stats_endpoint(request: Request) -> Response:
        return JSONResponse(sim.stats())

    mass = sim.mass_messaging
    routes = [
        Route("/api/accounts", api("accounts", sim.accounts)),
        Route("/api/{account_id}/fans/all", api("fans", sim.fans)),
        Route("/api/{account_id}/fans/latest", api("latest_fans", sim.latest_fans)),
        Route("/api/{account_id}/transactions", api("transactions", sim.transactions)),
        Route("/api/{account_id}/chargebacks", api("chargebacks", sim.chargebacks)),
        Route("/api/{account_id}/chats", api("chats", sim.chats)),
        Route("/api/{account_id}/chats/{fan_id}/messages", api("messages", sim.messages)),
        Route("/api/{account_id}/media/vault", api("vault", sim.vault)),
        Route("/api/{account_id}/mass-messaging", api("mass_message_send", mass.send_endpoint),
              methods=["POST"]),
        Route("/api/{account_id}/mass-messaging", api("mass_message_queue", mass.queue_endpoint),
              methods=["GET"]),
        Route("/api/{account_id}/mass-messaging/{queue_id}", api("mass_message", mass.item_endpoint),
              methods=["GET"]),
        Route("/_sim/clock", clock_endpoint, methods=["GET", "POST"]),
        Route("/_sim/stats", stats_endpoint),
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    return app


class SimulatorServer:
    """The simulator on a loopback port, in a daemon thread; a context manager."""

    def __init__(self, agency: Agency, *, host: str = "127.0.0.1", port: int = 0, **app_options: Any) -> None:
        self.app = create_app(agency, **app_options)
        self.sim: Simulator = self.app.state.sim
        self.host, self.port = host, port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        """Returns once the server answers."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"ofapi-simulator-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{self.url}/_sim/stats", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_clock(self, now: datetime) -> None:
        self.sim.set_clock(now)

    @property
    def clock(self) -> datetime:
        return self.sim.clock

    def stats(self) -> dict:
        """Requests served per endpoint name (`requests`), 429s (`throttled`), 401s, the clock."""
        return self.sim.stats()


def serve_forever(agency: Agency, host: str, port: int, **app_options: Any) -> None:
    """Serve until interrupted (the `ofhq simulator serve` command)."""
    config = uvicorn.Config(create_app(agency, **app_options), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    uvicorn.Server(config).run()
