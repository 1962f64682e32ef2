"""Which real-time alerts fire, and their thresholds: editable in the launchpad."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

ALERT_RULES = ("new_subscriber", "big_tip", "new_whale", "ppv_unlocked", "chargeback")


class AlertRules(dg.ConfigurableResource):
    """`enabled` picks rules from ALERT_RULES; a whale is the fan profile's `price_range`."""

    enabled: list[str] = Field(default=list(ALERT_RULES),
                               description="the rules that alert, of " + ", ".join(ALERT_RULES))
    tip_threshold_cents: int = Field(default=5_000,
                                     description="a tip of at least this many cents is big")
    # Only events received (and chargebacks recorded) this recently alert: a first sync of old
    # history must not page anyone about last year.
    window_hours: int = Field(default=24,
                              description="only events this recent (hours) alert")
