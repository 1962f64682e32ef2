"""The marts' layer steps: every SQL model past staging and the Python-built models folded in,
each its own asset, built by as few Dagster steps as the graph allows (layers.py), with the
options each domain gives its models (money.py, defs/lifecycle, defs/vault, defs/ltv,
defs/blasts).

A run writes its marts into a folder of its own; `publish` makes them current together, so
neither analysts nor the next run ever see some of a run's marts without the others. Each mart's
checks (`checks.MART_CHECKS`) run with it, in the same step and session.
"""

from ofhq_pipeline.defs.blasts.assets import blast_models
from ofhq_pipeline.defs.lifecycle.assets import lifecycle_models
from ofhq_pipeline.defs.ltv.assets import ltv_models
from ofhq_pipeline.defs.marts.layers import layer_steps
from ofhq_pipeline.defs.marts.money import money_models
from ofhq_pipeline.defs.models import layer_step
from ofhq_pipeline.defs.vault.assets import vault_models

mart_assets = layer_steps({**money_models, **lifecycle_models, **vault_models, **ltv_models,
                           **blast_models})


# The transactions mart in a step of its own, for a run that needs it and none of its neighbours
# (the classifier's or the chatters' inputs, in their tests). Not in the code location: there
# the layer step builds it.
marts_transactions = layer_step(
    "marts_transactions", {"marts/transactions": money_models["marts/transactions"]},
    description="Builds marts/transactions alone.")
