"""The whole graph (assets, checks, jobs, schedules, sensors, resources) against a reviewed file.

Any change to the graph shows up as a diff of graph.snapshot.txt in the change that makes it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import dagster as dg

from ofhq_pipeline import definitions as code_location
from ofhq_pipeline.definitions import build_definitions
from ofhq_pipeline_tests.graph_snapshot import graph_snapshot

SNAPSHOT = Path(__file__).with_name("graph.snapshot.txt")
# Read at import: the autouse fixture in conftest.py clears every OFHQ_* variable before a test.
UPDATE = os.environ.get("OFHQ_UPDATE_GRAPH_SNAPSHOT") == "1"
# The segment assets are built, at import, from this file when it is set: not the committed graph.
SEGMENTS_OVERRIDE = os.environ.get("OFHQ_SEGMENTS_PATH")
ACCEPT = "OFHQ_UPDATE_GRAPH_SNAPSHOT=1 .venv/bin/pytest ofhq_pipeline_tests/defs/test_graph_snapshot.py"


def test_the_graph_matches_its_snapshot():
    assert not SEGMENTS_OVERRIDE, (
        f"OFHQ_SEGMENTS_PATH={SEGMENTS_OVERRIDE} replaces segments.yaml's segment assets; "
        "unset it to compare the graph with its snapshot")
    # `defs` of the module workspace.yaml names: the object the code server loads.
    actual = graph_snapshot(code_location.defs)
    if UPDATE:
        SNAPSHOT.write_text(actual)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"{SNAPSHOT.name} (committed)", tofile=f"{SNAPSHOT.name} (definitions)",
        ))
        raise AssertionError(
            f"The graph differs from {SNAPSHOT.name}:\n{diff}\n"
            f"If the change is intended, accept it with:\n  {ACCEPT}\nand commit the file."
        )


def test_the_snapshot_is_deterministic():
    assert graph_snapshot(build_definitions()) == graph_snapshot(build_definitions())


def test_a_changed_group_or_a_dropped_schedule_changes_the_snapshot():
    defs = build_definitions()
    before = graph_snapshot(defs).splitlines()
    key = sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.to_user_string())[0]
    old_group = defs.resolve_asset_graph().get(key).group_name
    moved = defs.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(group_name="moved_elsewhere"),
        selection=dg.AssetSelection.assets(key),
    )
    after = graph_snapshot(moved).splitlines()
    subject = f"asset {key.to_user_string()} group"
    assert f"{subject} {old_group}" in before and f"{subject} {old_group}" not in after
    assert f"{subject} moved_elsewhere" in after

    dropped, *kept = sorted(defs.schedules, key=lambda s: s.name)
    fewer = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                           schedules=kept, sensors=defs.sensors, resources=defs.resources)
    missing = set(before) - set(graph_snapshot(fewer).splitlines())
    assert missing and all(line.startswith(f"schedule {dropped.name} ") for line in missing)
