"""The verdicts of each staged table's schema check, kept beside the table
(`lake/staging/_checked/<table>/<creator>.json`): one for its base file, one for its changes,
each naming the version of the file it judged (`lake.file_version`).

A table stands as passed only while both files it is made of are the ones judged and both
passed. So a run that stages nothing new reports the verdict the table already had, and a merge
that only judged its new changes still fails while its base is one that failed: a table that
failed its (blocking) check keeps the marts from it until it is staged again and passes. When a
file is not the one judged (a verdict lost, a base rewritten unjudged), the table is judged whole
again. marts.transactions, when it is the staged file itself, takes its unique key from the
base's verdict (`defs/marts/money.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ofhq_pipeline.lake import Lake, atomic_write, file_version

PARTS = ("base", "changes")


def verdict_path(store: Lake, table: str, creator_id: str) -> Path:
    return store.staging_path(table, creator_id, layer="staging/_checked").with_suffix(".json")


def part_path(store: Lake, table: str, creator_id: str, part: str) -> Path:
    return (store.staging_path(table, creator_id) if part == "base"
            else store.staging_changes_path(table, creator_id))


def version(path: Path) -> list[int] | None:
    """The file's version as the verdict stores it (JSON)."""
    found = file_version(path)
    return list(found) if found else None


def read(store: Lake, table: str, creator_id: str) -> dict:
    """Each part's verdict, {"passed", "file"}; a part never judged (or unreadable) is absent."""
    try:
        data = json.loads(verdict_path(store, table, creator_id).read_text())
        return {part: data[part] for part in PARTS
                if isinstance(data.get(part), dict) and isinstance(data[part].get("passed"), bool)}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def record(store: Lake, table: str, creator_id: str, passed: bool, *parts: str) -> None:
    """The check's verdict on the named parts, as their files are now; the others' are kept."""
    data = read(store, table, creator_id)
    for part in parts:
        data[part] = {"passed": passed,
                      "file": version(part_path(store, table, creator_id, part))}
    atomic_write(verdict_path(store, table, creator_id), lambda tmp: tmp.write_text(json.dumps(data)))


def judged(store: Lake, table: str, creator_id: str, part: str) -> bool | None:
    """The verdict on one part as its file is now: None when that file is not the one judged."""
    verdict = read(store, table, creator_id).get(part)
    current = version(part_path(store, table, creator_id, part))
    if verdict is None or verdict.get("file") != current:
        return None
    return verdict["passed"]


def standing(store: Lake, table: str, creator_id: str, *, has_changes: bool) -> bool | None:
    """Whether the table as it is now passed: its base, and its changes when it has any. None
    when a part's file is not the one judged, so the table must be judged whole."""
    parts = ("base", "changes") if has_changes else ("base",)
    verdicts = [judged(store, table, creator_id, part) for part in parts]
    return None if None in verdicts else all(verdicts)


def passed_whole(store: Lake, table: str, creator_id: str, path: Path) -> bool:
    """Whether `path` is the base file the check judged, and it passed."""
    verdict = read(store, table, creator_id).get("base")
    return (verdict is not None and verdict["passed"]
            and verdict.get("file") == version(path))
