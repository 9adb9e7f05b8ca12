"""Compiled samplers: standard normals, Beta variates and random weight matrices.

numpy's own samplers cost 7-8 ns per float32 normal and 12-13 ns per gamma variate on this
machine, and a Beta cell costs two gammas: the node noise alone was a third of a database's
CPU time. These kernels (numba, compiled once and cached on disk) draw the same laws exactly
and release the GIL, so that work drawn ahead on a background thread runs beside the main one:

- the stream is xoshiro256++ (Blackman & Vigna 2019), its 256-bit state drawn from the
  caller's ``numpy.random.Generator``: no global state, and the same Generator gives the same
  draws in any process and thread;
- normals by the 256-layer ziggurat of Marsaglia & Tsang (2000), with the exact tail (2 ns);
- Beta(a, b) by rejection from a piecewise-constant envelope of its density, its pieces picked
  from a slot table (2.4-5 ns; see ``beta``);
- random matrices of any shapes in one flat array (every MLP weight and embedding table of an
  SCM): each of a law (normal, normal truncated to [-2, 2], normal with half of each column
  zeroed, uniform on [-1, 1)) and a scale, masked by Bernoulli(density), and folded by a
  factor, in one pass.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_U64 = np.uint64

# Ziggurat tables for N(0, 1), 256 layers, 52-bit mantissas (the constants numpy uses as well).
_ZIG_R = 3.6541528853610088
_ZIG_V = 4.92867323399e-3
_TWO52 = float(2**52)


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ki = np.zeros(256, dtype=np.uint64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    dn = tn = _ZIG_R
    q = _ZIG_V / math.exp(-0.5 * dn * dn)
    ki[0] = int(dn / q * _TWO52)  # the base layer: x < R inside it, else the tail
    wi[0], wi[255] = q / _TWO52, dn / _TWO52
    fi[0], fi[255] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = int(dn / tn * _TWO52)
        tn = dn
        fi[i], wi[i] = math.exp(-0.5 * dn * dn), dn / _TWO52
    return ki, wi, fi


_KI, _WI, _FI = _ziggurat_tables()


def stream_state(rng: np.random.Generator) -> np.ndarray:
    """A fresh 256-bit xoshiro256++ state (never all zero) drawn from ``rng``."""
    state = rng.bit_generator.random_raw(4)
    if not state.any():
        state[0] = 1
    return state


def _stream(rng: np.random.Generator):
    """A fresh state from ``rng``, as the tuple the kernels keep in registers."""
    return tuple(_U64(v) for v in stream_state(rng))


def standard_normal(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """N(0, 1) draws of ``shape`` (float32 or float64) from a stream seeded by ``rng``."""
    out = np.empty(int(np.prod(shape)), dtype=dtype)
    _normal_fill(out, _stream(rng))
    return out.reshape(shape)


def beta(a: float, b: float, rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    """``scale`` x Beta(a, b) draws of ``shape`` in float32, from a stream seeded by ``rng``.

    Exact rejection sampling: [0, 1] is cut into ``BETA_BINS`` equal bins (plus geometric bins
    towards an end where the density is unbounded, a < 1 or b < 1, and an end piece of width
    ``BETA_EDGE`` there with an envelope C x^(a-1) sampled by inversion). Each bin's envelope is
    the density's maximum over it: the log density has at most one critical point, so the
    maximum and the minimum over a bin are at its ends or at that point (with a 1e-9 margin for
    rounding). A piece is picked by a uniform slot of a table where each piece holds slots in
    proportion to its envelope's area, a point uniformly inside it, and it is kept when u x
    envelope falls below the bin's minimum (nearly always) or, after that, below the density.
    In a bin, one 64-bit draw gives the slot, the place and u (25 bits each for the last two:
    steps of 3e-8 of a bin and of its envelope, finer than float32 resolves the result).
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"Beta parameters must be positive, got a={a!r}, b={b!r}")
    out = np.empty(int(np.prod(shape)), dtype=np.float32)
    a, b = float(a), float(b)
    _beta_fill(out, a, b, float(scale), *_beta_table(a, b), _stream(rng))
    return out.reshape(shape)


def beta_envelope(a: float, b: float) -> tuple:
    """The envelope tables of Beta(a, b) that :func:`fill_beta` samples from (see :func:`beta`)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"Beta parameters must be positive, got a={a!r}, b={b!r}")
    return _beta_table(float(a), float(b))


def stream_states(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` fresh xoshiro256++ states (a (count, 4) uint64 array, none all zero) from ``rng``."""
    states = rng.bit_generator.random_raw(4 * count).reshape(count, 4)
    states[~states.any(axis=1), 0] = 1
    return states


