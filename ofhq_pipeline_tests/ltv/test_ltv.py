"""BG/NBD + Gamma-Gamma: the fit recovers known parameters from the generative model, predicts a
holdout it never saw, and marts/fan_ltv on real marts behaves as the models say."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from ofhq_pipeline.ltv.build import LtvConfig, build_fan_ltv, plan_fits
from ofhq_pipeline.ltv.model import (
    BgNbdParams,
    FitError,
    GammaGammaParams,
    expected_purchases,
    expected_value,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    simulate,
)
from ofhq_pipeline_tests.builders import CREATOR, make_lake
from ofhq_pipeline_tests.vault.harness import Story, at, build

# Days; a fan buys every ~20 days while alive, leaves after ~5 repeat purchases, spends ~$40.
TRUE_BG = BgNbdParams(r=0.6, alpha=12.0, a=0.9, b=3.5)
TRUE_GG = GammaGammaParams(p=4.0, q=5.0, gamma=4000.0)  # cents: mean p*gamma/(q-1) = 4000
N = 20_000
PARAM_TOLERANCE = 0.15   # every parameter within 15% of the truth
MEAN_TOLERANCE = 0.03    # the mean value per purchase within 3%
HOLDOUT_TOLERANCE = 0.05  # the next 90 days' total purchases and spend within 5%


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20261101)
    return simulate(rng, N, TRUE_BG, TRUE_GG, rng.uniform(60, 540, N), holdout=90)


def test_the_fit_recovers_the_true_parameters(simulated):
    s = simulated
    bg = fit_bgnbd(s.frequency, s.recency, s.T)
    gg = fit_gamma_gamma(s.frequency, s.monetary)
    for name, fitted, true in [*((k, getattr(bg, k), getattr(TRUE_BG, k)) for k in ["r", "alpha", "a", "b"]),
                               *((k, getattr(gg, k), getattr(TRUE_GG, k)) for k in ("p", "q", "gamma"))]:
        assert abs(fitted / true - 1) <= PARAM_TOLERANCE, (name, fitted, true)
    assert abs(gg.mean_value / TRUE_GG.mean_value - 1) <= MEAN_TOLERANCE


def test_predictions_match_the_holdout_they_never_saw(simulated):
    s = simulated
    bg = fit_bgnbd(s.frequency, s.recency, s.T)
    gg = fit_gamma_gamma(s.frequency, s.monetary)
    purchases = expected_purchases(bg, 90, s.frequency, s.recency, s.T)
    spend = purchases * expected_value(gg, s.frequency, s.monetary)
    assert abs(purchases.sum() / s.holdout_purchases.sum() - 1) <= HOLDOUT_TOLERANCE
    assert abs(spend.sum() / s.holdout_value.sum() - 1) <= HOLDOUT_TOLERANCE
    alive = probability_alive(bg, s.frequency, s.recency, s.T)
    assert np.all((alive >= 0) & (alive <= 1))
    # Who is predicted to buy does buy: the top decile by expected purchases buys far more.
    top = purchases >= np.quantile(purchases, 0.9)
    assert s.holdout_purchases[top].mean() > 5 * s.holdout_purchases[~top].mean()
    # The model's own logic: the same frequency, a long silence makes him less likely alive.
    recent, silent = probability_alive(bg, [5, 5], [300, 30], [310, 310])
    assert recent > 0.8 > 0.01 > silent


def test_too_little_data_is_a_fit_error_not_garbage():
    with pytest.raises(FitError):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [10, 20, 30])
    with pytest.raises(FitError):
        fit_gamma_gamma([1, 0], [500.0, 0.0])
    assert plan_fits(5, LtvConfig(min_repeat_buyers=30)) == [("agency", 0.0), ("agency", 0.001)]
    assert plan_fits(40, LtvConfig(min_repeat_buyers=30))[0] == ("creator", 0.0)


def test_fan_ltv_on_the_simulated_creator(graph):
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT model_status, count(*), min(probability_alive), max(probability_alive), "
            f"min(expected_spend_90d_cents), sum(expected_spend_90d_cents) "
            f"FROM '{graph.mart('fan_ltv')}' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        (fans,) = con.execute(f"SELECT count(*) FROM '{graph.mart('fan_profile')}'").fetchone()
        (mismatch,) = con.execute(
            f"SELECT count(*) FROM '{graph.mart('fan_ltv')}' l "
            f"JOIN '{graph.mart('fan_profile')}' p USING (fan_id) "
            "WHERE (l.model_status = 'no_purchases') <> "
            "      (p.lifetime_spend_cents = p.subscription_cents)"
        ).fetchone()
        churn = con.execute(
            f"SELECT avg(churn_probability) FILTER (WHERE frequency >= 2 AND recency_days < "
            f"tenure_days - 180), avg(churn_probability) FILTER (WHERE frequency >= 2 AND "
            f"recency_days >= tenure_days - 7) FROM '{graph.mart('fan_ltv')}'"
        ).fetchone()
    finally:
        con.close()
    by_status = {r[0]: r[1:] for r in rows}
    assert sum(v[0] for v in by_status.values()) == fans
    assert set(by_status) == {"ok", "no_purchases"} and mismatch == 0
    _, low, high, min_spend, total = by_status["ok"]
    assert 0 <= low <= high <= 1 and min_spend >= 0 and total > 0
    assert churn[0] > churn[1]  # long silent repeat buyers are likelier gone than recent ones
    meta = graph.metadata["marts/fan_ltv"]
    assert meta["status"] == "ok" and meta["bgnbd_r"] > 0
    # The spend model can fall back from Gamma-Gamma on a small creator; when it fits, q > 1.
    assert meta["value_model"] != "gamma_gamma" or meta["gamma_gamma_q"] > 1, meta
    assert meta["expected_spend_90d_cents"] == total


def test_a_creator_with_few_repeat_buyers_is_fitted_on_the_agency_pool(tmp_path):
    lake = make_lake(tmp_path / "home")
    story = Story(lake)
    for fan in range(1, 6):
        story.buy(fan, at(fan), 10.0, kind="tip")
        story.buy(fan, at(fan + 20), 12.0, kind="tip")
    story.buy(9, at(3), 9.99, kind="subscription")   # subscription payments are not modelled
    story.write(at(60))
    build(lake, at(60))
    path, report = build_fan_ltv(lake, CREATOR, as_of=at(60), run_id="run1",
                                 config=LtvConfig(min_repeat_buyers=30))
    assert report.fit_scope == "agency" and report.buyers == 5 and report.repeat_buyers == 5
    assert report.notes[0] == "5 repeat buyers < 30: agency pool"
    con = duckdb.connect()
    try:
        rows = dict(con.execute(f"SELECT fan_id, model_status FROM '{path}'").fetchall())
        (freq,) = con.execute(f"SELECT max(frequency) FROM '{path}'").fetchone()
    finally:
        con.close()
    assert rows[9] == "no_purchases" and freq == 1
    assert report.status in ("ok", "fit_failed")  # five fans: a fit is a bonus, never garbage
