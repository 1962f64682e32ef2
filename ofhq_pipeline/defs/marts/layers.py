"""Which models share a step: every SQL model of the registry past staging, and the Python-built
models folded in (plain functions of the lake, with the step's resources), grouped by how many
Python steps of their own come before them.

A step costs Dagster bookkeeping whatever it does, so models share as few steps as the graph
allows. Models may share a step only when no Python step of their own lies downstream of one
and upstream of another: the step would have to run both before and after it. Grouping by
level, the most such Python steps on any path from staging to a model, guarantees it: whatever
lies downstream of a level-n model through a Python step is at least level n + 1.

    level 0  computed from staging alone: the money marts, engagement and stage, the lifecycle
             log, the vault's status and media
    level 1  after the classifier and the vault tagger: the personality view, fan_profile,
             creators, the recommendations, lifetime value
"""

import functools
from collections.abc import Mapping

import dagster as dg

from ofhq_pipeline import registry
from ofhq_pipeline.defs.models import ModelOptions, layer_step

STEP_NAMES = ("models_from_staging", "models_after_classifier")
# Built before every layer step, by steps of their own (the API, the landing store, staging).
UPSTREAM_LAYERS = ("raw", "staging")


def step_name(level: int) -> str:
    return STEP_NAMES[level] if level < len(STEP_NAMES) else f"models_after_python_steps_{level}"


def sql_models() -> list[str]:
    """Every model a layer step builds by its SQL alone unless given options."""
    return [m.key for m in registry.MODELS if m.is_sql and m.layer not in UPSTREAM_LAYERS]


def levels(built: Mapping[str, ModelOptions]) -> dict[str, int]:
    """The level of each model of `built`: the most Python steps (not in `built`) on any path
    from staging to it."""

    @functools.cache
    def through(key: str) -> int:
        """The Python steps on the longest path from staging up to `key`, its own builder
        included when that is one."""
        model = registry.model(key)
        if model.layer in UPSTREAM_LAYERS:
            return 0
        if key in built:
            return max((through(i) for i in model.inputs), default=0)
        # A Python step runs after every input of every table it writes.
        tables = registry.models(built_by=model.built_by)
        own = {t.key for t in tables}
        return 1 + max((through(i) for t in tables for i in t.inputs if i not in own), default=0)

    return {key: max((through(i) for i in registry.model(key).inputs), default=0)
            for key in built}


def python_steps_before(models: Mapping[str, ModelOptions],
                        built: Mapping[str, ModelOptions]) -> list[str]:
    """The Python steps of their own (not in a layer step) whose tables `models` read."""
    return sorted({
        registry.model(i).built_by for key in models for i in registry.model(key).inputs
        if i not in built and registry.model(i).layer not in UPSTREAM_LAYERS
    })


def layer_steps(options: Mapping[str, ModelOptions]) -> list[dg.AssetsDefinition]:
    """The layer steps building every SQL model past staging (its options from `options`, else
    by its SQL) and the Python-built models `options` folds in, one step per level."""
    built = {key: ModelOptions() for key in sql_models()} | dict(options)
    by_level: dict[int, dict[str, ModelOptions]] = {}
    for key, level in levels(built).items():
        by_level.setdefault(level, {})[key] = built[key]
    steps = []
    for level, models in sorted(by_level.items()):
        before = python_steps_before(models, built)
        reads = f"after {' and '.join(before)}" if before else "from staging alone"
        steps.append(layer_step(step_name(level), models, description=(
            f"Builds, {reads}, in one session of the creator's and in build order: "
            f"{', '.join(m.key for m in registry.in_build_order(models))}.")))
    return steps
