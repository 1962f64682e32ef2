"""The layer steps: a sync builds every model it always did in a handful of Dagster steps, a run
that selects some models builds only those, and when staging yields nothing (nothing new for the
creator) every step downstream is skipped and no mart is written."""

import json
from datetime import timedelta

import dagster as dg

from ofhq_pipeline import registry
from ofhq_pipeline.defs.marts.assets import mart_assets
from ofhq_pipeline.defs.marts.layers import STEP_NAMES
from ofhq_pipeline.defs.models import spec
from ofhq_pipeline.defs.partitions import creator_partitions
from ofhq_pipeline.defs.realtime.jobs import realtime_update_job
from ofhq_pipeline.defs.source.jobs import BATCH_PATH, creator_marts_job, creator_sync_job
from ofhq_pipeline.realtime.landing import LandingStore, landing_url_from_env
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.segments.spec import load_segments, segments_path
from ofhq_pipeline.sync import sync
from ofhq_pipeline_tests.builders import CREATOR, build, day, fan, make_lake, txn, write_sync
from ofhq_pipeline_tests.conftest import API_KEY, point_at
from ofhq_pipeline_tests.location import definitions_at

AS_OF = day(40)
STAGING = [m.key for m in registry.models(layer="staging")]
# What a layer step builds: every SQL model past staging.
LAYER_MODELS = {m.key for m in registry.MODELS if m.is_sql and m.layer != "staging"}
# The steps that stay apart because they call out or read a shared file: the classifier, the
# vault tagger, the chatter KPIs (the shift file), the chat QA, publishing and the alerts.
PYTHON_STEPS = 6
# Every sync and real-time run below is pinned here, as the scheduled ones are to their start.
PINNED = {"sync": SyncSettings(as_of=AS_OF.isoformat())}


def event_records(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType):
    return instance.get_records_for_run(run_id, of_type=event_type).records


