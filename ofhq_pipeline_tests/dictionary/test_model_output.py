"""The models write exactly the columns the data dictionary documents: every file the staging,
intermediate, lifecycle and mart models write for one creator of a small hand-made lake. (The
whole pipeline on a simulated agency, every table: test_pipeline_output.py, slow.)"""

from __future__ import annotations

import pytest

from ofhq_pipeline.lifecycle.agency import fan_agency_path, write_fan_agency
from ofhq_pipeline.lifecycle.models import log_path
from ofhq_pipeline_tests.builders import CREATOR, day, fan, make_lake, message, txn, write_sync
from ofhq_pipeline_tests.dictionary.schemas import differences, parquet_schema
from ofhq_pipeline_tests.lifecycle.harness import build


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    lake = make_lake(tmp_path_factory.mktemp("home"))
    m = message(1, 1, day(2), from_fan=True)
    write_sync(lake, fetched_at=day(5), fans=[fan(1)], transactions=[txn("t1", 1, 10, day(1))],
               messages=[(1, m)])
    build(lake, day(10))
    lake.commit_marts(CREATOR, "run1")
    write_fan_agency(lake)
    return lake


def test_the_models_write_the_documented_columns(built):
    files = {
        "marts/fan_lifecycle_events": log_path(built, CREATOR),
        "marts/fan_agency": fan_agency_path(built),
    }
    for layer in ("staging", "intermediate"):
        for path in (built.root / layer).glob(f"*/{CREATOR}.parquet"):
            files[f"{layer}/{path.parent.name}"] = path
    for path in built.mart_path("fan_profile", CREATOR, "run1").parent.glob("*.parquet"):
        files[f"marts/{path.stem}"] = path
    for path in (built.root / "raw").glob(f"*/{CREATOR}/*.parquet"):
        files[f"raw/{path.parent.parent.name}"] = path
    problems = [p for key, path in files.items() for p in differences(key, parquet_schema(path))]
    assert problems == [], "\n".join(problems)
    expected = {"marts/fan_profile", "marts/fan_lifecycle_events", "marts/fan_agency",
                "intermediate/fan_money", "intermediate/fan_engagement", "intermediate/fan_stage",
                "intermediate/fan_chat",
                "intermediate/fan_personality", "staging/transactions", "raw/messages"}
    assert expected <= set(files)
