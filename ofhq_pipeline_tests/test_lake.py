"""A lake session whose work outgrows its memory limit spills under the pipeline's home, never
into the working directory of whatever process opened it (a daemon started from `/`, a code
server in a read-only image), in a folder only its owner can read."""

from __future__ import annotations

from pathlib import Path

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.settings import Paths


def test_a_session_that_outgrows_its_memory_spills_under_the_home(tmp_path, monkeypatch):
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    lake = Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                      analysts_marts=home / "marts.duckdb"), memory_limit="64MB")
    con = lake.connect()
    try:
        # ~200 MB of hashes held in a temp table: more than the limit, so part of it is on disk.
        con.execute("CREATE TEMP TABLE hashes AS "
                    "SELECT range AS n, md5(range::VARCHAR) AS h FROM range(3000000)")
        spilled = [Path(path) for (path,) in
                   con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()]
        assert con.execute("SELECT count(DISTINCT h) FROM hashes").fetchone()[0] == 3_000_000
    finally:
        con.close()

    assert spilled, "the session was expected to spill"
    assert all(path.parent == lake.paths.spill for path in spilled)
    assert lake.paths.spill.stat().st_mode & 0o077 == 0  # what spills is fans' data
    assert lake.paths.spill.is_relative_to(home)
    assert list(elsewhere.iterdir()) == []
