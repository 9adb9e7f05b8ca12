"""v2 link models: which parent row each child row references (PLUREL_V2_SPEC §2 "Link", "HSBM sampling", "Self-tree").

A link is described by a spec (:class:`RandomLink`, :class:`HsbmLink`, :class:`TreeLink`) drawn
with the schema; :func:`sample_link` draws it for concrete table sizes through :data:`LINK_MODELS`
(name -> function), then applies the FK's nulls. Every function returns the int64 parent row per
child row (-1 = null) and a trace dict for the views. All draws are vectorized: HSBM draws one
inverse-CDF search per child cluster (a contiguous block of child rows), never per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from plurel_core.v2.ranges import IntegersRange, LogIntegersRange, LogRange, Range, _RangeBase

_TINY = np.finfo(np.float64).tiny
_HUGE = 1e300  # heavy Lomax draws (small alpha) are capped here so sums and logs stay finite
_CHUNK_CELLS = 1 << 20  # (parent clusters x child clusters) cells of log-affinity built at once


@dataclass(frozen=True)
class Lomax:
    """Lomax (Pareto II) law ``scale * rng.pareto(alpha)``, support from 0 (spec §2, [D])."""

    alpha: float
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.scale > 0):
            raise ValueError(f"Lomax: alpha={self.alpha} and scale={self.scale} must be positive")

    def sample(self, rng: np.random.Generator, size=None):
        return self.scale * rng.pareto(self.alpha, size)


Law = float | _RangeBase | Lomax  # a link parameter: a constant, a range (uniform draws) or a Lomax law


def draw_law(law: Law, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` float64 draws of ``law`` (a constant is repeated, no randomness used)."""
    if isinstance(law, (_RangeBase, Lomax)):
        return np.asarray(law.sample(rng, size), dtype=np.float64).reshape(size)
    return np.full(size, float(law))


def law_label(law: Law | None) -> str:
    """Short text of a law for views: 0.9, U(0.4, 0.95), Lomax(1, scale 0.01), None."""
    if law is None:
        return "None"
    if isinstance(law, Lomax):
        return f"Lomax({law.alpha:g})" if law.scale == 1 else f"Lomax({law.alpha:g}, scale {law.scale:g})"
    if isinstance(law, Range):
        return f"U({law.lo:g}, {law.hi:g})"
    if isinstance(law, _RangeBase):
        return f"{type(law).__name__}({law.lo:g}, {law.hi:g})"
    return f"{float(law):g}"


_RANGE_TYPES = {t.__name__: t for t in (Range, LogRange, IntegersRange, LogIntegersRange)}


def encode_law(law: Law | None) -> Any:
    """JSON form of a law: a number, None, {"type": "Range", "lo", "hi"} or {"type": "Lomax", ...}."""
    if isinstance(law, _RangeBase):
        ints = isinstance(law, (IntegersRange, LogIntegersRange))
        return {"type": type(law).__name__, "lo": int(law.lo) if ints else float(law.lo),
                "hi": int(law.hi) if ints else float(law.hi)}
    if isinstance(law, Lomax):
        return {"type": "Lomax", "alpha": float(law.alpha), "scale": float(law.scale)}
    return law


def decode_law(v: Any) -> Law | None:
    """Inverse of :func:`encode_law`."""
    if not isinstance(v, dict):
        return v
    if v.get("type") in _RANGE_TYPES:
        return _RANGE_TYPES[v["type"]](v["lo"], v["hi"])
    if v.get("type") == "Lomax":
        return Lomax(float(v["alpha"]), float(v.get("scale", 1.0)))
    raise ValueError(f"cannot decode a law from {v!r}")


@dataclass(frozen=True)
class RandomLink:
    """Uniform parent row."""

    model: ClassVar[str] = "random"


@dataclass(frozen=True)
class HsbmLink:
    """Hierarchical SBM with cluster shares, parent popularity and inactive parents (spec §2).

    ``parent_counts[l]`` / ``child_counts[l]``: clusters at level l (first level most significant).
    ``within``: affinity law of the matched cells; ``between``: of the others; ``cluster_weights``:
    law of the base-cluster shares (None: equal); ``popularity``: law of parent weights (None: 1);
    ``inactive``: share of parents given weight 0.
    """

    parent_counts: tuple[int, ...]
    child_counts: tuple[int, ...]
    within: Law = 0.9
    between: Law = Range(0.001, 0.002)
    cluster_weights: Lomax | None = None
    popularity: Lomax | None = None
    inactive: float = 0.0
    model: ClassVar[str] = "hsbm"

    def __post_init__(self) -> None:
        if len(self.parent_counts) != len(self.child_counts) or not self.parent_counts:
            raise ValueError("HsbmLink: one cluster count per level on both sides, at least one level")
        if min(self.parent_counts) < 1 or min(self.child_counts) < 1:
            raise ValueError("HsbmLink: at least one cluster per level")
        if not 0.0 <= self.inactive < 1.0:
            raise ValueError(f"HsbmLink: inactive={self.inactive} must be in [0, 1)")

    @property
    def levels(self) -> int:
        return len(self.parent_counts)


