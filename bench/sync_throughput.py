"""Sync throughput: the whole agency pulled from the simulator over HTTP through Dagster runs."""

from __future__ import annotations

import math
import os
import tempfile
import time

import dagster as dg
import polars as pl


def fewest_pages(agency) -> int:
    """Requests a perfect client needs: full pages everywhere, one request per short list."""
    def pages(frame: pl.DataFrame, by: list[str], limit: int) -> int:
        if frame.height == 0:
            return 0
        sizes = frame.group_by(by).len()["len"].to_list()
        return sum(math.ceil(n / limit) for n in sizes)

    creators = agency.accounts.height
    chats = agency.messages.select("creator_id", "fan_id").unique()
    return (
        1  # accounts
        + max(creators, pages(agency.fans, ["creator_id"], 20))
        + max(creators, pages(agency.transactions, ["creator_id"], 100))
        + creators  # chargebacks: at least one request each
        + max(creators, pages(chats, ["creator_id"], 100))
        + pages(agency.messages, ["creator_id", "fan_id"], 100)
        + max(creators, pages(agency.vault_media, ["creator_id"], 100))
    )


def main() -> None:
    from ofhq_pipeline.definitions import build_definitions
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency
    from ofhq_pipeline.sync import sync

    scale = float(os.environ.get("BENCH_SYNC_SCALE", "1"))
    agency = generate_agency(seed=7, scale=scale)
    objects = (agency.fans.height + agency.transactions.height + agency.chargebacks.height
               + agency.messages.height + agency.vault_media.height
               + agency.messages.select("creator_id", "fan_id").unique().height)
    with tempfile.TemporaryDirectory() as home, SimulatorServer(agency, api_key="bench") as sim, \
            dg.instance_for_test() as instance:
        os.environ.update(OFHQ_HOME=home, OFAPI_BASE_URL=sim.url, OFAPI_API_KEY="bench",
                          OFHQ_AS_OF=agency.end.isoformat())
        defs = build_definitions()
        start = time.perf_counter()
        runs = sync(defs, instance)
        wall = time.perf_counter() - start
        assert all(r.success for r in runs), [r.error for r in runs if not r.success]
        requests = 1 + sum(meta.get("requests", 0) for r in runs
                           for key, meta in r.metadata.items() if key.startswith("raw/"))
        fetch_s = sum(float(meta.get("fetch_seconds", 0)) for r in runs
                      for key, meta in r.metadata.items() if key.startswith("raw/"))
        start = time.perf_counter()
        again = sync(defs, instance)
        incremental_wall = time.perf_counter() - start
        incremental_requests = 1 + sum(meta.get("requests", 0) for r in again
                                       for key, meta in r.metadata.items() if key.startswith("raw/"))
    minimum = fewest_pages(agency)
    print(f"== sync throughput (scale {scale}: {agency.accounts.height} creators, {objects:,} objects)")
    print(f"full sync through Dagster, all creators: {wall:.1f} s → {objects / wall:,.0f} objects/s end to end")
    if fetch_s:
        print(f"  of which HTTP fetching: {fetch_s:.1f} s → {objects / fetch_s:,.0f} objects/s")
    print(f"requests: {requests:,} made, {minimum:,} the fewest possible "
          f"({requests / minimum:.2f}×; the simulator serves short pages, as the API does)")
    print(f"incremental re-sync with nothing new: {incremental_wall:.1f} s, {incremental_requests:,} requests")


if __name__ == "__main__":
    main()
