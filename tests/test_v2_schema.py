"""v2 schema layer: SchemaPrior knobs, table layouts, the schema plan, val/test cut-offs (PLUREL_V2_SPEC §2, §5)."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from plurel_core.v2.layouts import (
    LAYOUT_PARAM_BOUNDS,
    LAYOUTS,
    LayoutSpec,
    parent_lists,
    sample_layout,
)
from plurel_core.v2.links import HsbmLink, Lomax, RandomLink, TreeLink
from plurel_core.v2.ranges import Choices, IntegersRange, LogIntegersRange, Range
from plurel_core.v2.schema import EVENT, STATIC, sample_schema_plan
from plurel_core.v2.schema_prior import (
    DEFAULT_TABLE_LAYOUTS,
    KNOB_BOUNDS,
    SchemaPrior,
    SchemaPriorError,
)
from plurel_core.v2.timestamps import split_timestamps

PRIOR = SchemaPrior()


def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def plans(n: int, prior: SchemaPrior = PRIOR, offset: int = 0):
    return [sample_schema_plan(prior, rng([offset, s]), rng([offset, s, 1])) for s in range(n)]


def binomial_ok(k: int, n: int, p: float, z: float = 4.5) -> bool:
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def check_plan(plan, prior: SchemaPrior) -> None:
    """Every structural invariant of a v2 plan (spec §2)."""
    g = plan.graph
    n = len(plan.tables)
    assert list(plan.tables) == [f"t{i}" for i in range(n)]
    assert prior.table_count.lo <= n <= prior.table_count.hi
    assert nx.is_directed_acyclic_graph(g) and set(g.nodes) == set(plan.tables)
    referenced = {fk.parent for t in plan.tables.values() for fk in t.fkeys}
    for name, t in plan.tables.items():
        assert t.index == int(name[1:]) and t.pkey == "id"
        assert (t.role == EVENT) == (name not in referenced) == (g.out_degree(name) == 0)
        assert t.time_col == ("time" if t.role == EVENT else None)
        rows = prior.static_rows if t.role == STATIC else prior.event_rows
        assert rows.lo <= t.rows <= rows.hi and g.nodes[name]["rows"] == t.rows
        # keys: per parent ascending, {parent}_id then optionally {parent}_id2; parents have lower indices
        expected = []
        for p in sorted(int(q[1:]) for q in g.predecessors(name)):
            assert p < t.index
            cols = [fk.column for fk in t.fkeys if fk.parent == f"t{p}"]
            assert cols in ([f"t{p}_id"], [f"t{p}_id", f"t{p}_id2"])
            expected += cols
        assert [fk.column for fk in t.fkeys] == expected
        assert g.nodes[name]["self_tree"] == (t.self_tree is not None)
        for fk in t.fkeys:
            assert fk.table == name and fk.duplicate == fk.column.endswith("_id2") and not fk.self_tree
            assert isinstance(fk.link, (RandomLink, HsbmLink))
            if fk.nullable:
                assert prior.fk_null_rate.lo <= fk.null_rate <= prior.fk_null_rate.hi
            else:
                assert fk.null_rate == 0.0
            if fk.aggregate:
                assert t.role == STATIC and g.nodes[fk.parent]["aggregated"]
            if isinstance(fk.link, HsbmLink):
                h = fk.link
                assert prior.hsbm_levels.lo <= h.levels <= prior.hsbm_levels.hi
                assert all(prior.hsbm_counts.lo <= c <= prior.hsbm_counts.hi for c in h.parent_counts + h.child_counts)
                assert prior.hsbm_inactive.lo <= h.inactive <= prior.hsbm_inactive.hi
                assert h.within in prior.hsbm_within.options and h.between in prior.hsbm_between.options
                assert h.cluster_weights in prior.hsbm_cluster_weights.options
                assert h.popularity in prior.hsbm_popularity.options
        if t.self_tree is not None:
            st_fk = t.self_tree
            assert t.role == STATIC and st_fk.column == "parent_id" and st_fk.parent == name and st_fk.self_tree
            assert isinstance(st_fk.link, TreeLink) and st_fk.nullable and st_fk.null_rate == 0.0
            assert prior.self_tree_roots.lo <= st_fk.link.roots <= prior.self_tree_roots.hi
        assert t.all_fkeys == t.fkeys + ([t.self_tree] if t.self_tree else [])
    assert plan.fkeys == [fk for t in plan.tables.values() for fk in t.fkeys] + [
        t.self_tree for t in plan.tables.values() if t.self_tree]
    for u, v, cols in g.edges(data="columns"):
        assert cols == [fk.column for fk in plan.tables[v].fkeys if fk.parent == u]


# ---------------------------------------------------------------- SchemaPrior


def test_default_prior_is_the_authors():
    p = SchemaPrior()
    assert p.table_count == LogIntegersRange(2, 20)
    assert (p.static_rows, p.event_rows) == (LogIntegersRange(500, 1000), LogIntegersRange(10_000, 30_000))
    assert [o.label for o in p.table_layouts.options] == [
        "BarabasiAlbert(m=2, sink_dropout=0.4)", "ReverseRandomTree()", "RandomTree()",
        "WattsStrogatz(k=2, rewire=0.2)", "Layered(depth=3, dropout=0.1)", "ErdosRenyi(p=0.4)"]
    assert np.allclose(p.table_layouts.probabilities, 1 / 6)
    assert (p.fk_duplicate_prob, p.fk_nullable_prob, p.fk_null_rate) == (0.15, 0.3, Range(0.01, 0.3))
    assert (p.link_random_prob, p.hsbm_levels, p.hsbm_counts) == (0.2, IntegersRange(1, 5), IntegersRange(1, 3))
    assert p.hsbm_within.options == (0.9, Range(0.4, 0.95))
    assert p.hsbm_between.options == (Range(0.001, 0.002), Lomax(1.0, 0.01))
    assert p.hsbm_cluster_weights.options == (None, Lomax(1.5))
    assert p.hsbm_popularity.options == (None, Lomax(2.5))
    assert (p.hsbm_inactive, p.self_tree_prob, p.self_tree_roots) == (Range(0, 0.7), 0.3, Range(0.05, 0.5))
    assert (p.aggregate_share, p.aggregate_sources) == (0.5, IntegersRange(1, 2))
    assert (p.gather_sources, p.self_tree_gather) == (IntegersRange(0, 3), IntegersRange(0, 3))
    assert (p.val_share, p.test_share) == (0.1, 0.1)
    assert set(KNOB_BOUNDS) == set(p.to_dict())


def test_prior_round_trips_through_json():
    changed = SchemaPrior().replace(
        table_count=LogIntegersRange(3, 7), hsbm_within=Choices((0.8, Range(0.5, 0.6)), (2.0, 1.0)),
        hsbm_popularity=Choices((Lomax(3.0, 2.0),)), fk_duplicate_prob=0.5,
        table_layouts=Choices((LayoutSpec.of("RandomCauchy", offset=1.5), LayoutSpec.of("Layered", depth=4, dropout=0.3))),
    )
    for p in (SchemaPrior(), changed):
        back = SchemaPrior.from_dict(json.loads(json.dumps(p.to_dict())))
        assert back == p and back.to_dict() == p.to_dict()
    assert changed != SchemaPrior()


@pytest.mark.parametrize("field, value", [
    ("table_count", LogIntegersRange(1, 500)),
    ("table_count", Range(2.0, 5.0)),
    ("static_rows", IntegersRange(0, 10)),
    ("fk_duplicate_prob", 1.5),
    ("fk_nullable_prob", -0.1),
    ("fk_null_rate", Range(0.1, 1.2)),
    ("hsbm_levels", IntegersRange(1, 9)),
    ("hsbm_counts", IntegersRange(0, 3)),
    ("hsbm_within", Choices((0.0,))),
    ("hsbm_between", Choices((Range(0.0, 0.1),))),
    ("hsbm_popularity", Choices((0.5,))),
    ("hsbm_inactive", Range(0.0, 1.0)),
    ("table_layouts", Choices(("ErdosRenyi",))),
    ("table_layouts", Choices((LayoutSpec.of("Nope"),))),
    ("table_layouts", Choices((LayoutSpec.of("ErdosRenyi", p=1.5),))),
    ("table_layouts", Choices((LayoutSpec.of("WattsStrogatz", k=3),))),
    ("val_share", 0.0),
    ("test_share", 0.0),
    ("test_share", 0.95),
])
def test_prior_rejects_out_of_bounds_knobs_naming_the_field(field, value):
    with pytest.raises(SchemaPriorError) as e:
        SchemaPrior().replace(**{field: value})
    assert e.value.field == field and field in str(e.value)


def test_from_dict_rejects_an_unknown_knob():
    with pytest.raises(SchemaPriorError, match="not a SchemaPrior knob"):
        SchemaPrior.from_dict({"table_cont": {"type": "LogIntegersRange", "lo": 2, "hi": 3}})


# ---------------------------------------------------------------- layouts

ALL_LAYOUTS = list(DEFAULT_TABLE_LAYOUTS.options) + [
    LayoutSpec.of("RandomCauchy", offset=0.0), LayoutSpec.of("RandomCauchy", offset=2.0),
    LayoutSpec.of("ErdosRenyi", p=0.3), LayoutSpec.of("Layered", depth=6, dropout=0.1),
    LayoutSpec.of("WattsStrogatz", k=4, rewire=0.5), LayoutSpec.of("BarabasiAlbert", m=1, sink_dropout=1.0),
]


def test_registry_and_bounds_cover_the_same_layouts():
    assert set(LAYOUTS) == set(LAYOUT_PARAM_BOUNDS) == {
        "BarabasiAlbert", "ReverseRandomTree", "RandomTree", "WattsStrogatz", "Layered", "ErdosRenyi", "RandomCauchy"}
    assert LayoutSpec.from_args("layered", (3, 0.2)) == LayoutSpec.of("Layered", depth=3, dropout=0.2)
    assert LayoutSpec.from_args("RandomTree") == LayoutSpec.of("RandomTree")
    with pytest.raises(ValueError, match="unknown v2 layout"):
        sample_layout(LayoutSpec.of("Nope"), 4, rng(0))


@pytest.mark.parametrize("spec", ALL_LAYOUTS, ids=lambda s: s.label)
def test_layouts_give_low_to_high_dags(spec):
    for n in range(0, 23):
        for seed in range(3):
            g, info = sample_layout(spec, n, rng([n, seed]))
            assert sorted(g.nodes) == list(range(n))
            assert all(u < v for u, v in g.edges), (spec.label, n)
            assert nx.is_directed_acyclic_graph(g)
            assert all(all(p < i for p in ps) for i, ps in enumerate(parent_lists(g)))
            if n and spec.name in ("ErdosRenyi", "WattsStrogatz", "RandomCauchy", "RandomTree", "ReverseRandomTree"):
                assert nx.is_weakly_connected(g), (spec.label, n, seed)  # chained / trees
            if spec.name == "RandomTree" and n:
                assert g.number_of_edges() == n - 1 and max(d for _, d in g.in_degree) <= 1
            if spec.name == "ReverseRandomTree" and n:
                assert g.number_of_edges() == n - 1 and max(d for _, d in g.out_degree) <= 1
            if spec.name == "Layered" and n:
                depth = min(spec.kwargs["depth"], n)
                assert info["depth"] == depth and sum(info["layer_sizes"]) == n and min(info["layer_sizes"]) >= 1
                assert nx.dag_longest_path_length(g) == depth - 1


def test_erdos_renyi_links_each_pair_with_p_not_the_papers_symmetrised_arcs():
    n, p = 60, 0.4
    edges = sum(sample_layout(LayoutSpec.of("ErdosRenyi", p=p), n, rng(s))[0].number_of_edges() for s in range(10))
    pairs = 10 * n * (n - 1) // 2
    assert binomial_ok(edges, pairs, p)  # the paper's arcs would give 1 - 0.6^2 = 0.64


def test_barabasi_albert_orients_after_the_relabel_and_drops_sink_edges():
    # m=2: 2(n-2) attachment edges before drops; every drop removes one edge from a multi-parent sink
    n = 15
    for s in range(30):
        g, info = sample_layout(LayoutSpec.of("BarabasiAlbert", m=2, sink_dropout=0.4), n, rng(s))
        assert g.number_of_edges() == 2 * (n - 2) - info["sink_edges_dropped"]
    none = [sample_layout(LayoutSpec.of("BarabasiAlbert", m=2, sink_dropout=0.0), n, rng(s))[1]["sink_edges_dropped"]
            for s in range(20)]
    assert none == [0] * 20
    # v2 orients a random relabel low -> high: a node is a source when it precedes its neighbours
    # (about n/3 sources); the paper's age orientation always has exactly the two first nodes as sources
    sources = [sum(d == 0 for _, d in sample_layout(
        LayoutSpec.of("BarabasiAlbert", m=2, sink_dropout=0.0), n, rng(s))[0].in_degree) for s in range(40)]
    assert np.mean(sources) > 3.5 and min(sources) >= 1


def test_watts_strogatz_keeps_its_edge_count():
    n = 12
    for s in range(20):
        g, info = sample_layout(LayoutSpec.of("WattsStrogatz", k=4, rewire=0.3), n, rng(s))
        assert g.number_of_edges() == 2 * n + info["components_linked"]
    g0, _ = sample_layout(LayoutSpec.of("WattsStrogatz", k=2, rewire=0.0), n, rng(0))
    assert sorted(g0.edges) == sorted([(i, i + 1) for i in range(n - 1)] + [(0, n - 1)])


# ---------------------------------------------------------------- the schema plan


def test_plan_invariants_over_many_seeds():
    for plan in plans(300):
        check_plan(plan, PRIOR)


def test_layout_is_drawn_first_and_uniformly():
    counts = {o: 0 for o in PRIOR.table_layouts.options}
    for s in range(600):
        plan = sample_schema_plan(PRIOR, rng(s))
        assert plan.layout == PRIOR.table_layouts.sample(rng(s))  # the very first draw of the stream
        counts[plan.layout] += 1
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_table_count_follows_its_log_integer_law():
    ns = np.array([len(p.tables) for p in plans(800, offset=1)])
    expected = np.log((np.arange(2, 21) + 1) / np.arange(2, 21)) / np.log(21 / 2)
    assert ns.min() >= 2 and ns.max() <= 20
    assert stats.chisquare(np.bincount(ns, minlength=21)[2:], expected * len(ns)).pvalue > 1e-4


def test_key_coins_have_their_probabilities():
    ps = plans(400, offset=2)
    first = [fk for p in ps for t in p.tables.values() for fk in t.fkeys if not fk.duplicate]
    dups = [fk for p in ps for t in p.tables.values() for fk in t.fkeys if fk.duplicate]
    allk = [fk for p in ps for t in p.tables.values() for fk in t.fkeys]
    static = [t for p in ps for t in p.tables.values() if t.role == STATIC]
    agg = [fk for p in ps for t in p.tables.values() if t.role == STATIC for fk in t.fkeys]
    assert len(first) > 1500
    assert binomial_ok(len(dups), len(first), 0.15)
    assert binomial_ok(sum(fk.nullable for fk in allk), len(allk), 0.3)
    assert binomial_ok(sum(t.self_tree is not None for t in static), len(static), 0.3)
    assert binomial_ok(sum(fk.aggregate for fk in agg), len(agg), 0.5)
    rates = np.array([fk.null_rate for fk in allk if fk.nullable])
    assert stats.kstest((rates - 0.01) / 0.29, "uniform").pvalue > 1e-3
    roots = np.array([t.self_tree.link.roots for t in static if t.self_tree])
    assert stats.kstest((roots - 0.05) / 0.45, "uniform").pvalue > 1e-3


def test_rows_follow_their_laws_per_role():
    ps = plans(300, offset=3)
    static = np.array([t.rows for p in ps for t in p.tables.values() if t.role == STATIC])
    event = np.array([t.rows for p in ps for t in p.tables.values() if t.role == EVENT])
    for x, lo, hi in ((static, 500, 1000), (event, 10_000, 30_000)):
        assert x.min() >= lo and x.max() <= hi
        u = np.log(x / lo) / np.log((hi + 1) / lo)  # log-int: floor of lo ((hi+1)/lo)^u
        assert stats.kstest(u, "uniform").pvalue > 1e-4


def test_same_seed_same_plan_and_rows_stream_separate():
    a = sample_schema_plan(PRIOR, rng(11), rng(12))
    b = sample_schema_plan(PRIOR, rng(11), rng(12))
    assert a.to_dict() == b.to_dict()
    assert sorted(a.graph.edges(data="columns")) == sorted(b.graph.edges(data="columns"))
    assert json.loads(json.dumps(a.to_dict())) == a.to_dict()
    # moving a row knob leaves the structure; another structure seed changes it
    c = sample_schema_plan(PRIOR.replace(event_rows=LogIntegersRange(100, 200)), rng(11), rng(12))
    strip = [{k: v for k, v in t.items() if k != "rows"} for t in a.to_dict()["tables"]]
    assert strip == [{k: v for k, v in t.items() if k != "rows"} for t in c.to_dict()["tables"]]
    assert any(plan.to_dict() != a.to_dict() for plan in (sample_schema_plan(PRIOR, rng(s), rng(12)) for s in (13, 14)))


def test_single_table_is_an_event_table_without_keys():
    plan = sample_schema_plan(PRIOR.replace(table_count=LogIntegersRange(1, 1)), rng(0))
    (t,) = plan.tables.values()
    assert t.role == EVENT and t.fkeys == [] and t.self_tree is None and plan.fkeys == []


_layout_st = st.one_of(
    st.builds(lambda m, d: LayoutSpec.of("BarabasiAlbert", m=m, sink_dropout=d), st.integers(1, 10), st.floats(0, 1)),
    st.just(LayoutSpec.of("ReverseRandomTree")), st.just(LayoutSpec.of("RandomTree")),
    st.builds(lambda k, r: LayoutSpec.of("WattsStrogatz", k=2 * k, rewire=r), st.integers(1, 10), st.floats(0, 1)),
    st.builds(lambda d, p: LayoutSpec.of("Layered", depth=d, dropout=p), st.integers(1, 50), st.floats(0, 1)),
    st.builds(lambda p: LayoutSpec.of("ErdosRenyi", p=p), st.floats(0, 1)),
    st.builds(lambda o: LayoutSpec.of("RandomCauchy", offset=o), st.floats(-20, 20)),
)


def _int_range(lo, hi, cls=IntegersRange):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(lambda t: cls(min(t), max(t)))


def _float_range(lo, hi):
    return st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(lambda t: Range(min(t), max(t)))


_prob = st.floats(0.0, 1.0)
_law = st.one_of(st.floats(1e-6, 10.0), _float_range(1e-6, 1.0), st.builds(Lomax, st.floats(0.1, 5), st.floats(1e-3, 2)))
_opt_lomax = st.one_of(st.none(), st.builds(Lomax, st.floats(0.1, 5), st.floats(1e-3, 2)))
_shares = st.tuples(st.floats(0.001, 0.49), st.floats(0.001, 0.49))

prior_st = st.builds(
    lambda layouts, tc, sr, er, dup, nul, rate, stp, roots, rnd, lv, cnt, within, between, cw, pop, inact, agg, shares:
    SchemaPrior(table_layouts=Choices(tuple(layouts)), table_count=tc, static_rows=sr, event_rows=er,
                fk_duplicate_prob=dup, fk_nullable_prob=nul, fk_null_rate=rate, self_tree_prob=stp,
                self_tree_roots=roots, link_random_prob=rnd, hsbm_levels=lv, hsbm_counts=cnt,
                hsbm_within=Choices(tuple(within)), hsbm_between=Choices(tuple(between)),
                hsbm_cluster_weights=Choices(tuple(cw)), hsbm_popularity=Choices(tuple(pop)), hsbm_inactive=inact,
                aggregate_share=agg, val_share=shares[0], test_share=shares[1]),
    st.lists(_layout_st, min_size=1, max_size=4), _int_range(1, 60, LogIntegersRange),
    _int_range(1, 1_000_000, LogIntegersRange), _int_range(1, 10_000_000, LogIntegersRange),
    _prob, _prob, _float_range(0, 1), _prob, _float_range(0, 1), _prob, _int_range(1, 6), _int_range(1, 4),
    st.lists(_law, min_size=1, max_size=3), st.lists(_law, min_size=1, max_size=3),
    st.lists(_opt_lomax, min_size=1, max_size=2), st.lists(_opt_lomax, min_size=1, max_size=2),
    _float_range(0, 0.99), _prob, _shares,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prior=prior_st, seed=st.integers(0, 2**32 - 1))
def test_any_prior_within_bounds_gives_a_valid_plan(prior, seed):
    check_plan(sample_schema_plan(prior, rng(seed), rng([seed, 1])), prior)
    assert SchemaPrior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior


# ---------------------------------------------------------------- val / test cut-offs


def _event_times(seed: int) -> list:
    r = rng(seed)
    cols = []
    for size in (50, 1001, 333):
        t = pd.Series(pd.to_datetime(r.integers(631_152_000, 1_735_689_600, size), unit="s")).astype("datetime64[ns]")
        t[r.random(size) < 0.1] = pd.NaT
        cols.append(t)
    return cols


def test_cutoffs_are_pandas_quantiles_of_the_pooled_non_null_times():
    for seed in range(5):
        cols = _event_times(seed)
        pooled = pd.concat(cols, ignore_index=True).dropna()
        val, test = split_timestamps(cols, 0.1, 0.1)
        assert val == pooled.quantile(0.8) and test == pooled.quantile(0.9)
        assert isinstance(val, pd.Timestamp) and val < test
        assert abs((pooled <= val).mean() - 0.8) < 0.01
        v2, t2 = split_timestamps([c.to_numpy() for c in cols], val_share=0.2, test_share=0.15)
        assert v2 == pooled.quantile(0.65) and t2 == pooled.quantile(0.85)


@pytest.mark.parametrize("val, test", [(0.0, 0.1), (0.1, 0.0), (-0.1, 0.2), (0.5, 0.5), (0.7, 0.4)])
def test_cutoff_shares_must_be_positive_and_sum_below_one(val, test):
    with pytest.raises(ValueError, match="must be > 0 and sum to < 1"):
        split_timestamps(_event_times(0), val, test)


def test_cutoffs_need_a_time():
    with pytest.raises(ValueError, match="no non-null event time"):
        split_timestamps([pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]")])
