"""v2 link models: RandomLink, HSBM v2, TreeLink and FK nulls (PLUREL_V2_SPEC §2)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from plurel_core.v2.links import (
    LINK_MODELS,
    HsbmLink,
    Lomax,
    RandomLink,
    TreeLink,
    affinity_matrices,
    cluster_bounds,
    cluster_digits,
    draw_law,
    link_from_dict,
    link_to_dict,
    sample_link,
    search_cdf,
    tree_depth,
)
from plurel_core.v2.ranges import IntegersRange, LogIntegersRange, Range
from plurel_core.v2.schema import sample_schema_plan
from plurel_core.v2.schema_prior import SchemaPrior

PRIOR = SchemaPrior()


def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def binomial_ok(k: int, n: int, p: float, z: float = 4.5) -> bool:
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def sample_plan_links(plan, seed: int):
    """Every FK of a plan linked on its own stream, as the pipeline will."""
    out = {}
    for k, fk in enumerate(plan.fkeys):
        n_child, n_parent = plan.tables[fk.table].rows, plan.tables[fk.parent].rows
        out[fk.key] = sample_link(fk.link, n_child, n_parent, rng([seed, 7, k]), fk.null_rate)
    return out


def forest_ok(parent: np.ndarray) -> None:
    n = len(parent)
    assert n == 0 or parent[0] == -1
    i = np.nonzero(parent >= 0)[0]
    assert (parent[i] < i).all()
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(i.tolist(), parent[i].tolist()))
    assert nx.is_forest(g.to_undirected()) and nx.is_directed_acyclic_graph(g)
    assert all(d <= 1 for _, d in g.out_degree)


def reference_depth(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(parent), np.int64)
    for i, p in enumerate(parent):
        if p >= 0:
            depth[i] = depth[p] + 1  # p < i: already known
    return depth


# ---------------------------------------------------------------- helpers and laws


def test_registry_and_spec_round_trip():
    assert set(LINK_MODELS) == {"random", "hsbm", "tree"}
    specs = [RandomLink(), TreeLink(0.3),
             HsbmLink((2, 3), (1, 2), Range(0.4, 0.95), Lomax(1.0, 0.01), Lomax(1.5), None, 0.25)]
    for s in specs:
        assert link_from_dict(link_to_dict(s)) == s
    with pytest.raises(ValueError, match="one cluster count per level"):
        HsbmLink((2,), (2, 2))
    with pytest.raises(ValueError, match="inactive"):
        HsbmLink((2,), (2,), inactive=1.0)


def test_lomax_is_scale_times_numpy_pareto_from_zero():
    x = Lomax(3.0, 2.0).sample(rng(0), 200_000)
    assert x.min() >= 0 and x.min() < 1e-3
    assert abs(x.mean() - 2.0 / (3.0 - 1.0)) < 0.03  # mean s / (alpha - 1)
    assert stats.kstest(x, stats.lomax(3.0, scale=2.0).cdf).pvalue > 1e-3
    assert np.array_equal(Lomax(3.0, 2.0).sample(rng(1), 10), 2.0 * rng(1).pareto(3.0, 10))
    assert np.array_equal(draw_law(0.9, 4, rng(0)), np.full(4, 0.9))


def test_cluster_bounds_one_row_each_then_shares_by_rounded_cumsum():
    assert list(cluster_bounds(100, 4)) == [25, 50, 75, 100]
    assert list(cluster_bounds(10, 3)) == [3, 7, 10]  # 7 spare rows: round(7/3, 14/3, 7) = 2, 5, 7, plus 1 each
    shares = np.array([1.0, 0.0001, 3.0, 6.0])
    sizes = np.diff(np.concatenate([[0], cluster_bounds(1004, 4, shares)]))
    assert sizes.sum() == 1004 and sizes.min() >= 1
    assert np.abs(sizes - 1 - 1000 * shares / shares.sum()).max() <= 1
    small = np.diff(np.concatenate([[0], cluster_bounds(3, 5)]))  # fewer rows than clusters
    assert list(small) == [1, 1, 1, 0, 0]


def test_cluster_digits_are_mixed_radix_first_level_most_significant():
    assert cluster_digits(np.arange(6), (2, 3)).tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    d = cluster_digits(np.arange(24), (2, 3, 4))
    assert (d[:, 0] * 12 + d[:, 1] * 4 + d[:, 2] == np.arange(24)).all()


def test_affinity_matrices_set_matched_cells_to_within():
    spec = HsbmLink((2, 3, 1), (3, 3, 2), within=Range(0.4, 0.95), between=Range(0.001, 0.002))
    for m, (p, c) in zip(affinity_matrices(spec, rng(0)), zip(spec.parent_counts, spec.child_counts)):
        assert m.shape == (p, c)
        matched = np.zeros((p, c), bool)
        i = np.arange(max(p, c))
        matched[i % p, i % c] = True
        assert matched.sum() == max(p, c)
        assert ((m[matched] >= 0.4) & (m[matched] <= 0.95)).all()
        assert ((m[~matched] >= 0.001) & (m[~matched] <= 0.002)).all()
    fixed = affinity_matrices(HsbmLink((3,), (2,), within=0.9), rng(1))[0]
    assert fixed[0, 0] == fixed[1, 1] == fixed[2, 0] == 0.9 and fixed[0, 1] < 0.01


def test_search_cdf_equals_numpy_searchsorted_right():
    for seed in range(30):
        r = rng(seed)
        m = int(r.integers(1, 3000))
        w = r.pareto(r.uniform(0.05, 3), m) * (r.random(m) < r.uniform(0.3, 1))  # heavy tails, plateaus
        w[int(r.integers(m))] += 1e-3  # a positive total
        cdf = np.cumsum(w)
        t = np.concatenate([r.random(5000) * cdf[-1], cdf[r.integers(0, m, 300)], [0.0, cdf[-1]]])
        assert np.array_equal(search_cdf(cdf, t), np.searchsorted(cdf, t, side="right")), seed


# ---------------------------------------------------------------- RandomLink


def test_random_link_is_uniform_over_parents():
    idx, trace = sample_link(RandomLink(), 50_000, 40, rng(0))
    assert trace["model"] == "random" and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < 40
    assert stats.chisquare(np.bincount(idx, minlength=40)).pvalue > 1e-3


# ---------------------------------------------------------------- HSBM


def test_hsbm_children_concentrate_in_the_matched_blocks():
    spec = HsbmLink((3,), (3,), within=0.9, between=Range(0.001, 0.002))
    n_child, n_parent = 30_000, 900
    idx, tr = sample_link(spec, n_child, n_parent, rng(3))
    assert list(tr["parent_cluster_sizes"]) == [300, 300, 300] and list(tr["child_cluster_sizes"]) == [10_000] * 3
    child_cluster = np.arange(n_child) // 10_000
    parent_cluster = idx // 300
    a = tr["matrices"][0]
    for c in range(3):
        expected = a[:, c] / a[:, c].sum()  # equal parent mass per cluster
        observed = np.bincount(parent_cluster[child_cluster == c], minlength=3)
        assert observed[c] / 10_000 > 0.99
        assert stats.chisquare(observed, expected * 10_000).pvalue > 1e-4


def test_hsbm_two_level_law_matches_the_trace_matrices():
    spec = HsbmLink((2, 3), (3, 2), within=Range(0.4, 0.95), between=Lomax(1.0, 0.05),
                    cluster_weights=Lomax(1.5), popularity=None, inactive=0.0)
    n_child, n_parent = 60_000, 1200
    idx, tr = sample_link(spec, n_child, n_parent, rng(5))
    p_sizes, c_sizes = tr["parent_cluster_sizes"], tr["child_cluster_sizes"]
    assert p_sizes.sum() == n_parent and c_sizes.sum() == n_child and p_sizes.min() >= 1 and c_sizes.min() >= 1
    p_of_row = np.repeat(np.arange(6), p_sizes)
    c_of_row = np.repeat(np.arange(6), c_sizes)
    dp, dc = cluster_digits(np.arange(6), (2, 3)), cluster_digits(np.arange(6), (3, 2))
    m0, m1 = tr["matrices"]
    tested = 0
    for c in range(6):
        members = c_of_row == c
        if members.sum() < 2000:
            continue
        aff = m0[dp[:, 0], dc[c, 0]] * m1[dp[:, 1], dc[c, 1]] * p_sizes  # unit popularity: mass = size
        expected = aff / aff.sum() * members.sum()
        observed = np.bincount(p_of_row[idx[members]], minlength=6)
        keep = expected > 5
        assert observed[~keep].sum() <= max(10, 5 * expected[~keep].sum())
        obs, exp = observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum()
        assert stats.chisquare(obs, exp).pvalue > 1e-4
        tested += 1
    assert tested >= 1


def test_hsbm_within_a_cluster_parents_are_drawn_in_proportion_to_popularity():
    spec = HsbmLink((1,), (1,), popularity=Lomax(2.5), inactive=0.2)
    idx, tr = sample_link(spec, 200_000, 40, rng(8))
    w = tr["parent_weights"]
    assert (w[tr["inactive_parents"]] == 0).all() and len(tr["inactive_parents"]) == 8
    live = w > 0
    counts = np.bincount(idx, minlength=40)
    assert (counts[~live] == 0).all()
    assert stats.chisquare(counts[live], w[live] / w[live].sum() * 200_000).pvalue > 1e-4


@pytest.mark.parametrize("inactive", [0.05, 0.3, 0.7])
def test_inactive_parents_get_no_child(inactive):
    for seed in range(10):
        r = rng([seed, int(inactive * 100)])
        spec = HsbmLink(tuple(r.integers(1, 4, 3)), tuple(r.integers(1, 4, 3)), within=0.9,
                        between=Lomax(1.0, 0.01), cluster_weights=Lomax(1.5), popularity=Lomax(2.5), inactive=inactive)
        n_parent = int(r.integers(50, 1000))
        idx, tr = sample_link(spec, 20_000, n_parent, r, null_rate=0.1)
        dead = tr["inactive_parents"]
        assert len(dead) == round(n_parent * inactive) and len(np.unique(dead)) == len(dead)
        assert not np.isin(idx, dead).any()
        assert ((idx >= -1) & (idx < n_parent)).all()
        assert len(np.unique(idx[idx >= 0])) <= n_parent - len(dead)


def test_popularity_makes_degrees_heavier_tailed():
    def degree_stats(pop, seed):
        spec = HsbmLink((1,), (1,), popularity=pop)
        idx, _ = sample_link(spec, 20_000, 800, rng(seed))
        deg = np.bincount(idx, minlength=800).astype(float)
        return deg.std() / deg.mean(), np.sort(deg)[-8:].sum() / deg.sum()  # CV and top-1% share

    flat = np.array([degree_stats(None, s) for s in range(5)])
    heavy = np.array([degree_stats(Lomax(2.5), s) for s in range(5)])
    # None: Poisson(25) degrees, CV ~ 0.2, top 1% ~ 1.5%; Lomax(2.5) weights: CV ~ 1.5+, top 1% ~ 10%+
    assert (heavy[:, 0] > 3 * flat[:, 0].max()).all()
    assert (heavy[:, 1] > 2 * flat[:, 1].max()).all()
    assert flat[:, 0].max() < 0.3


def test_hsbm_handles_more_clusters_than_rows_and_empty_children():
    spec = HsbmLink((3, 3, 3), (3, 3, 3), within=0.9, cluster_weights=Lomax(1.5), inactive=0.5)
    idx, tr = sample_link(spec, 10, 5, rng(0))
    assert ((idx >= 0) & (idx < 5)).all() and not np.isin(idx, tr["inactive_parents"]).any()
    assert len(tr["inactive_parents"]) == 2
    empty, _ = sample_link(spec, 0, 5, rng(0))
    assert empty.shape == (0,) and empty.dtype == np.int64
    one, tr1 = sample_link(HsbmLink((2,), (2,), inactive=0.9), 100, 1, rng(0))
    assert (one == 0).all() and len(tr1["inactive_parents"]) == 0  # the only parent stays active
    with pytest.raises(ValueError, match="no parent row"):
        sample_link(spec, 3, 0, rng(0))


# ---------------------------------------------------------------- nulls


@pytest.mark.parametrize("model", [RandomLink(), HsbmLink((2, 2), (3, 1), popularity=Lomax(2.5), inactive=0.3)])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.17, 0.3])
def test_null_share_matches_the_rate(model, rate):
    n = 20_000
    idx, tr = sample_link(model, n, 700, rng([3, int(rate * 100)]), null_rate=rate)
    k = int((idx == -1).sum())
    assert tr["null_share"] == k / n and tr["null_rate"] == rate
    assert binomial_ok(k, n, rate) if rate else k == 0
    assert ((idx == -1) | ((idx >= 0) & (idx < 700))).all()


def test_nulls_do_not_move_the_links():
    spec = HsbmLink((2,), (2,), popularity=Lomax(2.5))
    base, _ = sample_link(spec, 5000, 300, rng(9))
    nulled, _ = sample_link(spec, 5000, 300, rng(9), null_rate=0.25)
    kept = nulled >= 0
    assert np.array_equal(base[kept], nulled[kept]) and 0.2 < 1 - kept.mean() < 0.3


# ---------------------------------------------------------------- TreeLink


@pytest.mark.parametrize("roots", [0.0, 0.05, 0.3, 0.5, 1.0])
def test_tree_link_is_a_forest_with_null_roots(roots):
    n = 4000
    idx, tr = sample_link(TreeLink(roots), n, n, rng([4, int(roots * 100)]))
    forest_ok(idx)
    n_roots = int((idx == -1).sum())
    assert tr["n_roots"] == n_roots and tr["null_share"] == n_roots / n and tr["model"] == "tree"
    assert binomial_ok(n_roots - 1, n - 1, roots) if 0 < roots < 1 else n_roots == (1 if roots == 0 else n)
    assert tr["depth"] == reference_depth(idx).max()
    # parent(i) = floor(U i): uniform over the earlier rows
    i = np.nonzero(idx >= 0)[0]
    if len(i) > 1000:
        assert stats.kstest((idx[i] + rng(0).random(len(i))) / i, "uniform").pvalue > 1e-4


def test_tree_depth_matches_a_sequential_reference():
    for seed in range(20):
        r = rng(seed)
        n = int(r.integers(1, 3000))
        parent = np.floor(r.random(n) * np.arange(n)).astype(np.int64)
        parent[r.random(n) < r.random()] = -1
        parent[0] = -1
        assert np.array_equal(tree_depth(parent), reference_depth(parent))
    chain = np.arange(-1, 999)
    assert tree_depth(chain).max() == 999


def test_tree_link_needs_one_table():
    with pytest.raises(ValueError, match="links a table to itself"):
        sample_link(TreeLink(0.2), 10, 11, rng(0))


# ---------------------------------------------------------------- over schema plans


def test_every_fk_value_is_a_parent_row_or_null_over_many_seeds():
    for seed in range(40):
        plan = sample_schema_plan(PRIOR, rng(seed), rng([seed, 1]))
        links = sample_plan_links(plan, seed)
        assert list(links) == [fk.key for fk in plan.fkeys]
        for fk in plan.fkeys:
            idx, tr = links[fk.key]
            n_child, n_parent = plan.tables[fk.table].rows, plan.tables[fk.parent].rows
            assert idx.shape == (n_child,) and idx.dtype == np.int64
            assert ((idx == -1) | ((idx >= 0) & (idx < n_parent))).all()
            if fk.self_tree:
                forest_ok(idx)
            elif not fk.nullable:
                assert (idx >= 0).all()
            if tr["model"] == "hsbm":
                assert not np.isin(idx, tr["inactive_parents"]).any()


def test_pooled_null_shares_within_their_rates():
    k = n = 0
    expected = 0.0
    var = 0.0
    for seed in range(40):
        plan = sample_schema_plan(PRIOR, rng(seed), rng([seed, 1]))
        links = sample_plan_links(plan, seed)
        for fk in plan.fkeys:
            if fk.nullable and not fk.self_tree:
                idx, _ = links[fk.key]
                k += int((idx == -1).sum())
                n += len(idx)
                expected += fk.null_rate * len(idx)
                var += fk.null_rate * (1 - fk.null_rate) * len(idx)
    assert n > 100_000
    assert abs(k - expected) < 4.5 * math.sqrt(var)


def test_link_model_share_is_two_tenths_random():
    fks = [fk for s in range(500) for fk in sample_schema_plan(PRIOR, rng([s, 5])).fkeys if not fk.self_tree]
    random = sum(isinstance(fk.link, RandomLink) for fk in fks)
    hsbm = [fk.link for fk in fks if isinstance(fk.link, HsbmLink)]
    assert len(fks) > 2000 and random + len(hsbm) == len(fks)
    assert binomial_ok(random, len(fks), 0.2)
    assert binomial_ok(sum(h.within == 0.9 for h in hsbm), len(hsbm), 0.5)
    assert binomial_ok(sum(isinstance(h.between, Lomax) for h in hsbm), len(hsbm), 0.5)
    assert binomial_ok(sum(h.popularity is None for h in hsbm), len(hsbm), 0.5)
    assert binomial_ok(sum(h.cluster_weights is None for h in hsbm), len(hsbm), 0.5)
    levels = np.array([h.levels for h in hsbm])
    assert stats.chisquare(np.bincount(levels, minlength=6)[1:]).pvalue > 1e-4
    counts = np.concatenate([h.parent_counts + h.child_counts for h in hsbm])
    assert stats.chisquare(np.bincount(counts, minlength=4)[1:]).pvalue > 1e-4
    inactive = np.array([h.inactive for h in hsbm])
    assert stats.kstest(inactive / 0.7, "uniform").pvalue > 1e-3


def test_same_seed_same_indices():
    plan = sample_schema_plan(PRIOR, rng(21), rng(22))
    a, b = sample_plan_links(plan, 3), sample_plan_links(plan, 3)
    assert a.keys() == b.keys() and all(np.array_equal(a[k][0], b[k][0]) for k in a)
    spec = HsbmLink((2, 3), (3, 3), within=Range(0.4, 0.95), cluster_weights=Lomax(1.5), popularity=Lomax(2.5),
                    inactive=0.4)
    x, tx = sample_link(spec, 9000, 600, rng(1), 0.1)
    y, ty = sample_link(spec, 9000, 600, rng(1), 0.1)
    z, _ = sample_link(spec, 9000, 600, rng(2), 0.1)
    assert np.array_equal(x, y) and np.array_equal(tx["inactive_parents"], ty["inactive_parents"])
    assert not np.array_equal(x, z)


_law = st.one_of(st.floats(1e-6, 10.0), st.builds(lambda a, b: Range(min(a, b), max(a, b)),
                                                 st.floats(1e-6, 1), st.floats(1e-6, 1)),
                 st.builds(Lomax, st.floats(0.01, 5), st.floats(1e-3, 2)))
_opt = st.one_of(st.none(), st.builds(Lomax, st.floats(0.01, 5), st.floats(1e-3, 2)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(levels=st.integers(1, 6), data=st.data(), within=_law, between=_law, cw=_opt, pop=_opt,
       inactive=st.floats(0, 0.99), n_child=st.integers(0, 3000), n_parent=st.integers(1, 500),
       rate=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_any_hsbm_gives_valid_links(levels, data, within, between, cw, pop, inactive, n_child, n_parent, rate, seed):
    pc = tuple(data.draw(st.lists(st.integers(1, 4), min_size=levels, max_size=levels)))
    cc = tuple(data.draw(st.lists(st.integers(1, 4), min_size=levels, max_size=levels)))
    spec = HsbmLink(pc, cc, within, between, cw, pop, inactive)
    idx, tr = sample_link(spec, n_child, n_parent, rng(seed), rate)
    assert idx.shape == (n_child,) and idx.dtype == np.int64
    assert ((idx == -1) | ((idx >= 0) & (idx < n_parent))).all()
    assert not np.isin(idx, tr["inactive_parents"]).any()
    assert len(tr["inactive_parents"]) == min(round(n_parent * inactive), n_parent - 1)
    assert tr["parent_cluster_sizes"].sum() == n_parent and tr["child_cluster_sizes"].sum() == n_child
    if rate == 0:
        assert (idx >= 0).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tc=st.integers(1, 12), static=st.integers(1, 1500), event=st.integers(1, 4000), levels=st.integers(1, 6),
       counts=st.integers(1, 4), inactive=st.floats(0, 0.99), dup=st.floats(0, 1), nul=st.floats(0, 1),
       tree=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_any_prior_gives_valid_links(tc, static, event, levels, counts, inactive, dup, nul, tree, seed):
    prior = PRIOR.replace(
        table_count=LogIntegersRange(1, tc), static_rows=LogIntegersRange(1, static),
        event_rows=LogIntegersRange(1, event), hsbm_levels=IntegersRange(1, levels),
        hsbm_counts=IntegersRange(1, counts), hsbm_inactive=Range(0, inactive), fk_duplicate_prob=dup,
        fk_nullable_prob=nul, self_tree_prob=tree)
    plan = sample_schema_plan(prior, rng(seed), rng([seed, 1]))
    links = sample_plan_links(plan, seed)
    for fk in plan.fkeys:
        idx, tr = links[fk.key]
        n_parent = plan.tables[fk.parent].rows
        assert ((idx == -1) | ((idx >= 0) & (idx < n_parent))).all()
        if fk.self_tree:
            forest_ok(idx)
        if tr["model"] == "hsbm":
            assert not np.isin(idx, tr["inactive_parents"]).any()
