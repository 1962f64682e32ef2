"""What the source contract promises about each API object: required and known fields.

A missing required field fails the read with an error naming the endpoint, the creator and the
field; an unknown field is no error (raw keeps it) but is reported, so a data engineer sees the
API change before it matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A creator's account id (`acct_...`) names partitions and folders of the lake, so only plain ids
# are accepted anywhere: letters, digits, `_` and `-`, at most 64 characters.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidAccountId(ValueError):
    """A value used as a creator's account id is not a plain id (e.g. `../../outside`)."""


def is_creator_id(value: object) -> bool:
    return isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None


# A username as the UI may show it (a run tag, a Markdown table): the API sends any text, so
# only a plain handle is shown, never markup or a line break it could carry.
USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def display_username(value: object) -> str | None:
    """The creator's username when it is a plain handle; None for anything else."""
    return value if isinstance(value, str) and USERNAME.fullmatch(value) else None


def require_creator_id(value: object, *, where: str = "creator id") -> str:
    """`value` itself when it is a plain account id, else `InvalidAccountId` naming `where`."""
    if not is_creator_id(value):
        raise InvalidAccountId(
            f"{where}: {value!r} is not a plain account id (letters, digits, _ and -, "
            "at most 64 characters)"
        )
    return value  # type: ignore[return-value]


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
        ObjectContract(
            "mass_message",
            ("id", "date"),
            frozenset({"id", "date", "text", "price", "isFree", "mediaFiles", "isReady", "isDone",
                       "total", "pending", "sentCount", "failedCount", "canUnsend",
                       "unsendSeconds", "hasError", "isCanceled", "isCouplePeopleMedia",
                       "recipients"}),
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
