"""The synthetic agency and the API simulator, checked over real HTTP on loopback."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import polars as pl
import pytest

from ofhq_pipeline.source.simulator import SimulatorServer, generate_agency
from ofhq_pipeline.source.simulator import templates as tpl
from ofhq_pipeline.source.simulator.server import CHARGEBACK_SPELLINGS, description_type

KEY = "simulator-test-key"
SUCCEEDED = ["done", "succeeded", "completed"]
TYPES = ["tip", "message", "post", "stream", "other", "subscription"]  # description_type's codes
LINK = '<a href="https://onlyfans.com/u48213377">Mark</a>'

# Descriptions and the type the contract gives each, by hand: starts with "Tip from" -> tip;
# contains "Payment for message" -> message, "subscription" -> subscription, "Payment for post"
# -> post, "stream" -> stream (in that order); else other. Case-insensitive, HTML stripped.
DESCRIPTIONS = [
    (f"Tip from {LINK}", "tip"),
    ("tip from <b>mark</b>", "tip"),
    ("<span>Tip from</span> Mark", "tip"),
    ("Tip from Mark for the subscription", "tip"),
    ("A tip from Mark", "other"),
    (f"Stream tip from {LINK}", "stream"),
    (f"Payment for message from {LINK}", "message"),
    (f"Payment for message from {LINK} (custom video)", "message"),
    ("PAYMENT FOR MESSAGE from Mark", "message"),
    ("Payment for <i>message</i> from Mark", "message"),
    (f"Subscription from {LINK}", "subscription"),
    (f"Recurring subscription from {LINK}", "subscription"),
    (f"Payment for post from {LINK}", "post"),
    (f"Payment for stream from {LINK}", "stream"),
    ("Payment for message from StreamQueen", "message"),  # message comes before stream
    ("Stream subscription from Mark", "subscription"),  # subscription comes before stream
    ("Payment for post from Mark (stream highlights)", "post"),  # post comes before stream
    ("Payment for post from Mark (subscription bonus)", "subscription"),  # and after subscription
    (f"Payment for bundle from {LINK}", "other"),
    ('Payment for bundle from <a href="https://onlyfans.com/livestreamfan">Mark</a>', "other"),
    (f"Referral payout from {LINK}", "other"),
    ("", "other"),
]


def contract_type(description: pl.Expr) -> pl.Expr:
    """The contract's type of a transaction from its description, as the contract states it."""
    text = description.str.replace_all(r"<[^>]*>", "").str.to_lowercase()
    return (
        pl.when(text.str.starts_with("tip from")).then(pl.lit("tip"))
        .when(text.str.contains("payment for message", literal=True)).then(pl.lit("message"))
        .when(text.str.contains("subscription", literal=True)).then(pl.lit("subscription"))
        .when(text.str.contains("payment for post", literal=True)).then(pl.lit("post"))
        .when(text.str.contains("stream", literal=True)).then(pl.lit("stream"))
        .otherwise(pl.lit("other"))
    )


def typed(transactions: pl.DataFrame) -> pl.DataFrame:
    """Transactions with the contract's type, derived from the description."""
    return transactions.with_columns(type=contract_type(pl.col("description")))


def purchases(agency, at: datetime | None = None) -> pl.DataFrame:
    """Succeeded, positive, not charged back by `at` (the fan profile's definition)."""
    at = at or agency.end
    return agency.transactions.filter(
        pl.col("status").is_in(SUCCEEDED) & (pl.col("amount") > 0) & (pl.col("created_at") <= at)
        & (pl.col("chargeback_at").is_null() | (pl.col("chargeback_at") > at))
    )


