"""What a blast is asked to do (`BlastRequest`, from the run's tags) and who it reaches
(`plan_audience`: sql/blasts/audience.sql over the segment's members and the creator's marts).

A request comes from `ofhq segments send` or from the launchpad, as run tags; every value is
checked here and a bad one is an error naming its tag. Nothing here sends or records anything:
a dry run is this module alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import polars as pl

from ofhq_pipeline.blasts.ledger import Blast
from ofhq_pipeline.lake import Lake, quote, sql_text
from ofhq_pipeline.segments.members import members_path
from ofhq_pipeline.segments.spec import Segment
from ofhq_pipeline.settings import parse_instant

TAG_PREFIX = "ofhq/blast_"
TAGS = {name: f"{TAG_PREFIX}{name}"
        for name in ("segment", "text", "media", "price", "at", "confirm", "id")}
BLAST_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_TEXT = 10_000
# The API's price rule for a paid message: 0, or $3 to $200.
MIN_PRICE_CENTS, MAX_PRICE_CENTS = 300, 20_000
RECOMMENDED = "recommended"
EXCLUSION_REASONS = ("bought_media", "subscription_expired", "deprioritized",
                     "recent_mass_message")


class BlastRequestError(ValueError):
    """A blast parameter that cannot be sent; the message names the tag (or option)."""


@dataclass(frozen=True)
class BlastRequest:
    """One blast as asked: the segment, the message, its media and price, when, whether to send."""

    segment: str
    text: str
    media_ids: tuple[int, ...] = ()
    price: str = "0"  # dollars, or 'recommended' (each fan's suggested price)
    at: str = "now"  # 'now', 'best' (each fan's most active hour) or an ISO-8601 instant
    confirm: bool = False
    blast_id: str | None = None

    def __post_init__(self) -> None:
        if not self.segment:
            raise BlastRequestError(f"{TAGS['segment']}: the segment to send to is missing")
        if not self.text.strip():
            raise BlastRequestError(f"{TAGS['text']}: the message text is empty")
        if len(self.text) > MAX_TEXT:
            raise BlastRequestError(f"{TAGS['text']}: longer than {MAX_TEXT:,} characters")
        if self.blast_id is not None and not BLAST_ID.fullmatch(self.blast_id):
            raise BlastRequestError(f"{TAGS['id']}: {self.blast_id!r} is not a plain id "
                                    "(letters, digits, _ . -, at most 64)")
        cents = self.price_cents  # validates the price
        if (self.price_mode == RECOMMENDED or cents) and not self.media_ids:
            raise BlastRequestError(f"{TAGS['price']}: a paid message needs media "
                                    f"({TAGS['media']}): the API sells only media")
        self.scheduled_for  # noqa: B018 - validates the time

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> BlastRequest:
        media = tags.get(TAGS["media"], "").strip()
        try:
            media_ids = tuple(int(m) for m in media.replace(" ", "").split(",") if m)
        except ValueError:
            raise BlastRequestError(f"{TAGS['media']}: {media!r} is not a comma-separated list "
                                    "of vault media ids") from None
        return cls(
            segment=tags.get(TAGS["segment"], ""),
            text=tags.get(TAGS["text"], ""),
            media_ids=media_ids,
            price=tags.get(TAGS["price"], "0").strip() or "0",
            at=tags.get(TAGS["at"], "now").strip() or "now",
            confirm=tags.get(TAGS["confirm"], "false").strip().lower() == "true",
            blast_id=tags.get(TAGS["id"]) or None,
        )

    def tags(self) -> dict[str, str]:
        tags = {TAGS["segment"]: self.segment, TAGS["text"]: self.text,
                TAGS["price"]: self.price, TAGS["at"]: self.at,
                TAGS["confirm"]: str(self.confirm).lower()}
        if self.media_ids:
            tags[TAGS["media"]] = ",".join(str(m) for m in self.media_ids)
        if self.blast_id:
            tags[TAGS["id"]] = self.blast_id
        return tags

    @property
    def price_mode(self) -> str:
        return RECOMMENDED if self.price == RECOMMENDED else "fixed"

    @property
    def price_cents(self) -> int | None:
        """The fixed price in cents; None when each fan gets his recommended price."""
        if self.price == RECOMMENDED:
            return None
        try:
            cents = round(float(self.price) * 100)
        except (ValueError, OverflowError):  # "abc", "nan", "inf"
            raise BlastRequestError(f"{TAGS['price']}: {self.price!r} is neither a price in "
                                    f"dollars nor '{RECOMMENDED}'") from None
        if cents != 0 and not MIN_PRICE_CENTS <= cents <= MAX_PRICE_CENTS:
            raise BlastRequestError(f"{TAGS['price']}: ${cents / 100:.2f} is outside the API's "
                                    "range (0, or $3 to $200)")
        return cents

    @property
    def send_mode(self) -> str:
        return self.at if self.at in ("now", "best") else "at"

    @property
    def scheduled_for(self) -> datetime | None:
        if self.send_mode != "at":
            return None
        try:
            return parse_instant(self.at)
        except ValueError:
            raise BlastRequestError(f"{TAGS['at']}: {self.at!r} is neither 'now', 'best' nor "
                                    "an ISO-8601 instant") from None

    def parameters_sha256(self, creator_id: str) -> str:
        """What makes two runs the same blast: a re-run with other parameters is refused. The
        values as understood, not as typed ("15" and "15.00" are one price). The deployment's
        settings are not among them: they shape the plan, which a re-run never makes again."""
        scheduled = self.scheduled_for
        text = json.dumps([creator_id, self.segment, self.text, list(self.media_ids),
                           self.price_mode, self.price_cents, self.send_mode,
                           scheduled.isoformat() if scheduled else None])
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def resuming(cls, blast: Blast) -> BlastRequest:
        """The request that resumes a recorded blast (same parameters, confirmed)."""
        price = RECOMMENDED if blast.price_mode == RECOMMENDED else f"{(blast.price_cents or 0) / 100:.2f}"
        return cls(segment=blast.segment, text=blast.text, media_ids=blast.media_ids,
                   price=price, at=blast.send_at, confirm=True, blast_id=blast.blast_id)


@dataclass(frozen=True)
class BlastSettings:
    """The deployment's rules for every blast (BlastSettingsResource in the UI)."""

    holdout_share: float = 0.10
    recent_mass_message_hours: int = 24
    fans_per_request: int = 1_000


