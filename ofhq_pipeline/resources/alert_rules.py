"""Which real-time alerts fire, and their thresholds: editable in the launchpad."""

from __future__ import annotations

import dagster as dg

ALERT_RULES = ("new_subscriber", "big_tip", "new_whale", "ppv_unlocked", "chargeback")


class AlertRules(dg.ConfigurableResource):
    """`enabled` picks rules from ALERT_RULES; a whale is the fan profile's `price_range`."""

    enabled: list[str] = list(ALERT_RULES)
    tip_threshold_cents: int = 5_000
    # Only events received (and chargebacks recorded) this recently alert: a first sync of old
    # history must not page anyone about last year.
    window_hours: int = 24
