"""The v2 pipeline: ``generate_v2(schema_prior, table_prior, seed) -> Database`` (PLUREL_V2_SPEC §5).

Stages, each from its own random streams spawned from the seed (:func:`stream`):

1. **schema**: :func:`~plurel_core.v2.schema.sample_schema_plan` (tables t0.., roles, rows, keys
   with their link models, self-trees, the aggregate coins);
2. **warp**: the :class:`~plurel_core.v2.table_prior.TablePrior` warped once per table, t0 first,
   before any build (one stream per table);
3. **build**: each table's SCM plan (:func:`build_table`): node count, layout, kinds / ops / widths,
   node mechanisms (nested parents, edges, roots and time series), feature nodes, the columns
   ``col{c}`` on them with their marginal / binning / missingness and the indicator nodes ``m{c}``
   of structured missingness, the calendar of an event table;
4. **crossings** (:func:`wire_crossings`): aggregates child -> parent, then gathers parent ->
   child, then self-tree gathers, with the spec's taint rule, so the graph over (table, node) is
   acyclic;
5. **links**: one stream per key: uniform, HSBM or tree parents, then the key's nulls;
6. **propagate**: every node of every table in one topological order over (table, node), with
   ``Foreign`` (a parent latent at the key's index, 0 on a null) and ``Summary`` (count / sum /
   mean / max / min over the linked child rows, 0 when empty) inputs summed before the z-score;
   one stream per node;
7. **observe**: ``id``, ``col*``, ``time``, then the keys as nullable Int64; one stream per table;
8. **time order** (stable sort of event tables by time, re-key, remap keys: the identity for
   prior output) and the val / test cut-offs (:func:`~plurel_core.v2.timestamps.split_timestamps`).

The same (priors, seed) give byte-identical tables in any process and thread: there is no
global random state, and every stream is a pure function of the seed and its key.

Widths (UNSURE, the authors do not cap): a concat node whose parents' widths sum to more than
:data:`MAX_CONCAT_WIDTH` reduces by ``sum`` at the widest parent's width instead (concat widths
compound through chains of concat nodes; a 0.7% tail of tables reaches a width over 64, some
over 800), and an edge whose quadratic tensor would hold more than :data:`QUADRATIC_MAX_PARAMS`
numbers draws its family without ``quadratic`` (its cost per row is that count: a quadratic edge
on a 172-wide input holds 5 million). Both are listed in ``trace.notes`` when they apply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from plurel_core import random as streams
from plurel_core.database import ColumnMeta, Database, LinkTrace, ScmTrace, Table, Trace
from plurel_core.v2.calendar import SPAN, sample_times
from plurel_core.v2.columns import (
    MARGINAL_LABELS,
    ColumnPlan,
    category_labels,
    draw_column,
    draw_missing,
    observe_column,
)
from plurel_core.v2.edges import EDGE_FAMILIES, Edge, fit_families
from plurel_core.v2.layouts import LayoutSpec, parent_lists, sample_layout
from plurel_core.v2.links import link_to_dict, sample_link
from plurel_core.v2.nodes import (
    ROOT_NOISE_LABELS,
    NodeSpec,
    crossing_input,
    draw_indicator,
    draw_node,
    draw_structure,
    evaluate_node,
)
from plurel_core.v2.ranges import KAPPA, Choices
from plurel_core.v2.schema import EVENT, STATIC, FkPlan, SchemaPlan, TablePlan, sample_schema_plan
from plurel_core.v2.schema_prior import SchemaPrior
from plurel_core.v2.table_prior import TablePrior
from plurel_core.v2.timestamps import split_timestamps

MAX_CONCAT_WIDTH = 64  # UNSURE: a wider concat node reduces by sum at its widest parent's width
QUADRATIC_MAX_PARAMS = 1 << 14  # UNSURE: d_out (d_in + 1)^2 above this drops the quadratic family
MISSING_RATE_CLIP = 1e-9  # a structured column's rate kept inside (0, 1) (a warped range may hit 0)
CROSSING_KINDS = ("aggregate", "gather", "self_tree")

# first element of every v2 stream's spawn key (the paper's stages are 0-4): one per stage
_V2 = 20
SCHEMA, ROWS, WARP, BUILD, CROSS, LINKS, NODES, OBSERVE = range(8)


def stream(seed: int, stage: int, *ids: int) -> np.random.Generator:
    """The v2 stream of ``stage`` (:data:`SCHEMA` .. :data:`OBSERVE`) and ids (table, key, node ...)."""
    return streams.stream(seed, _V2 + stage, *ids)


# --------------------------------------------------------------------------------------------
# plans: what a table's SCM is made of
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Crossing:
    """One crossing edge into ``reader`` (a node of ``reader_table``) from ``source`` of ``source_table``.

    ``kind``: "aggregate" (child -> parent, a Summary with ``how``), "gather" (parent -> child,
    Foreign at the key's index) or "self_tree" (a root read at the tree parent's row). ``fk`` is
    the key ("child.column") whose links carry it; ``d_in`` the width of the input the edge reads.
    """

    kind: str
    fk: str
    source_table: str
    source: int
    reader_table: str
    reader: int
    d_in: int
    edge: Edge
    how: str | None = None

    @property
    def summary(self) -> dict[str, Any]:
        """Plain data for traces and exports (no arrays)."""
        return {"kind": self.kind, "fk": self.fk, "source_table": self.source_table, "source": self.source,
                "reader_table": self.reader_table, "reader": self.reader, "how": self.how, "d_in": self.d_in,
                "d_out": self.edge.d_out, "family": self.edge.family}


@dataclass(eq=False)
class NodePlan:
    """One node: ``id`` in the table's graph, ``name`` (``n{i}`` local, ``m{c}`` indicator, ``time``)."""

    id: int
    name: str
    kind: str  # root / numeric / categorical / indicator / time
    dim: int
    parents: tuple[int, ...] = ()  # local parents, in the order of spec.edges
    spec: NodeSpec | None = None  # None for the time node
    crossings: list[Crossing] = field(default_factory=list)
    capped_from: int | None = None  # a concat node's width before MAX_CONCAT_WIDTH

    @property
    def categorical(self) -> bool:
        return self.kind in ("categorical", "indicator")


