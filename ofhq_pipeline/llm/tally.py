"""The token and cost tally of one LLM step's run: what its rows spent, how many succeeded, the
first errors, and why it stopped sending."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ofhq_pipeline.llm.answers import OK


@dataclass(kw_only=True)
class Spend:
    """Base of a run's report; keyword-only, so a report keeps its own positional fields."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    stop_reason: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def tally(
        self, rows: Iterable[Any], stop_reason: str | None, label: Callable[[Any], str]
    ) -> tuple[int, int]:
        """Add the rows' tokens and dollars (each has status, error, prompt_tokens,
        completion_tokens, cost_usd), note a failed row's error under `label(row)` and keep the
        first stop reason; (ok rows, failed rows)."""
        self.stop_reason = self.stop_reason or stop_reason
        ok = failed = 0
        for row in rows:
            self.prompt_tokens += row.prompt_tokens
            self.completion_tokens += row.completion_tokens
            self.cost_usd += row.cost_usd or 0.0
            if row.status == OK:
                ok += 1
            else:
                failed += 1
                if row.error:
                    self.errors.append(f"{label(row)}: {row.error}")
        return ok, failed

    def spend_metadata(self) -> dict:
        """Tokens, dollars and the stop reason, for a materialization; never a secret."""
        return {
            "tokens": self.tokens,
            "dollars": round(self.cost_usd, 6),
            "stop_reason": self.stop_reason or "",
        }


@dataclass
class StepReport(Spend):
    """One LLM step's pass over one creator: what failed, what the budget held back, what was
    left alone after failing too often, and what it all cost."""

    creator_id: str
    model: str
    method: str
    failed: int = 0
    pending_budget: int = 0
    skipped_failed: int = 0

    def record(
        self, rows: Iterable[Any], pending: int, stop_reason: str | None,
        label: Callable[[Any], str],
    ) -> int:
        """Tally the pass's rows and the items it left pending; the count of ok rows."""
        self.pending_budget += pending
        ok, failed = self.tally(rows, stop_reason, label)
        self.failed += failed
        return ok
