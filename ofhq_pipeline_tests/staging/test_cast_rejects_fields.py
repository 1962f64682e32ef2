"""Every field staging casts, of every kind of raw item, is judged: a bad value in any one of them
(and nothing else wrong with the item) is listed in staging.cast_rejects under that field with
its reason, and the clean items are not. staging.cast_rejects tests each item's values in place
before itemising the few that fail, so a field missing from those tests would let its bad values
through silently: this lists every field the rules name and tries the bad values of its kind."""

from __future__ import annotations

import copy
import json
from collections import defaultdict

from ofhq_pipeline_tests.builders import (
    CREATOR,
    build_model,
    chargeback,
    chat,
    day,
    fan,
    make_lake,
    message,
    parquet_dicts,
    period,
    txn,
)
from ofhq_pipeline_tests.staging.hostile import land_webhooks, sale

MISSING = object()
NAN = float("nan")

# Bad values of each kind, with the reason each gets.
BAD = {
    "id": [(1.5, "not a whole number within 64 bits"), ("x1", "not a whole number within 64 bits")],
    "count": [(2**31, "not an integer within 32 bits"), ("lots", "not an integer within 32 bits")],
    "money": [("abc", "not a number"), (2_000_000, "out of range"), (NAN, "not finite")],
    "price": [(-5, "negative"), ("free", "not a number"), (NAN, "not finite")],
    "number": [(NAN, "not finite"), ("abc", "not a number")],
    "instant": [("yesterday", "not an instant"), ("infinity", "not finite")],
    "boolean": [("maybe", "not a boolean")],
    "text": [],
}

# (path in the payload, kind, required, the spelling it replaces: removed first).
TRANSACTION = [
    ("id", "text", True, None), ("user.id", "id", True, None),
    ("fan.id", "id", True, "user"), ("createdAt", "instant", True, None),
    ("created_at", "instant", True, "createdAt"), ("amount", "money", True, None),
    ("net", "money", False, None), ("net_amount", "money", False, "net"),
    ("fee", "money", False, None), ("fee_amount", "money", False, "fee"),
    ("vatAmount", "money", False, None),
]
MESSAGE = [
    ("id", "id", True, None), ("fromUser.id", "id", True, None),
    ("createdAt", "instant", True, None), ("price", "price", False, None),
    ("isFree", "boolean", False, None), ("isTip", "boolean", False, None),
    ("queueId", "id", False, None), ("media.0.id", "id", False, None),
]
FAN = [
    ("id", "id", True, None), ("lastSeen", "instant", False, None),
    *((f"subscribedOnData.{name}", kind, False, None) for name, kind in [
        ("subscribeAt", "instant"), ("expiredAt", "instant"), ("renewedAt", "instant"),
        ("subscribePrice", "price"), ("regularPrice", "price"), ("discountPercent", "number"),
        ("totalSumm", "money")]),
    ("subscribedOnData.subscribes.1.date", "instant", True, None),
    ("subscribedOnData.subscribes.1.price", "price", True, None),
    ("subscribedOnData.subscribes.1.regularPrice", "price", False, None),
    ("subscribedOnData.subscribes.1.discount", "number", False, None),
]
SUBSCRIPTION = [
    ("user.id", "id", True, None), ("subscribeAt", "instant", False, None),
    ("expiredAt", "instant", False, None), ("price", "price", False, None),
    ("regularPrice", "price", False, None), ("discount", "number", False, None),
]
CHAT = [
    ("fan.id", "id", True, None), ("lastMessage.id", "id", False, None),
    ("unreadMessagesCount", "count", False, None),
    # Its last message, checked as a message (an id it lacks leaves it out of the messages).
    *((f"lastMessage.{path}", kind, required, removes)
      for path, kind, required, removes in MESSAGE if path != "id"),
]
VAULT = [
    ("id", "id", True, None), ("createdAt", "instant", False, None),
    ("duration", "count", False, None), ("counters.likesCount", "count", False, None),
    ("counters.tipsSumm", "money", False, None),
]
RECIPIENT = [
    ("toUser.id", "id", False, None), ("fan.id", "id", False, "toUser"),
    ("user.id", "id", False, "toUser"),
]