def steps(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> set[str]:
    return {r.event_log_entry.step_key for r in event_records(instance, run_id, event_type)}


def built_by(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Each asset the run materialized, with the step that did."""
    return {r.event_log_entry.dagster_event.asset_key.to_user_string(): r.event_log_entry.step_key
            for r in event_records(instance, run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)}


def keys(selection: dg.AssetSelection, defs: dg.Definitions) -> set[str]:
    return {k.to_user_string() for k in selection.resolve(defs.resolve_asset_graph())}


def write_purchases(lake) -> None:
    """Two fans, three purchases: enough for every mart to have rows."""
    write_sync(lake, fetched_at=day(30), fans=[fan(1), fan(2, subscribe_at=day(3))],
               transactions=[txn("t1", 1, 10.0, day(2)), txn("t2", 1, 25.0, day(9), kind="tip"),
                             txn("t3", 2, 5.0, day(12))])


# ---- a whole sync ----------------------------------------------------------------------------
def test_a_sync_builds_its_whole_selection_in_a_handful_of_steps(monkeypatch, tmp_path, instance):
    from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency

    agency = generate_agency(seed=3, n_creators=1, n_fans=25, n_transactions=120, n_messages=150)
    with SimulatorServer(agency, api_key=API_KEY) as server:
        defs = point_at(monkeypatch, server.url, tmp_path / "home", as_of=agency.end.isoformat())
        (run,) = sync(defs, instance)
    assert run.success, run.error
    assert run.marts_run_id is not None  # a first sync stages everything: its marts run follows

    # The sync run: raw and staging; its marts run: everything past staging.
    assert set(built_by(instance, run.run_id)) == keys(creator_sync_job.selection, defs)
    assert set(built_by(instance, run.marts_run_id)) == keys(creator_marts_job.selection, defs)
    by_step = {key: step for run_id in run.run_ids for key, step in
               built_by(instance, run_id).items()}
    assert set(by_step) == keys(BATCH_PATH, defs)  # every asset a sync always built
    # All SQL models: three steps (from staging; after the classifier; the blasts' results,
    # which read the ledger the blast step writes).
    layer_steps = {step.node_def.name for step in mart_assets}
    assert {by_step[k] for k in LAYER_MODELS} == layer_steps
    assert len(layer_steps) == 3 and set(STEP_NAMES) < layer_steps
    # Past staging: the two layer steps, the Python steps, a step per segment and their union.
    segments = len(load_segments(segments_path())) + 1
    later = {step for key, step in by_step.items()
             if key.split("/", 1)[0] not in ("raw", "staging")}
    assert len(later) <= len(layer_steps) + PYTHON_STEPS + segments
    assert set().union(*(steps(instance, run_id, dg.DagsterEventType.STEP_SUCCESS)
                         for run_id in run.run_ids)) == set(by_step.values())
    # Every model reports the seconds its own work took, so a run's time splits into work and
    # bookkeeping (bench/sync_steps.py).
    assert all(run.metadata[k]["seconds"] >= 0 for k in LAYER_MODELS)


# ---- subsets ---------------------------------------------------------------------------------
def test_one_mart_alone_builds_that_mart_and_its_checks_only(tmp_path, instance):
    home = tmp_path / "home"
    lake = make_lake(home)
    write_purchases(lake)
    build(lake, AS_OF, run_id="earlier")  # what a previous run built and published
    lake.commit_marts(CREATOR, "earlier")
    instance.add_dynamic_partitions("creators", [CREATOR])
    defs = definitions_at(home, **PINNED)
    daily = dg.AssetKey(["marts", "creator_revenue_daily"])

    result = dg.materialize(list(defs.assets), selection=dg.AssetSelection.assets(daily),
                            partition_key=CREATOR, instance=instance, resources=defs.resources)

    assert built_by(instance, result.run_id) == {"marts/creator_revenue_daily": STEP_NAMES[0]}
    checks = {(e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {(daily, "unique_key"): True, (daily, "cents_non_negative"): True,
                      (daily, "matches_transactions"): True}
    run_dir = lake.creator_marts_dir(CREATOR) / result.run_id
    assert sorted(p.name for p in run_dir.iterdir()) == ["creator_revenue_daily.parquet"]
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 3  # three purchase days


def test_a_models_run_config_is_its_section_of_the_steps(tmp_path, instance):
    home = tmp_path / "home"
    lake = make_lake(home)
    write_purchases(lake)
    build(lake, AS_OF, run_id="earlier")
    lake.commit_marts(CREATOR, "earlier")
    instance.add_dynamic_partitions("creators", [CREATOR])
    defs = definitions_at(home, **PINNED)
    section = {"fan_recommendations": {"top_k": 2, "exclude_offered_days": 7}}

    result = dg.materialize(
        list(defs.assets), selection=dg.AssetSelection.assets(["marts", "fan_recommendations"]),
        partition_key=CREATOR, instance=instance, resources=defs.resources,
        run_config={"ops": {STEP_NAMES[1]: {"config": section}}})

    (event,) = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (metadata["top_k"], metadata["exclude_offered_days"]) == (2, 7)


def test_a_realtime_run_builds_its_selection_only(monkeypatch, tmp_path, instance):
    home = tmp_path / "home"
    defs = point_at(monkeypatch, "http://127.0.0.1:9", home, as_of=AS_OF.isoformat())
    write_purchases(make_lake(home))
    tip = {"id": "tr_live", "amount": 9.0, "net_amount": 7.2, "fee_amount": 1.8, "type": "tip",
           "status": "done", "created_at": (AS_OF - timedelta(hours=1)).isoformat(),
           "fan": {"id": 1}}
    with LandingStore(landing_url_from_env()) as landed:
        landed.land(idempotency_key="evt_1", event="transactions.new", account_id=CREATOR,
                    body=json.dumps({"event": "transactions.new", "account_id": CREATOR,
                                     "payload": tip}),
                    occurred_at=AS_OF - timedelta(hours=1), received_at=AS_OF)
    instance.add_dynamic_partitions("creators", [CREATOR])

    result = defs.resolve_job_def("realtime_update").execute_in_process(
        instance=instance, partition_key=CREATOR)

    selected = keys(realtime_update_job.selection, defs)
    by_step = built_by(instance, result.run_id)
    assert set(by_step) == selected
    assert {by_step[k] for k in LAYER_MODELS & selected} == set(STEP_NAMES)
    # The vault, lifetime value and chatter marts are the periodic sync's: not written here.
    lake = make_lake(home)
    written = {p.stem for p in (lake.creator_marts_dir(CREATOR) / result.run_id).iterdir()}
    in_run_folder = {m.table for m in registry.MODELS if m.key in selected
                     and m.layer == "marts" and m.built_by != "publish_marts"}
    assert written == in_run_folder
    assert not written & {"fan_asset_status", "vault_media", "fan_recommendations", "fan_ltv"}


# ---- nothing new -----------------------------------------------------------------------------
def stand_in_staging(changed: bool) -> dg.AssetsDefinition:
    """Staging as the graph sees it: every table when the creator's raw changed, none at all
    when nothing did."""

    @dg.multi_asset(specs=[spec(key, skippable=True) for key in STAGING], can_subset=True,
                    partitions_def=creator_partitions, name="staging_tables")
    def staging(context: dg.AssetExecutionContext, lake: LakeResource):
        if not changed:
            return
        from ofhq_pipeline_tests.builders import stage

        stage(lake.lake(), context.partition_key)
        for key in sorted(context.selected_asset_keys, key=lambda k: k.path):
            yield dg.MaterializeResult(asset_key=key)

    return staging


# Everything below raw (the API) and beside the report (the agency's, not the creator's) and the
# blasts' sending (a job of its own).
BELOW_RAW = dg.AssetSelection.all() - dg.AssetSelection.groups("raw", "report", "blasts")


def run_below_staging(tmp_path, instance, *, changed: bool):
    home = tmp_path / "home"
    lake = make_lake(home)
    write_purchases(lake)
    instance.add_dynamic_partitions("creators", [CREATOR])
    defs = definitions_at(home, assets=[stand_in_staging(changed)], **PINNED)
    result = dg.materialize(list(defs.assets), selection=BELOW_RAW, partition_key=CREATOR,
                            instance=instance, resources=defs.resources)
    nodes = {node.name for node in result.job_def.graph.node_defs}
    return lake, result, nodes


def test_when_staging_yields_nothing_every_step_downstream_is_skipped(tmp_path, instance):
    lake, result, nodes = run_below_staging(tmp_path, instance, changed=False)

    assert result.success
    assert steps(instance, result.run_id, dg.DagsterEventType.STEP_SUCCESS) == {"staging_tables"}
    assert steps(instance, result.run_id, dg.DagsterEventType.STEP_SKIPPED) == \
        nodes - {"staging_tables"}
    assert set(STEP_NAMES) <= nodes
    assert result.get_asset_materialization_events() == []
    assert not lake.creator_marts_dir(CREATOR).exists()  # no mart file, no manifest
    assert not (lake.root / "intermediate").exists()
    assert not lake.paths.analysts_marts.exists()


def test_when_staging_yields_its_tables_the_same_selection_builds_everything(tmp_path, instance):
    lake, result, nodes = run_below_staging(tmp_path, instance, changed=True)

    assert steps(instance, result.run_id, dg.DagsterEventType.STEP_SUCCESS) == nodes
    by_step = built_by(instance, result.run_id)
    assert {by_step[k] for k in LAYER_MODELS} == {step.node_def.name for step in mart_assets}
    manifest = lake.read_manifest(CREATOR)
    assert {"fan_profile", "transactions", "fan_ltv"} <= set(manifest)
    assert lake.paths.analysts_marts.exists()


def test_real_time_runs_come_first_in_the_queue():
    """Dagster's queue starts runs by their `dagster/priority` tag (default 0): a real-time run
    outranks every other job's runs, so a purchase never waits behind a batch sync."""
    from ofhq_pipeline.definitions import build_definitions

    def priority(job) -> int:
        return int((job.tags or {}).get("dagster/priority", 0))

    jobs = [job for job in build_definitions().resolve_all_job_defs()
            if not job.name.startswith("__")]
    realtime = next(job for job in jobs if job.name == realtime_update_job.name)
    assert all(priority(job) < priority(realtime) for job in jobs if job is not realtime)