@dataclass(eq=False)
class TableBuild:
    """A table's SCM plan: its warped prior, local node graph, nodes, feature nodes, columns."""

    plan: TablePlan
    prior: TablePrior
    layout: LayoutSpec
    layout_info: dict[str, Any]
    graph: nx.DiGraph  # local nodes 0..n_local-1 (low -> high), the layout's DAG
    nodes: list[NodePlan]  # local nodes, then indicators, then the time node
    n_local: int
    feature_nodes: list[int]
    columns: list[ColumnPlan]
    calendar: str | None = None
    notes: list[str] = field(default_factory=list)
    tainted: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def local(self) -> list[NodePlan]:
        return self.nodes[: self.n_local]

    @property
    def time_node(self) -> NodePlan | None:
        last = self.nodes[-1] if self.nodes else None
        return last if last is not None and last.kind == "time" else None

    def roots(self) -> list[int]:
        return [i for i in range(self.n_local) if self.graph.in_degree(i) == 0]


def _guarded(prior: TablePrior, d_in: int, d_out: int) -> tuple[TablePrior, bool]:
    """``prior`` without the quadratic family when a quadratic edge ``d_in -> d_out`` would hold
    more than :data:`QUADRATIC_MAX_PARAMS` numbers (and another family is left)."""
    if d_out * (d_in + 1) ** 2 <= QUADRATIC_MAX_PARAMS:
        return prior, False
    fam = prior.edge_families
    if "quadratic" not in fam.options:
        return prior, False
    weights = tuple(0.0 if o == "quadratic" else w for o, w in zip(fam.options, fam.weights))
    if not sum(weights) > 0:
        return prior, False
    return replace(prior, edge_families=Choices(fam.options, weights)), True


def draw_crossing_edge(d_in: int, d_out: int, prior: TablePrior, rng: np.random.Generator,
                       block: bool = False) -> tuple[Edge, bool]:
    """:func:`~plurel_core.v2.edges.draw_edge` with the quadratic guard; also says if it applied.

    The draws are draw_edge's own: the family among the fitting ones (warped weights), then its
    parameters."""
    guarded, applied = _guarded(prior, d_in, d_out)
    families = guarded.edge_families
    family = families.among(fit_families(d_in, d_out, block, families.options)).sample(rng)
    return EDGE_FAMILIES[family].draw(d_in, d_out, guarded, rng, block), applied


def cap_concat(parents: Sequence[Sequence[int]], categorical: Sequence[bool], ops: Sequence[str],
               dims: Sequence[int], limit: int = MAX_CONCAT_WIDTH) -> tuple[list[str], list[int], dict[int, int]]:
    """Widths recomputed in node order with every concat node over ``limit`` turned into a sum
    node at its widest parent's width; returns (ops, dims, {node: uncapped width}). No draw."""
    ops, dims, capped = list(ops), list(dims), {}
    for i, ps in enumerate(parents):
        if categorical[i] or ops[i] != "concat":
            continue
        width = sum(dims[p] for p in ps)
        if width > limit:
            capped[i] = width
            ops[i], dims[i] = "sum", max(dims[p] for p in ps)
        else:
            dims[i] = width
    return ops, dims, capped


def build_table(t: TablePlan, prior: TablePrior, rng: np.random.Generator) -> TableBuild:
    """One table's SCM plan from its warped prior (spec §3), drawn in this order: node count,
    layout and its DAG, kinds / ops / widths, each node's mechanism, the feature nodes, the column
    count, per column its node, missingness (and indicator node) and plan, the calendar."""
    n = int(prior.node_count.sample(rng))
    layout = prior.node_layouts.sample(rng)
    graph, info = sample_layout(layout, n, rng)
    parents = parent_lists(graph)
    categorical, ops, dims = draw_structure(parents, prior, rng)
    ops, dims, capped = cap_concat(parents, categorical, ops, dims)
    notes = [f"{t.name}.n{i}: concat of width {w} reduced by sum at width {dims[i]} (cap {MAX_CONCAT_WIDTH})"
             for i, w in capped.items()]
    nodes: list[NodePlan] = []
    for i in range(n):
        ps = parents[i]
        guarded, applied = prior, False
        for p in ps:
            guarded, applied = _guarded(guarded, dims[p], dims[p] if ops[i] == "concat" else dims[i])
            if applied:
                break
        if applied:
            notes.append(f"{t.name}.n{i}: edges drawn without the quadratic family (over "
                         f"{QUADRATIC_MAX_PARAMS} parameters)")
        spec = draw_node([dims[p] for p in ps], [categorical[p] for p in ps], dims[i], categorical[i], ops[i],
                         guarded, rng, time=t.role == EVENT)
        nodes.append(NodePlan(i, f"n{i}", spec.kind, spec.dim, tuple(ps), spec, capped_from=capped.get(i)))
    size = int(rng.integers(1, n + 1))
    feature_nodes = sorted(int(v) for v in rng.permutation(n)[:size])
    count = int(prior.column_count.sample(rng))
    columns: list[ColumnPlan] = []
    for c in range(count):
        node = feature_nodes[int(rng.integers(len(feature_nodes)))]
        missing, rate = draw_missing(prior, rng)
        indicator = None
        if missing == "structured":
            # UNSURE: the indicator reads a node drawn uniformly among all local nodes
            p = int(rng.integers(n))
            rate = float(np.clip(rate, MISSING_RATE_CLIP, 1.0 - MISSING_RATE_CLIP))
            guarded, _ = _guarded(prior, dims[p], 2)
            ind = draw_indicator(rate, dims[p], guarded, rng)
            indicator = f"m{c}"
            nodes.append(NodePlan(len(nodes), indicator, "indicator", 2, (p,), ind))
        columns.append(draw_column(node, dims[node], categorical[node], prior, rng, missing=missing,
                                   missing_rate=rate, indicator=indicator))
    calendar = None
    if t.role == EVENT:
        calendar = prior.time_calendars.sample(rng)
        nodes.append(NodePlan(len(nodes), "time", "time", 1))
    return TableBuild(t, prior, layout, info, graph, nodes, n, feature_nodes, columns, calendar, notes)


