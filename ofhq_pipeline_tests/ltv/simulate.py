"""Customers drawn from the MBG/NBD + Gamma-Gamma story, one event at a time, written here from
the models' definitions (Batislam, Denizel & Filiztekin 2007; Fader & Hardie 2013) so that the
tests judge the pipeline's fit against data its own code did not produce.

Each customer makes his first purchase at time 0, then:
- his purchase rate is lambda ~ Gamma(shape r, rate alpha) and his dropout probability is
  p ~ Beta(a, b);
- right after his first purchase, and after every repeat purchase, he flips his coin: with
  probability p he is gone for good;
- while alive, the gaps between his purchases are Exponential(lambda);
- each repeat purchase is worth Gamma(shape p_value, rate nu), nu ~ Gamma(shape q, rate gamma).
He is watched for T (calibration) and then `horizon` more days (holdout). Also returned: whether
he was truly alive at T, which no model can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Customers:
    frequency: np.ndarray  # repeat purchases in (0, T]
    recency: np.ndarray  # time of the last of them (0 when none)
    T: np.ndarray
    monetary: np.ndarray  # mean value of the repeat purchases in (0, T] (0 when none)
    alive_at_T: np.ndarray
    holdout_purchases: np.ndarray  # purchases in (T, T + horizon]
    holdout_value: np.ndarray


def draw(rng: np.random.Generator, n: int, *, r: float, alpha: float, a: float, b: float,
         p: float, q: float, gamma: float, T: np.ndarray, horizon: float = 0.0) -> Customers:
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    alive = rng.random(n) >= dropout  # the coin right after the first purchase
    alive_at_T = alive.copy()
    frequency = np.zeros(n, dtype=np.int64)
    recency, clock = np.zeros(n), np.zeros(n)
    spent = np.zeros(n)
    holdout_purchases, holdout_value = np.zeros(n, dtype=np.int64), np.zeros(n)
    # Everyone still alive and not yet past T + horizon takes his next step, together.
    live = np.flatnonzero(alive)
    while live.size:
        clock[live] += rng.exponential(1.0, live.size) / rate[live]
        in_calibration = clock[live] <= T[live]
        in_holdout = ~in_calibration & (clock[live] <= T[live] + horizon)
        cal, hold = live[in_calibration], live[in_holdout]
        frequency[cal] += 1
        recency[cal] = clock[cal]
        spent[cal] += rng.gamma(p, 1.0 / nu[cal])
        holdout_purchases[hold] += 1
        holdout_value[hold] += rng.gamma(p, 1.0 / nu[hold])
        bought = live[in_calibration | in_holdout]
        gone = rng.random(bought.size) < dropout[bought]
        alive_at_T[bought[gone & (clock[bought] <= T[bought])]] = False
        live = bought[~gone]
    monetary = np.divide(spent, frequency, out=np.zeros(n), where=frequency > 0)
    return Customers(frequency, recency, T, monetary, alive_at_T, holdout_purchases,
                     holdout_value)
