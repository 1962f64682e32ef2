"""The shapes the data dictionary is written in, and how its YAML files are read.

Each `<domain>.yaml` lists tables: `key` (the asset key, `marts/fan_profile`), `grain`,
`description`, `unique_key` and `sections` of columns. A column is `name TYPE: meaning`, or
`name: {like: <table key>}` for a column another table documents with the same meaning (with
`name TYPE:` when its type differs there); `{like: common}` takes one of common.yaml's columns.
So a meaning is written once, wherever it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Table:
    """One table the pipeline writes. `key` is its Dagster asset key as text (`marts/fan_profile`,
    `staging/fans`); `unique_key` the columns that identify a row, when the grain has them."""

    key: str
    grain: str
    description: str
    sections: tuple[Section, ...]
    unique_key: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def layer(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def columns(self) -> tuple[Column, ...]:
        return tuple(column for section in self.sections for column in section.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.key} has no column {name!r}")


class DictionaryError(ValueError):
    """A dictionary file that cannot be read as tables: says which file, table and column."""


COMMON = "common"


def load_tables(folder: Path, files: tuple[str, ...]) -> dict[str, Table]:
    """Every table of `folder/<file>.yaml`, in the files' order, `like` references resolved."""
    common = {c.name: c for item in yaml.safe_load((folder / f"{COMMON}.yaml").read_text())
              for c in [_own(item, COMMON)]}
    entries: dict[str, dict] = {}
    for name in files:
        for entry in yaml.safe_load((folder / f"{name}.yaml").read_text()):
            if entry["key"] in entries:
                raise DictionaryError(f"{name}.yaml: {entry['key']} is documented twice")
            entries[entry["key"]] = entry
    tables: dict[str, Table] = {}

    def column(item: dict, where: str) -> Column:
        ((head, value),) = item.items()
        name, _, type_ = head.partition(" ")
        if not isinstance(value, dict):
            return _own(item, where)
        source = value.get("like")
        try:
            base = common[name] if source == COMMON else table(source).column(name)
        except KeyError as exc:
            raise DictionaryError(f"{where}: {name} is like {source}, which has no such "
                                  f"column ({exc})") from None
        return Column(name, type_ or base.type, base.description)

    def table(key: str) -> Table:
        if key not in tables:
            entry = entries[key]
            tables[key] = Table(
                key=key, grain=entry["grain"], description=entry["description"],
                unique_key=tuple(entry.get("unique_key", ())),
                sections=tuple(
                    Section(s["section"], tuple(column(c, f"{key} ({s['section']})")
                                                for c in s["columns"]))
                    for s in entry["sections"]),
            )
        return tables[key]

    return {key: table(key) for key in entries}


def _own(item: dict, where: str) -> Column:
    ((head, description),) = item.items()
    name, _, type_ = head.partition(" ")
    if not type_ or not isinstance(description, str):
        raise DictionaryError(f"{where}: column {name!r} needs `name TYPE: meaning`")
    return Column(name, type_, description)
