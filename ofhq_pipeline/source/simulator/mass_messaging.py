"""Mass messaging in the simulator: "Send Mass Message", "List Mass Message Queue", "Get Mass Message".

The blast job must be built and tested against the failures that make a send non-idempotent, so
the simulator keeps each creator's queue in memory, refuses what the real API refuses (naming the
field), delivers a queue item lazily when it is read at or after its date, and on request rate-
limits sends or loses an answer to a send it took (`lose_answers`).

Who receives a message is decided per creator from arrays built once: a fan receives it when he
had subscribed by the message's date (expired fans too, as on OnlyFans), unless he is one of the
deterministic few (a hash of account and fan) who restricted the creator.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ofhq_pipeline.source.simulator.server import HttpError, _from_us, _iso, _us, parse_instant

if TYPE_CHECKING:
    from ofhq_pipeline.source.simulator.server import Simulator, _Creator

FIRST_QUEUE_ID = 1_000_001
MAX_TEXT = 10_000
MIN_PRICE, MAX_PRICE = 3, 200
UNSEND_SECONDS = 86_400
MAX_ID = 2**63  # ids are int64 in the simulator's arrays
NOT_A_FAN = "not a fan of this account"
RESTRICTED = "the fan has restricted this account"
# A recipient's status code once delivered: sent, or failed with one of these reasons.
SENT, FAILED_NOT_A_FAN, FAILED_RESTRICTED = 1, 2, 3
REASONS = {FAILED_NOT_A_FAN: NOT_A_FAN, FAILED_RESTRICTED: RESTRICTED}


@dataclass
class _Audience:
    """One creator's fans by id (sorted), when each first subscribed, and who restricted him."""

    ids: np.ndarray
    first_us: np.ndarray
    restricted: np.ndarray

    def statuses(self, fan_ids: np.ndarray, date_us: int) -> np.ndarray:
        """Each recipient's status code for a message dated `date_us` (vectorized)."""
        if self.ids.size == 0:
            return np.full(fan_ids.size, FAILED_NOT_A_FAN, dtype=np.int8)
        at = np.minimum(np.searchsorted(self.ids, fan_ids), self.ids.size - 1)
        fan = (self.ids[at] == fan_ids) & (self.first_us[at] <= date_us)
        return np.where(~fan, FAILED_NOT_A_FAN,
                        np.where(self.restricted[at], FAILED_RESTRICTED, SENT)).astype(np.int8)


def restricted_fans(account_id: str, fan_ids: np.ndarray, share: float) -> np.ndarray:
    """Deterministically about `share` of the fans: a splitmix64 hash of (account, fan) < share."""
    salt = np.uint64(int.from_bytes(hashlib.blake2b(account_id.encode(), digest_size=8).digest()))
    x = fan_ids.astype(np.uint64) ^ salt
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53 < share


@dataclass
class _Send:
    """One queue item: what was asked, and each recipient's status once delivered."""

    id: int
    number: int  # the n-th send the simulator accepted (1-based): what `lose_answers` names
    account_id: str
    date_us: int
    text: str
    price: float
    media: list[int]
    previews: list[int]
    locked_text: bool
    fans: np.ndarray  # int64, in the request's order
    status: np.ndarray | None = None  # a code per recipient once delivered; None while pending
    sent: int = 0

    def item(self, now: int) -> dict:
        total, done = int(self.fans.size), self.status is not None
        failed = total - self.sent if done else 0
        return {
            "id": self.id, "date": _iso(_from_us(self.date_us)), "text": self.text,
            "price": self.price, "isFree": self.price == 0, "mediaFiles": list(self.media),
            "isReady": self.date_us <= now, "isDone": done, "total": total,
            "pending": 0 if done else total, "sentCount": self.sent, "failedCount": failed,
            "canUnsend": True, "unsendSeconds": UNSEND_SECONDS, "hasError": failed > 0,
            "isCanceled": False, "isCouplePeopleMedia": False,
        }

    def recipients(self) -> list[dict]:
        if self.status is None:
            return [{"userId": int(f), "status": "pending", "reason": None} for f in self.fans]
        return [{"userId": int(f), "status": "sent" if s == SENT else "failed", "reason": REASONS.get(int(s))}
                for f, s in zip(self.fans, self.status, strict=True)]


