"""v2 columns: how a node's latent becomes an observed column (PLUREL_V2_SPEC §3 item 12).

- A categorical node's one-hot value -> pandas category of strings ``c0..c{k-1}`` (argmax);
  an all-zero row (a null foreign key copied through) is missing.
- A numeric slot is either binned (prob ``column_binned_share``: k bins with Dirichlet shares,
  "normal" edges Phi^-1(cumsum p) or "empirical" edges at the latent's own quantiles) or given a
  marginal by rank mapping (:data:`MARGINALS`): the sorted marginal draws are read at the latent's
  ranks, so the column keeps the latent's order and takes the marginal's distribution.
- Missingness: MCAR (``rng.random(n) < rate``) or structured, masked where the indicator node
  (:func:`plurel_core.v2.nodes.draw_indicator`) fires class 1.

NaNs in a latent are kept as missing values everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from plurel_core.v2.edges import normal_bin_edges


def _zero_inflated(zero_share: float):
    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return np.where(rng.random(n) < zero_share, 0.0, rng.exponential(1.0, n))

    return sample


def _outliers(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(n) < 0.97, rng.normal(0.0, 1.0, n), rng.normal(0.0, 8.0, n))


# --- marginals (§3 item 12): name -> f(m, rng) -> m draws; "none" keeps the latent as it is
MARGINALS: dict[str, Callable[[int, np.random.Generator], np.ndarray] | None] = {
    "none": None,
    "normal": lambda m, rng: rng.normal(0.0, 1.0, m),
    "uniform": lambda m, rng: rng.random(m),
    "lognormal": lambda m, rng: rng.lognormal(0.0, 1.0, m),
    "lomax": lambda m, rng: rng.pareto(2.0, m),  # Lomax(2), support from 0
    "exponential": lambda m, rng: rng.exponential(1.0, m),
    "zero_inflated_30": _zero_inflated(0.3),  # .3 * 0 + .7 * Exp(1)
    "zero_inflated_70": _zero_inflated(0.7),  # .7 * 0 + .3 * Exp(1)
    "outliers": _outliers,  # .97 N(0, 1) + .03 N(0, 8^2)
}
MARGINAL_NAMES = tuple(MARGINALS)
MARGINAL_WEIGHTS = (3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5)  # the authors' defaults, in that order
MARGINAL_LABELS = {
    "none": "raw latent", "normal": "N(0, 1)", "uniform": "U(0, 1)", "lognormal": "LogNormal(0, 1)",
    "lomax": "Lomax(2)", "exponential": "Exp(1)", "zero_inflated_30": ".3·0 + .7·Exp(1)",
    "zero_inflated_70": ".7·0 + .3·Exp(1)", "outliers": ".97 N(0, 1) + .03 N(0, 8²)",
}
BINNINGS = ("normal", "empirical")
MISSING_KINDS = ("none", "random", "structured")


def category_labels(k: int) -> list[str]:
    """``c0 .. c{k-1}``."""
    return [f"c{j}" for j in range(k)]


def rank_map(latent: np.ndarray, sampler: Callable[[int, np.random.Generator], np.ndarray],
             rng: np.random.Generator) -> np.ndarray:
    """Rank mapping: m = #non-NaN values, ``sort(sampler(m))[searchsorted(sort(latent), latent)]``.

    Ties in the latent share a value; NaNs stay NaN. The result is a non-decreasing function of
    the latent whose values are the marginal's m draws (exactly, when the latent has no ties).
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 1:
        raise ValueError(f"rank_map: expected a 1-D latent, got shape {latent.shape}")
    ok = ~np.isnan(latent)
    values = latent[ok]
    reference = np.sort(np.asarray(sampler(len(values), rng), dtype=np.float64))
    out = np.full(latent.shape, np.nan)
    out[ok] = reference[np.searchsorted(np.sort(values), values)]
    return out


def apply_marginal(latent: np.ndarray, marginal: str, rng: np.random.Generator) -> np.ndarray:
    """The column for ``latent`` (1-D) under ``marginal`` (a :data:`MARGINALS` name)."""
    if marginal not in MARGINALS:
        raise ValueError(f"marginal: {marginal!r} is not one of {MARGINAL_NAMES}")
    sampler = MARGINALS[marginal]
    latent = np.asarray(latent, dtype=np.float64)
    return latent.copy() if sampler is None else rank_map(latent, sampler, rng)


