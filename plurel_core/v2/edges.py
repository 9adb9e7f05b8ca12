"""v2 edges: one parent's contribution to a node, in eight families (PLUREL_V2_SPEC §3 items 9-10).

An edge maps its tail's value ``x`` of shape ``(n, d_in)`` to ``(n, d_out)``. Families are drawn
from a (warped) table prior by :func:`draw_edge`, which drops the families that do not fit the
widths first (:data:`FITS`). Every family is one class in :data:`EDGE_FAMILIES` with a
``draw(d_in, d_out, prior, rng, block=False)`` constructor, ``apply(x)`` and a ``params`` dict
(family name, widths and parameters) for the views. ``prior`` is duck-typed: any object with the
:class:`~plurel_core.v2.table_prior.TablePrior` attributes a family reads.

    >>> from plurel_core.v2.table_prior import TablePrior
    >>> rng = np.random.default_rng(0)
    >>> e = draw_edge(3, 2, TablePrior(), rng)
    >>> e.apply(np.zeros((5, 3))).shape
    (5, 2)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np


def _cube(c: np.ndarray) -> np.ndarray:
    return c * c * c  # several times faster than c ** 3


# --- transforms (§3 item 10): shifted so that a standard-normal input gives a roughly centred output
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0) - 0.4,
    "square": lambda x: x**2 - 1.0,
    "step": lambda x: np.where(x > 0.0, 0.8, -0.8),
    "cube": lambda x: _cube(np.clip(x, -3.0, 3.0)) / 9.0,
    "exp": lambda x: np.exp(np.clip(x, -2.5, 2.5)),
    "sigmoid": lambda x: np.tanh(x / 2.0) / 2.0,
    "softplus": lambda x: np.logaddexp(0.0, x) - 0.7,
    "abs": lambda x: np.abs(x) - 0.8,
    "sin": np.sin,
    "log": lambda x: np.sign(x) * np.log1p(np.abs(x)),
}
TRANSFORM_NAMES = tuple(TRANSFORMS)
ACTIVATIONS = tuple(name for name in TRANSFORM_NAMES if name != "identity")  # MLP hidden layers

# --- reductions over a node's edge outputs (§3 item 9): elementwise folds, or concatenation
REDUCTIONS: dict[str, Callable[[Sequence[np.ndarray]], np.ndarray]] = {
    "sum": lambda terms: reduce(np.add, terms),
    "product": lambda terms: reduce(np.multiply, terms),
    "max": lambda terms: reduce(np.maximum, terms),
    "min": lambda terms: reduce(np.minimum, terms),
    "logsumexp": lambda terms: reduce(np.logaddexp, terms),
    "concat": lambda terms: np.concatenate(terms, axis=1),
}

LOOKUP_CLIP = 1e-6  # lookup bin edges: Phi^-1 of the cumulative shares clipped to [1e-6, 1 - 1e-6]
FOURIER_SCALE = (0.5, 3.0)  # one U(.5, 3) factor on all frequencies of a Fourier edge
MLP_HIDDEN_BIAS_SD = 0.5
QUADRATIC_CHUNK = 1 << 22  # floats in the quadratic edge's per-chunk temporary (32 MiB)


def reduce_terms(op: str, terms: Sequence[np.ndarray]) -> np.ndarray:
    """``REDUCTIONS[op]`` over ``terms`` (a folded result is as wide as the widest term)."""
    if op not in REDUCTIONS:
        raise ValueError(f"op: {op!r} is not one of {tuple(REDUCTIONS)}")
    if not terms:
        raise ValueError("reduce_terms: at least one term is needed")
    return REDUCTIONS[op](list(terms))


def normal_bin_edges(probabilities: Sequence[float]) -> np.ndarray:
    """Phi^-1 of the cumulative shares (all but the last), clipped to [1e-6, 1 - 1e-6]: ascending edges."""
    cuts = np.clip(np.cumsum(np.asarray(probabilities, dtype=np.float64))[:-1], LOOKUP_CLIP, 1.0 - LOOKUP_CLIP)
    nd = NormalDist()
    return np.array([nd.inv_cdf(float(c)) for c in cuts], dtype=np.float64)


def _as_input(x: np.ndarray, d_in: int, family: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"{family} edge: expected input of shape (n, {d_in}), got {x.shape}")
    return x


@dataclass(frozen=True, eq=False)
class Edge(ABC):
    """Base of the edge families: widths ``d_in -> d_out`` and a vectorised :meth:`apply`."""

    d_in: int
    d_out: int
    family: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.d_out < 1:
            raise ValueError(f"{self.family} edge: widths must be positive, got {self.d_in} -> {self.d_out}")
        for name, shape in self._shapes().items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"{self.family} edge: {name} must have shape {shape}, got {got}")

    def _shapes(self) -> dict[str, tuple]:
        """The expected shape of each array parameter (checked on construction)."""
        return {}

    @staticmethod
    def fits(d_in: int, d_out: int, block: bool) -> bool:
        """Whether this family can map ``d_in`` to ``d_out`` (``block``: the target is one-hot)."""
        return True

    @abstractmethod
    def _apply(self, x: np.ndarray) -> np.ndarray:
        """The output for a validated float64 input of shape (n, d_in)."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """The family's parameters, by name."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The edge's output ``(n, d_out)`` for the tail value ``x`` ``(n, d_in)``."""
        return self._apply(_as_input(x, self.d_in, self.family))

    @property
    def params(self) -> dict[str, Any]:
        """Family, widths and parameters, for the views (arrays are the edge's own, do not modify)."""
        return {"family": self.family, "d_in": self.d_in, "d_out": self.d_out, **self._params()}


@dataclass(frozen=True, eq=False)
class LinearEdge(Edge):
    """w T(x), w ~ N(0, 1), T uniform over the 12 transforms; keeps the width (d_in = d_out)."""

    weight: float = 1.0
    transform: str = "identity"
    family: ClassVar[str] = "linear"

    @staticmethod
    def fits(d_in: int, d_out: int, block: bool) -> bool:
        return d_in == d_out and not block

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> LinearEdge:
        weight = float(rng.normal())
        transform = TRANSFORM_NAMES[int(rng.integers(len(TRANSFORM_NAMES)))]
        return cls(d_in, d_out, weight, transform)

    def _apply(self, x):
        return self.weight * TRANSFORMS[self.transform](x)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.transform not in TRANSFORMS:
            raise ValueError(f"linear edge: transform {self.transform!r} is not one of {TRANSFORM_NAMES}")
        if self.d_in != self.d_out:
            raise ValueError(f"linear edge: keeps the width, got {self.d_in} -> {self.d_out}")

    def _params(self):
        return {"weight": self.weight, "transform": self.transform}


@dataclass(frozen=True, eq=False)
class LookupEdge(Edge):
    """values[bin(x)]: k levels (the class-count range), shares p ~ Dir(1), values ~ N(0, 1)^k,
    bin edges Phi^-1(cumsum p) clipped to 1e-6. Scalar to scalar only."""

    values: np.ndarray = None
    probabilities: np.ndarray = None
    family: ClassVar[str] = "lookup"

    @staticmethod
    def fits(d_in: int, d_out: int, block: bool) -> bool:
        return d_in == d_out == 1 and not block

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> LookupEdge:
        k = int(prior.node_class_count.sample(rng))
        probabilities = rng.dirichlet(np.ones(k))
        return cls(d_in, d_out, rng.normal(size=k), probabilities)

    @property
    def edges(self) -> np.ndarray:
        return normal_bin_edges(self.probabilities)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_in != 1 or self.d_out != 1:
            raise ValueError(f"lookup edge: maps a scalar to a scalar, got {self.d_in} -> {self.d_out}")
        if np.ndim(self.values) != 1 or len(self.values) < 2 or np.shape(self.probabilities) != np.shape(self.values):
            raise ValueError("lookup edge: at least two level values and one probability per level")

    def _apply(self, x):
        return self.values[np.digitize(x[:, 0], self.edges)][:, None]

    def _params(self):
        return {"values": self.values, "probabilities": self.probabilities, "edges": self.edges}


@dataclass(frozen=True, eq=False)
class MatrixEdge(Edge):
    """x W with W ~ N(0, 1/sqrt(d_in)) (d_in x d_out). Nested categorical edges are matrix edges
    with a fixed W = log(max(mask p, tiny)) (see :func:`nested_edge`)."""

    matrix: np.ndarray = None
    mask: np.ndarray | None = None  # nested edges only: the allowed classes per parent class
    probabilities: np.ndarray | None = None  # nested edges only: p ~ Dir(1)
    family: ClassVar[str] = "matrix"

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> MatrixEdge:
        return cls(d_in, d_out, rng.normal(0.0, 1.0 / np.sqrt(d_in), (d_in, d_out)))

    def _apply(self, x):
        return x @ self.matrix

    def _shapes(self):
        out = {"matrix": (self.d_in, self.d_out)}
        if self.mask is not None:
            out.update(mask=(self.d_in, self.d_out), probabilities=(self.d_out,))
        return out

    def _params(self):
        out: dict[str, Any] = {"matrix": self.matrix}
        if self.mask is not None:
            out.update(nested=True, mask=self.mask, probabilities=self.probabilities)
        return out


def nested_edge(d_in: int, d_out: int, rng: np.random.Generator) -> MatrixEdge:
    """The edge from a nested categorical parent (§3 item 6): mask = U(d_in x d_out) < .5 plus one
    forced class per parent class, p ~ Dir(1), W = log(max(mask p, tiny)), so a parent class only
    lets its allowed classes win the argmax."""
    mask = rng.random((d_in, d_out)) < 0.5
    mask[np.arange(d_in), rng.integers(d_out, size=d_in)] = True
    probabilities = rng.dirichlet(np.ones(d_out))
    matrix = np.log(np.maximum(mask * probabilities, np.finfo(np.float64).tiny))
    return MatrixEdge(d_in, d_out, matrix, mask, probabilities)


@dataclass(frozen=True, eq=False)
class NearestEdge(Edge):
    """One-hot of the nearest of d_out centers ~ N(0, 1) (d_out x d_in); needs d_out >= 2."""

    centers: np.ndarray = None
    family: ClassVar[str] = "nearest"

    @staticmethod
    def fits(d_in: int, d_out: int, block: bool) -> bool:
        return d_out >= 2

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> NearestEdge:
        return cls(d_in, d_out, rng.normal(size=(d_out, d_in)))

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """Index of the nearest center per row (|c|^2 - 2 x.c, the row's |x|^2 does not matter)."""
        x = _as_input(x, self.d_in, self.family)
        return ((self.centers**2).sum(1) - 2.0 * (x @ self.centers.T)).argmin(1)

    def _apply(self, x):
        out = np.zeros((len(x), self.d_out))
        out[np.arange(len(x)), self.nearest(x)] = 1.0
        return out

    def _params(self):
        return {"centers": self.centers}

    def _shapes(self):
        return {"centers": (self.d_out, self.d_in)}


@dataclass(frozen=True, eq=False)
class MLPEdge(Edge):
    """An MLP: L ~ mlp_layer_count hidden layers of widths ~ mlp_hidden_width, gain g ~
    mlp_weight_scale, W ~ N(0, g/sqrt(fan_in)), hidden biases N(0, .5), output bias 0, one random
    non-identity activation per hidden layer, identity output."""

    weights: tuple[np.ndarray, ...] = ()
    biases: tuple[np.ndarray, ...] = ()
    activations: tuple[str, ...] = ()  # one per hidden layer
    gain: float = 1.0
    family: ClassVar[str] = "mlp"

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> MLPEdge:
        layers = int(prior.mlp_layer_count.sample(rng))
        hidden = [int(prior.mlp_hidden_width.sample(rng)) for _ in range(layers)]
        gain = float(prior.mlp_weight_scale.sample(rng))
        widths = [d_in, *hidden, d_out]
        weights = tuple(rng.normal(0.0, gain / np.sqrt(a), (a, b)) for a, b in zip(widths, widths[1:]))
        biases = tuple(rng.normal(0.0, MLP_HIDDEN_BIAS_SD, h) for h in hidden) + (np.zeros(d_out),)
        activations = tuple(ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))] for _ in hidden)
        return cls(d_in, d_out, weights, biases, activations, gain)

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.d_in, *(w.shape[1] for w in self.weights))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.weights or len(self.biases) != len(self.weights) or len(self.activations) != len(self.weights) - 1:
            raise ValueError("mlp edge: one bias per layer and one activation per hidden layer")
        bad = [a for a in self.activations if a not in TRANSFORMS]
        if bad:
            raise ValueError(f"mlp edge: unknown activations {bad}")
        widths = [self.d_in, *(np.shape(w)[-1] for w in self.weights[:-1]), self.d_out]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if np.shape(w) != (widths[i], widths[i + 1]) or np.shape(b) != (widths[i + 1],):
                raise ValueError(f"mlp edge: layer {i} must map {widths[i]} -> {widths[i + 1]}, got weights "
                                 f"{np.shape(w)} and bias {np.shape(b)}")

    def _apply(self, x):
        h = x
        for w, b, act in zip(self.weights[:-1], self.biases[:-1], self.activations):
            h = TRANSFORMS[act](h @ w + b)
        return h @ self.weights[-1] + self.biases[-1]

    def _params(self):
        return {"widths": self.widths, "activations": self.activations, "gain": self.gain,
                "weights": self.weights, "biases": self.biases}


