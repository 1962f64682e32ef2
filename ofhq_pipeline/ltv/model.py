"""The purchase models (BG/NBD, MBG/NBD) and Gamma-Gamma: fitting (maximum likelihood, through
`lifetimes`) and prediction.

The models, time in days:
- Purchases while alive are a Poisson process of rate lambda ~ Gamma(shape r, rate alpha); at
  each chance to drop out a fan leaves for good with probability p ~ Beta(a, b).
  - BG/NBD (Fader, Hardie & Lee 2005): the chances follow each *repeat* purchase, so a fan who
    never bought again is alive with probability 1 however long his silence. Most buyers buy
    once, so it cannot see churn where most of it is.
  - MBG/NBD (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008), the one `fan_ltv` uses:
    one more chance right after the first purchase. A one-time buyer's P(alive) is
    1 / (1 + a/b ((alpha + T) / alpha)^r), which falls as his silence T grows. Same four
    parameters and closed forms as BG/NBD, and as cheap to fit (the Pareto/NBD would also let
    him leave, through a likelihood and predictions built on hypergeometric functions that are
    slower and less stable to maximise).
  From a fan's frequency x (repeat purchase days), recency t_x (day of his last purchase since
  his first) and age T (days since his first purchase) they give P(alive) and the expected
  number of purchases in the next t days.
- Gamma-Gamma (Fader & Hardie 2013): the value of each of his purchases is Gamma(shape p, rate
  nu), with nu ~ Gamma(shape q, rate gamma) across fans, independent of the purchase process.
  From his mean repeat purchase value m over x purchases it gives his expected value per
  purchase, (p gamma + p x m) / (p x + q - 1): between the population mean p gamma / (q - 1)
  and m.

Fitting is `lifetimes.BetaGeoFitter` / `ModifiedBetaGeoFitter` / `GammaGammaFitter` (scipy's
optimiser on the exact log-likelihoods, autograd gradients); everything around them is numpy.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

if TYPE_CHECKING:  # `lifetimes` (with scipy and pandas) is imported when a model is fitted or used
    from lifetimes import BetaGeoFitter

LIBRARY = "lifetimes 0.11.3"
# Errors by which lifetimes and scipy say the likelihood could not be maximised.
_NUMERIC_ERRORS = (np.linalg.LinAlgError, ValueError, FloatingPointError)


class FitError(Exception):
    """The likelihood could not be maximised (too little data, or no convergence)."""


@dataclass(frozen=True)
class PurchaseParams:
    """r, alpha (purchase rates) and a, b (dropout): the class says which model they belong to,
    so a prediction can never use one model's parameters in the other's formulas."""

    r: float
    alpha: float
    a: float
    b: float
    label: ClassVar[str]
    fitter: ClassVar[str]  # the lifetimes class that fits and predicts this model

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class BgNbdParams(PurchaseParams):
    label = "BG/NBD"
    fitter = "BetaGeoFitter"


class MbgNbdParams(PurchaseParams):
    label = "MBG/NBD"
    fitter = "ModifiedBetaGeoFitter"


P = TypeVar("P", bound=PurchaseParams)


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


def _fit_purchases(kind: type[P], frequency, recency, T, penalizer: float) -> P:
    x, t_x, age = _fitter_args(frequency, recency, T)
    # Without a repeat purchase the rates (r, alpha) and the dropout (a, b) cannot be told apart.
    if x.size < 2 or not np.any(x > 0):
        raise FitError(f"{kind.label} needs fans with repeat purchases")
    # Identical (x, t_x, T) histories are one pattern with a weight: same likelihood, less work.
    patterns, weights = np.unique(np.stack([x, t_x, age], axis=1), axis=0, return_counts=True)
    import lifetimes
    from lifetimes.utils import ConvergenceError

    fitter = getattr(lifetimes, kind.fitter)(penalizer_coef=penalizer)
    try:
        with quiet():
            fitter.fit(patterns[:, 0], patterns[:, 1], patterns[:, 2], weights=weights)
    except (ConvergenceError, *_NUMERIC_ERRORS) as exc:
        raise FitError(f"{kind.label} did not converge ({first_line(exc)})") from None
    r, alpha, a, b = (float(fitter.params_[k]) for k in ("r", "alpha", "a", "b"))
    if not all(np.isfinite([r, alpha, a, b])):
        raise FitError(f"{kind.label} gave non-finite parameters")
    return kind(r, alpha, a, b)


def fit_mbgnbd(frequency, recency, T, *, penalizer: float = 0.0) -> MbgNbdParams:
    """Maximum-likelihood MBG/NBD parameters (the model of `fan_ltv`); FitError when it cannot
    converge."""
    return _fit_purchases(MbgNbdParams, frequency, recency, T, penalizer)


def fit_bgnbd(frequency, recency, T, *, penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters; FitError when it cannot converge. Kept beside the
    MBG/NBD (it shares the fitting path, and its published CDNOW figures check that path)."""
    return _fit_purchases(BgNbdParams, frequency, recency, T, penalizer)


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
    except (ConvergenceError, *_NUMERIC_ERRORS) as exc:
        raise FitError(f"Gamma-Gamma did not converge ({first_line(exc)})") from None
    p, q, gamma = (float(fitter.params_[k]) for k in ("p", "q", "v"))
    if not all(np.isfinite([p, q, gamma])):
        raise FitError("Gamma-Gamma gave non-finite parameters")
    return GammaGammaParams(p, q, gamma)


def _fitter(params: PurchaseParams) -> BetaGeoFitter:
    """The lifetimes fitter of the params' model, set to them (ModifiedBetaGeoFitter subclasses
    BetaGeoFitter and overrides the formulas)."""
    import lifetimes
    import pandas as pd

    fitter = getattr(lifetimes, params.fitter)()
    fitter.params_ = pd.Series(params.as_dict(), index=["r", "alpha", "a", "b"])
    return fitter


def probability_alive(params: PurchaseParams, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T). Under MBG/NBD a one-time buyer's falls with his silence (from
    b / (a + b) on the day of his purchase); under BG/NBD it is 1 whatever the silence."""
    x, t_x, age = _fitter_args(frequency, recency, T)
    with np.errstate(all="ignore"):
        alive = _fitter(params).conditional_probability_alive(x, t_x, age)
    return np.asarray(alive, dtype=float).reshape(x.shape)


def expected_purchases(params: PurchaseParams, t: float, frequency, recency, T) -> np.ndarray:
    """E[purchases in the next t days | x, t_x, T]."""
    x, t_x, age = _fitter_args(frequency, recency, T)
    with np.errstate(all="ignore"):
        out = _fitter(params).conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age)
    return np.asarray(out, dtype=float).reshape(x.shape)


def expected_value(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[value per purchase | x, m] (equation 5 of Fader & Hardie's note 025)."""
    x = np.asarray(frequency, dtype=float)
    m = np.nan_to_num(np.asarray(monetary, dtype=float))
    mean = params.mean_value
    if mean is None:
        raise FitError(f"Gamma-Gamma q = {params.q:.3f} <= 1: the mean value is infinite")
    weight = params.p * x / (params.p * x + params.q - 1)
    return (1 - weight) * mean + weight * m
