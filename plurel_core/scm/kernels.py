"""The compiled SCM kernels: a table's whole SCM on each chunk of rows, and its parts.

A paper table holds about 1000 rows: evaluated node by node from Python, a table cost hundreds
of short calls, and the Python between them kept the second core idle. These kernels (numba,
no GIL, cached on disk) run a table's whole SCM in one call (:func:`table_chunks`): its row
chunks are shared by numba's worker threads, each chunk going through every node in order
(:func:`node_block`: encode every parent, aggregate, add noise, decode):

- the MLPs of an SCM (the encoders of its edges, its decoders, the parent tables' encoders)
  are drawn into flat arrays when it is built (:class:`MlpPack`, ``mlp.draw_mlps``);
- the matrix products go to BLAS (scipy's, through numba) on tiles of ``TILE_ROWS`` rows; the
  activations, clamps and the aggregation run on the tile while it is in cache;
- a parent's values that repeat (saturated or clipped) are encoded once per distinct value
  (:func:`distinct_chunk`), categories once per category (when the SCM is built);
- the 29 activations are evaluated by vectorizable float32 formulas (exp, log, tanh, sin by
  range reduction and polynomials, accurate to a few float32 ulps). numba without Intel's SVML
  would call the scalar libm per element, 5-10x slower than numpy's SIMD loops.

The map is the one of :class:`plurel_core.scm.mlp.Mlp` and :class:`~plurel_core.scm.mlp.Aggregator`
(every hidden output clamped to ±1e6, every weighted embedding to ±1e4); tests compare the two.
The rows of a chunk do not depend on the other rows, and the chunks depend on the table's row
count alone, so the values are the same whatever thread computes which chunk.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

# A table's chunks run on numba's worker threads (table_chunks). GNU OpenMP's idle workers spin
# for a while after each parallel region and take the core from the thread that builds the next
# SCMs: passive waiting is 2% faster on paper databases (it was 6% with a region per node). Only
# a threadsafe layer (OpenMP or TBB) serves concurrent generations (the app's sessions). A user's
# own settings win.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402 - after the OpenMP setting
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401 - numba's np.dot calls this BLAS; load it before any thread limit
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from plurel_core.samplers import fill_beta
from plurel_core.scm.activations import ACTIVATIONS, SineSum

TILE_ROWS = 512  # rows per BLAS call: 512 x 32 float32 (64 KB) stays in L2 through a whole MLP
CLAMP_EMB = np.float32(1e4)
# After a product aggregation, magnitudes below 1e-20 are set to zero. Products of small inputs
# are the one source of float32 subnormals here, which make every later product 30-100x slower;
# at float32 precision they vanish anyway once added to the node noise (>= 1e-4 per cell).
FLUSH_BELOW = np.float32(1e-20)
MODES = {"sum": 0, "max": 1, "product": 2, "logsumexp": 3}
ACT_CODE = {name: i for i, name in enumerate(ACTIVATIONS)}
NO_ACTIVATION = -1  # an MLP's last layer
_FLT_MAX = np.float32(np.finfo(np.float32).max)

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"

_jit = functools.partial(numba.njit, nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")
_inline = functools.partial(numba.njit, inline="always", fastmath={"contract"}, error_model="numpy")


@intrinsic
def _bits_as_f32(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _f32_as_bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


_f = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _f(1.4426950408889634), _f(0.693145751953125), _f(1.428606765330187e-06)
_SMALL = _f(1e-10)  # below it x^2 < 1e-20 and, further down, a float32 subnormal (30-100x slower)


@_inline
def _horner(x, coefficients):
    """The polynomial with ``coefficients`` (highest degree first) at x."""
    p = coefficients[0]
    for c in coefficients[1:]:
        p = p * x + c
    return p


_EXP_TAYLOR = tuple(_f(1.0 / math.factorial(k)) for k in range(7, -1, -1))  # e^r to r^7
_EXPM1_TAYLOR = tuple(_f(1.0 / math.factorial(k)) for k in range(9, 1, -1))  # (e^t - 1 - t) / t^2 to t^9
_ATANH_SERIES = tuple(_f(1.0 / k) for k in range(17, 0, -2))  # atanh(s) / s in s^2, to s^16


@_inline
def _exp(x):
    """e^x in float32 (about 1 ulp); inf above 88.72, and exactly 0 below -87.33 where e^x would be
    a float32 subnormal (under 1.2e-38): arithmetic on subnormals is 30-100x slower."""
    xc = min(max(x, _f(-88.0)), _f(89.0))
    n = np.floor(xc * _LOG2E + _f(0.5))
    r = xc - n * _LN2_HI
    r = r - n * _LN2_LO
    p = _horner(r, _EXP_TAYLOR)
    k = np.int32(n)
    k1 = k >> 1  # 2^k as two factors, so that 2^128 and the subnormals stay reachable
    y = p * _bits_as_f32((k1 + np.int32(127)) << 23) * _bits_as_f32((k - k1 + np.int32(127)) << 23)
    y = _f(0.0) if x < _f(-87.33) else y
    return x if x != x else y


@_inline
def _expm1(x):
    """e^x - 1 in float32, accurate near 0 (a Taylor polynomial below |x| = 0.35; x itself below
    1e-10, where x^2 would be a subnormal)."""
    t = x if abs(x) > _SMALL else _SMALL
    p = _horner(t, _EXPM1_TAYLOR) * t * t + t
    e = _exp(x) - _f(1.0)
    return x if abs(x) <= _SMALL else (p if abs(x) < _f(0.35) else e)


@_inline
def _log(x):
    """log(x) for x > 0 in float32 (about 1 ulp): exponent and a series in (m - 1) / (m + 1)."""
    bits = _f32_as_bits(x)
    e = ((bits >> 23) & np.int32(0xFF)) - np.int32(127)
    m = _bits_as_f32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000))  # in [1, 2)
    big = m > _f(1.4142135)
    m = m * _f(0.5) if big else m
    ef = _f(e) + (_f(1.0) if big else _f(0.0))
    s = (m - _f(1.0)) / (m + _f(1.0))
    s2 = s * s
    p = _horner(s2, _ATANH_SERIES[3:])  # to s^10 here: |s| <= 0.172
    return ef * _LN2_HI + (ef * _LN2_LO + _f(2.0) * s * p)


@_inline
def _log1p(u):
    """log(1 + u) for u >= 0, accurate near 0 (Goldberg's correction)."""
    y = _f(1.0) + u
    return u if y == _f(1.0) or u == np.inf else _log(y) * (u / (y - _f(1.0)))


_TANH_P = tuple(_f(c) for c in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                                 5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
                                 4.89352455891786e-03))
