"""From a request to a recorded blast: the blast a run is about, planned and recorded the first
time it is confirmed, found in the ledger every time after (its audience frozen there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from ofhq_pipeline.blasts.ledger import Blast, BlastLedger
from ofhq_pipeline.blasts.plan import BlastRequest, BlastSettings, plan_audience, recent_since
from ofhq_pipeline.blasts.preview import Preview, preview
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.segments.members import members_path
from ofhq_pipeline.segments.spec import Segment


@dataclass(frozen=True)
class Prepared:
    blast: Blast
    preview: Preview | None  # when planned by this run (None: found in the ledger)


def prepare_blast(store: Lake, ledger: BlastLedger, segment: Segment, request: BlastRequest,
                  settings: BlastSettings, *, creator_id: str, blast_id: str, as_of: datetime,
                  run_id: str) -> Prepared:
    """The blast of this request for the creator: the recorded one when it was planned before
    (`BlastConflict` if with other parameters), else planned now, and recorded when confirmed."""
    blast = Blast(
        creator_id=creator_id, blast_id=blast_id, segment=segment.name, text=request.text,
        media_ids=request.media_ids, price_mode=request.price_mode,
        price_cents=request.price_cents, send_at=request.at,
        holdout_share=settings.holdout_share,
        recent_mass_message_hours=settings.recent_mass_message_hours,
        include_expired=segment.include_expired, planned_at=as_of,
        parameters_sha256=request.parameters_sha256(creator_id), run_id=run_id)
    known = ledger.recorded(blast)
    if known is not None:
        return Prepared(known, preview=None)
    audience = plan_audience(
        store, segment, creator_id, request, settings, blast_id=blast_id, as_of=as_of,
        run_id=run_id, recent_sends=ledger.recent_sends(
            creator_id, recent_since(as_of, settings), other_than=blast_id))
    found = preview(audience, pl.read_parquet(members_path(store, segment.name, creator_id),
                                              columns=["fan_id", "username"]))
    if request.confirm:
        ledger.record_plan(blast, audience)
    return Prepared(blast, preview=found)
