"""Every creator account is a partition, so each can be synced, retried and inspected alone."""

import dagster as dg

from ofhq_pipeline.source.contract import is_creator_id

# Only plain account ids become partitions (they name folders of the lake); the lake refuses any
# other key before it touches a file (`LakeResource.setup_for_execution`).
creator_partitions = dg.DynamicPartitionsDefinition(name="creators")

__all__ = ["creator_partitions", "is_creator_id"]
