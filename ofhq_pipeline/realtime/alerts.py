"""Sending the alerts `sql/realtime/alerts.sql` calls for, each exactly once.

Two paths evaluate the same rules: the live hot path (`ofhq live serve`), the moment an event
lands, and the real-time Dagster run, which sends whatever the hot path could not (it was down,
or Telegram refused). Whoever comes first claims the alert's key in the landing store's
`alerts_sent` and sends it; the other finds the key claimed and sends nothing. A send that fails
gives its key back, so the next evaluation retries it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ofhq_pipeline.realtime.landing import LandingStore

# (rule, alert_key, fan_id, message): one row of sql/realtime/alerts.sql.
Candidate = tuple[str, str, int | None, str]


@dataclass
class AlertOutcome:
    sent: Counter[str] = field(default_factory=Counter)  # per rule, sent by this evaluation
    failed: list[str] = field(default_factory=list)  # "key: reason", given back for a retry


def alert_text(creator_id: str, message: str) -> str:
    """What the chat reads: the creator, then the rule's message."""
    return f"[{creator_id}] {message}"


def send_alerts(
    candidates: Iterable[Candidate],
    creator_id: str,
    landed: LandingStore,
    send: Callable[[str], str],
    enabled: Iterable[str],
) -> AlertOutcome:
    """Claim and send every enabled candidate not claimed before; `send` returns the channel."""
    outcome = AlertOutcome()
    enabled = set(enabled)
    candidates = [c for c in candidates if c[0] in enabled]
    if not candidates:
        return outcome
    already = landed.alert_keys(creator_id)
    for rule, key, fan_id, message in candidates:
        if key in already or not landed.claim_alert(key, rule, creator_id, fan_id):
            continue  # sent before, or another path claimed it meanwhile
        try:
            channel = send(alert_text(creator_id, message))
        except Exception as exc:  # give the key back: the next evaluation retries it
            landed.release_alert(key)
            outcome.failed.append(f"{key}: {exc}")
            continue
        landed.set_alert_channel(key, channel)
        outcome.sent[rule] += 1
    return outcome
