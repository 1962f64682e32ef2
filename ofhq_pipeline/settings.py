"""Every OFHQ_* / OFAPI_* setting, read in one place.

Paths and switches are plain settings; secrets never pass through here as values: resources
receive them as Dagster `EnvVar`s (`ofhq_pipeline.resources.locked.env_or`), so they are resolved
at run time and never written into run configuration or metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8788"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"


def keep_files_private() -> None:
    """Files and folders this process creates are its owner's alone (0600/0700).

    The lake, the landing store and the analysts' file hold fans' private chats and the agency's
    revenue; every process of the pipeline (CLI, receiver, Dagster's code servers and run workers)
    calls this once, so no writer can forget a mode.
    """
    os.umask(0o077)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant as an aware UTC datetime; naive input is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 instant: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Paths:
    """Where the pipeline keeps its files, all under OFHQ_HOME unless overridden."""

    home: Path
    warehouse: Path
    analysts_marts: Path

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def spill(self) -> Path:
        """Where DuckDB writes what a lake session's memory limit does not hold: beside the
        lake on the deployment's data disk, never the process's working directory."""
        return self.home / "tmp" / "duckdb"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")

    @classmethod
    def from_env(cls) -> Paths:
        home = Path(os.environ.get("OFHQ_HOME") or "./.ofhq").resolve()
        warehouse = os.environ.get("OFHQ_DUCKDB_PATH") or home / "warehouse.duckdb"
        marts = os.environ.get("OFHQ_MARTS_DUCKDB_PATH") or home / "marts.duckdb"
        return cls(home=home, warehouse=Path(warehouse).resolve(), analysts_marts=Path(marts).resolve())


def as_of_from_env() -> datetime | None:
    """OFHQ_AS_OF pins "now" for every time-dependent field; None means the run's start."""
    text = os.environ.get("OFHQ_AS_OF")
    return parse_instant(text) if text else None
