"""The sync rotation: which creators to sync now so none is older than the staleness target, and
how many creators a deployment can keep that fresh.

Plain Python over what the run history says (`SyncHistory`): the periodic sync schedule feeds
it from Dagster's run storage, the System Intelligence report and the rotation benchmark from
the same history. A creator's age is measured from the start of his last successful sync (the
data is as of when it was fetched); a creator whose sync is queued or running is covered.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

# What a sync costs before any has run: a first (full) sync of a small creator, roughly.
DEFAULT_REQUESTS_PER_SYNC = 50
TICK_S = 60.0  # the periodic sync schedule ticks every minute


@dataclass(frozen=True)
class SyncHistory:
    """The recent past of the creator syncs, as the run storage holds it."""

    last_synced: dict[str, float] = field(default_factory=dict)  # creator → epoch s of its start
    in_flight: frozenset[str] = frozenset()  # creators with a sync or marts run queued or running
    in_flight_runs: int = 0  # sync and marts runs queued or running (a creator may have two)
    durations_s: tuple[float, ...] = ()  # of recent successful syncs (marts run included)
    newest_runs: tuple[str, ...] = ()  # run ids of the newest successful syncs
    requests: tuple[int, ...] = ()  # API requests of those, where they recorded them

    @property
    def median_sync_s(self) -> float | None:
        return statistics.median(self.durations_s) if self.durations_s else None

    def requests_per_sync(self, configured: int | None = None) -> int:
        """The configured estimate, else the median of the newest syncs, else a default."""
        if configured:
            return configured
        if self.requests:
            return max(1, round(statistics.median(self.requests)))
        return DEFAULT_REQUESTS_PER_SYNC


@dataclass(frozen=True)
class Limits:
    """What bounds a tick: the target, the tick interval, run slots and the API budget."""

    target_s: float
    tick_s: float = TICK_S
    max_concurrent: int = 2
    budget_remaining: int | None = None  # tokens free now; None: no limit
    budget_per_minute: int = 0  # 0: no limit
    requests_per_sync: int = DEFAULT_REQUESTS_PER_SYNC


@dataclass(frozen=True)
class Plan:
    """One tick's decision."""

    launch: list[str]  # creators to sync now, most overdue first
    due: list[str]  # every creator that needs a sync now, most overdue first
    over_target: list[tuple[str, float | None]]  # (creator, age in s; None: never synced)
    held_by: str | None = None  # why fewer than `due` are launched
    next_due_in_s: float | None = None  # when nothing is due: until the next one is


def age_s(history: SyncHistory, creator: str, now: float) -> float | None:
    """Seconds since the creator's last successful sync started; None: never synced."""
    last = history.last_synced.get(creator)
    return None if last is None else max(0.0, now - last)


def age_or_never(history: SyncHistory, creator: str, now: float) -> float:
    """The age, infinite for a creator never synced: he is always due."""
    age = age_s(history, creator, now)
    return math.inf if age is None else age


def by_staleness(creators: list[str], history: SyncHistory, now: float) -> list[str]:
    """Never-synced creators first (by id), then the oldest first."""
    def key(creator: str) -> tuple[int, float, str]:
        last = history.last_synced.get(creator)
        return (0, 0.0, creator) if last is None else (1, last, creator)

    return sorted(creators, key=key)


def over_target(creators: list[str], history: SyncHistory, now: float,
                target_s: float) -> list[tuple[str, float | None]]:
    """(creator, age in s; None: never synced) of each creator older than the target with no
    sync under way, the oldest first."""
    return [(c, age_s(history, c, now)) for c in by_staleness(creators, history, now)
            if c not in history.in_flight and age_or_never(history, c, now) > target_s]


def lookahead_s(history: SyncHistory, limits: Limits) -> float:
    """How far ahead a tick must look: a creator launched at the next tick instead of now lands
    its data a tick plus a sync later."""
    return limits.tick_s + (history.median_sync_s or 0.0)


def budget_slots(limits: Limits) -> int | None:
    """How many syncs the budget left this minute pays for (None: no limit). A sync that costs
    more than a minute's budget counts as one minute's worth: it then waits for tokens as it goes."""
    if limits.budget_remaining is None or limits.budget_per_minute <= 0:
        return None
    per_sync = max(1, min(limits.requests_per_sync, limits.budget_per_minute))
    return limits.budget_remaining // per_sync


