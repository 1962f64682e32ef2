"""A blast to 100,000 fans through the simulator over HTTP: messages per second, and the requests
made against the fewest the endpoint allows (one per 1,000 fans of one price and time).

One creator with BENCH_BLAST_FANS (default 100,000) fans is served by the simulator on loopback;
the plan (every fan to send, a 10% holdout left out) is recorded in a fresh SQLite ledger, then
`send_blast` sends it through the real client and reads back every queue item's recipients.
Then the same blast runs again, as a re-run after it finished would: it must cost nothing.
A second pass loses the answer to every 10th request and cuts the run short once, to show what
reconciling costs.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ofhq_pipeline.blasts.ledger import Blast, BlastLedger
from ofhq_pipeline.blasts.send import send_blast
from ofhq_pipeline.source.client import OfapiClient
from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency

FANS = int(os.environ.get("BENCH_BLAST_FANS", "100000"))
PER_REQUEST = 1_000
HOLDOUT = 0.10


def plan(fan_ids: list[int]) -> pl.DataFrame:
    held = [i % 10 == 0 for i in range(len(fan_ids))]  # 10%: never sent
    sent_rank = 0
    chunks = []
    for is_held in held:
        chunks.append(None if is_held else sent_rank // PER_REQUEST + 1)
        sent_rank += not is_held
    return pl.DataFrame({
        "fan_id": fan_ids, "cohort": ["holdout" if h else "send" for h in held],
        "reason": ["holdout" if h else None for h in held],
        "price_cents": [999] * len(fan_ids), "price_basis": ["fixed"] * len(fan_ids),
        "scheduled_at": [None] * len(fan_ids), "chunk_no": chunks,
    }, schema_overrides={"scheduled_at": pl.Datetime("us", "UTC"), "chunk_no": pl.Int32})


def one_blast(server: SimulatorServer, creator: str, audience: pl.DataFrame, media: int,
              ledger: BlastLedger, blast_id: str, *, lose_every: int = 0) -> dict:
    blast = Blast(creator, blast_id, "bench", "New set tonight", (media,), "fixed", 999, "now",
                  HOLDOUT, 24, False, datetime.now(UTC), blast_id, "bench")
    started = time.perf_counter()
    ledger.record_plan(blast, audience)
    recorded = time.perf_counter() - started
    mass = server.sim.mass_messaging
    before = server.stats()["requests"]
    if lose_every:
        mass.lose_answers = set(range(mass.accepted + lose_every, mass.accepted + 10_000,
                                      lose_every))
    started = time.perf_counter()
    with OfapiClient(server.url, None, backoff_base_s=0.01) as client:
        report = send_blast(ledger, client, blast)
    seconds = time.perf_counter() - started
    mass.lose_answers = set()
    after = server.stats()["requests"]
    states = ledger.counts(blast)
    with OfapiClient(server.url, None) as client:
        again = time.perf_counter()
        send_blast(ledger, client, blast)
        rerun_seconds = time.perf_counter() - again
        rerun_requests = client.requests_made
    posts = after.get("mass_message_send", 0) - before.get("mass_message_send", 0)
    reads = sum(after.get(k, 0) - before.get(k, 0) for k in ("mass_message", "mass_message_queue"))
    return {"recorded_s": recorded, "seconds": seconds, "states": states, "posts": posts,
            "reads": reads, "reconciled": report.chunks_reconciled,
            "rerun_s": rerun_seconds, "rerun_requests": rerun_requests}


def main() -> None:
    agency = generate_agency(seed=11, n_creators=1, n_fans=FANS, n_transactions=FANS,
                             n_messages=FANS)
    creator = agency.accounts["id"][0]
    fan_ids = sorted(agency.fans.filter(pl.col("creator_id") == creator)["id"].to_list())
    media = int(agency.vault_media.filter(pl.col("creator_id") == creator)["id"][0])
    audience = plan(fan_ids)
    to_send = audience.filter(pl.col("cohort") == "send").height
    fewest = -(-to_send // PER_REQUEST)
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(agency) as server:
        ledger = BlastLedger(f"sqlite:///{Path(tmp) / 'landing.db'}")
        print(f"blast to {len(fan_ids):,} fans of one creator ({to_send:,} sent, "
              f"{len(fan_ids) - to_send:,} held out), through the simulator over HTTP")
        for label, blast_id, lose in (("clean", "bench-1", 0),
                                      ("every 10th answer lost", "bench-2", 10)):
            r = one_blast(server, creator, audience, media, ledger, blast_id, lose_every=lose)
            sent = r["states"].get("sent", 0)
            print(f"  {label}: {sent:,} delivered + {r['states'].get('failed', 0):,} refused "
                  f"by the API in {r['seconds']:.2f} s = {to_send / r['seconds']:,.0f} messages/s; "
                  f"{r['posts']} send requests (fewest {fewest}), {r['reads']} status reads, "
                  f"{r['reconciled']} chunks reconciled; plan recorded in {r['recorded_s']:.2f} s")
            print(f"    run again once finished: {r['rerun_requests']} requests, "
                  f"{r['rerun_s']:.2f} s")
        ledger.close()


if __name__ == "__main__":
    main()
