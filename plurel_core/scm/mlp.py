"""Random MLP mechanisms, encoders and decoders of the SCMs (float32, batched over rows).

Weights are stored (in, out) and applied as ``x @ W``; the six initialisations follow PyTorch's
fan convention for that layout (dimension 1 is the fan-in), as the authors' generator does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from plurel_core import samplers
from plurel_core.random import pick
from plurel_core.scm.activations import Activation, make_activation

INITIALIZATIONS = (
    "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "truncated_normal", "sparse",
)
AGGREGATIONS = ("sum", "max", "product", "logsumexp")
CLAMP_EMB = 1e4
CLAMP_HIDDEN = 1e6


_NORMAL_STD = {  # std of a normal-based init on an (a, b) matrix; fan-in is b (PyTorch's dim 1)
    "kaiming_normal": lambda a, b: np.sqrt(2.0 / b),
    "xavier_normal": lambda a, b: np.sqrt(2.0 / (a + b)),
    "truncated_normal": lambda a, b: 1.0,
    "sparse": lambda a, b: 0.01,
}
_UNIFORM_BOUND = {
    "kaiming_uniform": lambda a, b: np.sqrt(6.0 / b),
    "xavier_uniform": lambda a, b: np.sqrt(6.0 / (a + b)),
}


_LAW = {
    "kaiming_normal": samplers.NORMAL, "xavier_normal": samplers.NORMAL, "truncated_normal": samplers.TRUNCATED_NORMAL,
    "sparse": samplers.SPARSE_NORMAL, "kaiming_uniform": samplers.UNIFORM, "xavier_uniform": samplers.UNIFORM,
}
_SCALE = {**_NORMAL_STD, **_UNIFORM_BOUND}  # the normal's std or the uniform's bound


def _initialisers(names, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """For initialisations by name on (a, b) matrices: each one's law in ``samplers.random_matrices``
    and its scale (the normal's std or the uniform's bound)."""
    return np.array([_LAW[n] for n in names]), np.array([_SCALE[n](a, b) for n in names])


def init_weight(name: str, fan_rows: int, fan_cols: int, rng: np.random.Generator) -> np.ndarray:
    """A float32 (rows, cols) matrix initialised like torch.nn.init on a tensor of that shape."""
    if name not in _LAW:
        raise ValueError(f"unknown initialisation {name!r}; allowed: {INITIALIZATIONS}")
    laws, scales = _initialisers([name], fan_rows, fan_cols)
    return samplers.random_matrices(laws, scales, [1.0], [1.0], fan_rows, fan_cols, rng)[0][0]


@dataclass
class Mlp:
    """``U{layers}`` linear maps; every hidden output is clamp(scale * act(x @ W), ±1e6).

    ``weights`` are the drawn matrices. The scale of hidden layer l is folded into the matrix of
    layer l+1 and the clamp becomes ±1e6/scale on act(x @ W): the same map with one pass less per
    layer. ``output_factor`` (an edge weight) multiplies the output, folded into the last matrix;
    ``folded`` holds the folded matrices (a batched builder passes them in). The SCM evaluates
    these maps in ``plurel_core.scm.kernels``; this numpy form is their reference (tests compare
    the two).
    """

    weights: list[np.ndarray]
    activations: list[Activation] = field(repr=False)
    activation_names: list[str]
    scales: list[float]
    inits: list[str]
    output_factor: float = 1.0
    folded: list[np.ndarray] | None = field(default=None, repr=False)  # computed unless given
    clamps: list[float] | None = field(default=None, repr=False)  # float32(1e6 / scale), likewise

    def __post_init__(self) -> None:
        if self.folded is None:
            self.folded = [self.weights[0]] + [w * np.float32(s) for w, s in zip(self.weights[1:], self.scales)]
            if self.output_factor != 1.0:
                self.folded[-1] = self.folded[-1] * np.float32(self.output_factor)
        if self.clamps is None:
            self.clamps = [float(np.float32(CLAMP_HIDDEN / s)) for s in self.scales]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for w, act, clamp in zip(self.folded, self.activations, self.clamps):
            x = act(_linear(x, w))
            np.clip(x, -clamp, clamp, out=x)
        return _linear(x, self.folded[-1])


def _linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # A one-column input is an outer product: broadcasting beats a k=1 GEMM.
    return x * w[0] if w.shape[0] == 1 else x @ w


def make_mlp(sp, in_dim: int, out_dim: int, rng: np.random.Generator, output_factor: float = 1.0) -> Mlp:
    return make_mlps(sp, 1, in_dim, out_dim, rng, [output_factor])[0]


def make_mlps(
    sp, count: int, in_dim: int, out_dim: int, rng: np.random.Generator, output_factors=None,
) -> list[Mlp]:
    """``count`` independent random MLPs from ``sp``'s priors, drawn together.

    Each MLP has the law of PLUREL_SPEC.md on its own; drawing them at once replaces thousands
    of small generator calls by a few large ones. The discrete and scalar choices come from one
    uniform block; the matrices of each shape, their Bernoulli(density) masks, folds and column
    sums from one compiled pass.
    ``output_factors[i]`` (an edge weight) multiplies MLP i's output, folded into its last matrix.
    """
    if count == 0:
        return []
    lo, hi = sp.mlp_layers.lo, sp.mlp_layers.hi
    inits_all, acts_all = tuple(sp.initializations), tuple(sp.activations)
    u = rng.random((count, 1 + 4 * hi))  # layers | init per layer | density per layer | act, log scale per hidden
    layers = lo + np.minimum((u[:, 0] * (hi - lo + 1)).astype(np.int64), hi - lo)
    init_ids = np.minimum((u[:, 1:1 + hi] * len(inits_all)).astype(np.int64), len(inits_all) - 1)
    d_lo, d_hi = sp.weight_density.lo, sp.weight_density.hi
    densities = np.maximum(d_lo + (d_hi - d_lo) * u[:, 1 + hi:1 + 2 * hi], 1e-6)
    act_ids = np.minimum((u[:, 1 + 2 * hi:3 * hi] * len(acts_all)).astype(np.int64), len(acts_all) - 1)
    s_lo, s_hi = sp.activation_log_scale.lo, sp.activation_log_scale.hi
    scales = np.exp(s_lo + (s_hi - s_lo) * u[:, 1 + 3 * hi:4 * hi])
    fold_scales = np.concatenate([np.ones((count, 1)), scales], axis=1)  # layer l: scale of hidden l-1
    factors = np.ones(count) if output_factors is None else np.asarray(output_factors, dtype=np.float64)

    # Every matrix (mlp i, layer l), in MLP order; its fold factor is the scale of hidden layer
    # l-1, times the output factor on the last layer. Matrices of one shape are drawn together.
    emb = sp.emb
    total = int(layers.sum())
    mlp_of = np.repeat(np.arange(count), layers)
    layer_of = np.arange(total) - np.repeat(np.cumsum(layers) - layers, layers)
    last = layer_of == layers[mlp_of] - 1
    rows_of = np.where(layer_of == 0, in_dim, emb)
    cols_of = np.where(last, out_dim, emb)
    fold = fold_scales[mlp_of, layer_of]
    fold = np.where(last, fold * factors[mlp_of], fold)
    init_of = init_ids[mlp_of, layer_of]
    dens = densities[mlp_of, layer_of]
    stacks = []  # per shape: drawn, folded
    stack_of = np.empty(total, dtype=np.int64)
    index_of = np.empty(total, dtype=np.int64)
    for a, b in sorted(set(zip(rows_of.tolist(), cols_of.tolist()))):
        sel = np.flatnonzero((rows_of == a) & (cols_of == b))
        laws, init_scales = _initialisers(inits_all, a, b)  # by init id; masks rescale by 1 / density
        stacks.append(samplers.random_matrices(laws[init_of[sel]], init_scales[init_of[sel]] / dens[sel],
                                               dens[sel], fold[sel], a, b, rng))
        stack_of[sel], index_of[sel] = len(stacks) - 1, np.arange(len(sel))

    clamps = (CLAMP_HIDDEN / scales).astype(np.float32).tolist()
    scales_l, act_l, init_l = scales.tolist(), act_ids.tolist(), init_ids.tolist()
    stack_l, index_l, factors_l = stack_of.tolist(), index_of.tolist(), factors.tolist()
    out = []
    start = 0
    for i, n_layers in enumerate(layers.tolist()):
        at = [(stacks[stack_l[j]], index_l[j]) for j in range(start, start + n_layers)]
        start += n_layers
        act_names = [acts_all[k] for k in act_l[i][:n_layers - 1]]
        out.append(Mlp([st[0][k] for st, k in at], [make_activation(n, rng) for n in act_names], act_names,
                       scales_l[i][:n_layers - 1], [inits_all[k] for k in init_l[i][:n_layers]], factors_l[i],
                       [st[1][k] for st, k in at], clamps[i][:n_layers - 1]))
    return out


def make_embedding(sp, num_categories: int, rng: np.random.Generator) -> np.ndarray:
    """A category embedding table (K x emb): N(0, 1), then one of the initialisations."""
    init = str(pick(rng, sp.initializations))
    return init_weight(init, num_categories, sp.emb, rng)


DISTINCT_PROBE = 1024


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct values, inverse) when at most half the rows are distinct, else None.

    Saturated sources and clipped values repeat; encoding each distinct value once is exact.
    Most columns are continuous: when an evenly strided probe of at most ``DISTINCT_PROBE`` rows
    (every fourth row at least) is over 90% distinct, the full sort (3 ms on 50k rows, on the
    critical path) is skipped and None is returned. That only ever forgoes a shortcut; it is a
    function of the values alone.
    """
    x = values.astype(np.float32, copy=False)
    if len(x) >= 64:
        probe = x[:: max(4, len(x) // DISTINCT_PROBE)]
        if len(np.unique(probe)) > 0.9 * len(probe):
            return None
    uniq, inverse = np.unique(x, return_inverse=True)
    return (uniq, inverse) if len(uniq) * 2 <= len(x) else None


ENCODE_ONCE_MAX = 8192  # distinct values encoded once per edge at most (8192 x 32 float32: 1 MB held)


@dataclass
class NumericalEncoder:
    mlp: Mlp

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Encode a value per row; repeating values (``distinct_values``) are encoded once each."""
        distinct = distinct_values(values)
        if distinct is not None and len(distinct[0]) <= ENCODE_ONCE_MAX:
            uniq, inverse = distinct
            return np.take(self.mlp(uniq[:, None]), inverse, axis=0)  # 2-3x faster than out[inverse]
        return self.mlp(values.astype(np.float32, copy=False)[:, None])

    @property
    def activation_names(self) -> list[str]:
        return self.mlp.activation_names


@dataclass
class CategoricalEncoder:
    """Embedding table then MLP; the MLP runs on the K table rows, then rows are gathered."""

    table: np.ndarray
    mlp: Mlp

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        """The K table rows encoded once, gathered per row."""
        return np.take(self.mlp(self.table), labels, axis=0)

    @property
    def activation_names(self) -> list[str]:
        return self.mlp.activation_names


@dataclass
class NumericalDecoder:
    mlp: Mlp

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        out = self.mlp(emb)[:, 0]
        return np.nan_to_num(out, nan=0.0, posinf=CLAMP_HIDDEN, neginf=-CLAMP_HIDDEN)


@dataclass
class CategoricalDecoder:
    """MLP, then the category whose embedding is most similar (argmax of E @ x)."""

    table: np.ndarray
    mlp: Mlp

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        h = np.nan_to_num(self.mlp(emb), nan=0.0)
        return np.argmax(h @ self.table.T, axis=1).astype(np.int64)


def make_encoder(sp, kind: str, num_categories: int | None, rng: np.random.Generator, weight: float = 1.0):
    """An encoder of a parent's values into ``emb`` dimensions; ``weight`` (the edge weight) scales its output."""
    return make_encoders(sp, [(kind, num_categories)], rng, [weight])[0]


def make_decoder(sp, kind: str, num_categories: int | None, rng: np.random.Generator):
    return make_decoders(sp, [(kind, num_categories)], rng)[0]


def make_encoders(sp, kinds: list[tuple[str, int | None]], rng: np.random.Generator, weights=None) -> list:
    """One encoder per (kind, num_categories), their MLPs drawn together; ``weights[i]`` scales output i."""
    return _by_kind(sp, kinds, rng, weights, numerical=(1, sp.emb, NumericalEncoder),
                    categorical=(sp.emb, sp.emb, CategoricalEncoder))


def make_decoders(sp, kinds: list[tuple[str, int | None]], rng: np.random.Generator) -> list:
    """One decoder per (kind, num_categories), their MLPs drawn together."""
    return _by_kind(sp, kinds, rng, None, numerical=(sp.emb, 1, NumericalDecoder),
                    categorical=(sp.emb, sp.emb, CategoricalDecoder))


def _by_kind(sp, kinds, rng, weights, numerical, categorical) -> list:
    """Numerical ones first, then categorical ones (each with its embedding table), in kinds' order."""
    weights = [1.0] * len(kinds) if weights is None else list(weights)
    out: list = [None] * len(kinds)
    for is_cat, (in_dim, out_dim, cls) in ((False, numerical), (True, categorical)):
        at = [i for i, (kind, _) in enumerate(kinds) if (kind == "categorical") == is_cat]
        for i, mlp in zip(at, make_mlps(sp, len(at), in_dim, out_dim, rng, [weights[i] for i in at])):
            out[i] = cls(make_embedding(sp, kinds[i][1], rng), mlp) if is_cat else cls(mlp)
    return out


def _maximum(arrays: list[np.ndarray]) -> np.ndarray:
    """Their elementwise maximum, in a new array."""
    m = arrays[0].copy()
    for a in arrays[1:]:
        np.maximum(m, a, out=m)
    return m


def _add_shifted_exps(acc: np.ndarray, arrays: list[np.ndarray], shift: np.ndarray) -> np.ndarray:
    """``acc`` += the sum of e^(a - shift) over ``arrays``, in place."""
    tmp = np.empty_like(acc)
    for a in arrays:
        np.subtract(a, shift, out=tmp)
        np.exp(tmp, out=tmp)
        acc += tmp
    return acc


def logsumexp(arrays: list[np.ndarray]) -> np.ndarray:
    """Elementwise log(sum(exp)) of several arrays, shifted by their maximum (one exp per element).

    ``np.logaddexp`` costs an exp and a log1p per pair and is ~10x slower. Elements where every
    input is -inf (a null reference's identity) stay -inf.
    """
    m = _maximum(arrays)
    if len(arrays) == 1:
        return m
    shift = m if np.isfinite(m).all() else np.where(np.isfinite(m), m, np.float32(0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        acc = np.subtract(arrays[0], shift)
        np.exp(acc, out=acc)
        _add_shifted_exps(acc, arrays[1:], shift)
        np.log(acc, out=acc)
        acc += shift
    return acc


def _log_of_sum(exp_sum: np.ndarray, wide: list[np.ndarray]) -> np.ndarray:
    """log(exp_sum + sum of e^w over ``wide``), in place of ``exp_sum`` (which lies in [e^-80, 6000 e^80]).

    Shifted by s = max(0, max w) elementwise: each e^(w - s) <= 1, and exp_sum e^-s <= exp_sum, so
    nothing overflows, and the sum is at least e^-80 (s = 0) or 1 (the largest w = s).
    """
    if not wide:
        return np.log(exp_sum, out=exp_sum)
    shift = _maximum(wide)
    np.maximum(shift, np.float32(0.0), out=shift)
    with np.errstate(under="ignore"):
        exp_sum *= np.exp(-shift)
        _add_shifted_exps(exp_sum, wide, shift)
    np.log(exp_sum, out=exp_sum)
    exp_sum += shift
    return exp_sum


class Aggregator:
    """The elementwise sum / max / product / logsumexp of arrays added one at a time.

    At most ``GROUP`` inputs wait in memory: logsumexp reduces them a group at a time (the running
    result joins the next group), the other modes fold each input in as it arrives. An input added
    with ``owned=True`` may become the accumulator and be changed in place.

    An input whose ``bound`` (or else its actual largest magnitude) is at most
    ``DIRECT_BOUND`` enters a logsumexp as e^x into a plain sum: there e^x lies within
    [e^-80, e^80] (normal float32 numbers, no overflow below 6000 inputs), so no shift is needed
    and two passes replace four. The rest are max-shifted.
    """

    GROUP = 16
    DIRECT_BOUND = 80.0

    def __init__(self, mode: str) -> None:
        if mode not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {mode!r}; allowed: {AGGREGATIONS}")
        self.mode = mode
        self._acc: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._exp_sum: np.ndarray | None = None  # logsumexp: the sum of e^x of the bounded inputs

    def add(self, x: np.ndarray, owned: bool = False, bound: float = math.inf) -> None:
        if self.mode == "logsumexp":
            if bound > self.DIRECT_BOUND and x.size:
                bound = max(float(x.max()), -float(x.min()))  # two reductions save two passes of four
            if bound <= self.DIRECT_BOUND:
                e = np.exp(x, out=x if owned else None)
                if self._exp_sum is None:
                    self._exp_sum = e
                else:
                    self._exp_sum += e
                return
            self._pending.append(x)
            if len(self._pending) >= self.GROUP:
                self._reduce()
        elif self._acc is None:
            self._acc = x if owned else x.copy()
        elif self.mode == "sum":
            self._acc += x
        elif self.mode == "max":
            np.maximum(self._acc, x, out=self._acc)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                self._acc *= x

    def _reduce(self) -> None:
        self._acc = logsumexp(self._pending if self._acc is None else [self._acc, *self._pending])
        self._pending = []

    def result(self) -> np.ndarray:
        if self._exp_sum is not None:
            wide = self._pending if self._acc is None else [self._acc, *self._pending]
            self._acc = _log_of_sum(self._exp_sum, wide)
            self._exp_sum, self._pending = None, []
        if self._pending:
            self._reduce()
        if self._acc is None:
            raise ValueError("nothing to aggregate")
        return self._acc


def aggregate(stack: list[np.ndarray], mode: str) -> np.ndarray:
    """Combine clamped, weighted embeddings elementwise (the inputs are left unchanged)."""
    agg = Aggregator(mode)
    for x in stack:
        agg.add(x)
    return agg.result()