def plan(creators: list[str], history: SyncHistory, now: float, limits: Limits) -> Plan:
    """The creators to launch now: those that would pass the target before a sync launched at
    the next tick could land, most overdue first, as many as free run slots and the budget allow."""
    waiting = [c for c in by_staleness(creators, history, now) if c not in history.in_flight]
    ahead = lookahead_s(history, limits)
    due = [c for c in waiting if age_or_never(history, c, now) + ahead >= limits.target_s]
    over = over_target(creators, history, now, limits.target_s)
    if not due:
        return Plan([], [], over, next_due_in_s=next_due_in(waiting, history, now, limits))
    slots = max(0, limits.max_concurrent - history.in_flight_runs)
    paid = budget_slots(limits)
    launch = due[: slots if paid is None else min(slots, paid)]
    held = None
    if len(launch) < len(due):
        held = ("run slots" if paid is None or slots <= paid else "API budget")
    return Plan(launch, due, over, held_by=held)


def next_due_in(waiting: list[str], history: SyncHistory, now: float,
                limits: Limits) -> float | None:
    if not waiting:
        return None
    oldest = max(age_or_never(history, c, now) for c in waiting)
    return max(0.0, limits.target_s - lookahead_s(history, limits) - oldest)


# ---- capacity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capacity:
    """How many creators the current settings keep within the target, and what bounds it."""

    target_minutes: float
    median_sync_s: float | None
    max_concurrent: int
    budget_per_minute: int  # 0: no limit
    requests_per_sync: float | None
    tick_s: float
    by_workers: float | None  # None: no sync has finished yet
    by_budget: float | None  # None: no limit, or the cost of a sync is unknown

    @property
    def kept_fresh(self) -> int | None:
        bounds = [b for b in (self.by_workers, self.by_budget) if b is not None]
        return math.floor(min(bounds)) if bounds else None

    @property
    def limited_by(self) -> str | None:
        if self.by_workers is None and self.by_budget is None:
            return None
        if self.by_budget is None or (self.by_workers is not None
                                      and self.by_workers <= self.by_budget):
            return "run workers"
        return "API budget"

    @property
    def period_s(self) -> float:
        """How often each creator is synced: at the age where he falls due (see `plan`)."""
        return resync_period_s(self.target_minutes * 60, self.median_sync_s or 0.0, self.tick_s)

    @property
    def slot_cycle_s(self) -> float | None:
        """How long a sync holds its run slot: the schedule fills a freed slot at its next tick."""
        if not self.median_sync_s:
            return None
        return slot_cycle_s(self.median_sync_s, self.tick_s)

    def needed_for(self, creators: int) -> tuple[int | None, int | None]:
        """(max_concurrent_syncs, requests per minute) that would keep `creators` fresh; None
        where it is unknown."""
        cycle, period = self.slot_cycle_s, self.period_s
        if period <= 0:
            return None, None
        workers = math.ceil(creators * cycle / period) if cycle else None
        budget = (math.ceil(creators * self.requests_per_sync / (period / 60))
                  if self.requests_per_sync else None)
        return workers, budget


def slot_cycle_s(median_sync_s: float, tick_s: float) -> float:
    """A sync's time in its slot, rounded up to whole ticks (a 14 s sync holds a slot until the
    next minute's tick, when the schedule next launches)."""
    return math.ceil(median_sync_s / tick_s) * tick_s if tick_s > 0 else median_sync_s


def resync_period_s(target_s: float, median_sync_s: float, tick_s: float) -> float:
    """A creator falls due a tick and a sync before the target (`lookahead_s`); without ticks
    (`tick_s=0`, the idealised continuous rotation) at the target itself."""
    return max(0.0, target_s - tick_s - median_sync_s) if tick_s > 0 else target_s


def creators_kept_fresh(
    target_minutes: float,
    median_sync_s: float | None,
    max_concurrent: int,
    budget_per_minute: int,
    requests_per_sync: float | None,
    tick_s: float = TICK_S,
) -> Capacity:
    """min(period / slot cycle × concurrent syncs, budget per minute × period minutes / requests
    per sync): target / median sync × concurrent syncs and budget × target / requests per sync,
    with the two facts of a schedule that ticks: each creator is synced a tick and a sync before
    the target (the period), and a run slot starts at most one sync per tick (the slot cycle).
    With `tick_s=0` it is the continuous formula, the target itself the period."""
    if target_minutes <= 0 or max_concurrent < 1 or budget_per_minute < 0:
        raise ValueError("the target and the concurrency must be positive, the budget ≥ 0")
    median = median_sync_s if median_sync_s and median_sync_s > 0 else None
    period = resync_period_s(target_minutes * 60, median or 0.0, tick_s)
    by_workers = (period / slot_cycle_s(median, tick_s) * max_concurrent if median else None)
    by_budget = (budget_per_minute * (period / 60) / requests_per_sync
                 if budget_per_minute > 0 and requests_per_sync else None)
    return Capacity(target_minutes, median, max_concurrent, budget_per_minute,
                    requests_per_sync, tick_s, by_workers, by_budget)