_TANH_Q = tuple(_f(c) for c in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                                 4.89352518554385e-03))


@_inline
def _tanh(x):
    """tanh in float32 by a rational minimax fit on |x| <= 7.9 (Eigen's; a few ulps), exactly ±1
    from |x| = 9 on."""
    v = min(max(x, _f(-7.90531110763549805)), _f(7.90531110763549805))
    v = v if abs(v) >= _f(0.0004) else _f(0.0004)  # below it the result is x (and v^2 stays normal)
    v2 = v * v
    p = _horner(v2, _TANH_P)
    q = _horner(v2, _TANH_Q)
    y = v * p / q
    y = x if abs(x) < _f(0.0004) else y
    y = (_f(1.0) if x > 0 else _f(-1.0)) if abs(x) >= _f(9.0) else y  # tanh(9) rounds to 1 in float32
    return x if x != x else y


@_inline
def _log1p_unit(u):
    """log(1 + u) for u in [0, 1]: 2 atanh(s) with s = u / (2 + u) <= 1/3, a series to s^17."""
    s = u / (_f(2.0) + u)
    s = s if s > _SMALL else _SMALL  # log1p(u) = u below 2e-10; s^2 stays a normal float
    s2 = s * s
    p = _horner(s2, _ATANH_SERIES)
    return u if u < _f(2.0) * _SMALL else _f(2.0) * s * p


@_inline
def _sin(x, quarter):
    """sin(x + quarter pi/2): reduced by pi/2 in float64 (exact enough for any |x| a float32 MLP
    reaches), then float32 polynomials on [-pi/4, pi/4]; NaN for inf and NaN, as numpy."""
    xd = np.float64(x)
    n = np.floor(xd * 0.6366197723675814 + 0.5)
    r = np.float32(xd - n * 1.5707963267341256 - n * 6.077100506506192e-11)
    r = _f(-0.8) if r < _f(-0.8) else (_f(0.8) if r > _f(0.8) else r)
    tiny = abs(r) < _SMALL  # sin r = r, cos r = 1 there; r^2 would be a subnormal
    r0 = r
    r = _SMALL if tiny else r
    n = n + quarter
    q = np.float32(n - 4.0 * np.floor(n * 0.25))  # the quadrant, 0 to 3, without an integer conversion
    r2 = r * r
    s = r + r * r2 * (_f(-1.0 / 6.0) + r2 * (_f(1.0 / 120.0) + r2 * (_f(-1.0 / 5040.0) + r2 * _f(1.0 / 362880.0))))
    c = _f(1.0) + r2 * (_f(-0.5) + r2 * (_f(1.0 / 24.0) + r2 * (_f(-1.0 / 720.0) + r2 * _f(1.0 / 40320.0))))
    s = r0 if tiny else s
    y = s if q == _f(0.0) else (c if q == _f(1.0) else (-s if q == _f(2.0) else -c))
    return y if abs(x) < np.inf else np.float32(np.nan)


# pi/2 in three float32 parts of 8, 12 and 24 bits: n x part is exact for n < 2^12 (|x| < 6000).
_PIO2_1, _PIO2_2, _PIO2_3 = _f(1.5703125), _f(0.0004838705062866211), _f(-4.371138828673793e-08)
SIN32_BELOW = _f(6000.0)


