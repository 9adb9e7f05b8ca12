"""v2 nodes: how one node of a table's SCM is drawn and evaluated (PLUREL_V2_SPEC §3 items 3-9, 11).

A node is a :class:`NodeSpec`: its edges (one per local parent, in parent order), reduction,
bias, noise law and flags. :func:`evaluate_node` computes its value ``(n, dim)`` from its
parents' values and the summed output of its crossing edges (``across``):

    s = reduce(edges) + across;  s = zscore(s) if standardized;  v = s + noise + bias;
    one-hot nodes emit eye[argmax v].

Kinds: ``root`` (numeric, no local parent: raw noise from :data:`ROOT_NOISES` or a
:class:`TimeSeries`, plus the standardized crossing signal), ``numeric`` (noise N(0, sigma) per
dim), ``categorical`` (Gumbel noise, bias N(0, .5), one-hot; a nested parent's edge masks the
classes and turns standardizing off) and ``indicator`` (the two-class node behind structured
missingness, §3 item 12). All outputs are finite float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plurel_core.scm.sources import ar1_filter
from plurel_core.v2.edges import REDUCTIONS, Edge, draw_edge, nested_edge, reduce_terms

KINDS = ("root", "numeric", "categorical", "indicator")
CATEGORICAL_BIAS_SD = 0.5
BETA_SPAN = (-1.7, 1.7)
# UNSURE: the authors never sanitise a signal; we replace NaN by 0 and clip +-inf / huge values
# (an overflowing product of edges) to +-1e150 before the z-score, so that every latent is finite
# and the population sd of a column cannot overflow (squares stay below 1e300).
SIGNAL_LIMIT = 1e150
CONSTANT_RTOL = 1e-12  # zscore: sd below this share of |mean| is rounding noise of a constant column


def _beta_on_span(a: float, b: float):
    lo, hi = BETA_SPAN
    return lambda n, dim, rng: lo + (hi - lo) * rng.beta(a, b, (n, dim))


def _bimodal(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    sign = np.where(rng.random((n, dim)) < 0.5, -1.5, 1.5)
    return sign + rng.normal(0.0, 0.5, (n, dim))


# --- root noise laws (§3 item 7): name -> f(n, dim, rng) -> (n, dim); independent per row and dim
ROOT_NOISES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "normal": lambda n, dim, rng: rng.normal(0.0, 1.0, (n, dim)),
    "uniform": lambda n, dim, rng: rng.uniform(*BETA_SPAN, (n, dim)),
    "bimodal": _bimodal,  # 1/2 N(-1.5, .5^2) + 1/2 N(1.5, .5^2)
    "beta_arcsine": _beta_on_span(0.5, 0.5),  # Beta(.5, .5) on [-1.7, 1.7]
    "beta_skewed": _beta_on_span(2.0, 5.0),  # Beta(2, 5) on [-1.7, 1.7]
    "exponential": lambda n, dim, rng: rng.exponential(1.0, (n, dim)),
    "lognormal": lambda n, dim, rng: rng.lognormal(0.0, 1.0, (n, dim)),
    "lomax": lambda n, dim, rng: rng.pareto(2.0, (n, dim)),  # Lomax(2): numpy's pareto, support from 0
    "poisson_0.5": lambda n, dim, rng: rng.poisson(0.5, (n, dim)).astype(np.float64),
    "poisson_3": lambda n, dim, rng: rng.poisson(3.0, (n, dim)).astype(np.float64),
}
ROOT_NOISE_NAMES = tuple(ROOT_NOISES)
ROOT_NOISE_LABELS = {
    "normal": "N(0, 1)", "uniform": "U(-1.7, 1.7)", "bimodal": "1/2 N(-1.5, .5²) + 1/2 N(1.5, .5²)",
    "beta_arcsine": "Beta(.5, .5) on [-1.7, 1.7]", "beta_skewed": "Beta(2, 5) on [-1.7, 1.7]",
    "exponential": "Exp(1)", "lognormal": "LogNormal(0, 1)", "lomax": "Lomax(2)",
    "poisson_0.5": "Poisson(.5)", "poisson_3": "Poisson(3)",
}


def zscore(x: np.ndarray) -> np.ndarray:
    """Zero mean and unit population sd per column; a constant column becomes 0 (§3 item 9)."""
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return x.copy()
    mean = x.mean(0)
    centered = x - mean
    sd = np.sqrt(np.einsum("ij,ij->j", centered, centered) / len(x))  # population sd, no squared copy
    # a constant column's mean is off by rounding, leaving a tiny constant residue: still constant
    constant = sd <= CONSTANT_RTOL * np.abs(mean)
    centered /= np.where(constant | (sd == 0.0), 1.0, sd)
    centered[:, constant] = 0.0
    return centered


def one_hot(scores: np.ndarray) -> np.ndarray:
    """eye[argmax] per row."""
    out = np.zeros(scores.shape)
    out[np.arange(len(scores)), scores.argmax(1)] = 1.0
    return out


@dataclass(frozen=True)
class TimeSeries:
    """The time-series root (§3 item 11) over rows t = linspace(0, 1, n):
    s t^alpha + a sin(2 pi P t + phi) + AR(1) (e_i += rho e_{i-1}, e ~ N(0, sigma)).
    Trend and cycle are shared by the node's dims, the AR noise is drawn per dim."""

    alpha: float
    scale: float
    periods: float
    amplitude: float
    phase: float
    rho: float
    sigma: float

    @classmethod
    def draw(cls, prior, rng: np.random.Generator) -> TimeSeries:
        alpha, scale = prior.series_trend_alpha.sample(rng), prior.series_trend_scale.sample(rng)
        periods, amplitude = prior.series_cycle_periods.sample(rng), prior.series_cycle_scale.sample(rng)
        phase = float(rng.uniform(0.0, 2.0 * np.pi))
        return cls(float(alpha), float(scale), float(periods), float(amplitude), phase,
                   float(prior.series_rho.sample(rng)), float(prior.series_noise_std.sample(rng)))

    def trend(self, n: int) -> np.ndarray:
        return self.scale * np.linspace(0.0, 1.0, n) ** self.alpha

    def cycle(self, n: int) -> np.ndarray:
        return self.amplitude * np.sin(2.0 * np.pi * self.periods * np.linspace(0.0, 1.0, n) + self.phase)

    def noise(self, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        shocks = rng.normal(0.0, self.sigma, (dim, n))
        return np.stack([ar1_filter(shocks[d], self.rho) for d in range(dim)], axis=1)

    def components(self, n: int, dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """trend (n,), cycle (n,), noise (n, dim) and their sum, the value (n, dim)."""
        trend, cycle, noise = self.trend(n), self.cycle(n), self.noise(n, dim, rng)
        return {"trend": trend, "cycle": cycle, "noise": noise, "value": (trend + cycle)[:, None] + noise}

    def sample(self, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        return self.components(n, dim, rng)["value"]


@dataclass(frozen=True, eq=False)
class NodeSpec:
    """One node's mechanism. ``edges`` follow the local parents' order; ``noise`` names the law:
    a :data:`ROOT_NOISES` entry or ``"series"`` for roots, ``"normal"`` (sd ``noise_sd``) for numeric
    nodes, ``"gumbel"`` for categorical and indicator nodes."""

    kind: str
    dim: int
    edges: tuple[Edge, ...] = ()
    op: str = "sum"
    bias: np.ndarray | None = None
    noise: str = "normal"
    noise_sd: float = 1.0
    series: TimeSeries | None = None
    standardize: bool = True
    nested: int | None = None  # index in ``edges`` of a nested categorical parent's edge

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {KINDS}")
        if self.op not in REDUCTIONS:
            raise ValueError(f"op: {self.op!r} is not one of {tuple(REDUCTIONS)}")
        if self.dim < 1 or (self.onehot and self.dim < 2):
            raise ValueError(f"dim: {self.dim} is too small for a {self.kind} node")
        if self.edges:
            widths = [e.d_out for e in self.edges]
            derived = sum(widths) if self.op == "concat" else max(widths)
            if derived != self.dim:
                raise ValueError(f"dim: {self.dim} does not match the edges' widths {widths} under {self.op}")
        if self.bias is not None and np.shape(self.bias) != (self.dim,):
            raise ValueError(f"bias: expected {self.dim} values, got shape {np.shape(self.bias)}")
        if self.kind == "root" and (self.noise not in (*ROOT_NOISES, "series") or (self.noise == "series") != (self.series is not None)):
            raise ValueError(f"noise: {self.noise!r} is not a root noise law (or the series is missing)")

    @property
    def onehot(self) -> bool:
        return self.kind in ("categorical", "indicator")

    @property
    def params(self) -> dict[str, Any]:
        """What the views show: kind, width, reduction, noise law, bias and the edges' params."""
        out: dict[str, Any] = {"kind": self.kind, "dim": self.dim, "op": self.op, "noise": self.noise,
                               "standardize": self.standardize, "edges": [e.params for e in self.edges]}
        if self.kind == "numeric":
            out["noise_sd"] = self.noise_sd
        if self.kind == "root" and self.noise != "series":
            out["noise_law"] = ROOT_NOISE_LABELS[self.noise]
        if self.series is not None:
            out["series"] = vars(self.series).copy()
        if self.bias is not None:
            out["bias"] = self.bias
        if self.nested is not None:
            out["nested"] = self.nested
        return out


def draw_structure(parents: Sequence[Sequence[int]], prior, rng: np.random.Generator):
    """Kinds, reductions and widths of a table's nodes from their local parent lists (§3 items 3-5).

    ``parents[i]`` lists node i's parents (all < i). Returns ``(categorical, ops, dims)``: a node is
    categorical with prob ``node_categorical_share``; a numeric node with >= 2 parents draws its op,
    others use sum; widths: classes ~ ``node_class_count``, concat = sum of parent widths, else
    ``node_width``.
    """
    n = len(parents)
    categorical = [bool(c) for c in rng.random(n) < prior.node_categorical_share]
    ops = [prior.node_ops.sample(rng) if len(parents[i]) > 1 and not categorical[i] else "sum" for i in range(n)]
    dims: list[int] = []
    for i in range(n):
        if categorical[i]:
            dims.append(int(prior.node_class_count.sample(rng)))
        elif ops[i] == "concat":
            dims.append(sum(dims[p] for p in parents[i]))
        else:
            dims.append(int(prior.node_width.sample(rng)))
    return categorical, ops, dims


def draw_node(parent_dims: Sequence[int], parent_categorical: Sequence[bool], dim: int, categorical: bool,
              op: str, prior, rng: np.random.Generator, *, time: bool = False) -> NodeSpec:
    """One node's mechanism from its local parents' widths and kinds (§3 items 6-8).

    ``time``: the table has a time column, so a numeric root is a :class:`TimeSeries` with prob
    ``root_series_share``.
    """
    if len(parent_dims) != len(parent_categorical):
        raise ValueError("draw_node: one kind per parent width")
    if categorical:
        nested = None
        cat_parents = [k for k, c in enumerate(parent_categorical) if c]
        if cat_parents and rng.random() < prior.node_nested_share:
            nested = cat_parents[int(rng.integers(len(cat_parents)))]
        edges = tuple(nested_edge(d, dim, rng) if k == nested else draw_edge(d, dim, prior, rng, block=True)
                      for k, d in enumerate(parent_dims))
        bias = rng.normal(0.0, CATEGORICAL_BIAS_SD, dim)
        return NodeSpec("categorical", dim, edges, "sum", bias, "gumbel", standardize=nested is None, nested=nested)
    if not parent_dims:
        if time and rng.random() < prior.root_series_share:
            return NodeSpec("root", dim, noise="series", series=TimeSeries.draw(prior, rng))
        return NodeSpec("root", dim, noise=prior.root_noise.sample(rng))
    widths = [d if op == "concat" else dim for d in parent_dims]
    edges = tuple(draw_edge(d, w, prior, rng, block=False) for d, w in zip(parent_dims, widths))
    # UNSURE: the authors' numeric nodes carry no bias (only categorical and indicator nodes do);
    # we follow them, so "+ bias" in §3 item 9 is a no-op here.
    sd = float(prior.node_noise_std.sample(rng))
    return NodeSpec("numeric", sum(widths) if op == "concat" else dim, edges, op, None, "normal", sd)


def draw_indicator(rate: float, d_in: int, prior, rng: np.random.Generator) -> NodeSpec:
    """The two-class node behind a structured-missing column (§3 item 12): it reads one node of
    width ``d_in`` through edge(d_out 2, block), bias (0, logit rate), Gumbel noise, standardized,
    one-hot; the column is masked where class 1 fires (about ``rate`` of the rows)."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate: {rate} must be inside (0, 1)")
    edge = draw_edge(d_in, 2, prior, rng, block=True)
    return NodeSpec("indicator", 2, (edge,), "sum", np.array([0.0, float(np.log(rate / (1.0 - rate)))]), "gumbel")


def node_noise(spec: NodeSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """The node's exogenous term (n, dim), drawn fresh from ``rng``."""
    if spec.noise == "series":
        return spec.series.sample(n, spec.dim, rng)
    if spec.noise == "gumbel":
        return -np.log(rng.standard_exponential((n, spec.dim)))  # Gumbel(0, 1), faster than rng.gumbel
    if spec.kind == "numeric":
        return rng.normal(0.0, spec.noise_sd, (n, spec.dim))
    return ROOT_NOISES[spec.noise](n, spec.dim, rng)


def crossing_input(edges: Sequence[Edge], inputs: Sequence[np.ndarray]) -> np.ndarray | None:
    """The summed outputs of a node's crossing edges (``None`` when it has none)."""
    if len(edges) != len(inputs):
        raise ValueError("crossing_input: one input per crossing edge")
    if not edges:
        return None
    return reduce_terms("sum", [e.apply(x) for e, x in zip(edges, inputs)])


def _finite(x: np.ndarray) -> np.ndarray:
    if not x.size or (x.min() >= -SIGNAL_LIMIT and x.max() <= SIGNAL_LIMIT):  # False on any NaN
        return x
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=SIGNAL_LIMIT, neginf=-SIGNAL_LIMIT), -SIGNAL_LIMIT, SIGNAL_LIMIT)


def evaluate_node(spec: NodeSpec, parent_values: Sequence[np.ndarray], rng: np.random.Generator | None = None, *,
                  across: np.ndarray | None = None, n: int | None = None, noise: np.ndarray | None = None) -> np.ndarray:
    """The node's value (n, dim), float64 and finite (§3 item 9).

    ``parent_values`` are the local parents' values in the order of ``spec.edges``; ``across`` is
    the summed crossing input (:func:`crossing_input`); ``n`` is needed only for a root without
    ``across``. The exogenous term is ``noise`` if given, else drawn from ``rng``.
    """
    if len(parent_values) != len(spec.edges):
        raise ValueError(f"evaluate_node: {len(spec.edges)} parent values expected, got {len(parent_values)}")
    rows = [len(v) for v in parent_values] + ([len(across)] if across is not None else []) + ([n] if n is not None else [])
    if not rows:
        raise ValueError("evaluate_node: a root without crossing input needs n")
    if len(set(rows)) != 1:
        raise ValueError(f"evaluate_node: inputs disagree on the row count: {rows}")
    n = rows[0]
    with np.errstate(over="ignore", invalid="ignore"):
        if spec.edges:
            signal = reduce_terms(spec.op, [e.apply(v) for e, v in zip(spec.edges, parent_values)])
            signal = np.broadcast_to(signal, (n, spec.dim)).astype(np.float64)
        else:
            signal = np.zeros((n, spec.dim))
        if across is not None:
            signal = signal + across
        signal = _finite(signal)
        if spec.standardize:
            signal = zscore(signal)
        if noise is None:
            if rng is None:
                raise ValueError("evaluate_node: give rng or noise")
            noise = node_noise(spec, n, rng)
        value = signal + noise
        if spec.bias is not None:
            value = value + spec.bias
        value = _finite(value)
    return one_hot(value) if spec.onehot else value