BETA_BINS = 256
BETA_EDGE = 1e-6
BETA_SLOT_BITS = 14
BETA_SLOTS = 1 << BETA_SLOT_BITS  # at most 430 pieces: under 3% of the slots go unused (reject)
_PLACE_BITS = (64 - BETA_SLOT_BITS) // 2
_PLACE_MASK = _U64((1 << _PLACE_BITS) - 1)
_PLACE_UNIT = 2.0 ** -_PLACE_BITS
_BETA_RATIO = 1.1  # geometric bins towards an unbounded end: the density changes < 10% across one
_BIN, _LEFT_END, _RIGHT_END = 0, 1, 2


# Laws of ``fill_matrices``.
NORMAL, TRUNCATED_NORMAL, SPARSE_NORMAL, UNIFORM = 0, 1, 2, 3


def fill_matrices(out, offsets, rows, cols, laws, scales, densities, folds, rng: np.random.Generator) -> None:
    """Random matrices of any shapes into the flat float32 ``out``; matrix i is (rows[i], cols[i]),
    row-major at ``offsets[i]``, drawn from ``laws[i]``:

    - NORMAL: N(0, 1); TRUNCATED_NORMAL: N(0, 1) redrawn until |z| <= 2; SPARSE_NORMAL: N(0, 1)
      with ceil(rows / 2) random entries of each column set to zero; UNIFORM: U[-1, 1);
    - times ``scales[i]``; each entry kept with probability ``densities[i]``, else zero;
    - then times ``folds[i]`` (float32).
    """
    _matrices_fill(out, np.asarray(offsets, dtype=np.int64), np.asarray(rows, dtype=np.int64),
                   np.asarray(cols, dtype=np.int64), np.asarray(laws, dtype=np.int64),
                   np.asarray(scales, dtype=np.float64), np.asarray(densities, dtype=np.float64),
                   np.asarray(folds, dtype=np.float32), _stream(rng))


_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}


@numba.njit(inline="always", **_JIT)
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@numba.njit(inline="always", **_JIT)
def _next(st):
    """xoshiro256++: the next 64 random bits and the next state. The state is a tuple, so that
    the kernels keep it in registers (an array state costs a store and a load per draw, 2x)."""
    s0, s1, s2, s3 = st
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    return result, (s0, s1, s2, _rotl(s3, 45))


@numba.njit(inline="always", **_JIT)
def _to_unit(bits53):
    return float(np.int64(bits53)) * (1.0 / 9007199254740992.0)


@numba.njit(inline="always", **_JIT)
def _uniform_open(st):
    """Uniform on (0, 1], 53 bits: its log is finite."""
    r, st = _next(st)
    return _to_unit((r >> _U64(11)) + _U64(1)), st


@numba.njit(inline="always", **_JIT)
def _uniform(st):
    """Uniform on [0, 1), 53 bits."""
    r, st = _next(st)
    return _to_unit(r >> _U64(11)), st


@numba.njit(inline="always", **_JIT)
def _normal(st):
    while True:
        r, st = _next(st)
        idx = np.intp(r & _U64(0xFF))
        negative = (r >> _U64(8)) & _U64(1)
        j = r >> _U64(12)
        x = float(np.int64(j)) * _WI[idx]
        if j < _KI[idx]:
            return (-x if negative else x), st
        if idx == 0:  # the tail beyond R, by Marsaglia's exponential rejection
            while True:
                u, st = _uniform_open(st)
                xx = -math.log(u) / _ZIG_R
                u, st = _uniform_open(st)
                yy = -math.log(u)
                if yy + yy > xx * xx:
                    return (-(_ZIG_R + xx) if negative else _ZIG_R + xx), st
        u, st = _uniform_open(st)
        if _FI[idx] + (1.0 - u) * (_FI[idx - 1] - _FI[idx]) < math.exp(-0.5 * x * x):
            return (-x if negative else x), st


@numba.njit(**_JIT)
def _normal_fill(out, st):
    for i in range(out.size):
        out[i], st = _normal(st)


@numba.njit(inline="always", **_JIT)
def _log_density(x, a, b):
    """log of x^(a-1) (1-x)^(b-1), the unnormalised Beta density (a term with exponent 0 is 0)."""
    v = 0.0
    if a != 1.0:
        v += (a - 1.0) * math.log(x)
    if b != 1.0:
        v += (b - 1.0) * math.log1p(-x)
    return v


