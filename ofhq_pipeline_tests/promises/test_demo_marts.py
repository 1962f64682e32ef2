"""`make demo` builds the same analysts' file, table by table, as the fingerprint in
demo_marts.json says: a restructuring that changes a mart's rows or columns fails here.

When a change to the marts is intended, look at what `differences` lists, then rewrite the
fingerprint from a fresh demo: `python -m ofhq_pipeline_tests.promises.marts_fingerprint
.ofhq/marts.duckdb`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ofhq_pipeline_tests.promises.marts_fingerprint import SNAPSHOT, differences, fingerprint
from ofhq_pipeline_tests.promises.test_cli import ofhq

pytestmark = pytest.mark.slow


def test_the_demo_builds_the_same_analysts_file():
    done = ofhq("demo")

    assert done.returncode == 0, done.stdout + done.stderr
    built = fingerprint(Path(os.environ["OFHQ_HOME"]) / "marts.duckdb")
    assert differences(json.loads(SNAPSHOT.read_text()), built) == []


def test_a_changed_row_is_a_difference(tmp_path):
    """The fingerprint sees one changed value among thousands of rows."""
    import duckdb

    path = tmp_path / "marts.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE fan_profile AS SELECT range AS fan_id, range * 100 AS spend "
                "FROM range(5000)")
    con.close()
    before = fingerprint(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE fan_profile SET spend = spend + 1 WHERE fan_id = 4321")
    con.close()

    assert differences(before, fingerprint(path)) == [
        "fan_profile: rows differ (5000 rows before, 5000 now)"]
