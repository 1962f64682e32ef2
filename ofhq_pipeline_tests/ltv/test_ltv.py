"""marts/fan_ltv on real marts: its inputs, fit and predictions against values the test computes
itself from marts.transactions and the models' definitions (reference.py), and the fallbacks of
a creator with too few repeat buyers, exactly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ofhq_pipeline.ltv.build import HORIZON_DAYS, MODEL, LtvConfig, build_fan_ltv
from ofhq_pipeline_tests.builders import CREATOR, make_lake
from ofhq_pipeline_tests.ltv import reference
from ofhq_pipeline_tests.vault.harness import Story, at, build

INPUTS = ["fan_id", "frequency", "recency_days", "tenure_days"]
PREDICTIONS = ["probability_alive", "churn_probability", "expected_purchases_90d",
               "expected_order_cents", "expected_spend_90d_cents"]


def purchase_histories(transactions: Path, as_of: datetime) -> pl.DataFrame:
    """Per fan, from his purchases other than subscription payments up to as_of, one per UTC
    day: x (days - 1), t_x and T in days from his first day, and the mean of his later days."""
    days = (
        pl.read_parquet(transactions)
        .filter(pl.col("is_purchase") & (pl.col("type") != "subscription")
                & pl.col("fan_id").is_not_null() & (pl.col("created_at") <= as_of))
        .group_by("fan_id", day=pl.col("created_at").dt.truncate("1d"))
        .agg(cents=pl.col("amount_cents").sum())
    )
    today = pl.lit(as_of).dt.truncate("1d")
    return days.group_by("fan_id").agg(
        frequency=pl.len() - 1,
        recency_days=(pl.col("day").max() - pl.col("day").min()).dt.total_days(),
        tenure_days=(today - pl.col("day").min()).dt.total_days(),
        monetary=pl.col("cents").sort_by("day").slice(1).mean().fill_null(0.0),
    ).sort("fan_id")


def test_fan_ltv_on_the_simulated_creator(graph):
    ltv = pl.read_parquet(graph.mart("fan_ltv")).sort("fan_id")
    profile = pl.read_parquet(graph.mart("fan_profile")).sort("fan_id")
    meta = graph.metadata["marts/fan_ltv"]
    history = purchase_histories(graph.mart("transactions"), graph.as_of)
    buyers = ltv.filter(pl.col("model_status") == "ok")
    # One row per fan; exactly the fans with a discretionary purchase are modelled, on the
    # inputs computed here; the others have no prediction.
    assert ltv["fan_id"].to_list() == profile["fan_id"].to_list()
    assert buyers.select(INPUTS).equals(history.select(INPUTS).cast(buyers.select(INPUTS).schema))
    others = ltv.filter(pl.col("model_status") != "ok")
    assert set(others["model_status"]) == {"no_purchases"}
    assert others.select(PREDICTIONS).null_count().row(0) == (others.height,) * len(PREDICTIONS)
    assert set(ltv["model"]) == {MODEL} and MODEL.startswith("mbg_nbd+gamma_gamma")
    x, t_x, age = (history[c].to_numpy().astype(float) for c in INPUTS[1:])
    m = history["monetary"].to_numpy()
    assert (meta["status"], meta["fit_scope"], meta["value_model"]) == ("ok", "creator",
                                                                        "gamma_gamma")
    assert (meta["buyers"], meta["repeat_buyers"], meta["fit_fans"]) == (
        len(x), int((x > 0).sum()), len(x))

    # The fit is the maximum of the models' likelihoods, found again here by another optimiser.
    purchase_params = tuple(meta[f"mbgnbd_{k}"] for k in ("r", "alpha", "a", "b"))
    again = reference.maximise(
        lambda p: reference.log_likelihood("mbg_nbd", p, x, t_x, age), (1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(purchase_params, again, rtol=1e-4)
    value_params = tuple(meta[f"gamma_gamma_{k}"] for k in ("p", "q", "gamma"))
    repeat = x > 0
    again = reference.maximise(
        lambda p: reference.gamma_gamma_log_likelihood(p, x[repeat], m[repeat]), (1.0, 1.0, 1.0))
    np.testing.assert_allclose(value_params, again, rtol=1e-3)

    # Every prediction is the models' formula at those parameters (stored to 6 decimals; money
    # rounded to the cent).
    alive = reference.probability_alive("mbg_nbd", purchase_params, x, t_x, age)
    purchases = np.array([reference.expected_purchases_mbgnbd(purchase_params, HORIZON_DAYS, *h)
                          for h in zip(x, t_x, age, strict=True)])
    value = reference.expected_value(value_params, x, m)
    np.testing.assert_allclose(buyers["probability_alive"], alive, rtol=0, atol=2e-6)
    np.testing.assert_allclose(buyers["churn_probability"], 1 - alive, rtol=0, atol=2e-6)
    np.testing.assert_allclose(buyers["expected_purchases_90d"], purchases, rtol=1e-5, atol=2e-6)
    assert np.abs(buyers["expected_order_cents"].to_numpy() - value).max() <= 0.51
    spend = buyers["expected_spend_90d_cents"].to_numpy()
    assert np.abs(spend - purchases * value).max() <= 0.51 + 1e-5 * (purchases * value).max()
    assert meta["expected_spend_90d_cents"] == spend.sum()
    assert meta["mean_probability_alive"] == round(float(buyers["probability_alive"].mean()), 4)

    # A one-time buyer's P(alive) falls with his silence: distinct silences, distinct values.
    once = buyers.filter(pl.col("frequency") == 0).group_by("tenure_days").agg(
        pl.col("probability_alive").unique()).sort("tenure_days")
    assert once["probability_alive"].list.len().max() == 1
    assert np.all(np.diff(once["probability_alive"].list.first().to_numpy()) < 0)
    assert once["probability_alive"].list.first().max() < 1
    # So the buyers the spec calls churned are likely gone, one-time buyers included (the
    # BG/NBD said every one of those was alive for certain).
    churned = buyers.join(profile.select("fan_id", "stage"), on="fan_id").filter(
        pl.col("stage") == "churned")
    assert churned.filter(pl.col("frequency") == 0).height > 0
    assert churned["churn_probability"].min() > 0.5


@pytest.fixture
def five_repeat_buyers(tmp_path):
    """Five fans who each tipped $10 on day k and $12 on day k + 20 (k = 1..5), and a subscriber
    (subscription payments are not modelled): the lake's only creator, at day 60."""
    lake = make_lake(tmp_path / "home")
    story = Story(lake)
    for fan in range(1, 6):
        story.buy(fan, at(fan), 10.0, kind="tip")
        story.buy(fan, at(fan + 20), 12.0, kind="tip")
    story.buy(9, at(3), 9.99, kind="subscription")
    story.write(at(60))
    build(lake, at(60))
    return lake


