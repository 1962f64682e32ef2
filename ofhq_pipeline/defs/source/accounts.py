"""The agency's creator accounts, discovered from the API; they define the creator partitions."""


from datetime import UTC, datetime

import dagster as dg

from ofhq_pipeline.defs.models import asset_attributes
from ofhq_pipeline.defs.partitions import creator_partitions, has_run
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.source.contract import display_username, is_creator_id

IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def has_run_in_flight(instance: dg.DagsterInstance, creator_id: str) -> bool:
    """Whether a run of the creator waits or runs: his partition stays until it ends, since a
    run whose partition is gone fails (a creator the list does not name may still send webhooks:
    the webhook sensor adds him back at his next event)."""
    return has_run(instance, creator_id, IN_FLIGHT)


@dg.asset(**asset_attributes(
    "raw/accounts",
    description="Connected creator accounts from GET /api/accounts, as received. Each "
    "authenticated account becomes a partition of `creators`; accounts gone from the list "
    "leave the partitions once no run of theirs waits or runs (their published marts stay).",
))
def creator_accounts(
    context: dg.AssetExecutionContext, ofapi: OfapiResource, lake: LakeResource
) -> dg.MaterializeResult:
    fetched_at = datetime.now(UTC)
    with ofapi.client() as client:
        accounts = client.accounts()
    lake.lake().write_accounts(accounts, fetched_at=fetched_at)

    wanted = sorted(
        a["id"] for a in accounts if a.get("is_authenticated", True) and is_creator_id(a["id"])
    )
    unusable = sorted(str(a["id"]) for a in accounts if not is_creator_id(a["id"]))
    if unusable:  # an id names folders of the lake: only plain ones become partitions
        context.log.warning(f"accounts with ids that cannot be partitions: {unusable[:10]}")
    known = set(context.instance.get_dynamic_partitions(creator_partitions.name))
    added = [c for c in wanted if c not in known]
    removed = [c for c in sorted(known - set(wanted)) if not has_run_in_flight(context.instance, c)]
    if added:
        context.instance.add_dynamic_partitions(creator_partitions.name, added)
    for creator_id in removed:
        context.instance.delete_dynamic_partition(creator_partitions.name, creator_id)
    context.log.info(f"{len(wanted)} creators; added {added or 'none'}, removed {removed or 'none'}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(accounts),
            "creators": len(wanted),
            "added": dg.MetadataValue.json(added),
            "removed": dg.MetadataValue.json(removed),
            "not_authenticated": sum(1 for a in accounts if not a.get("is_authenticated", True)),
            "unusable_ids": dg.MetadataValue.json(unusable),
            # Partitions are account ids: who each one is.
            "creators_by_partition": dg.MetadataValue.md(
                "| partition | username |\n|---|---|\n" + "\n".join(
                    f"| {a['id']} | {display_username(a.get('username')) or ''} |" for a in accounts
                    if a["id"] in wanted)),
        }
    )
