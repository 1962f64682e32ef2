"""What the source contract promises about each API object: required and known fields.

A missing required field fails the read with an error naming the endpoint, the creator and the
field; an unknown field is no error (raw keeps it) but is reported, so a data engineer sees the
API change before it matters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectContract:
    kind: str
    # Each entry is one required field; a tuple lists the spellings of which one must be present.
    required: tuple[str | tuple[str, ...], ...]
    known: frozenset[str]


TRANSACTION_FIELDS = frozenset({
    "id", "amount", "net", "net_amount", "fee", "fee_amount", "vatAmount", "currency",
    "description", "status", "createdAt", "created_at", "user", "fan", "type",
})

CONTRACTS: dict[str, ObjectContract] = {
    contract.kind: contract
    for contract in (
        ObjectContract("account", ("id",), frozenset({"id", "username", "name", "is_authenticated"})),
        ObjectContract(
            "fan", ("id",), frozenset({"id", "username", "name", "lastSeen", "subscribedOnData"})
        ),
        ObjectContract(
            "transaction",
            ("id", "amount", "status", ("createdAt", "created_at"), ("user", "fan")),
            TRANSACTION_FIELDS,
        ),
        ObjectContract(
            "chargeback",
            ("id", "createdAt", "payment"),
            frozenset({"id", "createdAt", "paymentType", "payment"}),
        ),
        ObjectContract(
            "chat", ("fan",), frozenset({"fan", "lastMessage", "unreadMessagesCount"})
        ),
        ObjectContract(
            "message",
            ("id", "createdAt", "fromUser"),
            frozenset({"id", "text", "price", "isFree", "isTip", "mediaCount", "media",
                       "fromUser", "createdAt", "queueId"}),
        ),
        ObjectContract(
            "vault_media",
            ("id", "type"),
            frozenset({"id", "type", "createdAt", "duration", "counters"}),
        ),
    )
}


def missing_field(item: object, contract: ObjectContract) -> str | None:
    """The first required field the item lacks (its spellings joined by '|'), or None."""
    if not isinstance(item, dict):
        return "(the item is not a JSON object)"
    for field in contract.required:
        spellings = field if isinstance(field, tuple) else (field,)
        if all(item.get(name) is None for name in spellings):
            return "|".join(spellings)
    return None


def unknown_fields(item: dict, contract: ObjectContract) -> set[str]:
    return set(item) - contract.known
