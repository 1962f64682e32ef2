"""What the classifier's and the chatters' tests share: the test key, a lake, inputs built through
the real staging and `marts.transactions` models, and the local fake OpenAI server. A conftest
imports the fixtures (`lake`, `fake`, `openai_url`) by their functions' names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.builders import CREATOR, T0, build_model, make_lake, stage
from ofhq_pipeline_tests.intelligence.answers import neutral_output
from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI
from ofhq_pipeline_tests.servers import serve_app

API_KEY = "sk-test-secret-0123456789abcdef"


def at(minutes: float) -> datetime:
    """T0 (2026-10-01 00:00 UTC) plus `minutes`."""
    return T0 + timedelta(minutes=minutes)


def build_inputs(lake: Lake, *, as_of: datetime, run_id: str, creator_id: str = CREATOR) -> None:
    """Staging, then `marts.transactions` committed as a finished run leaves it."""
    stage(lake, creator_id)
    build_model(lake, "marts/transactions", as_of=as_of, creator_id=creator_id, run_id=run_id)
    lake.commit_marts(creator_id, run_id)


@pytest.fixture(name="lake")
def lake_fixture(tmp_path) -> Lake:
    return make_lake(tmp_path / "home")


@pytest.fixture(name="fake")
def fake_fixture() -> FakeOpenAI:
    """The fake OpenAI server answering a fixed hand-written classification unless a test
    scripts its answers."""
    return FakeOpenAI(default_output=neutral_output)


@pytest.fixture(name="openai_url")
def openai_url_fixture(fake) -> Iterator[str]:
    with serve_app(fake.app()) as url:
        yield f"{url}/v1"
