"""`make bench`: the batch path's figures, printed.

1. At scale (default 1M fans, 10M transactions, 3M messages): raw → staging beside a
   hand-written staging script over the same raw files (target ≤ 1.5); wall time and peak memory of the
   staging-to-money-marts build, beside one hand-written DuckDB query computing the same money
   fields from the same staged tables, with the ratio (target ≤ 1.5) and peak memory (target
   ≤ 4 GB); then the build of every mart, whose fan_profile adds engagement, stage, lifecycle and
   personality fields to the money ones, with its own ratio.
2. Sync throughput from the simulator over HTTP: objects per second, and requests made against
   the fewest pages the contract allows; then steps per sync: each creator's run, full and
   incremental with nothing new, in Dagster steps and seconds of orchestration; then a year of
   syncs for one creator: one incremental sync (its staging, then its marts run) at the start
   and end of the year, and raw's size on disk before and after compaction.
3. The webhook receiver: events/s and p50/p99 latency with 16 clients and durable commits,
   beside a bare endpoint on the same server stack.
4. Instant: POST to the Telegram alert, to the live page and to the analysts' file, p50 and p95,
   on a quiet machine and while a batch sync runs.
5. The classifier: tokens and dollars per classification, live and batch; zero for unchanged;
   and what redaction costs a message, ordinary and hostile.
6. Publishing to the Postgres marts (rows/s) and runs per hour, parallel against serial.
7. The periodic sync at 200 creators with 150 ms per API request: a rotation's length, requests
   per minute, orchestration seconds per creator, creators kept within 45 minutes.
8. A blast to 100,000 fans through the simulator: messages per second, send requests against
   the fewest the endpoint allows, and a re-run once finished (no request).

Every step runs in a process of its own, so each peak resident memory is that step's alone.
Sizes can be lowered for a quick look: BENCH_FANS, BENCH_TRANSACTIONS, BENCH_MESSAGES, BENCH_CREATORS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def run_step(*args: str) -> tuple[dict, float, float]:
    """(result, wall seconds, peak RSS in GiB) of one step in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.steps", *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read()
    if status != 0:
        raise SystemExit(f"bench step {args[0]} failed (status {status}):\n{out}")
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), wall, usage.ru_maxrss / 1024 / 1024


def print_steps(steps: dict[str, float]) -> None:
    print("  " + ", ".join(f"{step.replace('__', '.')} {seconds:.1f} s"
                           for step, seconds in sorted(steps.items(), key=lambda item: -item[1])))


def main() -> None:
    fans = os.environ.get("BENCH_FANS", "1000000")
    transactions = os.environ.get("BENCH_TRANSACTIONS", "10000000")
    messages = os.environ.get("BENCH_MESSAGES", "3000000")
    creators = os.environ.get("BENCH_CREATORS", "1")
    print(f"== marts build at {int(float(fans)):,} fans, {int(float(transactions)):,} transactions, "
          f"{int(float(messages)):,} messages, {creators} creator partition(s); 2 DuckDB threads")
    prepared, wall, rss = run_step("prepare", fans, transactions, messages, creators)
    print(f"generate agency: {prepared['generate_s']:.1f} s; write raw layer: {prepared['raw_s']:.1f} s "
          f"(peak {rss:.2f} GiB)")
    staging, wall, rss = run_step("staging")
    print(f"raw → staging ({len(staging['steps'])} models + pandera checks): {staging['seconds']:.1f} s, "
          f"peak {rss:.2f} GiB")
    print_steps(staging["steps"])
    hand_staged, _, hand_staged_rss = run_step("hand_staging")
    print(f"hand-written staging script, same raw files (no rejects, checks or webhooks): "
          f"{hand_staged['seconds']:.1f} s, peak {hand_staged_rss:.2f} GiB; ratio "
          f"{staging['seconds'] / hand_staged['seconds']:.2f} (target ≤ 1.5)")
    money, money_wall, money_rss = run_step("money")
    print(f"staging → money marts ({len(money['steps'])} models, Dagster materialize): "
          f"{money['seconds']:.1f} s, peak {money_rss:.2f} GiB")
    print_steps(money["steps"])
    marts, marts_wall, marts_rss = run_step("marts")
    print(f"staging → every mart ({len(marts['steps'])} models: the money marts, then engagement, stage, "
          f"the lifecycle log's first evaluation, fan_profile, creators): {marts['seconds']:.1f} s, "
          f"peak {marts_rss:.2f} GiB")
    print_steps(marts["steps"])
    hand, hand_wall, hand_rss = run_step("hand")
    print(f"hand-written single query, same money fields: {hand['seconds']:.1f} s, peak {hand_rss:.2f} GiB")
    print(f"ratio money marts / hand-written: {money['seconds'] / hand['seconds']:.2f} (target ≤ 1.5); "
          f"peak memory {max(money_rss, marts_rss):.2f} GiB (target ≤ 4)")
    print(f"ratio every mart / hand-written: {marts['seconds'] / hand['seconds']:.2f} "
          f"(fan_profile holds ~90 fields besides the money ones)")
    same, _, _ = run_step("compare")
    print(f"money fields identical to the hand-written query: "
          f"{'yes' if same['differing_rows'] == 0 else 'NO'} ({same['fans']:,} fans, "
          f"{same['differing_rows']} differing rows)")
    published, wall, rss = run_step("publish")
    print(f"publish analysts' file ({published['fan_profile']:,} fan_profile rows): "
          f"{published['seconds']:.1f} s, peak {rss:.2f} GiB")

    from bench.agency_rollup import main as agency_rollup_main
    from bench.blast import main as blast_main
    from bench.classifier import main as classifier_main
    from bench.instant import main as instant_main
    from bench.postgres import main as postgres_main
    from bench.receiver import main as receiver_main
    from bench.redaction import main as redaction_main
    from bench.rotation import main as rotation_main
    from bench.sync_steps import main as sync_steps_main
    from bench.sync_throughput import main as sync_main
    from bench.year_of_syncs import main as year_of_syncs_main

    agency_rollup_main()
    print()
    sync_main()
    print()
    sync_steps_main()
    print()
    year_of_syncs_main()
    print()
    receiver_main()
    print()
    instant_main()
    print()
    classifier_main()
    print()
    redaction_main()
    print()
    postgres_main()
    print()
    rotation_main()
    print()
    blast_main()


if __name__ == "__main__":
    main()
