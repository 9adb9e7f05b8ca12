"""DAG layouts of the v2 design space, with their parameters fixed per option (PLUREL_V2_SPEC §2 "Layouts").

A layout option is a :class:`LayoutSpec` (a name of :data:`LAYOUTS` and its parameters), e.g.
``LayoutSpec.of("Layered", depth=3, dropout=0.1)``. :func:`sample_layout` draws a DAG on nodes
0..n-1 whose every edge goes from a lower to a higher index, so node ``i`` references parents
``p < i`` (the authors' parent lists). Edge ``p -> i`` means "i holds a key to p" for a table
graph, "p feeds i" for a node graph. The paper's generators of :mod:`plurel_core.graphs` are
reused where v2's law is the same (trees, layered); the others differ from the paper's and are
written here (the paper's outputs are untouched).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import networkx as nx
import numpy as np

from plurel_core import graphs as paper_graphs


@dataclass(frozen=True)
class LayoutSpec:
    """One layout option: a :data:`LAYOUTS` name and its fixed parameters (sorted by name)."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, **params: Any) -> LayoutSpec:
        return cls(name, tuple(sorted(params.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        inner = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params)
        return f"{self.name}({inner})"

    @classmethod
    def from_args(cls, kind: str, args: tuple = ()) -> LayoutSpec:
        """From a kind (``"Layered"`` or its snake_case alias ``"layered"``) and positional
        arguments in :data:`LAYOUT_ARGS` order, e.g. ``from_args("layered", (3, 0.2))``."""
        name = LAYOUT_ALIASES.get(kind, kind)
        names = LAYOUT_ARGS.get(name, ())
        if len(args) > len(names):
            raise ValueError(f"layout {name}: at most {len(names)} arguments {names}, got {tuple(args)}")
        return cls.of(name, **dict(zip(names, args)))

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.name, "params": self.kwargs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayoutSpec:
        return cls.of(d["layout"], **d.get("params", {}))


def _from_pairs(n: int, pairs) -> nx.DiGraph:
    """Undirected pairs oriented low index -> high index."""
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(min(a, b)), int(max(a, b))) for a, b in pairs if a != b)
    return g


def erdos_renyi(n: int, rng: np.random.Generator, p: float = 0.4) -> tuple[nx.DiGraph, dict]:
    """Each pair i < j linked with probability ``p`` (v2: not the paper's symmetrised arcs); chained."""
    i, j = np.nonzero(np.triu(rng.random((n, n)) < p, k=1))
    g = _from_pairs(n, zip(i.tolist(), j.tolist()))
    return g, {"p": p, "components_linked": paper_graphs.connect_components(g, rng)}


def barabasi_albert(
    n: int, rng: np.random.Generator, m: int = 2, sink_dropout: float = 0.4
) -> tuple[nx.DiGraph, dict]:
    """Preferential attachment, a random relabel, *then* low -> high orientation (v2 order), then
    each sink with more than one parent drops one random parent with prob ``sink_dropout``.

    The paper's BA orients by attachment age before relabelling, so its law differs."""
    m = int(min(m, max(n - 1, 0)))
    targets, repeated, pairs = list(range(m)), [], []
    for node in range(m, n):
        pairs += [(node, t) for t in targets]
        repeated += [node] * m + targets
        chosen: set[int] = set()
        while len(chosen) < m:
            chosen.add(int(repeated[int(rng.integers(len(repeated)))]))
        targets = sorted(chosen)
    labels = rng.permutation(n)
    g = _from_pairs(n, [(labels[a], labels[b]) for a, b in pairs])
    children = {v: g.out_degree(v) for v in g.nodes}  # counted once, before any drop (authors' rule)
    dropped = 0
    for v in range(n):
        parents = sorted(g.predecessors(v))
        if len(parents) > 1 and children[v] == 0 and rng.random() < sink_dropout:
            g.remove_edge(parents[int(rng.integers(len(parents)))], v)
            dropped += 1
    return g, {"m": m, "sink_dropout": sink_dropout, "sink_edges_dropped": dropped}


