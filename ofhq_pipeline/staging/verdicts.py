"""The last verdict of each staged table's schema check, kept beside the table
(`lake/staging/_checked/<table>/<creator>.json`).

A run whose staging changed nothing reports the verdict its table last had, not a pass: a table
that failed its (blocking) check stays failed until a run stages it again and it passes. The
verdict names the file it judged (inode, size, modification time), so that a reader can tell
whether the file it holds is the one judged whole: marts.transactions, when it is the staged
file itself, takes its unique key from that verdict (`defs/marts/money.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ofhq_pipeline.lake import Lake, atomic_write


def verdict_path(store: Lake, table: str, creator_id: str) -> Path:
    return store.staging_path(table, creator_id, layer="staging/_checked").with_suffix(".json")


def file_identity(path: Path) -> dict[str, int]:
    """What tells one written file from another: files are replaced by rename, never edited."""
    stat = path.stat()
    return {"inode": stat.st_ino, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record(store: Lake, table: str, creator_id: str, *, passed: bool, whole_table: bool) -> None:
    """The verdict of the schema check on the table's base file (`whole_table`: the base was
    the whole table, its changes empty), or on its changes."""
    judged = (store.staging_path(table, creator_id) if whole_table
              else store.staging_changes_path(table, creator_id))
    data = {"passed": passed, "whole_table": whole_table, "file": file_identity(judged)}
    path = verdict_path(store, table, creator_id)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data)))


def last(store: Lake, table: str, creator_id: str) -> dict | None:
    """The table's last verdict; None when none was recorded (or it cannot be read)."""
    path = verdict_path(store, table, creator_id)
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data.get("passed"), bool) else None
    except (OSError, ValueError, AttributeError):
        return None


def passed_whole(store: Lake, table: str, creator_id: str, path: Path) -> bool:
    """Whether `path` is the very file the check last judged whole, and it passed."""
    verdict = last(store, table, creator_id)
    return (verdict is not None and verdict["passed"] and verdict.get("whole_table") is True
            and path.exists() and verdict.get("file") == file_identity(path))
