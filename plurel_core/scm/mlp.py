"""Random MLP mechanisms, encoders and decoders of the SCMs (float32, batched over rows).

Weights are stored (in, out) and applied as ``x @ W``; the six initialisations follow PyTorch's
fan convention for that layout (dimension 1 is the fan-in), as the authors' generator does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from plurel_core import samplers
from plurel_core.scm import kernels
from plurel_core.scm.activations import ACTIVATIONS, Activation, SineSum, make_activation

INITIALIZATIONS = (
    "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "truncated_normal", "sparse",
)
AGGREGATIONS = ("sum", "max", "product", "logsumexp")
CLAMP_EMB = 1e4
CLAMP_HIDDEN = 1e6


_NORMAL_STD = {  # std of a normal-based init on (a, b) matrices; fan-in is b (PyTorch's dim 1)
    "kaiming_normal": lambda a, b: np.sqrt(2.0 / b),
    "xavier_normal": lambda a, b: np.sqrt(2.0 / (a + b)),
    "truncated_normal": lambda a, b: np.ones(np.shape(a)),
    "sparse": lambda a, b: np.full(np.shape(a), 0.01),
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


def _initialisers(names, init_ids: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For matrices of shapes (a[i], b[i]) initialised by ``names[init_ids[i]]``: each one's law in
    ``samplers.fill_matrices`` and its scale (the normal's std or the uniform's bound)."""
    for name in names:
        if name not in _LAW:
            raise ValueError(f"unknown initialisation {name!r}; allowed: {INITIALIZATIONS}")
    laws = np.array([_LAW[n] for n in names], dtype=np.int64)[init_ids]
    scales = np.empty(len(init_ids))
    for k, name in enumerate(names):
        sel = init_ids == k
        scales[sel] = _SCALE[name](a[sel].astype(np.float64), b[sel].astype(np.float64))
    return laws, scales


def init_weights(names, init_ids, rows, cols, rng: np.random.Generator) -> list[np.ndarray]:
    """Float32 (rows[i], cols[i]) matrices, matrix i initialised like torch.nn.init by
    ``names[init_ids[i]]`` on a tensor of that shape; all drawn in one pass."""
    init_ids, rows, cols = (np.asarray(v, dtype=np.int64) for v in (init_ids, rows, cols))
    laws, scales = _initialisers(names, init_ids, rows, cols)
    sizes = rows * cols
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = np.empty(int(offsets[-1]), dtype=np.float32)
    ones = np.ones(len(laws))
    samplers.fill_matrices(flat, offsets[:-1], rows, cols, laws, scales, ones, ones, rng)
    return [flat[offsets[i]:offsets[i + 1]].reshape(rows[i], cols[i]) for i in range(len(laws))]


def init_weight(name: str, fan_rows: int, fan_cols: int, rng: np.random.Generator) -> np.ndarray:
    """A float32 (rows, cols) matrix initialised like torch.nn.init on a tensor of that shape."""
    return init_weights([name], [0], [fan_rows], [fan_cols], rng)[0]


