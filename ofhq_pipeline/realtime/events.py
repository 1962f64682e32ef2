"""Webhook events: the types the pipeline acts on, and the parsing of one delivery's body.

A delivery is `{"event": "<name>", "account_id": "acct_...", "payload": {...}}`. Any event type is
accepted (unknown ones are stored and counted); a body that is not a JSON object with a string
`event` is refused with the reason, which the receiver quarantines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ofhq_pipeline.settings import parse_instant

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


class InvalidDelivery(ValueError):
    """A body the receiver cannot land; the message is the quarantine reason."""


@dataclass(frozen=True)
class Delivery:
    """One parsed webhook body; `text` is the body exactly as received."""

    event: str
    account_id: str | None
    payload: Any
    occurred_at: datetime | None
    text: str

    @property
    def known(self) -> bool:
        return is_known(self.event)


def is_known(event: str) -> bool:
    """True for the event types the pipeline acts on."""
    return event in KNOWN_EVENTS


def occurred_at(payload: Any) -> datetime | None:
    """The payload's own timestamp (aware UTC), or None when it carries no parsable one."""
    if not isinstance(payload, dict):
        return None
    for field in TIMESTAMP_FIELDS:
        value = payload.get(field)
        if isinstance(value, str) and value.strip():
            try:
                return parse_instant(value)
            except ValueError:
                continue
    return None


def parse_delivery(body: bytes) -> Delivery:
    """The delivery in `body`, or `InvalidDelivery` naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDelivery(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        document = json.loads(text)
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
    )
