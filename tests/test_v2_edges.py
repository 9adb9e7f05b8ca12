"""v2 edge families, transforms, reductions and fitness rules (PLUREL_V2_SPEC §3 items 9-10)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from plurel_core.v2 import edges as E
from plurel_core.v2.ranges import Choices, IntegersRange, LogRange
from plurel_core.v2.table_prior import TablePrior

PRIOR = TablePrior()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- transforms: known values of each of the 12
TRANSFORM_CASES = {
    "identity": ([-2.0, 0.0, 3.5], [-2.0, 0.0, 3.5]),
    "tanh": ([-1.0, 0.0, 2.0], np.tanh([-1.0, 0.0, 2.0])),
    "relu": ([-1.0, 0.0, 2.0], [-0.4, -0.4, 1.6]),
    "square": ([-2.0, 0.0, 1.0], [3.0, -1.0, 0.0]),
    "step": ([-0.1, 0.0, 0.1, 5.0], [-0.8, -0.8, 0.8, 0.8]),
    "cube": ([-4.0, 1.0, 3.0, 10.0], [-3.0, 1.0 / 9.0, 3.0, 3.0]),
    "exp": ([-9.0, 0.0, 1.0, 9.0], [np.exp(-2.5), 1.0, np.e, np.exp(2.5)]),
    "sigmoid": ([-50.0, 0.0, 2.0], [-0.5, 0.0, 1.0 / (1.0 + np.exp(-2.0)) - 0.5]),
    "softplus": ([-50.0, 0.0, 3.0], [-0.7, np.log(2.0) - 0.7, np.log1p(np.exp(3.0)) - 0.7]),
    "abs": ([-2.0, 0.0, 0.8], [1.2, -0.8, 0.0]),
    "sin": ([0.0, np.pi / 2, -np.pi / 6], [0.0, 1.0, -0.5]),
    "log": ([-(np.e - 1.0), 0.0, np.e**2 - 1.0], [-1.0, 0.0, 2.0]),
}


def test_the_twelve_transforms_are_registered():
    assert E.TRANSFORM_NAMES == tuple(TRANSFORM_CASES)
    assert "identity" not in E.ACTIVATIONS and len(E.ACTIVATIONS) == 11


@pytest.mark.parametrize("name", list(TRANSFORM_CASES))
def test_transform_values(name):
    x, expected = TRANSFORM_CASES[name]
    out = E.TRANSFORMS[name](np.asarray(x, dtype=np.float64).reshape(-1, 1))
    assert out.shape == (len(x), 1)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-12, atol=1e-12)


# --- reductions
A = np.array([[1.0, -2.0], [0.5, 3.0]])
B = np.array([[2.0, 1.0], [-1.0, 4.0]])
C = np.array([[0.0, 0.5], [2.0, -3.0]])
REDUCTION_CASES = {
    "sum": A + B + C,
    "product": A * B * C,
    "max": np.maximum(np.maximum(A, B), C),
    "min": np.minimum(np.minimum(A, B), C),
    "logsumexp": np.log(np.exp(A) + np.exp(B) + np.exp(C)),
    "concat": np.hstack([A, B, C]),
}


@pytest.mark.parametrize("op", list(REDUCTION_CASES))
def test_reduction(op):
    out = E.reduce_terms(op, [A, B, C])
    np.testing.assert_allclose(out, REDUCTION_CASES[op], rtol=1e-12)
    single = E.reduce_terms(op, [A])
    np.testing.assert_array_equal(single, A)


def test_reductions_registry_and_errors():
    assert tuple(E.REDUCTIONS) == tuple(REDUCTION_CASES)
    # folds broadcast to the widest term (a node's dim = max edge width)
    assert E.reduce_terms("sum", [np.ones((3, 1)), np.ones((3, 4))]).shape == (3, 4)
    with pytest.raises(ValueError, match="op"):
        E.reduce_terms("median", [A])
    with pytest.raises(ValueError, match="at least one"):
        E.reduce_terms("sum", [])


# --- families
def test_linear_is_w_times_a_transform_with_normal_weight_and_uniform_transform():
    x = rng(1).normal(size=(200, 3))
    e = E.LinearEdge.draw(3, 3, PRIOR, rng(2))
    np.testing.assert_array_equal(e.apply(x), e.weight * E.TRANSFORMS[e.transform](x))
    assert e.params == {"family": "linear", "d_in": 3, "d_out": 3, "weight": e.weight, "transform": e.transform}
    draws = [E.LinearEdge.draw(2, 2, PRIOR, rng(s)) for s in range(3000)]
    assert stats.kstest([d.weight for d in draws], "norm").pvalue > 1e-3
    counts = np.array([sum(d.transform == t for d in draws) for t in E.TRANSFORM_NAMES])
    assert stats.chisquare(counts).pvalue > 1e-3


def test_lookup_reads_level_values_at_normal_quantile_bins():
    prior = replace(PRIOR, node_class_count=IntegersRange(4, 4))
    e = E.LookupEdge.draw(1, 1, prior, rng(3))
    assert len(e.values) == 4 and np.isclose(e.probabilities.sum(), 1.0)
    expected_edges = stats.norm.ppf(np.clip(np.cumsum(e.probabilities)[:-1], 1e-6, 1 - 1e-6))
    np.testing.assert_allclose(e.edges, expected_edges, rtol=1e-9)
    x = rng(4).normal(size=(40000, 1))
    out = e.apply(x)
    assert out.shape == (40000, 1)
    level = np.searchsorted(expected_edges, x[:, 0], side="right")
    np.testing.assert_array_equal(out[:, 0], e.values[level])
    # on a standard-normal input each level is hit with its drawn share
    counts = np.bincount(level, minlength=4)
    assert stats.chisquare(counts, e.probabilities * len(x)).pvalue > 1e-3
    ks = [len(E.LookupEdge.draw(1, 1, PRIOR, rng(s)).values) for s in range(400)]
    assert min(ks) == 2 and max(ks) == 10


def test_matrix_is_x_times_w_with_sd_one_over_sqrt_d_in():
    e = E.MatrixEdge.draw(16, 64, PRIOR, rng(5))
    assert e.matrix.shape == (16, 64)
    x = rng(6).normal(size=(50, 16))
    np.testing.assert_allclose(e.apply(x), x @ e.matrix, rtol=1e-12)
    sd = e.matrix.std()
    assert abs(sd - 0.25) < 0.25 * 0.07  # 1024 entries: the sd's relative error is about 2%
    assert abs(e.matrix.mean()) < 0.03


def test_nested_edge_masks_classes_with_log_probabilities():
    e = E.nested_edge(4, 6, rng(7))
    assert e.mask.shape == (4, 6) and e.mask.any(1).all()
    np.testing.assert_allclose(e.matrix[e.mask], np.log((e.mask * e.probabilities)[e.mask]))
    assert (e.matrix[~e.mask] < -700).all()
    assert e.params["nested"] is True and e.params["family"] == "matrix"


def test_nearest_is_the_one_hot_of_the_nearest_center():
    e = E.NearestEdge.draw(3, 5, PRIOR, rng(8))
    assert e.centers.shape == (5, 3)
    x = rng(9).normal(size=(1000, 3))
    out = e.apply(x)
    distance = ((x[:, None, :] - e.centers[None, :, :]) ** 2).sum(-1)
    expected = np.eye(5)[distance.argmin(1)]
    np.testing.assert_array_equal(out, expected)
    assert set(np.unique(out.sum(1))) == {1.0}


def test_mlp_widths_activations_and_forward_pass():
    prior = replace(PRIOR, mlp_layer_count=IntegersRange(3, 3), mlp_weight_scale=LogRange(2.0, 2.0))
    e = E.MLPEdge.draw(4, 3, prior, rng(10))
    assert len(e.weights) == 4 and len(e.activations) == 3 and e.widths[0] == 4 and e.widths[-1] == 3
    assert all(2 <= w <= 16 for w in e.widths[1:-1])
    assert all(a in E.ACTIVATIONS for a in e.activations)
    np.testing.assert_array_equal(e.biases[-1], np.zeros(3))
    x = rng(11).normal(size=(30, 4))
    h = x
    for w, b, act in zip(e.weights[:-1], e.biases[:-1], e.activations):
        h = E.TRANSFORMS[act](h @ w + b)
    np.testing.assert_allclose(e.apply(x), h @ e.weights[-1], rtol=1e-10, atol=1e-12)
    # weights N(0, g / sqrt(fan_in)), hidden biases N(0, .5), over many draws
    ws, bs = [], []
    for s in range(300):
        m = E.MLPEdge.draw(9, 2, prior, rng(100 + s))
        ws.append(m.weights[0].ravel() * np.sqrt(9) / 2.0)
        bs.append(m.biases[0])
    assert abs(np.concatenate(ws).std() - 1.0) < 0.04
    assert abs(np.concatenate(bs).std() - 0.5) < 0.03
    layers = [len(E.MLPEdge.draw(2, 2, PRIOR, rng(s)).activations) for s in range(300)]
    assert set(layers) == {1, 2, 3}


def test_tree_leaf_index_and_mean_of_leaves():
    e = E.TreeEdge.draw(3, 2, PRIOR, rng(12))
    trees, depth = e.split_dims.shape
    assert e.leaves.shape == (trees, 2**depth, 2) and 1 <= trees <= 8 and 1 <= depth <= 4
    x = rng(13).normal(size=(200, 3))
    index = e.leaf_index(x)
    for i in range(0, 200, 37):
        for t in range(trees):
            expected = sum(2**k for k in range(depth) if x[i, e.split_dims[t, k]] > e.thresholds[t, k])
            assert index[i, t] == expected
    expected_out = np.mean([e.leaves[t][index[:, t]] for t in range(trees)], axis=0)
    np.testing.assert_allclose(e.apply(x), expected_out, rtol=1e-12)
    deep = E.TreeEdge.draw(2, 1, replace(PRIOR, tree_depth=IntegersRange(4, 4)), rng(14))
    assert deep.leaf_index(rng(15).normal(size=(5000, 2))).max() < 16


def test_fourier_is_cos_of_random_features():
    e = E.FourierEdge.draw(2, 3, PRIOR, rng(16))
    assert e.frequencies.shape == (2, 16) and e.phases.shape == (16,) and e.weights.shape == (16, 3)
    assert 0.5 <= e.scale <= 3.0 and ((e.phases >= 0) & (e.phases < 2 * np.pi)).all()
    x = rng(17).normal(size=(40, 2))
    direct = np.array([[sum(np.cos(x[i] @ e.frequencies[:, f] + e.phases[f]) * e.weights[f, o] for f in range(16))
                        for o in range(3)] for i in range(40)])
    np.testing.assert_allclose(e.apply(x), direct, rtol=1e-10, atol=1e-12)
    vs = np.concatenate([E.FourierEdge.draw(1, 8, PRIOR, rng(200 + s)).weights.ravel() for s in range(50)])
    assert abs(vs.std() - 0.25) < 0.02  # V ~ N(0, 1/sqrt(16))


def test_quadratic_is_a_quadratic_form_in_x_and_one():
    e = E.QuadraticEdge.draw(3, 2, PRIOR, rng(18))
    assert e.tensor.shape == (2, 4, 4)
    x = rng(19).normal(size=(25, 3))
    xt = np.hstack([x, np.ones((25, 1))])
    direct = np.array([[xt[i] @ e.tensor[o] @ xt[i] for o in range(2)] for i in range(25)])
    np.testing.assert_allclose(e.apply(x), direct, rtol=1e-10, atol=1e-12)
    big = E.QuadraticEdge.draw(8, 20, PRIOR, rng(20))
    assert abs(big.tensor.std() - 1.0 / (np.sqrt(8) * 9)) < 0.003


def test_every_family_is_registered_and_gives_its_width():
    assert E.FAMILY_NAMES == ("linear", "lookup", "matrix", "nearest", "mlp", "tree", "fourier", "quadratic")
    for family, cls in E.EDGE_FAMILIES.items():
        d_in, d_out = (1, 1) if family == "lookup" else (3, 3)
        e = cls.draw(d_in, d_out, PRIOR, rng(21))
        out = e.apply(rng(22).normal(size=(7, d_in)))
        assert out.shape == (7, d_out) and out.dtype == np.float64 and np.isfinite(out).all()
        assert e.params["family"] == family == e.family
        with pytest.raises(ValueError, match="shape"):
            e.apply(np.zeros((7, d_in + 1)))


def test_fitness_rules():
    assert E.fits("linear", 2, 2) and not E.fits("linear", 2, 3) and not E.fits("linear", 2, 2, block=True)
    assert E.fits("lookup", 1, 1) and not E.fits("lookup", 1, 2) and not E.fits("lookup", 2, 2)
    assert not E.fits("lookup", 1, 1, block=True)
    assert E.fits("nearest", 1, 2) and not E.fits("nearest", 3, 1)
    assert all(E.fits(f, 5, 1, True) for f in ("matrix", "mlp", "tree", "fourier", "quadratic"))
    assert set(E.FITS) == {"linear", "lookup", "nearest"}
    assert E.fit_families(1, 1) == ("linear", "lookup", "matrix", "mlp", "tree", "fourier", "quadratic")
    assert E.fit_families(2, 3, block=True) == ("matrix", "nearest", "mlp", "tree", "fourier", "quadratic")


def test_draw_edge_drops_unfit_families_and_follows_the_weights():
    seen = {E.draw_edge(2, 3, PRIOR, rng(s), block=True).family for s in range(300)}
    assert seen == {"matrix", "nearest", "mlp", "tree", "fourier", "quadratic"}
    seen = {E.draw_edge(1, 1, PRIOR, rng(s)).family for s in range(300)}
    assert seen == {"linear", "lookup", "matrix", "mlp", "tree", "fourier", "quadratic"}
    weighted = replace(PRIOR, edge_families=Choices(("linear", "matrix", "nearest"), (3.0, 1.0, 0.0)))
    families = [E.draw_edge(2, 2, weighted, rng(s)).family for s in range(4000)]
    counts = np.array([families.count("linear"), families.count("matrix")])
    assert families.count("nearest") == 0
    assert stats.chisquare(counts, [3000, 1000]).pvalue > 1e-3
    # a width-changing edge leaves only matrix: linear's weight is dropped, not moved
    assert {E.draw_edge(2, 3, weighted, rng(s)).family for s in range(50)} == {"matrix"}
    with pytest.raises(ValueError, match="positive"):
        E.draw_edge(0, 2, PRIOR, rng())


def test_edges_are_deterministic_per_seed():
    for family in E.FAMILY_NAMES:
        d = 1 if family == "lookup" else 2
        a = E.EDGE_FAMILIES[family].draw(d, d, PRIOR, rng(30))
        b = E.EDGE_FAMILIES[family].draw(d, d, PRIOR, rng(30))
        x = rng(31).normal(size=(100, d))
        np.testing.assert_array_equal(a.apply(x), b.apply(x))
    c = E.MatrixEdge.draw(2, 2, PRIOR, rng(32))
    assert not np.array_equal(c.matrix, E.MatrixEdge.draw(2, 2, PRIOR, rng(33)).matrix)


def test_constructed_edges_check_their_shapes():
    with pytest.raises(ValueError, match="matrix must have shape"):
        E.MatrixEdge(2, 3, np.ones((3, 2)))
    with pytest.raises(ValueError, match="centers"):
        E.NearestEdge(2, 3, np.ones((2, 3)))
    with pytest.raises(ValueError, match="keeps the width"):
        E.LinearEdge(2, 3, 1.0, "tanh")
    with pytest.raises(ValueError, match="transform"):
        E.LinearEdge(1, 1, 1.0, "erf")
    with pytest.raises(ValueError, match="scalar"):
        E.LookupEdge(2, 1, np.zeros(3), np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="layer 1"):
        E.MLPEdge(2, 1, (np.ones((2, 4)), np.ones((3, 1))), (np.zeros(4), np.zeros(1)), ("tanh",))
    with pytest.raises(ValueError, match="leaves"):
        E.TreeEdge(2, 1, np.zeros((3, 2), dtype=int), np.zeros((3, 2)), np.zeros((3, 3, 1)))
    with pytest.raises(ValueError, match="tensor"):
        E.QuadraticEdge(2, 1, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="positive"):
        E.MatrixEdge(0, 1, np.ones((0, 1)))
