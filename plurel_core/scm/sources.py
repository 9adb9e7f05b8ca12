"""Source laws of SCM nodes with no parents: ts (trend + cycle + AR(1)), uniform, gaussian, beta, mixed.

Each law draws its parameters from the SCM priors and returns the values of all rows at once.
The AR(1) noise is a linear filter over the unclipped state; the value used is its clipped copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plurel_core.random import pick

SOURCE_LAWS = ("ts", "uniform", "gaussian", "beta", "mixed")
_MIXED_PARTS = ("uniform", "gaussian", "beta")


@dataclass
class SourceDraw:
    values: np.ndarray
    params: dict[str, Any]
    components: dict[str, np.ndarray] = field(default_factory=dict)


AR_BLOCK = 64


def ar1_filter(shocks: np.ndarray, rho: float) -> np.ndarray:
    """The AR(1) state e_t = rho * e_{t-1} + shocks_t (e_{-1} = 0) as a blocked linear filter.

    Within blocks of 64 rows the recursion is a product with the lower-triangular matrix of
    powers of rho (all <= 1, no overflow); a short scalar loop carries the state across blocks.
    """
    n = len(shocks)
    if n == 0 or rho == 0.0:
        return shocks.astype(np.float64, copy=True)
    b = AR_BLOCK
    blocks = -(-n // b)
    padded = np.zeros(blocks * b)
    padded[:n] = shocks
    lags = np.arange(b)
    powers = rho ** lags.astype(np.float64)
    lower = np.where(lags[:, None] >= lags[None, :], powers[np.abs(lags[:, None] - lags[None, :])], 0.0)
    within = padded.reshape(blocks, b) @ lower.T  # zero initial state in every block
    carry = np.empty(blocks)
    state, decay = 0.0, rho**b
    for k in range(blocks):
        carry[k] = state
        state = within[k, -1] + decay * state
    out = within + carry[:, None] * (rho * powers)[None, :]
    return out.ravel()[:n]


def _bounds(sp, rng: np.random.Generator) -> tuple[float, float, float]:
    scale = float(pick(rng, sp.source_scales))
    lo, hi = np.sort(rng.uniform(size=2) * scale)
    return float(lo), float(hi), scale


def ts_signal(sp, n: int, activity: bool, rng: np.random.Generator) -> SourceDraw:
    lo, hi, scale = _bounds(sp, rng)
    a = sp.ts_trend_exponent.sample(rng)
    if activity:
        s_t = float(rng.choice([-1.0, 1.0]))
        s_c = float(rng.choice([-1.0, 1.0]))
        sigma = sp.ts_activity_noise
    else:
        s_t = s_c = 0.0
        sigma = sp.ts_entity_noise
    f = int(np.ceil(n * float(pick(rng, sp.ts_period_fractions))))
    rho = sp.ts_ar_rho.sample(rng)
    t = np.arange(n, dtype=np.float64)
    trend = np.minimum(s_t * (t / max(n, 1)) ** a + lo, hi)
    cycle = np.clip(s_c * np.sin(np.pi * t / max(f, 1)), lo, hi)
    state = ar1_filter(sigma * rng.standard_normal(n), rho)
    noise = np.clip(state, lo, hi)
    signal = (trend + cycle + noise) / 3.0
    params = {"law": "ts", "lo": lo, "hi": hi, "scale": scale, "trend_exponent": a, "trend_sign": s_t,
              "cycle_sign": s_c, "period": f, "ar_rho": rho, "noise_sigma": sigma}
    return SourceDraw(signal, params, {"trend": trend, "cycle": cycle, "noise": noise, "signal": signal})


def _uniform(sp, n, rng):
    lo, hi, scale = _bounds(sp, rng)
    return rng.uniform(lo, hi, n), {"law": "uniform", "lo": lo, "hi": hi, "scale": scale}


def _gaussian(sp, n, rng):
    lo, hi, scale = _bounds(sp, rng)
    mean, sd = (lo + hi) / 2.0, max((hi - lo) / 4.0, 1e-6)
    values = np.clip(rng.normal(mean, sd, n), lo, hi)
    return values, {"law": "gaussian", "lo": lo, "hi": hi, "scale": scale, "mean": mean, "sd": sd}


def _beta(sp, n, rng):
    lo, hi, scale = _bounds(sp, rng)
    a, b = sp.source_beta_ab.sample(rng), sp.source_beta_ab.sample(rng)
    return lo + (hi - lo) * rng.beta(a, b, n), {"law": "beta", "lo": lo, "hi": hi, "scale": scale, "alpha": a, "beta": b}


_SIMPLE = {"uniform": _uniform, "gaussian": _gaussian, "beta": _beta}


def numerical_source(sp, law: str, n: int, activity: bool, rng: np.random.Generator) -> SourceDraw:
    if law == "ts":
        return ts_signal(sp, n, activity, rng)
    if law in _SIMPLE:
        values, params = _SIMPLE[law](sp, n, rng)
        return SourceDraw(values, params)
    if law == "mixed":
        parts = [str(p) for p in rng.choice(_MIXED_PARTS, size=int(rng.integers(2, 4)))]
        draws = [_SIMPLE[p](sp, n, rng) for p in parts]
        which = rng.integers(0, len(parts), n)
        values = np.choose(which, [d[0] for d in draws])
        return SourceDraw(values, {"law": "mixed", "parts": [d[1] for d in draws]})
    raise ValueError(f"unknown source law {law!r}; allowed: {SOURCE_LAWS}")


def categorical_source(sp, law: str, n: int, k: int, activity: bool, rng: np.random.Generator) -> SourceDraw:
    """ts: one signal per category, the category drawn from their softmax per row; else Dirichlet(1) i.i.d."""
    if law == "ts":
        signals = [ts_signal(sp, n, activity, rng) for _ in range(k)]
        logits = np.stack([s.values for s in signals], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        cdf = np.cumsum(p, axis=1)
        u = rng.random(n) * cdf[:, -1]
        labels = np.minimum((cdf < u[:, None]).sum(axis=1), k - 1).astype(np.int64)
        first = signals[0]
        return SourceDraw(labels, {"law": "ts", "categories": k, "per_category": [s.params for s in signals]},
                          first.components)
    probs = rng.dirichlet(np.ones(k))
    labels = np.minimum(np.searchsorted(np.cumsum(probs), rng.random(n), side="right"), k - 1).astype(np.int64)
    return SourceDraw(labels, {"law": law, "categories": k, "probabilities": probs.round(4).tolist(), "iid": True})
