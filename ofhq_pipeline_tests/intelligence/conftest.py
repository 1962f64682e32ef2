"""Chats written through the real raw → staging → marts.transactions models, and a fake OpenAI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ofhq_pipeline.intelligence.llm import LLMClassifier
from ofhq_pipeline.lake import Lake
from ofhq_pipeline.llm.chat import LLMSettings
from ofhq_pipeline_tests.builders import T0, fan, message, txn, write_sync
from ofhq_pipeline_tests.intelligence.fixtures import (  # noqa: F401 (fixtures)
    API_KEY,
    at,
    build_inputs,
    fake_fixture,
    lake_fixture,
    openai_url_fixture,
)

AS_OF = T0 + timedelta(days=60)


class Chats:
    """Builds one creator's chats; `write()` lands them as a sync and builds staging and
    `marts.transactions` (committed, as a finished run leaves them)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.messages: list[tuple[int, dict]] = []
        self.transactions: list[dict] = []
        self.fans: set[int] = set()
        self.next_id = 1000
        self.syncs = 0
        self.last_minute: dict[int, float] = {}

    def say(self, fan_id: int, *texts: str, from_fan: bool = True, start: float | None = None,
            price: float = 0) -> list[int]:
        """Messages in order, one minute apart (from `start`, or after the fan's last one)."""
        ids = []
        last = self.last_minute.get(fan_id)
        minute = start if start is not None else (last + 1 if last is not None else 0)
        for text in texts:
            self.next_id += 1
            self.messages.append((fan_id, message(self.next_id, fan_id, at(minute),
                                                  from_fan=from_fan, text=text, price=price)))
            ids.append(self.next_id)
            self.last_minute[fan_id] = minute
            minute += 1
        self.fans.add(fan_id)
        return ids

    def buy(self, fan_id: int, minute: float, *, kind: str = "message", amount: float = 20.0):
        self.transactions.append(txn(f"t{len(self.transactions)}", fan_id, amount, at(minute),
                                     kind=kind))

    def write(self, run_id: str = "inputs") -> None:
        self.syncs += 1
        write_sync(self.lake, fetched_at=AS_OF - timedelta(hours=self.syncs),
                   fans=[fan(f) for f in sorted(self.fans)], transactions=self.transactions,
                   messages=self.messages)
        self.messages, self.transactions = [], []
        build_inputs(self.lake, as_of=AS_OF, run_id=f"{run_id}{self.syncs}")


@pytest.fixture
def chats(lake) -> Chats:
    return Chats(lake)


def llm(url: str, **overrides) -> LLMClassifier:
    settings = {"api_key": API_KEY, "base_url": url, "max_retries": 2, "timeout": 10.0,
                **overrides}
    return LLMClassifier(LLMSettings(**settings))
