"""How fresh the periodic sync keeps every creator, and how many syncs it runs at once.

The API's request budget is not here: every client of the API takes from it, so it belongs to
the API's resource (`OfapiResource.requests_per_minute`, locked to OFAPI_REQUESTS_PER_MINUTE).
"""

from __future__ import annotations

import os

import dagster as dg

# An int setting given as `EnvVar.int(...)` is a placeholder until the run resolves it; only the
# resolved value can be checked.
from dagster._config.field_utils import IntEnvVar
from pydantic import Field, ValidationInfo, field_validator

from ofhq_pipeline.source.rotation import TICK_S, Limits

STALENESS_TARGET_ENV = "OFHQ_STALENESS_TARGET_MINUTES"
MAX_CONCURRENT_SYNCS_ENV = "OFHQ_MAX_CONCURRENT_SYNCS"
REQUESTS_PER_SYNC_ENV = "OFHQ_REQUESTS_PER_SYNC"
DEFAULT_STALENESS_TARGET_MINUTES = 45
DEFAULT_MAX_CONCURRENT_SYNCS = 2


def at_least(minimum: int, name: str, value: object, unit: str) -> int:
    """`value` as a whole number ≥ minimum, or an error that names the setting and the value."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ValueError(f"{name} must be a whole number of {unit} ≥ {minimum}, not {value!r}")
    return number


def staleness_target_minutes_from_env() -> int:
    """The target as the deployment sets it (for what is fixed when the code loads: the assets'
    freshness policies); the same default as `RotationSettings`."""
    value = os.environ.get(STALENESS_TARGET_ENV)
    if value in (None, ""):
        return DEFAULT_STALENESS_TARGET_MINUTES
    return at_least(1, STALENESS_TARGET_ENV, value, "minutes")


def int_env_or(name: str, default: int | None) -> int | dg.EnvVar | None:
    """`EnvVar.int(name)` when the variable is set, else the default."""
    return dg.EnvVar.int(name) if os.environ.get(name) else default


class RotationSettings(dg.ConfigurableResource):
    """The staleness target, the concurrent syncs and the estimated cost of one sync."""

    staleness_target_minutes: int = Field(
        default=DEFAULT_STALENESS_TARGET_MINUTES,
        description="every creator's data is at most this old: the schedule launches a sync "
        f"before a creator would pass it ({STALENESS_TARGET_ENV})",
    )
    max_concurrent_syncs: int = Field(
        default=DEFAULT_MAX_CONCURRENT_SYNCS,
        description="creator syncs queued or running at once, at most; raise it together with "
        f"max_concurrent_runs in dagster.yaml ({MAX_CONCURRENT_SYNCS_ENV})",
    )
    requests_per_sync: int | None = Field(
        default=None,
        description="API requests one sync makes; unset: learned from the newest syncs' raw "
        f"metadata ({REQUESTS_PER_SYNC_ENV})",
    )

    @field_validator("staleness_target_minutes", "max_concurrent_syncs", mode="before")
    @classmethod
    def _positive(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, IntEnvVar | dg.EnvVar):
            return value
        unit = "minutes" if info.field_name == "staleness_target_minutes" else "syncs"
        return at_least(1, info.field_name, value, unit)

    @field_validator("requests_per_sync", mode="before")
    @classmethod
    def _positive_or_unset(cls, value: object) -> object:
        if value is None or isinstance(value, IntEnvVar | dg.EnvVar):
            return value
        return at_least(1, "requests_per_sync", value, "requests")

    @classmethod
    def from_env(cls) -> RotationSettings:
        """Configured from OFHQ_STALENESS_TARGET_MINUTES, OFHQ_MAX_CONCURRENT_SYNCS and
        OFHQ_REQUESTS_PER_SYNC, each resolved when a tick or run starts."""
        return cls(
            staleness_target_minutes=int_env_or(STALENESS_TARGET_ENV,
                                                DEFAULT_STALENESS_TARGET_MINUTES),
            max_concurrent_syncs=int_env_or(MAX_CONCURRENT_SYNCS_ENV,
                                            DEFAULT_MAX_CONCURRENT_SYNCS),
            requests_per_sync=int_env_or(REQUESTS_PER_SYNC_ENV, None),
        )

    @property
    def target_s(self) -> float:
        return self.staleness_target_minutes * 60.0

    def limits(self, *, budget_remaining: int | None, budget_per_minute: int,
               requests_per_sync: int) -> Limits:
        return Limits(target_s=self.target_s, tick_s=TICK_S,
                      max_concurrent=self.max_concurrent_syncs,
                      budget_remaining=budget_remaining, budget_per_minute=budget_per_minute,
                      requests_per_sync=requests_per_sync)
