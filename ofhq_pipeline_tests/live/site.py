"""A whole live site for the page tests: a published agency of two creators, the signed webhook
receiver, the fake Telegram and `ofhq live serve`'s app, each a real HTTP server on loopback,
on the wall clock (the receiver stamps its own time). Members: an agency member, a CFO and an
employee of the first creator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest

from ofhq_pipeline.live.app import create_app
from ofhq_pipeline.live.auth import AuthSettings
from ofhq_pipeline.live.hot_path import HotPath
from ofhq_pipeline.live.members import MemberStore
from ofhq_pipeline.live.state import LiveState
from ofhq_pipeline.realtime.landing import LandingStore
from ofhq_pipeline.realtime.receiver import create_receiver_app
from ofhq_pipeline.resources.alert_rules import ALERT_RULES
from ofhq_pipeline.resources.telegram import TelegramResource
from ofhq_pipeline.settings import Paths
from ofhq_pipeline_tests.realtime.conftest import CURRENT, signed_headers
from ofhq_pipeline_tests.servers import FakeTelegram, serve_app

CREATOR_A, CREATOR_B = "acct_live_a", "acct_live_b"
PASSWORD = "correct horse battery staple"
MEMBERS = {"ann": ("agency", ()), "carl": ("cfo", ()), "eve": ("employee", (CREATOR_A,))}
SECRET = "live-session-secret-0123456789abcdef"


@dataclass
class Site:
    url: str  # the live page
    receiver: str
    telegram: FakeTelegram
    hot_path: HotPath
    landing_url: str
    posted: int = 0

    def purchase(self, creator_id: str, fan_id: int, dollars: float, name: str) -> str:
        """POST a signed `transactions.new` to the receiver; the transaction id."""
        self.posted += 1
        tx_id = f"live_tx_{self.posted}_{int(time.time() * 1000)}"
        payload = {"id": tx_id, "amount": dollars, "net_amount": round(dollars * 0.8, 2),
                   "fee_amount": round(dollars * 0.2, 2), "currency": "USD", "type": "message",
                   "status": "done", "created_at": datetime.now(UTC).isoformat(),
                   "description": "Payment for message",
                   "fan": {"id": fan_id, "username": f"u{fan_id}", "name": name}}
        body = json.dumps({"event": "transactions.new", "account_id": creator_id,
                           "payload": payload}).encode()
        response = httpx.post(f"{self.receiver}/webhooks/ofapi", content=body,
                              headers=signed_headers(body, key=f"key-{tx_id}"))
        assert response.status_code == 200, response.text
        return tx_id


def sign_in(client: httpx.Client, member: str, password: str = PASSWORD) -> httpx.Response:
    import re

    page = client.get("/login", headers={"Accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"member": member, "password": password, "csrf": token},
                       headers={"Accept": "text/html"})


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout  # bounds a hang only
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def live_site(home: Path, *, cookie_secure: bool = True) -> Iterator[Site]:
    """httpx keeps `Secure` cookies from plain http; browsers do, on loopback."""
    from ofhq_pipeline.definitions import build_definitions

    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        telegram = FakeTelegram()
        telegram_url = stack.enter_context(serve_app(telegram.app()))
        for name, value in {"OFHQ_HOME": str(home),
                            "OFAPI_BASE_URL": "http://127.0.0.1:9", "OFAPI_API_KEY": "k" * 20,
                            "TELEGRAM_BOT_TOKEN": "123:test-token", "TELEGRAM_CHAT_ID": "-1",
                            "TELEGRAM_API_BASE_URL": telegram_url}.items():
            env.setenv(name, value)
        landing_url = f"sqlite:///{home / 'landing.db'}"
        store = stack.enter_context(LandingStore(landing_url))
        receiver = stack.enter_context(serve_app(create_receiver_app(store, [CURRENT])))
        site = Site("", receiver, telegram, None, landing_url)  # type: ignore[arg-type]
        # Published history: a purchase of each creator an hour ago.
        site.purchase(CREATOR_A, 101, 40, "Alice")
        site.purchase(CREATOR_B, 201, 60, "Bob")
        defs = build_definitions()
        instance = stack.enter_context(dg.instance_for_test())
        instance.add_dynamic_partitions("creators", [CREATOR_A, CREATOR_B])
        job = defs.resolve_job_def("realtime_update")
        for creator_id in (CREATOR_A, CREATOR_B):
            assert job.execute_in_process(instance=instance, partition_key=creator_id).success
        members = MemberStore(landing_url)
        for member, (role, creators) in MEMBERS.items():
            members.grant(member, role, creators)
            members.set_password(member, PASSWORD)
        state = LiveState(Paths.from_env().analysts_marts)
        # In code, not from the environment: each test's own fixtures clear TELEGRAM_*.
        sender = TelegramResource(bot_token="123:test-token", chat_id="-1",
                                  api_base_url=telegram_url, max_backoff_s=0.05)
        site.hot_path = HotPath(state, store, sender.send, list(ALERT_RULES))
        app = create_app(site.hot_path, analysts_file=Paths.from_env().analysts_marts,
                         auth=AuthSettings(secret=SECRET, cookie_secure=cookie_secure), members=members)
        site.url = stack.enter_context(serve_app(app))
        yield site