class MassMessaging:
    """Every creator's mass-message queue; `sim.mass_messaging`. Thread-safe (tests read it)."""

    def __init__(self, sim: Simulator, *, max_users: int = 1_000, per_minute: int = 0,
                 restricted_share: float = 0.01) -> None:
        self.sim = sim
        self.max_users = max(1, int(max_users))
        self.per_minute = max(0, int(per_minute))
        self.restricted_share = float(restricted_share)
        self.lose_answers: set[int] = set()  # 1-based numbers of accepted sends answered with a 502
        self.accepted = 0
        # The current wall-clock minute of the send rate limit; tests may replace it.
        self.minute: Callable[[], int] = lambda: int(time.time() // 60)
        self._window = (-1, 0)  # (minute, sends accepted in it)
        queued = sim.agency.messages["queue_id"].max()
        self._next_id = max(FIRST_QUEUE_ID, int(queued) + 1 if queued is not None else 0)
        self._queues: dict[str, list[_Send]] = {}  # per creator, oldest first
        self._by_id: dict[int, _Send] = {}
        self._audiences: dict[str, _Audience] = {}
        self._vaults: dict[str, dict[int, int]] = {}  # per creator: media id -> created (us)
        self._lock = threading.Lock()

    # -- endpoints (behind the Simulator's key gate and throttle; `sim.now` is the request's instant)

    async def send_endpoint(self, request: Request) -> Response:
        """POST /api/{account_id}/mass-messaging"""
        c, now = self.sim.creator(request), self.sim.now
        if self._over_rate_limit():
            return JSONResponse({"error": "Too many mass messages", "retry_after": 1},
                                status_code=429, headers={"Retry-After": "0"})
        send = self.send(c, _json_object(await request.body()), now)
        if send.number in self.lose_answers:  # taken (it will be delivered), but the answer is lost
            return JSONResponse({"error": "Bad gateway"}, status_code=502)
        return self.sim.ok(send.item(now))

    def queue_endpoint(self, request: Request) -> Response:
        """GET /api/{account_id}/mass-messaging: the creator's queue, newest first."""
        c, now = self.sim.creator(request), self.sim.now
        with self._lock:
            self._deliver_due(c, now)
            items = [send.item(now) for send in reversed(self._queues.get(c.account["id"], []))]
        return self.sim.ok(items)

    def item_endpoint(self, request: Request) -> Response:
        """GET /api/{account_id}/mass-messaging/{queue_id}: one item and its recipients."""
        c, now = self.sim.creator(request), self.sim.now
        raw = request.path_params["queue_id"]
        with self._lock:
            self._deliver_due(c, now)
            send = self._by_id.get(int(raw)) if raw.isascii() and raw.isdigit() else None
            if send is None or send.account_id != c.account["id"]:  # never another creator's item
                raise HttpError(404, f"Mass message {raw} not found")
            item = {**send.item(now), "recipients": send.recipients()}
        return self.sim.ok(item)

    # -- state

    def send(self, c: _Creator, body: dict, now: int) -> _Send:
        """Queue a send from a request body, or raise HttpError(400) naming the bad field."""
        account_id = c.account["id"]
        if "userLists" in body:
            raise HttpError(400, "userLists is not supported by the simulator: send userIds")
        fans = _user_ids(body.get("userIds"), self.max_users)
        text, price = _text(body.get("text")), _price(body.get("price", 0))
        media = _media(body.get("mediaFiles"), price, self._vault(c), now)
        previews = _previews(body.get("previews"), media)
        locked = body.get("lockedText")
        if locked is not None and not isinstance(locked, bool):
            raise HttpError(400, f"lockedText must be true or false: got {locked!r}")
        date_us = _scheduled(body.get("scheduledDate"), now)
        with self._lock:
            self.accepted += 1
            send = _Send(self._next_id, self.accepted, account_id, date_us, text, price, media,
                         previews, bool(locked), np.array(fans, dtype=np.int64))
            self._next_id += 1
            self._queues.setdefault(account_id, []).append(send)
            self._by_id[send.id] = send
            minute, count = self._window
            self._window = (minute, count + 1)
        return send

    def deliveries(self, account_id: str) -> dict[int, list[int]]:
        """Fan id -> ids of this creator's queue items delivered to him as sent (oldest first).
        Only what reading the queue has delivered: this helper delivers nothing itself."""
        out: dict[int, list[int]] = {}
        with self._lock:
            for send in self._queues.get(account_id, []):
                if send.status is not None:
                    for fan in send.fans[send.status == SENT].tolist():
                        out.setdefault(fan, []).append(send.id)
        return out

    def _over_rate_limit(self) -> bool:
        """True when this minute's sends are used up (only accepted sends count)."""
        if not self.per_minute:
            return False
        minute = self.minute()
        with self._lock:
            if self._window[0] != minute:
                self._window = (minute, 0)
            return self._window[1] >= self.per_minute

    def _deliver_due(self, c: _Creator, now: int) -> None:
        """Deliver the creator's pending items dated at or before `now` (caller holds the lock)."""
        pending = [s for s in self._queues.get(c.account["id"], []) if s.status is None and s.date_us <= now]
        if not pending:
            return
        audience = self._audience(c)
        for send in pending:
            send.status = audience.statuses(send.fans, send.date_us)
            send.sent = int(np.count_nonzero(send.status == SENT))

    def _audience(self, c: _Creator) -> _Audience:
        account_id = c.account["id"]
        if account_id not in self._audiences:
            ids = np.asarray(c.fan_index_ids, dtype=np.int64)
            self._audiences[account_id] = _Audience(
                ids=ids, first_us=c.fan_first[c.fan_index_rows],
                restricted=restricted_fans(account_id, ids, self.restricted_share))
        return self._audiences[account_id]

    def _vault(self, c: _Creator) -> dict[int, int]:
        account_id = c.account["id"]
        with self._lock:
            if account_id not in self._vaults:
                self._vaults[account_id] = dict(zip(c.vault["id"].to_list(), c.vault_created.tolist(),
                                                    strict=True))
            return self._vaults[account_id]


# ---------------------------------------------------------------------------------------------
# The body's fields: each refusal names its field


def _json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HttpError(400, "the body must be a JSON object (userIds, text, price, ...)") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object (userIds, text, price, ...)")
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ids(value: Any, field: str) -> list[int]:
    """A list of positive integer ids, or a 400 naming the field and the first bad value."""
    if not isinstance(value, list):
        raise HttpError(400, f"{field} must be a list of integer ids")
    for item in value:
        if not _is_int(item) or not 0 < item < MAX_ID:
            raise HttpError(400, f"{field} must hold positive integer ids: got {item!r}")
    return value


def _user_ids(value: Any, max_users: int) -> list[int]:
    if value is None:
        raise HttpError(400, "userIds is required (a list of fan ids)")
    ids = _ids(value, "userIds")
    if not ids:
        raise HttpError(400, "userIds must not be empty")
    if len(ids) > max_users:
        raise HttpError(400, f"userIds holds {len(ids)} ids: at most {max_users} per mass message")
    seen: set[int] = set()
    for fan_id in ids:
        if fan_id in seen:
            raise HttpError(400, f"userIds lists fan {fan_id} more than once")
        seen.add(fan_id)
    return ids


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, "text is required (a non-empty string)")
    if len(value) > MAX_TEXT:
        raise HttpError(400, f"text holds {len(value)} characters: at most {MAX_TEXT}")
    return value


