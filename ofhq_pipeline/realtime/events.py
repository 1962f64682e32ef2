"""Webhook events: the types the pipeline acts on, the parsing of one delivery's body, and the
checks a delivery passes before it may land.

A delivery is `{"event": "<name>", "account_id": "acct_...", "payload": {...}}`.

- `parse_delivery` reads the body: one that is not a JSON object with a string `event` is refused
  (`InvalidDelivery`, answered 400).
- `check_delivery` refuses what would later break staging or a creator's run (`InvalidEvent`,
  answered 422), with a reason naming the field and where, e.g.
  `payload.amount: not a finite number ('NaN')`. Every delivery, of any type, must hold text
  without NUL, valid Unicode (no lone surrogates), finite numbers, no repeated object keys and an
  `account_id` that is a creator id; the known types must also hold their fields with the right
  types: money as a finite number of at most 1,000,000 dollars, ids as 64-bit integers, times as
  ISO-8601 instants. Unknown event types are still accepted (the contract says so) after the
  checks every delivery passes.

Refused bodies are quarantined by the receiver, never lost, and never reach staging.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from ofhq_pipeline.settings import parse_instant
from ofhq_pipeline.source.contract import is_creator_id

KNOWN_EVENTS: frozenset[str] = frozenset({
    "transactions.new",
    "tips.received",
    "messages.ppv.unlocked",
    "subscriptions.new",
    "subscriptions.renewed",
    "subscriptions.expired",
    "messages.received",
    "messages.sent",
    "accounts.connected",
    "accounts.disconnected",
})

# The payload's own time of the event, first present wins: when it happened, not when it arrived.
# `subscribeAt` precedes `expiredAt` so that a new subscription is dated by its start.
TIMESTAMP_FIELDS: tuple[str, ...] = (
    "createdAt", "created_at", "subscribeAt", "subscribedAt", "expiredAt", "updatedAt",
)

MAX_DOLLARS = 1_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integer literals longer than this are refused anywhere: Python refuses to parse ones over 4,300
# digits, which would fail every later reader of the body.
MAX_INTEGER_DIGITS = 40
EVENT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# The ISO-8601 forms both Python and DuckDB read the same way (no basic format, no lowercase z).
ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?")
EARLIEST_YEAR, LATEST_YEAR = 1970, 2999
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


class InvalidDelivery(ValueError):
    """A body the receiver cannot land; the message is the quarantine reason."""

    status = 400


class InvalidEvent(InvalidDelivery):
    """A JSON event whose content would break the pipeline; the message names the field."""

    status = 422


class _Number:
    """A number as written, kept when it cannot be a finite float or a sane integer."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _NonFinite(_Number):
    """NaN, Infinity, or a float that overflows (1e400)."""


class _HugeInteger(_Number):
    """An integer literal of more than MAX_INTEGER_DIGITS digits."""


class _Object(dict):
    """A JSON object that remembers keys it saw twice (the last value would win here, the first
    in DuckDB: the check must see what every reader sees)."""

    repeated: tuple[str, ...] = ()


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _parse_int(text: str) -> int | _HugeInteger:
    return int(text) if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS else _HugeInteger(text)


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        repeated: list[str] = []
        for key, _value in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        result.repeated = tuple(repeated)
    return result


@dataclass(frozen=True)
class Delivery:
    """One parsed webhook body; `text` is the body exactly as received."""

    event: str
    account_id: str | None
    payload: Any
    occurred_at: datetime | None
    text: str
    document: Any = None

    @property
    def known(self) -> bool:
        return is_known(self.event)

    @property
    def newest_at(self) -> datetime | None:
        """The newest of the payload's own timestamps: a delivery is stale only when everything
        it reports is old (a renewal's period may have started long ago, not ended)."""
        return newest_at(self.payload)


def is_known(event: str) -> bool:
    """True for the event types the pipeline acts on."""
    return event in KNOWN_EVENTS


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str) and value.strip():
        try:
            return parse_instant(value)
        except (ValueError, OverflowError):
            return None
    return None


def occurred_at(payload: Any) -> datetime | None:
    """The payload's own timestamp (aware UTC), or None when it carries no parsable one."""
    if not isinstance(payload, dict):
        return None
    for field in TIMESTAMP_FIELDS:
        if (instant := _instant(payload.get(field))) is not None:
            return instant
    return None


def newest_at(payload: Any) -> datetime | None:
    """The newest parsable timestamp among the payload's own time fields, or None."""
    if not isinstance(payload, dict):
        return None
    instants = [i for f in TIMESTAMP_FIELDS if (i := _instant(payload.get(f))) is not None]
    return max(instants, default=None)


