"""The v2 design space's priors as sampling laws, and their per-table warping (PLUREL_V2_SPEC §4).

A v2 prior is a range (:class:`Range`, :class:`LogRange`, :class:`IntegersRange`,
:class:`LogIntegersRange`) or a weighted choice (:class:`Choices`). Every draw starts from one
``u`` in [0, 1): uniform for a plain prior, ``Beta(m kappa, (1 - m) kappa)`` for a warped one. A
table warps every prior of its ``TablePrior`` once (:func:`warp`), before anything of it is
built, and the warped prior then serves every draw in that table: a large ``kappa`` makes the
table's draws concentrate near ``m`` (a "personality" per table), a small one spreads them out.

    >>> rng = np.random.default_rng(0)
    >>> r = IntegersRange(3, 12)
    >>> 3 <= r.sample(rng) <= 12
    True
    >>> w = r.warped(rng)          # one table's version of the prior
    >>> all(3 <= w.sample(rng) <= 12 for _ in range(5))
    True
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

KAPPA = (0.1, 1e4)  # warp concentration kappa ~ LogRange(0.1, 1e4)
_TWO_53 = 2**53


@dataclass(frozen=True)
class _Warp:
    """Beta(m kappa, (1 - m) kappa) in place of U(0, 1)."""

    m: float
    kappa: float

    def u(self, rng: np.random.Generator, size=None):
        a, b = self.m * self.kappa, (1.0 - self.m) * self.kappa
        return rng.beta(a, b, size)


def draw_warp(rng: np.random.Generator, kappa: tuple[float, float] = KAPPA) -> _Warp:
    """m = k / 2^53 with k uniform in [1, 2^53) (so 0 < m < 1), kappa log-uniform on ``kappa``."""
    k = int(rng.integers(1, _TWO_53))
    lo, hi = kappa
    return _Warp(m=k / _TWO_53, kappa=float(lo * (hi / lo) ** rng.random()))


@dataclass(frozen=True)
class _RangeBase(ABC):
    lo: float
    hi: float
    warp: _Warp | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.lo <= self.hi:
            raise ValueError(f"{type(self).__name__}: lo={self.lo} is greater than hi={self.hi}")

    def u(self, rng: np.random.Generator, size=None):
        return rng.random(size) if self.warp is None else self.warp.u(rng, size)

    def sample(self, rng: np.random.Generator, size=None):
        return self.from_u(self.u(rng, size))

    def warped(self, rng: np.random.Generator, kappa: tuple[float, float] = KAPPA):
        """This prior as one table sees it: ``u`` drawn from a Beta fixed now."""
        return replace(self, warp=draw_warp(rng, kappa))

    @abstractmethod
    def from_u(self, u):
        """The value (or array of values) that ``u`` in [0, 1) maps to."""


@dataclass(frozen=True)
class Range(_RangeBase):
    """Uniform float on [lo, hi]: lo + (hi - lo) u."""

    def from_u(self, u):
        x = self.lo + (self.hi - self.lo) * np.asarray(u, dtype=np.float64)
        return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True)
class LogRange(_RangeBase):
    """Log-uniform float on [lo, hi]: lo (hi / lo)^u (lo > 0)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lo <= 0:
            raise ValueError(f"LogRange: lo={self.lo} must be positive")

    def from_u(self, u):
        x = self.lo * (self.hi / self.lo) ** np.asarray(u, dtype=np.float64)
        return float(x) if np.ndim(x) == 0 else x


@dataclass(frozen=True)
class IntegersRange(_RangeBase):
    """Uniform integer on {lo..hi}: min(floor(lo + (hi + 1 - lo) u), hi)."""

    def from_u(self, u):
        x = np.minimum(np.floor(self.lo + (self.hi + 1 - self.lo) * np.asarray(u, dtype=np.float64)), self.hi)
        return int(x) if np.ndim(x) == 0 else x.astype(np.int64)


@dataclass(frozen=True)
class LogIntegersRange(_RangeBase):
    """Log-uniform integer on {lo..hi}: min(floor(lo ((hi + 1) / lo)^u), hi) (lo >= 1)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lo < 1:
            raise ValueError(f"LogIntegersRange: lo={self.lo} must be at least 1")

    def from_u(self, u):
        x = np.minimum(np.floor(self.lo * ((self.hi + 1) / self.lo) ** np.asarray(u, dtype=np.float64)), self.hi)
        return int(x) if np.ndim(x) == 0 else x.astype(np.int64)


@dataclass(frozen=True)
class Choices:
    """A weighted choice among ``options`` (weights need not sum to 1; uniform when omitted).

    Warping multiplies the weights by a Dirichlet(kappa 1) draw; :meth:`among` filters the
    options (e.g. the edge families that fit an edge) and renormalises what is left.
    """

    options: tuple
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("Choices: at least one option is needed")
        weights = tuple(float(w) for w in self.weights) or (1.0,) * len(self.options)
        if len(weights) != len(self.options):
            raise ValueError(f"Choices: {len(self.options)} options but {len(weights)} weights")
        if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
            raise ValueError(f"Choices: weights must be non-negative with a positive sum, got {weights}")
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "weights", weights)

    @property
    def probabilities(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()

    def sample(self, rng: np.random.Generator) -> Any:
        cdf = np.cumsum(self.probabilities)
        return self.options[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(self.options) - 1)]

    def among(self, allowed: Sequence) -> Choices:
        """The options that are also in ``allowed`` (weights kept, renormalised on sampling)."""
        keep = [(o, w) for o, w in zip(self.options, self.weights) if o in allowed and w > 0]
        if not keep:
            raise ValueError(f"Choices: none of {list(self.options)} is allowed here ({list(allowed)})")
        return Choices(tuple(o for o, _ in keep), tuple(w for _, w in keep))

    def warped(self, rng: np.random.Generator, kappa: tuple[float, float] = KAPPA) -> Choices:
        """w <- w * Dirichlet(kappa 1), kappa log-uniform on ``kappa``."""
        lo, hi = kappa
        k = float(lo * (hi / lo) ** rng.random())
        d = rng.dirichlet(np.full(len(self.options), k))
        w = np.asarray(self.weights) * d
        if not w.sum() > 0:  # every weight underflowed (tiny kappa): keep the largest share
            w = np.zeros_like(d)
            w[int(np.argmax(d * np.asarray(self.weights)))] = 1.0
        return Choices(self.options, tuple(float(x) for x in w))


Prior = _RangeBase | Choices


def warp(priors: dict[str, Any], rng: np.random.Generator, kappa: tuple[float, float] = KAPPA) -> dict[str, Any]:
    """Every range and choice of ``priors`` warped, in the dict's (declaration) order; other values kept."""
    return {name: (p.warped(rng, kappa) if isinstance(p, (_RangeBase, Choices)) else p) for name, p in priors.items()}