# --------------------------------------------------------------------------------------------
# crossings (spec §2 "Crossings")
# --------------------------------------------------------------------------------------------
def _wire(kind: str, fk: str, source_table: str, sources: list[tuple[int, int, str | None]], count: int,
          reader_build: TableBuild, readers: list[int], rng: np.random.Generator, notes: list[str]) -> list[Crossing]:
    """Readers join with prob ``key_reader_share`` (the receiver's warped prior, once per key; none
    -> one at random); ``min(count, len(sources))`` sources without replacement; each reader gets
    one fresh edge per source from the receiver's prior. Nothing is drawn when no source is taken.

    ``sources``: (node, input width, how)."""
    k = min(int(count), len(sources))
    if k == 0 or not readers:
        return []
    prior = reader_build.prior
    share = float(prior.key_reader_share.sample(rng))
    joined = [r for r, u in zip(readers, rng.random(len(readers))) if u < share]
    if not joined:
        joined = [readers[int(rng.integers(len(readers)))]]
    chosen = [sources[int(i)] for i in rng.choice(len(sources), k, replace=False)]
    out = []
    for r in joined:
        reader = reader_build.nodes[r]
        for node, width, how in chosen:
            edge, applied = draw_crossing_edge(width, reader.dim, prior, rng, block=reader.categorical)
            if applied:
                notes.append(f"{reader_build.name}.{reader.name}: {kind} edge from {source_table}.n{node} drawn "
                             f"without the quadratic family (over {QUADRATIC_MAX_PARAMS} parameters)")
            crossing = Crossing(kind, fk, source_table, node, reader_build.name, r, width, edge, how)
            reader.crossings.append(crossing)
            out.append(crossing)
    return out


def wire_crossings(plan: SchemaPlan, builds: dict[str, TableBuild], prior: SchemaPrior, seed: int,
                   notes: list[str]) -> list[Crossing]:
    """The three crossing steps in the spec's order; a stream per key (per table for self-trees).

    1. aggregates, per key marked ``aggregate`` (static children only): every child node is a
       candidate with its own ``how``; # ~ ``aggregate_sources``; readers: the parent's nodes,
       which become tainted with their local descendants;
    2. gathers, every key between two tables: untainted parent nodes as Foreign(fk, node);
       # ~ ``gather_sources``; readers: the child's nodes (the time node is never one);
    3. self-tree gathers: untainted roots; readers: nodes with local parents; # ~ ``self_tree_gather``.
    """
    out: list[Crossing] = []
    keys = [(t, pos, fk) for t in plan.tables.values() for pos, fk in enumerate(t.fkeys)]
    for t, pos, fk in keys:
        if not fk.aggregate:
            continue
        rng = stream(seed, CROSS, 0, t.index, pos)
        child, parent = builds[t.name], builds[fk.parent]
        how = parent.prior.aggregate_hows
        sources = []
        for node in child.local:
            h = how.sample(rng)
            sources.append((node.id, 1 if h == "count" else node.dim, h))
        count = prior.aggregate_sources.sample(rng)
        wired = _wire("aggregate", fk.key, t.name, sources, count, parent, list(range(parent.n_local)), rng, notes)
        for c in wired:
            parent.tainted |= {c.reader} | nx.descendants(parent.graph, c.reader)
        out += wired
    for t, pos, fk in keys:
        rng = stream(seed, CROSS, 1, t.index, pos)
        child, parent = builds[t.name], builds[fk.parent]
        sources = [(n.id, n.dim, None) for n in parent.local if n.id not in parent.tainted]
        count = prior.gather_sources.sample(rng)
        out += _wire("gather", fk.key, fk.parent, sources, count, child, list(range(child.n_local)), rng, notes)
    for t in plan.tables.values():
        if t.self_tree is None:
            continue
        rng = stream(seed, CROSS, 2, t.index)
        b = builds[t.name]
        sources = [(r, b.nodes[r].dim, None) for r in b.roots() if r not in b.tainted]
        readers = [i for i in range(b.n_local) if b.graph.in_degree(i) > 0]
        count = prior.self_tree_gather.sample(rng)
        out += _wire("self_tree", t.self_tree.key, t.name, sources, count, b, readers, rng, notes)
    return out


def dependency_graph(builds: dict[str, TableBuild]) -> nx.DiGraph:
    """The DiGraph over (table index, node id) of every local, indicator and crossing edge."""
    g = nx.DiGraph()
    for b in builds.values():
        ti = b.plan.index
        for node in b.nodes:
            g.add_node((ti, node.id))
            g.add_edges_from(((ti, p), (ti, node.id)) for p in node.parents)
            g.add_edges_from(((builds[c.source_table].plan.index, c.source), (ti, node.id)) for c in node.crossings)
    return g