@_inline
def _sin32(x, quarter):
    """sin(x + quarter pi/2) for |x| < SIN32_BELOW, reduced in float32 (Cody-Waite, exact there)."""
    n = np.floor(x * _f(0.6366197723675814) + _f(0.5))
    r = ((x - n * _PIO2_1) - n * _PIO2_2) - n * _PIO2_3
    tiny = abs(r) < _SMALL
    r0 = r
    r = _SMALL if tiny else r
    n = n + _f(quarter)
    q = n - _f(4.0) * np.floor(n * _f(0.25))
    r2 = r * r
    s = r + r * r2 * (_f(-1.0 / 6.0) + r2 * (_f(1.0 / 120.0) + r2 * (_f(-1.0 / 5040.0) + r2 * _f(1.0 / 362880.0))))
    c = _f(1.0) + r2 * (_f(-0.5) + r2 * (_f(1.0 / 24.0) + r2 * (_f(-1.0 / 720.0) + r2 * _f(1.0 / 40320.0))))
    s = r0 if tiny else s
    return s if q == _f(0.0) else (c if q == _f(1.0) else (-s if q == _f(2.0) else -c))


@_inline
def _max_abs(x):
    """max |x| over 16 lanes that vectorize (a NaN is skipped: _sin32 keeps NaN anyway)."""
    lanes = np.zeros(16, np.float32)
    n = x.size - x.size % 16
    for i in range(0, n, 16):
        for j in range(16):
            v = abs(x[i + j])
            lanes[j] = v if v > lanes[j] else lanes[j]
    m = _f(0.0)
    for j in range(16):
        m = lanes[j] if lanes[j] > m else m
    for i in range(n, x.size):
        v = abs(x[i])
        m = v if v > m else m
    return m