def parse_delivery(body: bytes) -> Delivery:
    """The delivery in `body`, or `InvalidDelivery` naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDelivery(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        document = json.loads(text, parse_float=_parse_float, parse_int=_parse_int,
                              parse_constant=_NonFinite, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise InvalidDelivery(f"body is not JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None
    except RecursionError:
        raise InvalidDelivery("body is JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise InvalidDelivery(f"body is a JSON {type(document).__name__}, not an object")
    event = document.get("event")
    if not isinstance(event, str) or not event.strip():
        raise InvalidDelivery("body has no string 'event'")
    account_id = document.get("account_id")
    payload = document.get("payload")
    return Delivery(
        event=event,
        account_id=account_id if isinstance(account_id, str) else None,
        payload=payload,
        occurred_at=occurred_at(payload),
        text=text,
        document=document,
    )


# ---- checks ------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    """A value for a reason: ASCII only (reasons are logged and stored), and short."""
    if isinstance(value, _Number):
        value = value.text
    if isinstance(value, str):
        return ascii(value[:40] + "..." if len(value) > 40 else value)
    shown = ascii(value)
    return shown[:40] + "..." if len(shown) > 40 else shown


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"  # escapes NUL, control characters and surrogates


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains NUL"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode (lone surrogate)"
    return None


def _check_document(document: Any) -> None:
    """What every delivery must satisfy wherever it occurs, whatever its type: a depth-first
    walk without recursion (the parser already bounds the depth)."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        where = path or "body"
        if isinstance(value, str):
            if problem := _string_problem(value):
                raise InvalidEvent(f"{where}: {problem}")
        elif isinstance(value, _NonFinite):
            raise InvalidEvent(f"{where}: not a finite number ({_show(value)})")
        elif isinstance(value, _HugeInteger):
            raise InvalidEvent(f"{where}: number out of range ({len(value.text)} digits)")
        elif isinstance(value, dict):
            if repeated := getattr(value, "repeated", ()):
                raise InvalidEvent(f"{where}: key {_show(repeated[0])} appears more than once")
            children = []
            for key, child in value.items():
                if problem := _string_problem(key):
                    raise InvalidEvent(f"{where}: key {_show(key)}: {problem}")
                children.append((_child(path, key), child))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(_child(path, i), item) for i, item in enumerate(value)]))


_MISSING = object()