# --------------------------------------------------------------------------------------------
# propagation
# --------------------------------------------------------------------------------------------
def gather_rows(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values`` at the parent row ``index`` of every child row; a null (-1) row is 0 (Foreign)."""
    null = index < 0
    out = values[np.where(null, 0, index)] if len(values) else np.zeros((len(index), values.shape[1]))
    if null.any():
        out[null] = 0.0
    return out


@dataclass(eq=False)
class _Groups:
    """The non-null child rows of one key grouped by parent row (sorted once, reused)."""

    n_parent: int
    index: np.ndarray
    count: np.ndarray
    order: np.ndarray  # non-null child rows sorted by parent (stable)
    starts: np.ndarray  # first position of each non-empty group in ``order``
    parents: np.ndarray  # the parent row of each non-empty group

    @classmethod
    def of(cls, index: np.ndarray, n_parent: int) -> _Groups:
        ok = np.flatnonzero(index >= 0)
        order = ok[np.argsort(index[ok], kind="stable")]
        sorted_parents = index[order]
        starts = np.flatnonzero(np.r_[True, sorted_parents[1:] != sorted_parents[:-1]]) if len(order) else \
            np.empty(0, np.int64)
        return cls(n_parent, index, np.bincount(index[ok], minlength=n_parent), order, starts,
                   sorted_parents[starts] if len(order) else np.empty(0, np.int64))


def summarize(values: np.ndarray, groups: _Groups, how: str) -> np.ndarray:
    """``how`` (count / sum / mean / max / min) of the linked child rows per parent row; 0 when empty."""
    if how == "count":
        return groups.count.astype(np.float64)[:, None]
    out = np.zeros((groups.n_parent, values.shape[1]))
    if not len(groups.order):
        return out
    rows = values[groups.order]
    if how in ("sum", "mean"):
        out[groups.parents] = np.add.reduceat(rows, groups.starts, axis=0)
        if how == "mean":
            out[groups.parents] /= groups.count[groups.parents][:, None]
        return out
    if how in ("max", "min"):
        fold = np.maximum if how == "max" else np.minimum
        out[groups.parents] = fold.reduceat(rows, groups.starts, axis=0)
        return out
    raise ValueError(f"how: {how!r} is not one of count, sum, mean, max, min")


def propagate(builds: dict[str, TableBuild], links: dict[str, np.ndarray], rows: dict[str, int], seed: int
              ) -> tuple[dict[tuple[str, int], np.ndarray], dict[str, np.ndarray], dict[str, dict[int, dict]], list]:
    """Every node's value in one topological order over (table, node); returns (values keyed by
    (table, node id), event times per table, time-series components, the order)."""
    graph = dependency_graph(builds)
    if not nx.is_directed_acyclic_graph(graph):  # the taint rule makes this impossible
        raise RuntimeError("v2 crossings: the graph over (table, node) has a cycle")
    by_index = {b.plan.index: b for b in builds.values()}
    order = list(nx.lexicographical_topological_sort(graph))
    values: dict[tuple[str, int], np.ndarray] = {}
    times: dict[str, np.ndarray] = {}
    components: dict[str, dict[int, dict]] = {b.name: {} for b in builds.values()}
    groups: dict[str, _Groups] = {}
    foreign_cache: dict[tuple[str, int], np.ndarray] = {}
    summary_cache: dict[tuple[str, int, str], np.ndarray] = {}

    def crossing_value(c: Crossing) -> np.ndarray:
        index = links[c.fk]
        if c.kind == "aggregate":
            key = (c.fk, c.source, c.how)
            if key not in summary_cache:
                if c.fk not in groups:
                    groups[c.fk] = _Groups.of(index, rows[c.reader_table])
                summary_cache[key] = summarize(values[c.source_table, c.source], groups[c.fk], c.how)
            return summary_cache[key]
        key = (c.fk, c.source)
        if key not in foreign_cache:
            foreign_cache[key] = gather_rows(values[c.source_table, c.source], index)
        return foreign_cache[key]

    for ti, nid in order:
        b = by_index[ti]
        node = b.nodes[nid]
        n = rows[b.name]
        rng = stream(seed, NODES, ti, nid)
        if node.kind == "time":
            times[b.name] = sample_times(b.calendar, n, rng)
            continue
        across = crossing_input([c.edge for c in node.crossings], [crossing_value(c) for c in node.crossings])
        parent_values = [values[b.name, p] for p in node.parents]
        spec = node.spec
        if spec.noise == "series":
            comps = spec.series.components(n, spec.dim, rng)
            value = evaluate_node(spec, parent_values, across=across, n=n, noise=comps["value"])
            noise = comps["noise"]
            components[b.name][nid] = {"trend": comps["trend"], "cycle": comps["cycle"],
                                       "noise": noise[:, 0] if noise.shape[1] == 1 else noise,
                                       "signal": value[:, 0] if value.shape[1] == 1 else value}
        else:
            value = evaluate_node(spec, parent_values, rng, across=across, n=n)
        values[b.name, nid] = value
    return values, times, components, order


# --------------------------------------------------------------------------------------------
# observation, time order, containers
# --------------------------------------------------------------------------------------------
def fk_array(index: np.ndarray) -> pd.arrays.IntegerArray:
    """A key column as pandas Int64: the parent's row id, NA where null (-1)."""
    index = np.asarray(index, dtype=np.int64)
    null = index < 0
    return pd.arrays.IntegerArray(np.where(null, 0, index), null)