@dataclass(frozen=True, eq=False)
class Binning:
    """k bins with shares ``probabilities`` and edges ``method`` ("normal" or "empirical")."""

    probabilities: np.ndarray
    method: str = "normal"

    def __post_init__(self) -> None:
        p = np.asarray(self.probabilities, dtype=np.float64)
        if p.ndim != 1 or len(p) < 2 or (p < 0).any() or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"probabilities: expected >= 2 non-negative shares summing to 1, got {p}")
        if self.method not in BINNINGS:
            raise ValueError(f"method: {self.method!r} is not one of {BINNINGS}")
        object.__setattr__(self, "probabilities", p)

    @property
    def k(self) -> int:
        return len(self.probabilities)

    def edges(self, latent: np.ndarray) -> np.ndarray:
        """The k - 1 ascending bin edges for this latent."""
        if self.method == "normal":
            return normal_bin_edges(self.probabilities)
        values = latent[~np.isnan(latent)]
        cuts = np.clip(np.cumsum(self.probabilities)[:-1], 0.0, 1.0)
        return np.quantile(values, cuts) if len(values) else np.zeros(len(cuts))

    def codes(self, latent: np.ndarray) -> np.ndarray:
        """Bin index 0..k-1 per row (-1 where the latent is NaN): ``digitize(latent, edges)``."""
        latent = np.asarray(latent, dtype=np.float64)
        codes = np.digitize(latent, self.edges(latent)).astype(np.int64)
        codes[np.isnan(latent)] = -1
        return codes

    @property
    def params(self) -> dict:
        return {"k": self.k, "probabilities": self.probabilities, "method": self.method}


def draw_binning(prior, rng: np.random.Generator) -> Binning:
    """k ~ ``column_bin_count``, p ~ Dir(1), edges uniform over ``column_binning`` (warped weights)."""
    k = int(prior.column_bin_count.sample(rng))
    p = rng.dirichlet(np.ones(k))
    return Binning(p, prior.column_binning.sample(rng))


def codes_to_category(codes: np.ndarray, k: int) -> pd.Categorical:
    """int codes (-1 = missing) -> pandas category with categories ``c0..c{k-1}``."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=category_labels(k))


def binned_column(latent: np.ndarray, binning: Binning) -> pd.Categorical:
    return codes_to_category(binning.codes(latent), binning.k)


def categorical_codes(onehot: np.ndarray) -> np.ndarray:
    """argmax per row of a one-hot value; -1 where the row is all zero or has a NaN."""
    onehot = np.asarray(onehot, dtype=np.float64)
    if onehot.ndim != 2 or onehot.shape[1] < 2:
        raise ValueError(f"categorical_codes: expected (n, k >= 2), got {onehot.shape}")
    codes = np.nan_to_num(onehot, nan=0.0).argmax(1).astype(np.int64)
    codes[~(onehot != 0).any(1) | np.isnan(onehot).any(1)] = -1
    return codes


def categorical_column(onehot: np.ndarray) -> pd.Categorical:
    """A categorical node's value -> category of ``c0..c{k-1}`` (all-zero rows missing)."""
    return codes_to_category(categorical_codes(onehot), onehot.shape[1])


def mcar_mask(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Missing completely at random: each row with prob ``rate``."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: {rate} must be in [0, 1)")
    return rng.random(n) < rate


def structured_mask(indicator: np.ndarray) -> np.ndarray:
    """Rows where the indicator node (one-hot, 2 classes) fires class 1."""
    indicator = np.asarray(indicator)
    if indicator.ndim != 2 or indicator.shape[1] != 2:
        raise ValueError(f"structured_mask: expected the indicator's (n, 2) one-hot value, got {indicator.shape}")
    return indicator[:, 1] > 0.5