class Api:
    """A tiny client of the contract, counting short pages (fewer items than asked, more to come)."""

    def __init__(self, url: str, key: str | None = KEY) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=10)
        self.short_pages = 0

    def get(self, path: str, **params) -> dict:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def _note(self, data: dict, limit: int) -> None:
        self.short_pages += data["hasMore"] and len(data["list"]) < limit

    def fans(self, account: str) -> list[dict]:
        items, url = [], f"/api/{account}/fans/all?limit=20&offset=0"
        while url:  # follow _pagination.next_page, a full URL
            body = self.http.get(url).json()
            items += body["data"]["list"]
            self._note(body["data"], 20)
            url = body["_pagination"]["next_page"]
            assert (url is None) == (not body["data"]["hasMore"])
        return items

    def offset_pages(self, path: str, limit: int = 100, **params) -> list[dict]:
        items, offset = [], 0
        while True:
            data = self.get(path, limit=limit, offset=offset, **params)["data"]
            items += data["list"]
            self._note(data, limit)
            if not data["hasMore"]:
                return items
            offset += len(data["list"])

    def transactions(self, account: str, start: str) -> list[dict]:
        items, marker = [], None
        while True:
            params = {"limit": 100, "startDate": start} | ({"marker": marker} if marker else {})
            data = self.get(f"/api/{account}/transactions", **params)["data"]
            items += data["list"]
            self._note(data, 100)
            if not data["hasMore"]:
                return items
            marker = data["nextMarker"]

    def messages(self, account: str, fan_id: int) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"limit": 100, "order": "desc"} | ({"id": cursor} if cursor else {})
            data = self.get(f"/api/{account}/chats/{fan_id}/messages", **params)["data"]
            items += data["list"]
            self._note(data, 100)
            if not data["hasMore"]:
                return items
            cursor = min(m["id"] for m in data["list"])


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(("description", "expected"), DESCRIPTIONS)
def test_a_description_gives_the_contracts_type(description, expected):
    assert TYPES[description_type(description)] == expected  # the simulator's fan totals
    assert pl.select(contract_type(pl.lit(description))).item() == expected  # these tests'


# ---------------------------------------------------------------------------------------------
# The generator


def test_same_seed_gives_the_same_agency_and_another_seed_another():
    first, again, other = (generate_agency(seed=s, scale=0.2) for s in (3, 3, 4))
    for name in ("accounts", "fans", "transactions", "chargebacks", "messages", "vault_media"):
        assert getattr(first, name).equals(getattr(again, name)), name
    assert not first.transactions.equals(other.transactions)
    assert not first.messages.equals(other.messages)


def test_scale_one_is_a_small_agency(agency):
    assert agency.accounts.height == 9
    assert 3_000 <= agency.fans.height <= 4_000
    assert 2_000 <= agency.transactions.height <= 2_600
    assert 20_000 <= agency.messages.height <= 30_000
    per_creator = agency.vault_media.group_by("creator_id").len()["len"]
    assert per_creator.len() == 9 and per_creator.min() >= 35 and per_creator.max() <= 70
    # About 18 months of history, none of it after `end`.
    for frame in (agency.transactions, agency.messages):
        assert frame["created_at"].max() <= agency.end
        assert frame["created_at"].min() >= agency.end - timedelta(days=550)


def test_overrides_set_the_totals_and_generation_stays_vectorized():
    agency = generate_agency(seed=5, n_creators=3, n_fans=30_000, n_transactions=300_000,
                             n_messages=90_000)
    assert agency.accounts.height == 3
    assert agency.fans.height == 30_000
    assert abs(agency.transactions.height - 300_000) <= 3_000
    assert abs(agency.messages.height - 90_000) <= 900
    assert agency.transactions["id"].n_unique() == agency.transactions.height
    assert agency.messages["id"].n_unique() == agency.messages.height
    assert agency.fans.select("creator_id", "id").n_unique() == agency.fans.height


