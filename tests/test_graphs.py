"""The DAG generators: connected DAGs for every n, edge densities per model, edge-weight laws."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from scipy import stats

import plurel_core as pc
from plurel_core.graphs import (
    DAG_LAYOUTS,
    EDGE_WEIGHT_LAWS,
    LAYOUT_REGISTRY,
    barabasi_albert,
    connect_components,
    draw_edge_weights,
    sample_dag,
)

GP = pc.Config().graphs


def gp(**changes):
    return pc.Config().replace(**{f"graphs.{k}": v for k, v in changes.items()}).graphs


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_registry_has_the_seven_and_the_extensions():
    assert set(DAG_LAYOUTS) == {"ErdosRenyi", "BarabasiAlbert", "RandomTree", "ReverseRandomTree",
                                "WattsStrogatz", "Layered", "RandomCauchy"}
    assert set(LAYOUT_REGISTRY) == set(DAG_LAYOUTS) | {"Chain", "Hub"}
    with pytest.raises(ValueError, match="unknown DAG layout"):
        sample_dag("Nope", 5, GP, rng(0))


@pytest.mark.parametrize("layout", sorted(LAYOUT_REGISTRY))
def test_every_generator_returns_a_connected_weighted_dag(layout):
    for n in range(1, 41):
        for seed in range(3):
            dag = sample_dag(layout, n, GP, rng(1000 * n + seed))
            g = dag.graph
            assert sorted(g.nodes) == list(range(n)), (layout, n)
            assert nx.is_directed_acyclic_graph(g), (layout, n, seed)
            assert nx.is_weakly_connected(g), (layout, n, seed)
            assert not any(u == v for u, v in g.edges)
            assert dag.layout == layout
            assert dag.params["weight_law"] in EDGE_WEIGHT_LAWS
            w = np.array([d["weight"] for _, _, d in g.edges(data=True)])
            assert len(w) == g.number_of_edges() and np.isfinite(w).all()


@pytest.mark.parametrize("layout", sorted(LAYOUT_REGISTRY))
def test_generators_are_deterministic_given_the_generator(layout):
    a = sample_dag(layout, 25, GP, rng(7))
    b = sample_dag(layout, 25, GP, rng(7))
    assert sorted(a.graph.edges(data="weight")) == sorted(b.graph.edges(data="weight"))
    assert a.params == b.params


@pytest.mark.parametrize("p", [0.3, 0.5, 0.8])
def test_erdos_renyi_pair_probability(p):
    n = 120
    pairs = n * (n - 1) // 2
    linked = []
    for seed in range(3):
        dag = sample_dag("ErdosRenyi", n, gp(er_p=(p, p)), rng(seed))
        assert dag.params["p"] == p
        assert dag.params["components_linked"] == 0  # this dense, the graph is connected
        assert all(u < v for u, v in dag.graph.edges), "oriented low -> high"
        linked.append(dag.graph.number_of_edges() / pairs)
    expected = 1 - (1 - p) ** 2
    sd = math.sqrt(expected * (1 - expected) / (3 * pairs))
    assert abs(np.mean(linked) - expected) < 5 * sd, (np.mean(linked), expected)


def test_erdos_renyi_p_prior():
    ps = [sample_dag("ErdosRenyi", 5, GP, rng(s)).params["p"] for s in range(300)]
    assert min(ps) >= 0.3 and max(ps) <= 0.8
    assert stats.kstest(ps, stats.uniform(0.3, 0.5).cdf).pvalue > 0.001


@pytest.mark.parametrize("layout", ["RandomTree", "ReverseRandomTree"])
def test_trees(layout):
    for n in (1, 2, 3, 10, 37):
        for seed in range(5):
            dag = sample_dag(layout, n, GP, rng(seed))
            g = dag.graph
            assert g.number_of_edges() == n - 1
            assert nx.is_tree(g.to_undirected())
            assert dag.params["components_linked"] == 0
            root = dag.params["root"]
            for v in g.nodes:
                if layout == "RandomTree":  # oriented away from the root
                    assert g.in_degree(v) == (0 if v == root else 1)
                else:  # every edge reversed: edges point to the root
                    assert g.out_degree(v) == (0 if v == root else 1)


def test_random_tree_is_a_uniform_labelled_tree():
    # Cayley: 3^(3-2) = 3 labelled trees on 3 nodes (paths with middle 0, 1 or 2); each 1/3.
    middles = []
    for seed in range(3000):
        g = sample_dag("RandomTree", 3, GP, rng(seed)).graph.to_undirected()
        middles.append(max(g.degree, key=lambda kv: kv[1])[0])
    counts = np.bincount(middles, minlength=3)
    assert stats.chisquare(counts).pvalue > 0.001
    # 4 nodes: 16 trees, 4 stars and 12 paths
    stars = sum(max(d for _, d in sample_dag("RandomTree", 4, GP, rng(s)).graph.to_undirected().degree) == 3
                for s in range(3200))
    assert stats.binomtest(stars, 3200, 4 / 16).pvalue > 0.001


def test_barabasi_albert_edges_before_dropout():
    for m in (1, 2, 3):
        for n in (5, 12, 30):
            for seed in range(4):
                g, params = barabasi_albert(n, gp(ba_m=m, ba_sink_edge_dropout=0.0), rng(seed))
                assert params["m"] == m
                assert g.number_of_edges() == m * (n - m)
                assert nx.is_directed_acyclic_graph(g)
                assert nx.is_weakly_connected(g)
                # m initial nodes are sources; every later node has exactly m parents
                indeg = sorted(d for _, d in g.in_degree)
                assert indeg == [0] * m + [m] * (n - m)


def test_barabasi_albert_m_clamped_to_n_minus_1():
    g, params = barabasi_albert(2, GP, rng(0))
    assert params["m"] == 1 and g.number_of_edges() == 1
    g, params = barabasi_albert(1, GP, rng(0))
    assert g.number_of_nodes() == 1 and g.number_of_edges() == 0


def test_barabasi_albert_sink_edge_dropout():
    n, trials = 20, 400
    r = rng(0)
    sinks = one_parent = dropped = 0
    for _ in range(trials):
        g, params = barabasi_albert(n, GP, r)
        # every node starts with in-degree 0 (the m=2 seeds) or 2: a sink with one parent lost one
        s = [v for v in g if g.out_degree(v) == 0]
        ones = sum(g.in_degree(v) == 1 for v in s)
        assert ones == params["sink_edges_dropped"]
        assert g.number_of_edges() == 2 * (n - 2) - params["sink_edges_dropped"]
        assert all(g.in_degree(v) in (1, 2) for v in s)
        sinks += len(s)
        one_parent += ones
        dropped += params["sink_edges_dropped"]
    assert abs(one_parent / sinks - 0.4) < 0.05, one_parent / sinks
    # no dropout for sinks: all keep both parents; full dropout: nearly all lose one
    g, _ = barabasi_albert(n, gp(ba_sink_edge_dropout=0.0), rng(1))
    assert all(g.in_degree(v) == 2 for v in g if g.out_degree(v) == 0)
    full = [barabasi_albert(n, gp(ba_sink_edge_dropout=1.0), rng(s))[0] for s in range(50)]
    s = [(g, v) for g in full for v in g if g.out_degree(v) == 0]
    assert np.mean([g.in_degree(v) == 1 for g, v in s]) > 0.9


def test_barabasi_albert_leaf_flip_keeps_dag_and_in_degree_cap():
    flipped = 0
    for seed in range(50):
        g, params = barabasi_albert(25, gp(ba_leaf_flip=1.0), rng(seed))
        assert nx.is_directed_acyclic_graph(g)
        assert max(d for _, d in g.in_degree) <= 4
        flipped += params["leaf_edges_flipped"]
    assert flipped > 0
    g, params = barabasi_albert(25, GP, rng(0))
    assert params["leaf_edges_flipped"] == 0, "flip probability 0 by default"


def test_watts_strogatz_edges():
    for k in (2, 4, 6, 8):
        for n in (k + 2, 15, 40):
            for seed in range(4):
                dag = sample_dag("WattsStrogatz", n, gp(ws_k=(k,)), rng(seed))
                assert dag.params["k"] == k
                assert 0.1 <= dag.params["p"] <= 0.3
                # rewiring moves edges, never adds or removes them
                assert dag.graph.number_of_edges() == n * k // 2 + dag.params["components_linked"]
                assert all(u < v for u, v in dag.graph.edges)
    # no rewiring: the ring lattice itself, each node with k neighbours
    g = sample_dag("WattsStrogatz", 12, gp(ws_k=(4,), ws_rewire=(0.0, 0.0)), rng(0)).graph.to_undirected()
    assert all(d == 4 for _, d in g.degree)
    assert all(g.has_edge(u, (u + 1) % 12) and g.has_edge(u, (u + 2) % 12) for u in range(12))


def test_watts_strogatz_k_clamped_even():
    for n, k_expected in ((3, 2), (4, 2), (5, 4)):
        dag = sample_dag("WattsStrogatz", n, gp(ws_k=(8,)), rng(0))
        assert dag.params["k"] == k_expected, n
        assert dag.params["k"] % 2 == 0


def _layers(g: nx.DiGraph) -> dict[int, int]:
    depth = {}
    for v in nx.topological_sort(g):
        preds = list(g.predecessors(v))
        depth[v] = 1 + max(depth[p] for p in preds) if preds else 0
    return depth


def test_layered_structure():
    checked = 0
    for seed in range(60):
        dag = sample_dag("Layered", 30, GP, rng(seed))
        g, params = dag.graph, dag.params
        assert 2 <= params["depth"] <= 8
        sizes = params["layer_sizes"]
        assert len(sizes) == params["depth"] and min(sizes) >= 1 and sum(sizes) == 30
        if params["components_linked"]:
            continue  # the extra linking edge may skip layers
        checked += 1
        depth = _layers(g)
        # edges only between consecutive layers; every node of layer l+1 has a parent in l
        assert all(depth[v] == depth[u] + 1 for u, v in g.edges)
        assert sorted(np.bincount(list(depth.values()))) == sorted(sizes)
        last = max(depth.values())
        assert last == params["depth"] - 1
        assert all(g.out_degree(v) >= 1 for v in g if depth[v] < last), "each node of l has a child"
    assert checked >= 40


def test_layered_edge_dropout():
    kept = possible = 0
    for seed in range(30):
        dag = sample_dag("Layered", 40, gp(layered_edge_dropout=0.0), rng(seed))
        s = dag.params["layer_sizes"]
        full = sum(a * b for a, b in zip(s, s[1:]))
        assert dag.graph.number_of_edges() == full  # complete between consecutive layers
        dag = sample_dag("Layered", 40, GP, rng(seed))
        s = dag.params["layer_sizes"]
        kept += dag.graph.number_of_edges() - dag.params["components_linked"]
        possible += sum(a * b for a, b in zip(s, s[1:]))
    assert abs(kept / possible - 0.9) < 0.02, kept / possible


def test_layered_depth_at_most_n():
    for n in (1, 2, 3):
        dag = sample_dag("Layered", n, gp(layered_depth=(8, 8)), rng(0))
        assert dag.params["depth"] == n


def test_random_cauchy_orientation():
    edge_counts = []
    for seed in range(40):
        dag = sample_dag("RandomCauchy", 30, GP, rng(seed))
        assert all(u < v for u, v in dag.graph.edges), "edges i -> j with i < j"
        assert nx.is_directed_acyclic_graph(dag.graph)
        edge_counts.append(dag.graph.number_of_edges() - dag.params["components_linked"])
    # sigmoid of Cauchy logits: densities vary widely between graphs
    assert min(edge_counts) < 100 < max(edge_counts)


def test_chain_and_hub():
    g = sample_dag("Chain", 6, GP, rng(0)).graph
    assert sorted(g.edges) == [(i, i + 1) for i in range(5)]
    g = sample_dag("Hub", 6, GP, rng(0)).graph
    assert sorted(g.edges) == [(0, i) for i in range(1, 6)]


def test_connect_components_counts_and_orientation():
    g = nx.DiGraph()
    g.add_nodes_from(range(10))
    g.add_edges_from([(0, 1), (2, 3), (3, 4), (7, 9)])
    comps = nx.number_weakly_connected_components(g)
    before = set(g.edges)
    linked = connect_components(g, rng(0))
    assert linked == comps - 1
    assert nx.is_weakly_connected(g) and nx.is_directed_acyclic_graph(g)
    new = set(g.edges) - before
    assert len(new) == linked and all(u < v for u, v in new)


@pytest.mark.parametrize(
    ("law", "dist"),
    [("gaussian", stats.norm()), ("cauchy", stats.cauchy()), ("uniform", stats.uniform(-2, 4)),
     ("lognormal", stats.lognorm(1.0))],
)
def test_edge_weights_follow_their_law(law, dist):
    w = []
    for seed in range(30):
        dag = sample_dag("ErdosRenyi", 15, gp(edge_weight_laws=(law,)), rng(seed))
        assert dag.params["weight_law"] == law
        w.extend(d for _, _, d in dag.graph.edges(data="weight"))
    w = np.asarray(w)
    assert len(w) > 1000
    if law == "uniform":
        assert w.min() >= -2 and w.max() <= 2
    if law == "lognormal":
        assert w.min() > 0
    assert stats.kstest(w, dist.cdf).pvalue > 0.001
    direct = draw_edge_weights(law, 5000, rng(1))
    assert stats.kstest(direct, dist.cdf).pvalue > 0.001


def test_edge_weight_law_is_picked_per_dag():
    laws = [sample_dag("RandomTree", 5, GP, rng(s)).params["weight_law"] for s in range(400)]
    counts = np.array([laws.count(x) for x in EDGE_WEIGHT_LAWS])
    assert stats.chisquare(counts).pvalue > 0.001
    with pytest.raises(ValueError, match="unknown edge weight law"):
        draw_edge_weights("pareto", 3, rng(0))
