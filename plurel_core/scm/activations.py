"""The 29 activation functions of PluRel's MLP mechanisms, vectorized in float32.

Parameterised ones use PyTorch's defaults (see PLUREL_SPEC.md, fine print). ``make_activation``
returns a frozen callable: the random sine sum draws its terms once, at construction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_RRELU_SLOPE = (1.0 / 8.0 + 1.0 / 3.0) / 2.0


def _softplus(x: np.ndarray) -> np.ndarray:
    # PyTorch: beta 1, threshold 20 (x itself above it). log1p(e^x) >= x, so the larger of the two
    # is exactly that rule.
    return np.maximum(np.log1p(np.exp(np.minimum(x, np.float32(20.0)))), x)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, float32 precision)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    with np.errstate(over="ignore"):  # |x| > 1.8e19: a² is inf and e^-inf is exactly 0
        a *= a
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.copysign(poly, x, out=poly)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    # alpha * expm1(x) below zero, x above: the two branches never overlap.
    out = np.expm1(np.minimum(x, np.float32(0.0)))
    if alpha != 1.0:
        out *= np.float32(alpha)
    out += np.maximum(x, np.float32(0.0))
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _hardsigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def _leaky(slope: float) -> Activation:
    s = np.float32(slope)
    return lambda x: np.maximum(x, s * x)  # slope < 1: the larger of x and slope * x


def _sine_sum(rng: np.random.Generator) -> Activation:
    k = int(rng.integers(3, 8))
    amp = rng.uniform(0.1, 1.0, k).astype(np.float32)
    freq = np.exp(rng.uniform(np.log(0.1), np.log(10.0), k)).astype(np.float32)
    phase = rng.uniform(0.0, 2 * np.pi, k).astype(np.float32)

    def sine_sum(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        for a, f, p in zip(amp, freq, phase):
            out += a * np.sin(f * x + p)
        return out

    return sine_sum


_FIXED: dict[str, Activation] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
    "silu": lambda x: x * _sigmoid(x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hardswish": lambda x: x * _hardsigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "leaky_relu": _leaky(0.01),
    "gelu": lambda x: 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476))),
    "softplus": _softplus,
    "hardsigmoid": _hardsigmoid,
    "hardtanh": lambda x: np.clip(x, -1.0, 1.0),
    "celu": _elu,  # alpha = 1: identical to elu
    "tanhshrink": lambda x: x - np.tanh(x),
    "rrelu": _leaky(_RRELU_SLOPE),
    "logsigmoid": lambda x: -_softplus(-x),
    "softshrink": lambda x: x - np.clip(x, -0.5, 0.5),
    "hardshrink": lambda x: x * (np.abs(x) > 0.5),
    "identity": lambda x: x,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "sign": np.sign,
    "clamp": lambda x: np.clip(x, -1.0, 1.0),
    "signed_log1p": lambda x: np.sign(x) * np.log1p(np.abs(x)),
    "sqrt_smooth": lambda x: (np.sqrt(x * x + 1.0) - 1.0) / 2.0 + x,
}

ACTIVATIONS: tuple[str, ...] = (*_FIXED, "sine_sum")

# Activations with |output| <= 7 (the sine sum: at most 7 terms of amplitude <= 1): with a scale
# of at most e^5 they can never reach the ±1e6 clamp.
BOUNDED = frozenset({"tanh", "sigmoid", "softsign", "hardsigmoid", "hardtanh", "sin", "cos", "sign", "clamp",
                     "sine_sum"})
BOUNDED_BY = 7.0

# Activations whose outputs approach zero exponentially: only they create the tiny values that
# the MLP flushes before its next GEMM.
SATURATING = frozenset({"sigmoid", "silu", "softplus", "logsigmoid", "mish", "gelu", "hardswish", "tanhshrink"})


def make_activation(name: str, rng: np.random.Generator) -> Activation:
    """A frozen activation by name; the sine sum draws its 3-7 terms from ``rng`` now."""
    if name == "sine_sum":
        return _sine_sum(rng)
    try:
        fn = _FIXED[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; allowed: {ACTIVATIONS}") from None

    def typed(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x), dtype=np.float32)

    return typed