class _Fields:
    """The fields of one JSON object of a known event; each check raises `InvalidEvent` naming
    the field. Absent and null are the same for optional fields."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InvalidEvent(f"{path}: not an object ({_show(value)})")
        self.value = value
        self.path = path

    def fail(self, field: str, message: str) -> NoReturn:
        raise InvalidEvent(f"{_child(self.path, field)}: {message}")

    def get(self, field: str, required: bool) -> Any:
        value = self.value.get(field)
        if value is None:
            if required:
                self.fail(field, "missing")
            return _MISSING
        return value

    def one_of(self, *fields: str) -> None:
        """At least one of `fields` is present and not null."""
        if all(self.value.get(f) is None for f in fields):
            raise InvalidEvent(f"{self.path}: needs {' or '.join(fields)}")

    def money(self, field: str, *, required: bool = False, minimum: float = -MAX_DOLLARS) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        if isinstance(value, _NonFinite):
            self.fail(field, f"not a finite number ({_show(value)})")
        if isinstance(value, bool) or not isinstance(value, int | float | _HugeInteger):
            self.fail(field, f"not a number ({_show(value)})")
        if isinstance(value, _HugeInteger) or not minimum <= value <= MAX_DOLLARS:
            self.fail(field, f"out of range ({_show(value)}; {minimum:,.0f} to "
                             f"{MAX_DOLLARS:,} dollars)")

    def price(self, field: str, *, required: bool = False) -> None:
        self.money(field, required=required, minimum=0)

    def percent(self, field: str) -> None:
        value = self.get(field, False)
        if value is _MISSING:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            self.fail(field, f"not a percentage from 0 to 100 ({_show(value)})")

    def integer_id(self, field: str, *, required: bool = False) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"not an integer id ({_show(value)})")
        if not INT64_MIN <= value <= INT64_MAX:
            self.fail(field, f"integer id out of 64-bit range ({_show(value)})")

    def any_id(self, field: str, *, required: bool = False) -> None:
        """A string id (1-200 characters) or an integer one."""
        value = self.get(field, required)
        if value is _MISSING:
            return
        if isinstance(value, str):
            if not 1 <= len(value.strip()) <= 200:
                self.fail(field, f"not an id ({_show(value)})")
            return
        self.integer_id(field, required=required)

    def time(self, field: str, *, required: bool = False) -> None:
        value = self.get(field, required)
        if value is _MISSING:
            return
        instant = None
        if isinstance(value, str) and ISO_INSTANT.fullmatch(value):
            instant = _instant(value)
        if instant is None or not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
            self.fail(field, f"not an ISO-8601 time ({_show(value)})")

    def text(self, *fields: str) -> None:
        for field in fields:
            value = self.get(field, False)
            if value is not _MISSING and not isinstance(value, str):
                self.fail(field, f"not a string ({_show(value)})")

    def boolean(self, *fields: str) -> None:
        for field in fields:
            value = self.get(field, False)
            if value is not _MISSING and not isinstance(value, bool):
                self.fail(field, f"not true or false ({_show(value)})")

    def nested(self, field: str, *, required: bool = False) -> _Fields | None:
        value = self.get(field, required)
        return None if value is _MISSING else _Fields(value, _child(self.path, field))

    def user(self, field: str, *, required: bool = False) -> None:
        """A fan (or creator) object: an integer `id`, and text names."""
        if (user := self.nested(field, required=required)) is not None:
            user.integer_id("id", required=True)
            user.text("username", "name")


# What each known type must hold: what staging, the marts and the alerts read from it, with the
# types they cast it to, and its own time (without one, a replay could not be told stale).

def _created(p: _Fields) -> None:
    p.one_of("createdAt", "created_at")
    p.time("createdAt")
    p.time("created_at")


def _transaction(p: _Fields) -> None:
    p.any_id("id", required=True)
    p.money("amount", required=True)
    for field in ("net", "net_amount", "fee", "fee_amount", "vatAmount"):
        p.money(field)
    p.text("currency", "type", "status", "description")
    _created(p)
    p.one_of("user", "fan")
    p.user("user")
    p.user("fan")


def _tip(p: _Fields) -> None:
    p.any_id("id")
    p.money("amountGross")
    p.money("amountNet")
    _created(p)
    p.text("type", "text")
    p.user("user")
    p.integer_id("user_id")


def _ppv_unlocked(p: _Fields) -> None:
    p.any_id("id")
    _created(p)
    p.text("type", "text")
    p.user("user")
    p.integer_id("user_id")
    if (pairs := p.nested("replacePairs")) is not None:
        pairs.text(*pairs.value)


def _subscription(p: _Fields) -> None:
    p.user("user", required=True)
    p.time("subscribeAt", required=True)
    p.time("expiredAt")
    p.price("price")
    p.price("regularPrice")
    p.percent("discount")


def _subscription_expired(p: _Fields) -> None:
    p.user("user", required=True)
    p.time("expiredAt", required=True)


def _message(p: _Fields) -> None:
    p.integer_id("id", required=True)
    p.time("createdAt", required=True)
    p.text("text")
    p.price("price")
    p.boolean("isFree", "isTip")
    p.integer_id("mediaCount")
    p.integer_id("queueId")
    p.user("fromUser", required=True)  # whose message it is: never unknown in staging
    for field in ("toUser", "fan", "user"):
        p.user(field)
    media = p.get("media", False)
    if media is not _MISSING:
        if not isinstance(media, list):
            p.fail("media", f"not a list ({_show(media)})")
        for i, item in enumerate(media):
            _Fields(item, _child(_child(p.path, "media"), i)).integer_id("id", required=True)


def _account(p: _Fields) -> None:
    p.text("state")


_CHECKS: dict[str, Callable[[_Fields], None]] = {
    "transactions.new": _transaction,
    "tips.received": _tip,
    "messages.ppv.unlocked": _ppv_unlocked,
    "subscriptions.new": _subscription,
    "subscriptions.renewed": _subscription,
    "subscriptions.expired": _subscription_expired,
    "messages.received": _message,
    "messages.sent": _message,
    "accounts.connected": _account,
    "accounts.disconnected": _account,
}


def check_delivery(delivery: Delivery) -> None:
    """`InvalidEvent` naming the first field that would break the pipeline, if any."""
    _check_document(delivery.document)
    if not EVENT_NAME.fullmatch(delivery.event):
        raise InvalidEvent(f"event: not an event name ({_show(delivery.event)})")
    account_id = (delivery.document or {}).get("account_id")
    if account_id is None:
        if delivery.known:
            raise InvalidEvent("account_id: missing")
    elif not is_creator_id(account_id):
        raise InvalidEvent(f"account_id: not an account id ({_show(account_id)})")
    if (check := _CHECKS.get(delivery.event)) is not None:
        payload = delivery.payload
        if payload is None:
            raise InvalidEvent("payload: missing")
        check(_Fields(payload, "payload"))
