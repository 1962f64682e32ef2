"""The lake as a Dagster resource: its paths are locked to the deployment's environment, and a
run whose partition key is not a plain account id is refused before any file is touched."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ofhq_pipeline.lake import Lake
from ofhq_pipeline.resources.locked import DeploymentLockedResource, locked_field
from ofhq_pipeline.settings import Paths
from ofhq_pipeline.source.contract import require_creator_id

# Tags under which Dagster records the partition (or range of partitions) a run works on.
PARTITION_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


class LakeResource(DeploymentLockedResource):
    """The pipeline's files under OFHQ_HOME and the DuckDB settings used to process them.

    Its paths are locked (a run config cannot write the lake elsewhere), and it refuses a run whose
    partition key is not a plain account id before any asset of the run touches a file.
    """

    locked_fields = {
        "home": "OFHQ_HOME",
        "warehouse_path": "OFHQ_DUCKDB_PATH",
        "analysts_marts_path": "OFHQ_MARTS_DUCKDB_PATH",
    }

    home: str | None = locked_field("OFHQ_HOME", "the local data folder; unset: ./.ofhq")
    warehouse_path: str | None = locked_field("OFHQ_DUCKDB_PATH", "the pipeline's DuckDB file")
    analysts_marts_path: str | None = locked_field(
        "OFHQ_MARTS_DUCKDB_PATH", "the analysts' DuckDB file"
    )
    memory_limit: str = Field(default="3GB", description="DuckDB memory limit per process")
    threads: int = Field(default=2, description="DuckDB threads per process")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        tags = context.run.tags if context.run is not None else {}
        for tag in PARTITION_TAGS:
            if tag in tags:
                require_creator_id(tags[tag], where=f"partition key ({tag})")

    def lake(self) -> Lake:
        defaults = Paths.from_env()
        paths = Paths(
            home=Path(self.home).resolve() if self.home else defaults.home,
            warehouse=Path(self.warehouse_path).resolve() if self.warehouse_path else defaults.warehouse,
            analysts_marts=Path(self.analysts_marts_path).resolve()
            if self.analysts_marts_path
            else defaults.analysts_marts,
        )
        return Lake(paths, memory_limit=self.memory_limit, threads=self.threads)
