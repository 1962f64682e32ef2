"""Landed webhook events as a raw table of each creator, and the alerts they call for.

The receiver (ofhq_pipeline/realtime) lands every delivery in the landing store; here each
creator's events past its own cursor (the newest landed id its raw batches hold) become one raw
batch, and staging merges them with what the periodic sync read: by transaction id, message id
and fan, so nothing is counted twice. No asset here calls the OnlyFans API.
"""

import json
import time
from collections import Counter
from contextlib import closing

import dagster as dg

from ofhq_pipeline.defs.models import asset_attributes
from ofhq_pipeline.lake import sql_text
from ofhq_pipeline.realtime.alerts import send_alerts
from ofhq_pipeline.resources.alert_rules import AlertRules
from ofhq_pipeline.resources.lake import LakeResource
from ofhq_pipeline.resources.landing import LandingResource
from ofhq_pipeline.resources.sync_settings import SyncSettings
from ofhq_pipeline.resources.telegram import TelegramResource


@dg.asset(**asset_attributes(
    "raw/webhook_events",
    description="The creator's webhook events from the landing store, as received (the "
    "payload, its event type, landing id and own timestamp); a batch per run, read past the "
    "newest landing id already held.",
))
def raw_webhook_events(
    context: dg.AssetExecutionContext, landing: LandingResource, lake: LakeResource
) -> dg.MaterializeResult:
    store = lake.lake()
    creator_id = context.partition_key
    cursor = int(store.raw_max("webhook_events", creator_id, "event_id") or 0)
    with closing(landing.store()) as landed:
        events = landed.events_for(creator_id, cursor)
    payloads = [json.loads(event.body).get("payload") for event in events]
    store.write_raw_batch(
        "webhook_events",
        creator_id,
        payloads,
        fetched_at=[event.received_at for event in events],
        sync_mode="webhook",
        extra={
            "event": [event.event for event in events],
            "event_id": [event.id for event in events],
            "occurred_at": [event.occurred_at for event in events],
        },
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(events),
            "events": dg.MetadataValue.json(dict(Counter(event.event for event in events))),
            "cursor_before": cursor,
            "cursor_after": events[-1].id if events else cursor,
        }
    )


@dg.asset(**{**asset_attributes(
    "realtime/alerts",
    description="Telegram alerts: new subscriber, big tip, new whale, PPV unlocked, chargeback. "
    "Each goes out once, across re-runs and the live hot path (keys in the landing store's "
    "`alerts_sent`): this run sends what the hot path could not; without a bot token they are "
    "logged.",
), "kinds": {"telegram"}})
def alerts(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    landing: LandingResource,
    telegram: TelegramResource,
    alert_rules: AlertRules,
    sync: SyncSettings,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    store = lake.lake()
    creator_id = context.partition_key
    with store.session(creator_id, as_of=sync.resolve_as_of(context), run_id=context.run_id) as con:
        con.execute("SET VARIABLE alert_window_hours = ?", [alert_rules.window_hours])
        con.execute("SET VARIABLE tip_threshold_cents = ?", [alert_rules.tip_threshold_cents])
        candidates = con.execute(sql_text("realtime/alerts")).fetchall()
    with closing(landing.store()) as landed:
        outcome = send_alerts(candidates, creator_id, landed, telegram.send, alert_rules.enabled)
    sent, failed = outcome.sent, outcome.failed
    if failed:
        raise dg.Failure(
            f"{len(failed)} alert(s) could not be sent; they are retried by the next run",
            metadata={"failed": dg.MetadataValue.json(failed[:20])},
        )
    return dg.MaterializeResult(
        metadata={"dagster/row_count": sum(sent.values()),  # alerts sent by this run
                  "sent": dg.MetadataValue.json(dict(sent)), "candidates": len(candidates),
                  "seconds": round(time.perf_counter() - started, 3)}
    )


realtime_assets = [raw_webhook_events, alerts]