def _price(value: Any) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not number or not (value == 0 or MIN_PRICE <= value <= MAX_PRICE):
        raise HttpError(400, f"price must be 0 or between {MIN_PRICE} and {MAX_PRICE} dollars: got {value!r}")
    return value


def _media(value: Any, price: float, vault: dict[int, int], now: int) -> list[int]:
    media = [] if value is None else _ids(value, "mediaFiles")
    if price > 0 and not media:
        raise HttpError(400, "mediaFiles is required when price > 0 (a paid message needs media)")
    for media_id in media:
        created = vault.get(media_id)
        if created is None or created > now:  # the vault as the API shows it at its clock
            raise HttpError(400, f"mediaFiles: {media_id} is not in this creator's vault")
    if len(set(media)) < len(media):
        raise HttpError(400, "mediaFiles lists a media id more than once")
    return media


def _previews(value: Any, media: list[int]) -> list[int]:
    previews = [] if value is None else _ids(value, "previews")
    for media_id in previews:
        if media_id not in media:
            raise HttpError(400, f"previews: {media_id} is not one of mediaFiles")
    return previews


def _scheduled(value: Any, now: int) -> int:
    """The item's date: scheduledDate (not before the clock), else the clock."""
    if value is None:
        return now
    try:
        moment = _us(parse_instant(value)) if isinstance(value, str) else None
    except (ValueError, OverflowError, OSError):
        moment = None
    if moment is None:
        raise HttpError(400, f"scheduledDate must be an ISO-8601 instant: got {value!r}")
    if moment < now:
        raise HttpError(400, f"scheduledDate {value} is before the API's clock {_iso(_from_us(now))}")
    return moment
