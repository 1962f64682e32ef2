"""Resource fields that only the deployment sets: endpoints, secrets and paths.

Dagster lets a run's config (what the launchpad and GraphQL submit) override any field of a
resource, even one the code location set from an `EnvVar`. Anyone allowed to launch a run could
then point the API resource at his own host and set its key to `{"env": "ANY_VARIABLE"}`, and the
run would send that variable to him as a bearer token. So each resource names its locked fields,
with the environment variable that sets each, and the resource refuses to start when the run's
config names one of them: the run fails before any asset body runs, so before any request.

Dagster has a second trap: once a run config names any field of a resource (a timeout, a budget),
every field it does not name takes its class default, not the value the code location gave. Locked
fields therefore default to None and are read through `deployment_value`, which falls back to the
environment variable, so tuning a timeout never silently drops the endpoint or the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import dagster as dg
from pydantic import Field


class LockedFieldError(dg.DagsterError):
    """A run config tried to set a field that only the deployment's environment may set."""


def locked_field(variable: str, description: str, default: Any = None, **kwargs: Any) -> Any:
    """A pydantic `Field` whose description tells the launchpad's user it is locked, and by what."""
    return Field(default=default, description=f"{description} (locked: set by {variable})",
                 **kwargs)


def run_config_of(context: dg.InitResourceContext) -> Mapping[str, Any]:
    """This resource's `config` block in the run's own config ({} when the run sets none)."""
    run = context.run
    if run is None:
        return {}
    keys = [key for key, definition in context.all_resource_defs.items()
            if definition is context.resource_def]
    sections = (run.run_config or {}).get("resources") or {}
    merged: dict[str, Any] = {}
    for key in keys:
        block = sections.get(key) or {}
        config = block.get("config") if isinstance(block, Mapping) else None
        if isinstance(config, Mapping):
            merged.update({f"{key}.{name}": value for name, value in config.items()})
    return merged


class DeploymentLockedResource(dg.ConfigurableResource):
    """A resource whose `locked_fields` come from the deployment's environment only.

    `locked_fields` maps each locked field to the environment variable that sets it; the code
    location passes them as `EnvVar`s (tests may pass values in code). A run config naming any of
    them fails the run with a `LockedFieldError` that says which field and which variable.
    """

    locked_fields: ClassVar[Mapping[str, str]] = {}

    def deployment_value(self, name: str, default: Any = None) -> Any:
        """The locked field as the code set it, else its environment variable, else `default`."""
        value = getattr(self, name)
        if value is None or value == "":
            value = os.environ.get(self.locked_fields[name]) or default
        return value

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        refused = sorted(
            (name, self.locked_fields[name.split(".", 1)[1]])
            for name in run_config_of(context)
            if name.split(".", 1)[1] in self.locked_fields
        )
        if refused:
            fields = "; ".join(
                f"{name} is locked (set by {variable} in the deployment's environment only)"
                for name, variable in refused
            )
            raise LockedFieldError(f"run config refused: {fields}")


def env_or(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """`EnvVar(name)` when the variable is set, else the default (Dagster fails on unset EnvVars)."""
    return dg.EnvVar(name) if os.environ.get(name) else default
