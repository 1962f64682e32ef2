"""`python -m bench.ltv`: MBG/NBD + Gamma-Gamma (fan_ltv's models) at scale, on data with
known parameters.

For each size (BENCH_LTV_FANS, default 10,000 / 100,000 / 1,000,000 fans): simulate the
generative model with known r, alpha, a, b, p, q, gamma (days; recency and age in whole days, as
sql/marts/fan_ltv/fan_purchase_days.sql gives them), fit both models, predict the next 90 days, and print:
fit and prediction wall time, peak memory, the worst relative error of the parameters, and the
error of the predicted 90-day purchases and spend against the simulated holdout.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import numpy as np

from ofhq_pipeline.ltv.model import (
    GammaGammaParams,
    MbgNbdParams,
    expected_purchases,
    expected_value,
    fit_gamma_gamma,
    fit_mbgnbd,
    probability_alive,
)

TRUE_MBG = MbgNbdParams(r=0.6, alpha=12.0, a=0.9, b=3.5)
TRUE_GG = GammaGammaParams(p=4.0, q=5.0, gamma=4000.0)
HORIZON = 90


@dataclass(frozen=True)
class Simulated:
    """Per customer: calibration (x, t_x, T, mean repeat value m) and the holdout after T."""

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray
    holdout_purchases: np.ndarray
    holdout_value: np.ndarray


def simulate(rng: np.random.Generator, n: int, bg: MbgNbdParams, gg: GammaGammaParams,
             T: np.ndarray, holdout: float = 0.0) -> Simulated:
    """Customers drawn from MBG/NBD + Gamma-Gamma, observed for T days after their first purchase
    and then for `holdout` more days. Vectorised, so that a million fans take seconds:

    - lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); he drops out with probability p right after
      his first purchase and after each repeat one, so the number of repeat purchases he makes
      before dropping out is K = Geometric(p) - 1 on 0, 1, ...; purchases while alive are a
      Poisson process, so the count in (0, T] is N ~ Poisson(lambda T) and x = min(N, K); the
      time of the x-th is T times the x-th smallest of N uniforms, T * Beta(x, N - x + 1).
    - In the holdout the process goes on only if he is still alive (K > N), for K - N more
      purchases at most.
    - nu ~ Gamma(q, rate gamma); the mean of x values Gamma(p, rate nu) is Gamma(p x, rate nu x).
    """
    lam = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    k = rng.geometric(rng.beta(bg.a, bg.b, n)) - 1
    n_free = rng.poisson(lam * T)
    x = np.minimum(n_free, k)
    t_x = np.zeros(n)
    has = x > 0
    t_x[has] = T[has] * rng.beta(x[has], n_free[has] - x[has] + 1)
    alive = k > n_free
    future = np.where(alive, np.minimum(rng.poisson(lam * holdout), k - n_free), 0)
    nu = rng.gamma(gg.q, 1.0 / gg.gamma, n)
    m = np.zeros(n)
    m[has] = rng.gamma(gg.p * x[has], 1.0 / (nu[has] * x[has]))
    value = np.zeros(n)
    buys = future > 0
    value[buys] = rng.gamma(gg.p * future[buys], 1.0 / nu[buys])
    return Simulated(x, t_x, T, m, future, value)


def sizes() -> list[int]:
    text = os.environ.get("BENCH_LTV_FANS")
    return [int(float(s)) for s in text.split(",")] if text else [10_000, 100_000, 1_000_000]


def run(n: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    sim = simulate(rng, n, TRUE_MBG, TRUE_GG, rng.integers(30, 541, n).astype(float),
                   holdout=HORIZON)
    recency = np.minimum(np.floor(sim.recency), sim.T)  # whole days, as the pipeline has them
    start = time.perf_counter()
    bg = fit_mbgnbd(sim.frequency, recency, sim.T)
    gg = fit_gamma_gamma(sim.frequency, sim.monetary)
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    purchases = expected_purchases(bg, HORIZON, sim.frequency, recency, sim.T)
    spend = purchases * expected_value(gg, sim.frequency, sim.monetary)
    probability_alive(bg, sim.frequency, recency, sim.T)
    predicted = time.perf_counter() - start
    errors = {k: getattr(bg, k) / getattr(TRUE_MBG, k) - 1 for k in ("r", "alpha", "a", "b")}
    errors |= {k: getattr(gg, k) / getattr(TRUE_GG, k) - 1 for k in ("p", "q", "gamma")}
    worst = max(errors, key=lambda k: abs(errors[k]))
    return {
        "fans": n,
        "repeat_buyers": int((sim.frequency > 0).sum()),
        "fit_s": fitted,
        "predict_s": predicted,
        "worst_param": f"{worst} {errors[worst]:+.1%}",
        "purchases_err": purchases.sum() / sim.holdout_purchases.sum() - 1,
        "spend_err": spend.sum() / sim.holdout_value.sum() - 1,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024,
    }


def main() -> None:
    print(f"{TRUE_MBG.label} {TRUE_MBG}\nGamma-Gamma {TRUE_GG}")
    print(f"{'fans':>10} {'repeat':>9} {'fit s':>7} {'predict s':>9} {'worst parameter':>16} "
          f"{'90d purchases':>13} {'90d spend':>9} {'peak GiB':>8}")
    for n in sizes():
        r = run(n)
        print(f"{r['fans']:>10,} {r['repeat_buyers']:>9,} {r['fit_s']:>7.2f} "
              f"{r['predict_s']:>9.2f} {r['worst_param']:>16} {r['purchases_err']:>+13.2%} "
              f"{r['spend_err']:>+9.2%} {r['peak_gib']:>8.2f}")


if __name__ == "__main__":
    main()
