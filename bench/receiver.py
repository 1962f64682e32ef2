"""Webhook receiver throughput and latency, beside a bare endpoint on the same server stack.

The receiver runs in a subprocess (uvicorn, one worker, httptools + uvloop when installed) over a
fresh SQLite landing store with its durable defaults (WAL, synchronous=FULL: every acknowledged
event is fsynced). The same process also serves `POST /bare`, a route that reads the body and
answers without doing anything, so the cost of the receiver's own work (signature check, parsing,
the commit) shows against the server stack's. 16 clients in threads, httpx with keep-alive, send
signed `transactions.new` deliveries; each latency is one request's round trip. Loopback only.

Size: BENCH_RECEIVER_EVENTS (default 5,000) events per endpoint, 16 clients.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

SECRET = "bench-secret-0123456789abcdef"
CLIENTS = 16
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_server(landing_url: str):
    """The receiver app with a do-nothing `POST /bare` route beside it."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ofhq_pipeline.realtime.landing import LandingStore
    from ofhq_pipeline.realtime.receiver import create_receiver_app

    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "stored"})

    app = create_receiver_app(LandingStore(landing_url), [SECRET])
    app.router.routes.append(Route("/bare", bare, methods=["POST"]))
    return app


def serve(port: int, landing_url: str) -> None:
    import uvicorn

    uvicorn.run(build_server(landing_url), host="127.0.0.1", port=port, workers=1,
                log_level="warning", access_log=False)


NOW = datetime.now(UTC).isoformat(timespec="seconds")


def delivery(i: int) -> tuple[bytes, dict[str, str]]:
    from ofhq_pipeline.realtime.signature import sign

    body = json.dumps({
        "event": "transactions.new",
        "account_id": f"acct_{i % 9}",
        "payload": {
            "id": f"tr_bench_{i}", "amount": 25.0, "net_amount": 20.0, "fee_amount": 5.0,
            "vatAmount": 0, "currency": "USD", "type": "message", "status": "done",
            "created_at": NOW,  # within the stale horizon, so every event is applied
            "description": "Payment for message from <a href=\"https://onlyfans.com/u1\">Mark</a>",
            "fan": {"id": 48213377 + i % 500, "username": "u48213377", "name": "Mark"},
        },
    }).encode()
    return body, {"Content-Type": "application/json", "Signature": sign(body, SECRET),
                  "X-OFAPI-Idempotency-Key": f"evt_bench_{i}"}


@dataclass(frozen=True)
class Figures:
    events: int
    seconds: float
    latencies_ms: list[float]
    failures: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    def percentile(self, p: float) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]


def burst(url: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> Figures:
    """All deliveries sent by CLIENTS threads at once; throughput and per-request latencies."""
    shares = [deliveries[k::CLIENTS] for k in range(CLIENTS)]
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS
    start_line = threading.Barrier(CLIENTS + 1)

    def client(k: int) -> None:
        with httpx.Client(timeout=30) as http:
            start_line.wait()
            for body, headers in shares[k]:
                sent = time.perf_counter()
                response = http.post(url, content=body, headers=headers)
                latencies[k].append((time.perf_counter() - sent) * 1000)
                failures[k] += response.status_code != 200

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return Figures(len(deliveries), seconds, [x for part in latencies for x in part], sum(failures))


def wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"receiver exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("receiver did not start within 30 s")


def main() -> None:
    from ofhq_pipeline.realtime.landing import LandingStore

    count = int(os.environ.get("BENCH_RECEIVER_EVENTS", "5000"))
    deliveries = [delivery(i) for i in range(count)]
    warmup = [delivery(count + i) for i in range(200)]
    with tempfile.TemporaryDirectory() as home:
        landing_url = f"sqlite:///{home}/landing.db"
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-c", f"from bench.receiver import serve; serve({port}, {landing_url!r})"],
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, proc)
            burst(f"{base}/bare", warmup)
            bare = burst(f"{base}/bare", deliveries)
            burst(f"{base}/webhooks/ofapi", warmup)
            receiver = burst(f"{base}/webhooks/ofapi", deliveries)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with LandingStore(landing_url) as store:
            landed = store.counts().total
    print(f"== webhook receiver ({count:,} signed events, {CLIENTS} concurrent clients, loopback, "
          "uvicorn 1 worker)")
    for name, figures in (("bare endpoint (same stack, does nothing)", bare),
                          ("receiver, SQLite WAL synchronous=FULL", receiver)):
        print(f"{name}: {figures.per_second:,.0f} events/s, p50 {figures.percentile(50):.1f} ms, "
              f"p99 {figures.percentile(99):.1f} ms, {figures.failures} non-200")
    print(f"receiver / bare throughput: {receiver.per_second / bare.per_second:.2f}; targets "
          f"≥ 1,000 events/s and p99 ≤ 50 ms: "
          f"{'met' if receiver.per_second >= 1000 and receiver.percentile(99) <= 50 else 'MISSED'}")
    print(f"landed rows: {landed:,} (expected {count + len(warmup):,})")


if __name__ == "__main__":
    main()
