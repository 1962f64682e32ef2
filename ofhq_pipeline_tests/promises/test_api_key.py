"""The OnlyFans API key: never stored anywhere a run leaves things, and a refused key is said so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster._serdes import serialize_value

from ofhq_pipeline.lake import quote
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.sync import discover, sync, sync_creator
from ofhq_pipeline_tests.conftest import API_KEY, point_at
from ofhq_pipeline_tests.promises.conftest import busiest_creators

# Whole syncs and daemons: the second CI step, `make test-slow` (see docs/testing.md).
pytestmark = pytest.mark.slow

WRONG_KEY = "revoked-key-9876543210"


def duckdb_text(con: duckdb.DuckDBPyConnection, relations: list[str]) -> str:
    return "\n".join(repr(con.sql(f"SELECT * FROM {rel}").fetchall()) for rel in relations)


def file_text(path: Path, con: duckdb.DuckDBPyConnection) -> str:
    """What a file holds, readable: Parquet and DuckDB files decoded (their pages are
    compressed, so their bytes could hide a string), any other file as bytes."""
    if path.suffix == ".parquet":
        return duckdb_text(con, [f"read_parquet({quote(path)})"])
    if path.suffix == ".duckdb":
        con.execute(f"ATTACH {quote(path)} AS stored (READ_ONLY)")
        try:
            tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                 "WHERE database_name = 'stored'").fetchall()
            return duckdb_text(con, [f'stored."{schema}"."{table}"' for schema, table in tables])
        finally:
            con.execute("DETACH stored")
    return path.read_bytes().decode("latin-1")


def files_holding(folder: Path, secret: str) -> list[str]:
    con = duckdb.connect()
    try:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                      if p.is_file() and secret in file_text(p, con))
    finally:
        con.close()


def stored_for_run(instance, run_id: str) -> Iterator[tuple[str, str]]:
    """(what, text) of everything the Dagster instance keeps about the run."""
    run = instance.get_run_by_id(run_id)
    yield "run config", serialize_value(run.run_config)
    yield "tags", serialize_value(run.tags)
    for entry in instance.all_logs(run_id):  # messages, errors, materializations and their metadata
        kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG_MESSAGE"
        yield kind, serialize_value(entry)


def test_the_api_key_is_never_stored(monkeypatch, tmp_path, agency, simulator, instance):
    [creator] = busiest_creators(agency, 1)
    defs = point_at(monkeypatch, simulator.url, tmp_path / "home", as_of=agency.end.isoformat())
    [run] = sync(defs, instance, creators=[creator])
    assert run.success and simulator.stats()["total"] > 0  # a real sync, with the key, happened

    assert len(run.run_ids) == 2  # the sync run, and the marts run after it
    stored = [item for run_id in run.run_ids for item in stored_for_run(instance, run_id)]
    assert any(what == "ASSET_MATERIALIZATION" for what, _ in stored)
    assert [what for what, text in stored if API_KEY in text] == []
    assert API_KEY not in repr(run.metadata)
    # Nor in any file: the Dagster instance's storage, the lake (raw batches decoded), the marts.
    assert files_holding(tmp_path / "dagster", API_KEY) == []
    lake_home = Paths.from_env().home
    assert any(lake_home.rglob("raw/*/*/*.parquet"))
    assert files_holding(lake_home, API_KEY) == []


def test_a_refused_key_fails_the_run_saying_so(monkeypatch, tmp_path, agency, simulator, instance):
    [creator] = busiest_creators(agency, 1)
    home = tmp_path / "home"
    discover(point_at(monkeypatch, simulator.url, home), instance)  # the creator is known

    monkeypatch.setenv("OFAPI_API_KEY", WRONG_KEY)  # the key is revoked, or mistyped
    from ofhq_pipeline.definitions import build_definitions

    run = sync_creator(build_definitions(), instance, creator)
    assert not run.success
    assert re.search(rf"GET /api/{creator}/\S+ \(creator {creator}\)", run.error)  # the endpoint
    assert "HTTP 401" in run.error and "the API refused the key: check OFAPI_API_KEY" in run.error
    stored = [text for run_id in run.run_ids for _, text in stored_for_run(instance, run_id)]
    assert not any(key in text for key in (WRONG_KEY, API_KEY) for text in [run.error, *stored])

    # `ofhq sync` starts with discovery, which fails the same way before any creator's run.
    with pytest.raises(RuntimeError, match=r"GET /api/accounts: HTTP 401") as refused:
        sync(build_definitions(), instance)
    assert WRONG_KEY not in str(refused.value)
