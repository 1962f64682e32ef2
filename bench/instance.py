"""A Dagster instance as `make demo` makes one: the project's dagster.yaml (its storage included)
in a temporary DAGSTER_HOME, so a benchmark's orchestration seconds are those of the embedded
default, not of Dagster's test instance."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from ofhq_pipeline.settings import PROJECT_ROOT


@contextmanager
def project_instance() -> Iterator[dg.DagsterInstance]:
    previous = os.environ.get("DAGSTER_HOME")
    with tempfile.TemporaryDirectory() as home:
        shutil.copy(PROJECT_ROOT / "dagster.yaml", Path(home) / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = home  # the storage's base_dir reads it
        try:
            with dg.DagsterInstance.from_config(home) as instance:
                yield instance
        finally:
            if previous is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = previous