@dataclass(frozen=True, eq=False)
class TreeEdge(Edge):
    """Mean over T ~ tree_count oblivious trees of depth D ~ tree_depth: split dims uniform,
    thresholds N(0, 1), leaves N(0, 1) (T x 2^D x d_out); leaf index sum_k [x_dim_k > t_k] 2^k."""

    split_dims: np.ndarray = None  # (T, D) int
    thresholds: np.ndarray = None  # (T, D)
    leaves: np.ndarray = None  # (T, 2^D, d_out)
    family: ClassVar[str] = "tree"

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> TreeEdge:
        trees, depth = int(prior.tree_count.sample(rng)), int(prior.tree_depth.sample(rng))
        split_dims = rng.integers(0, d_in, (trees, depth))
        return cls(d_in, d_out, split_dims, rng.normal(size=(trees, depth)), rng.normal(size=(trees, 2**depth, d_out)))

    def _shapes(self):
        trees, depth = np.shape(self.split_dims)
        return {"thresholds": (trees, depth), "leaves": (trees, 2**depth, self.d_out)}

    def leaf_index(self, x: np.ndarray) -> np.ndarray:
        """(n, T) leaf of every row in every tree."""
        x = _as_input(x, self.d_in, self.family)
        sides = x[:, self.split_dims] > self.thresholds  # (n, T, D)
        return sides.astype(np.int64) @ (1 << np.arange(self.split_dims.shape[1], dtype=np.int64))

    def _apply(self, x):
        index = self.leaf_index(x)
        out = np.zeros((len(x), self.d_out))
        for t in range(len(self.leaves)):  # one tree at a time keeps memory at (n, d_out)
            out += self.leaves[t][index[:, t]]
        return out / len(self.leaves)

    def _params(self):
        return {"trees": int(self.split_dims.shape[0]), "depth": int(self.split_dims.shape[1]),
                "split_dims": self.split_dims, "thresholds": self.thresholds, "leaves": self.leaves}


