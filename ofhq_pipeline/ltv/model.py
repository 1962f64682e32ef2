"""BG/NBD and Gamma-Gamma: fitting (maximum likelihood, through `lifetimes`), prediction, and a
simulator of the generative model for validation.

The models (Fader, Hardie & Lee 2005; Fader & Hardie 2013), time in days:
- BG/NBD: while alive, a fan makes repeat purchases as a Poisson process of rate
  lambda ~ Gamma(shape r, rate alpha); after each repeat purchase he drops out for good with
  probability p ~ Beta(a, b). From his frequency x (repeat purchase days), recency t_x (day of
  his last purchase since his first) and age T (days since his first purchase) it gives
  P(alive) and the expected number of purchases in the next t days.
- Gamma-Gamma: the value of each of his purchases is Gamma(shape p, rate nu), with
  nu ~ Gamma(shape q, rate gamma) across fans, independent of the purchase process. From his
  mean repeat purchase value m over x purchases it gives his expected value per purchase,
  (p gamma + p x m) / (p x + q - 1): between the population mean p gamma / (q - 1) and m.

Fitting is `lifetimes.BetaGeoFitter` / `GammaGammaFitter` (scipy's optimiser on the exact
log-likelihoods, autograd gradients); everything around them is plain numpy.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # `lifetimes` (with scipy and pandas) is imported when a model is fitted or used
    from lifetimes import BetaGeoFitter

LIBRARY = "lifetimes 0.11.3"


class FitError(Exception):
    """The likelihood could not be maximised (too little data, or no convergence)."""


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    @property
    def mean_value(self) -> float | None:
        """The population's mean value per purchase, p gamma / (q - 1); None when q <= 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else None

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@contextlib.contextmanager
def quiet():
    """lifetimes prints scipy's result when a fit fails, and warns on the way: neither is ours."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _fitter_args(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=np.int64)
    t_x = np.asarray(recency, dtype=float)
    age = np.asarray(T, dtype=float)
    if not (x.shape == t_x.shape == age.shape):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("need 0 <= recency <= T and frequency >= 0")
    return x, t_x, age


def fit_bgnbd(frequency, recency, T, *, penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters; raises FitError when it cannot converge."""
    x, t_x, age = _fitter_args(frequency, recency, T)
    if x.size < 2 or not np.any(x > 0):
        raise FitError("BG/NBD needs fans with repeat purchases")
    # Identical (x, t_x, T) histories are one pattern with a weight: same likelihood, less work.
    patterns, weights = np.unique(np.stack([x, t_x, age], axis=1), axis=0, return_counts=True)
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import ConvergenceError

    fitter = BetaGeoFitter(penalizer_coef=penalizer)
    try:
        with quiet():
            fitter.fit(patterns[:, 0], patterns[:, 1], patterns[:, 2], weights=weights)
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        raise FitError(f"BG/NBD did not converge ({first_line(exc)})") from None
    r, alpha, a, b = (float(fitter.params_[k]) for k in ("r", "alpha", "a", "b"))
    if not all(np.isfinite([r, alpha, a, b])):
        raise FitError("BG/NBD gave non-finite parameters")
    return BgNbdParams(r, alpha, a, b)


def fit_gamma_gamma(frequency, monetary, *, penalizer: float = 0.0) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters over fans with repeat purchases (x > 0, m > 0)."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    keep = (x > 0) & (m > 0)
    if keep.sum() < 3:
        raise FitError("Gamma-Gamma needs at least 3 fans with repeat purchases")
    from lifetimes import GammaGammaFitter
    from lifetimes.utils import ConvergenceError

    fitter = GammaGammaFitter(penalizer_coef=penalizer)
    try:
        with quiet():
            fitter.fit(x[keep], m[keep])
    except (ConvergenceError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        raise FitError(f"Gamma-Gamma did not converge ({first_line(exc)})") from None
    p, q, gamma = (float(fitter.params_[k]) for k in ("p", "q", "v"))
    if not all(np.isfinite([p, q, gamma])):
        raise FitError("Gamma-Gamma gave non-finite parameters")
    return GammaGammaParams(p, q, gamma)


def _bgnbd(params: BgNbdParams) -> BetaGeoFitter:
    import pandas as pd
    from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(params.as_dict(), index=["r", "alpha", "a", "b"])
    return fitter


def probability_alive(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T). A fan without a repeat purchase is alive with probability 1 under
    BG/NBD (dropout only follows a repeat purchase); his expected purchases still decay."""
    x, t_x, age = _fitter_args(frequency, recency, T)
    with np.errstate(all="ignore"):
        return np.asarray(_bgnbd(params).conditional_probability_alive(x, t_x, age), dtype=float)


def expected_purchases(params: BgNbdParams, t: float, frequency, recency, T) -> np.ndarray:
    """E[purchases in the next t days | x, t_x, T]."""
    x, t_x, age = _fitter_args(frequency, recency, T)
    with np.errstate(all="ignore"):
        out = _bgnbd(params).conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)
    return np.asarray(out, dtype=float)


def expected_value(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[value per purchase | x, m] (equation 5 of Fader & Hardie's note 025)."""
    x = np.asarray(frequency, dtype=float)
    m = np.nan_to_num(np.asarray(monetary, dtype=float))
    mean = params.mean_value
    if mean is None:
        raise FitError(f"Gamma-Gamma q = {params.q:.3f} <= 1: the mean value is infinite")
    weight = params.p * x / (params.p * x + params.q - 1)
    return (1 - weight) * mean + weight * m


# ---- the generative model, for validation ---------------------------------------------------
@dataclass(frozen=True)
class Simulated:
    """Per customer: calibration (x, t_x, T, mean repeat value m) and the holdout after T."""

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray
    holdout_purchases: np.ndarray
    holdout_value: np.ndarray


def simulate(
    rng: np.random.Generator,
    n: int,
    bg: BgNbdParams,
    gg: GammaGammaParams,
    T: np.ndarray | float,
    holdout: float = 0.0,
) -> Simulated:
    """Customers drawn from BG/NBD + Gamma-Gamma with known parameters, observed for T days
    after their first purchase and then for `holdout` more days. Vectorised:

    - lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); the number of repeat purchases he makes
      before dropping out is K ~ Geometric(p) on 1, 2, ...; purchases while alive are a Poisson
      process, so the count in (0, T] is N ~ Poisson(lambda T) and x = min(N, K); the time of the
      x-th is T times the x-th smallest of N uniforms, T * Beta(x, N - x + 1).
    - In the holdout the process goes on only if he is still alive (K > N), for K - N more
      purchases at most.
    - nu ~ Gamma(q, rate gamma); the mean of x values Gamma(p, rate nu) is Gamma(p x, rate nu x).
    """
    age = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    drop = rng.beta(bg.a, bg.b, n)
    k = rng.geometric(drop)
    n_free = rng.poisson(lam * age)
    x = np.minimum(n_free, k)
    t_x = np.zeros(n)
    has = x > 0
    t_x[has] = age[has] * rng.beta(x[has], n_free[has] - x[has] + 1)
    alive = k > n_free
    future = np.where(alive, np.minimum(rng.poisson(lam * holdout), k - n_free), 0)
    nu = rng.gamma(gg.q, 1.0 / gg.gamma, n)
    m = np.zeros(n)
    m[has] = rng.gamma(gg.p * x[has], 1.0 / (nu[has] * x[has]))
    value = np.zeros(n)
    buys = future > 0
    value[buys] = rng.gamma(gg.p * future[buys], 1.0 / nu[buys])
    return Simulated(x, t_x, age, m, future, value)