def plan_audience(store: Lake, segment: Segment, creator_id: str, request: BlastRequest,
                  settings: BlastSettings, *, blast_id: str, as_of: datetime, run_id: str,
                  recent_sends: pl.DataFrame) -> pl.DataFrame:
    """Every member of the segment for the creator: cohort (send, holdout, excluded), reason,
    price, delivery time and chunk (sql/blasts/audience.sql)."""
    members = members_path(store, segment.name, creator_id)
    if not members.exists():
        raise BlastRequestError(
            f"segment '{segment.name}' has no members file for creator {creator_id}: "
            "materialize segments/" + segment.name + " (a sync does) before sending to it")
    scheduled_for = request.scheduled_for
    if scheduled_for is not None and scheduled_for <= as_of:
        raise BlastRequestError(f"{TAGS['at']}: {scheduled_for.isoformat()} is not after the "
                                f"run's as_of ({as_of.isoformat()})")
    variables = {
        "blast_id": blast_id,
        "blast_media_ids": list(request.media_ids),
        "blast_price_mode": request.price_mode,
        "blast_price_cents": request.price_cents or 0,
        "blast_send_at": request.send_mode,
        "blast_scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        "blast_holdout_share": float(settings.holdout_share),
        "blast_recent_hours": int(settings.recent_mass_message_hours),
        "blast_include_expired": segment.include_expired,
        "blast_fans_per_request": int(settings.fans_per_request),
    }
    with store.session(creator_id, as_of=as_of, run_id=run_id) as con:
        set_variables(con, variables)
        con.execute("CREATE SCHEMA IF NOT EXISTS blast")
        con.execute(f"CREATE VIEW blast.members AS SELECT * FROM read_parquet({quote(members)})")
        con.register("recent_sends_frame", recent_sends)
        con.execute("CREATE VIEW blast.recent_sends AS SELECT fan_id FROM recent_sends_frame")
        return con.execute(sql_text("blasts/audience")).pl()


def set_variables(con: duckdb.DuckDBPyConnection, variables: dict) -> None:
    for name, value in variables.items():
        if isinstance(value, list):
            con.execute(f"SET VARIABLE {name} = CAST(? AS BIGINT[])", [value])
        else:
            con.execute(f"SET VARIABLE {name} = ?", [value])


def recent_since(as_of: datetime, settings: BlastSettings) -> datetime:
    return as_of - timedelta(hours=settings.recent_mass_message_hours)
