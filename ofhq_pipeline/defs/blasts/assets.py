"""A blast: one segment's mass message for one creator, planned, recorded, sent, read back.

    segments/<name> + fan_profile + fan_asset_status + fan_recommendations + staging/messages
        ──► blasts/sends (the ledger: every (blast, fan) recorded before it is sent)
        ──► marts/blast_recipients ──► marts/blasts ──► published/analysts_marts

The request is the run's tags (`ofhq/blast_segment`, `_text`, `_media`, `_price`, `_at`,
`_confirm`, `_id`): `ofhq segments send` sets them, and so can the launchpad. Without
`ofhq/blast_confirm=true` the step is a dry run: it records an observation with who would get
what and why, sends nothing, writes nothing, and the marts after it are skipped.

The blast's id is `ofhq/blast_id`, else the id of the first run of a re-executed run, so a
re-execution from the UI resumes the same blast and sends only what is missing.
"""


import time
from collections.abc import Iterator

import dagster as dg
import duckdb

from ofhq_pipeline.blasts.ledger import Blast, BlastConflict, BlastLedger
from ofhq_pipeline.blasts.mirror import attach_ledger, write_mirror
from ofhq_pipeline.blasts.plan import (
    BlastRequest,
    BlastRequestError,
)
from ofhq_pipeline.blasts.preview import Preview
from ofhq_pipeline.blasts.record import prepare_blast
from ofhq_pipeline.blasts.send import BlastSendError, send_blast
from ofhq_pipeline.defs.models import ModelOptions, Step, asset_attributes, asset_key
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.blasts import BlastSettingsResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.segments.members import markdown_table
from ofhq_pipeline.segments.spec import SegmentError, find_segment

BLAST_SENDS = "blasts/sends"
ROOT_RUN_TAG = "dagster/root_run_id"


def blast_id_of(request: BlastRequest, run: dg.DagsterRun) -> str:
    return request.blast_id or run.tags.get(ROOT_RUN_TAG) or run.run_id


def preview_metadata(found: Preview) -> dict:
    return {
        **found.metadata(),
        "excluded_by_reason": dg.MetadataValue.json(found.excluded_by_reason),
        "sample": dg.MetadataValue.md(markdown_table(found.sample) if found.sample else "none"),
        "excluded_sample": dg.MetadataValue.md(
            markdown_table(found.excluded_sample) if found.excluded_sample else "none"),
    }


@dg.asset(
    **asset_attributes(
        BLAST_SENDS,
        description="Sends a segment's mass message for one creator (the run's `ofhq/blast_*` "
        "tags; a dry run without `ofhq/blast_confirm=true`): every (blast, fan) is recorded in "
        "the ledger before it is sent and marked after, so a re-run sends only what is missing.",
    ),
    output_required=False,
)
def blast_sends(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    sync: SyncSettings,
    ofapi: OfapiResource,
    landing: LandingResource,
    blast_settings: BlastSettingsResource,
) -> Iterator[dg.MaterializeResult]:
    started = time.perf_counter()
    creator_id = context.partition_key
    try:
        request = BlastRequest.from_tags(context.run.tags)
        segment = find_segment(request.segment)
    except (BlastRequestError, SegmentError) as exc:
        raise dg.Failure(str(exc)) from None
    blast_id = blast_id_of(request, context.run)
    store = lake.lake()
    with landing.blast_ledger() as ledger:
        try:
            prepared = prepare_blast(
                store, ledger, segment, request, blast_settings.settings(),
                creator_id=creator_id, blast_id=blast_id, as_of=sync.resolve_as_of(context),
                run_id=context.run_id)
        except (BlastRequestError, BlastConflict) as exc:
            raise dg.Failure(str(exc)) from None
        blast = prepared.blast
        if not request.confirm:
            dry_run(context, blast, prepared.preview, ledger)
            return
        with ofapi.client() as client:
            try:
                report = send_blast(ledger, client, blast)
            except BlastSendError as exc:
                raise dg.Failure(str(exc), metadata={"states": ledger.counts(blast)}) from None
            finally:  # what went out, even when the run stops: the next marts run shows it
                write_mirror(store, ledger, blast)
        states = ledger.counts(blast)
    yield dg.MaterializeResult(metadata={
        "blast_id": blast.blast_id,
        "segment": blast.segment,
        "states": dg.MetadataValue.json(states),
        "sent": states.get("sent", 0),
        "failed": states.get("failed", 0),
        "scheduled": states.get("queued", 0),
        "held_out": states.get("held_out", 0),
        "excluded": states.get("excluded", 0),
        "requests": report.requests,
        "status_reads": report.status_reads,
        "chunks_reconciled": report.chunks_reconciled,
        "dagster/row_count": sum(states.values()),
        "seconds": round(time.perf_counter() - started, 3),
    })


def dry_run(context: dg.AssetExecutionContext, blast: Blast, found: Preview | None,
            ledger: BlastLedger) -> None:
    """Who would get what and why, as an observation of the step (nothing sent or recorded);
    of a blast already recorded, what the ledger holds."""
    if found is None:
        context.log.info("blast %s is already recorded: %s", blast.blast_id, ledger.counts(blast))
        return
    context.log_event(dg.AssetObservation(
        asset_key=asset_key(BLAST_SENDS), partition=blast.creator_id,
        metadata={"dry_run": True, "blast_id": blast.blast_id, "segment": blast.segment,
                  **preview_metadata(found)}))
    context.log.info("dry run of blast %s: %s", blast.blast_id, "; ".join(found.lines()))


def load_ledger(step: Step, con: duckdb.DuckDBPyConnection) -> None:
    """`ledger.blasts` and `ledger.blast_recipients`, which sql/marts/blast_recipients.sql and
    blasts.sql read: the lake's copy of the creator's blasts (blasts/mirror.py)."""
    attach_ledger(step.store, con, step.creator_id)


blast_models = {
    "marts/blast_recipients": ModelOptions(prepare=load_ledger),
    "marts/blasts": ModelOptions(prepare=load_ledger),
}