@dataclass(frozen=True, eq=False)
class FourierEdge(Edge):
    """cos(x Omega + phi) V: F = fourier_frequency_count features, Omega = N(0, 1) (d_in x F) times
    one U(.5, 3) scale, phi ~ U(0, 2 pi), V ~ N(0, 1/sqrt(F)) (F x d_out)."""

    frequencies: np.ndarray = None
    phases: np.ndarray = None
    weights: np.ndarray = None
    scale: float = 1.0
    family: ClassVar[str] = "fourier"

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> FourierEdge:
        f = int(prior.fourier_frequency_count)
        base = rng.normal(size=(d_in, f))
        scale = float(rng.uniform(*FOURIER_SCALE))
        phases = rng.uniform(0.0, 2.0 * np.pi, f)
        weights = rng.normal(0.0, 1.0 / np.sqrt(f), (f, d_out))
        return cls(d_in, d_out, base * scale, phases, weights, scale)

    def _shapes(self):
        f = len(self.phases)
        return {"frequencies": (self.d_in, f), "weights": (f, self.d_out)}

    def _apply(self, x):
        z = x @ self.frequencies
        z += self.phases
        return np.cos(z, out=z) @ self.weights

    def _params(self):
        return {"features": int(self.phases.shape[0]), "scale": self.scale, "frequencies": self.frequencies,
                "phases": self.phases, "weights": self.weights}


