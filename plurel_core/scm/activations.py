"""The 29 activation functions of PluRel's MLP mechanisms, vectorized in float32.

Parameterised ones use PyTorch's defaults (see PLUREL_SPEC.md, fine print). ``make_activation``
returns a frozen callable: the random sine sum draws its terms once, at construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_RRELU_SLOPE = (1.0 / 8.0 + 1.0 / 3.0) / 2.0


def _softplus(x: np.ndarray) -> np.ndarray:
    # PyTorch: beta 1, threshold 20 (x itself above it). log1p(e^x) >= x, so the larger of the two
    # is exactly that rule. Below x = -46 the value e^x < 1.1e-20 is floored at log1p(e^-46): an
    # absolute change under 1.1e-20 that keeps float32 subnormals (30x slower GEMMs) out of the MLP.
    return np.maximum(np.log1p(np.exp(np.clip(x, np.float32(-46.0), np.float32(20.0)))), x)


_AS_P = 0.3275911  # Abramowitz & Stegun 7.1.26: erf(z) = 1 - t (a1 + t (a2 + ...)) e^(-z^2), t = 1 / (1 + p z)
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erfc_tail(z: np.ndarray, coefficient_scale: float = 1.0) -> np.ndarray:
    """``coefficient_scale`` * (1 - erf(z)) for z >= 0 (|error| <= 1.5e-7)."""
    t = np.multiply(z, np.float32(_AS_P))
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    a = [np.float32(c * coefficient_scale) for c in _AS_A]
    q = np.multiply(t, a[4])
    for c in (a[3], a[2], a[1], a[0]):
        q += c
        q *= t
    # Beyond z = 6 the tail is < 2e-17, and e^(-z²) would reach float32 subnormals (slow):
    # z is capped there for the exponential alone.
    e = np.minimum(z, np.float32(6.0), out=t)  # t is spent: its memory holds e^(-z²)
    np.square(e, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    q *= e
    return q


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, float32 precision)."""
    q = _erfc_tail(np.abs(x))
    np.subtract(np.float32(1.0), q, out=q)
    return np.copysign(q, x, out=q)


def _gelu(x: np.ndarray) -> np.ndarray:
    """x Φ(x) = relu(x) - |x| (1 - erf(|x| / √2)) / 2: one erf tail, no cancellation at 1 + erf."""
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)
    q = _erfc_tail(z, 0.5 * math.sqrt(2.0))  # |x| / 2 = z / √2
    q *= z
    out = np.maximum(x, np.float32(0.0))
    out -= q
    return out


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


class SineSum:
    """sum_j a_j sin(f_j x + p_j) over 3-7 terms drawn once: amplitudes U(0.1, 1), frequencies
    log-uniform on [0.1, 10], phases U(0, 2 pi)."""

    TERMS = (3, 7)

    def __init__(self, amp: np.ndarray, freq: np.ndarray, phase: np.ndarray) -> None:
        self.amp, self.freq, self.phase = (np.asarray(v, dtype=np.float32) for v in (amp, freq, phase))

    @staticmethod
    def terms_of(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Amplitudes, frequencies and phases from uniforms u[0], u[1], u[2] on [0, 1)."""
        return 0.1 + 0.9 * u[0], np.exp(np.log(0.1) + (np.log(10.0) - np.log(0.1)) * u[1]), 2 * np.pi * u[2]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SineSum:
        k = int(rng.integers(cls.TERMS[0], cls.TERMS[1] + 1))
        return cls(*cls.terms_of(rng.random((3, k))))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out, term = None, np.empty_like(x)
        for a, f, p in zip(self.amp, self.freq, self.phase):
            np.multiply(x, f, out=term)
            term += p
            np.sin(term, out=term)
            term *= a
            if out is None:
                out, term = term, np.empty_like(x)
            else:
                out += term
        return out


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
    "gelu": _gelu,
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

# No activation returns magnitudes in (0, 1e-20) for inputs outside that range: sigmoid-like ones
# saturate to exact zeros (through tanh or a cancelling subtraction) and softplus is floored, so
# the GEMMs never meet float32 subnormals. Product aggregation is the one exception; the SCM
# flushes after it.


def make_activation(name: str, rng: np.random.Generator) -> Activation:
    """A frozen activation by name; the sine sum draws its 3-7 terms from ``rng`` now."""
    if name == "sine_sum":
        return SineSum.draw(rng)
    try:
        return _FIXED[name]  # stateless, and float32 in, float32 out (tests check each)
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; allowed: {ACTIVATIONS}") from None
