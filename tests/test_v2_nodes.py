"""v2 nodes: root noise laws, time series, numeric / categorical / indicator evaluation (spec §3 items 3-9, 11)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from plurel_core.v2 import nodes as N
from plurel_core.v2.edges import REDUCTIONS, LinearEdge, MatrixEdge
from plurel_core.v2.ranges import Choices, IntegersRange, LogIntegersRange, LogRange, Range
from plurel_core.v2.table_prior import TablePrior

PRIOR = TablePrior()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bimodal_cdf(x):
    return 0.5 * stats.norm.cdf(x, -1.5, 0.5) + 0.5 * stats.norm.cdf(x, 1.5, 0.5)


CONTINUOUS = {
    "normal": stats.norm().cdf,
    "uniform": stats.uniform(-1.7, 3.4).cdf,
    "bimodal": _bimodal_cdf,
    "beta_arcsine": stats.beta(0.5, 0.5, loc=-1.7, scale=3.4).cdf,
    "beta_skewed": stats.beta(2.0, 5.0, loc=-1.7, scale=3.4).cdf,
    "exponential": stats.expon().cdf,
    "lognormal": stats.lognorm(1.0).cdf,
    "lomax": stats.lomax(2.0).cdf,
}
POISSON = {"poisson_0.5": 0.5, "poisson_3": 3.0}


def test_root_noise_registry_is_the_ten_laws():
    assert N.ROOT_NOISE_NAMES == tuple(CONTINUOUS) + tuple(POISSON)
    assert set(N.ROOT_NOISE_LABELS) == set(N.ROOT_NOISES)


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_root_noise_law(name):
    x = N.ROOT_NOISES[name](20000, 2, rng(1))
    assert x.shape == (20000, 2) and x.dtype == np.float64
    for d in range(2):  # each dim follows the law on its own
        assert stats.kstest(x[:, d], CONTINUOUS[name]).pvalue > 1e-3
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 0.03


@pytest.mark.parametrize("name", list(POISSON))
def test_poisson_root_noise_moments_and_frequencies(name):
    lam = POISSON[name]
    x = N.ROOT_NOISES[name](40000, 1, rng(2))[:, 0]
    assert (x == np.round(x)).all() and x.min() >= 0
    se = np.sqrt(lam / len(x))
    assert abs(x.mean() - lam) < 4 * se
    assert abs(x.var() - lam) < 4 * lam * np.sqrt(2.0 / len(x)) * (1 + 2 * lam) ** 0.5
    k = np.arange(int(lam * 3 + 4))
    observed = np.bincount(x.astype(int), minlength=len(k))[: len(k)]
    expected = stats.poisson(lam).pmf(k) * len(x)
    keep = expected > 5
    assert stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()).pvalue > 1e-3


def test_zscore_uses_the_population_sd_and_zeroes_constant_columns():
    x = np.column_stack([rng(3).normal(5.0, 3.0, 1000), np.full(1000, 7.0)])
    z = N.zscore(x)
    np.testing.assert_allclose(z[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(ddof=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(z[:, 1], 0.0)
    assert N.zscore(np.empty((0, 2))).shape == (0, 2)


# --- time series
def test_time_series_components():
    ts = N.TimeSeries(alpha=1.5, scale=-1.2, periods=3.0, amplitude=0.7, phase=0.4, rho=0.6, sigma=0.5)
    n = 50000
    parts = ts.components(n, 2, rng(4))
    t = np.linspace(0.0, 1.0, n)
    np.testing.assert_allclose(parts["trend"], -1.2 * t**1.5, rtol=1e-12)
    np.testing.assert_allclose(parts["cycle"], 0.7 * np.sin(2 * np.pi * 3.0 * t + 0.4), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(parts["value"], (parts["trend"] + parts["cycle"])[:, None] + parts["noise"], rtol=1e-12)
    e = parts["noise"]
    assert e.shape == (n, 2)
    for d in range(2):  # AR(1): lag-1 correlation rho, stationary variance sigma^2 / (1 - rho^2)
        assert abs(np.corrcoef(e[1:, d], e[:-1, d])[0, 1] - 0.6) < 0.02
        assert abs(e[:, d].var() - 0.25 / (1 - 0.36)) < 0.03
        innovations = e[1:, d] - 0.6 * e[:-1, d]
        np.testing.assert_allclose(innovations.std(), 0.5, rtol=0.02)
    assert abs(np.corrcoef(e[:, 0], e[:, 1])[0, 1]) < 0.03  # noise drawn per dim


def test_time_series_draw_uses_the_prior_ranges():
    for s in range(200):
        ts = N.TimeSeries.draw(PRIOR, rng(s))
        assert 0 <= ts.alpha <= 2 and -1.5 <= ts.scale <= 1.5 and 1 <= ts.periods <= 12
        assert 0 <= ts.amplitude <= 1 and 0 <= ts.phase < 2 * np.pi and 0 <= ts.rho <= 0.9 and 0.1 <= ts.sigma <= 1


def test_roots_are_series_only_with_time():
    always = replace(PRIOR, root_series_share=1.0)
    with_time = N.draw_node([], [], 2, False, "sum", always, rng(5), time=True)
    assert with_time.noise == "series" and with_time.series is not None
    without = [N.draw_node([], [], 1, False, "sum", always, rng(s)).noise for s in range(50)]
    assert "series" not in without
    shares = [N.draw_node([], [], 1, False, "sum", PRIOR, rng(s), time=True).noise == "series" for s in range(2000)]
    assert abs(np.mean(shares) - 0.3) < 0.04
    laws = [N.draw_node([], [], 1, False, "sum", PRIOR, rng(s)).noise for s in range(3000)]
    assert stats.chisquare([laws.count(law) for law in N.ROOT_NOISE_NAMES]).pvalue > 1e-3


# --- numeric nodes
def test_root_value_is_raw_noise_plus_the_standardized_crossing_input():
    spec = N.draw_node([], [], 2, False, "sum", replace(PRIOR, root_noise=Choices(("exponential",))), rng(6))
    assert spec.kind == "root" and spec.noise == "exponential"
    across = rng(7).normal(3.0, 5.0, (4000, 2))
    noise = N.node_noise(spec, 4000, rng(8))
    value = N.evaluate_node(spec, [], across=across, noise=noise)
    np.testing.assert_allclose(value, noise + N.zscore(across), rtol=1e-12)
    raw = N.evaluate_node(spec, [], rng(8), n=4000)
    np.testing.assert_array_equal(raw, noise)  # no crossing input: the raw noise itself
    assert stats.kstest(raw[:, 0], "expon").pvalue > 1e-3


@pytest.mark.parametrize("op", [op for op in REDUCTIONS if op != "concat"])
def test_numeric_node_is_zscored_reduction_plus_noise(op):
    prior = replace(PRIOR, node_noise_std=LogRange(0.2, 0.2))
    parents = [rng(9).normal(size=(5000, 2)), rng(10).normal(size=(5000, 3))]
    spec = N.draw_node([2, 3], [False, False], 2, False, op, prior, rng(11))
    assert spec.kind == "numeric" and spec.op == op and spec.noise_sd == pytest.approx(0.2) and spec.bias is None
    assert all(e.d_out == 2 for e in spec.edges) and spec.edges[1].d_in == 3
    signal = REDUCTIONS[op]([e.apply(p) for e, p in zip(spec.edges, parents)])
    value = N.evaluate_node(spec, parents, rng(12))
    residual = value - N.zscore(signal)
    assert abs(residual.std() - 0.2) < 0.01 and abs(residual.mean()) < 0.01
    assert abs(np.corrcoef(residual[:, 0], residual[:, 1])[0, 1]) < 0.05  # independent noise per dim


def test_concat_node_concatenates_width_keeping_edges():
    parents = [rng(13).normal(size=(100, 2)), rng(14).normal(size=(100, 3))]
    spec = N.draw_node([2, 3], [False, False], 5, False, "concat", PRIOR, rng(15))
    assert spec.dim == 5 and [e.d_out for e in spec.edges] == [2, 3]
    value = N.evaluate_node(spec, parents, noise=np.zeros((100, 5)))
    expected = N.zscore(np.hstack([e.apply(p) for e, p in zip(spec.edges, parents)]))
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_draw_structure_kinds_ops_and_widths():
    parents = [(), (0,), (0, 1), (1, 2), (0, 1, 2, 3)]
    prior = replace(PRIOR, node_ops=Choices(("concat",)), node_categorical_share=0.0)
    cat, ops, dims = N.draw_structure(parents, prior, rng(16))
    assert cat == [False] * 5 and ops == ["sum", "sum", "concat", "concat", "concat"]
    assert dims[2] == dims[0] + dims[1] and dims[3] == dims[1] + dims[2] and dims[4] == sum(dims[:4])
    assert all(1 <= d <= 4 for d in dims[:2])
    cat, ops, dims = N.draw_structure(parents, replace(PRIOR, node_categorical_share=1.0), rng(17))
    assert all(cat) and ops == ["sum"] * 5 and all(2 <= d <= 10 for d in dims)
    shares = [c for s in range(400) for c in N.draw_structure(parents, PRIOR, rng(s))[0]]
    assert abs(np.mean(shares) - 0.3) < 0.03


def test_outputs_stay_finite_when_edges_overflow():
    spec = N.NodeSpec("numeric", 1, (LinearEdge(1, 1, 1.0, "identity"), LinearEdge(1, 1, 1.0, "identity")),
                      "product", noise_sd=0.1)
    huge = np.array([[1e200], [-1e200], [np.nan], [1.0]])
    value = N.evaluate_node(spec, [huge, huge], rng(18))
    assert value.shape == (4, 1) and np.isfinite(value).all()
    assert value[0, 0] > value[3, 0]  # order of the clipped signal kept


# --- categorical and indicator nodes
def test_categorical_root_samples_the_softmax_of_its_bias():
    spec = N.draw_node([], [], 4, True, "sum", PRIOR, rng(19))
    assert spec.kind == "categorical" and spec.noise == "gumbel" and spec.bias.shape == (4,)
    value = N.evaluate_node(spec, [], rng(20), n=40000)
    assert set(np.unique(value)) == {0.0, 1.0} and (value.sum(1) == 1).all()
    p = np.exp(spec.bias) / np.exp(spec.bias).sum()  # Gumbel-max: P(class k) = softmax(bias)_k
    assert stats.chisquare(value.sum(0), p * 40000).pvalue > 1e-3
    biases = np.concatenate([N.draw_node([], [], 5, True, "sum", PRIOR, rng(s)).bias for s in range(400)])
    assert abs(biases.std() - 0.5) < 0.03


def test_categorical_node_with_parents_is_one_hot_and_depends_on_them():
    prior = replace(PRIOR, edge_families=Choices(("matrix",)), node_nested_share=0.0)
    x = rng(21).normal(size=(20000, 2))
    spec = N.draw_node([2], [False], 3, True, "sum", prior, rng(22))
    assert spec.standardize and spec.nested is None
    value = N.evaluate_node(spec, [x], rng(23))
    assert (value.sum(1) == 1).all()
    scores = N.zscore(spec.edges[0].apply(x)) + spec.bias
    # rows whose score favours class k pick k far more often than chance
    favoured = scores.argmax(1)
    assert np.mean(value.argmax(1) == favoured) > 0.5


def test_nested_parent_restricts_the_classes_by_its_mask():
    prior = replace(PRIOR, node_nested_share=1.0, node_class_count=IntegersRange(6, 6))
    spec = N.draw_node([4], [True], 6, True, "sum", prior, rng(24))
    assert spec.nested == 0 and not spec.standardize
    mask = spec.edges[0].mask
    assert mask.shape == (4, 6) and not mask.all()
    parent_class = rng(25).integers(4, size=30000)
    parent = np.eye(4)[parent_class]
    value = N.evaluate_node(spec, [parent], rng(26))
    child_class = value.argmax(1)
    assert mask[parent_class, child_class].all()
    for c in range(4):  # every allowed class occurs, none other
        seen = set(child_class[parent_class == c])
        assert seen == set(np.flatnonzero(mask[c]))
    never = N.draw_node([4], [True], 6, True, "sum", replace(prior, node_nested_share=0.0), rng(24))
    assert never.nested is None and never.standardize and "nested" not in never.edges[0].params


def test_indicator_fires_at_its_rate_and_follows_its_parent():
    const = np.ones((40000, 3))
    spec = N.draw_indicator(0.1, 3, PRIOR, rng(27))
    assert spec.kind == "indicator" and spec.dim == 2 and spec.edges[0].d_out == 2
    np.testing.assert_allclose(spec.bias, [0.0, np.log(0.1 / 0.9)])
    value = N.evaluate_node(spec, [const], rng(28))  # constant signal -> zscore 0 -> P(class 1) = rate
    assert abs(value[:, 1].mean() - 0.1) < 4 * np.sqrt(0.09 / 40000)
    prior = replace(PRIOR, edge_families=Choices(("matrix",)))
    spec = N.draw_indicator(0.3, 2, prior, rng(29))
    x = rng(30).normal(size=(40000, 2))
    fired = N.evaluate_node(spec, [x], rng(31))[:, 1] == 1
    s = N.zscore(spec.edges[0].apply(x)) + spec.bias
    p_fire = 1.0 / (1.0 + np.exp(s[:, 0] - s[:, 1]))
    assert p_fire[fired].mean() > p_fire[~fired].mean() + 0.1
    assert abs(fired.mean() - p_fire.mean()) < 0.01
    with pytest.raises(ValueError, match="rate"):
        N.draw_indicator(1.0, 2, PRIOR, rng())


def test_crossing_input_sums_edge_outputs():
    edges = (MatrixEdge(2, 3, np.ones((2, 3))), MatrixEdge(1, 3, np.full((1, 3), 2.0)))
    a, b = np.array([[1.0, 2.0]]), np.array([[5.0]])
    np.testing.assert_array_equal(N.crossing_input(edges, [a, b]), [[13.0, 13.0, 13.0]])
    assert N.crossing_input((), []) is None


def test_node_spec_validation():
    with pytest.raises(ValueError, match="kind"):
        N.NodeSpec("latent", 1)
    with pytest.raises(ValueError, match="dim"):
        N.NodeSpec("categorical", 1, noise="gumbel")
    with pytest.raises(ValueError, match="match"):
        N.NodeSpec("numeric", 3, (MatrixEdge(2, 2, np.eye(2)),))
    with pytest.raises(ValueError, match="noise"):
        N.NodeSpec("root", 1, noise="cauchy")
    spec = N.NodeSpec("root", 1, noise="normal")
    with pytest.raises(ValueError, match="needs n"):
        N.evaluate_node(spec, [], rng())
    with pytest.raises(ValueError, match="row count"):
        N.evaluate_node(spec, [], rng(), across=np.zeros((3, 1)), n=4)


def test_nodes_are_deterministic_per_seed():
    prior = replace(PRIOR, node_count=LogIntegersRange(3, 3), key_reader_share=Range(0.5, 0.5))
    for categorical in (False, True):
        a = N.draw_node([2, 3], [False, True], 3, categorical, "sum", prior, rng(40))
        b = N.draw_node([2, 3], [False, True], 3, categorical, "sum", prior, rng(40))
        x = [rng(41).normal(size=(500, 2)), np.eye(3)[rng(42).integers(3, size=500)]]
        np.testing.assert_array_equal(N.evaluate_node(a, x, rng(43)), N.evaluate_node(b, x, rng(43)))
        assert a.params["kind"] == b.params["kind"]
    c = N.evaluate_node(a, x, rng(44))
    assert not np.array_equal(c, N.evaluate_node(a, x, rng(43)))


def test_whole_tables_from_warped_priors_evaluate_to_finite_values():
    """Every node of 40 random tables (random parent lists, warped default prior) is finite and
    as wide as drawn; one-hot nodes are one-hot."""
    for seed in range(40):
        r = rng(1000 + seed)
        prior = PRIOR.warp(r)
        k = int(prior.node_count.sample(r))
        parents = [tuple(j for j in range(i) if r.random() < 0.4) for i in range(k)]
        cat, ops, dims = N.draw_structure(parents, prior, r)
        values = []
        for i in range(k):
            spec = N.draw_node([dims[j] for j in parents[i]], [cat[j] for j in parents[i]], dims[i], cat[i], ops[i],
                               prior, r, time=seed % 2 == 0)
            v = N.evaluate_node(spec, [values[j] for j in parents[i]], r, n=300)
            assert v.shape == (300, dims[i]) and v.dtype == np.float64 and np.isfinite(v).all()
            if cat[i]:
                assert (v.sum(1) == 1).all()
            values.append(v)


def test_zscore_treats_rounding_residue_of_a_constant_column_as_constant():
    for value in (0.1, 1.0 / 3.0, 7.3e5, -2.2e-3):
        x = np.full((40000, 1), value) @ np.array([[0.7, -1.3]])
        np.testing.assert_array_equal(N.zscore(x), 0.0)
    tiny = np.array([[1e-100], [3e-100], [2e-100]])  # varying, however small
    np.testing.assert_allclose(N.zscore(tiny)[:, 0], [-np.sqrt(1.5), np.sqrt(1.5), 0.0], rtol=1e-9, atol=1e-12)
