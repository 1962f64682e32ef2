"""The vault, segment and LTV assets in the code location, as definitions.py will have them."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline_tests.vault.harness import full_definitions


def test_the_assets_wire_into_the_existing_graph(tmp_path):
    defs = full_definitions(tmp_path)
    # Deps, groups, partitions and job membership: graph.snapshot.txt (defs/test_graph_snapshot.py).
    dg.Definitions.validate_loadable(defs)
