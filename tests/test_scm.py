"""Stage 3 and post-processing pieces: activations, initialisations, MLPs, sources, propagation, transforms."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from scipy import special, stats

import plurel_core as pc
from plurel_core import samplers
from plurel_core.postprocess import (
    TRANSFORMS,
    apply_transform,
    binarize,
    categorical,
    is_constant,
    missing_count,
    set_missing,
)
from plurel_core.scm.activations import ACTIVATIONS, make_activation
from plurel_core.scm.mlp import (
    AGGREGATIONS,
    CLAMP_HIDDEN,
    INITIALIZATIONS,
    Aggregator,
    Mlp,
    aggregate,
    draw_embeddings,
    draw_mlps,
    init_weight,
    make_mlp,
)
from plurel_core.scm.model import (
    ForeignInput,
    ScmColumn,
    _quantize,
    relevant_nodes,
    run_scm,
)
from plurel_core.scm.sources import SOURCE_LAWS, categorical_source, numerical_source, ts_signal

CFG = pc.Config()
SP = CFG.scm


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def scm_cfg(**changes) -> pc.Config:
    return pc.Config().replace(**{f"scm.{k}": v for k, v in changes.items()})


# ---------------------------------------------------------------------------------------------
# Activations

GRID = np.concatenate([np.linspace(-10, 10, 4001), [-1e6, -1e4, -100.0, -20.5, -20.0, 19.5, 20.0, 20.5, 100.0,
                                                    1e4, 1e6, 0.0, 0.5, -0.5, 0.4999, 0.5001]]).astype(np.float32)


def _softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def _sigmoid(x):
    return special.expit(x)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

REFERENCE = {
    "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "celu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x * _sigmoid(x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hardswish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hardsigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "gelu": lambda x: 0.5 * x * (1 + special.erf(x / math.sqrt(2))),
    "softplus": _softplus,
    "hardtanh": lambda x: np.clip(x, -1, 1),
    "tanhshrink": lambda x: x - np.tanh(x),
    "rrelu": lambda x: np.where(x >= 0, x, (1 / 8 + 1 / 3) / 2 * x),
    "logsigmoid": lambda x: -np.logaddexp(0, -x),
    "softshrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "hardshrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "identity": lambda x: x,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "sign": np.sign,
    "clamp": lambda x: np.clip(x, -1, 1),
    "signed_log1p": lambda x: np.sign(x) * np.log1p(np.abs(x)),
    "sqrt_smooth": lambda x: (np.sqrt(x * x + 1) - 1) / 2 + x,
}


def test_twenty_nine_activations():
    assert len(ACTIVATIONS) == 29 and len(set(ACTIVATIONS)) == 29
    assert set(ACTIVATIONS) == set(REFERENCE) | {"sine_sum"}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_float32_finite(name):
    f = make_activation(name, rng(0))
    y = f(GRID.copy())
    assert y.dtype == np.float32 and y.shape == GRID.shape
    assert np.isfinite(y).all(), name
    block = GRID[: 4 * (len(GRID) // 4)].reshape(-1, 4).copy()
    y2 = f(block)
    assert y2.shape == block.shape and y2.dtype == np.float32
    np.testing.assert_array_equal(y2.ravel(), y[: block.size])  # elementwise, shape-independent


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_matches_reference(name):
    f = make_activation(name, rng(0))
    ref = REFERENCE[name](GRID.astype(np.float64))
    y = f(GRID.copy()).astype(np.float64)
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=2e-6 if name not in ("sin", "cos") else 1e-3)


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("relu", -3.0, 0.0), ("relu", 2.5, 2.5),
        ("leaky_relu", -2.0, -0.02), ("leaky_relu", 2.0, 2.0),
        ("rrelu", -1.0, -(1 / 8 + 1 / 3) / 2), ("rrelu", 3.0, 3.0),
        ("selu", 1.0, 1.0507009873554805), ("selu", -1.0, 1.0507009873554805 * 1.6732632423543772 * (math.e ** -1 - 1)),
        ("gelu", 1.0, 0.8413447460685429), ("gelu", -1.0, -0.15865525393145707), ("gelu", 0.5, 0.34573123063700656),
        ("hardswish", 1.0, 4 / 6), ("hardswish", -3.5, 0.0), ("hardswish", 3.5, 3.5), ("hardswish", -1.0, -2 / 6),
        ("hardsigmoid", 0.0, 0.5), ("hardsigmoid", 3.0, 1.0), ("hardsigmoid", -4.0, 0.0), ("hardsigmoid", 1.5, 0.75),
        ("softplus", 0.0, math.log(2)), ("softplus", 21.0, 21.0), ("softplus", 19.0, math.log1p(math.exp(19))),
        ("softshrink", 0.7, 0.2), ("softshrink", -0.7, -0.2), ("softshrink", 0.3, 0.0),
        ("hardshrink", 0.7, 0.7), ("hardshrink", 0.3, 0.0), ("hardshrink", -0.51, -0.51),
        ("signed_log1p", -math.e + 1, -1.0), ("signed_log1p", 0.0, 0.0),
        ("sqrt_smooth", 0.0, 0.0), ("sqrt_smooth", 1.0, (math.sqrt(2) - 1) / 2 + 1), ("sqrt_smooth", -2.0, (math.sqrt(5) - 1) / 2 - 2),
        ("elu", -1.0, math.e ** -1 - 1), ("celu", -2.0, math.e ** -2 - 1),
        ("hardtanh", 3.0, 1.0), ("clamp", -3.0, -1.0), ("sign", -0.1, -1.0),
        ("logsigmoid", 0.0, -math.log(2)), ("mish", 1.0, math.tanh(math.log1p(math.e))),
        ("tanhshrink", 1.0, 1 - math.tanh(1.0)),
    ],
)
def test_activation_reference_points(name, x, expected):
    y = make_activation(name, rng(0))(np.array([x], dtype=np.float32))
    assert y[0] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_sine_sum_is_frozen_and_bounded():
    f = make_activation("sine_sum", rng(0))
    x = np.linspace(-50, 50, 5001, dtype=np.float32)
    assert np.array_equal(f(x), f(x)), "terms drawn once, at construction"
    g = make_activation("sine_sum", rng(1))
    assert not np.allclose(f(x), g(x))
    # at most 7 terms of amplitude <= 1, and visibly oscillating
    for seed in range(20):
        y = make_activation("sine_sum", rng(seed))(x)
        assert np.abs(y).max() <= 7.0
        assert y.dtype == np.float32
        assert np.sum(np.diff(np.sign(y)) != 0) >= 2
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish", rng(0))


# ---------------------------------------------------------------------------------------------
# Initialisations: stored (in, out), PyTorch takes dim 1 (out) as the fan-in

IN, OUT = 400, 60


@pytest.mark.parametrize(("shape"), [(IN, OUT), (OUT, IN)])
def test_initialisation_variances(shape):
    a, b = shape
    w = init_weight("kaiming_normal", a, b, rng(0))
    assert w.shape == shape
    assert w.var() == pytest.approx(2.0 / b, rel=0.06)
    assert abs(w.mean()) < 4 * math.sqrt(2.0 / b / w.size)

    w = init_weight("kaiming_uniform", a, b, rng(1))
    bound = math.sqrt(6.0 / b)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert stats.kstest(w.ravel(), stats.uniform(-bound, 2 * bound).cdf).pvalue > 0.001

    w = init_weight("xavier_normal", a, b, rng(2))
    assert w.var() == pytest.approx(2.0 / (a + b), rel=0.06)
    assert stats.kstest(w.ravel(), stats.norm(0, math.sqrt(2.0 / (a + b))).cdf).pvalue > 0.001

    w = init_weight("xavier_uniform", a, b, rng(3))
    bound = math.sqrt(6.0 / (a + b))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.var() == pytest.approx(bound ** 2 / 3, rel=0.06)

    w = init_weight("truncated_normal", a, b, rng(4))
    assert np.abs(w).max() <= 2.0
    assert stats.kstest(w.ravel(), stats.truncnorm(-2, 2).cdf).pvalue > 0.001
    assert w.var() == pytest.approx(stats.truncnorm(-2, 2).var(), rel=0.06)  # 0.774


@pytest.mark.parametrize(("shape"), [(IN, OUT), (OUT, IN), (7, 5), (1, 32), (32, 1)])
def test_sparse_initialisation(shape):
    a, b = shape
    w = init_weight("sparse", a, b, rng(0))
    zeros_per_column = (w == 0).sum(axis=0)
    assert np.all(zeros_per_column == math.ceil(0.5 * a))
    nz = w[w != 0]
    if nz.size > 500:
        assert nz.std() == pytest.approx(0.01, rel=0.08)
    assert nz.size == w.size - b * math.ceil(0.5 * a)
    if nz.size:
        assert np.abs(nz).max() < 0.01 * 6


def test_unknown_initialisation():
    assert set(INITIALIZATIONS) == {"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                                    "truncated_normal", "sparse"}
    with pytest.raises(ValueError, match="unknown initialisation"):
        init_weight("orthogonal", 3, 3, rng(0))


@pytest.mark.parametrize("density", [0.3, 0.6, 1.0])
def test_mask_density_rescaling(density):
    # activation scales e^0 = 1: the folded matrices are the drawn ones
    sp = scm_cfg(weight_density=(density, density), initializations=("kaiming_uniform",), emb=64,
                 mlp_layers=(3, 3), activation_log_scale=(0.0, 0.0)).scm
    mlp = make_mlp(sp, 64, 64, rng(0))
    assert len(mlp.folded) == 3
    bound = math.sqrt(6.0 / 64)
    w = np.concatenate([x.ravel() for x in mlp.folded]).astype(np.float64)
    assert np.mean(w != 0) == pytest.approx(density, abs=0.02)
    # surviving weights are divided by the density
    nz = np.abs(w[w != 0])
    assert nz.max() <= bound / density * (1 + 1e-6)
    assert nz.max() > 0.99 * bound / density
    # so E[w^2] = density * (bound^2 / 3) / density^2
    assert np.mean(w ** 2) == pytest.approx(bound ** 2 / 3 / density, rel=0.08)


def test_make_mlp_structure():
    sp = scm_cfg(activations=("tanh", "relu"), mlp_layers=(2, 4)).scm
    layers = []
    for seed in range(60):
        mlp = make_mlp(sp, 1, 5, rng(seed))
        layers.append(len(mlp.folded))
        dims = [w.shape for w in mlp.folded]
        assert dims[0][0] == 1 and dims[-1][1] == 5
        assert all(w.dtype == np.float32 for w in mlp.folded)
        assert all(d[1] == 32 for d in dims[:-1]) and all(d[0] == 32 for d in dims[1:])
        assert len(mlp.activation_names) == len(mlp.clamps) == len(mlp.folded) - 1
        assert set(mlp.activation_names) <= {"tanh", "relu"}
        # clamp = 1e6 / scale with a scale in [e^-1, e]
        assert all(CLAMP_HIDDEN / math.e * (1 - 1e-6) <= c <= CLAMP_HIDDEN * math.e * (1 + 1e-6) for c in mlp.clamps)
        out = mlp(np.linspace(-1, 1, 11, dtype=np.float32)[:, None])
        assert out.shape == (11, 5) and out.dtype == np.float32
    assert set(layers) == {2, 3, 4}


def test_hidden_outputs_are_clamped():
    w1 = np.full((1, 4), 1e5, dtype=np.float32)
    w2 = np.ones((4, 1), dtype=np.float32)
    mlp = Mlp.from_drawn([w1, w2], [make_activation("identity", rng(0))], ["identity"], [3.0])
    out = mlp(np.array([[100.0], [-100.0], [1e-3]], dtype=np.float32))
    # hidden = clamp(3 * 1e7, ±1e6) = 1e6 per unit, then summed over 4 units
    assert out[:, 0].tolist() == pytest.approx([4 * CLAMP_HIDDEN, -4 * CLAMP_HIDDEN, 4 * 3 * 100.0], rel=1e-6)


def test_an_scm_pack_holds_mlps_of_mixed_shapes_and_embedding_tables():
    sp = SP
    in_dims, out_dims = [1, 32, 32, 32, 1], [32, 32, 1, 32, 32]
    factors = [1.0, 2.0, 1.0, 1.0, -0.5]
    pack = draw_mlps(sp, in_dims, out_dims, rng(0), factors)
    assert len(pack) == 5 and pack.weights.dtype == np.float32
    assert pack.layers[-1, 0] + pack.layers[-1, 1] * pack.layers[-1, 2] == len(pack.weights)
    x = {1: np.linspace(-2, 2, 40, dtype=np.float32)[:, None], 32: rng(1).normal(size=(40, 32)).astype(np.float32)}
    for i, (a, b) in enumerate(zip(in_dims, out_dims)):
        mlp = Mlp.of_pack(pack, i)
        assert mlp.folded[0].shape[0] == a and mlp.folded[-1].shape[1] == b
        assert mlp.activation_names == pack.activation_names(i) and len(mlp.clamps) == len(mlp.folded) - 1
        out = mlp(x[a])
        assert out.shape == (40, b) and np.isfinite(out).all()
    # the same stream gives the same pack, another stream another one
    again = draw_mlps(sp, in_dims, out_dims, rng(0), factors)
    assert np.array_equal(again.weights, pack.weights) and np.array_equal(again.layers, pack.layers)
    assert not np.array_equal(draw_mlps(sp, in_dims, out_dims, rng(2), factors).weights[:32], pack.weights[:32])
    # an output factor scales the last matrix: the factor-1 draw, times -0.5
    unit = draw_mlps(sp, in_dims, out_dims, rng(0), [1.0, 2.0, 1.0, 1.0, 1.0])
    last = slice(int(pack.layers[-1, 0]), None)
    np.testing.assert_allclose(pack.weights[last], -0.5 * unit.weights[last], rtol=1e-6)
    tables = draw_embeddings(sp, [5, 2, 9], rng(3))
    assert [t.shape for t in tables] == [(5, 32), (2, 32), (9, 32)]
    assert all(t.dtype == np.float32 and len(np.unique(t, axis=0)) == len(t) for t in tables)


@pytest.mark.parametrize("direct", [0, 3, 17, 40])
@pytest.mark.parametrize("wide_range", [(-1e4, 1e4), (-1e4, -100.0), (80.5, 90.0)])
def test_logsumexp_of_bounded_and_unbounded_inputs(direct, wide_range):
    # inputs with a bound <= 80 enter as a plain sum of e^x; the others (large, or -inf for a null
    # reference) through the max shift, more than one group of 16 of them here, and are then
    # combined with that sum (far below it, far above it, or near it)
    r = rng(direct)
    bounded = [r.uniform(-80, 80, size=(50, 8)).astype(np.float32) for _ in range(direct)]
    wide = [r.uniform(*wide_range, size=(50, 8)).astype(np.float32) for _ in range(20)]
    wide[0][:5] = -np.inf
    agg = Aggregator("logsumexp")
    for x in bounded:
        agg.add(x.copy(), owned=True, bound=80.0)
    for x in wide:
        agg.add(x)
    expected = special.logsumexp(np.stack(bounded + wide).astype(np.float64), axis=0)
    np.testing.assert_allclose(agg.result(), expected, rtol=1e-5, atol=1e-5)
    only_bounded = Aggregator("logsumexp")
    for x in bounded[:1] + bounded:
        only_bounded.add(x.copy(), owned=True, bound=80.0)
    if bounded:
        np.testing.assert_allclose(only_bounded.result(),
                                   special.logsumexp(np.stack(bounded[:1] + bounded).astype(np.float64), axis=0),
                                   rtol=1e-5, atol=1e-5)


def test_aggregations():
    r = rng(0)
    stack = [r.normal(size=(10, 4)).astype(np.float32) for _ in range(3)]
    s = np.stack(stack)
    np.testing.assert_allclose(aggregate(stack, "sum"), s.sum(0), rtol=1e-6)
    np.testing.assert_allclose(aggregate(stack, "max"), s.max(0))
    np.testing.assert_allclose(aggregate(stack, "product"), s.prod(0), rtol=1e-5)
    np.testing.assert_allclose(aggregate(stack, "logsumexp"), special.logsumexp(s, axis=0), rtol=1e-5)
    assert set(AGGREGATIONS) == {"sum", "max", "product", "logsumexp"}
    before = stack[0].copy()
    aggregate(stack, "sum")
    assert np.array_equal(stack[0], before), "inputs are not modified"
    with pytest.raises(ValueError):
        aggregate(stack, "mean")


def test_beta_noise():
    x = samplers.beta(2.0, 3.0, rng(0), (20000, 32), scale=1 / 32)  # the node noise: Beta / emb
    assert x.dtype == np.float32 and x.shape == (20000, 32)
    assert x.min() > 0 and x.max() < 1 / 32
    assert stats.kstest((x[:, 0] * 32).astype(np.float64), stats.beta(2, 3).cdf).pvalue > 0.001


# ---------------------------------------------------------------------------------------------
# Sources


@pytest.mark.parametrize("activity", [True, False])
def test_ts_components_reconstruct_the_signal(activity):
    n = 1000
    for seed in range(20):
        d = ts_signal(SP, n, activity, rng(seed))
        c, p = d.components, d.params
        lo, hi = p["lo"], p["hi"]
        assert 0 <= lo < hi <= p["scale"] and p["scale"] in SP.source_scales
        np.testing.assert_allclose(c["signal"], (c["trend"] + c["cycle"] + c["noise"]) / 3, rtol=0, atol=1e-12)
        assert np.array_equal(d.values, c["signal"])
        t = np.arange(n)
        np.testing.assert_allclose(c["trend"], np.minimum(p["trend_sign"] * (t / n) ** p["trend_exponent"] + lo, hi))
        np.testing.assert_allclose(c["cycle"], np.clip(p["cycle_sign"] * np.sin(np.pi * t / p["period"]), lo, hi))
        assert c["noise"].min() >= lo and c["noise"].max() <= hi
        assert 0 <= p["ar_rho"] <= 0.9 and 0 <= p["trend_exponent"] <= 2
        assert any(p["period"] == math.ceil(n * f) for f in SP.ts_period_fractions)
        if activity:
            assert p["trend_sign"] in (-1.0, 1.0) and p["cycle_sign"] in (-1.0, 1.0)
            assert p["noise_sigma"] == 0.05
        else:
            assert p["trend_sign"] == p["cycle_sign"] == 0.0 and p["noise_sigma"] == 1.0
            assert np.all(c["trend"] == lo) and np.all(c["cycle"] == lo)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_ar_noise_has_lag_one_correlation_rho(rho):
    """The AR(1) state is unclipped; only the value used is clipped.

    With bounds inside [0, 0.01] and sigma = 1 the clipped value is (almost exactly) the sign of
    the state, and for a Gaussian AR(1) corr(sign e_t, sign e_{t-1}) = (2/pi) arcsin(rho). A
    recursion on the clipped state would give a correlation near 0 instead.
    """
    sp = scm_cfg(source_scales=(0.01,), ts_ar_rho=(rho, rho)).scm
    est = []
    for seed in range(3):
        d = ts_signal(sp, 20000, False, rng(seed))
        assert d.params["ar_rho"] == rho
        c = d.components["noise"]
        s = (c > (d.params["lo"] + d.params["hi"]) / 2).astype(np.float64)
        est.append(math.sin(math.pi / 2 * np.corrcoef(s[1:], s[:-1])[0, 1]))
    assert np.mean(est) == pytest.approx(rho, abs=0.04), est


@pytest.mark.parametrize("law", ["uniform", "gaussian", "beta", "mixed"])
def test_numerical_source_laws(law):
    for seed in range(10):
        d = numerical_source(SP, law, 4000, False, rng(seed))
        v = d.values
        assert v.shape == (4000,) and np.isfinite(v).all()
        assert d.params["law"] == law
        parts = d.params["parts"] if law == "mixed" else [d.params]
        assert (2 <= len(parts) <= 3) if law == "mixed" else True
        lo = min(p["lo"] for p in parts)
        hi = max(p["hi"] for p in parts)
        assert v.min() >= lo and v.max() <= hi
        for p in parts:
            assert p["law"] in ("uniform", "gaussian", "beta")
            assert p["scale"] in SP.source_scales
        if law == "uniform":
            assert stats.kstest(v, stats.uniform(lo, hi - lo).cdf).pvalue > 0.001
        if law == "gaussian":
            p = d.params
            assert p["mean"] == pytest.approx((p["lo"] + p["hi"]) / 2)
            assert p["sd"] == pytest.approx(max((p["hi"] - p["lo"]) / 4, 1e-6))
            assert np.median(v) == pytest.approx(p["mean"], abs=0.1 * (p["hi"] - p["lo"]))
        if law == "beta":
            p = d.params
            assert 0.5 <= p["alpha"] <= 5 and 0.5 <= p["beta"] <= 5
            u = (v - p["lo"]) / (p["hi"] - p["lo"])
            assert stats.kstest(u, stats.beta(p["alpha"], p["beta"]).cdf).pvalue > 0.001
    with pytest.raises(ValueError, match="unknown source law"):
        numerical_source(SP, "pareto", 10, False, rng(0))


def test_categorical_sources():
    for seed in range(10):
        d = categorical_source(SP, "uniform", 5000, 4, False, rng(seed))
        assert d.values.dtype == np.int64 and d.values.min() >= 0 and d.values.max() < 4
        probs = np.asarray(d.params["probabilities"])
        assert probs.sum() == pytest.approx(1.0, abs=1e-3)
        observed = np.bincount(d.values, minlength=4)
        mask = probs > 0.01
        assert np.all(np.abs(observed[mask] / 5000 - probs[mask]) < 0.03)
        t = categorical_source(SP, "ts", 2000, 6, True, rng(seed))
        assert t.values.min() >= 0 and t.values.max() < 6
        assert len(t.params["per_category"]) == 6
        assert set(t.components) == {"trend", "cycle", "noise", "signal"}


def test_categorical_ts_source_follows_the_softmax():
    # Entity ts signal of category k lies in [lo_k, (2 lo_k + hi_k) / 3]. With scale 100 a category
    # whose floor beats every other ceiling by 20 wins every row (softmax odds below e^-20).
    sp = scm_cfg(source_scales=(100.0,)).scm
    decided = 0
    for seed in range(40):
        d = categorical_source(sp, "ts", 500, 3, False, rng(seed))
        lo = np.array([p["lo"] for p in d.params["per_category"]])
        hi = np.array([p["hi"] for p in d.params["per_category"]])
        ceiling = (2 * lo + hi) / 3
        best = int(np.argmax(lo))
        if lo[best] > np.delete(ceiling, best).max() + 20:
            assert np.all(d.values == best), seed
            decided += 1
    assert decided >= 3
    # scale 0.01: all signals within 0.01 of each other, so the softmax is uniform within 1%
    sp = scm_cfg(source_scales=(0.01,)).scm
    d = categorical_source(sp, "ts", 6000, 3, False, rng(0))
    assert stats.chisquare(np.bincount(d.values, minlength=3)).pvalue > 0.001


# ---------------------------------------------------------------------------------------------
# Propagation


COLUMNS = [ScmColumn("feature_0", "numerical"), ScmColumn("feature_1", "categorical", 4),
           ScmColumn("feature_2", "categorical", 9), ScmColumn("feature_3", "numerical"),
           ScmColumn("feature_4", "categorical", 2)]


@pytest.mark.parametrize("mode", ["type_eager", "type_lazy"])
def test_run_scm_modes(mode):
    cfg = pc.Config().replace(**{"scm.propagation_modes": (mode,)})
    for seed in range(8):
        values, tr = run_scm("t", COLUMNS, 300, seed % 2 == 0, [], cfg, rng(seed))
        assert list(values) == [c.name for c in COLUMNS]
        assert tr.mode == mode and tr.layout in cfg.scm.scm_layouts
        g = tr.graph
        m = len(COLUMNS)
        assert g.number_of_nodes() == m + math.ceil(m / tr.column_node_share) + 3
        assert 0.3 <= tr.column_node_share <= 0.9
        roles = [g.nodes[v]["role"] for v in g]
        assert roles.count("column") == m
        cols = {g.nodes[v]["column"]: v for v in g if g.nodes[v]["role"] == "column"}
        assert set(cols) == {c.name for c in COLUMNS}
        for c in COLUMNS:
            v = values[c.name]
            assert len(v) == 300
            node = g.nodes[cols[c.name]]
            assert node["type"] == c.kind
            if c.kind == "categorical":
                assert v.dtype == np.int64 and v.min() >= 0 and v.max() < c.k, (mode, seed, c.name)
                assert node["num_categories"] == c.k
                if mode == "type_lazy":
                    assert node.get("quantized") is True
            else:
                assert v.dtype == np.float64 and np.isfinite(v).all()
        column_nodes = set(cols.values())
        for v in g:
            a = g.nodes[v]
            assert a["is_source"] == (g.in_degree(v) == 0)
            # evaluated exactly when it is a source or some column is (or descends from) it
            assert a["evaluated"] == (a["is_source"] or v in column_nodes or bool(nx.descendants(g, v) & column_nodes))
            assert a["aggregation"] in AGGREGATIONS
            if a["is_source"]:
                law = a["source"]["law"]
                assert law in SOURCE_LAWS
                assert a["decoder_activations"] == []
            else:
                assert a["source"] is None and bool(a["decoder_activations"]) == a["evaluated"]
            if a["role"] == "latent" and a["type"] == "categorical":
                assert 2 <= a["num_categories"] <= 10
            assert "_decoder" not in a
        for _, _, d in g.edges(data=True):
            assert np.isfinite(d["weight"]) and "_encoder" not in d and d["encoder_activations"] is not None


def test_run_scm_ts_sources_record_components():
    cfg = pc.Config().replace(**{"scm.source_laws": ("ts",)})
    found = 0
    for seed in range(5):
        _, tr = run_scm("t", COLUMNS, 200, True, [], cfg, rng(seed))
        for node, comp in tr.source_components.items():
            assert tr.graph.nodes[node]["is_source"]
            assert tr.graph.nodes[node]["source"]["law"] == "ts"
            np.testing.assert_allclose(comp["signal"], (comp["trend"] + comp["cycle"] + comp["noise"]) / 3,
                                       rtol=1e-5, atol=1e-6)
            found += 1
    assert found > 0


def test_run_scm_foreign_inputs_enter():
    parent_vals = rng(0).normal(size=50)
    fi = ForeignInput("table_0", rng(1).integers(0, 50, 200),
                      [("feature_0", parent_vals, "numerical", None),
                       ("feature_1", rng(2).integers(0, 3, 50), "categorical", 3)])
    cfg = pc.Config().replace(**{"scm.aggregations": ("sum",)})
    v1, tr = run_scm("t", COLUMNS, 200, False, [fi], cfg, rng(5))
    assert tr.foreign_inputs == ["table_0.feature_0", "table_0.feature_1"]
    v0, tr0 = run_scm("t", COLUMNS, 200, False, [], cfg, rng(5))
    assert tr0.foreign_inputs == []
    assert all(len(v1[c.name]) == 200 for c in COLUMNS)


def test_run_scm_is_deterministic():
    a, _ = run_scm("t", COLUMNS, 150, True, [], CFG, rng(3))
    b, _ = run_scm("t", COLUMNS, 150, True, [], CFG, rng(3))
    for k in a:
        assert np.array_equal(a[k], b[k])


def test_lazy_quantize():
    values = rng(0).normal(size=1000)
    order = np.argsort(values)
    plain = scm_cfg(lazy_permute_prob=(0.0, 0.0), lazy_reverse_prob=(0.0, 0.0)).scm
    for seed in range(10):
        c = _quantize(values, 5, plain, rng(seed))
        assert c.min() >= 0 and c.max() <= 4
        assert np.all(np.diff(c[order]) >= 0), "classes are value intervals, in order"
    rev = scm_cfg(lazy_permute_prob=(0.0, 0.0), lazy_reverse_prob=(1.0, 1.0)).scm
    c = _quantize(values, 5, rev, rng(0))
    assert np.all(np.diff(c[order]) <= 0)
    perm = scm_cfg(lazy_permute_prob=(1.0, 1.0), lazy_reverse_prob=(0.0, 0.0)).scm
    runs = []
    for seed in range(10):
        c = _quantize(values, 5, perm, rng(seed))
        assert c.min() >= 0 and c.max() <= 4
        runs.append(int(np.sum(np.diff(c[order]) != 0)))
        assert runs[-1] <= 4, "still at most k intervals"
    assert any(not np.all(np.diff(_quantize(values, 5, perm, rng(s))[order]) >= 0) for s in range(10))


# ---------------------------------------------------------------------------------------------
# Post-processing pieces


def test_rank_uniform():
    x = np.array([3.0, -1.0, 10.0, 0.5, 2.0])
    y = apply_transform("rank_uniform", x)
    ranks = np.argsort(np.argsort(x))
    np.testing.assert_allclose(y, (ranks + 1) / (len(x) + 1))
    n = 999
    z = apply_transform("rank_uniform", rng(0).normal(size=n))
    assert sorted(z.tolist()) == pytest.approx(((np.arange(n) + 1) / (n + 1)).tolist())
    ties = apply_transform("rank_uniform", np.array([1.0, 1.0, 1.0]))
    assert sorted(ties.tolist()) == pytest.approx([0.25, 0.5, 0.75])


def test_other_transforms():
    x = np.array([-4.0, -1.0, 0.0, 2.25, 9.0])
    assert np.array_equal(apply_transform("identity", x), x)
    np.testing.assert_allclose(apply_transform("signed_log1p", x), np.sign(x) * np.log1p(np.abs(x)))
    np.testing.assert_allclose(apply_transform("signed_sqrt", x), [-2.0, -1.0, 0.0, 1.5, 3.0])
    s = apply_transform("standardize", x)
    assert s.mean() == pytest.approx(0.0, abs=1e-12) and s.std() == pytest.approx(1.0)
    assert np.array_equal(apply_transform("standardize", np.full(4, 3.0)), np.zeros(4))
    assert set(TRANSFORMS) == {"identity", "rank_uniform", "signed_log1p", "signed_sqrt", "standardize"}
    with pytest.raises(ValueError):
        apply_transform("log", x)


def test_exact_missing_counts():
    for rate, rows in ((0.01, 99), (0.01, 100), (0.1, 1234), (0.0, 50), (0.95, 20), (0.07, 3)):
        k = missing_count(rate, rows)
        assert k == math.floor(rate * rows)
        out = set_missing(np.arange(rows, dtype=np.float64), k, rng(rows))
        assert int(np.isnan(out).sum()) == k
        assert out.dtype == np.float64
        kept = out[~np.isnan(out)]
        assert np.array_equal(kept, np.sort(kept)), "order of the other cells is kept"
    x = np.ones(10)
    set_missing(x, 3, rng(0))
    assert not np.isnan(x).any(), "the input is not modified"
    # missing cells are spread at random, not a block
    hits = np.zeros(100)
    for s in range(200):
        hits += np.isnan(set_missing(np.zeros(100), 10, rng(s)))
    assert stats.chisquare(hits).pvalue > 0.001


def test_binarize_and_constant():
    labels = np.array([0, 1, 2, 5, 0, 3])
    b = binarize(labels)
    assert b.tolist() == [False, True, True, True, False, True] and b.dtype == np.bool_
    assert is_constant(binarize(np.array([1, 2, 3])))
    assert not is_constant(b)
    assert is_constant(np.array([np.nan, 2.0, 2.0]))
    assert is_constant(np.array([np.nan, np.nan]))
    assert not is_constant(np.array([np.nan, 1.0, 2.0]))


def test_categorical_keeps_every_label_as_a_category():
    c = categorical(np.array([2, 0, 2]), range(4))
    assert list(c.categories) == [0, 1, 2, 3] and c.categories.dtype == np.int64 and not c.ordered
    assert c.tolist() == [2, 0, 2] and c.codes.tolist() == [2, 0, 2]
    s = categorical(np.array([1, 1]), ["paid", "shipped", "lost"])
    assert list(s.categories) == ["paid", "shipped", "lost"] and s.tolist() == ["shipped", "shipped"]


def test_nodes_no_column_depends_on_get_no_mlps():
    cfg = pc.Config().replace(**{"scm.scm_layouts": ("ErdosRenyi", "BarabasiAlbert", "Layered")})
    skipped_somewhere = False
    for seed in range(6):
        values, tr = run_scm("t", COLUMNS, 200, seed % 2 == 0, [], cfg, rng(seed))
        g = tr.graph
        for v, d in g.nodes(data=True):
            if d["evaluated"] and not d["is_source"]:
                assert d["decoder_activations"], v
            elif not d["evaluated"]:
                skipped_somewhere = True
                assert d["decoder_activations"] == [] and d["role"] == "latent"
        for u, v, d in g.edges(data=True):
            assert bool(d.get("encoder_activations")) == g.nodes[v]["evaluated"], (u, v)
        assert all(np.isfinite(values[c.name]).all() for c in COLUMNS)
    assert skipped_somewhere


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 8191, 8192, 8193, 20000, 100_003])
def test_row_chunks_are_equal_and_cover_the_rows(n):
    from plurel_core.scm.model import CHUNK_ROWS, SPLIT_FROM_ROWS, row_chunks

    chunks = row_chunks(n)
    sizes = [c.stop - c.start for c in chunks]
    assert chunks[0].start == 0 and chunks[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    assert max(sizes) <= max(CHUNK_ROWS, 0) and max(sizes) - min(sizes) <= 1
    fewest = max(1, -(-n // CHUNK_ROWS), 2 if n >= SPLIT_FROM_ROWS else 1)
    assert len(chunks) == (fewest if fewest == 1 else fewest + fewest % 2)


def test_relevant_nodes_are_the_columns_and_their_ancestors():
    r = np.random.default_rng(7)
    for _ in range(30):
        g = nx.gnp_random_graph(25, 0.15, seed=int(r.integers(1 << 30)), directed=True)
        g = nx.DiGraph([(u, v) for u, v in g.edges if u < v])
        g.add_nodes_from(range(25))
        cols = set(r.choice(25, size=4, replace=False).tolist())
        brute = {v for v in g if any(v == c or nx.has_path(g, v, c) for c in cols)}
        assert relevant_nodes(g, cols) == brute


def test_distinct_values_finds_repeats_and_skips_continuous_columns():
    from plurel_core.scm.model import distinct_values

    r = rng(21)
    saturated = np.clip(r.normal(size=20_000), -0.5, 0.5).astype(np.float32)  # 62% of rows at ±0.5
    saturated[:8000] = np.round(saturated[:8000], 2)
    uniq, inverse = distinct_values(saturated)
    assert len(uniq) * 2 <= len(saturated) and np.all(np.diff(uniq) > 0)
    np.testing.assert_array_equal(uniq[inverse], saturated)
    wide = np.clip(r.normal(size=50_000), -0.5, 0.5).astype(np.float32)  # ~19k distinct: over ENCODE_ONCE_MAX
    assert distinct_values(wide) is None
    assert distinct_values(r.normal(size=50_000).astype(np.float32)) is None  # decided by the probe alone
    assert distinct_values(r.normal(size=3000).astype(np.float32)) is None  # a probe of every 4th row
    assert distinct_values(r.normal(size=40).astype(np.float32)) is None  # tiny: the full check
    few = r.integers(0, 7, size=3000).astype(np.float32)
    assert len(distinct_values(few)[0]) == 7
    small_saturated = np.clip(r.normal(size=600), -0.3, 0.3).astype(np.float32)  # 76% of rows at ±0.3
    uniq, inverse = distinct_values(small_saturated)
    np.testing.assert_array_equal(uniq[inverse], small_saturated)


def test_encoding_repeating_values_once_gives_the_values_of_encoding_every_row():
    # Saturating MLPs make repeating columns; their children encode each distinct value once per
    # chunk. Turning that off must give the same columns, up to float32 rounding.
    from plurel_core.scm.model import build_scm, propagate_scm

    cfg = pc.Config()
    columns = [ScmColumn(f"c{i}", "numerical") for i in range(8)]
    shortcut_used = 0
    for seed in range(6):
        with_shortcut, _ = propagate_scm(build_scm("t", columns, False, [], cfg, rng(seed)), 3000, [], cfg)
        built = build_scm("t", columns, False, [], cfg, rng(seed))
        built.plan.repeats[:] = False
        every_row, _ = propagate_scm(built, 3000, [], cfg)
        for c in columns:
            a, b = with_shortcut[c.name], every_row[c.name]
            assert np.allclose(a, b, rtol=1e-3, atol=1e-3 * max(np.std(b), 1e-6)), (seed, c.name)
            shortcut_used += not np.array_equal(a, b)
    assert shortcut_used, "no column took the shortcut: the test would prove nothing"
