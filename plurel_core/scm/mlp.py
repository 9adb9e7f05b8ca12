"""Random MLP mechanisms, encoders and decoders of the SCMs (float32, batched over rows).

Weights are stored (in, out) and applied as ``x @ W``; the six initialisations follow PyTorch's
fan convention for that layout (dimension 1 is the fan-in), as the authors' generator does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plurel_core.random import pick
from plurel_core.scm.activations import BOUNDED, SATURATING, Activation, make_activation

INITIALIZATIONS = (
    "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "truncated_normal", "sparse",
)
AGGREGATIONS = ("sum", "max", "product", "logsumexp")
CLAMP_EMB = 1e4
CLAMP_HIDDEN = 1e6


def init_weight(
    name: str, fan_rows: int, fan_cols: int, rng: np.random.Generator,
    normal: np.ndarray | None = None, uniform: np.ndarray | None = None,
) -> np.ndarray:
    """A (rows, cols) matrix initialised like torch.nn.init on a tensor of that shape.

    ``normal`` / ``uniform`` are optional pre-drawn N(0, 1) and U[0, 1) blocks of that shape, so a
    caller can draw the randomness of many matrices in one call.
    """
    shape = (fan_rows, fan_cols)
    fan_in, fan_out = fan_cols, fan_rows  # PyTorch: dim 1 is fan-in, dim 0 fan-out
    if name in ("kaiming_uniform", "xavier_uniform"):
        u = rng.random(shape) if uniform is None else uniform.reshape(shape)
        bound = np.sqrt(6.0 / fan_in) if name == "kaiming_uniform" else np.sqrt(6.0 / (fan_in + fan_out))
        return (2.0 * u - 1.0) * bound
    z = rng.standard_normal(shape) if normal is None else normal.reshape(shape).copy()
    if name == "kaiming_normal":
        z *= np.sqrt(2.0 / fan_in)
    elif name == "xavier_normal":
        z *= np.sqrt(2.0 / (fan_in + fan_out))
    elif name == "truncated_normal":
        bad = np.abs(z) > 2.0
        while bad.any():
            z[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(z) > 2.0
    elif name == "sparse":
        z *= 0.01
        zeros = int(np.ceil(0.5 * fan_rows))
        # A random permutation of the rows per column; its first ``zeros`` rows are set to zero.
        rows = np.argsort(rng.random(shape), axis=0)[:zeros]
        z[rows, np.arange(fan_cols)[None, :]] = 0.0
    else:
        raise ValueError(f"unknown initialisation {name!r}; allowed: {INITIALIZATIONS}")
    return z


@dataclass
class Mlp:
    """``U{layers}`` linear maps; every hidden output is clamp(scale * act(x @ W), ±1e6).

    ``weights`` are the drawn matrices. For speed the scale of hidden layer l is folded into the
    matrix of layer l+1 and the clamp becomes ±1e6/scale on act(x @ W): the same map with one
    pass less per layer. Bounded activations (|act| <= 7 < 1e6/scale) need no clamp at all.
    """

    weights: list[np.ndarray]
    activations: list[Activation] = field(repr=False)
    activation_names: list[str]
    scales: list[float]
    inits: list[str]

    def __post_init__(self) -> None:
        self._folded = [self.weights[0]] + [
            (w * np.float32(s)).astype(np.float32) for w, s in zip(self.weights[1:], self.scales)]
        self._bounds = [None if name in BOUNDED else float(np.float32(CLAMP_HIDDEN / s))
                        for name, s in zip(self.activation_names, self.scales)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for w, act, name, bound in zip(self._folded[:-1], self.activations, self.activation_names, self._bounds):
            x = act(_linear(x, w))
            if bound is not None:
                np.clip(x, -bound, bound, out=x)
            if name in SATURATING:
                flush_denormals(x)
        return _linear(x, self._folded[-1])

    def scale_output(self, factor: float) -> None:
        """Multiply the MLP's output by ``factor`` (folded into the last matrix)."""
        self._folded[-1] = (self._folded[-1] * np.float32(factor)).astype(np.float32)


def _linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # A one-column input is an outer product: broadcasting beats a k=1 GEMM.
    return x * w[0] if w.shape[0] == 1 else x @ w


FLUSH_BELOW = np.float32(1e-20)