@dataclass
class Mlp:
    """``U{layers}`` linear maps; every hidden output is clamp(scale * act(x @ W), ±1e6).

    The scale of hidden layer l is folded into the matrix of layer l+1, and the clamp becomes
    ±1e6/scale on act(x @ W): the same map with one pass less per layer. An output factor (an
    edge weight) is folded into the last matrix. ``folded`` holds those matrices, ``clamps`` the
    hidden clamps. The SCM evaluates these maps in ``plurel_core.scm.kernels`` on an
    :class:`~plurel_core.scm.kernels.MlpPack`; this numpy form is their reference (tests compare
    the two), and ``Mlp.of_pack`` reads one MLP out of a pack.
    """

    folded: list[np.ndarray]
    activations: list[Activation] = field(repr=False)
    activation_names: list[str]
    clamps: list[float]

    @classmethod
    def from_drawn(cls, weights, activations, activation_names, scales, output_factor: float = 1.0) -> Mlp:
        """The MLP of drawn matrices, hidden-layer scales and an output factor, folded."""
        folded = [weights[0]] + [w * np.float32(s) for w, s in zip(weights[1:], scales)]
        if output_factor != 1.0:
            folded[-1] = folded[-1] * np.float32(output_factor)
        return cls(folded, list(activations), list(activation_names),
                   [float(np.float32(CLAMP_HIDDEN / s)) for s in scales])

    @classmethod
    def of_pack(cls, pack: kernels.MlpPack, i: int) -> Mlp:
        """MLP ``i`` of a pack, as numpy arrays (views of the pack's weights)."""
        folded, activations = [], []
        for layer in range(pack.first[i], pack.first[i + 1]):
            off, r, c, code, at = (int(v) for v in pack.layers[layer])
            folded.append(pack.weights[off:off + r * c].reshape(r, c))
            if code == kernels.NO_ACTIVATION:
                continue
            if ACTIVATIONS[code] == "sine_sum":
                k = int(pack.params[at])
                terms = pack.params[at + 1:at + 1 + 3 * k]
                activations.append(SineSum(terms[:k], terms[k:2 * k], terms[2 * k:]))
            else:
                activations.append(make_activation(ACTIVATIONS[code], None))
        hidden = slice(pack.first[i], pack.first[i + 1] - 1)
        return cls(folded, activations, pack.activation_names(i), [float(c) for c in pack.clamps[hidden]])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for w, act, clamp in zip(self.folded, self.activations, self.clamps):
            x = act(_linear(x, w))
            np.clip(x, -clamp, clamp, out=x)
        return _linear(x, self.folded[-1])


def _linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # A one-column input is an outer product: broadcasting beats a k=1 GEMM.
    return x * w[0] if w.shape[0] == 1 else x @ w