@dataclass(frozen=True, eq=False)
class QuadraticEdge(Edge):
    """x~^T A_o x~ per output o, x~ = [x, 1], A ~ N(0, 1/(sqrt(d_in) (d_in + 1))) (d_out x (d+1) x (d+1))."""

    tensor: np.ndarray = None
    family: ClassVar[str] = "quadratic"

    @classmethod
    def draw(cls, d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> QuadraticEdge:
        scale = 1.0 / (np.sqrt(d_in) * (d_in + 1))
        return cls(d_in, d_out, rng.normal(0.0, scale, (d_out, d_in + 1, d_in + 1)))

    def _shapes(self):
        return {"tensor": (self.d_out, self.d_in + 1, self.d_in + 1)}

    def _apply(self, x):
        n, d1 = len(x), self.d_in + 1
        xt = np.empty((n, d1))
        xt[:, :-1], xt[:, -1] = x, 1.0
        flat = self.tensor.transpose(1, 0, 2).reshape(d1, self.d_out * d1)
        out = np.empty((n, self.d_out))
        # (rows, d1) @ (d1, d_out * d1), one BLAS product per chunk of rows, then the second
        # contraction; chunks keep the (rows, d_out, d1) temporary near QUADRATIC_CHUNK floats
        # (a concat node can make d_in and d_out both exceed 100)
        step = max(1, QUADRATIC_CHUNK // (self.d_out * d1))
        for a in range(0, n, step):
            b = min(n, a + step)
            left = (xt[a:b] @ flat).reshape(b - a, self.d_out, d1)
            out[a:b] = np.matmul(left, xt[a:b, :, None])[..., 0]
        return out

    def _params(self):
        return {"tensor": self.tensor}


EDGE_FAMILIES: dict[str, type[Edge]] = {
    "linear": LinearEdge,
    "lookup": LookupEdge,
    "matrix": MatrixEdge,
    "nearest": NearestEdge,
    "mlp": MLPEdge,
    "tree": TreeEdge,
    "fourier": FourierEdge,
    "quadratic": QuadraticEdge,
}
FAMILY_NAMES = tuple(EDGE_FAMILIES)
# families with a fitness rule (the others fit any widths)
FITS: dict[str, Callable[[int, int, bool], bool]] = {
    name: cls.fits for name, cls in EDGE_FAMILIES.items() if cls.fits is not Edge.fits
}


def fits(family: str, d_in: int, d_out: int, block: bool = False) -> bool:
    """Whether ``family`` can map ``d_in`` to ``d_out`` (``block``: the target node is one-hot)."""
    return EDGE_FAMILIES[family].fits(d_in, d_out, block)


def fit_families(d_in: int, d_out: int, block: bool = False, families: Sequence[str] = FAMILY_NAMES) -> tuple[str, ...]:
    """The families among ``families`` that fit these widths."""
    return tuple(f for f in families if fits(f, d_in, d_out, block))


def draw_edge(d_in: int, d_out: int, prior, rng: np.random.Generator, block: bool = False) -> Edge:
    """One edge ``d_in -> d_out``: a family from ``prior.edge_families`` (warped weights kept) after
    dropping the unfit ones, then that family's parameters (§3 item 10)."""
    if d_in < 1 or d_out < 1:
        raise ValueError(f"draw_edge: widths must be positive, got d_in={d_in}, d_out={d_out}")
    family = prior.edge_families.among(fit_families(d_in, d_out, block, prior.edge_families.options)).sample(rng)
    return EDGE_FAMILIES[family].draw(d_in, d_out, prior, rng, block)