def flush_denormals(x: np.ndarray) -> np.ndarray:
    """Set magnitudes below 1e-20 to zero, in place.

    Products of such values underflow to float32 subnormals inside the GEMM, which makes the BLAS
    kernel ~30x slower. At float32 precision they vanish anyway once added to the node noise
    (>= 1e-4 per cell), so the result is unchanged.
    """
    x[np.abs(x) < FLUSH_BELOW] = 0.0
    return x


def make_mlp(sp, in_dim: int, out_dim: int, rng: np.random.Generator) -> Mlp:
    layers = sp.mlp_layers.sample(rng)
    dims = [in_dim] + [sp.emb] * (layers - 1) + [out_dim]
    n_init, n_act = len(sp.initializations), len(sp.activations)
    inits = [sp.initializations[i] for i in rng.integers(n_init, size=layers)]
    densities = rng.uniform(sp.weight_density.lo, sp.weight_density.hi, size=layers)
    sizes = [a * b for a, b in zip(dims[:-1], dims[1:])]
    total = sum(sizes)
    normal, uniform, keep = rng.standard_normal(total), rng.random(total), rng.random(total)
    weights, start = [], 0
    for a, b, size, init, density in zip(dims[:-1], dims[1:], sizes, inits, densities):
        part = slice(start, start + size)
        w = init_weight(init, a, b, rng, normal[part], uniform[part])
        w *= (keep[part] < density).reshape(a, b) / max(float(density), 1e-6)
        weights.append(w.astype(np.float32))
        start += size
    names = [sp.activations[i] for i in rng.integers(n_act, size=layers - 1)]
    acts = [make_activation(n, rng) for n in names]
    scales = np.exp(rng.uniform(sp.activation_log_scale.lo, sp.activation_log_scale.hi, size=layers - 1)).tolist()
    return Mlp(weights, acts, names, scales, inits)


def make_embedding(sp, num_categories: int, rng: np.random.Generator) -> np.ndarray:
    """A category embedding table (K x emb): N(0, 1), then one of the initialisations."""
    init = str(pick(rng, sp.initializations))
    return init_weight(init, num_categories, sp.emb, rng).astype(np.float32)


UNCHECKED = object()


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(distinct values, inverse) when at most half the rows are distinct, else None.

    Saturated sources and clipped values repeat; encoding each distinct value once is exact.
    """
    x = values.astype(np.float32, copy=False)
    uniq, inverse = np.unique(x, return_inverse=True)
    return (uniq, inverse) if len(uniq) * 2 <= len(x) else None


@dataclass
class NumericalEncoder:
    mlp: Mlp

    def __call__(self, values: np.ndarray, distinct=UNCHECKED) -> np.ndarray:
        """Encode a value per row; ``distinct`` = (values, inverse) runs the MLP once per distinct value.

        Callers that encode one array many times pass ``distinct_values(values)`` (None: no repeats).
        """
        if distinct is UNCHECKED:
            distinct = distinct_values(values)
        if distinct is not None:
            uniq, inverse = distinct
            return self.mlp(uniq[:, None])[inverse]
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
        return self.mlp(self.table)[labels]

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


def make_encoder(sp, kind: str, num_categories: int | None, rng: np.random.Generator):
    if kind == "categorical":
        table = make_embedding(sp, num_categories, rng)
        return CategoricalEncoder(table, make_mlp(sp, sp.emb, sp.emb, rng))
    return NumericalEncoder(make_mlp(sp, 1, sp.emb, rng))


def make_decoder(sp, kind: str, num_categories: int | None, rng: np.random.Generator):
    if kind == "categorical":
        table = make_embedding(sp, num_categories, rng)
        return CategoricalDecoder(table, make_mlp(sp, sp.emb, sp.emb, rng))
    return NumericalDecoder(make_mlp(sp, sp.emb, 1, rng))


def aggregate(stack: list[np.ndarray], mode: str) -> np.ndarray:
    """Combine clamped, weighted embeddings elementwise."""
    if mode == "sum":
        out = stack[0].copy()
        for s in stack[1:]:
            out += s
        return out
    if mode == "max":
        out = stack[0].copy()
        for s in stack[1:]:
            np.maximum(out, s, out=out)
        return out
    if mode == "product":
        out = stack[0].copy()
        with np.errstate(over="ignore", invalid="ignore"):
            for s in stack[1:]:
                out *= s
        return out
    if mode == "logsumexp":
        out = stack[0].copy()
        for s in stack[1:]:
            np.logaddexp(out, s, out=out)
        return out
    raise ValueError(f"unknown aggregation {mode!r}; allowed: {AGGREGATIONS}")
