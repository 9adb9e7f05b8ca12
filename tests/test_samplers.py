"""The compiled samplers: their laws (KS against scipy, fixed seeds), streams and determinism."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import stats

from plurel_core import samplers


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_normals_follow_the_standard_normal():
    z = samplers.standard_normal(rng(3), (2_000_000,))
    assert z.dtype == np.float64 and z.shape == (2_000_000,)
    assert stats.kstest(z, "norm").pvalue > 0.001
    assert abs(z.mean()) < 5 / np.sqrt(len(z)) and z.var() == pytest.approx(1.0, abs=0.005)


@pytest.mark.parametrize("cut", [1.0, 3.0, samplers._ZIG_R, 4.5])
def test_normal_tail_frequencies(cut):
    # 3.654 is the ziggurat's base: beyond it every draw comes from the separate tail algorithm
    z = samplers.standard_normal(rng(4), (4_000_000,))
    p = 2 * stats.norm.sf(cut)
    count = int((np.abs(z) > cut).sum())
    assert stats.binomtest(count, len(z), p).pvalue > 0.001, (count, len(z) * p)


def test_normals_float32_and_shape():
    z = samplers.standard_normal(rng(5), (1000, 32, 32), np.float32)
    assert z.dtype == np.float32 and z.shape == (1000, 32, 32)
    assert stats.kstest(z.ravel().astype(np.float64), "norm").pvalue > 0.001


@pytest.mark.parametrize("a,b", [(2.0, 3.0), (0.5, 0.5), (0.6, 4.0), (5.0, 0.7), (1.0, 1.0), (4.5, 4.9)])
def test_beta_follows_its_law(a, b):
    # below 1 the density is unbounded at an end: (0.5, 0.5), (0.6, 4) and (5, 0.7) use the end pieces
    x = samplers.beta(a, b, rng(6), (1_000_000,)).astype(np.float64)
    assert x.min() >= 0 and x.max() <= 1
    assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 0.001
    assert x.mean() == pytest.approx(a / (a + b), abs=0.002)


@pytest.mark.parametrize("a,b", [(0.01, 100.0), (100.0, 0.01), (0.05, 0.05), (100.0, 100.0), (0.7, 1.3)])
def test_beta_at_the_ends_of_the_allowed_range(a, b):
    # float32 rounds much of the mass to exactly 0 or 1 here: compare with numpy's sampler, rounded alike
    x = samplers.beta(a, b, rng(12), (300_000,)).astype(np.float64)
    y = rng(13).beta(a, b, 300_000).astype(np.float32).astype(np.float64)
    assert stats.ks_2samp(x, y).pvalue > 0.001
    assert abs((x == 0).mean() - (y == 0).mean()) < 0.005 and abs((x == 1).mean() - (y == 1).mean()) < 0.005


def test_beta_envelope_dominates_the_density():
    # the sampler is exact only if every piece's envelope lies above the density inside it
    for a, b in [(0.5, 0.5), (2.5, 1.5), (0.6, 4.0), (5.0, 0.7), (1.0, 1.0), (40.0, 3.0)]:
        kind, start, width, top, low, shift, slots = samplers._beta_table(a, b)
        bins = kind == samplers._BIN
        x = start[bins][:, None] + width[bins][:, None] * np.linspace(0, 1, 41)[None, :]
        with np.errstate(divide="ignore"):
            log_f = (a - 1) * np.log(x) if a != 1 else 0.0
            log_f = log_f + ((b - 1) * np.log1p(-x) if b != 1 else 0.0)
        f = np.exp(log_f - shift)
        assert np.all(f <= top[bins][:, None]) and np.all(f >= low[bins][:, None])
        counts = np.bincount(slots[slots >= 0], minlength=len(kind))
        area = top * np.where(bins, width, 0.0)
        np.testing.assert_allclose(area[bins] / area[bins].sum(), counts[bins] / counts[bins].sum(), rtol=1e-9)
        assert (slots < 0).mean() < 0.05


def test_beta_scale_dtype_and_bad_parameters():
    x = samplers.beta(2.0, 3.0, rng(7), (500, 32), scale=1 / 32)
    assert x.dtype == np.float32 and x.shape == (500, 32) and 0 < x.min() and x.max() < 1 / 32
    with pytest.raises(ValueError, match="Beta parameters"):
        samplers.beta(0.0, 1.0, rng(7), (3,))


def test_same_generator_same_draws_and_the_generator_advances():
    first = samplers.beta(1.5, 2.5, rng(8), (4000,))
    assert np.array_equal(first, samplers.beta(1.5, 2.5, rng(8), (4000,)))
    assert not np.array_equal(first, samplers.beta(1.5, 2.5, rng(9), (4000,)))
    g = rng(8)
    one, two = samplers.standard_normal(g, (100,)), samplers.standard_normal(g, (100,))
    assert not np.array_equal(one, two), "each call draws a fresh stream from the generator"


def test_stream_state_is_never_all_zero():
    class Zeros:
        def random_raw(self, size):
            return np.zeros(size, dtype=np.uint64)

    class Generator:
        bit_generator = Zeros()

    assert samplers.stream_state(Generator()).any()
    assert samplers.stream_state(rng(0)).dtype == np.uint64


def test_threads_draw_what_one_thread_draws():
    # the kernels release the GIL: several at once must not share or disturb any state
    def draw(seed):
        return samplers.beta(0.8, 3.0, rng(seed), (200_000,)).tobytes()

    alone = [draw(seed) for seed in range(8)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(draw, range(8))) == alone


def test_fill_matrices_laws_masks_folds_and_shapes():
    laws = [samplers.NORMAL, samplers.TRUNCATED_NORMAL, samplers.SPARSE_NORMAL, samplers.UNIFORM]
    rows, cols = [300, 200, 301, 250], [200, 300, 150, 240]
    scales, densities, folds = [2.0, 1.0, 0.5, 3.0], [1.0, 0.7, 1.0, 0.4], [1.0, -2.0, 0.5, 3.0]
    sizes = np.multiply(rows, cols)
    offsets = np.cumsum(sizes) - sizes + np.arange(4) * 3  # three untouched cells after each matrix

    def fill(fold):
        out = np.full(int(sizes.sum()) + 12, 7.0, np.float32)
        samplers.fill_matrices(out, offsets, rows, cols, laws, scales, densities, fold, rng(10))
        return out

    out, unfolded = fill(folds), fill([1.0] * 4)
    for i in range(4):
        gap = out[offsets[i] + sizes[i]:offsets[i] + sizes[i] + 3]
        assert (gap == 7.0).all(), "only the matrices' own cells are written"
    normal, truncated, sparse, uniform = (unfolded[o:o + n].astype(np.float64) for o, n in zip(offsets, sizes))
    assert stats.kstest(normal / 2.0, "norm").pvalue > 0.001
    kept = truncated[truncated != 0]
    assert abs(len(kept) / truncated.size - 0.7) < 0.01
    assert stats.kstest(kept, stats.truncnorm(-2, 2).cdf).pvalue > 0.001
    assert np.all((sparse.reshape(301, 150) == 0).sum(axis=0) == 151)  # ceil(301 / 2) per column
    assert stats.kstest(sparse[sparse != 0] / 0.5, "norm").pvalue > 0.001
    kept = uniform[uniform != 0]
    assert abs(len(kept) / uniform.size - 0.4) < 0.01
    assert stats.kstest(kept, stats.uniform(-3.0, 6.0).cdf).pvalue > 0.001
    for i in range(4):  # the fold multiplies the same draws
        sl = slice(offsets[i], offsets[i] + sizes[i])
        np.testing.assert_array_equal(out[sl], unfolded[sl] * np.float32(folds[i]))


def test_warm_up_compiles_every_kernel():
    samplers.warm_up()
    kernels = [samplers._normal_fill, samplers._beta_table, samplers._beta_fill, samplers._matrices_fill]
    assert all(kernel.signatures for kernel in kernels)
    assert {str(sig[0].dtype) for sig in samplers._normal_fill.signatures} >= {"float32", "float64"}
