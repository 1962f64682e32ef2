"""Sending a planned blast: a chunk at a time, recorded before and after, never twice.

For each chunk (one API request: one price, one delivery time, at most the API's maximum of
fans), the ledger marks it `sending` and commits *before* the POST, then `queued` with the
API's queue id after it. A POST is not idempotent, so it is never blindly retried: a 429 was
refused and is retried by the client; an answer that never came (5xx, timeout, dropped
connection: `AmbiguousSend`) may or may not have been taken. Such a chunk, and any chunk an
earlier run left `sending`, is reconciled with the API's queue before anything else is sent: a
queue item with the blast's text and price whose recipients are exactly the chunk's fans is the
chunk (marked `queued`); when there is none, the API never took it and it is sent again.

Then every queue item of the blast not reported on yet is read back: its recipients become
`sent` or `failed` with the API's reason; a scheduled one stays `queued` until a later run
(a re-run of the blast, `ofhq segments send --resume`) finds it delivered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from ofhq_pipeline.blasts.ledger import Blast, BlastLedger, Chunk, Outcome
from ofhq_pipeline.settings import parse_instant
from ofhq_pipeline.source.client import AmbiguousSend, OfapiClient, OfapiError

# How often one chunk is sent again after the API was found not to have taken it.
MAX_RESENDS = 3


class BlastSendError(RuntimeError):
    """Sending stopped; the ledger says what went out, and a re-run sends only the rest."""


@dataclass
class SendReport:
    requests: int = 0  # POSTs made (the client's retries of a 429 included)
    chunks_sent: int = 0
    chunks_reconciled: int = 0  # found in the API's queue after an answer that never came
    resent: int = 0  # chunks the API had not taken, sent again
    status_reads: int = 0
    outcomes: Counter = field(default_factory=Counter)


def send_blast(ledger: BlastLedger, client: OfapiClient, blast: Blast) -> SendReport:
    """Send every open chunk of `blast`, then read back what the API did with each."""
    report = SendReport()
    for chunk in ledger.open_chunks(blast):
        if chunk.state == "sending" and reconcile(ledger, client, blast, chunk):
            report.chunks_reconciled += 1
            continue
        send_chunk(ledger, client, blast, chunk, report)
    read_outcomes(ledger, client, blast, report)
    return report


def send_chunk(ledger: BlastLedger, client: OfapiClient, blast: Blast, chunk: Chunk,
               report: SendReport) -> None:
    for attempt in range(MAX_RESENDS + 1):
        ledger.set_chunk(blast, chunk.chunk_no, "sending", from_states=("planned", "sending"))
        before = client.requests_made
        try:
            item = client.send_mass_message(
                blast.creator_id, fan_ids=list(chunk.fan_ids), text=blast.text,
                price_cents=chunk.price_cents, media_ids=list(blast.media_ids),
                scheduled_at=chunk.scheduled_at)
        except AmbiguousSend:
            report.requests += client.requests_made - before
            if reconcile(ledger, client, blast, chunk):
                report.chunks_reconciled += 1
                return
            report.resent += attempt < MAX_RESENDS
            continue
        except OfapiError as exc:
            # Refused for good (a bad media id, a price the API rejects): nothing was taken.
            report.requests += client.requests_made - before
            ledger.set_chunk(blast, chunk.chunk_no, "planned", from_states=("sending",))
            raise BlastSendError(f"blast {blast.blast_id}, chunk {chunk.chunk_no} "
                                 f"({len(chunk.fan_ids)} fans): {exc}") from None
        report.requests += client.requests_made - before
        ledger.set_chunk(blast, chunk.chunk_no, "queued", from_states=("sending",),
                         queue_id=int(item["id"]))
        report.chunks_sent += 1
        return
    raise BlastSendError(f"blast {blast.blast_id}, chunk {chunk.chunk_no}: no answer from the "
                         f"API after {MAX_RESENDS + 1} tries; it stays `sending` and the next "
                         "run reconciles it with the API's queue before sending anything")


def reconcile(ledger: BlastLedger, client: OfapiClient, blast: Blast, chunk: Chunk) -> bool:
    """Whether the API took the chunk: a queue item not yet matched to any blast, with the
    blast's text and the chunk's price, whose recipients are exactly the chunk's fans. Marks
    it `queued` when found, `planned` (to send again) when not. A failure to read the queue
    leaves it `sending` and raises."""
    taken = ledger.queue_ids(blast.creator_id)
    fans = set(chunk.fan_ids)
    price = chunk.price_cents / 100
    for item in client.mass_message_queue(blast.creator_id):
        queue_id = int(item["id"])
        if queue_id in taken or item.get("total") not in (None, -1, len(fans)):
            continue
        if item.get("text") not in (None, blast.text) or (
                item.get("price") is not None and float(item["price"]) != price):
            continue
        detail = client.mass_message(blast.creator_id, queue_id)
        recipients = {int(r["userId"]) for r in detail.get("recipients") or []}
        if recipients == fans:
            ledger.set_chunk(blast, chunk.chunk_no, "queued", from_states=("sending",),
                             queue_id=queue_id)
            return True
    ledger.set_chunk(blast, chunk.chunk_no, "planned", from_states=("sending",))
    return False


def read_outcomes(ledger: BlastLedger, client: OfapiClient, blast: Blast,
                  report: SendReport) -> None:
    """Each queue item of the blast still `queued`: its recipients sent or failed, as the API
    reports them (pending ones, such as a scheduled item's, stay queued)."""
    for queue_id in ledger.queued(blast):
        item = client.mass_message(blast.creator_id, queue_id)
        report.status_reads += 1
        outcomes = [Outcome(int(r["userId"]), str(r.get("status")), r.get("reason"))
                    for r in item.get("recipients") or []]
        delivered_at = _instant(item.get("date"))
        report.outcomes.update(ledger.record_outcomes(blast, queue_id, delivered_at, outcomes))


def _instant(value: object) -> datetime | None:
    try:
        return parse_instant(str(value)) if value else None
    except ValueError:
        return None