def _column_note(plan: ColumnPlan, b: TableBuild) -> str:
    node = b.nodes[plan.node]
    if plan.kind == "categorical":
        head = f"categorical node {node.name}, {plan.k} classes"
    elif plan.kind == "binned":
        head = f"binned slot {plan.slot} of {node.name}: {plan.k} bins, {plan.binning.method} edges"
    else:
        head = f"marginal {plan.marginal} ({MARGINAL_LABELS[plan.marginal]}) on slot {plan.slot} of {node.name}"
    if plan.missing == "random":
        tail = f"missing at random, rate {plan.missing_rate:.3g}"
    elif plan.missing == "structured":
        ind = next(x for x in b.nodes if x.name == plan.indicator)
        tail = (f"missing structured by indicator {plan.indicator} (node {ind.id}, reads n{ind.parents[0]}), "
                f"rate {plan.missing_rate:.3g}")
    else:
        tail = "no missing values"
    return f"{head}; {tail}"


def observe_table(b: TableBuild, values, times, links: dict[str, np.ndarray], n: int, seed: int
                  ) -> tuple[pd.DataFrame, dict[str, ColumnMeta], dict[str, dict]]:
    """``id``, ``col{c}``, ``time``, then the key columns (Int64); their metadata; per-column plans."""
    data: dict[str, Any] = {"id": np.arange(n, dtype=np.int64)}
    meta: dict[str, ColumnMeta] = {"id": ColumnMeta("pkey")}
    plans: dict[str, dict] = {}
    ind_id = {x.name: x.id for x in b.nodes if x.kind == "indicator"}
    rng = stream(seed, OBSERVE, b.plan.index)  # one stream per table (spec §5 item 3), columns in order
    for c, plan in enumerate(b.columns):
        name = f"col{c}"
        indicator = values[b.name, ind_id[plan.indicator]] if plan.indicator else None
        col = observe_column(plan, values[b.name, plan.node], rng, indicator)
        missing = int(np.isnan(col).sum()) if isinstance(col, np.ndarray) else int((col.codes < 0).sum())
        if isinstance(col, np.ndarray):
            data[name] = col.astype(np.float64, copy=False)
            transform = None if plan.marginal == "none" else plan.marginal
            meta[name] = ColumnMeta("numerical", transform=transform, missing=missing, node=plan.node,
                                    note=_column_note(plan, b))
        else:
            data[name] = col
            meta[name] = ColumnMeta("categorical", categories=category_labels(plan.k), missing=missing,
                                    node=plan.node, note=_column_note(plan, b))
        plans[name] = {**_plain(plan.params), "node_name": b.nodes[plan.node].name,
                       "indicator_node": ind_id.get(plan.indicator), "missing_count": missing}
    if b.plan.role == EVENT:
        data["time"] = times[b.name]
        meta["time"] = ColumnMeta("time", node=b.time_node.id, note=f"calendar {b.calendar}")
    for fk in b.plan.all_fkeys:
        index = links[fk.key]
        data[fk.column] = fk_array(index)
        model = fk.link.model
        meta[fk.column] = ColumnMeta("fkey", missing=int((index < 0).sum()),
                                     note=f"-> {fk.parent}.id, {model} link"
                                          + (f", nullable (rate {fk.null_rate:.3g})" if fk.nullable else "")
                                          + (", self-tree (roots null)" if fk.self_tree else "")
                                          + (", duplicate key" if fk.duplicate else ""))
    return pd.DataFrame(data), meta, plans


def time_order(tables: dict[str, Table], links: dict[str, LinkTrace]) -> list[str]:
    """Spec §5 item 6: each table with a time column stably sorted by time (NaT last), re-keyed
    0..n-1, every key into it remapped (and the link traces with it). Returns the tables that moved."""
    moved = []
    for name, t in tables.items():
        if t.time_col is None:
            continue
        stamps = t.df[t.time_col].to_numpy(dtype="datetime64[ns]")
        order = np.argsort(stamps, kind="stable")  # numpy sorts NaT last
        if np.array_equal(order, np.arange(len(order))):
            continue
        moved.append(name)
        new_of_old = np.empty(len(order), np.int64)
        new_of_old[order] = np.arange(len(order))
        df = t.df.iloc[order].reset_index(drop=True)
        df[t.pkey_col] = np.arange(len(df), dtype=np.int64)
        t.df = df
        for link in links.values():
            if link.child == name:
                link.parent_index = link.parent_index[order]
                link.child_block = link.child_block[order]
            if link.parent == name:
                idx = link.parent_index
                link.parent_index = np.where(idx >= 0, new_of_old[np.maximum(idx, 0)], -1)
                link.parent_block = link.parent_block[order]
    for link in links.values():  # key columns follow their (possibly remapped) links
        if link.child in moved or link.parent in moved:
            tables[link.child].df[link.fkey_col] = fk_array(link.parent_index)
    return moved


def _plain(obj: Any) -> Any:
    """JSON-friendly copy (numpy scalars and arrays to Python; tuples to lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def link_trace(fk: FkPlan, index: np.ndarray, info: dict, n_parent: int) -> LinkTrace:
    """The :class:`LinkTrace` of one key: HSBM blocks from the link's trace, one block otherwise."""
    n_child = len(index)
    if info["model"] == "hsbm":
        pb = np.repeat(np.arange(len(info["parent_cluster_sizes"])), info["parent_cluster_sizes"]).astype(np.int64)
        cb = np.repeat(np.arange(len(info["child_cluster_sizes"])), info["child_cluster_sizes"]).astype(np.int64)
        pop = fk.link.popularity
        return LinkTrace(fk.table, fk.parent, fk.column, index, int(info["levels"]), list(info["parent_counts"]),
                         list(info["child_counts"]), pb, cb, [np.asarray(m) for m in info["matrices"]],
                         popularity_law="constant" if pop is None else "lomax",
                         popularity_param=None if pop is None else float(pop.alpha),
                         null_share=float(info["null_share"]), model="hsbm", nullable=bool(fk.nullable),
                         null_rate=float(fk.null_rate))
    return LinkTrace(fk.table, fk.parent, fk.column, index, 1, [1], [1], np.zeros(n_parent, np.int64),
                     np.zeros(n_child, np.int64), [np.ones((1, 1))], null_share=float(info["null_share"]),
                     model=info["model"], nullable=bool(fk.nullable), null_rate=float(fk.null_rate))


