"""The API request budget: never more than the rate in any minute, across clients and processes
sharing one file; waiting, never failing; a damaged file replaced, not a crash. A fake clock
stands in for time: no test waits for real."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ofhq_pipeline.source.budget import (
    WINDOW_S,
    ApiBudget,
    BudgetExhausted,
    budget_path,
    require_rate,
)

T0 = 1_800_000_000.0


class FakeClock:
    """Shared by every budget of a test: sleeping moves it forward, for everyone."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def budget(path: Path, rate: int, clock: FakeClock, warnings: list[str] | None = None) -> ApiBudget:
    sink = warnings if warnings is not None else []
    return ApiBudget(path, rate, clock=clock, sleep=clock.sleep, warn=sink.append)


def most_in_any_window(instants: list[float]) -> int:
    """The most grants in any half-open window [t, t + 60 s)."""
    ordered = sorted(instants)
    return max(sum(1 for u in ordered if t <= u < t + WINDOW_S) for t in ordered)


def test_a_full_window_waits_for_its_oldest_request_to_leave_it(tmp_path):
    clock = FakeClock()
    shared = budget(budget_path(tmp_path), 5, clock)
    for _ in range(5):
        assert shared.take() == 0.0
        clock.now += 1  # requests 0 s, 1 s, ... 4 s after T0
    assert shared.remaining() == 0
    waited = shared.take()
    assert clock.now == pytest.approx(T0 + WINDOW_S)  # the first request has just left
    assert waited == pytest.approx(WINDOW_S - 5)
    assert shared.remaining() == 0  # the one it freed is the one just taken


def test_two_clients_sharing_the_file_never_exceed_the_rate(tmp_path):
    """Two threads, each its own budget object and file handle (as two processes would have),
    take 12 tokens each at 5 a minute: 24 requests, never 6 in one minute."""
    clock, path = FakeClock(), budget_path(tmp_path)
    granted: list[float] = []

    class Recorded(ApiBudget):
        def _write(self, taken: list[float]) -> None:  # under the file lock: the exact grant
            super()._write(taken)
            granted.append(taken[-1])

    def client() -> None:
        mine = Recorded(path, 5, clock=clock, sleep=clock.sleep)
        for _ in range(12):
            mine.take()

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 24
    assert most_in_any_window(granted) == 5
    assert clock.now - T0 >= 4 * WINDOW_S  # 24 tokens at 5 a minute need four more windows


@pytest.mark.slow  # a subprocess: `make test-slow`
def test_a_subprocess_and_this_process_share_one_budget(tmp_path):
    """A real second process fills the window; this one then has nothing left."""
    import subprocess
    import sys

    path = budget_path(tmp_path)
    script = ("import sys; from pathlib import Path; from ofhq_pipeline.source.budget import "
              "ApiBudget; b = ApiBudget(Path(sys.argv[1]), 5, clock=lambda: float(sys.argv[2])); "
              "[b.take(wait=False) for _ in range(3)]")
    subprocess.run([sys.executable, "-c", script, str(path), str(T0)], check=True,
                   env={**os.environ})
    here = budget(path, 5, FakeClock(T0 + 1))
    assert here.remaining() == 2
    here.take(wait=False)
    here.take(wait=False)
    with pytest.raises(BudgetExhausted, match="used up for the next 59.0 s"):
        here.take(wait=False)


def test_zero_means_no_limit_and_writes_no_file(tmp_path):
    clock = FakeClock()
    free = budget(budget_path(tmp_path), 0, clock)
    for _ in range(1_000):
        assert free.take() == 0.0
    assert free.remaining() is None
    assert not budget_path(tmp_path).exists()


@pytest.mark.parametrize("damage", ["{not json", json.dumps({"taken": "soon"}),
                                    json.dumps({"format": 1, "taken": [1, "x"]}), ""])
def test_a_damaged_file_is_replaced_with_a_warning_and_never_runs_over(tmp_path, damage):
    """What the damaged file recorded is unknown, so the replacement counts a full window as of
    its last write: no request goes through before a minute after it."""
    path = budget_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(damage)
    os.utime(path, (T0 - 20, T0 - 20))  # last written 20 s before now
    warnings: list[str] = []
    clock = FakeClock()
    damaged = budget(path, 5, clock, warnings)

    waited = damaged.take()

    assert waited == pytest.approx(40.0)
    assert len(warnings) == 1 and "unreadable" in warnings[0] and path.name in warnings[0]
    assert json.loads(path.read_text())["format"] == 1  # a readable log again
    assert damaged.take() == 0.0 and len(warnings) == 1  # warned once


def test_a_damaged_file_older_than_a_minute_costs_nothing(tmp_path):
    path = budget_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("garbage")
    os.utime(path, (T0 - 300, T0 - 300))
    warnings: list[str] = []
    assert budget(path, 5, FakeClock(), warnings).take() == 0.0
    assert len(warnings) == 1


def test_requests_stamped_after_a_clock_step_back_do_not_block_for_long(tmp_path):
    path = budget_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 1, "taken": [T0 + 3600] * 5}))  # an hour ahead
    assert budget(path, 5, FakeClock()).take() == 0.0


@pytest.mark.parametrize("value", [-1, "-5", "1e3", "many", "2.5"])
def test_a_negative_or_malformed_rate_is_refused_naming_the_setting(value):
    with pytest.raises(ValueError, match=r"OFAPI_REQUESTS_PER_MINUTE must be 0 \(no limit\) or a "
                                         r"whole number of requests per minute, not"):
        require_rate(value, "OFAPI_REQUESTS_PER_MINUTE")


def test_a_budget_object_refuses_a_negative_rate(tmp_path):
    with pytest.raises(ValueError, match="per_minute must be 0"):
        ApiBudget(budget_path(tmp_path), -3)