@numba.njit(**_JIT)
def _beta_table(a, b):
    """The pieces of ``beta``'s envelope (kind, left end, width, envelope height, squeeze) and
    the slot table that picks a piece with probability proportional to its envelope area."""
    left, right = a < 1.0, b < 1.0
    lo = BETA_EDGE if left else 0.0
    hi = 1.0 - BETA_EDGE if right else 1.0
    geometric = BETA_EDGE * _BETA_RATIO ** np.arange(1, math.ceil(math.log(1.0 / (BETA_BINS * BETA_EDGE))
                                                                   / math.log(_BETA_RATIO)))
    n_geo = len(geometric)
    points = np.empty(BETA_BINS + 1 + n_geo * (left + right))
    points[:BETA_BINS + 1] = np.minimum(np.maximum(np.arange(BETA_BINS + 1) / BETA_BINS, lo), hi)
    at = BETA_BINS + 1
    if left:
        points[at:at + n_geo] = geometric
        at += n_geo
    if right:
        points[at:at + n_geo] = 1.0 - geometric
    grid = np.unique(points)
    bins = len(grid) - 1
    count = bins + left + right
    kind = np.zeros(count, dtype=np.int64)
    start = np.zeros(count)
    width = np.zeros(count)
    log_top = np.zeros(count)
    log_low = np.zeros(count)
    critical = (a - 1.0) / (a + b - 2.0) if (a - 1.0) * (b - 1.0) > 0.0 else -1.0
    log_f = np.empty(len(grid))
    for i in range(len(grid)):
        log_f[i] = _log_density(grid[i], a, b)
    for p in range(bins):
        start[p], width[p] = grid[p], grid[p + 1] - grid[p]
        log_top[p], log_low[p] = max(log_f[p], log_f[p + 1]), min(log_f[p], log_f[p + 1])
        if grid[p] < critical < grid[p + 1]:
            fc = _log_density(critical, a, b)
            log_top[p], log_low[p] = max(log_top[p], fc), min(log_low[p], fc)
    shift = log_top[:bins].max()
    top = np.exp(log_top - shift) * (1.0 + 1e-9)
    low = np.exp(log_low - shift) * (1.0 - 1e-9)
    area = top * width
    p = bins
    # End piece (0, e] for a < 1: envelope C x^(a-1), C and the squeeze bounding (1-x)^(b-1) there;
    # likewise [1 - e, 1) for b < 1.
    for end, k, exponent, other in ((left, _LEFT_END, a, b), (right, _RIGHT_END, b, a)):
        if end:
            edge = (1.0 - BETA_EDGE) ** (other - 1.0)
            kind[p] = k
            top[p], low[p] = max(1.0, edge) * (1.0 + 1e-9), min(1.0, edge) * (1.0 - 1e-9)
            area[p] = top[p] * math.exp(exponent * math.log(BETA_EDGE) - shift) / exponent
            p += 1
    # Piece p gets ceil(area / unit) of the 2^k slots, its envelope raised to exactly that area
    # (still above the density); the slots left over reject. A uniform slot then picks a piece
    # with no coin flip: the alias method's coin is a branch the CPU mispredicts half the time.
    unit = area.sum() / (BETA_SLOTS - count - 1)  # one slot to spare for rounding: the ceilings always fit
    slots = np.full(BETA_SLOTS, -1, dtype=np.int16)  # 32 KB: stays in L1
    used = 0
    for p in range(count):
        c = math.ceil(area[p] / unit)
        if c:
            top[p] *= c * unit / area[p]
        slots[used:used + c] = p
        used += c
    return kind, start, width, top, low, shift, slots


@numba.njit(**_JIT)
def fill_beta(out, a, b, scale, kind, start, width, top, low, shift, slots, state):
    """out = scale x Beta(a, b) draws from the stream of ``state`` (4 uint64), for compiled callers;
    the envelope is :func:`beta_envelope`'s."""
    _beta_fill(out, a, b, scale, kind, start, width, top, low, shift, slots, (state[0], state[1], state[2], state[3]))


