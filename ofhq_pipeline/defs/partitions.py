"""Every creator account is a partition, so each can be synced, retried and inspected alone."""

import dagster as dg

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.source.contract import is_creator_id

# Only plain account ids become partitions (they name folders of the lake); the lake refuses any
# other key before it touches a file (`LakeResource.setup_for_execution`).
creator_partitions = dg.DynamicPartitionsDefinition(name="creators")

# The creator's username, on every run a schedule or sensor starts for him: the UI shows run tags
# beside the partition id.
CREATOR_NAME_TAG = "ofhq/creator_username"


def has_run(instance: dg.DagsterInstance, creator_id: str, statuses: list[dg.DagsterRunStatus],
            job_name: str | None = None) -> bool:
    """Whether a run of the creator's partition (of `job_name`, when given) has one of `statuses`."""
    return bool(instance.get_run_ids(
        filters=dg.RunsFilter(job_name=job_name, statuses=statuses,
                              tags={"dagster/partition": creator_id}),
        limit=1))


def creator_tags(lake: Lake, creator_id: str) -> dict[str, str]:
    name = lake.creator_usernames().get(creator_id)
    return {CREATOR_NAME_TAG: name} if name else {}


__all__ = ["CREATOR_NAME_TAG", "creator_partitions", "creator_tags", "has_run", "is_creator_id"]
