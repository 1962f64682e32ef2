"""The hot path: landed webhook events applied to the live state within a second, and the
alerts they call for sent at once.

A thread reads the landing store past its cursor every `poll_s` (50 ms): the receiver commits
before it answers 200, so an event is readable here as soon as the API has its answer. Each batch
goes through `LiveState.apply`; the alerts it calls for are handed to a second thread that claims
and sends them (`realtime.alerts.send_alerts`), so a slow Telegram never holds the page back.
Listeners (the live page) are told after every change.

On start the cursor is the last event received `KEEP` (48 h) before now: the live state is the
published snapshot plus whatever landed since, and any alert of the last `window_hours` that
nobody sent yet goes out. Nothing here is durable: the landing store and `alerts_sent` are. An
alert the hot path could not send (down, or Telegram refused: the key is given back) is sent by
the real-time Dagster run, which evaluates the same rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from ofhq_pipeline.live.state import KEEP, LiveState
from ofhq_pipeline.realtime.alerts import send_alerts
from ofhq_pipeline.realtime.landing import LandingStore

log = logging.getLogger(__name__)

POLL_S = 0.05
BATCH = 1000


@dataclass
class HotPathStats:
    batches: int = 0
    events: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    last_error: str | None = None


class HotPath:
    def __init__(
        self,
        state: LiveState,
        landing: LandingStore,
        send: Callable[[str], str],
        enabled_rules: list[str],
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self.state, self.landing, self.send = state, landing, send
        self.enabled_rules = list(enabled_rules)
        self.poll_s = poll_s
        self.stats = HotPathStats()
        self.lock = threading.Lock()  # the state is one DuckDB connection: one user at a time
        self.listeners: list[Callable[[], None]] = []
        self.cursor = landing.last_id_before(state.now() - KEEP)
        self._stop = threading.Event()
        self._alerts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-alerts")
        self._thread: threading.Thread | None = None

    # ---- one step ---------------------------------------------------------------------------
    def step(self) -> int:
        """Apply what landed past the cursor (and a newly published snapshot); the number of
        events applied."""
        events = self.landing.events_after(self.cursor, limit=BATCH)
        with self.lock:
            changed = self.state.refresh_snapshot()
            applied = self.state.apply(events) if events else None
        if events:
            self.cursor = events[-1].id
            self.stats.batches += 1
            self.stats.events += len(events)
            for creator_id, candidates in applied.candidates.items():
                if candidates:
                    self._alerts.submit(self._send, creator_id, candidates)
        if events or changed:
            self._notify()
        return len(events)

    def _send(self, creator_id: str, candidates) -> None:
        try:
            outcome = send_alerts(candidates, creator_id, self.landing, self.send,
                                  self.enabled_rules)
        except Exception as exc:  # the real-time run sends what this could not
            log.exception("live alerts of %s not sent", creator_id)
            self.stats.last_error = f"alerts: {type(exc).__name__}"
            return
        sent = sum(outcome.sent.values())
        self.stats.alerts_sent += sent
        self.stats.alerts_failed += len(outcome.failed)
        for failure in outcome.failed:
            log.warning("live alert not sent, left to the real-time run: %s", failure)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            with suppress(Exception):
                listener()

    def view(self) -> dict[str, Any]:
        with self.lock:
            return self.state.view()

    # ---- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.step() == BATCH:
                    continue  # more waiting: no pause
            except Exception as exc:  # a store that went away comes back; keep polling
                log.exception("hot path step failed")
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
                self._stop.wait(1.0)
            self._stop.wait(self.poll_s)

    def start(self) -> HotPath:
        self._thread = threading.Thread(target=self.run, name="live-hot-path", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._alerts.shutdown(wait=True)
