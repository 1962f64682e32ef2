"""Pandera schemas of the staging tables: what every downstream model may rely on.

A staged table that breaks its schema fails a blocking check, so no mart is built from it.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData
from pandera.engines.polars_engine import DateTime

from ofhq_pipeline.lake import RAW_TABLES

UtcTime = DateTime(time_zone="UTC")
TRANSACTION_TYPES = ["tip", "message", "subscription", "post", "stream", "other"]
TRANSACTION_STATUSES = ["succeeded", "pending", "refunded", "chargeback", "unknown"]
# Why staging.cast_rejects sets a raw row aside (sql/staging/cast_rejects.sql).
REJECT_REASONS = [
    "missing", "not a whole number within 64 bits", "not an integer within 32 bits",
    "not a number", "not finite", "out of range", "negative", "not an instant", "not a boolean",
]


def distinct(data: PolarsData) -> pl.LazyFrame | bool:
    """No value of the column repeats. Their 64-bit hashes are compared first: all distinct, so are
    the values. Only when two hashes meet are the values compared, and the repeated rows are the
    failure cases. (pandera's `unique=True` compares 10M transaction ids as strings: 3 s.)"""
    values = data.lazyframe.select(data.key).collect().to_series()
    if values.hash().n_unique() == values.len():
        return True
    return data.lazyframe.select(~pl.col(data.key).is_duplicated())


class StagedFans(pa.DataFrameModel):
    creator_id: str = pa.Field(str_startswith="acct_")
    fan_id: int = pa.Field(unique=True)
    subscription_status: str = pa.Field(nullable=True, isin=["active", "expired"])
    subscribed_at: UtcTime = pa.Field(nullable=True)
    subscription_expires_at: UtcTime = pa.Field(nullable=True)
    subscribe_price_cents: int = pa.Field(nullable=True, ge=0)

    class Config:
        strict = False


class StagedSubscriptionPeriods(pa.DataFrameModel):
    creator_id: str
    fan_id: int
    started_at: UtcTime
    price_cents: int = pa.Field(ge=0)
    regular_price_cents: int = pa.Field(nullable=True, ge=0)

    class Config:
        strict = False


class StagedTransactions(pa.DataFrameModel):
    creator_id: str = pa.Field(str_startswith="acct_")
    transaction_id: str
    fan_id: int
    created_at: UtcTime
    type: str = pa.Field(isin=TRANSACTION_TYPES)
    status: str = pa.Field(isin=TRANSACTION_STATUSES)
    amount_cents: int
    net_cents: int = pa.Field(nullable=True)
    chargeback_at: UtcTime = pa.Field(nullable=True)
    is_custom: bool
    status_regressions: int = pa.Field(ge=0)

    @pa.check("transaction_id", name="unique")
    @classmethod
    def transaction_id_unique(cls, data: PolarsData) -> pl.LazyFrame | bool:
        return distinct(data)

    class Config:
        strict = False


class StagedMessages(pa.DataFrameModel):
    creator_id: str
    fan_id: int
    message_id: int
    is_from_fan: bool
    created_at: UtcTime
    price_cents: int = pa.Field(ge=0)
    is_mass_message: bool

    class Config:
        strict = False
        unique = ["fan_id", "message_id"]


class StagedChats(pa.DataFrameModel):
    creator_id: str
    fan_id: int = pa.Field(unique=True)

    class Config:
        strict = False


class StagedVaultMedia(pa.DataFrameModel):
    creator_id: str
    media_id: int = pa.Field(unique=True)
    media_type: str = pa.Field(isin=["photo", "video", "audio", "gif"])

    class Config:
        strict = False


class StagedCastRejects(pa.DataFrameModel):
    creator_id: str = pa.Field(str_startswith="acct_")
    source_table: str = pa.Field(isin=list(RAW_TABLES))
    batch_id: str
    item_no: int
    source_id: str = pa.Field(nullable=True, str_length={"max_value": 200})
    event: str = pa.Field(nullable=True)
    field: str
    value: str = pa.Field(nullable=True, str_length={"max_value": 200})
    reason: str = pa.Field(isin=REJECT_REASONS)
    seen_at: UtcTime

    class Config:
        strict = True
