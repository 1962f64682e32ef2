"""Chatter shifts: which chatter wrote as which creator, and when.

The OnlyFans API does not say which chatter sent a creator message, so attribution comes from shift
schedules. A shift maps a creator and a time range `[start, end)` (start inclusive, end exclusive,
UTC) to a chatter. Shifts come from two sources, merged (exact duplicates counted once):

- a YAML or CSV file: `OFHQ_CHATTER_SHIFTS`, default `$OFHQ_HOME/chatter_shifts.yaml` (see
  `example_shifts.yaml`). YAML: a list of shifts, or a mapping with one key `shifts` holding it.
  CSV: a header line `creator_id,chatter,start,end[,note]`, then one shift a line. Lines starting
  with `#` are comments.
- the table `chatter_shifts` of the landing store (`OFHQ_LANDING_URL`, SQLite or PostgreSQL), for
  tools that push shifts: `add_shifts(url, [...])`. It is created when missing.

Fields: `creator_id` (a creator account id), `chatter` (any non-empty name), `start`, `end`
(ISO-8601 instants; without an offset they are UTC), `note` (optional, ignored). Every entry is
validated (known fields, required fields present, instants parse, end after start), and every
error names the file and line (or the row) it comes from. `parse_shift_file` returns the valid
shifts and the errors, so a pipeline run can attribute what it can and report the rest;
`load_shift_file` and `add_shifts` refuse input with any error.

    python -m ofhq_pipeline.chatters.shifts FILE    # validate a shift file; exit 1 on errors
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine

from ofhq_pipeline.realtime.landing import create_landing_engine, landing_url_from_env
from ofhq_pipeline.settings import Paths, parse_instant
from ofhq_pipeline.source.contract import is_creator_id

ENV_VAR = "OFHQ_CHATTER_SHIFTS"
DEFAULT_FILE_NAME = "chatter_shifts.yaml"
REQUIRED_FIELDS = ("creator_id", "chatter", "start", "end")
OPTIONAL_FIELDS = ("note",)
KNOWN_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
MAX_CHATTER_CHARS = 200
EXAMPLE_FILE = Path(__file__).with_name("example_shifts.yaml")

TS = pl.Datetime("us", "UTC")
SHIFT_COLUMNS = {
    "creator_id": pl.String,
    "shift_id": pl.String,
    "chatter": pl.String,
    "start_at": TS,
    "end_at": TS,
    "source": pl.String,
}
ERROR_COLUMNS = {"creator_id": pl.String, "source": pl.String, "error": pl.String}


class ShiftError(ValueError):
    """Invalid shifts; `errors` holds one message per problem, each naming where it is."""

    def __init__(self, errors: list[ShiftProblem], what: str = "shifts") -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} problem(s) in {what}:\n{lines}{more}")


@dataclass(frozen=True)
class ShiftProblem:
    """One invalid entry: where it is (`file:line` or `row n`), what is wrong, and its creator
    when that much could be read."""

    where: str
    message: str
    creator_id: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Shift:
    creator_id: str
    chatter: str
    start_at: datetime
    end_at: datetime
    source: str = ""

    @property
    def key(self) -> tuple[str, str, datetime, datetime]:
        return (self.creator_id, self.chatter, self.start_at, self.end_at)

    @property
    def shift_id(self) -> str:
        """Stable across runs and sources: a hash of creator, chatter, start and end."""
        text = f"{self.creator_id}\x1f{self.chatter}\x1f{self.start_at.isoformat()}\x1f" \
               f"{self.end_at.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- validation -----------------------------------------------------------------------------
def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        raise ValueError(f"`{name}` is a date ({value.isoformat()}); give a date and time, "
                         f"e.g. {value.isoformat()}T08:00:00Z")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`{name}` must be an ISO-8601 instant, got {value!r}")
    try:
        return parse_instant(value)
    except ValueError:
        raise ValueError(f"`{name}` is not an ISO-8601 instant: {value!r}") from None


def _text(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"`{name}` must be text, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"`{name}` is empty")
    return text


def validate_entry(
    entry: Mapping[str, Any], where: str, field_where: Mapping[str, str] | None = None,
    source: str | None = None,
) -> tuple[Shift | None, list[ShiftProblem]]:
    """One entry to a `Shift`, or the problems with it. `where` names the entry (`file:line`,
    `row 3`); `field_where` the place of each field, so a problem names the line at fault."""

    def at(field: str) -> str:
        return (field_where or {}).get(field, where)

    problems: list[ShiftProblem] = []
    raw_creator = entry.get("creator_id")
    creator = str(raw_creator).strip() if isinstance(raw_creator, str | int) else None
    unknown = sorted(str(k) for k in entry if k not in KNOWN_FIELDS)
    for name in unknown:
        problems.append(ShiftProblem(
            at(name), f"unknown field `{name}` (known: {', '.join(KNOWN_FIELDS)})", creator))
    for name in REQUIRED_FIELDS:
        if entry.get(name) is None or entry.get(name) == "":
            problems.append(ShiftProblem(where, f"missing `{name}`", creator))
    values: dict[str, Any] = {}
    for name, convert in (("creator_id", _text), ("chatter", _text),
                          ("start", _instant), ("end", _instant)):
        if entry.get(name) is None or entry.get(name) == "":
            continue
        try:
            values[name] = convert(entry[name], name)
        except ValueError as exc:
            problems.append(ShiftProblem(at(name), str(exc), creator))
    if "creator_id" in values and not is_creator_id(values["creator_id"]):
        problems.append(ShiftProblem(
            at("creator_id"),
            f"`creator_id` {values['creator_id']!r} is not an account id (letters, digits, _ -)",
            None))
    if "chatter" in values and len(values["chatter"]) > MAX_CHATTER_CHARS:
        problems.append(ShiftProblem(
            at("chatter"), f"`chatter` is longer than {MAX_CHATTER_CHARS} characters", creator))
    if "start" in values and "end" in values and values["end"] <= values["start"]:
        problems.append(ShiftProblem(
            at("end"), f"`end` ({values['end'].isoformat()}) must be after `start` "
            f"({values['start'].isoformat()})", creator))
    if problems:
        return None, problems
    shift = Shift(values["creator_id"], values["chatter"], values["start"], values["end"],
                  source or where)
    return shift, []


# ---- files ----------------------------------------------------------------------------------
class _LineLoader(yaml.SafeLoader):
    """Safe YAML whose mappings remember the line of each key (`__lines__`) and refuse
    duplicate keys."""


def _mapping_with_lines(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate field `{key}` (first on line {seen[key]})",
                key_node.start_mark)
        seen[key] = line
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__lines__"] = {str(k): line for k, line in seen.items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_lines)


def _yaml_entries(path: Path, text: str) -> tuple[list[tuple[dict, str, dict]], list[ShiftProblem]]:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if exc.context_mark and mark and exc.context_mark.line != mark.line:
            problem += f" (from line {exc.context_mark.line + 1})"
        return [], [ShiftProblem(where, f"not valid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return [], [ShiftProblem(str(path), f"not valid YAML: {exc}")]
    if document is None:
        return [], []
    if isinstance(document, dict):
        extra = sorted(k for k in document if k not in ("shifts", "__lines__", "__line__"))
        if extra:
            line = document["__lines__"][extra[0]]
            return [], [ShiftProblem(f"{path}:{line}",
                                     f"unknown top-level key `{extra[0]}` (expected `shifts`)")]
        document = document.get("shifts") or []
    if not isinstance(document, list):
        return [], [ShiftProblem(f"{path}:1", "expected a list of shifts, or `shifts:` and a list")]
    entries, problems = [], []
    for n, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            problems.append(ShiftProblem(f"{path} (shift {n})",
                                         f"expected a mapping of fields, got {item!r}"))
            continue
        lines = item.pop("__lines__")
        line = item.pop("__line__")
        entries.append((item, f"{path}:{line}", {k: f"{path}:{n}" for k, n in lines.items()}))
    return entries, problems


def _csv_entries(path: Path, text: str) -> tuple[list[tuple[dict, str, dict]], list[ShiftProblem]]:
    rows = csv.reader(text.splitlines())
    header: list[str] | None = None
    entries, problems = [], []
    for row in rows:
        line = rows.line_num
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            unknown = [c for c in header if c not in KNOWN_FIELDS]
            missing = [c for c in REQUIRED_FIELDS if c not in header]
            if unknown or missing:
                parts = [f"unknown column `{c}`" for c in unknown]
                parts += [f"missing column `{c}`" for c in missing]
                return [], [ShiftProblem(f"{path}:{line}", "header: " + "; ".join(parts)
                                         + f" (columns: {', '.join(KNOWN_FIELDS)})")]
            continue
        if len(row) > len(header):
            problems.append(ShiftProblem(
                f"{path}:{line}", f"{len(row)} cells for {len(header)} columns"))
            continue
        entry = {name: row[i].strip() for i, name in enumerate(header) if i < len(row)}
        entries.append((entry, f"{path}:{line}", {}))
    if header is None and text.strip():
        problems.append(ShiftProblem(f"{path}:1", "no header line"))
    return entries, problems


def parse_shift_file(path: str | Path) -> tuple[list[Shift], list[ShiftProblem]]:
    """Every valid shift of a YAML (.yaml, .yml) or CSV (.csv) file, and every problem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        return [], [ShiftProblem(str(path), "unknown shift file type (use .yaml, .yml or .csv)")]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [ShiftProblem(str(path), "shift file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [ShiftProblem(str(path), f"cannot read the shift file: {exc}")]
    reader = _csv_entries if suffix == ".csv" else _yaml_entries
    entries, problems = reader(path, text)
    shifts = []
    for entry, where, field_where in entries:
        shift, found = validate_entry(entry, where, field_where)
        problems.extend(found)
        if shift is not None:
            shifts.append(shift)
    return shifts, sorted(problems, key=_line_of)  # in file order


def _line_of(problem: ShiftProblem) -> int:
    tail = problem.where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def load_shift_file(path: str | Path) -> list[Shift]:
    """The shifts of a file; raises `ShiftError` naming every bad line."""
    shifts, problems = parse_shift_file(path)
    if problems:
        raise ShiftError(problems, str(path))
    return shifts


def shifts_file_from_env() -> tuple[Path, bool]:
    """OFHQ_CHATTER_SHIFTS, else `$OFHQ_HOME/chatter_shifts.yaml`; and whether it was set
    explicitly (an explicit file that is missing is an error; the default may be absent)."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser().resolve(), True
    return Paths.from_env().home / DEFAULT_FILE_NAME, False


# ---- the landing store's table --------------------------------------------------------------
metadata = sa.MetaData()

chatter_shifts = sa.Table(
    "chatter_shifts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("creator_id", sa.Text, nullable=False),
    sa.Column("chatter", sa.Text, nullable=False),
    sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("creator_id", "chatter", "start_at", "end_at",
                        name="uq_chatter_shifts_shift"),
    sa.CheckConstraint("end_at > start_at", name="ck_chatter_shifts_end_after_start"),
    sa.Index("ix_chatter_shifts_creator_start", "creator_id", "start_at"),
)


def shifts_engine(url: str | URL | Engine | None = None) -> Engine:
    """The landing store's engine with `chatter_shifts` created when missing."""
    engine = url if isinstance(url, Engine) else create_landing_engine(
        url or landing_url_from_env())
    metadata.create_all(engine, checkfirst=True)
    return engine


def _to_utc(value: datetime) -> datetime:
    """Stored in UTC: SQLite keeps no offset and hands back naive UTC (`_read_utc`)."""
    return value.astimezone(UTC)


def _read_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_entry(item: Shift | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, Shift):
        return {"creator_id": item.creator_id, "chatter": item.chatter,
                "start": item.start_at, "end": item.end_at}
    return dict(item)


def add_shifts(
    url: str | URL | Engine | None,
    shifts: Iterable[Shift | Mapping[str, Any]],
    *,
    source: str = "api",
) -> int:
    """Push shifts into the landing store's `chatter_shifts`; returns how many were new.

    Each shift is a `Shift` or a mapping with `creator_id`, `chatter`, `start`, `end` (and an
    optional `note`). All are validated first: any problem raises `ShiftError` naming the row
    (`row 3`, from 1) and nothing is stored. A shift already stored (same creator, chatter, start
    and end) is not stored again. Overlaps with other chatters are accepted here and reported by
    the pipeline (`chatter_shift_issues`), since a schedule may be pushed in pieces.
    """
    valid, problems = [], []
    for n, item in enumerate(shifts, start=1):
        shift, found = validate_entry(_as_entry(item), f"row {n}")
        problems.extend(found)
        if shift is not None:
            valid.append(shift)
    if problems:
        raise ShiftError(problems, "the shifts to add")
    if not valid:
        return 0
    engine = shifts_engine(url)
    now = datetime.now(UTC)
    rows = [{"creator_id": s.creator_id, "chatter": s.chatter,
             "start_at": _to_utc(s.start_at), "end_at": _to_utc(s.end_at),
             "source": source, "added_at": now} for s in {s.key: s for s in valid}.values()]
    dialect = engine.dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"chatter_shifts on {dialect} (use SQLite or PostgreSQL)")
    statement = insert(chatter_shifts).on_conflict_do_nothing(
        index_elements=["creator_id", "chatter", "start_at", "end_at"])
    try:
        with engine.begin() as conn:
            return sum(conn.execute(statement, row).rowcount for row in rows)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def remove_shifts(url: str | URL | Engine | None, creator_id: str, chatter: str | None = None,
                  *, start_from: datetime | None = None) -> int:
    """Delete a creator's pushed shifts (one chatter's, and/or those starting at or after
    `start_from`), e.g. before pushing a corrected schedule; returns how many."""
    engine = shifts_engine(url)
    query = sa.delete(chatter_shifts).where(chatter_shifts.c.creator_id == creator_id)
    if chatter is not None:
        query = query.where(chatter_shifts.c.chatter == chatter)
    if start_from is not None:
        query = query.where(chatter_shifts.c.start_at >= _to_utc(start_from))
    try:
        with engine.begin() as conn:
            return conn.execute(query).rowcount
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


def read_landing_shifts(
    url: str | URL | Engine | None, creator_id: str | None = None
) -> tuple[list[Shift], list[ShiftProblem]]:
    """The pushed shifts (of one creator, or all), validated like a file's; `row id=<n>` names
    a row written past `add_shifts` that does not hold."""
    engine = shifts_engine(url)
    query = sa.select(chatter_shifts).order_by(chatter_shifts.c.id)
    if creator_id is not None:
        query = query.where(chatter_shifts.c.creator_id == creator_id)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    finally:
        if not isinstance(url, Engine):
            engine.dispose()
    shifts, problems = [], []
    for row in rows:
        entry = {"creator_id": row["creator_id"], "chatter": row["chatter"],
                 "start": _read_utc(row["start_at"]) if row["start_at"] else None,
                 "end": _read_utc(row["end_at"]) if row["end_at"] else None}
        where = f"landing store chatter_shifts row id={row['id']}"
        shift, found = validate_entry(entry, where, source=f"landing:{row['id']}")
        problems.extend(found)
        if shift is not None:
            shifts.append(shift)
    return shifts, problems


# ---- both sources, as the pipeline reads them -----------------------------------------------
@dataclass(frozen=True)
class ShiftSet:
    """One creator's shifts from every source, deduplicated, and the problems found reading
    them (those of the creator, and those that name no creator)."""

    shifts: pl.DataFrame
    problems: pl.DataFrame
    sources: tuple[str, ...]


def shift_frame(shifts: Iterable[Shift]) -> pl.DataFrame:
    unique: dict[tuple, Shift] = {}
    for s in shifts:
        unique.setdefault(s.key, s)  # the first source wins: the file before the landing store
    return pl.DataFrame(
        [{"creator_id": s.creator_id, "shift_id": s.shift_id, "chatter": s.chatter,
          "start_at": s.start_at, "end_at": s.end_at, "source": s.source}
         for s in unique.values()],
        schema=SHIFT_COLUMNS,
    ).sort("start_at", "chatter", "shift_id")


def problem_frame(problems: Iterable[ShiftProblem]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"creator_id": p.creator_id, "source": p.where, "error": p.message} for p in problems],
        schema=ERROR_COLUMNS,
    )