def link_summary(fk: FkPlan, info: dict, index: np.ndarray, n_parent: int) -> dict[str, Any]:
    """What the FK views show: model, nulls, inactive parents, tree depth, HSBM laws (plain data)."""
    out: dict[str, Any] = {
        "child": fk.table, "parent": fk.parent, "column": fk.column, "model": info["model"],
        "link": link_to_dict(fk.link), "nullable": fk.nullable, "null_rate": float(fk.null_rate),
        "null_share": float(info["null_share"]), "duplicate": fk.duplicate, "self_tree": fk.self_tree,
        "aggregate": fk.aggregate, "parents_with_children": int(np.unique(index[index >= 0]).size),
        "parent_rows": int(n_parent),
    }
    if info["model"] == "hsbm":
        out.update(levels=int(info["levels"]), within=info["within"], between=info["between"],
                   cluster_weights=info["cluster_weights"], popularity=info["popularity"],
                   inactive_share=float(info["inactive_share"]),
                   inactive_parents=[int(v) for v in info["inactive_parents"]],
                   parent_cluster_sizes=[int(v) for v in info["parent_cluster_sizes"]],
                   child_cluster_sizes=[int(v) for v in info["child_cluster_sizes"]])
    elif info["model"] == "tree":
        out.update(roots_share=float(info["roots_share"]), roots=int(info["n_roots"]), depth=int(info["depth"]))
    return out


def _node_attrs(b: TableBuild, node: NodePlan, columns_on: dict[int, list[str]]) -> dict[str, Any]:
    cols = columns_on.get(node.id, [])
    attrs: dict[str, Any] = {
        "name": node.name, "kind": node.kind, "dim": node.dim, "columns": cols,
        "role": "column" if cols else "latent", "column": cols[0] if cols else None,
        "type": "categorical" if node.categorical else ("time" if node.kind == "time" else "numerical"),
        "num_categories": node.dim if node.categorical else None,
        "feature": node.id in b.feature_nodes, "tainted": node.id in b.tainted, "evaluated": True,
        "is_source": node.kind == "root" or (node.kind in ("categorical", "time") and not node.parents),
        "crossings": [{**c.summary, "params": c.edge.params, "label": _edge_label(c.edge.params)}
                      for c in node.crossings],
        "decoder_activations": [], "capped_from": node.capped_from,
        "masks": [f"col{c}" for c, p in enumerate(b.columns) if p.indicator is not None and p.indicator == node.name],
    }
    spec = node.spec
    if spec is None:  # the time node
        attrs.update(op=None, aggregation=None, source={"law": "calendar", "calendar": b.calendar},
                     column="time", columns=["time"], role="column")
        return attrs
    attrs.update(op=spec.op, aggregation=spec.op, standardize=spec.standardize, nested=spec.nested,
                 noise_law=spec.noise, bias=None if spec.bias is None else spec.bias.tolist(),
                 noise_sd=spec.noise_sd if spec.kind == "numeric" else None)
    if spec.kind == "root":
        attrs["source"] = ({"law": "series", **vars(spec.series)} if spec.series is not None
                           else {"law": ROOT_NOISE_LABELS[spec.noise]})
    elif attrs["is_source"]:
        attrs["source"] = {"law": "Gumbel argmax", "bias": spec.bias.tolist()}
    else:
        attrs["source"] = None
    return attrs


def scm_trace(b: TableBuild, components: dict[int, dict]) -> ScmTrace:
    """The table's node graph (local, indicator and time nodes) with what the views show."""
    columns_on: dict[int, list[str]] = {}
    for c, plan in enumerate(b.columns):
        columns_on.setdefault(plan.node, []).append(f"col{c}")
    g = nx.DiGraph()
    for node in b.nodes:
        g.add_node(node.id, **_node_attrs(b, node, columns_on))
    for node in b.nodes:
        if node.spec is None:
            continue
        for k, (p, e) in enumerate(zip(node.parents, node.spec.edges)):
            params = e.params
            g.add_edge(p, node.id, family=e.family, d_in=e.d_in, d_out=e.d_out, params=params,
                       nested=node.spec.nested == k, label=_edge_label(params))
    foreign = sorted({f"{c.source_table}.n{c.source} ({c.kind}{' ' + c.how if c.how else ''} via {c.fk})"
                      for node in b.nodes for c in node.crossings})
    share = len(b.feature_nodes) / b.n_local if b.n_local else 0.0
    return ScmTrace(table=b.name, graph=g, layout=b.layout.label, layout_params=_plain(dict(b.layout_info)),
                    mode="v2", column_node_share=share, foreign_inputs=foreign, source_components=components)


def _edge_label(params: dict) -> str:
    fam = params["family"]
    if fam == "linear":
        return f"linear({params['transform']}, w={params['weight']:.3g})"
    if fam == "mlp":
        return f"mlp({'-'.join(map(str, params['widths']))}, {'/'.join(params['activations'])})"
    if fam == "tree":
        return f"tree({params['trees']} x depth {params['depth']})"
    if fam == "matrix" and params.get("nested"):
        return "matrix(nested mask)"
    return fam


