"""Draw synthetic customer histories from the fitted models' generative stories (tests, benchmarks).

Purchases are generated per customer as a Poisson process over calibration + holdout and truncated at the
drop-out purchase; all customers are handled at once on flattened (ragged) arrays, no per-customer loop.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class SimulatedPurchases:
    x: FloatArray  # repeat purchases in (0, T]
    t_x: FloatArray
    T: FloatArray
    holdout: IntArray  # purchases in (T, T + holdout]
    alive: NDArray[np.bool_]  # truly alive at T
    lam: FloatArray
    p: FloatArray  # drop-out: probability after a purchase (BG/NBD, MBG/NBD), rate per time unit (Pareto/NBD)


def _rng(seed: np.random.Generator | int | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _simulate(
    n: int, params: tuple[float, float, float, float], T: ArrayLike, holdout: float, shift: int, seed: object
) -> SimulatedPurchases:
    r, alpha, a, b = params
    rng = _rng(seed)  # type: ignore[arg-type]
    Ta = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)  # beta draws can underflow to 0; geometric needs p > 0
    # Number of repeat purchases after which the customer drops out: >= 1 in BG/NBD, >= 0 in MBG/NBD.
    k_max = rng.geometric(p) - shift
    horizon = Ta + holdout
    n_arrivals = rng.poisson(lam * horizon)
    cust = np.repeat(np.arange(n), n_arrivals)
    times = rng.uniform(0.0, 1.0, cust.size) * horizon[cust]
    order = np.lexsort((times, cust))
    times = times[order]
    rank = np.arange(cust.size) - (np.cumsum(n_arrivals) - n_arrivals)[cust] + 1
    keep = rank <= k_max[cust]
    x, t_x, hold = _observe(cust[keep], times[keep], Ta)
    return SimulatedPurchases(x, t_x, Ta, hold, x < k_max, lam, p)


def _observe(cust: np.ndarray, times: np.ndarray, Ta: np.ndarray) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Repeat purchases (customer, time) split at each customer's T: the calibration summary (x, t_x)
    and the purchase count in the holdout after it."""
    n = Ta.size
    in_cal = times <= Ta[cust]
    x = np.bincount(cust[in_cal], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, cust[in_cal], times[in_cal])
    hold = np.bincount(cust[~in_cal], minlength=n).astype(np.int64)
    return x, t_x, hold


def simulate_bgnbd(
    n: int,
    params: tuple[float, float, float, float],
    T: ArrayLike,
    holdout: float = 0.0,
    seed: np.random.Generator | int | None = None,
) -> SimulatedPurchases:
    """n customers from BG/NBD(r, alpha, a, b), first purchase at 0, observed to T (scalar or per customer)."""
    return _simulate(n, params, T, holdout, 0, seed)


def simulate_mbgnbd(
    n: int,
    params: tuple[float, float, float, float],
    T: ArrayLike,
    holdout: float = 0.0,
    seed: np.random.Generator | int | None = None,
) -> SimulatedPurchases:
    """As simulate_bgnbd, but the customer may also drop out right after the first purchase."""
    return _simulate(n, params, T, holdout, 1, seed)


def simulate_paretonbd(
    n: int,
    params: tuple[float, float, float, float],
    T: ArrayLike,
    holdout: float = 0.0,
    seed: np.random.Generator | int | None = None,
) -> SimulatedPurchases:
    """n customers from Pareto/NBD(r, alpha, s, beta): purchases at rate lambda ~ Gamma(r, alpha) until an
    exponential lifetime with rate mu ~ Gamma(s, beta) ends; first purchase at 0, observed to T."""
    r, alpha, s, beta = params
    rng = _rng(seed)
    Ta = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0, n) / np.maximum(mu, 1e-300)
    horizon = np.minimum(Ta + holdout, lifetime)
    n_arrivals = rng.poisson(lam * horizon)
    cust = np.repeat(np.arange(n), n_arrivals)
    times = rng.uniform(0.0, 1.0, cust.size) * horizon[cust]
    x, t_x, hold = _observe(cust, times, Ta)
    return SimulatedPurchases(x, t_x, Ta, hold, lifetime > Ta, lam, mu)


def simulate_spend(
    x: ArrayLike, params: tuple[float, float, float], seed: np.random.Generator | int | None = None
) -> FloatArray:
    """Mean spend over x purchases under Gamma-Gamma(p, q, gamma); nan where x == 0.

    The mean of x Gamma(p, nu) values is Gamma(p x, nu x), so one draw per customer suffices.
    """
    p, q, g = params
    rng = _rng(seed)
    xa = np.asarray(x, dtype=float)
    nu = rng.gamma(q, 1.0 / g, xa.size)
    shape = np.where(xa > 0, p * xa, 1.0)
    m = rng.gamma(shape) / (np.maximum(xa, 1.0) * nu)
    return np.where(xa > 0, m, np.nan)
