"""The real-time path, end to end, as an operator runs it: `ofhq webhooks serve`, `ofhq daemon`
and `ofhq live serve`, in processes of their own, on the embedded default (SQLite landing store,
local Dagster storage, DuckDB), with a fake Telegram Bot API on loopback.

For each purchase, a signed POST of `transactions.new` and of its `tips.received` (a tip of $60,
which the big-tip rule alerts on), then three latencies from the POST:

- the Telegram alert, as the fake Bot API receives it;
- the purchase on the live page, as a signed-in agency member's server-sent events carry it;
- the purchase in the analysts' file, through the webhook sensor and a real-time Dagster run.

Two loads: a quiet machine, and the same while a batch sync of the demo agency (the simulator's
9 creators, `ofhq sync` in a loop) runs on the same machine and the same Dagster instance.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

EVENTS = int(os.environ.get("BENCH_INSTANT_EVENTS", "30"))
SPACING_S = float(os.environ.get("BENCH_INSTANT_SPACING_S", "4"))
CREATORS = ["acct_fresh1", "acct_fresh2", "acct_fresh3"]


def purchase(key: str) -> dict:
    return {"id": f"tr_fresh_{key}", "amount": 60.0, "net_amount": 48.0, "fee_amount": 12.0,
            "type": "tip", "status": "done", "created_at": datetime.now(UTC).isoformat(),
            "description": "Tip from fan", "fan": {"id": 5000 + abs(hash(key)) % 97}}


def tip(key: str) -> dict:
    return {"id": f"tip_fresh_{key}", "amountGross": 60.0,
            "createdAt": datetime.now(UTC).isoformat(),
            "user": {"id": 5000 + abs(hash(key)) % 97, "name": f"fan {key}"}}


class PageWatcher(threading.Thread):
    """When each transaction id first reached the live page (the member's event stream)."""

    def __init__(self, client) -> None:
        super().__init__(daemon=True)
        self.client, self.seen = client, {}
        self.stop = False

    def run(self) -> None:
        import contextlib

        import httpx

        with contextlib.suppress(httpx.HTTPError), self.client.stream("GET", "/stream") as stream:
            for line in stream.iter_lines():
                if self.stop:
                    return
                if not line.startswith("data: "):
                    continue
                now = time.monotonic()
                view = json.loads(line[6:])
                for item in view["sections"].get("purchases", []):
                    self.seen.setdefault(item["transaction_id"], now)


def measure(stack, telegram, page: PageWatcher, load: str) -> dict[str, list[float]]:
    posted: dict[str, float] = {}
    keys = [f"{load}_{n}" for n in range(EVENTS)]

    def send() -> None:
        for n, key in enumerate(keys):
            creator = CREATORS[n % len(CREATORS)]
            sent = time.monotonic()
            assert stack.post("transactions.new", creator, purchase(key),
                              f"p_{key}").status_code == 200
            assert stack.post("tips.received", creator, tip(key), f"t_{key}").status_code == 200
            posted[key] = sent
            time.sleep(SPACING_S)

    sender = threading.Thread(target=send)
    sender.start()  # the file is watched while the purchases land
    in_file = wait_in_file(stack, {f"tr_fresh_{k}" for k in keys},
                           timeout=EVENTS * SPACING_S + 300)
    sender.join()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
            len(alerts(telegram, load)) < len(posted)
            or any(f"tr_fresh_{k}" not in page.seen for k in posted)):
        time.sleep(0.1)
    alerted = alerts(telegram, load)
    return {
        "alert": sorted(alerted[k] - posted[k] for k in posted if k in alerted),
        "page": sorted(page.seen[f"tr_fresh_{k}"] - posted[k] for k in posted
                       if f"tr_fresh_{k}" in page.seen),
        "file": sorted(in_file[f"tr_fresh_{k}"] - posted[k] for k in posted),
    }


def alerts(telegram, load: str) -> dict[str, float]:
    """When the Bot API received each purchase's alert (its first, and the count per key)."""
    seen: dict[str, float] = {}
    for at, _, body in list(telegram.requests):
        text = body.get("text", "")
        marker = f"from fan {load}_"
        if marker in text:
            seen.setdefault(text.split("from fan ", 1)[1], at)
    return seen


def duplicates(telegram) -> int:
    texts = [body.get("text") for _, _, body in telegram.requests]
    return len(texts) - len(set(texts))


