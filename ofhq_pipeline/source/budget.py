"""The API request budget: at most `per_minute` requests in any 60 seconds, across every client,
run and process of the deployment.

The OnlyFans API counts requests per key, not per run: two syncs that each keep to the limit
would still exceed it together. So every client takes a token from one log, a small JSON file
under the lake (`$OFHQ_HOME/lake/agency/api_budget.json`) that holds the instant of each request
of the last minute, read and written under an exclusive file lock. A sliding window over
instants, rather than a token bucket, because a bucket lets a full bucket's burst and a minute's
refill land in the same 60 seconds: twice the limit. When the window is full, `take` waits until
its oldest request leaves it; it never fails and never lets a request through early.

The clock is the wall clock (`time.time`): every process reads the same one, where a monotonic
clock only means something inside one machine's boot.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ofhq_pipeline.lake import atomic_write, file_lock

WINDOW_S = 60.0
FILE_NAME = "api_budget.json"
FORMAT = 1

logger = logging.getLogger(__name__)


class BudgetExhausted(RuntimeError):
    """No token is free now, and the caller asked not to wait (`take(wait=False)`)."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the API request budget is used up for the next {wait_s:.1f} s")
        self.wait_s = wait_s


def budget_path(lake_root: Path) -> Path:
    """Where the deployment's budget lives: beside the agency's accounts in the lake."""
    return lake_root / "agency" / FILE_NAME


def require_rate(value: object, name: str) -> int:
    """A requests-per-minute setting as a whole number ≥ 0 (0: no limit), or a clear error."""
    try:
        rate = int(str(value).strip())
    except ValueError:
        rate = -1
    if rate < 0 or str(value).strip() != str(rate):
        raise ValueError(
            f"{name} must be 0 (no limit) or a whole number of requests per minute, not {value!r}"
        )
    return rate


@dataclass
class ApiBudget:
    """One view of the shared budget; as many as wanted may point at the same file."""

    path: Path
    per_minute: int
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    warn: Callable[[str], None] = field(default=logger.warning)

    def __post_init__(self) -> None:
        if self.per_minute < 0:
            raise ValueError(f"per_minute must be 0 (no limit) or more, not {self.per_minute}")

    @property
    def limited(self) -> bool:
        return self.per_minute > 0

    @property
    def lock_path(self) -> Path:
        # The data file is replaced by rename on every write, so the lock lives on a file of its
        # own: a lock held on a replaced inode would guard nothing.
        return self.path.with_name(f".{self.path.name}.lock")

    def take(self, *, wait: bool = True) -> float:
        """Take one token, waiting for one if the window is full; the seconds waited.

        With `wait=False`, raises `BudgetExhausted` instead of waiting (a schedule tick must not
        sit out a minute).
        """
        waited = 0.0
        while self.limited:
            delay = self.try_take()
            if delay is None:
                break
            if not wait:
                raise BudgetExhausted(delay)
            # Never a zero sleep: a clock that has not moved would spin on the lock.
            pause = max(delay, 0.001)
            self.sleep(pause)
            waited += pause
        return waited

    def try_take(self) -> float | None:
        """Take a token if one is free (None), else the seconds until the next one frees."""
        with file_lock(self.lock_path):
            now = self.clock()
            taken = self._read(now)
            if len(taken) < self.per_minute:
                self._write([*taken, now])
                return None
            # The window holds `per_minute` requests: the next token frees when the oldest of
            # the ones that fill it is a minute old.
            return taken[len(taken) - self.per_minute] + WINDOW_S - now

    def remaining(self) -> int | None:
        """Tokens free right now (None: no limit). Others may take them the next moment."""
        if not self.limited:
            return None
        with file_lock(self.lock_path):
            return max(0, self.per_minute - len(self._read(self.clock())))

    def _read(self, now: float) -> list[float]:
        """The instants of the last minute's requests, oldest first."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            taken = parse_log(text)
        except ValueError as exc:
            return self._replace_unreadable(now, str(exc))
        # A request stamped more than a window ahead means the clock was set back: keeping it
        # would block every client for as long as the clock moved.
        return sorted(t for t in taken if now - WINDOW_S < t <= now + WINDOW_S)

    def _replace_unreadable(self, now: float, why: str) -> list[float]:
        """A damaged file is replaced, never a reason to fail a sync. Which requests it recorded
        is unknown, so the new log assumes the worst: a full window as of the file's last write
        (no request it held can be later than that), and the budget never runs over."""
        try:
            written = min(self.path.stat().st_mtime, now)
        except OSError:
            written = now
        self.warn(f"API request budget file {self.path.name} was unreadable ({why}); replaced "
                  f"by a full window as of its last write, so requests wait until "
                  f"{max(0.0, written + WINDOW_S - now):.0f} s from now at most")
        taken = [written] * self.per_minute if written > now - WINDOW_S else []
        self._write(taken)
        return taken

    def _write(self, taken: list[float]) -> None:
        payload = json.dumps({"format": FORMAT, "window_s": WINDOW_S, "taken": taken},
                             separators=(",", ":"))
        atomic_write(self.path, lambda tmp: tmp.write_text(payload, encoding="utf-8"))


def parse_log(text: str) -> list[float]:
    """The `taken` instants of a budget file, or ValueError naming what is wrong with it."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a format-{FORMAT} budget log")
    taken = body.get("taken")
    if not isinstance(taken, list) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) for t in taken
    ):
        raise ValueError("'taken' is not a list of instants")
    return [float(t) for t in taken]

