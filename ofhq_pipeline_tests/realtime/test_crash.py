"""A receiver process killed mid-burst loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline_tests.realtime.conftest import CURRENT, event_body, signed_headers
from ofhq_pipeline_tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
HANG = 120  # seconds: bounds a hang only, never how fast the machine is
ACKNOWLEDGED_BEFORE_KILL = 400


def start_receiver(port: int, landing_url: str, log: Path) -> subprocess.Popen:
    """`serve()` in a process of its own, configured through the environment like the CLI."""
    env = {**os.environ, "OFAPI_WEBHOOK_SECRET": CURRENT, "OFHQ_LANDING_URL": landing_url}
    code = f"from ofhq_pipeline.realtime.receiver import serve; serve('127.0.0.1', {port})"
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def wait_healthy(base: str, proc: subprocess.Popen, log: Path) -> None:
    """Until the receiver answers; the deadline only bounds a hang (a slow start is no failure)."""
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"receiver exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/healthz", timeout=HANG).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"hang: receiver not answering after {HANG} s:\n{log.read_text()}")


def test_sigkill_mid_burst_keeps_every_acknowledged_event(tmp_path, sqlite_url):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "receiver.log"
    proc = start_receiver(port, sqlite_url, log)
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    enough = threading.Event()  # ACKNOWLEDGED_BEFORE_KILL answered: time to kill
    killed = threading.Event()

    def client(k: int) -> None:
        try:
            with httpx.Client(base_url=base, timeout=HANG) as http:
                for i in range(10_000):
                    key = f"evt_{k}_{i}"
                    body = event_body(n=k * 100_000 + i)
                    try:
                        response = http.post("/webhooks/ofapi", content=body,
                                             headers=signed_headers(body, key))
                    except httpx.TransportError:
                        if killed.is_set():
                            return
                        raise
                    if response.status_code // 100 == 2:
                        with lock:
                            acknowledged.append(key)
                            if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                                enough.set()
        except BaseException as exc:  # reported by the test's own thread
            failures.append(exc)
            enough.set()

    try:
        wait_healthy(base, proc, log)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=HANG), f"hang: {len(acknowledged)} acknowledged after {HANG} s"
        assert not failures, (failures, log.read_text())
        killed.set()
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: requests are in flight
        for thread in threads:
            thread.join(timeout=HANG)
            assert not thread.is_alive(), "hang: a client still running after the kill"
        assert proc.wait(timeout=HANG) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert not failures, failures
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, log.read_text()
    with LandingStore(sqlite_url) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        landed = {e.idempotency_key for e in store.events_after(0, 1_000_000)}
        missing = set(acknowledged) - landed
        assert not missing, f"{len(missing)} acknowledged events lost"
        # At most the requests in flight at the kill landed without their answer.
        assert len(landed) - len(acknowledged) <= 8
        # The store is usable after the crash.
        assert store.land(idempotency_key="evt_after", event="tips.received", body="{}")


# Servers, subprocesses and schedule ticks over whole syncs: `make test-slow`, CI's second step.
pytestmark = pytest.mark.slow
