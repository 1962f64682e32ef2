"""Production mode's instance files (deploy/), checked against Dagster's own config schema.

    deploy/dagster.postgres.yaml   one machine: Postgres storage (DAGSTER_PG_URL), queued runs,
                                   one run per creator at a time, the `duckdb_writer` pool
    deploy/k8s/dagster.yaml        Kubernetes: the same, plus K8sRunLauncher (a Job per run)
    deploy/k8s/values.yaml         the same instance through the Dagster Helm chart
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from ofhq_pipeline.settings import PROJECT_ROOT

DEPLOY_DIR = PROJECT_ROOT / "deploy"
POSTGRES_INSTANCE = DEPLOY_DIR / "dagster.postgres.yaml"
K8S_INSTANCE = DEPLOY_DIR / "k8s" / "dagster.yaml"
K8S_VALUES = DEPLOY_DIR / "k8s" / "values.yaml"

# The pool of steps that write a DuckDB file shared by every creator (the analysts' file, the
# warehouse catalog). Declare it on such assets: `@dg.multi_asset(..., pool=DUCKDB_WRITER_POOL)`.
# Both instance files give every pool without a limit of its own a limit of 1.
DUCKDB_WRITER_POOL = "duckdb_writer"


def instance_config(path: Path) -> Mapping[str, Any]:
    """The instance file validated against Dagster's instance schema (env vars unresolved)."""
    config, _ = dagster_instance_config(str(path.parent), path.name)
    return config


def run_launcher_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run launcher's config validated (and env vars resolved) against its class's own
    config type, as the instance does when it builds the launcher (no cluster needed)."""
    from dagster._serdes import class_from_code_pointer

    launcher = config["run_launcher"]
    cls = class_from_code_pointer(launcher["module"], launcher["class"])
    result = process_config(cls.config_type(), launcher.get("config", {}))
    if not result.success:
        raise DagsterInvalidConfigError(
            f"invalid config for {launcher['class']}", result.errors, launcher.get("config")
        )
    return result.value


def storage_url(config: Mapping[str, Any]) -> str:
    """The SQLAlchemy URL Dagster's Postgres storage will use (env vars resolved)."""
    from dagster._core.storage.config import pg_config
    from dagster_postgres.utils import pg_url_from_config

    result = process_config(pg_config(), config["storage"]["postgres"])
    if not result.success:
        raise DagsterInvalidConfigError("invalid postgres storage", result.errors, None)
    return pg_url_from_config(result.value)