def _table_summary(b: TableBuild, n: int, col_plans: dict[str, dict]) -> dict[str, Any]:
    kinds = [x.kind for x in b.local]
    return {
        "role": b.plan.role, "kind": "entity" if b.plan.role == STATIC else "activity", "rows": int(n),
        "nodes": b.n_local, "node_layout": b.layout.label, "node_layout_info": _plain(dict(b.layout_info)),
        "categorical_nodes": kinds.count("categorical"), "root_nodes": kinds.count("root"),
        "ops": [x.spec.op for x in b.local], "dims": [x.dim for x in b.local],
        "feature_nodes": list(b.feature_nodes), "columns": col_plans, "calendar": b.calendar,
        "indicators": [x.name for x in b.nodes if x.kind == "indicator"],
        "tainted": sorted(b.tainted), "self_tree": b.plan.self_tree is not None,
        "warped_prior": b.prior.to_dict(),
    }


def _graph(plan: SchemaPlan, aggregated: set[str]) -> nx.DiGraph:
    """The table DAG for the views: node attrs kind, rows, node_id, generation (+ v2 extras)."""
    g = nx.DiGraph()
    for gen, names in enumerate(nx.topological_generations(plan.graph)):
        for name in sorted(names, key=lambda s: int(s[1:])):
            t = plan.tables[name]
            g.add_node(name, kind="entity" if t.role == STATIC else "activity", rows=int(t.rows), node_id=t.index,
                       generation=gen, role=t.role, self_tree=t.self_tree is not None,
                       aggregated=name in aggregated, time_col=t.time_col)
    for t in plan.tables.values():
        for fk in t.fkeys:
            if g.has_edge(fk.parent, t.name):
                g.edges[fk.parent, t.name]["columns"].append(fk.column)
            else:
                g.add_edge(fk.parent, t.name, fkey_col=fk.column, columns=[fk.column], deferred=False)
    return g


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Realized:
    """Stages 1-6 of one v2 database, before observation: what :func:`assemble_v2` turns into tables.

    ``values`` holds every node's value keyed by (table, node id) in the propagation's row order
    (before the time sort, the identity for prior output); ``times`` the event times per table;
    ``links`` the parent row per child row (-1 = null) per key "child.column", ``link_infos``
    the link models' traces; ``order`` the propagation order over (table index, node id).
    """

    schema_prior: SchemaPrior
    table_prior: TablePrior
    seed: int
    warp_kappa: tuple[float, float] | None
    plan: SchemaPlan
    builds: dict[str, TableBuild]
    crossings: list[Crossing]
    links: dict[str, np.ndarray]
    link_infos: dict[str, dict]
    values: dict[tuple[str, int], np.ndarray]
    times: dict[str, np.ndarray]
    components: dict[str, dict[int, dict]]
    order: list[tuple[int, int]]
    timings: dict[str, float]
    notes: list[str]

    @property
    def rows(self) -> dict[str, int]:
        return {name: t.rows for name, t in self.plan.tables.items()}

    def node(self, table: str, name: str) -> NodePlan:
        """The node called ``name`` (``n3``, ``m2``, ``time``) of ``table``."""
        return next(x for x in self.builds[table].nodes if x.name == name)


def _check_inputs(schema_prior, table_prior, seed) -> int:
    if not isinstance(schema_prior, SchemaPrior):
        raise TypeError(f"schema_prior: expected SchemaPrior, got {type(schema_prior).__name__}")
    if not isinstance(table_prior, TablePrior):
        raise TypeError(f"table_prior: expected TablePrior, got {type(table_prior).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def realize_v2(schema_prior: SchemaPrior, table_prior: TablePrior, seed: int, *,
               warp_kappa: tuple[float, float] | None = KAPPA) -> Realized:
    """Stages 1-6 (schema, warps, builds, crossings, links, propagation) of :func:`generate_v2`."""
    seed = _check_inputs(schema_prior, table_prior, seed)
    sp, tp = schema_prior, table_prior
    timings: dict[str, float] = {}
    notes: list[str] = ["v2 design space (PLUREL_V2_SPEC)"]
    lap = _Laps(timings)

    plan = sample_schema_plan(sp, stream(seed, SCHEMA), rows_rng=stream(seed, ROWS))
    lap("schema")
    kappa = None if warp_kappa is None else (float(warp_kappa[0]), float(warp_kappa[1]))
    priors = {name: (tp if kappa is None else tp.warp(stream(seed, WARP, t.index), kappa))
              for name, t in plan.tables.items()}  # t0 first, every warp before any build
    lap("warp")
    builds = {name: build_table(t, priors[name], stream(seed, BUILD, t.index)) for name, t in plan.tables.items()}
    for b in builds.values():
        notes += b.notes
    lap("build")
    crossings = wire_crossings(plan, builds, sp, seed, notes)
    lap("crossings")

    rows = {name: t.rows for name, t in plan.tables.items()}
    links: dict[str, np.ndarray] = {}
    infos: dict[str, dict] = {}
    for t in plan.tables.values():
        for pos, fk in enumerate(t.all_fkeys):
            index, info = sample_link(fk.link, rows[t.name], rows[fk.parent], stream(seed, LINKS, t.index, pos),
                                      fk.null_rate)
            links[fk.key], infos[fk.key] = index, info
    lap("links")

    values, times, components, order = propagate(builds, links, rows, seed)
    lap("propagate")
    return Realized(sp, tp, seed, kappa, plan, builds, crossings, links, infos, values, times, components, order,
                    timings, notes)