def test_fans_buy_rarely_and_spend_is_heavy_tailed(agency):
    spend = purchases(agency).group_by("creator_id", "fan_id").agg(pl.col("amount").sum())
    non_buyers = 1 - spend.height / agency.fans.height
    assert 0.6 <= non_buyers <= 0.7
    assert spend["amount"].max() > 1_000  # at least one whale
    top = spend["amount"].sort(descending=True)
    assert top.head(max(1, top.len() // 100)).sum() > 0.1 * top.sum()  # the top 1% hold >10%
    assert spend["amount"].median() < 50


def test_every_purchase_belongs_to_a_subscribed_fan(agency):
    fans = agency.fans.select(
        "creator_id", pl.col("id").alias("fan_id"), "expired_at",
        pl.col("subscribes").list.first().struct.field("date").alias("first"),
    )
    joined = agency.transactions.join(fans, on=["creator_id", "fan_id"], how="left")
    assert joined["first"].null_count() == 0
    assert joined.filter((pl.col("created_at") < pl.col("first"))
                         | (pl.col("created_at") > pl.col("expired_at"))).height == 0
    # Paid periods are paid for: one subscription transaction per period with a price.
    periods = agency.fans.select("creator_id", pl.col("id").alias("fan_id"), "subscribes").explode("subscribes")
    periods = periods.unnest("subscribes")
    paid = periods.filter(pl.col("price") > 0)
    subscriptions = typed(agency.transactions).filter(pl.col("type") == "subscription")
    assert paid.height == subscriptions.height > 0
    assert periods.filter((pl.col("type") == "trial") & (pl.col("price") == 0)).height > 0
    assert paid.filter(pl.col("price") < pl.col("regularPrice")).height > 0  # discounts
    expired = agency.fans.filter(pl.col("expired_at") <= agency.end).height
    assert 0 < expired < agency.fans.height


def test_descriptions_statuses_and_variants_are_the_apis(agency):
    tx = typed(agency.transactions)
    assert set(tx["type"]) == set(TYPES)
    customs = tx.filter(pl.col("description").str.to_lowercase().str.contains("custom"))
    assert customs.height > 0 and set(customs["type"]) <= {"message", "tip"}
    assert tx["description"].str.contains('<a href="https://onlyfans.com/').all()
    statuses = set(tx["status"])
    assert {"done", "succeeded", "completed"} <= statuses
    assert statuses & {"pending", "loading"} and statuses & {"refund", "refunded"}
    variants = tx["variant"].value_counts().sort("count", descending=True)["variant"].to_list()
    assert variants[0] == 0 and set(variants) == {0, 1, 2, 3}
    assert (tx["net"] + tx["fee"] - tx["amount"]).abs().max() < 0.005
    assert ((tx["net"] / tx["amount"]).filter(tx["amount"] > 5) - 0.8).abs().max() < 0.01


def test_chargebacks_come_later_and_some_are_hidden(agency):
    charged = agency.transactions.filter(pl.col("chargeback_at").is_not_null())
    assert charged.height == agency.chargebacks.height > 0
    assert (charged["chargeback_at"] > charged["created_at"]).all()
    assert charged["status"].is_in(SUCCEEDED).all()
    assert 0 < charged["chargeback_hidden"].sum() < charged.height
    joined = agency.chargebacks.join(charged.rename({"id": "transaction_id"}), on=["creator_id", "transaction_id"])
    assert joined.height == agency.chargebacks.height
    assert (joined["created_at"] == joined["chargeback_at"]).all()


def test_chats_have_offers_mass_sends_and_a_long_tail(agency):
    msgs = agency.messages
    creators = agency.accounts.select(pl.col("id").alias("creator_id"), "user_id")
    msgs = msgs.join(creators, on="creator_id")
    # Both sides speak: the fan (its own id) and the creator (the account's user id).
    sides = (msgs["from_user_id"] == msgs["fan_id"]).value_counts()
    assert sides.height == 2
    assert ((msgs["from_user_id"] == msgs["fan_id"]) | (msgs["from_user_id"] == msgs["user_id"])).all()
    assert msgs.sort("id")["created_at"].is_sorted()  # ids grow with time
    lengths = msgs.group_by("creator_id", "fan_id").len()["len"]
    assert lengths.min() <= 2 and lengths.median() <= 12 and lengths.max() >= 200
    assert lengths.len() < agency.fans.height  # only some fans have a chat
    # Mass sends: one queue id, one instant, many fans.
    mass = msgs.filter(pl.col("queue_id").is_not_null()).group_by("queue_id").agg(
        pl.len(), pl.col("created_at").n_unique().alias("instants"), pl.col("from_user_id").n_unique().alias("senders"))
    assert mass.height > 0 and mass["len"].max() >= 10
    assert (mass["instants"] == 1).all() and (mass["senders"] == 1).all()
    # Every PPV unlock follows an offer at that price to that fan, at most two days before.
    offers = msgs.filter((pl.col("price") > 0) & (pl.col("from_user_id") == pl.col("user_id"))).select(
        "creator_id", "fan_id", pl.col("created_at").alias("offered_at"), pl.col("price").alias("amount"))
    unlocks = typed(agency.transactions).filter(pl.col("type") == "message")
    matched = unlocks.join(offers, on=["creator_id", "fan_id", "amount"]).filter(
        (pl.col("offered_at") <= pl.col("created_at"))
        & (pl.col("offered_at") >= pl.col("created_at") - pl.duration(days=2)))
    assert unlocks.height > 0 and matched["id"].n_unique() == unlocks.height
    # Offered media are the creator's own vault items.
    media = msgs.select("creator_id", "media").explode("media").drop_nulls().unnest("media")
    known = media.join(agency.vault_media.select("creator_id", "id", "type"), on=["creator_id", "id", "type"])
    assert media.height > 0 and known.height == media.height
    assert msgs["is_tip"].any()


def test_fans_chat_at_their_own_hours(agency):
    own = agency.messages.filter(pl.col("from_user_id") == pl.col("fan_id"))
    hours = own.group_by("creator_id", "fan_id", pl.col("created_at").dt.hour()).len()
    concentration = hours.group_by("creator_id", "fan_id").agg(
        (pl.col("len").max() / pl.col("len").sum()).alias("top"), pl.col("len").sum().alias("n"))
    talkative = concentration.filter(pl.col("n") >= 20)
    assert talkative.height > 10
    assert talkative["top"].mean() > 0.2  # uniform over 24 hours would be about 0.1


def test_templates_carry_signals_and_facts(agency):
    texts = {t.text for t in tpl.FAN_TEMPLATES}
    assert len(texts) == len(tpl.FAN_TEMPLATES) >= 300
    signals = {s for t in tpl.FAN_TEMPLATES for s in t.signals}
    assert signals == set(tpl.SIGNALS)
    facts = {t.fact[0] for t in tpl.FAN_TEMPLATES if t.fact}
    assert facts == set(tpl.FACT_CATEGORIES)
    assert all(t.fact[1] in t.text for t in tpl.FAN_TEMPLATES if t.fact)
    # The chats use them: facts, customs, HTML and contact details a classifier must redact.
    chat = agency.messages["text"]
    assert chat.str.contains("my dog ").any() and chat.str.contains("I work nights").any()
    assert chat.str.contains("custom").any() and chat.str.contains("<br>|<b>|<p>").any()
    assert chat.str.contains("@example|555-|https://").any()
    assert not chat.str.contains("{", literal=True).any()  # every placeholder filled
    # One fan keeps one value per fact category.
    dogs = agency.messages.filter(pl.col("text").str.contains("my dog ")).with_columns(
        pl.col("text").str.extract(r"my dog (\w+)").alias("dog"))
    assert dogs.group_by("creator_id", "fan_id").agg(pl.col("dog").n_unique())["dog"].max() == 1


# ---------------------------------------------------------------------------------------------
# The simulator over HTTP


def test_paging_every_endpoint_returns_exactly_the_rows_visible_at_the_clock(agency):
    clock = agency.end - timedelta(days=40)
    with SimulatorServer(agency, api_key=KEY, clock=clock) as server:
        api = Api(server.url)
        accounts = api.get("/api/accounts")["data"]
        assert [a["id"] for a in accounts] == agency.accounts["id"].to_list()
        for account in agency.accounts["id"]:
            check_fans(api, agency, account, clock)
            check_transactions(api, agency, account, clock)
            check_chargebacks(api, agency, account, clock)
            check_vault(api, agency, account, clock)
        for account in agency.accounts["id"].head(2):
            check_chats_and_messages(api, agency, account, clock)
        assert api.short_pages > 0  # hasMore was honoured across short pages
        requests = server.stats()["requests"]
        assert set(requests) == {"accounts", "fans", "transactions", "chargebacks", "chats", "messages", "vault"}
        visible_fans = agency.fans.filter(pl.col("subscribes").list.first().struct.field("date") <= clock).height
        assert requests["fans"] >= visible_fans / 20


def check_fans(api: Api, agency, account: str, clock: datetime) -> None:
    served = api.fans(account)
    fans = agency.fans.filter(pl.col("creator_id") == account).with_columns(
        pl.col("subscribes").list.first().struct.field("date").alias("first"))
    visible = fans.filter(pl.col("first") <= clock)
    assert sorted(f["id"] for f in served) == sorted(visible["id"])
    for fan in served:
        data = fan["subscribedOnData"]
        assert all(datetime.fromisoformat(s["date"]) <= clock for s in data["subscribes"])
        assert data["status"] == ("active" if datetime.fromisoformat(data["expiredAt"]) > clock else "expired")
        assert [s["isCurrent"] for s in data["subscribes"]][-1] == (data["status"] == "active")


def check_transactions(api: Api, agency, account: str, clock: datetime) -> None:
    start = agency.end - timedelta(days=600)
    served = api.transactions(account, iso(start))
    expected = agency.transactions.filter(
        (pl.col("creator_id") == account) & (pl.col("created_at") <= clock))
    assert sorted(t["id"] for t in served) == sorted(expected["id"])
    times = [datetime.fromisoformat(t.get("createdAt") or t["created_at"]) for t in served]
    assert times == sorted(times, reverse=True)  # newest first
    variants = dict(zip(expected["id"], expected["variant"], strict=True))
    for t in served:
        assert "type" not in t
        keys = {0: {"createdAt", "net", "fee", "user"}, 1: {"created_at", "net", "fee", "user"},
                2: {"createdAt", "net_amount", "fee_amount", "user"}, 3: {"createdAt", "net", "fee", "fan"}}
        assert keys[variants[t["id"]]] <= set(t), t
    # Without startDate: only the last 30 days before the clock.
    recent = api.get(f"/api/{account}/transactions", limit=100)["data"]["list"]
    assert all(datetime.fromisoformat(t.get("createdAt") or t["created_at"]) >= clock - timedelta(days=30)
               for t in recent)


def check_chargebacks(api: Api, agency, account: str, clock: datetime) -> None:
    served = api.offset_pages(f"/api/{account}/chargebacks", start_date=iso(agency.end - timedelta(days=600)))
    expected = agency.chargebacks.filter((pl.col("creator_id") == account) & (pl.col("created_at") <= clock))
    assert sorted(c["id"] for c in served) == sorted(expected["id"])
    pairs = dict(zip(expected["id"], expected["transaction_id"], strict=True))
    assert all(c["payment"]["id"] == pairs[c["id"]] and c["payment"]["status"] == "chargeback" for c in served)


def check_vault(api: Api, agency, account: str, clock: datetime) -> None:
    served = api.offset_pages(f"/api/{account}/media/vault", limit=10)
    expected = agency.vault_media.filter((pl.col("creator_id") == account) & (pl.col("created_at") <= clock))
    assert sorted(v["id"] for v in served) == sorted(expected["id"])


def check_chats_and_messages(api: Api, agency, account: str, clock: datetime) -> None:
    visible = agency.messages.filter((pl.col("creator_id") == account) & (pl.col("created_at") <= clock))
    chats = api.offset_pages(f"/api/{account}/chats", limit=50)
    last = visible.group_by("fan_id").agg(pl.col("id").max()).sort("id", descending=True)
    assert [c["fan"]["id"] for c in chats] == last["fan_id"].to_list()  # most recent chat first
    assert [c["lastMessage"]["id"] for c in chats] == last["id"].to_list()
    for chat in chats:
        served = api.messages(account, chat["fan"]["id"])
        ids = [m["id"] for m in served]
        expected = visible.filter(pl.col("fan_id") == chat["fan"]["id"])["id"].sort(descending=True)
        assert ids == expected.to_list()


def test_fan_totals_are_the_succeeded_purchases_up_to_the_clock(agency):
    spend = purchases(agency).group_by("creator_id", "fan_id").agg(pl.col("amount").sum())
    whale = spend.sort("amount", descending=True).row(0, named=True)
    with SimulatorServer(agency, api_key=KEY) as server:
        api = Api(server.url)
        fans = api.fans(whale["creator_id"])
    fan = next(f for f in fans if f["id"] == whale["fan_id"])
    data = fan["subscribedOnData"]
    assert data["totalSumm"] == pytest.approx(whale["amount"], abs=0.01)
    bought = typed(purchases(agency)).filter(
        (pl.col("creator_id") == whale["creator_id"]) & (pl.col("fan_id") == whale["fan_id"]))
    by_type = dict(bought.group_by("type").agg(pl.col("amount").sum()).iter_rows())
    parts = {"messagesSumm": "message", "tipsSumm": "tip", "postsSumm": "post",
             "subscribesSumm": "subscription", "streamsSumm": "stream"}  # "other" in none
    for part, kind in parts.items():
        assert data[part] == pytest.approx(by_type.get(kind, 0.0), abs=0.01), part
    record = agency.fans.filter((pl.col("creator_id") == whale["creator_id"]) & (pl.col("id") == whale["fan_id"]))
    assert datetime.fromisoformat(data["expiredAt"]) == record["expired_at"][0]
    assert datetime.fromisoformat(fan["lastSeen"]) == record["last_seen"][0]
    assert len(data["subscribes"]) == record["subscribes"].list.len()[0]


def test_every_nth_request_is_throttled(agency):
    with SimulatorServer(agency, throttle_every=3, retry_after=7) as server:
        first, second, third, fourth = (httpx.get(f"{server.url}/api/accounts") for _ in range(4))
        assert [r.status_code for r in (first, second, third, fourth)] == [200, 200, 429, 200]
        assert third.headers["Retry-After"] == "0"
        assert third.json() == {"error": "Too many requests", "retry_after": 7}
        before, after = first.json()["_meta"], second.json()["_meta"]
        assert after["_rate_limits"]["remaining_day"] < before["_rate_limits"]["remaining_day"]
        assert after["_credits"]["used"] > before["_credits"]["used"]
        assert server.stats()["throttled"] == 1


def test_requests_without_the_key_are_refused(agency):
    with SimulatorServer(agency, api_key=KEY) as server:
        assert httpx.get(f"{server.url}/api/accounts").status_code == 401
        wrong = httpx.get(f"{server.url}/api/accounts", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "error" in wrong.json()
        assert Api(server.url).get("/api/accounts")["data"]


def test_bad_requests_get_json_errors(agency):
    account = agency.accounts["id"][0]
    with SimulatorServer(agency) as server:
        too_many = httpx.get(f"{server.url}/api/{account}/fans/all", params={"limit": 21})
        assert too_many.status_code == 400 and "limit" in too_many.json()["error"]
        unknown = httpx.get(f"{server.url}/api/acct_nobody/transactions")
        assert unknown.status_code == 404 and "error" in unknown.json()
        bad_date = httpx.get(f"{server.url}/api/{account}/transactions", params={"startDate": "yesterday"})
        assert bad_date.status_code == 400


def served_status(api: Api, account: str, transaction: dict) -> str | None:
    start = transaction["created_at"] - timedelta(seconds=1)
    for t in api.transactions(account, iso(start)):
        if t["id"] == transaction["id"]:
            return t["status"]
    return None


def test_the_clock_hides_the_future(agency):
    charged = agency.transactions.filter(pl.col("chargeback_at").is_not_null())
    shown = charged.filter(~pl.col("chargeback_hidden")).row(0, named=True)
    hidden = charged.filter(pl.col("chargeback_hidden")).row(0, named=True)
    account = shown["creator_id"]
    with SimulatorServer(agency, api_key=KEY) as server:
        api = Api(server.url)
        # Before it happened, a transaction does not exist.
        server.set_clock(shown["created_at"] - timedelta(seconds=1))
        assert served_status(api, account, shown) is None
        # Paid, not yet charged back: the original status, and no chargeback listed.
        server.set_clock(shown["chargeback_at"] - timedelta(seconds=1))
        assert served_status(api, account, shown) == shown["status"]
        listed = {c["payment"]["id"] for c in api.offset_pages(f"/api/{account}/chargebacks")}
        assert shown["id"] not in listed
        # Once charged back (moved through the HTTP control this time): both endpoints say so.
        moved = httpx.post(f"{server.url}/_sim/clock", json={"now": iso(shown["chargeback_at"])})
        assert moved.status_code == 200 and server.clock == shown["chargeback_at"]
        assert served_status(api, account, shown) in CHARGEBACK_SPELLINGS
        listed = {c["payment"]["id"] for c in api.offset_pages(f"/api/{account}/chargebacks")}
        assert shown["id"] in listed
        # A hidden chargeback keeps its status on /transactions; only /chargebacks reveals it.
        server.set_clock(agency.end)
        assert served_status(api, hidden["creator_id"], hidden) == hidden["status"]
        listed = {c["payment"]["id"] for c in api.offset_pages(f"/api/{hidden['creator_id']}/chargebacks")}
        assert hidden["id"] in listed
        # Fans appear as they subscribe.
        early = agency.end - timedelta(days=300)
        server.set_clock(early)
        expected = agency.fans.filter(
            (pl.col("creator_id") == account)
            & (pl.col("subscribes").list.first().struct.field("date") <= early)).height
        assert len(api.fans(account)) == expected < agency.fans.filter(pl.col("creator_id") == account).height
