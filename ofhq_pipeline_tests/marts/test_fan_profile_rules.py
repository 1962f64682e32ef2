"""Every money & purchases rule of fan-profile.md at its edges, through the real SQL models."""

from __future__ import annotations

import pytest

from ofhq_pipeline_tests.builders import (
    build,
    chargeback,
    chat,
    day,
    fan,
    make_lake,
    message,
    period,
    profile,
    txn,
    write_sync,
)


@pytest.fixture
def lake(tmp_path):
    return make_lake(tmp_path)


def run(lake, as_of, **sync):
    write_sync(lake, fetched_at=day(100), **sync)
    build(lake, as_of)
    return profile(lake)


def test_spend_count_and_average_round_half_up(lake):
    p = run(lake, day(50), fans=[fan(1), fan(2)], transactions=[
        txn("t1", 1, 10.00, day(1)), txn("t2", 1, 10.01, day(2), kind="tip"),
        txn("t3", 2, 10.00, day(1)), txn("t4", 2, 10.01, day(2)),
    ])
    assert p[1]["lifetime_spend_cents"] == 2001
    assert p[1]["purchase_count"] == 2
    assert p[1]["avg_order_value_cents"] == 1001  # 1000.5 rounds half up
    assert p[1]["lifetime_net_cents"] == 800 + 801
    assert p[1]["tips_cents"] == 1001 and p[1]["ppv_cents"] == 1000
    assert p[1]["biggest_purchase_cents"] == 1001


def test_cents_round_half_up_from_dollars(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[txn("t1", 1, 9.995, day(1)),
                                                        txn("t2", 1, 0.285, day(2))])
    assert p[1]["lifetime_spend_cents"] == 1000 + 29


def test_fan_without_purchases_has_zeros_and_nulls(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[
        txn("t1", 1, 0.0, day(1)),  # amount 0 is not a purchase
        txn("t2", 1, 20.0, day(2), status="pending"),
    ])
    row = p[1]
    assert row["lifetime_spend_cents"] == 0 and row["purchase_count"] == 0
    assert row["avg_order_value_cents"] is None and row["biggest_purchase_cents"] is None
    assert row["first_purchase_at"] is None and row["last_purchase_type"] is None
    assert row["price_range"] is None
    assert row["buyer_type"] == "non_spender"
    assert row["conversion_rate"] is None


def test_purchases_after_as_of_are_ignored(lake):
    p = run(lake, day(10), fans=[fan(1)], transactions=[
        txn("t1", 1, 10.0, day(5)), txn("t2", 1, 500.0, day(10.0001)),
    ])
    assert p[1]["lifetime_spend_cents"] == 1000
    assert p[1]["last_purchase_at"] == day(5)


def test_purchase_exactly_at_as_of_counts(lake):
    p = run(lake, day(10), fans=[fan(1)], transactions=[txn("t1", 1, 10.0, day(10))])
    assert p[1]["purchase_count"] == 1


def test_last_purchase_ties_on_time_go_to_greatest_id(lake):
    p = run(lake, day(50), fans=[fan(1)], transactions=[
        txn("tr_a", 1, 5.0, day(3), kind="tip"), txn("tr_b", 1, 7.0, day(3), kind="post"),
        txn("tr_0", 1, 9.0, day(1)),
    ])
    assert p[1]["last_purchase_type"] == "post"
    assert p[1]["last_purchase_cents"] == 700
    assert p[1]["first_purchase_at"] == day(1)


def test_refunds_and_chargeback_risk(lake):
    p = run(lake, day(50), fans=[fan(1), fan(2)], transactions=[
        txn("t1", 1, 10.0, day(1), status="refunded"), txn("t2", 1, 10.0, day(2), status="refund"),
        txn("t3", 1, 10.0, day(3)),
        txn("t4", 2, 10.0, day(1), status="refunded"),
    ])
    assert p[1]["refund_count"] == 2 and p[1]["chargeback_risk"] is True
    assert p[1]["lifetime_spend_cents"] == 1000
    assert p[2]["refund_count"] == 1 and p[2]["chargeback_risk"] is False


@pytest.mark.parametrize(("as_of_day", "purchases", "chargebacks"), [(5, 1, 0), (20, 0, 1)])
def test_chargeback_after_the_purchase_applies_from_its_own_time(lake, as_of_day, purchases, chargebacks):
    payment = txn("t1", 1, 50.0, day(1))
    p = run(lake, day(as_of_day), fans=[fan(1)], transactions=[payment],  # the feed still says done
            chargebacks=[chargeback("cb1", payment, day(10))])
    assert p[1]["purchase_count"] == purchases
    assert p[1]["chargeback_count"] == chargebacks
    assert p[1]["chargeback_risk"] is (chargebacks == 1)