def watts_strogatz(n: int, rng: np.random.Generator, k: int = 2, rewire: float = 0.2) -> tuple[nx.DiGraph, dict]:
    """Ring lattice of k/2 neighbours a side; each lattice edge (u, v), in sorted order, is moved
    with prob ``rewire`` to (u, w), w uniform among the nodes not yet linked to u; chained."""
    k_eff = int(min(k, max(n - 1, 0)))
    edges = {(min(u, (u + s) % n), max(u, (u + s) % n)) for u in range(n) for s in range(1, k_eff // 2 + 1)}
    edges = {e for e in edges if e[0] != e[1]}
    moved = 0
    for u, v in sorted(edges):
        if rng.random() < rewire:
            linked = {b if a == u else a for a, b in edges if u in (a, b)}
            candidates = [w for w in range(n) if w != u and w not in linked]
            if candidates:
                edges.remove((u, v))
                w = candidates[int(rng.integers(len(candidates)))]
                edges.add((min(u, w), max(u, w)))
                moved += 1
    g = _from_pairs(n, sorted(edges))
    return g, {"k": k_eff, "rewire": rewire, "edges_rewired": moved,
               "components_linked": paper_graphs.connect_components(g, rng)}


def random_cauchy(n: int, rng: np.random.Generator, offset: float = 0.0) -> tuple[nx.DiGraph, dict]:
    """P(i -> j) = sigmoid(offset + C0 + C_i + C_j), i < j, with standard Cauchy draws; chained."""
    shift = offset + rng.standard_cauchy() + rng.standard_cauchy(n)[:, None] + rng.standard_cauchy(n)[None, :]
    prob = 1.0 / (1.0 + np.exp(-np.clip(shift, -500.0, 500.0)))
    i, j = np.nonzero(np.triu(rng.random((n, n)) < prob, k=1))
    g = _from_pairs(n, zip(i.tolist(), j.tolist()))
    return g, {"offset": offset, "components_linked": paper_graphs.connect_components(g, rng)}


def random_tree(n: int, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    """Prüfer tree, BFS from a random root; each node references its tree parent (paper's generator)."""
    return paper_graphs.random_tree(n, None, rng)


def reverse_random_tree(n: int, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    """The same tree, each node referencing its children (paper's generator)."""
    return paper_graphs.reverse_random_tree(n, None, rng)


def layered(n: int, rng: np.random.Generator, depth: int = 3, dropout: float = 0.1) -> tuple[nx.DiGraph, dict]:
    """min(depth, n) layers of >= 1 node; consecutive-layer edges kept with prob 1 - dropout; every
    node keeps an in- and an out-edge (paper's generator with its depth and dropout fixed).

    UNSURE: not chained into one component (the spec chains ER, WS and RandomCauchy only)."""
    if n == 0:
        return _from_pairs(0, []), {"depth": 0, "dropout": dropout, "layer_sizes": []}
    fixed = SimpleNamespace(layered_depth=SimpleNamespace(sample=lambda _rng: int(depth)),
                            layered_edge_dropout=float(dropout))
    g, params = paper_graphs.layered(n, fixed, rng)
    return g, {"depth": params["depth"], "dropout": dropout, "layer_sizes": params["layer_sizes"]}


LayoutFn = Callable[..., tuple[nx.DiGraph, dict]]

LAYOUTS: dict[str, LayoutFn] = {
    "BarabasiAlbert": barabasi_albert,
    "ReverseRandomTree": reverse_random_tree,
    "RandomTree": random_tree,
    "WattsStrogatz": watts_strogatz,
    "Layered": layered,
    "ErdosRenyi": erdos_renyi,
    "RandomCauchy": random_cauchy,
}


# Positional argument order per layout, and the snake_case names other modules may use.
LAYOUT_ARGS: dict[str, tuple[str, ...]] = {
    "BarabasiAlbert": ("m", "sink_dropout"), "WattsStrogatz": ("k", "rewire"), "Layered": ("depth", "dropout"),
    "ErdosRenyi": ("p",), "RandomCauchy": ("offset",), "RandomTree": (), "ReverseRandomTree": (),
}
LAYOUT_ALIASES: dict[str, str] = {
    "barabasi_albert": "BarabasiAlbert", "reverse_random_tree": "ReverseRandomTree", "random_tree": "RandomTree",
    "watts_strogatz": "WattsStrogatz", "layered": "Layered", "erdos_renyi": "ErdosRenyi",
    "random_cauchy": "RandomCauchy",
}

# Parameter bounds per layout: name -> {param: (lo, hi, integer)}; what a config may set.
LAYOUT_PARAM_BOUNDS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "BarabasiAlbert": {"m": (1, 10, True), "sink_dropout": (0.0, 1.0, False)},
    "ReverseRandomTree": {},
    "RandomTree": {},
    "WattsStrogatz": {"k": (2, 20, True), "rewire": (0.0, 1.0, False)},
    "Layered": {"depth": (1, 50, True), "dropout": (0.0, 1.0, False)},
    "ErdosRenyi": {"p": (0.0, 1.0, False)},
    "RandomCauchy": {"offset": (-20.0, 20.0, False)},
}


def check_layout(spec: LayoutSpec) -> None:
    """ValueError unless ``spec`` names a layout and sets only its parameters, within bounds."""
    if spec.name not in LAYOUTS:
        raise ValueError(f"unknown v2 layout {spec.name!r}; allowed: {sorted(LAYOUTS)}")
    bounds = LAYOUT_PARAM_BOUNDS[spec.name]
    for key, value in spec.params:
        if key not in bounds:
            raise ValueError(f"layout {spec.name}: unknown parameter {key!r}; allowed: {sorted(bounds)}")
        lo, hi, integer = bounds[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ValueError(f"layout {spec.name}: {key}={value!r} must be in [{lo}, {hi}]")
        if integer and value != int(value):
            raise ValueError(f"layout {spec.name}: {key}={value!r} must be an integer")
    if spec.name == "WattsStrogatz" and int(spec.kwargs.get("k", 2)) % 2:
        raise ValueError(f"layout WattsStrogatz: k={spec.kwargs['k']} must be even")


def layout_choices_problem(options) -> str | None:
    """Why ``options`` (the options of a Choices of layouts) is not valid, or None when it is."""
    for opt in options:
        if not isinstance(opt, LayoutSpec):
            return f"option {opt!r} is not a LayoutSpec of {sorted(LAYOUTS)}"
        try:
            check_layout(opt)
        except ValueError as e:
            return str(e)
    return None


def _topological_relabel(g: nx.DiGraph) -> tuple[nx.DiGraph, dict[int, int]]:
    """Relabel so every edge goes low -> high: the smallest-label-first topological order.

    The identity for a graph that is already oriented low -> high. UNSURE: the authors number
    tree nodes in BFS order; any topological numbering gives the same graphs up to names."""
    order = list(nx.lexicographical_topological_sort(g))
    mapping = {int(old): new for new, old in enumerate(order)}
    out = nx.DiGraph()
    out.add_nodes_from(range(g.number_of_nodes()))
    out.add_edges_from((mapping[u], mapping[v]) for u, v in g.edges)
    return out, mapping


def sample_layout(spec: LayoutSpec, n: int, rng: np.random.Generator) -> tuple[nx.DiGraph, dict]:
    """A DAG on 0..n-1 from ``spec``, every edge low -> high, and the layout's drawn parameters."""
    check_layout(spec)
    if n < 0:
        raise ValueError(f"layout {spec.label}: node count must be non-negative, got {n}")
    g, info = LAYOUTS[spec.name](n, rng, **spec.kwargs)
    g, mapping = _topological_relabel(g)
    info = dict(info)
    info["relabelled"] = any(k != v for k, v in mapping.items())
    return g, info


def parent_lists(g: nx.DiGraph) -> tuple[tuple[int, ...], ...]:
    """Each node's parents, ascending (all lower than the node for a :func:`sample_layout` DAG)."""
    return tuple(tuple(sorted(int(p) for p in g.predecessors(i))) for i in range(g.number_of_nodes()))