_AS_P = _f(0.3275911)
_AS_A = tuple(_f(c) for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


@_inline
def _erfc_tail(z, scale):
    """scale * (1 - erf(z)) for z >= 0, Abramowitz & Stegun 7.1.26 (as activations.erf)."""
    t = _f(1.0) / (_f(1.0) + _AS_P * z)
    q = _AS_A[4] * scale * t
    q = (q + _AS_A[3] * scale) * t
    q = (q + _AS_A[2] * scale) * t
    q = (q + _AS_A[1] * scale) * t
    q = (q + _AS_A[0] * scale) * t
    e = min(max(z, _SMALL), _f(6.0))  # e^2 stays a normal float
    return q * _exp(-(e * e))


@_inline
def _elu(v):
    return v if v > _f(0.0) else _expm1(min(v, _f(0.0)))


@_inline
def _softplus(v):
    """log(1 + e^v) as max(v, 0) + log1p(e^-|v|), with v floored at -46 (as activations._softplus:
    no float32 subnormals); above 20 that is v itself, PyTorch's threshold."""
    w = max(v, _f(-46.0))
    y = max(w, _f(0.0)) + _log1p_unit(_exp(-abs(w)))
    return v if v != v else y


@_inline
def _sigmoid(v):
    return _f(0.5) * (_f(1.0) + _tanh(_f(0.5) * v))


@_inline
def _hardsigmoid(v):
    h = v / _f(6.0) + _f(0.5)
    return _f(0.0) if h < _f(0.0) else (_f(1.0) if h > _f(1.0) else h)


@_inline
def _clip1(v):
    return _f(-1.0) if v < _f(-1.0) else (_f(1.0) if v > _f(1.0) else v)


@_inline
def _leaky(v, slope):
    return v if v >= _f(0.0) or v != v else v * slope


@_inline
def _sign(v):
    return _f(1.0) if v > _f(0.0) else (_f(-1.0) if v < _f(0.0) else v)


_SELU_ALPHA, _SELU_SCALE = _f(1.6732632423543772), _f(1.0507009873554805)
_RRELU_SLOPE = _f((1.0 / 8.0 + 1.0 / 3.0) / 2.0)
_SQRT1_2 = _f(0.7071067811865476)
_GELU_SCALE = _f(0.5 * np.sqrt(2.0))
_ABS = ACT_CODE["abs"]
_CELU = ACT_CODE["celu"]
_CLAMP = ACT_CODE["clamp"]
_COS = ACT_CODE["cos"]
_ELU = ACT_CODE["elu"]
_GELU = ACT_CODE["gelu"]
_HARDSHRINK = ACT_CODE["hardshrink"]
_HARDSIGMOID = ACT_CODE["hardsigmoid"]
_HARDSWISH = ACT_CODE["hardswish"]
_HARDTANH = ACT_CODE["hardtanh"]
_LEAKY_RELU = ACT_CODE["leaky_relu"]
_LOGSIGMOID = ACT_CODE["logsigmoid"]
_MISH = ACT_CODE["mish"]
_RELU = ACT_CODE["relu"]
_RRELU = ACT_CODE["rrelu"]
_SELU = ACT_CODE["selu"]
_SIGMOID = ACT_CODE["sigmoid"]
_SIGN = ACT_CODE["sign"]
_SIGNED_LOG1P = ACT_CODE["signed_log1p"]
_SILU = ACT_CODE["silu"]
_SIN = ACT_CODE["sin"]
_SINE_SUM = ACT_CODE["sine_sum"]
_SOFTPLUS = ACT_CODE["softplus"]
_SOFTSHRINK = ACT_CODE["softshrink"]
_SOFTSIGN = ACT_CODE["softsign"]
_SQRT_SMOOTH = ACT_CODE["sqrt_smooth"]
_TANH = ACT_CODE["tanh"]
_TANHSHRINK = ACT_CODE["tanhshrink"]


@_jit
def activate(code, params, at, x, clamp):
    """x = clamp(act(x), ±clamp) in place on a flat float32 array (no clamp if clamp is inf)."""
    n = x.size
    if code == _RELU:
        for i in range(n):
            v = x[i]
            x[i] = _f(0.0) if v < _f(0.0) else v
    elif code == _ELU or code == _CELU:
        for i in range(n):
            x[i] = _elu(x[i])
    elif code == _SELU:
        for i in range(n):
            v = x[i]
            x[i] = _SELU_SCALE * (v if v > _f(0.0) else _SELU_ALPHA * _expm1(min(v, _f(0.0))))
    elif code == _SILU:
        for i in range(n):
            v = x[i]
            x[i] = v * _sigmoid(v)
    elif code == _SOFTSIGN:
        for i in range(n):
            v = x[i]
            x[i] = v / (_f(1.0) + abs(v))
    elif code == _TANH:
        for i in range(n):
            x[i] = _tanh(x[i])
    elif code == _SIGMOID:
        for i in range(n):
            x[i] = _sigmoid(x[i])
    elif code == _HARDSWISH:
        for i in range(n):
            v = x[i]
            x[i] = v * _hardsigmoid(v)
    elif code == _MISH:  # x tanh(softplus x) = x m / (m + 2), m = e^x (e^x + 2); softplus floored at -46
        for i in range(n):
            v = x[i]
            e = _exp(min(max(v, _f(-46.0)), _f(20.0)))
            m = e * (e + _f(2.0))
            x[i] = v if v > _f(20.0) or v != v else v * (m / (m + _f(2.0)))
    elif code == _LEAKY_RELU:
        for i in range(n):
            x[i] = _leaky(x[i], _f(0.01))
    elif code == _GELU:
        for i in range(n):
            v = x[i]
            z = abs(v) * _SQRT1_2
            x[i] = (v if v > _f(0.0) else _f(0.0)) - _erfc_tail(z, _GELU_SCALE) * z
    elif code == _SOFTPLUS:
        for i in range(n):
            x[i] = _softplus(x[i])
    elif code == _HARDSIGMOID:
        for i in range(n):
            x[i] = _hardsigmoid(x[i])
    elif code == _HARDTANH or code == _CLAMP:
        for i in range(n):
            x[i] = _clip1(x[i])
    elif code == _TANHSHRINK:
        for i in range(n):
            v = x[i]
            x[i] = v - _tanh(v)
    elif code == _RRELU:
        for i in range(n):
            x[i] = _leaky(x[i], _RRELU_SLOPE)
    elif code == _LOGSIGMOID:
        for i in range(n):
            x[i] = -_softplus(-x[i])
    elif code == _SOFTSHRINK:
        for i in range(n):
            v = x[i]
            x[i] = v - (_f(-0.5) if v < _f(-0.5) else (_f(0.5) if v > _f(0.5) else v))
    elif code == _HARDSHRINK:
        for i in range(n):
            v = x[i]
            x[i] = v * (_f(1.0) if abs(v) > _f(0.5) else _f(0.0))
    elif code == _ABS:
        for i in range(n):
            x[i] = abs(x[i])
    elif code == _SIN or code == _COS:
        small = _max_abs(x) < SIN32_BELOW  # the whole array in float32: about twice as fast
        if code == _SIN and small:
            for i in range(n):
                x[i] = _sin32(x[i], 0)
        elif code == _SIN:
            for i in range(n):
                x[i] = _sin(x[i], 0)
        elif small:
            for i in range(n):
                x[i] = _sin32(x[i], 1)
        else:
            for i in range(n):
                x[i] = _sin(x[i], 1)
    elif code == _SIGN:
        for i in range(n):
            x[i] = _sign(x[i])
    elif code == _SIGNED_LOG1P:
        for i in range(n):
            v = x[i]
            y = _log1p(abs(v))
            x[i] = -y if v < _f(0.0) else (y if v > _f(0.0) else v)
    elif code == _SQRT_SMOOTH:
        for i in range(n):
            v = x[i]
            w = v if abs(v) > _SMALL else _f(0.0)  # v^2 stays a normal float
            x[i] = (np.sqrt(w * w + _f(1.0)) - _f(1.0)) / _f(2.0) + v
    elif code == _SINE_SUM:
        k = int(params[at])
        arg = x.copy()
        top = _max_abs(arg)
        x[:] = 0.0
        for j in range(k):  # a term at a time, so that the loop over elements vectorizes
            a, f, p = params[at + 1 + j], params[at + 1 + k + j], params[at + 1 + 2 * k + j]
            if top * f + abs(p) < _f(0.999) * SIN32_BELOW:
                for i in range(n):
                    x[i] += a * _sin32(arg[i] * f + p, 0)
            else:
                for i in range(n):
                    x[i] += a * _sin(arg[i] * f + p, 0)
    # identity: nothing to do
    if clamp < np.inf:
        for i in range(n):
            v = x[i]
            x[i] = clamp if v > clamp else (-clamp if v < -clamp else v)


@dataclass
class MlpPack:
    """MLPs in flat arrays: ``layers[l]`` = (weight offset, rows, cols, activation code, parameter
    offset), ``clamps[l]`` its hidden clamp (inf on a last layer), MLP i = layers first[i]..first[i+1]-1."""

    weights: np.ndarray  # float32, the folded matrices one after the other
    layers: np.ndarray  # int64 (L, 5)
    clamps: np.ndarray  # float32 (L,)
    params: np.ndarray  # float32, the sine sums' terms: k, amplitudes, frequencies, phases
    first: np.ndarray  # int64 (count + 1,)

    def __len__(self) -> int:
        return len(self.first) - 1

    def activation_names(self, i: int) -> list[str]:
        """The activations of MLP i's hidden layers, by name."""
        return [ACTIVATIONS[c] for c in self.layers[self.first[i]:self.first[i + 1] - 1, 3].tolist()]


def pack_mlps(mlps) -> MlpPack:
    """Pack hand-made :class:`~plurel_core.scm.mlp.Mlp` objects (their folded matrices) for the
    kernel; the SCM's own MLPs are drawn packed (``mlp.draw_mlps``)."""
    mats, layers, clamps, params = [], [], [], [np.zeros(1, np.float32)]
    first, offset, p_at = [0], 0, 1
    for mlp in mlps:
        hidden = len(mlp.folded) - 1
        for layer, w in enumerate(mlp.folded):
            code, at = NO_ACTIVATION, 0
            if layer < hidden:
                code = ACT_CODE[mlp.activation_names[layer]]
                act = mlp.activations[layer]
                if isinstance(act, SineSum):
                    terms = np.concatenate([[len(act.amp)], act.amp, act.freq, act.phase]).astype(np.float32)
                    params.append(terms)
                    at, p_at = p_at, p_at + len(terms)
            layers.append((offset, w.shape[0], w.shape[1], code, at))
            clamps.append(mlp.clamps[layer] if layer < hidden else np.inf)
            mats.append(w.reshape(-1))
            offset += w.size
        first.append(len(layers))
    return MlpPack(np.concatenate(mats) if mats else np.zeros(0, np.float32),
                   np.array(layers, dtype=np.int64).reshape(-1, 5), np.array(clamps, dtype=np.float32),
                   np.concatenate(params), np.array(first, dtype=np.int64))


@_jit
def _mlp_tile(mlp, x, weights, layers, clamps, params, first, buf_a, buf_b):
    """MLP ``mlp`` of a pack on a tile ``x`` (rows, in); the output is a view into buf_a or buf_b."""
    rows = x.shape[0]
    out = x
    for layer in range(first[mlp], first[mlp + 1]):
        off, r, c, code, at = layers[layer]
        w = weights[off:off + r * c].reshape((r, c))
        buf = buf_a if (layer - first[mlp]) % 2 == 0 else buf_b
        y = buf[:rows * c].reshape((rows, c))
        if r == 1:  # a one-column input: an outer product
            for i in range(rows):
                v = out[i, 0]
                for j in range(c):
                    y[i, j] = v * w[0, j]
        else:
            np.dot(out, w, y)
        if code != NO_ACTIVATION:
            activate(code, params, at, buf[:rows * c], clamps[layer])
        out = y
    return out


@_inline
def _fold(mode, acc, aux, y, clamp, scale):
    """Fold scale * y into acc elementwise (clamped to ±clamp): sum, max (NaN kept), product, or
    logsumexp as a running maximum (acc) and a sum of shifted exponentials (aux)."""
    n = acc.size
    if mode == 0:
        for i in range(n):
            v = y[i] * scale
            acc[i] += clamp if v > clamp else (-clamp if v < -clamp else v)
    elif mode == 1:
        for i in range(n):
            v = y[i] * scale
            v = clamp if v > clamp else (-clamp if v < -clamp else v)
            a = acc[i]
            acc[i] = v if v > a or v != v else a
    elif mode == 2:
        for i in range(n):
            v = y[i] * scale
            acc[i] *= clamp if v > clamp else (-clamp if v < -clamp else v)
    else:
        for i in range(n):
            v = y[i] * scale
            v = clamp if v > clamp else (-clamp if v < -clamp else v)
            m = acc[i]
            d = v - m
            e = _exp(-abs(d))
            grow = d > _f(0.0)
            keep = v == -np.inf  # e^-inf adds nothing (a null reference's identity)
            aux[i] = aux[i] if keep else (aux[i] * e + _f(1.0) if grow else aux[i] + e)
            acc[i] = v if grow and not keep else m


@_jit
def _aggregate_tile(t0, rows, modes, scales, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at,
                    gather_tables, foreign, weights, layers, clamps, params, first, acc, aux, x_in, buf_a, buf_b):
    """acc[m, :rows * emb] = the aggregate in mode modes[m] over rows t0..t0+rows of every input
    (see node_block), each encoded input times scales[m] and clamped to ±1e4; aux is scratch.
    Each input is encoded once for all the modes."""
    emb = gather_tables.shape[1]
    cells = rows * emb
    for m in range(modes.size):
        acc[m, :cells] = _f(0.0) if modes[m] == 0 else (_f(1.0) if modes[m] == 2 else _f(-np.inf))
        aux[m, :cells] = 0.0
    for p in range(mlp_rows.size):
        for i in range(rows):
            x_in[i, 0] = values[mlp_rows[p], t0 + i]
        y = _mlp_tile(mlp_ids[p], x_in[:rows], weights, layers, clamps, params, first, buf_a, buf_b).reshape(cells)
        for m in range(modes.size):
            _fold(modes[m], acc[m, :cells], aux[m, :cells], y, CLAMP_EMB, scales[m])
    for p in range(gather_rows.size):
        for i in range(rows):
            at = gather_at[p] + labels[gather_rows[p], t0 + i]
            for m in range(modes.size):
                _fold(modes[m], acc[m, i * emb:(i + 1) * emb], aux[m, i * emb:(i + 1) * emb], gather_tables[at],
                      CLAMP_EMB, scales[m])
    for m in range(modes.size):
        if foreign.shape[0]:  # already an aggregate: neither scaled nor clamped
            _fold(modes[m], acc[m, :cells], aux[m, :cells], foreign[t0:t0 + rows].reshape(cells), _f(np.inf), _f(1.0))
        if modes[m] == 3:
            for i in range(cells):
                s = aux[m, i]
                acc[m, i] = acc[m, i] + _log(s) if s > _f(0.0) else -np.inf


_parallel = functools.partial(numba.njit, nogil=True, cache=True, parallel=True, fastmath={"contract"},
                              error_model="numpy")


@_parallel
def aggregate_block(lo, hi, modes, scales, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at, gather_tables,
                    weights, layers, clamps, params, first, out):
    """out[m, lo:hi] = the aggregate in mode modes[m] of inputs as in node_block, each encoded input
    times scales[m] then clamped to ±1e4 (a parent table's columns, aggregated per parent row;
    each column encoded once for all the modes). Tiles run on numba's worker threads."""
    emb = gather_tables.shape[1]
    no_foreign = np.zeros((0, emb), np.float32)
    for t in numba.prange((hi - lo + TILE_ROWS - 1) // TILE_ROWS):
        t0 = lo + t * TILE_ROWS
        rows = min(hi, t0 + TILE_ROWS) - t0
        acc = np.empty((modes.size, rows * emb), np.float32)
        _aggregate_tile(t0, rows, modes, scales, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at,
                        gather_tables, no_foreign, weights, layers, clamps, params, first, acc,
                        np.empty((modes.size, rows * emb), np.float32), np.empty((TILE_ROWS, 1), np.float32),
                        np.empty(TILE_ROWS * emb, np.float32), np.empty(TILE_ROWS * emb, np.float32))
        for m in range(modes.size):
            out[m, t0:t0 + rows] = acc[m].reshape((rows, emb))


@_jit
def mlp_apply(mlp, x, weights, layers, clamps, params, first, out):
    """out = MLP ``mlp`` of a pack on the rows of x (n, in), tile by tile (the tables of values
    encoded once: categories, distinct values; small, so on the calling thread)."""
    n = x.shape[0]
    width = out.shape[1]
    size = max(width, 1)
    for layer in range(first[mlp], first[mlp + 1]):
        size = max(size, layers[layer, 2])
    for t in range((n + TILE_ROWS - 1) // TILE_ROWS):
        t0 = t * TILE_ROWS
        rows = min(n, t0 + TILE_ROWS) - t0
        y = _mlp_tile(mlp, x[t0:t0 + rows], weights, layers, clamps, params, first,
                      np.empty(TILE_ROWS * size, np.float32), np.empty(TILE_ROWS * size, np.float32))
        out[t0:t0 + rows] = y


@_jit
def node_block(lo, hi, mode, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at, gather_tables,
               foreign, noise_a, noise_b, envelope, noise_state, weights, layers, clamps, params, first,
               decoder, decoder_table, out_row):
    """A node's values on rows lo..hi: every parent encoded and aggregated, plus noise, decoded.

    values / labels: (nodes, n) float32 values / int32 gather indices (a categorical node's labels
    or a repeating column's distinct-value index). MLP parent i: node row mlp_rows[i], MLP
    mlp_ids[i] of the pack. Gather parent i: node row gather_rows[i], its encoded values are rows
    gather_at[i] + labels[...] of gather_tables (already weighted and clamped). foreign: (n, emb)
    or empty. The noise, Beta(noise_a, noise_b) / emb per cell, is drawn here from the stream of
    ``noise_state`` with the envelope of ``samplers.beta_envelope``. Writes values[out_row]
    (numerical) or labels[out_row] (when ``decoder_table`` has rows: the category whose embedding
    scores highest).
    """
    emb = gather_tables.shape[1]
    kind, start, width, top, low, shift, slots = envelope
    noise = np.empty((hi - lo) * emb, np.float32)
    fill_beta(noise, noise_a, noise_b, 1.0 / emb, kind, start, width, top, low, shift, slots, noise_state)
    acc_buf = np.empty((1, TILE_ROWS * emb), np.float32)
    aux_buf = np.empty((1, TILE_ROWS * emb), np.float32)
    one_mode, one_scale = np.full(1, mode, np.int64), np.ones(1, np.float32)
    buf_a = np.empty(TILE_ROWS * emb, np.float32)
    buf_b = np.empty(TILE_ROWS * emb, np.float32)
    k = decoder_table.shape[0]
    table_t = np.ascontiguousarray(decoder_table.T)
    scores = np.empty((TILE_ROWS, max(k, 1)), np.float32)
    x_in = np.empty((TILE_ROWS, 1), np.float32)
    for t0 in range(lo, hi, TILE_ROWS):
        t1 = min(hi, t0 + TILE_ROWS)
        rows = t1 - t0
        cells = rows * emb
        _aggregate_tile(t0, rows, one_mode, one_scale, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at,
                        gather_tables, foreign, weights, layers, clamps, params, first, acc_buf, aux_buf, x_in,
                        buf_a, buf_b)
        acc = acc_buf[0, :cells]
        at = (t0 - lo) * emb
        for i in range(cells):
            acc[i] += noise[at + i]
        if mode == 2:  # products of small inputs are the one source of tiny values here
            for i in range(cells):
                if abs(acc[i]) < FLUSH_BELOW:
                    acc[i] = _f(0.0)
        h = _mlp_tile(decoder, acc.reshape((rows, emb)), weights, layers, clamps, params, first, buf_a, buf_b)
        if k == 0:
            for i in range(rows):
                v = h[i, 0]
                values[out_row, t0 + i] = _f(0.0) if v != v else (_f(1e6) if v == np.inf else (
                    _f(-1e6) if v == -np.inf else v))  # numpy's nan_to_num(nan=0, posinf=1e6, neginf=-1e6)
        else:
            for i in range(rows):
                for j in range(emb):
                    v = h[i, j]
                    h[i, j] = _f(0.0) if v != v else min(max(v, -_FLT_MAX), _FLT_MAX)
            s = scores[:rows]
            np.dot(h, table_t, s)
            for i in range(rows):
                best, arg = s[i, 0], 0
                for j in range(1, k):
                    if best != best:
                        break
                    v = s[i, j]
                    if v > best or v != v:
                        best, arg = v, j
                labels[out_row, t0 + i] = arg


DISTINCT_PROBE = 1024  # values sampled before a chunk's values are sorted in full
ENCODE_ONCE_MAX = 8192  # distinct values encoded once per edge at most


@_jit
def distinct_chunk(x, uniq, inverse):
    """When at most half of x's values are distinct: their sorted distinct values into uniq and
    each value's index among them into inverse, and their count; else 0 (nothing written).

    Most columns are continuous: when an evenly strided probe of at most ``DISTINCT_PROBE``
    values (every fourth at least) is over 90% distinct, the full sort is skipped. That only
    forgoes a shortcut: encoding each distinct value once gives the values encoding each row does.
    """
    rows = x.size
    if rows == 0:
        return 0
    if rows >= 64:
        probe = np.sort(x[::max(4, rows // DISTINCT_PROBE)])
        changes = 0
        for i in range(1, probe.size):
            changes += probe[i] != probe[i - 1]
        if 1 + changes > 0.9 * probe.size:
            return 0
    s = np.sort(x)
    if s[rows - 1] != s[rows - 1]:  # NaN (sorted last): no shortcut
        return 0
    k = 1
    for i in range(1, rows):
        k += s[i] != s[i - 1]
    if 2 * k > rows or k > ENCODE_ONCE_MAX:
        return 0
    uniq[0] = s[0]
    k = 1
    for i in range(1, rows):
        if s[i] != s[i - 1]:
            uniq[k] = s[i]
            k += 1
    found = np.searchsorted(uniq[:k], x)
    for i in range(rows):
        inverse[i] = found[i]
    return k


@_parallel
def table_chunks(bounds, values, labels, inner, modes, decoders, dec_at, dec_len, dec_tables, foreign_of, foreign,
                 noise_a, noise_b, env_at, env_kind, env_start, env_width, env_top, env_low, env_shift, env_slots,
                 noise_states, par_at, par_row, par_mlp, par_tab_at, par_tab_len, tables, repeats, weights, layers,
                 clamps, params, first):
    """Every node of a table's SCM, in topological order, on each chunk bounds[c]..bounds[c + 1]:
    the chunks run on numba's worker threads, each through the whole SCM. The values do not
    depend on it: a chunk's values depend on its own rows and streams alone.

    Node r (row r of values / labels, in topological order) is computed when inner[r] (else it
    is a source, drawn before): aggregation modes[r], decoder MLP decoders[r] with the embedding
    table dec_tables[dec_at[r]:][:dec_len[r]] (categorical; no rows: numerical), the parent
    tables' aggregate foreign[foreign_of[r]] (-1: none), noise Beta(noise_a[r], noise_b[r]) with
    the envelope pieces env_at[r]..env_at[r + 1] and the slot table env_slots[r], from the stream
    noise_states[r, c]. Its parents q = par_at[r]..par_at[r + 1]: node row par_row[q] through
    MLP par_mlp[q], or, for a categorical parent, rows tables[par_tab_at[q]:][:par_tab_len[q]]
    (its categories, encoded when the SCM was built) looked up by label. A node with repeats[r]
    (numerical, with children) has its distinct values found per chunk (``distinct_chunk``); when
    they are few, its children encode each one once and look rows up by index.
    """
    emb = tables.shape[1]
    count = values.shape[0]
    most_parents = 1
    for r in range(count):
        most_parents = max(most_parents, par_at[r + 1] - par_at[r])
    for c in numba.prange(bounds.size - 1):
        lo, hi = bounds[c], bounds[c + 1]
        rows = hi - lo
        uniq = np.empty((count, max(rows, 1)), np.float32)
        distinct = np.zeros(count, np.int64)
        mlp_rows = np.empty(most_parents, np.int64)
        mlp_ids = np.empty(most_parents, np.int64)
        gather_rows = np.empty(most_parents, np.int64)
        gather_at = np.empty(most_parents, np.int64)
        x_in = np.empty((max(rows, 1), 1), np.float32)
        no_foreign = np.zeros((0, emb), np.float32)
        for r in range(count):
            if inner[r]:
                size = 0
                for q in range(par_at[r], par_at[r + 1]):
                    size += par_tab_len[q] if par_tab_len[q] > 0 else distinct[par_row[q]]
                gathered = np.empty((size, emb), np.float32)
                m, g, at = 0, 0, 0
                for q in range(par_at[r], par_at[r + 1]):
                    p = par_row[q]
                    if par_tab_len[q] > 0:
                        gathered[at:at + par_tab_len[q]] = tables[par_tab_at[q]:par_tab_at[q] + par_tab_len[q]]
                        k = par_tab_len[q]
                    elif distinct[p] > 0:
                        k = distinct[p]
                        for i in range(k):
                            x_in[i, 0] = uniq[p, i]
                        mlp_apply(par_mlp[q], x_in[:k], weights, layers, clamps, params, first, gathered[at:at + k])
                    else:
                        mlp_rows[m], mlp_ids[m] = p, par_mlp[q]
                        m += 1
                        continue
                    gather_rows[g], gather_at[g] = p, at
                    g += 1
                    at += k
                envelope = (env_kind[env_at[r]:env_at[r + 1]], env_start[env_at[r]:env_at[r + 1]],
                            env_width[env_at[r]:env_at[r + 1]], env_top[env_at[r]:env_at[r + 1]],
                            env_low[env_at[r]:env_at[r + 1]], env_shift[r], env_slots[r])
                node_block(lo, hi, modes[r], values, labels, mlp_rows[:m], mlp_ids[:m], gather_rows[:g],
                           gather_at[:g], gathered, foreign[foreign_of[r]] if foreign_of[r] >= 0 else no_foreign,
                           noise_a[r], noise_b[r], envelope, noise_states[r, c], weights, layers, clamps, params,
                           first, decoders[r], dec_tables[dec_at[r]:dec_at[r] + dec_len[r]], r)
            if repeats[r]:
                distinct[r] = distinct_chunk(values[r, lo:hi], uniq[r], labels[r, lo:hi])


def warm_up() -> None:
    """Compile the kernels now, for every activation and mode and the argument types the
    pipeline passes (numba caches them on disk; a fresh install's first paper database waited
    13 s for the compiler without this)."""
    from plurel_core.samplers import beta_envelope
    from plurel_core.scm.activations import make_activation
    from plurel_core.scm.mlp import Mlp

    rng = np.random.default_rng(0)
    names = list(ACTIVATIONS)
    mlps = [Mlp.from_drawn([rng.standard_normal((1, 4)).astype(np.float32),
                            rng.standard_normal((4, 4)).astype(np.float32)], [make_activation(n, rng)], [n], [1.0])
            for n in names]
    dec = Mlp.from_drawn([rng.standard_normal((4, 4)).astype(np.float32)], [], [], [])
    pack = pack_mlps([*mlps, dec])
    values = rng.standard_normal((len(names) + 1, 8)).astype(np.float32)
    labels = np.zeros((len(names) + 1, 8), np.int32)
    for mode in range(4):
        for table in (np.zeros((0, 4), np.float32), np.eye(4, dtype=np.float32)):
            node_block(0, 8, mode, values, labels, np.arange(len(names), dtype=np.int64),
                       np.arange(len(names), dtype=np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                       np.zeros((1, 4), np.float32), np.zeros((8, 4), np.float32), 2.0, 3.0,
                       beta_envelope(2.0, 3.0), np.arange(1, 5, dtype=np.uint64), pack.weights, pack.layers,
                       pack.clamps, pack.params, pack.first, len(names), table, len(names))
    import plurel_core as pc

    for seed in range(3):  # foreign keys, categories, repeating values: every kernel the pipeline calls
        pc.generate(pc.Config.preset("demo"), seed, threads=2)