@dataclass(frozen=True)
class TreeLink:
    """Self-reference forest: parent(i) = floor(U i); root (null) with prob ``roots``; row 0 a root."""

    roots: float = 0.1
    model: ClassVar[str] = "tree"

    def __post_init__(self) -> None:
        if not 0.0 <= self.roots <= 1.0:
            raise ValueError(f"TreeLink: roots={self.roots} must be in [0, 1]")


LinkSpec = RandomLink | HsbmLink | TreeLink


def link_to_dict(spec: LinkSpec) -> dict[str, Any]:
    """JSON form of a link spec (for traces, digests and equality across runs)."""
    if isinstance(spec, HsbmLink):
        return {"model": spec.model, "parent_counts": list(spec.parent_counts),
                "child_counts": list(spec.child_counts), "within": encode_law(spec.within),
                "between": encode_law(spec.between), "cluster_weights": encode_law(spec.cluster_weights),
                "popularity": encode_law(spec.popularity), "inactive": float(spec.inactive)}
    if isinstance(spec, TreeLink):
        return {"model": spec.model, "roots": float(spec.roots)}
    return {"model": spec.model}


def link_from_dict(d: dict[str, Any]) -> LinkSpec:
    """Inverse of :func:`link_to_dict`."""
    if d["model"] == "hsbm":
        return HsbmLink(tuple(d["parent_counts"]), tuple(d["child_counts"]), decode_law(d["within"]),
                        decode_law(d["between"]), decode_law(d["cluster_weights"]),
                        decode_law(d["popularity"]), float(d["inactive"]))
    if d["model"] == "tree":
        return TreeLink(float(d["roots"]))
    if d["model"] == "random":
        return RandomLink()
    raise ValueError(f"unknown link model {d['model']!r}; allowed: {sorted(LINK_MODELS)}")


def _check_sizes(n_child: int, n_parent: int) -> None:
    if n_child < 0 or n_parent < 0:
        raise ValueError(f"link: table sizes must be non-negative, got {n_child} children, {n_parent} parents")
    if n_child and not n_parent:
        raise ValueError(f"link: {n_child} child rows but no parent row to reference")


def sample_random(spec: RandomLink, n_child: int, n_parent: int, rng: np.random.Generator):
    """RandomLink: each child row references a uniform parent row."""
    _check_sizes(n_child, n_parent)
    index = rng.integers(0, n_parent, n_child) if n_child else np.empty(0, np.int64)
    return index.astype(np.int64), {"model": "random"}


def cluster_bounds(n: int, k: int, shares: np.ndarray | None = None) -> np.ndarray:
    """End row (exclusive) of each of ``k`` base clusters over rows 0..n-1, in row order.

    Each cluster gets one row, the other n - k are split in proportion to ``shares`` by rounded
    cumulative sums (spec §2). UNSURE: with fewer rows than clusters (only possible with small
    row knobs) the first n clusters get one row each and the rest stay empty.
    """
    if n < k:
        return np.minimum(np.arange(1, k + 1), n).astype(np.int64)
    s = np.ones(k) if shares is None else np.clip(np.asarray(shares, dtype=np.float64), _TINY, _HUGE / (k + 1))
    cum = np.cumsum(s)
    return (np.round(cum / cum[-1] * (n - k)) + np.arange(1, k + 1)).astype(np.int64)


