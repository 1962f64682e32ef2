"""The root of the Dagster code location: every domain's assets, jobs, schedules, resources."""

from __future__ import annotations

import dagster as dg

from ofhq_pipeline.defs.blasts.assets import blast_sends
from ofhq_pipeline.defs.blasts.jobs import segment_blast_job
from ofhq_pipeline.defs.blasts.sensors import blast_outcomes_sensor
from ofhq_pipeline.defs.chatters.assets import chatter_assets
from ofhq_pipeline.defs.intelligence.assets import intelligence_assets
from ofhq_pipeline.defs.intelligence.sensors import build_reclassify_sensor
from ofhq_pipeline.defs.lifecycle.jobs import stage_decay_job
from ofhq_pipeline.defs.lifecycle.schedules import stage_decay_schedule
from ofhq_pipeline.defs.marts.assets import mart_assets
from ofhq_pipeline.defs.realtime.assets import realtime_assets
from ofhq_pipeline.defs.realtime.jobs import realtime_update_job
from ofhq_pipeline.defs.realtime.sensors import webhook_sensor
from ofhq_pipeline.defs.report.assets import (
    report_assets,
    system_report_job,
    system_report_schedule,
)
from ofhq_pipeline.defs.segments.assets import segment_assets
from ofhq_pipeline.defs.source.accounts import creator_accounts
from ofhq_pipeline.defs.source.assets import raw_assets
from ofhq_pipeline.defs.source.jobs import (
    creator_marts_job,
    creator_sync_job,
    discover_creators_job,
)
from ofhq_pipeline.defs.source.schedules import creator_discovery_schedule, periodic_sync_schedule
from ofhq_pipeline.defs.source.sensors import creator_marts_sensor
from ofhq_pipeline.defs.staging.assets import staging_assets
from ofhq_pipeline.defs.vault.assets import vault_assets
from ofhq_pipeline.defs.warehouse.assets import publish_marts
from ofhq_pipeline.resources.alert_rules import AlertRules
from ofhq_pipeline.resources.api import OfapiResource
from ofhq_pipeline.resources.blasts import BlastSettingsResource
from ofhq_pipeline.resources.chatters import ChattersResource
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.locked import env_or
from ofhq_pipeline.resources.marts_postgres import MartsPostgresResource
from ofhq_pipeline.resources.openai_classifier import OpenAIClassifierResource
from ofhq_pipeline.resources.rotation import RotationSettings
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.resources.telegram import TelegramResource
from ofhq_pipeline.resources.vault_tagger import VaultTaggerResource
from ofhq_pipeline.run_start import start_runs_from_forkserver
from ofhq_pipeline.settings import DEFAULT_SIMULATOR_URL, keep_files_private


def resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment; secrets stay `EnvVar`s, resolved only at run time."""
    return {
        "ofapi": OfapiResource(
            base_url=env_or("OFAPI_BASE_URL", DEFAULT_SIMULATOR_URL),
            api_key=env_or("OFAPI_API_KEY"),
        ),
        "lake": LakeResource(
            home=env_or("OFHQ_HOME"),
            warehouse_path=env_or("OFHQ_DUCKDB_PATH"),
            analysts_marts_path=env_or("OFHQ_MARTS_DUCKDB_PATH"),
        ),
        "sync": SyncSettings(as_of=env_or("OFHQ_AS_OF")),
        "rotation": RotationSettings.from_env(),
        "landing": LandingResource(url=env_or("OFHQ_LANDING_URL")),
        "telegram": TelegramResource.from_env(),
        "alert_rules": AlertRules(),
        "blast_settings": BlastSettingsResource(),
        "classifier": OpenAIClassifierResource.from_env(),
        "chatters": ChattersResource.from_env(),
        "vault_tagger": VaultTaggerResource.from_env(),
        "marts_postgres": MartsPostgresResource(
            url=env_or("OFHQ_MARTS_POSTGRES_URL"), role_prefix=env_or("OFHQ_MARTS_ROLE_PREFIX")
        ),
    }


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            creator_accounts,
            *raw_assets,
            *staging_assets,
            *mart_assets,
            publish_marts,
            *realtime_assets,
            *intelligence_assets,
            *vault_assets,
            *segment_assets,
            blast_sends,
            *chatter_assets,
            *report_assets,
        ],
        jobs=[
            discover_creators_job,
            creator_sync_job,
            creator_marts_job,
            realtime_update_job,
            stage_decay_job,
            system_report_job,
            segment_blast_job,
        ],
        schedules=[
            periodic_sync_schedule,
            creator_discovery_schedule,
            stage_decay_schedule,
            system_report_schedule,
        ],
        sensors=[
            webhook_sensor,
            build_reclassify_sensor(realtime_update_job),
            creator_marts_sensor,
            blast_outcomes_sensor,
        ],
        resources=resources(),
    )


keep_files_private()  # every Dagster process that loads this code location
start_runs_from_forkserver()  # in a code server only: runs start warm (run_start.py)
defs = build_definitions()
