"""The models' quantities computed from their definitions, with scipy and no `lifetimes`, for the
tests to compare the pipeline's answers with.

For a customer with rate lambda ~ Gamma(r, rate alpha) and dropout p ~ Beta(a, b):
E[lambda^x exp(-lambda s)] = Gamma(r + x) / Gamma(r) alpha^r / (alpha + s)^(r + x) and
E[p^j (1 - p)^k] = B(a + j, b + k) / B(a, b). His history (x, t_x, T) happened either with him
still alive at T or gone after his last purchase, and the likelihood is the sum of the two:
- MBG/NBD (a coin after the first purchase and after each repeat one):
  alive: (1 - p)^(x + 1) lambda^x e^(-lambda T); gone: p (1 - p)^x lambda^x e^(-lambda t_x).
- BG/NBD (a coin after each repeat purchase only):
  alive: (1 - p)^x lambda^x e^(-lambda T); gone (x > 0): p (1 - p)^(x - 1) lambda^x e^(-lambda t_x).
P(alive) is the alive term over the sum. Expected purchases in the next t days: alive, his
posterior is lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x + 1) (MBG/NBD), and with a coin
after each purchase he makes (1 - e^(-lambda p t)) / p of them on average (each purchase ends his
life with probability p, so he lives an Exponential(lambda p) time); integrating lambda gives
(1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p, and p is integrated numerically here.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, optimize
from scipy.special import betaln, gammaln


def _log_rate_term(r: float, alpha: float, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log E[lambda^x exp(-lambda s)]."""
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + s)


def _log_dropout_term(a: float, b: float, j: np.ndarray | int, k: np.ndarray) -> np.ndarray:
    """log E[p^j (1 - p)^k]."""
    return betaln(a + j, b + k) - betaln(a, b)


def _terms(model: str, r, alpha, a, b, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
    """(log alive term, log gone term) of each history; gone is -inf where impossible."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if model == "mbg_nbd":
        alive = _log_dropout_term(a, b, 0, x + 1) + _log_rate_term(r, alpha, x, T)
        gone = _log_dropout_term(a, b, 1, x) + _log_rate_term(r, alpha, x, t_x)
    else:
        alive = _log_dropout_term(a, b, 0, x) + _log_rate_term(r, alpha, x, T)
        with np.errstate(all="ignore"):
            gone = np.where(x > 0, _log_dropout_term(a, b, 1, x - 1)
                            + _log_rate_term(r, alpha, x, t_x), -np.inf)
    return alive, gone


def log_likelihood(model: str, params: tuple[float, float, float, float], x, t_x, T) -> float:
    """Total log-likelihood of the histories under `model` ("mbg_nbd" or "bg_nbd")."""
    alive, gone = _terms(model, *params, x, t_x, T)
    return float(np.logaddexp(alive, gone).sum())


def probability_alive(model: str, params, x, t_x, T) -> np.ndarray:
    alive, gone = _terms(model, *params, x, t_x, T)
    return np.exp(alive - np.logaddexp(alive, gone))


def expected_purchases_mbgnbd(params, t: float, x: int, t_x: float, T: float) -> float:
    """E[purchases in the next t days | x, t_x, T] under MBG/NBD, by quadrature over p."""
    r, alpha, a, b = params
    shape, scale = r + x, alpha + T

    def per_p(p: float) -> float:  # E over lambda of (1 - e^(-lambda p t)) / p, finite at p = 0
        return -np.expm1(-shape * np.log1p(p * t / scale)) / p if p > 0 else shape * t / scale

    # The Beta(a, b + x + 1) density as quad's algebraic weight p^(a-1) (1-p)^(b+x).
    area, _ = integrate.quad(per_p, 0, 1, weight="alg", wvar=(a - 1, b + x),
                             epsabs=0, epsrel=1e-10, limit=200)
    mean = area / np.exp(betaln(a, b + x + 1))
    return float(probability_alive("mbg_nbd", params, x, t_x, T) * mean)


def gamma_gamma_log_likelihood(params: tuple[float, float, float], x, m) -> float:
    """The density of the mean m of x values Gamma(p, rate nu), nu ~ Gamma(q, rate gamma):
    gamma^q x^(p x) m^(p x - 1) Gamma(p x + q) / (Gamma(p x) Gamma(q) (gamma + x m)^(p x + q))."""
    p, q, gamma = params
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    px = p * x
    return float((q * np.log(gamma) + px * np.log(x) + (px - 1) * np.log(m)
                  + gammaln(px + q) - gammaln(px) - gammaln(q)
                  - (px + q) * np.log(gamma + x * m)).sum())


def expected_value(params: tuple[float, float, float], x, m) -> np.ndarray:
    """E[p / nu | x, m]: the posterior of nu is Gamma(q + p x, rate gamma + x m)."""
    p, q, gamma = params
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return p * (gamma + x * m) / (q + p * x - 1)


def maximise(log_lik, start: tuple[float, ...]) -> np.ndarray:
    """The maximum of `log_lik(params)` over positive params, by Nelder-Mead on their logs (a
    different optimiser from the pipeline's, from a different start)."""
    found = optimize.minimize(lambda v: -log_lik(tuple(np.exp(v))), np.log(start),
                              method="Nelder-Mead",
                              options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000,
                                       "maxfev": 40_000})
    assert found.success, found.message
    return np.exp(found.x)
