"""The deployment's rules for every blast: the holdout, the quiet period after a mass message,
and how many fans one API request carries. Editable in the launchpad; nothing secret here (the
API key and the ledger's URL come from the `ofapi` and `landing` resources, from the
environment only)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from ofhq_pipeline.blasts.plan import BlastSettings


class BlastSettingsResource(dg.ConfigurableResource):
    """What every blast follows, whichever segment it goes to."""

    holdout_share: float = Field(
        default=0.10, ge=0.0, lt=1.0,
        description="share of the eligible fans held out at random, recorded and never sent, "
        "so each blast's uplift can be measured")
    recent_mass_message_hours: int = Field(
        default=24, ge=0,
        description="a fan who received any mass message this recently (hours) is left out")
    fans_per_request: int = Field(
        default=1_000, ge=1, le=1_000,
        description="fans per mass-message request (the API takes at most 1,000)")

    def settings(self) -> BlastSettings:
        return BlastSettings(holdout_share=self.holdout_share,
                             recent_mass_message_hours=self.recent_mass_message_hours,
                             fans_per_request=self.fans_per_request)