def test_a_creator_with_few_repeat_buyers_is_fitted_on_the_agency_pool(five_repeat_buyers):
    path, report = build_fan_ltv(five_repeat_buyers, CREATOR, as_of=at(60), run_id="run1",
                                 config=LtvConfig(min_repeat_buyers=30))
    # Five identical histories have no interior maximum: the plain fit fails, the penalised
    # one on the pool (here the creator alone) is used. Too few for Gamma-Gamma: the value per
    # purchase is the observed mean, (10 + 12) * 5 dollars over 10 purchase days.
    assert (report.status, report.error, report.fit_scope, report.penalizer) == (
        "ok", None, "agency", 0.001)
    assert (report.fans, report.buyers, report.repeat_buyers, report.fit_fans) == (6, 5, 5, 5)
    assert (report.value_model, report.gamma_gamma) == ("empirical_mean", None)
    assert report.notes == [
        "5 repeat buyers < 30: agency pool",
        "agency fit (penalizer 0.0) failed: MBG/NBD did not converge (The model did not "
        "converge. Try adding a larger penalizer to see if that helps convergence.)",
    ]
    rows = pl.read_parquet(path).sort("fan_id")
    assert rows["fan_id"].to_list() == [1, 2, 3, 4, 5, 9]
    assert rows["model_status"].to_list() == ["ok"] * 5 + ["no_purchases"]
    assert set(rows["fit_scope"]) == {"agency"}
    buyers = rows.head(5)
    assert buyers["frequency"].to_list() == [1] * 5 and buyers["recency_days"].to_list() == [20] * 5
    assert buyers["tenure_days"].to_list() == [59, 58, 57, 56, 55]
    assert buyers["discretionary_spend_cents"].to_list() == [2200] * 5
    assert buyers["avg_repeat_order_cents"].to_list() == [1200] * 5
    assert buyers["expected_order_cents"].to_list() == [1100] * 5
    params = tuple(report.mbgnbd.as_dict().values())
    x, t_x, age = np.ones(5), np.full(5, 20.0), np.arange(59.0, 54, -1)
    alive = reference.probability_alive("mbg_nbd", params, x, t_x, age)
    purchases = [reference.expected_purchases_mbgnbd(params, HORIZON_DAYS, *h)
                 for h in zip(x, t_x, age, strict=True)]
    np.testing.assert_allclose(buyers["probability_alive"], alive, rtol=0, atol=1e-6)
    np.testing.assert_allclose(buyers["expected_purchases_90d"], purchases, rtol=1e-6)
    assert buyers["expected_spend_90d_cents"].to_list() == [
        round(p * 1100) for p in buyers["expected_purchases_90d"]]
    assert report.expected_spend_90d_cents == buyers["expected_spend_90d_cents"].sum()


def test_a_creator_whose_buyers_never_came_back_gets_no_model(tmp_path):
    """Nobody bought on a second day: no purchase model can be fitted, anywhere. The buyers are
    `fit_failed` with null predictions, never a made-up probability."""
    lake = make_lake(tmp_path / "home")
    story = Story(lake)
    for fan in range(1, 4):
        story.buy(fan, at(fan), 15.0, kind="tip")
    story.write(at(30))
    build(lake, at(30))
    path, report = build_fan_ltv(lake, CREATOR, as_of=at(30), run_id="run1")
    failed = "agency fit (penalizer {}) failed: MBG/NBD needs fans with repeat purchases"
    assert report.notes == ["0 repeat buyers < 30: agency pool", failed.format(0.0),
                            failed.format(0.001)]
    assert (report.status, report.error, report.mbgnbd) == ("fit_failed", failed.format(0.001),
                                                            None)
    assert report.mean_probability_alive is None and report.expected_spend_90d_cents == 0
    rows = pl.read_parquet(path).sort("fan_id")
    assert rows["model_status"].to_list() == ["fit_failed"] * 3
    assert rows["frequency"].to_list() == [0, 0, 0]
    assert rows["tenure_days"].to_list() == [29, 28, 27]
    assert rows.select(PREDICTIONS).null_count().row(0) == (3,) * len(PREDICTIONS)