def replaced(item: dict, path: str, value, removes: str | None = None) -> dict:
    """A copy of `item` with the value at `path` (dotted; a number is a list position) set, or
    removed when MISSING; `removes` (a top-level key) is dropped first."""
    item = copy.deepcopy(item)
    if removes:
        item.pop(removes, None)
    *parents, last = path.split(".")
    node = item
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    if value is MISSING:
        node.pop(last, None)
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return item


def label(path: str) -> str:
    """The field as staging.cast_rejects names it: list positions from 1, in brackets."""
    parts = path.split(".")
    out = []
    for part in parts:
        if part.isdigit():
            out[-1] += f"[{int(part) + 1}]"
        else:
            out.append(part)
    return ".".join(out)


def cases(base: dict, fields) -> list[tuple[dict, set]]:
    """The clean item, then one item per bad value of each field: (item, {(field, reason)})."""
    found = [(base, set())]
    for path, kind, required, removes in fields:
        bad = list(BAD[kind])
        if required and removes is None:
            bad.append((MISSING, "missing"))
        for value, reason in bad:
            found.append((replaced(base, path, value, removes), {(label(path), reason)}))
    return found


def test_a_bad_value_in_any_field_is_set_aside_with_its_reason(tmp_path):
    lake = make_lake(tmp_path / "home")
    paid = txn("t1", 1, 5.0, day(1))
    sold = message(11, 1, day(1), from_fan=False, price=5, queue_id=500)
    # A chargeback's own time, then the payment inside it, checked as a transaction.
    chargebacks = cases(chargeback("cb1", paid, day(3)), [("createdAt", "instant", True, None)])
    chargebacks += [(chargeback("cb1", payment, day(3)),
                     {("payment." + field, reason) for field, reason in expected})
                    for payment, expected in cases(paid, TRANSACTION)]
    feed = {
        "transactions": cases(paid, TRANSACTION),
        "chargebacks": chargebacks,
        "fans": cases(fan(1, subscribes=[period(day(1), 9.99), period(day(31), 9.99)]), FAN),
        "messages": cases(sold, MESSAGE),
        "chats": cases(chat(1, sold), CHAT),
        "vault_media": cases({"id": 7001, "type": "photo", "createdAt": day(1).isoformat(),
                              "duration": 10, "counters": {"likesCount": 3, "tipsSumm": 1.5}},
                             VAULT),
    }
    for table, items in feed.items():
        lake.write_raw_batch(table, CREATOR, [item for item, _ in items], fetched_at=day(5),
                             sync_mode="test",
                             extra={"chat_fan_id": [1] * len(items)} if table == "messages" else None)
    sent = {**sold, "toUser": {"id": 1}}
    webhooks = [("transactions.new", item, expected)
                for item, expected in cases(sale("w1"), TRANSACTION)]
    webhooks += [(event, item, expected)
                 for event in ("subscriptions.new", "subscriptions.renewed", "subscriptions.expired")
                 for item, expected in cases({"user": {"id": 5}, "subscribeAt": day(3).isoformat(),
                                              "expiredAt": day(33).isoformat(), "price": 4.99,
                                              "regularPrice": 9.99, "discount": 50},
                                             SUBSCRIPTION)]
    webhooks += [("messages.received", item, expected)
                 for item, expected in cases({**sold, "fromUser": {"id": 1}}, MESSAGE)]
    webhooks += [("messages.sent", item, expected)
                 for item, expected in cases(sent, MESSAGE + RECIPIENT)]
    land_webhooks(lake, [(event, json.dumps(item)) for event, item, _ in webhooks], day(6))

    rejects = parquet_dicts(build_model(lake, "staging/cast_rejects"))

    found = defaultdict(set)
    for row in rejects:
        found[row["source_table"], row["item_no"]].add((row["field"], row["reason"]))
    expected = {(table, n): reasons for table, items in feed.items()
                for n, (_, reasons) in enumerate(items) if reasons}
    expected |= {("webhook_events", n): reasons
                 for n, (_, _, reasons) in enumerate(webhooks) if reasons}
    assert dict(found) == expected
    # Every kind and every reason was tried.
    assert {reason for reasons in expected.values() for _, reason in reasons} == {
        reason for values in BAD.values() for _, reason in values} | {"missing"}
