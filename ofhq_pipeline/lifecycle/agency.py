"""The agency-wide fan view: one row per person across every creator of the agency.

It spans creators, so it is built when the analysts' file is published, from the fan_profile
each creator's manifest makes current, into lake/agency/fan_agency.parquet; publishing then
serves it like any mart (`marts.fan_agency`), always consistent with the fan_profile beside it.

A publish after one creator's run rolls up only the people that run can have changed: the fans
of the fan_profile files that differ from those the current rollup was made from (his previous
profile and his new one), over every creator's current profile. Everyone else's row is kept as it
is, since nothing it is made of changed. Which profiles the rollup was made from is recorded
beside it, with the version of the rollup file it describes; whatever that record does not
account for (no record, another file at the path, a profile gone, other columns) rolls the
agency up whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ofhq_pipeline.lake import (
    Lake,
    atomic_write,
    file_list,
    file_version,
    parquet_rows,
    quote,
    sql_text,
)

MODEL = "marts/fan_agency"


@dataclass(frozen=True)
class AgencyRollup:
    rows: int  # people in the rollup
    recomputed: int | None  # people rolled up again; None: the whole agency was
    # The profiles whose people were rolled up again (None: everyone), and the version of the
    # rollup file they were laid over: what a copy of the previous rollup needs to catch up.
    changed: list[Path] | None = field(default=None, compare=False)
    previous: tuple[int, int, int] | None = field(default=None, compare=False)


def fan_agency_path(store: Lake) -> Path:
    return store.root / "agency" / "fan_agency.parquet"


def sources_path(store: Lake) -> Path:
    """lake/agency/fan_agency.sources.json: the profiles the rollup was made from."""
    return fan_agency_path(store).with_name("fan_agency.sources.json")


def write_fan_agency(store: Lake) -> AgencyRollup:
    """Roll the current fan_profile of every creator up into fan_agency.parquet: the people of
    the profiles that changed since the last rollup, or everyone when that cannot be told.

    Without any fan_profile yet, nothing is written.
    """
    profiles = sorted(store.current_marts().get("fan_profile", []))
    if not profiles:
        return AgencyRollup(0, None)
    path = fan_agency_path(store)
    changed = changed_profiles(store, profiles)
    previous = file_version(path)
    con = store.connect()
    try:
        con.execute("CREATE SCHEMA marts")
        every_profile = f"read_parquet({file_list(profiles)}, union_by_name = true)"
        if changed == []:
            return AgencyRollup(parquet_rows(con, path), 0, changed, previous)
        if changed is not None:
            con.execute(f"CREATE TEMP TABLE people AS SELECT DISTINCT fan_id "
                        f"FROM read_parquet({file_list(changed)}, union_by_name = true)")
            con.execute(f"CREATE VIEW marts.fan_profile AS SELECT * FROM {every_profile} "
                        "WHERE fan_id IN (SELECT fan_id FROM people)")
            if same_columns(con, path):
                recomputed = con.execute("SELECT count(*) FROM people").fetchone()[0]
                rows = roll_up_people(con, path)
                record_sources(store, profiles)
                return AgencyRollup(rows, recomputed, changed, previous)
        con.execute(f"CREATE OR REPLACE VIEW marts.fan_profile AS SELECT * FROM {every_profile}")
        rows = store.write_model(con, MODEL, path)
        record_sources(store, profiles)
        return AgencyRollup(rows, None)
    finally:
        con.close()


def roll_up_people(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The rollup with the rows of `people` replaced (a person left without any profile has no
    row any more); its row count."""
    select = (f"SELECT kept.* FROM read_parquet({quote(path)}) AS kept "
              f"ANTI JOIN people USING (fan_id) "
              f"UNION ALL BY NAME ({sql_text(MODEL)})")
    atomic_write(path, lambda tmp: con.execute(
        f"COPY ({select}) TO {quote(tmp)} (FORMAT parquet, COMPRESSION zstd)"))
    return parquet_rows(con, path)


def changed_profiles(store: Lake, profiles: list[Path]) -> list[Path] | None:
    """The profile files that differ between the current rollup's record and `profiles` (gone or
    new: a creator's previous profile and his new one); None when the rollup must be whole."""
    path, record = fan_agency_path(store), sources_path(store)
    try:
        recorded = json.loads(record.read_text())
        made_from = {(store.root / rel).resolve() for rel in recorded["profiles"]}
        agency = tuple(recorded["agency"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    marts = (store.root / "marts").resolve()
    if not all(p.is_relative_to(marts) and p.name == "fan_profile.parquet" for p in made_from):
        return None  # a record naming other files is not one this module wrote
    if agency != file_version(path):
        return None  # the file is not the rollup the record describes
    changed = sorted(made_from ^ {p.resolve() for p in profiles})
    if not all(p.exists() for p in changed):
        return None  # a previous profile was pruned: its people cannot be told
    return changed


def same_columns(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether the rollup on disk has the model's columns, in its order."""
    held = con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote(path)})").fetchall()
    model = con.execute(f"DESCRIBE {sql_text(MODEL)}").fetchall()
    return [c[:2] for c in held] == [c[:2] for c in model]


def record_sources(store: Lake, profiles: list[Path]) -> None:
    """After the rollup is written: which profiles it was made from, and which file it is."""
    data = {"agency": list(file_version(fan_agency_path(store)) or ()),
            "profiles": [str(p.relative_to(store.root)) for p in profiles]}
    atomic_write(sources_path(store), lambda tmp: tmp.write_text(json.dumps(data, indent=1)))
