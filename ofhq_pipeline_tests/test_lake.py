"""What a lake session's work does not fit in its memory limit spills under the pipeline's home,
owner-only, never into the working directory of whatever process opened it (a daemon started
from `/`, a code server in a read-only image); and each session spills into a folder of its own,
since two at once (two steps, a real-time run beside a sync) would otherwise overwrite each
other's spill files, the first to close deleting the other's."""

from __future__ import annotations

from pathlib import Path

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.settings import Paths

# ~200 MB of hashes held in a temp table: past the session's limit, so part of it is on disk.
HASHES = ("CREATE TEMP TABLE hashes AS "
          "SELECT range AS n, md5((range + {salt})::VARCHAR) AS h FROM range(3000000)")


def spill_folders(con) -> set[Path]:
    return {Path(path).parent for (path,) in
            con.execute("SELECT path FROM duckdb_temporary_files()").fetchall()}


def test_two_sessions_spilling_at_once_keep_their_own_rows_under_the_home(tmp_path, monkeypatch):
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    lake = Lake(Paths(home=home, warehouse=home / "warehouse.duckdb",
                      analysts_marts=home / "marts.duckdb"), memory_limit="64MB")
    first, second = lake.connect(), lake.connect()
    try:
        first.execute(HASHES.format(salt=0))
        second.execute(HASHES.format(salt=1))
        folders = spill_folders(first), spill_folders(second)
        second.close()  # the first to finish, while the other still needs what it spilled

        # Every row of the first session is still its own: each hash is that of its own number.
        intact, total = first.execute(
            "SELECT count(*) FILTER (WHERE h = md5(n::VARCHAR)), sum(n) FROM hashes").fetchone()
        assert intact == 3_000_000 and total == sum(range(3_000_000))
    finally:
        first.close()
        second.close()

    assert all(len(f) == 1 for f in folders), "each session was expected to spill, in one folder"
    (mine,), (theirs,) = folders
    assert mine != theirs
    assert mine.parent == theirs.parent == lake.paths.spill and lake.paths.spill.is_relative_to(home)
    assert lake.paths.spill.stat().st_mode & 0o077 == 0  # what spills is fans' data
    assert not mine.exists() and not theirs.exists()  # removed as each session closed
    assert list(elsewhere.iterdir()) == []