def cluster_digits(ids: np.ndarray, counts: tuple[int, ...]) -> np.ndarray:
    """(len(ids), levels) mixed-radix digits of base-cluster ids, first level most significant."""
    counts_a = np.asarray(counts, dtype=np.int64)
    strides = np.cumprod((1, *counts[:0:-1]))[::-1].astype(np.int64)
    return (np.asarray(ids, np.int64)[:, None] // strides[None, :]) % counts_a[None, :]


def affinity_matrices(spec: HsbmLink, rng: np.random.Generator) -> list[np.ndarray]:
    """Per level a P x C matrix of ``between`` draws, cells (i mod P, i mod C), i < max(P, C), set to ``within``."""
    mats = []
    for p, c in zip(spec.parent_counts, spec.child_counts):
        a = draw_law(spec.between, p * c, rng).reshape(p, c)
        i = np.arange(max(p, c))
        a[i % p, i % c] = draw_law(spec.within, len(i), rng)
        mats.append(np.clip(a, _TINY, _HUGE))  # a Lomax draw can underflow to 0: keep every cell positive
    return mats


def search_cdf(cdf: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cdf, t, side="right")`` for a non-decreasing ``cdf`` with ``cdf[-1] > 0``.

    Exact, and several times faster for many random targets: a guide table over 8 buckets per
    entry gives each target its answer by one gather, checked against the definition
    ``cdf[r-1] <= t < cdf[r]``; only the targets that fail (about 1 in 8) run a binary search.
    """
    m = len(cdf)
    if len(t) < 256 or m < 2:
        return np.searchsorted(cdf, t, side="right")
    buckets = 8 * m
    scale = buckets / cdf[-1]
    guide = np.searchsorted(cdf, np.arange(buckets) / scale, side="right")
    r = guide[np.minimum((t * scale).astype(np.int64), buckets - 1)]
    lo_ok = (r == 0) | (cdf[np.maximum(r - 1, 0)] <= t)
    hi_ok = (r == m) | (t < cdf[np.minimum(r, m - 1)])
    bad = np.nonzero(~(lo_ok & hi_ok))[0]
    if len(bad):
        r[bad] = np.searchsorted(cdf, t[bad], side="right")
    return r


def sample_hsbm(spec: HsbmLink, n_child: int, n_parent: int, rng: np.random.Generator):
    """HSBM v2: p(j | child labels c) ∝ w_j ∏_l A_l[p_l(j), c_l], drawn by inverse CDF.

    Both sides' base clusters are contiguous row ranges, so the CDF over parent rows (in row
    order) is piecewise: one searchsorted over the parent clusters' cumulative mass per child
    cluster, then one over the parents' cumulative weight, with the same uniform per child row.
    """
    _check_sizes(n_child, n_parent)
    kp = int(np.prod(spec.parent_counts))
    kc = int(np.prod(spec.child_counts))
    p_shares = None if spec.cluster_weights is None else draw_law(spec.cluster_weights, kp, rng)
    c_shares = None if spec.cluster_weights is None else draw_law(spec.cluster_weights, kc, rng)
    p_end = cluster_bounds(n_parent, kp, p_shares)
    c_end = cluster_bounds(n_child, kc, c_shares)
    mats = affinity_matrices(spec, rng)
    w = (np.ones(n_parent) if spec.popularity is None
         else np.clip(draw_law(spec.popularity, n_parent, rng), _TINY, _HUGE / (n_parent + 1)))
    n_inactive = min(int(round(n_parent * spec.inactive)), max(n_parent - 1, 0))  # UNSURE: >= 1 active parent kept
    inactive = np.sort(rng.permutation(n_parent)[:n_inactive]).astype(np.int64)
    w[inactive] = 0.0
    u = rng.random(n_child)

    p_start = np.concatenate([[0], p_end[:-1]])
    c_start = np.concatenate([[0], c_end[:-1]])
    p_occ = np.nonzero(p_end > p_start)[0]  # occupied parent clusters, ascending = row order
    c_occ = np.nonzero(c_end > c_start)[0]
    cw = np.concatenate([[0.0], np.cumsum(w)])
    mass = cw[p_end[p_occ]] - cw[p_start[p_occ]]  # total parent weight per occupied cluster
    with np.errstate(divide="ignore"):
        log_mass = np.log(mass)
    # Last row with positive weight per cluster: guards the upper end of each search against rounding.
    last_active = np.full(n_parent, -1, np.int64)
    pos = np.nonzero(w > 0)[0]
    last_active[pos] = pos
    last_active = np.maximum.accumulate(last_active) if n_parent else last_active
    log_a = [np.log(m) for m in mats]
    dp = cluster_digits(p_occ, spec.parent_counts)
    dc = cluster_digits(c_occ, spec.child_counts)

    index = np.empty(n_child, np.int64)
    step = max(1, _CHUNK_CELLS // max(len(p_occ), 1))
    for g0 in range(0, len(c_occ), step):
        cols = slice(g0, min(g0 + step, len(c_occ)))
        logits = np.repeat(log_mass[:, None], cols.stop - cols.start, axis=1)
        for lvl, la in enumerate(log_a):
            logits += la[dp[:, lvl][:, None], dc[cols, lvl][None, :]]
        logits -= logits.max(axis=0, keepdims=True)
        cmass = np.exp(logits)  # per (parent cluster, child cluster), relative to the column's max
        ccdf = np.cumsum(cmass, axis=0)
        ranks = np.arange(len(p_occ))[:, None]
        last_live = np.where(cmass > 0, ranks, -1).max(axis=0)  # last cluster each column can reach
        for g in range(cols.start, cols.stop):
            col = g - cols.start
            rows = slice(int(c_start[c_occ[g]]), int(c_end[c_occ[g]]))
            cdf = ccdf[:, col]
            target = u[rows] * cdf[-1]
            b = np.minimum(search_cdf(cdf, target), last_live[col])
            below = np.concatenate([[0.0], cdf])[b]
            frac = np.clip((target - below) / cmass[b, col], 0.0, 1.0)
            lo, hi = p_start[p_occ[b]], p_end[p_occ[b]]
            j = search_cdf(cw, cw[lo] + frac * mass[b]) - 1
            index[rows] = np.clip(j, lo, last_active[hi - 1])
    trace = {
        "model": "hsbm",
        "levels": spec.levels,
        "parent_counts": list(spec.parent_counts),
        "child_counts": list(spec.child_counts),
        "within": law_label(spec.within),
        "between": law_label(spec.between),
        "cluster_weights": law_label(spec.cluster_weights),
        "popularity": law_label(spec.popularity),
        "matrices": mats,
        "parent_cluster_sizes": np.diff(np.concatenate([[0], p_end])),
        "child_cluster_sizes": np.diff(np.concatenate([[0], c_end])),
        "inactive_share": spec.inactive,
        "inactive_parents": inactive,
        "parent_weights": w,  # popularity draw per parent row, 0 for the inactive ones
    }
    return index, trace


def tree_depth(parent: np.ndarray) -> np.ndarray:
    """Depth of every row of a forest given ``parent`` (-1 = root), by pointer jumping (vectorized)."""
    parent = np.asarray(parent, np.int64)
    depth = (parent >= 0).astype(np.int64)
    anc = parent.copy()
    while (anc >= 0).any():
        live = anc >= 0
        a = anc[live]
        depth[live] += depth[a]
        anc[live] = anc[a]
    return depth


def sample_tree(spec: TreeLink, n_child: int, n_parent: int, rng: np.random.Generator):
    """TreeLink: parent(i) = floor(U i) < i, null (a root) with prob ``roots``; row 0 always a root."""
    _check_sizes(n_child, n_parent)
    if n_child != n_parent:
        raise ValueError(f"TreeLink links a table to itself: {n_child} child rows but {n_parent} parent rows")
    index = np.floor(rng.random(n_child) * np.arange(n_child)).astype(np.int64)
    roots = rng.random(n_child) < spec.roots
    roots[:1] = True
    index[roots] = -1
    depth = tree_depth(index)
    trace = {"model": "tree", "roots_share": spec.roots, "n_roots": int(roots.sum()),
             "depth": int(depth.max()) if n_child else 0}
    return index, trace


LinkFn = Callable[[Any, int, int, np.random.Generator], tuple[np.ndarray, dict]]

LINK_MODELS: dict[str, LinkFn] = {
    "random": sample_random,
    "hsbm": sample_hsbm,
    "tree": sample_tree,
}


def apply_nulls(index: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Null (-1) where U < rate; no draw at all when the rate is 0 (a non-nullable FK)."""
    if rate <= 0:
        return index
    out = index.copy()
    out[rng.random(len(index)) < rate] = -1
    return out


def sample_link(
    spec: LinkSpec, n_child: int, n_parent: int, rng: np.random.Generator, null_rate: float = 0.0
) -> tuple[np.ndarray, dict]:
    """Parent row per child row (int64, -1 = null) for ``spec`` and its trace, nulls applied."""
    if spec.model not in LINK_MODELS:
        raise ValueError(f"unknown link model {spec.model!r}; allowed: {sorted(LINK_MODELS)}")
    if not 0.0 <= null_rate <= 1.0:
        raise ValueError(f"link: null_rate={null_rate} must be in [0, 1]")
    index, trace = LINK_MODELS[spec.model](spec, n_child, n_parent, rng)
    index = apply_nulls(index, null_rate, rng)
    trace["null_rate"] = float(null_rate)
    trace["null_share"] = float(np.mean(index < 0)) if len(index) else 0.0
    return index, trace
