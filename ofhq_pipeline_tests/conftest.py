"""Shared fixtures: a private OFHQ_HOME, a Dagster instance, the simulator over real HTTP."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg
import pytest

pytest_plugins = ["ofhq_pipeline_tests.browser"]
API_KEY = "test-key-0123456789"


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch, tmp_path):
    """Tests never read or write the developer's own OFHQ_HOME or Dagster instance."""
    for name in list(os.environ):
        if name.startswith(("OFHQ_", "OFAPI_", "OPENAI_", "TELEGRAM_")) or name == "DAGSTER_HOME":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OFHQ_HOME", str(tmp_path / "ofhq"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))


@pytest.fixture(autouse=True)
def _no_dead_dagster_state_storage(monkeypatch):
    """Dagster keeps the last instance's definitions-state storage as the current one in a
    context variable; once that instance is garbage-collected, loading definitions fails on a
    dead weakref ("Attempted to resolve undefined DagsterInstance weakref"), depending on test
    order. Treat a storage whose instance is gone as no storage."""
    from dagster._core.storage.defs_state.base import DefsStateStorage, _current_storage

    def current_live_storage(cls):
        storage = _current_storage.get()
        ref = getattr(storage, "_instance_weakref", None)
        return None if ref is not None and ref() is None else storage

    monkeypatch.setattr(DefsStateStorage, "get", classmethod(current_live_storage))


@pytest.fixture(scope="session")
def agency():
    from ofhq_pipeline.source.simulator import generate_agency

    return generate_agency(seed=7, scale=1.0)


@pytest.fixture
def simulator(agency):
    from ofhq_pipeline.source.simulator import SimulatorServer

    with SimulatorServer(agency, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def instance(tmp_path) -> dg.DagsterInstance:
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


def point_at(monkeypatch, url: str, home: Path, as_of: str | None = None) -> dg.Definitions:
    """Definitions whose resources read this API and this home, as an operator's env would."""
    from ofhq_pipeline.definitions import build_definitions

    monkeypatch.setenv("OFAPI_BASE_URL", url)
    monkeypatch.setenv("OFAPI_API_KEY", API_KEY)
    monkeypatch.setenv("OFHQ_HOME", str(home))
    if as_of:
        monkeypatch.setenv("OFHQ_AS_OF", as_of)
    return build_definitions()


@pytest.fixture
def telegram(monkeypatch):
    """A fake Telegram Bot API over HTTP, named by TELEGRAM_* as a deployment would."""
    from ofhq_pipeline_tests.servers import FakeTelegram, serve_app

    fake = FakeTelegram()
    with serve_app(fake.app()) as url:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:test-token")
        monkeypatch.setenv("TELEGRAM_CHAT_ID", "-100200")
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", url)
        yield fake