def with_missing(values, mask: np.ndarray):
    """``values`` (float array or pandas Categorical) with the rows of ``mask`` missing (a copy)."""
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != len(values):
        raise ValueError(f"with_missing: {len(values)} values but a mask of {len(mask)}")
    if isinstance(values, pd.Categorical):
        codes = values.codes.copy()
        codes[mask] = -1
        return pd.Categorical.from_codes(codes, dtype=values.dtype)
    out = np.array(values, dtype=np.float64)
    out[mask] = np.nan
    return out


@dataclass(frozen=True, eq=False)
class ColumnPlan:
    """One observed column ``col{c}`` (§3 item 12): which node, what it becomes, its missingness.

    ``kind``: "categorical" (a categorical node), "binned" or "numeric" (a slot of a numeric node).
    ``missing``: "none", "random" (MCAR at ``missing_rate``) or "structured" (the indicator node
    named ``indicator`` decides; ``missing_rate`` is its target rate).
    """

    node: int
    kind: str
    slot: int | None = None
    k: int | None = None
    binning: Binning | None = None
    marginal: str | None = None
    missing: str = "none"
    missing_rate: float = 0.0
    indicator: str | None = None

    @property
    def params(self) -> dict:
        out = {"node": self.node, "kind": self.kind, "slot": self.slot, "missing": self.missing,
               "missing_rate": self.missing_rate, "indicator": self.indicator}
        if self.kind == "numeric":
            out.update(marginal=self.marginal, marginal_law=MARGINAL_LABELS[self.marginal])
        if self.binning is not None:
            out.update(binning=self.binning.params)
        if self.k is not None:
            out["k"] = self.k
        return out


def draw_missing(prior, rng: np.random.Generator) -> tuple[str, float]:
    """("none", 0) or, with prob ``column_missing_share``, a rate ~ ``column_missing_rate`` that is
    "structured" with prob ``column_missing_structured_share``, else "random". The caller builds
    the indicator node (:func:`plurel_core.v2.nodes.draw_indicator`) for a structured column."""
    if not rng.random() < prior.column_missing_share:
        return "none", 0.0
    rate = float(prior.column_missing_rate.sample(rng))
    return ("structured" if rng.random() < prior.column_missing_structured_share else "random"), rate


def draw_column(node: int, dim: int, categorical: bool, prior, rng: np.random.Generator, *,
                missing: str = "none", missing_rate: float = 0.0, indicator: str | None = None) -> ColumnPlan:
    """The column plan on ``node`` (width ``dim``): categorical nodes give their classes; numeric
    nodes a slot ~ U{dims}, binned with prob ``column_binned_share``, else a marginal from
    ``column_marginals``."""
    if missing not in MISSING_KINDS:
        raise ValueError(f"missing: {missing!r} is not one of {MISSING_KINDS}")
    if missing == "structured" and indicator is None:
        raise ValueError("indicator: a structured-missing column needs its indicator node")
    extra = {"missing": missing, "missing_rate": float(missing_rate), "indicator": indicator}
    if categorical:
        return ColumnPlan(node, "categorical", k=dim, **extra)
    slot = int(rng.integers(dim))
    if rng.random() < prior.column_binned_share:
        binning = draw_binning(prior, rng)
        return ColumnPlan(node, "binned", slot, binning.k, binning, **extra)
    return ColumnPlan(node, "numeric", slot, marginal=prior.column_marginals.sample(rng), **extra)


def observe_column(plan: ColumnPlan, latent: np.ndarray, rng: np.random.Generator,
                   indicator: np.ndarray | None = None):
    """The column's values from its node's latent (n, dim): a float64 array for a numeric column,
    a pandas Categorical otherwise, with its missingness applied (``indicator``: the indicator
    node's value, for a structured column)."""
    latent = np.asarray(latent, dtype=np.float64)
    if plan.kind == "categorical":
        values = categorical_column(latent)
    elif plan.kind == "binned":
        values = binned_column(latent[:, plan.slot], plan.binning)
    else:
        values = apply_marginal(latent[:, plan.slot], plan.marginal, rng)
    if plan.missing == "random":
        return with_missing(values, mcar_mask(len(latent), plan.missing_rate, rng))
    if plan.missing == "structured":
        if indicator is None:
            raise ValueError(f"observe_column: column on node {plan.node} needs its indicator's value")
        return with_missing(values, structured_mask(indicator))
    return values