def generate_v2(schema_prior: SchemaPrior, table_prior: TablePrior, seed: int, *, config=None,
                warp_kappa: tuple[float, float] | None = KAPPA, keep_node_values: bool = False) -> Database:
    """A v2 database (PLUREL_V2_SPEC §5) from the priors and the seed; the same inputs give the
    same bytes in any process or thread.

    ``config`` becomes ``Database.config`` (the paper Config renamed "v2" when None: the v2
    priors themselves are in ``trace.priors["database"]``); ``warp_kappa`` is the range of the
    warp concentration (None: no warping, every table draws from ``table_prior`` as it is).
    ``keep_node_values`` keeps every node's value in ``trace.scm[table].node_values`` (see
    :func:`assemble_v2`); the tables are the same bytes either way.
    """
    from plurel_core.config import Config
    from plurel_core.pipeline import generation_settings

    seed = _check_inputs(schema_prior, table_prior, seed)
    cfg = config if config is not None else Config().replace(name="v2")
    start = time.perf_counter()
    with generation_settings():
        realized = realize_v2(schema_prior, table_prior, seed, warp_kappa=warp_kappa)
        return assemble_v2(realized, cfg, start=start, keep_node_values=keep_node_values)


class _Laps:
    """``lap(name)`` stores the seconds since the previous lap (or since it was made) under ``name``."""

    def __init__(self, timings: dict[str, float]):
        self.timings, self.clock = timings, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self.clock
        self.clock = now


def assemble_v2(r: Realized, config, *, start: float | None = None, keep_node_values: bool = False) -> Database:
    """Stages 7-8 of :func:`generate_v2`: columns, time order, cut-offs, containers and traces.

    ``keep_node_values``: every node's value goes into ``trace.scm[table].node_values`` {node id:
    array} in propagation order (the table's entries of ``priors["propagation_order"]``): the
    (n, dim) float64 latent (one-hot rows for categorical and indicator nodes), the event times
    (datetime64[ns]) for the time node. Rows are in the propagation's order, the tables' own for
    prior output (the time sort is the identity). The latents are the propagation's arrays, not
    copies (nothing reads them after the columns are observed); the times are a copy of the column's.
    """
    timings, notes = dict(r.timings), list(r.notes)
    plan, builds, links, infos, rows = r.plan, r.builds, r.links, r.link_infos, r.rows
    lap = _Laps(timings)

    tables: dict[str, Table] = {}
    col_plans: dict[str, dict] = {}
    for name, b in builds.items():
        df, meta, col_plans[name] = observe_table(b, r.values, r.times, links, rows[name], r.seed)
        fkeys = {fk.column: fk.parent for fk in b.plan.all_fkeys}
        tables[name] = Table(df=df, pkey_col="id", fkey_col_to_pkey_table=fkeys,
                             time_col=b.plan.time_col, kind="entity" if b.plan.role == STATIC else "activity",
                             columns=meta)
    lap("observe")

    link_traces = {}
    for t in plan.tables.values():
        for fk in t.all_fkeys:
            link_traces[fk.key] = link_trace(fk, links[fk.key], infos[fk.key], rows[fk.parent])
    moved = time_order(tables, link_traces)
    if moved:
        notes.append(f"sorted by time and re-keyed: {', '.join(moved)}")
    lap("time_order")
    event_times = [t.df[t.time_col] for t in tables.values() if t.time_col]
    val, test = split_timestamps(event_times, r.schema_prior.val_share, r.schema_prior.test_share)
    lap("split")

    by_index = {b.plan.index: b for b in builds.values()}
    aggregated = {c.reader_table for c in r.crossings if c.kind == "aggregate"}
    graph = _graph(plan, aggregated)
    scm = {name: scm_trace(b, r.components[name]) for name, b in builds.items()}
    if keep_node_values:
        for ti, nid in r.order:
            b = by_index[ti]
            node_values = scm[b.name].node_values
            node_values[nid] = r.times[b.name].copy() if b.nodes[nid].kind == "time" else r.values[b.name, nid]
    link_info = {}
    for t in plan.tables.values():
        for fk in t.all_fkeys:
            link_info[fk.key] = link_summary(fk, infos[fk.key], link_traces[fk.key].parent_index, rows[fk.parent])
    sp = r.schema_prior
    trace_priors = {
        "design_space": "v2",
        "database": {
            "num_tables": len(plan.tables), "table_layout": plan.layout.label,
            "table_layout_info": _plain(dict(plan.layout_info)), "num_foreign_keys": len(links),
            "static_tables": plan.static_tables, "event_tables": plan.event_tables,
            "val_share": sp.val_share, "test_share": sp.test_share, "warp_kappa": _plain(r.warp_kappa),
            "max_concat_width": MAX_CONCAT_WIDTH, "quadratic_max_params": QUADRATIC_MAX_PARAMS,
            "schema_prior": sp.to_dict(), "table_prior": r.table_prior.to_dict(),
        },
        "tables": {name: _table_summary(b, rows[name], col_plans[name]) for name, b in builds.items()},
        "links": link_info,
        "crossings": [c.summary for c in r.crossings],
        "propagation_order": [f"{by_index[ti].name}.{by_index[ti].nodes[nid].name}" for ti, nid in r.order],
    }
    lap("traces")
    timings["stage1"] = sum(timings[k] for k in ("schema", "warp", "build", "crossings"))
    timings["stage2"] = timings["links"]
    timings["stage3"] = timings["propagate"]
    timings["postprocess"] = sum(timings[k] for k in ("observe", "time_order", "split", "traces"))
    timings["total"] = (time.perf_counter() - start) if start is not None else \
        sum(timings[k] for k in ("stage1", "stage2", "stage3", "postprocess"))
    lo, hi = (pd.Timestamp(s) for s in SPAN)
    trace = Trace(schema_graph=graph, table_layout=plan.layout.label, table_layout_params=_plain(dict(plan.layout_info)),
                  links=link_traces, scm=scm, priors=trace_priors, min_timestamp=lo, max_timestamp=hi,
                  val_timestamp=val, test_timestamp=test, timings=timings, notes=notes)
    return Database(tables=tables, config=config, seed=r.seed, trace=trace)
