"""`python -m bench.ltv`: BG/NBD + Gamma-Gamma at scale, on data with known parameters.

For each size (BENCH_LTV_FANS, default 10,000 / 100,000 / 1,000,000 fans): simulate the
generative model with known r, alpha, a, b, p, q, gamma (days; recency and age in whole days, as
sql/ltv/fan_purchase_days.sql gives them), fit both models, predict the next 90 days, and print:
fit and prediction wall time, peak memory, the worst relative error of the parameters, and the
error of the predicted 90-day purchases and spend against the simulated holdout.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

from ofhq_pipeline.ltv.model import (
    BgNbdParams,
    GammaGammaParams,
    expected_purchases,
    expected_value,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    simulate,
)

TRUE_BG = BgNbdParams(r=0.6, alpha=12.0, a=0.9, b=3.5)
TRUE_GG = GammaGammaParams(p=4.0, q=5.0, gamma=4000.0)
HORIZON = 90


def sizes() -> list[int]:
    text = os.environ.get("BENCH_LTV_FANS")
    return [int(float(s)) for s in text.split(",")] if text else [10_000, 100_000, 1_000_000]


def run(n: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    sim = simulate(rng, n, TRUE_BG, TRUE_GG, rng.integers(30, 541, n).astype(float),
                   holdout=HORIZON)
    recency = np.minimum(np.floor(sim.recency), sim.T)  # whole days, as the pipeline has them
    start = time.perf_counter()
    bg = fit_bgnbd(sim.frequency, recency, sim.T)
    gg = fit_gamma_gamma(sim.frequency, sim.monetary)
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    purchases = expected_purchases(bg, HORIZON, sim.frequency, recency, sim.T)
    spend = purchases * expected_value(gg, sim.frequency, sim.monetary)
    probability_alive(bg, sim.frequency, recency, sim.T)
    predicted = time.perf_counter() - start
    errors = {k: getattr(bg, k) / getattr(TRUE_BG, k) - 1 for k in ("r", "alpha", "a", "b")}
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
    print(f"BG/NBD {TRUE_BG}\nGamma-Gamma {TRUE_GG}")
    print(f"{'fans':>10} {'repeat':>9} {'fit s':>7} {'predict s':>9} {'worst parameter':>16} "
          f"{'90d purchases':>13} {'90d spend':>9} {'peak GiB':>8}")
    for n in sizes():
        r = run(n)
        print(f"{r['fans']:>10,} {r['repeat_buyers']:>9,} {r['fit_s']:>7.2f} {r['predict_s']:>9.2f} "
              f"{r['worst_param']:>16} {r['purchases_err']:>+13.2%} {r['spend_err']:>+9.2%} "
              f"{r['peak_gib']:>8.2f}")


if __name__ == "__main__":
    main()