def test_latest_sighting_wins(lake):
    write_sync(lake, fetched_at=day(20), fans=[fan(1)], transactions=[txn("t1", 1, 10.0, day(1))])
    write_sync(lake, fetched_at=day(21), fans=[fan(1)],
               transactions=[txn("t1", 1, 10.0, day(1), status="refunded")])
    build(lake, day(30))
    p = profile(lake)
    assert p[1]["purchase_count"] == 0 and p[1]["refund_count"] == 1


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ([9.99], "low"), ([10.00], "mid"), ([49.99], "mid"), ([50.00], "high"),
        ([199.99], "high"), ([200.00], "whale"),
        ([9.0] * 111 + [1.0], "whale"),  # $1,000 lifetime with a low average
        ([9.0] * 111, "low"),  # $999
    ],
)
def test_price_range_thresholds(lake, amounts, expected):
    txs = [txn(f"t{i}", 1, a, day(1 + i / 1000)) for i, a in enumerate(amounts)]
    p = run(lake, day(50), fans=[fan(1)], transactions=txs)
    assert p[1]["price_range"] == expected


@pytest.mark.parametrize(
    ("purchases", "expected"),
    [
        ([("subscription", 9.99, False)], "subscriber_only"),
        ([("subscription", 9.99, False), ("message", 10, True), ("tip", 10, False)], "custom_buyer"),
        ([("message", 10, True), ("tip", 10.01, False)], "tipper"),
        ([("message", 10, False), ("tip", 10, False)], "ppv_buyer"),  # tie: message first
        ([("tip", 10, False), ("post", 10, False)], "tipper"),
        ([("post", 10, False), ("stream", 10, False)], "post_buyer"),
        ([("stream", 10, False), ("other", 10, False)], "stream_buyer"),
        ([("other", 10, False), ("subscription", 50, False)], "other_buyer"),
        ([("subscription", 50, True), ("tip", 10, False)], "tipper"),  # a custom subscription is no custom spend
    ],
)
def test_buyer_type(lake, purchases, expected):
    txs = [txn(f"t{i}", 1, a, day(1 + i), kind=k, custom=c) for i, (k, a, c) in enumerate(purchases)]
    p = run(lake, day(50), fans=[fan(1)], transactions=txs)
    assert p[1]["buyer_type"] == expected


def test_custom_buyer_at_exactly_half_of_non_subscription_spend(lake):
    txs = [txn("t1", 1, 10, day(1), custom=True), txn("t2", 1, 10, day(2), kind="tip")]
    assert run(lake, day(50), fans=[fan(1)], transactions=txs)[1]["buyer_type"] == "custom_buyer"


def test_ppv_sent_bought_and_conversion(lake):
    msgs = [
        (1, message(1, 1, day(1), from_fan=False, price=10)),
        (1, message(2, 1, day(2), from_fan=False, price=10)),
        (1, message(3, 1, day(2), from_fan=False, price=10, queue_id=55)),  # mass send
        (1, message(4, 1, day(2), from_fan=False, price=0)),  # free
        (1, message(5, 1, day(3), from_fan=True, price=0)),
        (1, message(6, 1, day(60), from_fan=False, price=10)),  # after as-of
        (2, message(7, 2, day(1), from_fan=False, price=10)),
    ]
    p = run(lake, day(50), fans=[fan(1), fan(2), fan(3)], messages=msgs,
            chats=[chat(1, msgs[5][1]), chat(2, msgs[6][1])], transactions=[
                txn("t1", 1, 10, day(1)), txn("t2", 1, 10, day(2)), txn("t3", 1, 10, day(3)),
            ])
    assert p[1]["ppv_sent_count"] == 2
    assert p[1]["ppv_bought_count"] == 3
    assert p[1]["conversion_rate"] == 1.0  # capped at 1
    assert p[2]["conversion_rate"] == 0.0
    assert p[3]["ppv_sent_count"] == 0 and p[3]["conversion_rate"] is None


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ([], None),
        ([period(day(0), 0.0)], None),  # a free trial is not a paid period
        ([period(day(0), 9.99), period(day(30), 9.99, action="renew")], "never"),
        ([period(day(0), 4.99, discount=50), period(day(30), 7.99)], "always"),  # price < regular
        ([period(day(0), 4.99, discount=50), period(day(30), 9.99)], "sometimes"),
        ([period(day(0), 9.99), period(day(80), 4.99, discount=50)], "never"),  # after as-of
    ],
)
def test_discount_sensitivity(lake, periods, expected):
    p = run(lake, day(50), fans=[fan(1, subscribes=periods)])
    assert p[1]["discount_sensitivity"] == expected


def test_subscription_fields_come_from_the_latest_fan_record(lake):
    write_sync(lake, fetched_at=day(20), fans=[fan(1, status="active", subscribe_at=day(0))])
    write_sync(lake, fetched_at=day(40), fans=[fan(1, status="expired", subscribe_at=day(0),
                                                  expired_at=day(30))])
    build(lake, day(45))
    row = profile(lake)[1]
    assert row["subscription_status"] == "expired"
    assert row["subscribed_at"] == day(0)
    assert row["subscription_expires_at"] == day(30)


def test_fans_known_only_from_transactions_or_chats_are_profiled(lake):
    m = message(1, 8, day(1), from_fan=True)
    p = run(lake, day(50), fans=[fan(1)], transactions=[txn("t1", 7, 10, day(1))],
            messages=[(8, m)], chats=[chat(8, m)])
    assert set(p) == {1, 7, 8}
    assert p[7]["lifetime_spend_cents"] == 1000 and p[7]["subscription_status"] is None
