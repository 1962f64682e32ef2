"""The vault, segment and LTV assets in the code location, as definitions.py will have them."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline_tests.vault.harness import full_definitions


def test_the_assets_wire_into_the_existing_graph(tmp_path):
    defs = full_definitions(tmp_path)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()

    def node(*key):
        return graph.get(dg.AssetKey(list(key)))

    assert node("marts", "fan_asset_status").parent_keys >= {
        dg.AssetKey(["staging", "messages"]), dg.AssetKey(["marts", "transactions"])}
    assert node("marts", "fan_recommendations").parent_keys >= {
        dg.AssetKey(["marts", "fan_profile"]), dg.AssetKey(["marts", "fan_preferences"]),
        dg.AssetKey(["marts", "vault_tags"]), dg.AssetKey(["marts", "fan_asset_status"])}
    assert node("segments", "whales_cooling_off").group_name == "segments"
    assert node("marts", "fan_ltv").group_name == "ltv"
    for key in (("marts", "vault_tags"), ("segments", "ready_to_buy"), ("marts", "fan_ltv")):
        assert node(*key).partitions_def.name == "creators"
    # The periodic sync builds them; real-time runs stay short and leave them to it.
    sync_keys = defs.resolve_job_def("creator_sync").asset_layer.executable_asset_keys
    realtime_keys = defs.resolve_job_def("realtime_update").asset_layer.executable_asset_keys
    for key in (["marts", "fan_asset_status"], ["marts", "fan_ltv"], ["marts", "segment_members"]):
        assert dg.AssetKey(key) in sync_keys and dg.AssetKey(key) not in realtime_keys
