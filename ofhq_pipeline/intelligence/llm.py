"""The LLM fan classifier: one fan's window per chat completion, answered to the classifier's
strict JSON schema through the shared machinery (`ofhq_pipeline.llm.chat.SchemaChat`: client,
retries, budget, re-ask on an invalid answer)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from ofhq_pipeline.intelligence.prompt import estimate_prompt_tokens, request_body
from ofhq_pipeline.intelligence.results import Classification, Outcome, classification, read_output
from ofhq_pipeline.intelligence.rules import RulesClassifier
from ofhq_pipeline.intelligence.windows import Window
from ofhq_pipeline.llm.chat import Budget, LLMSettings, SchemaChat
from ofhq_pipeline.llm.pricing import DEFAULT_EXPECTED_COMPLETION_TOKENS, cost_usd


class LLMClassifier(SchemaChat):
    def new_budget(self, *, unlimited: bool = False) -> Budget:
        if unlimited:
            return Budget()
        return Budget(self.settings.max_classifications, self.settings.max_usd)

    def estimate_usd(self, window: Window, previous_summary: str | None) -> float:
        usd = cost_usd(
            self.settings.price,
            estimate_prompt_tokens(window, previous_summary),
            DEFAULT_EXPECTED_COMPLETION_TOKENS,
        )
        return usd or 0.0

    def classify(
        self,
        windows: list[Window],
        previous: dict[int, str],
        *,
        budget: Budget | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> Outcome:
        """Classify `windows` (in the order given, which is also the budget's priority)."""
        budget = budget or self.new_budget()
        clock = now or (lambda: datetime.now(UTC))
        answers = self.in_parallel(
            [partial(self.classify_one, w, previous.get(w.fan_id), budget, clock)
             for w in windows],
            "classify",
        )
        outcome = Outcome(stop_reason=budget.stop_reason)
        for window, answer in zip(windows, answers, strict=True):
            if answer is None:
                outcome.pending.append(window.fan_id)
            else:
                outcome.results.append(answer)
        return outcome

    def classify_one(
        self,
        window: Window,
        previous_summary: str | None,
        budget: Budget,
        clock: Callable[[], datetime],
    ) -> Classification | None:
        """One fan; None when the budget (or a stop) kept it from being sent."""
        answered = self.ask(
            request_body(self.model, window, previous_summary),
            read_output(window),
            budget,
            self.estimate_usd(window, previous_summary),
        )
        if answered is None:
            return None
        return classification(window, self.model, self.method, answered, clock())


def classifier_for(settings: LLMSettings | None) -> LLMClassifier | RulesClassifier:
    """The LLM classifier with settings (a key), else the rules classifier."""
    return LLMClassifier(settings) if settings else RulesClassifier()
