"""The whole Dagster graph as sorted text, one fact per line, so any change to it is a small diff.

Only structure is rendered: no resource values (they come from the environment), no run ids,
no paths, no times.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import dagster as dg

HEADER = ("# The ofhq_pipeline graph (ofhq_pipeline_tests/graph_snapshot.py). Accept a change with: "
          "OFHQ_UPDATE_GRAPH_SNAPSHOT=1 .venv/bin/pytest ofhq_pipeline_tests/defs/test_graph_snapshot.py")
NONE = "(none)"


def graph_snapshot(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    lines = [
        HEADER,
        *_assets(graph),
        *_checks(graph),
        *_jobs(defs, graph),
        *_schedules(repo.schedule_defs),
        *_sensors(repo.sensor_defs, graph),
        *_resources(defs.resources or {}),
    ]
    return "\n".join(lines) + "\n"


def _key(key: dg.AssetKey) -> str:
    return key.to_user_string()


def _check(key: dg.AssetCheckKey) -> str:
    return f"{_key(key.asset_key)}:{key.name}"


def _keys(keys: Iterable[dg.AssetKey]) -> list[str]:
    return sorted(_key(k) for k in keys)


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> str:
    if partitions_def is None:
        return NONE
    kind = type(partitions_def).__name__
    name = getattr(partitions_def, "name", None)
    if isinstance(name, str):
        return f"{kind} {name}"
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return f"{kind} {partitions_def}"  # cadence, start and timezone: all from the code
    return kind  # static keys or dimensions could be long: the type says enough


def _values(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or NONE


def _assets(graph) -> Iterator[str]:
    for node in sorted(graph.asset_nodes, key=lambda n: _key(n.key)):
        subject = f"asset {_key(node.key)}"
        yield f"{subject} group {node.group_name}"
        yield f"{subject} execution {node.execution_type.value}"
        yield f"{subject} partitions {_partitions(node.partitions_def)}"
        yield f"{subject} kinds {_values(node.kinds)}"
        yield f"{subject} owners {_values(node.owners)}"
        yield f"{subject} pools {_values(node.pools or ())}"
        for name, value in sorted(node.tags.items()):
            if not name.startswith("dagster/kind/"):  # already listed as kinds
                yield f"{subject} tag {name}={value}"
        if node.automation_condition is not None:
            condition = node.automation_condition
            yield f"{subject} automation {condition.get_label() or condition.name}"
        mappings = node.partition_mappings
        for parent in sorted(node.parent_keys, key=_key):
            mapping = mappings.get(parent)
            suffix = f" mapping {type(mapping).__name__}" if mapping is not None else ""
            yield f"{subject} upstream {_key(parent)}{suffix}"
        if not node.parent_keys:
            yield f"{subject} upstream {NONE}"


def _checks(graph) -> Iterator[str]:
    for key in sorted(graph.asset_check_keys, key=_check):
        blocking = "blocking" if graph.get_check_spec(key).blocking else "non-blocking"
        yield f"check {_check(key)} {blocking}"


def _jobs(defs: dg.Definitions, graph) -> Iterator[str]:
    # Dagster's implicit "__ASSET_JOB" covers every asset and is hidden in the UI: not ours.
    names = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    for name in names:
        job = defs.resolve_job_def(name)
        subject = f"job {name}"
        yield f"{subject} executor {job.executor_def.name}"
        execution = (job.run_config or {}).get("execution")
        if execution:
            yield f"{subject} execution_config {json.dumps(execution, sort_keys=True)}"
        yield f"{subject} partitions {_partitions(job.partitions_def)}"
        for tag, value in sorted(job.tags.items()):
            yield f"{subject} tag {tag}={value}"
        for tag, value in sorted(job.run_tags.items()):
            if job.tags.get(tag) != value:
                yield f"{subject} run_tag {tag}={value}"
        if job.op_retry_policy is not None:
            yield f"{subject} op_retry_policy max_retries={job.op_retry_policy.max_retries}"
        # What a run of the job materializes and checks, its selection resolved against the graph.
        layer = job.asset_layer
        assets = set().union(*(d.assets_def.keys for d in layer.data))
        checks = set().union(*(d.assets_def.check_keys for d in layer.data))
        for key in _keys(assets) or [NONE]:
            yield f"{subject} asset {key}"
        for key in sorted(_check(k) for k in checks):
            yield f"{subject} check {key}"


def _schedules(schedules: Iterable[dg.ScheduleDefinition]) -> Iterator[str]:
    for schedule in sorted(schedules, key=lambda s: s.name):
        subject = f"schedule {schedule.name}"
        crons = schedule.cron_schedule
        for cron in [crons] if isinstance(crons, str) else sorted(crons):
            yield f"{subject} cron {cron}"
        yield f"{subject} timezone {schedule.execution_timezone or '(default UTC)'}"
        yield f"{subject} job {schedule.job_name}"
        yield f"{subject} default_status {schedule.default_status.value}"
        for tag, value in sorted(schedule.tags.items()):
            yield f"{subject} tag {tag}={value}"


def _sensor_jobs(sensor: dg.SensorDefinition) -> list[str]:
    try:
        return sorted(job.name for job in sensor.jobs)
    except dg.DagsterInvalidDefinitionError:  # no job: an asset-selection or job-less sensor
        return []


def _sensors(sensors: Iterable[dg.SensorDefinition], graph) -> Iterator[str]:
    for sensor in sorted(sensors, key=lambda s: s.name):
        subject = f"sensor {sensor.name}"
        yield f"{subject} type {sensor.sensor_type.value}"
        for job in _sensor_jobs(sensor):
            yield f"{subject} job {job}"
        if sensor.asset_selection is not None:
            for key in _keys(sensor.asset_selection.resolve(graph)):
                yield f"{subject} asset {key}"
        watched = getattr(sensor, "asset_key", None)  # asset sensors
        if isinstance(watched, dg.AssetKey):
            yield f"{subject} watches {_key(watched)}"
        yield f"{subject} minimum_interval_seconds {sensor.minimum_interval_seconds}"
        yield f"{subject} default_status {sensor.default_status.value}"


def _resource_fields(resource: object) -> list[str]:
    model_fields = getattr(type(resource), "model_fields", None)
    if model_fields is not None:  # ConfigurableResource
        return sorted(model_fields)
    schema = getattr(resource, "config_schema", None)  # plain ResourceDefinition
    config_type = schema.as_field().config_type if schema is not None else None
    return sorted(getattr(config_type, "fields", None) or {})


def _resources(resources: dict) -> Iterator[str]:
    for name in sorted(resources):
        resource = resources[name]
        yield f"resource {name} class {type(resource).__name__}"
        for field in _resource_fields(resource):
            yield f"resource {name} field {field}"