@numba.njit(**_JIT)
def _beta_fill(out, a, b, scale, kind, start, width, top, low, shift, slots, st):
    for i in range(out.size):
        while True:
            # One 64-bit draw: the slot (14 bits), the place in the piece and the height under
            # its envelope (25 bits each: steps of 3e-8, below float32's resolution of the result).
            r, st = _next(st)
            p = slots[r >> _U64(64 - BETA_SLOT_BITS)]
            if p < 0:
                continue
            if kind[p] == _BIN:
                u_in = float(np.int64(((r >> _U64(_PLACE_BITS)) & _PLACE_MASK) + _U64(1))) * _PLACE_UNIT  # (0, 1]
                v = float(np.int64(r & _PLACE_MASK)) * _PLACE_UNIT * top[p]
                x = start[p] + width[p] * u_in
                if v <= low[p] or v <= math.exp(_log_density(x, a, b) - shift):
                    break
                continue
            # An end piece (rare): full 53-bit uniforms for its inversion x = e U^(1/a)
            u_in, st = _uniform_open(st)
            v, st = _uniform(st)
            v *= top[p]
            if kind[p] == _LEFT_END:  # x = e U^(1/a) has density ~ x^(a-1) on (0, e]
                x = BETA_EDGE * math.exp(math.log(u_in) / a)
                if v <= low[p] or (b != 1.0 and v <= math.exp((b - 1.0) * math.log1p(-x))):
                    break
            else:
                y = BETA_EDGE * math.exp(math.log(u_in) / b)
                x = 1.0 - y
                if v <= low[p] or (a != 1.0 and v <= math.exp((a - 1.0) * math.log1p(-y))):
                    break
        out[i] = x * scale


@numba.njit(inline="always", **_JIT)
def _entry(law, st):
    """One value of a matrix law, before its scale."""
    if law == UNIFORM:
        z, st = _uniform(st)
        return 2.0 * z - 1.0, st
    z, st = _normal(st)
    if law == TRUNCATED_NORMAL:
        while abs(z) > 2.0:
            z, st = _normal(st)
    return z, st


@numba.njit(**_JIT)
def _matrices_fill(out, offsets, rows_of, cols_of, laws, scales, densities, folds, st):
    biggest = 1
    for i in range(laws.size):
        biggest = max(biggest, rows_of[i] * cols_of[i])
    keep = np.empty(biggest, dtype=np.uint8)
    values = np.zeros(biggest + 1)  # + 1: the merge may read one past the last kept value
    order = np.empty(max(1, rows_of.max()) if rows_of.size else 1, dtype=np.int64)
    for i in range(laws.size):
        law, scale, density, fold = laws[i], scales[i], densities[i], folds[i]
        rows, cols, off = rows_of[i], cols_of[i], offsets[i]
        size = rows * cols
        if density < 1.0:
            # The Bernoulli mask first, two entries per 64 random bits (32 bits each), then values
            # for the kept entries only, then a branch-free merge: a branch on a random mask is
            # mispredicted a third of the time, which cost more than the normals it saved.
            threshold = _U64(density * 4294967296.0)
            kept = 0
            for e in range(0, size, 2):
                r, st = _next(st)
                low = (r & _U64(0xFFFFFFFF)) < threshold
                keep[e] = low
                kept += low
                if e + 1 < size:
                    high = (r >> _U64(32)) < threshold
                    keep[e + 1] = high
                    kept += high
            for j in range(kept):
                values[j], st = _entry(law, st)
            j = 0
            for e in range(size):
                v = np.float32(values[j] * scale) * fold
                out[off + e] = v if keep[e] else np.float32(0.0)
                j += keep[e]
        else:
            for e in range(size):
                z, st = _entry(law, st)
                out[off + e] = np.float32(z * scale) * fold
        if law == SPARSE_NORMAL:
            for c in range(cols):  # the first ceil(rows / 2) rows of a random permutation (Fisher-Yates)
                for r in range(rows):
                    order[r] = r
                for k in range((rows + 1) // 2):
                    u, st = _uniform(st)
                    j = k + min(np.intp(u * (rows - k)), rows - k - 1)
                    order[k], order[j] = order[j], order[k]
                    out[off + order[k] * cols + c] = 0.0


def warm_up() -> None:
    """Compile every kernel now (numba caches them on disk, so later processes load them).

    ``make install`` calls this, so that the first database a fresh install makes does not wait
    about five seconds for the compiler.
    """
    rng = np.random.default_rng(0)
    standard_normal(rng, (2,), np.float32)
    standard_normal(rng, (2,))
    beta(0.5, 2.0, rng, (2,))
    fill_matrices(np.empty(8, np.float32), [0, 4], [2, 2], [2, 2], [NORMAL, UNIFORM], [1.0, 1.0], [1.0, 0.5],
                  [1.0, 2.0], rng)