def wait_in_file(stack, ids: set[str], timeout: float) -> dict[str, float]:
    from ofhq_pipeline.lake import file_version

    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    read = None
    while len(seen) < len(ids) and time.monotonic() < deadline:
        # A publish replaces the file whole (a rename): it is read again only when replaced, so
        # the watching costs the machine next to nothing while it waits.
        version = file_version(stack.home / "marts.duckdb")
        if version is None or version == read:
            time.sleep(0.05)
            continue
        read = version
        rows = stack.marts("SELECT transaction_id FROM marts.transactions "
                           "WHERE transaction_id LIKE 'tr_fresh_%'") or []
        now = time.monotonic()
        for (tx,) in rows:
            if tx in ids:
                seen.setdefault(tx, now)
        time.sleep(0.05)
    if len(seen) < len(ids):
        raise SystemExit(f"not in the analysts' file after {timeout:.0f} s\n{stack.log('daemon')}")
    return seen


class BatchSync:
    """`ofhq sync` of the demo agency, again and again, against the simulator."""

    def __init__(self, stack, simulator_url: str) -> None:
        self.env = {**stack.env, "OFAPI_BASE_URL": simulator_url, "OFAPI_API_KEY": "bench-key-0123"}
        self.proc: subprocess.Popen | None = None
        self.running = True
        self.syncs = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        ofhq = str(Path(sys.executable).parent / "ofhq")
        while self.running:
            self.proc = subprocess.Popen([ofhq, "sync"], env=self.env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            self.proc.wait()
            self.syncs += 1

    def __enter__(self) -> BatchSync:
        self.thread.start()
        time.sleep(5)  # the sync is under way (discovery, the first creators' pages)
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        if self.proc is not None:
            self.proc.terminate()
        self.thread.join(timeout=60)


def realtime_run_outcomes(dagster_home: Path) -> str:
    """How many real-time runs ended how (a failed one is run again by the daemon)."""
    from collections import Counter

    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)  # the storage's base_dir names it
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="realtime_update"))
        ended = Counter(run.status.value.lower() for run in runs)
        retries = sum("dagster/parent_run_id" in run.tags for run in runs)
    finally:
        instance.dispose()
    return ", ".join(f"{n} {status}" for status, n in sorted(ended.items())) + \
        f" ({retries} of them retries of a failed one)"


def line(name: str, latencies: list[float], target: str) -> str:
    if not latencies:
        return f"  {name}: none measured"
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    return (f"  {name}: p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, "
            f"max {latencies[-1]:.2f} s ({len(latencies)} purchases; target {target})")


def main() -> None:
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency
    from ofhq_pipeline_tests.servers import FakeTelegram, serve_app
    from ofhq_pipeline_tests.stack import RealtimeStack

    telegram = FakeTelegram()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as root, \
            serve_app(telegram.app()) as telegram_url, \
            SimulatorServer(generate_agency(seed=7), api_key="bench-key-0123") as simulator:
        env = {"TELEGRAM_BOT_TOKEN": "123:bench", "TELEGRAM_CHAT_ID": "-1",
               "TELEGRAM_API_BASE_URL": telegram_url,
               # to compare with Dagster's own run start: OFHQ_RUN_START=spawn
               **{k: os.environ[k] for k in ("OFHQ_RUN_START",) if k in os.environ}}
        with RealtimeStack(Path(root), env, live=True) as stack:
            page = PageWatcher(stack.live_client())
            page.start()
            # Warm up: every creator registered and published once, as in steady operation.
            for i, creator in enumerate(CREATORS):
                stack.post("transactions.new", creator, purchase(f"warm_{i}"), f"warm_{i}")
            wait_in_file(stack, {f"tr_fresh_warm_{i}" for i in range(len(CREATORS))}, 180)
            results = [("quiet machine", measure(stack, telegram, page, "quiet"))]
            with BatchSync(stack, simulator.url) as batch:
                results.append(("while a batch sync of the demo agency runs",
                                measure(stack, telegram, page, "busy")))
            page.stop = True
            runs = realtime_run_outcomes(stack.dagster_home)
    print(f"== instant: POST → Telegram alert, live page, analysts' file ({EVENTS} purchases "
          f"per load, one every {SPACING_S:.0f} s over {len(CREATORS)} creators; `ofhq webhooks "
          "serve` + `ofhq daemon` + `ofhq live serve`)")
    for load, latencies in results:
        print(load + ":")
        print(line("POST → Telegram alert", latencies["alert"], "p50 ≤ 1 s, p95 ≤ 2 s"))
        print(line("POST → live page", latencies["page"], "p50 ≤ 1 s, p95 ≤ 2 s"))
        print(line("POST → analysts' file", latencies["file"], "p50 ≤ 5 s, p95 ≤ 10 s"))
    print(f"alerts sent twice: {duplicates(telegram)}; batch syncs during the busy load: "
          f"{batch.syncs} finished; real-time runs: {runs}")


if __name__ == "__main__":
    main()
