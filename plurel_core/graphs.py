"""The DAG generators of PluRel, shared by stage 1 (schema) and stage 3 (SCM graphs).

One function per model, its parameters drawn from the graph priors with the generator passed in;
``LAYOUT_REGISTRY`` maps names to functions. Every generator returns a connected DAG on nodes
0..n-1 whose edges carry a ``weight`` drawn from one edge-weight law per DAG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from plurel_core.random import pick

DAG_LAYOUTS = (
    "ErdosRenyi", "BarabasiAlbert", "RandomTree", "ReverseRandomTree", "WattsStrogatz", "Layered", "RandomCauchy",
)
EXTENSION_LAYOUTS = ("Chain", "Hub")  # beyond the paper: long FK chains, one hub referenced by all
EDGE_WEIGHT_LAWS = ("gaussian", "lognormal", "cauchy", "uniform")


@dataclass
class Dag:
    graph: nx.DiGraph
    layout: str
    params: dict[str, Any] = field(default_factory=dict)


def _oriented(n: int, pairs) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((min(a, b), max(a, b)) for a, b in pairs if a != b)
    return g


def erdos_renyi(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    p = gp.er_p.sample(rng)
    arcs = rng.random((n, n)) < p
    linked = np.triu(arcs | arcs.T, k=1)
    i, j = np.nonzero(linked)
    return _oriented(n, zip(i.tolist(), j.tolist())), {"p": p}


def barabasi_albert(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    m = max(1, min(int(gp.ba_m), n - 1))
    if n <= 1:
        return _oriented(n, []), {"m": 0}
    # Preferential attachment: node t links to m distinct targets drawn by degree (repeated-nodes list).
    edges: list[tuple[int, int]] = []
    repeated: list[int] = []
    targets = list(range(m))
    for t in range(m, n):
        edges.extend((t, s) for s in targets)
        repeated.extend(targets)
        repeated.extend([t] * len(targets))
        chosen: set[int] = set()
        pool = np.asarray(repeated)
        while len(chosen) < min(m, t + 1):
            chosen.add(int(pool[rng.integers(len(pool))]))
        targets = sorted(chosen)
    g = _oriented(n, edges)
    perm = rng.permutation(n)
    g = nx.relabel_nodes(g, {i: int(perm[i]) for i in range(n)})
    dropped = 0
    for node in sorted(g.nodes):
        if g.out_degree(node) == 0 and g.in_degree(node) > 1 and rng.random() < gp.ba_sink_edge_dropout:
            parents = sorted(g.predecessors(node))
            g.remove_edge(parents[rng.integers(len(parents))], node)
            dropped += 1
    flipped = 0
    if gp.ba_leaf_flip > 0:
        for u, v in sorted(g.edges):
            if g.out_degree(v) == 0 and rng.random() < gp.ba_leaf_flip and g.in_degree(u) < 4:
                g.remove_edge(u, v)
                if nx.has_path(g, u, v):
                    g.add_edge(u, v)
                else:
                    g.add_edge(v, u)
                    flipped += 1
    return g, {"m": m, "sink_edges_dropped": dropped, "leaf_edges_flipped": flipped}


def random_tree(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    if n <= 2:
        und = nx.path_graph(n)
    else:
        und = nx.from_prufer_sequence(rng.integers(0, n, size=n - 2).tolist())
    root = int(rng.integers(n)) if n else 0
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    if n:
        g.add_edges_from(nx.bfs_edges(und, root))
    return g, {"root": root}


def reverse_random_tree(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    g, params = random_tree(n, gp, rng)
    return g.reverse(copy=True), params


def watts_strogatz(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    k = int(pick(rng, gp.ws_k))
    k = min(k, n - 1 if n > 1 else 0)
    k = max(2, k - (k % 2)) if n > 2 else max(n - 1, 0)
    p = gp.ws_rewire.sample(rng)
    if n <= 2:
        return _oriented(n, [(0, 1)] if n == 2 else []), {"k": k, "p": p}
    # Ring lattice with k/2 neighbours per side, then each edge (u, u+j) rewired with probability p.
    half = k // 2
    edges = {(u, (u + j) % n) for j in range(1, half + 1) for u in range(n)}
    edges = {(min(a, b), max(a, b)) for a, b in edges}
    adj = {u: set() for u in range(n)}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    for j in range(1, half + 1):
        for u in range(n):
            v = (u + j) % n
            if rng.random() < p:
                w = int(rng.integers(n))
                if w == u or w in adj[u] or len(adj[u]) >= n - 1:
                    continue
                if v in adj[u]:
                    adj[u].discard(v)
                    adj[v].discard(u)
                    adj[u].add(w)
                    adj[w].add(u)
    pairs = [(a, b) for a in adj for b in adj[a] if a < b]
    return _oriented(n, pairs), {"k": k, "p": p}


def layered(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    depth = min(gp.layered_depth.sample(rng), max(n, 1))
    order = rng.permutation(n)
    layer = np.empty(n, dtype=np.int64)
    layer[order[:depth]] = np.arange(depth)
    layer[order[depth:]] = rng.integers(0, depth, size=n - depth)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    members = [np.sort(np.nonzero(layer == d)[0]) for d in range(depth)]
    for d in range(depth - 1):
        upper, lower = members[d], members[d + 1]
        keep = rng.random((len(upper), len(lower))) >= gp.layered_edge_dropout
        for c in range(len(lower)):  # every node of l+1 has a parent
            if not keep[:, c].any():
                keep[rng.integers(len(upper)), c] = True
        for r in range(len(upper)):  # every node of l has a child in the next layer
            if not keep[r].any():
                keep[r, rng.integers(len(lower))] = True
        i, j = np.nonzero(keep)
        g.add_edges_from(zip(upper[i].tolist(), lower[j].tolist()))
    return g, {"depth": int(depth), "layer_sizes": [int(len(m)) for m in members]}


def random_cauchy(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    a = float(rng.standard_cauchy())
    b = rng.standard_cauchy(n)
    c = rng.standard_cauchy(n)
    logits = np.clip(a + b[:, None] + c[None, :], -500, 500)
    prob = 1.0 / (1.0 + np.exp(-logits))
    present = np.triu(rng.random((n, n)) < prob, k=1)
    i, j = np.nonzero(present)
    return _oriented(n, zip(i.tolist(), j.tolist())), {"A": a}


def chain(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    """Extension: 0 -> 1 -> ... -> n-1, the longest possible FK chain."""
    return _oriented(n, [(i, i + 1) for i in range(n - 1)]), {"length": n}


def hub(n: int, gp, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    """Extension: node 0 is a parent of every other node (one hub referenced by all tables)."""
    return _oriented(n, [(0, i) for i in range(1, n)]), {"hub": 0}


LAYOUT_REGISTRY: dict[str, Callable[[int, Any, np.random.Generator], tuple[nx.DiGraph, dict]]] = {
    "ErdosRenyi": erdos_renyi,
    "BarabasiAlbert": barabasi_albert,
    "RandomTree": random_tree,
    "ReverseRandomTree": reverse_random_tree,
    "WattsStrogatz": watts_strogatz,
    "Layered": layered,
    "RandomCauchy": random_cauchy,
    "Chain": chain,
    "Hub": hub,
}


def connect_components(g: nx.DiGraph, rng: np.random.Generator) -> int:
    """Link consecutive weak components by one edge between random members (low -> high)."""
    comps = sorted((sorted(c) for c in nx.weakly_connected_components(g)), key=lambda c: c[0])
    for a, b in zip(comps, comps[1:]):
        u = a[int(rng.integers(len(a)))]
        v = b[int(rng.integers(len(b)))]
        g.add_edge(min(u, v), max(u, v))  # disjoint components: no cycle can form
    return len(comps) - 1


def draw_edge_weights(law: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if law == "gaussian":
        return rng.standard_normal(size)
    if law == "lognormal":
        return rng.lognormal(0.0, 1.0, size)
    if law == "cauchy":
        return rng.standard_cauchy(size)
    if law == "uniform":
        return rng.uniform(-2.0, 2.0, size)
    raise ValueError(f"unknown edge weight law {law!r}; allowed: {EDGE_WEIGHT_LAWS}")


def sample_dag(layout: str, n: int, gp, rng: np.random.Generator) -> Dag:
    """A connected, weighted DAG on nodes 0..n-1 from the named generator."""
    if layout not in LAYOUT_REGISTRY:
        raise ValueError(f"unknown DAG layout {layout!r}; allowed: {list(LAYOUT_REGISTRY)}")
    g, params = LAYOUT_REGISTRY[layout](n, gp, rng)
    params["components_linked"] = connect_components(g, rng)
    law = str(pick(rng, gp.edge_weight_laws))
    edges = sorted(g.edges)
    weights = draw_edge_weights(law, len(edges), rng)
    for (u, v), w in zip(edges, weights):
        g.edges[u, v]["weight"] = float(w)
    params["weight_law"] = law
    return Dag(graph=g, layout=layout, params=params)
