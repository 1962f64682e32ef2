"""What a classifier returns for one fan, and how an answer becomes a validated output."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ofhq_pipeline.intelligence.schema import SIGNALS, ClassifierOutput
from ofhq_pipeline.intelligence.windows import Window
from ofhq_pipeline.llm.answers import Answered, parse_completion

OK = "ok"
FAILED = "failed"


@dataclass
class Classification:
    """One classification of one fan's window: `output` has real message ids."""

    fan_id: int
    window_hash: str
    model: str
    method: str  # "live", "batch" or "rules"
    status: str  # OK or FAILED
    classified_at: datetime
    output: ClassifierOutput | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    attempts: int = 1
    message_count: int = 0
    fact_times: dict[int, datetime] = field(default_factory=dict)


@dataclass
class Outcome:
    """A classifier's pass over some fans: results, and the fans left pending (budget, stop)."""

    results: list[Classification] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    stop_reason: str | None = None


def parse_answer(body: dict) -> ClassifierOutput:
    """A chat-completion body (as JSON) to a validated output; raises InvalidAnswer or Refused."""
    return parse_completion(body, ClassifierOutput)


def with_message_ids(output: ClassifierOutput, window: Window) -> ClassifierOutput:
    """Transcript ids (1..n) to message ids; ids outside the window are dropped."""
    data = output.model_dump()
    for signal in SIGNALS:
        ids = (window.message_id(i) for i in data["intents"][signal]["evidence"])
        data["intents"][signal]["evidence"] = list(dict.fromkeys(i for i in ids if i is not None))
    for fact in data["facts"]:
        fact["message_id"] = window.message_id(fact["message_id"])
    return ClassifierOutput.model_validate(data)


def read_output(window: Window) -> Callable[[dict], ClassifierOutput]:
    """How an answer about `window` is read: validated, its transcript ids made message ids."""
    return lambda body: with_message_ids(parse_answer(body), window)


def classification(
    window: Window, model: str, method: str, answered: Answered[ClassifierOutput],
    classified_at: datetime,
) -> Classification:
    """The fan's classification row from one answered request (live or batch)."""
    output = answered.output
    return Classification(
        fan_id=window.fan_id,
        window_hash=window.window_hash,
        model=model,
        method=method,
        classified_at=classified_at,
        output=output,
        **answered.row(),
        message_count=window.message_count,
        fact_times=fact_times(output, window) if output is not None else {},
    )


def fact_times(output: ClassifierOutput, window: Window) -> dict[int, datetime]:
    """When each fact's source message was written (output with real message ids)."""
    times = {}
    for fact in output.facts:
        at = window.message_time(fact.message_id)
        if fact.message_id is not None and at is not None:
            times[fact.message_id] = at
    return times


def output_json(output: ClassifierOutput | None) -> str | None:
    return None if output is None else json.dumps(output.model_dump(), ensure_ascii=False)