def load_creator_shifts(
    creator_id: str,
    *,
    file: Path | None,
    file_required: bool = False,
    landing_url: str | URL | Engine | None = None,
    use_landing: bool = True,
) -> ShiftSet:
    """What a pipeline run attributes with: the creator's valid shifts from the file and the
    landing store, and the problems that concern it (never raises for bad entries)."""
    shifts: list[Shift] = []
    problems: list[ShiftProblem] = []
    sources: list[str] = []
    if file is not None and (file_required or file.exists()):
        found, bad = parse_shift_file(file)
        shifts += found
        problems += bad
        sources.append(str(file))
    if use_landing:
        found, bad = read_landing_shifts(landing_url, creator_id)
        shifts += found
        problems += bad
        sources.append("landing:chatter_shifts")
    mine = [s for s in shifts if s.creator_id == creator_id]
    relevant = [p for p in problems if p.creator_id in (None, creator_id)]
    return ShiftSet(shift_frame(mine), problem_frame(relevant), tuple(sources))


def rotating_shifts(
    creator_ids: Iterable[str], chatters: list[str], start: datetime, end: datetime, *,
    hours: int = 8, source: str = "rotation",
) -> list[Shift]:
    """Back-to-back `hours`-long shifts from `start` to `end` for every creator, the chatters
    taking turns (each creator starting one chatter further): a schedule for demos and
    benchmarks, e.g. `add_shifts(url, rotating_shifts(ids, ["ana", "ben", "cy"], t0, t1))`."""
    if not chatters or hours <= 0:
        raise ValueError("a rotation needs chatters and a positive shift length")
    shifts = []
    for offset, creator_id in enumerate(sorted(creator_ids)):
        at, n = start.astimezone(UTC), offset
        while at < end:
            shifts.append(Shift(creator_id, chatters[n % len(chatters)], at,
                                min(at + timedelta(hours=hours), end.astimezone(UTC)), source))
            at, n = at + timedelta(hours=hours), n + 1
    return shifts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ofhq_pipeline.chatters.shifts FILE", file=sys.stderr)
        return 2
    shifts, problems = parse_shift_file(args[0])
    for problem in problems:
        print(problem, file=sys.stderr)
    creators = len({s.creator_id for s in shifts})
    print(f"{len(shifts)} valid shift(s) for {creators} creator(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
