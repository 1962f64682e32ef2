"""Freshness policies: the money marts are expected within the staleness target.

One place decides which assets carry a policy (the registry's money domain, marts layer) and how
long their window is (OFHQ_STALENESS_TARGET_MINUTES, 45 by default: the periodic sync's target),
so the Dagster UI marks them late when the rotation stops keeping up.

Dagster 1.13 judges such a policy on an asset's newest materialization of any partition: it
turns the asset red when no creator at all was synced within the target, not when one creator
is behind. The per-creator view is the periodic sync's tick log, which names every creator older
than the target, and the System Intelligence report.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from ofhq_pipeline import registry
from ofhq_pipeline.resources.rotation import staleness_target_minutes_from_env

FRESH_DOMAINS = ("money",)
FRESH_LAYERS = ("marts",)
WARN_SHARE = 0.75  # warn once three quarters of the window are gone


def has_freshness_policy(model: registry.Model) -> bool:
    return model.domain in FRESH_DOMAINS and model.layer in FRESH_LAYERS and model.per_creator


def freshness_policy(model: registry.Model) -> dg.FreshnessPolicy | None:
    """The policy of a table of the registry, or None when it has none."""
    if not has_freshness_policy(model):
        return None
    target = timedelta(minutes=staleness_target_minutes_from_env())
    warn = timedelta(seconds=round(target.total_seconds() * WARN_SHARE))
    # Dagster wants both windows at least a minute long, and the warning before the failure.
    if warn < timedelta(minutes=1) or warn >= target:
        return dg.FreshnessPolicy.time_window(fail_window=target)
    return dg.FreshnessPolicy.time_window(fail_window=target, warn_window=warn)


def freshness_attributes(model: registry.Model) -> dict:
    """`{"freshness_policy": ...}` for an asset decorator or AssetSpec, or {} without one."""
    policy = freshness_policy(model)
    return {} if policy is None else {"freshness_policy": policy}
