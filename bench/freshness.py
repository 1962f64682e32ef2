"""End-to-end freshness of the real-time path: a signed POST to the receiver until the purchase is
in the analysts' file, through the Dagster daemon's sensor and a real-time run, on the embedded
default (SQLite landing store, local Dagster storage, DuckDB)."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

EVENTS = 50
# Two loads: purchases paced as an agency's steady flow (one every 4 s, so each creator's run
# has ended before his next purchase lands), and a burst of one a second that keeps every core
# busy, where a purchase also waits for its creator's run in progress.
LOADS = [("paced", 4.0), ("burst", 1.0)]
CREATORS = ["acct_fresh1", "acct_fresh2", "acct_fresh3"]


def purchase(key: str, fan: int = 0) -> dict:
    return {"id": f"tr_fresh_{key}", "amount": 10.0, "net_amount": 8.0, "fee_amount": 2.0,
            "type": "tip", "status": "done", "created_at": datetime.now(UTC).isoformat(),
            "description": "Tip from fan", "fan": {"id": 1000 + fan % 7}}


def measure(stack, load: str, spacing_s: float) -> list[float]:
    """POST → visible latency of each of EVENTS purchases sent `spacing_s` apart."""
    posted: dict[str, float] = {}
    ids = [f"{load}_{n}" for n in range(EVENTS)]

    def send() -> None:
        for n, key in enumerate(ids):
            tx = purchase(key, n)
            sent = time.monotonic()
            response = stack.post("transactions.new", CREATORS[n % len(CREATORS)], tx, key)
            assert response.status_code == 200, response.text
            posted[tx["id"]] = sent
            time.sleep(spacing_s)

    sender = threading.Thread(target=send)
    sender.start()
    seen = wait_for(stack, [f"tr_fresh_{key}" for key in ids], timeout=EVENTS * spacing_s + 180)
    sender.join()
    return sorted(seen[tx] - posted[tx] for tx in posted)


def main() -> None:
    from ofhq_pipeline_tests.stack import RealtimeStack

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as root, \
            RealtimeStack(Path(root)) as stack:
        # Warm up: every creator registered and published once, as in steady operation.
        for i, creator in enumerate(CREATORS):
            stack.post("transactions.new", creator, purchase(f"warm_{i}"), f"warm_{i}")
        wait_for(stack, [f"tr_fresh_warm_{i}" for i in range(len(CREATORS))], timeout=120)
        results = [(load, spacing, measure(stack, load, spacing)) for load, spacing in LOADS]
    print(f"== end-to-end freshness ({EVENTS} purchases per load over {len(CREATORS)} creators; "
          "POST → visible in the analysts' file; `ofhq webhooks serve` + `ofhq daemon`)")
    for load, spacing, latencies in results:
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"{load}, one every {spacing:.0f} s: p50 {statistics.median(latencies):.1f} s, "
              f"p95 {p95:.1f} s, max {latencies[-1]:.1f} s (target p50 ≤ 8 s)")


def wait_for(stack, ids: list[str], timeout: float) -> dict[str, float]:
    """When each transaction id first showed in the analysts' file (monotonic seconds)."""
    wanted, seen = set(ids), {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(wanted) and time.monotonic() < deadline:
        rows = stack.marts("SELECT transaction_id FROM marts.transactions "
                           "WHERE transaction_id LIKE 'tr_fresh_%'") or []
        now = time.monotonic()
        for (tx,) in rows:
            if tx in wanted:
                seen.setdefault(tx, now)
        time.sleep(0.05)
    missing = wanted - set(seen)
    if missing:
        raise SystemExit(f"not visible after {timeout:.0f} s: {sorted(missing)[:5]}\n"
                         f"{stack.log('daemon')}")
    return seen


if __name__ == "__main__":
    main()
