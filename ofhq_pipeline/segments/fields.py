"""The fields a segment may filter on: fan_profile's (fan-profile.md), fan_ltv's, and the
operators each kind of field allows. Nothing else reaches the SQL: a segment naming any other
field or operator is refused with an error naming the segment and the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from ofhq_pipeline.intelligence.schema import (
    SIGNALS,
    ContentFormat,
    Driver,
    FanType,
    Frequency,
    Length,
    ObjectionType,
    Offer,
    Opener,
    Tone,
)

TEXT, NUMBER, BOOL, TIME, LIST = "text", "number", "bool", "time", "list"

OPERATORS: dict[str, tuple[str, ...]] = {
    TEXT: ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
    NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "is_null",
             "is_not_null"),
    BOOL: ("eq", "is_null", "is_not_null"),
    TIME: ("within_days", "older_than_days", "before", "after", "is_null", "is_not_null"),
    LIST: ("contains", "contains_any", "contains_all", "is_empty", "is_not_empty"),
}


@dataclass(frozen=True)
class Field:
    kind: str
    values: tuple[str, ...] | None = None  # the allowed values of an enumerated text field
    item: str = TEXT  # a list's element kind
    source: str = "fan_profile"


def enum(*values: str) -> Field:
    return Field(TEXT, tuple(values))


STAGES = ("new", "warming", "active_buyer", "cooling_off", "at_risk", "churned", "reactivated")
FIELDS: dict[str, Field] = {
    # identity
    "fan_id": Field(NUMBER),
    "username": Field(TEXT),
    "name": Field(TEXT),
    # money & purchases
    **{name: Field(NUMBER) for name in (
        "lifetime_spend_cents", "lifetime_net_cents", "purchase_count", "avg_order_value_cents",
        "biggest_purchase_cents", "last_purchase_cents", "tips_cents", "ppv_cents",
        "subscription_cents", "post_cents", "stream_cents", "ppv_sent_count", "ppv_bought_count",
        "conversion_rate", "chargeback_count", "refund_count",
    )},
    "first_purchase_at": Field(TIME),
    "last_purchase_at": Field(TIME),
    "last_purchase_type": enum("tip", "message", "subscription", "post", "stream", "other"),
    "price_range": enum("low", "mid", "high", "whale"),
    "buyer_type": enum("non_spender", "subscriber_only", "custom_buyer", "ppv_buyer", "tipper",
                       "post_buyer", "stream_buyer", "other_buyer"),
    "discount_sensitivity": enum("never", "sometimes", "always"),
    "chargeback_risk": Field(BOOL),
    # subscription
    "subscribed_at": Field(TIME),
    "subscription_status": enum("active", "expired"),
    "subscription_expires_at": Field(TIME),
    # engagement
    "last_message_at": Field(TIME),
    "last_fan_message_at": Field(TIME),
    "last_activity_at": Field(TIME),
    "fan_message_count": Field(NUMBER),
    "active_hours": Field(LIST, item=NUMBER),
    "avg_reply_time_s": Field(NUMBER),
    "temperature": enum("HOT", "WARM", "COOLING", "COLD", "ICE_COLD"),
    "spend_tier": enum("none", "bronze", "silver", "gold", "platinum"),
    "time_waster_score": Field(NUMBER),
    "deprioritized_until": Field(TIME),
    "follow_up_due_at": Field(TIME),
    "next_best_action": enum("deprioritize", "upsell_custom", "send_ppv", "offer_discount",
                             "win_back", "welcome", "nurture"),
    # relationship stage
    "stage": enum(*STAGES),
    "stage_updated_at": Field(TIME),
    "last_objection": enum(*get_args(ObjectionType)),
    "top_objection": enum(*get_args(ObjectionType)),
    # personality and intent (classifier)
    "fan_type": enum(*get_args(FanType)),
    "tone_preference": enum(*get_args(Tone)),
    "emotional_drivers": Field(LIST, values=get_args(Driver)),
    "content_format_preference": enum(*get_args(ContentFormat)),
    "length_preference": enum(*get_args(Length)),
    "frequency_preference": enum(*get_args(Frequency)),
    "best_opener_type": enum(*get_args(Opener)),
    "best_offer_type": enum(*get_args(Offer)),
    "custom_interest_level": Field(NUMBER),
    "toxicity_flag": Field(BOOL),
    "classified_at": Field(TIME),
    **{f"intent_{signal}": Field(NUMBER) for signal in SIGNALS},
    # lifetime value (marts.fan_ltv)
    **{name: Field(NUMBER, source="fan_ltv") for name in (
        "probability_alive", "churn_probability", "expected_purchases_90d",
        "expected_spend_90d_cents",
    )},
}

# Filters on what a fan has of a vault item (marts.fan_asset_status).
ASSET_STATUSES = ("never_sent", "sent_free", "offered_unbought", "bought")
ITEM_FILTERS = ("has_bought", "has_not_bought", "asset_status")