def draw_mlps(sp, in_dims, out_dims, rng: np.random.Generator, output_factors=None) -> kernels.MlpPack:
    """Independent random MLPs from ``sp``'s priors, MLP i from ``in_dims[i]`` to ``out_dims[i]``
    dimensions, drawn together into one :class:`~plurel_core.scm.kernels.MlpPack`.

    Each MLP has the law of PLUREL_SPEC.md on its own. The discrete and scalar choices come from
    one uniform block, every matrix from one compiled pass (masked by Bernoulli(density), divided
    by the density, and folded: the scale of hidden layer l-1 into layer l, ``output_factors[i]``,
    an edge weight, into MLP i's last layer); nothing is done per layer in Python.
    """
    in_dims = np.asarray(in_dims, dtype=np.int64)
    out_dims = np.asarray(out_dims, dtype=np.int64)
    count = len(in_dims)
    lo, hi = sp.mlp_layers.lo, sp.mlp_layers.hi
    inits_all, acts_all = tuple(sp.initializations), tuple(sp.activations)
    u = rng.random((count, 1 + 4 * hi))  # depth | init per layer | density per layer | act, log scale per hidden
    depths = lo + np.minimum((u[:, 0] * (hi - lo + 1)).astype(np.int64), hi - lo)
    init_ids = np.minimum((u[:, 1:1 + hi] * len(inits_all)).astype(np.int64), len(inits_all) - 1)
    d_lo, d_hi = sp.weight_density.lo, sp.weight_density.hi
    densities = np.maximum(d_lo + (d_hi - d_lo) * u[:, 1 + hi:1 + 2 * hi], 1e-6)
    act_ids = np.minimum((u[:, 1 + 2 * hi:3 * hi] * len(acts_all)).astype(np.int64), len(acts_all) - 1)
    s_lo, s_hi = sp.activation_log_scale.lo, sp.activation_log_scale.hi
    scales = np.exp(s_lo + (s_hi - s_lo) * u[:, 1 + 3 * hi:4 * hi])
    factors = np.ones(count) if output_factors is None else np.asarray(output_factors, dtype=np.float64)
    ones = np.ones((count, 1))

    # Every layer (mlp i, layer l), in MLP order. Its matrix is folded by the scale of hidden
    # layer l-1, times the output factor on the last layer.
    emb = sp.emb
    mlp_of = np.repeat(np.arange(count), depths)
    layer_of = np.arange(len(mlp_of)) - np.repeat(np.cumsum(depths) - depths, depths)
    last = layer_of == depths[mlp_of] - 1
    rows_of = np.where(layer_of == 0, in_dims[mlp_of], emb)
    cols_of = np.where(last, out_dims[mlp_of], emb)
    fold = np.concatenate([ones, scales], axis=1)[mlp_of, layer_of]  # layer l: the scale of hidden l-1
    fold = np.where(last, fold * factors[mlp_of], fold)
    density = densities[mlp_of, layer_of]
    laws, init_scales = _initialisers(inits_all, init_ids[mlp_of, layer_of], rows_of, cols_of)
    sizes = rows_of * cols_of
    offsets = np.cumsum(sizes) - sizes
    weights = np.empty(int(sizes.sum()), dtype=np.float32)
    samplers.fill_matrices(weights, offsets, rows_of, cols_of, laws, init_scales / density, density, fold, rng)

    # Hidden layer l's activation and clamp; a last layer has none (clamp: inf).
    # (A padding column for the last layers keeps index l valid.)
    act_of = np.concatenate([act_ids, np.zeros((count, 1), np.int64)], axis=1)[mlp_of, layer_of]
    hidden_scale = np.concatenate([scales, ones], axis=1)[mlp_of, layer_of]
    codes = np.where(last, kernels.NO_ACTIVATION, np.array([kernels.ACT_CODE[a] for a in acts_all])[act_of])
    clamps = np.where(last, np.inf, CLAMP_HIDDEN / hidden_scale).astype(np.float32)
    param_at = np.zeros(len(codes), dtype=np.int64)
    params = [np.zeros(1, np.float32)]
    sine = np.flatnonzero(codes == kernels.ACT_CODE["sine_sum"])
    if len(sine):  # each sine sum's terms (see activations.SineSum): k, then k amplitudes, frequencies, phases
        k_lo, k_hi = SineSum.TERMS
        ks = rng.integers(k_lo, k_hi + 1, len(sine))
        amp, freq, phase = SineSum.terms_of(rng.random((3, len(sine), k_hi)))
        at = 1
        for j, (layer, k) in enumerate(zip(sine.tolist(), ks.tolist())):
            params.append(np.concatenate([[k], amp[j, :k], freq[j, :k], phase[j, :k]]).astype(np.float32))
            param_at[layer], at = at, at + 1 + 3 * k
    table = np.stack([offsets, rows_of, cols_of, codes, param_at], axis=1).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(depths)]).astype(np.int64)
    return kernels.MlpPack(weights, table, clamps, np.concatenate(params).astype(np.float32), first)


def make_mlps(sp, count: int, in_dim: int, out_dim: int, rng: np.random.Generator, output_factors=None) -> list[Mlp]:
    """``count`` random MLPs from ``in_dim`` to ``out_dim`` as numpy :class:`Mlp` objects (see :func:`draw_mlps`)."""
    pack = draw_mlps(sp, [in_dim] * count, [out_dim] * count, rng, output_factors)
    return [Mlp.of_pack(pack, i) for i in range(count)]


def make_mlp(sp, in_dim: int, out_dim: int, rng: np.random.Generator, output_factor: float = 1.0) -> Mlp:
    return make_mlps(sp, 1, in_dim, out_dim, rng, [output_factor])[0]


def draw_embeddings(sp, counts, rng: np.random.Generator) -> list[np.ndarray]:
    """A category embedding table (K x emb) per K in ``counts``: each of one of the initialisations."""
    inits = tuple(sp.initializations)
    init_ids = np.minimum((rng.random(len(counts)) * len(inits)).astype(np.int64), len(inits) - 1)
    return init_weights(inits, init_ids, counts, [sp.emb] * len(counts), rng)


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
