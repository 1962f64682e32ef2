"""What the classifier's and the chatters' tests share: the test key, a lake, inputs built through
the real staging and `marts.transactions` models, and the local fake OpenAI server. A conftest
imports the fixtures (`lake`, `fake`, `openai_url`) by their functions' names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ofhq_pipeline import registry
from ofhq_pipeline.lake import Lake
from ofhq_pipeline_tests.builders import CREATOR, T0, make_lake
from ofhq_pipeline_tests.intelligence.answers import neutral_output
from ofhq_pipeline_tests.intelligence.fake_openai import FakeOpenAI
from ofhq_pipeline_tests.servers import serve_app

API_KEY = "sk-test-secret-0123456789abcdef"


def at(minutes: float) -> datetime:
    """T0 (2026-10-01 00:00 UTC) plus `minutes`."""
    return T0 + timedelta(minutes=minutes)


def build_inputs(lake: Lake, *, as_of: datetime, run_id: str, creator_id: str = CREATOR) -> None:
    """Staging, then `marts.transactions` committed as a finished run leaves it."""
    for model in registry.models(layer="staging"):
        with lake.session(creator_id) as con:
            lake.write_model(con, model.key, lake.staging_path(model.table, creator_id))
    with lake.session(creator_id, as_of=as_of, run_id=run_id) as con:
        lake.write_model(con, "marts/transactions",
                         lake.mart_path("transactions", creator_id, run_id))
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
