"""How a v2 database is made, step by step (PLUREL_V2_SPEC.md): its toy database and steps.

The v2 design space has its own toy (:func:`v2_toy_config`: 2-6 tables, 20-40 static and 30-60
event rows, 3-8 nodes and 1-4 columns per table, 1-3 HSBM levels), from :func:`plurel_core.generate`
with ``keep_node_values=True``, and its own stages (:func:`v2_walkthrough`): the schema plan, every
key's link (random, HSBM level by level, or a self-tree), the three crossing passes, every node in
the propagation order over all tables, the columns (rank-mapped marginals, bins, classes,
missingness with its indicators), the event times against their calendars and the val / test
cut-offs. The step classes and the paper's steps it shares are in :mod:`plurel_core.walkthrough`;
:mod:`plurel_core.walk_plots` draws both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from plurel_core.config import Config, ConfigError, prior_specs
from plurel_core.database import Database
from plurel_core.pipeline import generate
from plurel_core.v2.calendar import CALENDARS, OVERSAMPLING, SPAN
from plurel_core.walkthrough import (
    SHOWN_COLUMNS,
    BlocksStep,
    ColumnChange,
    Knob,
    LinkStep,
    PostStep,
    SchemaStep,
    ScmStep,
    Step,
    _clamp,
    _diagonal,
    _fmt,
    _generations,
    _names,
    block_at_level,
    cluster_at_level,
    default_level,
    knob_changes,
)

# The same idea for the v2 design space: a toy database from ``generate`` with the sidebar's v2
# priors and smaller sizes, ``keep_node_values=True``, and steps that read everything from it.
V2_TOY_TABLES = (2, 6)
V2_TOY_STATIC_ROWS = (20, 40)
V2_TOY_EVENT_ROWS = (30, 60)
V2_TOY_NODES = (3, 8)
V2_TOY_COLUMNS = (1, 4)
V2_TOY_LEVELS = (1, 3)
SHOWN_SLOTS = 4  # slots of a wide node drawn in its histogram
CROSSING_PASSES = ("aggregate", "gather", "self_tree")


def _v2_options(path: str) -> tuple:
    return tuple(next(s for s in prior_specs("v2") if s.path == path).options)


V2_KNOBS: dict[str, Knob] = {
    "tables": Knob("Tables", "v2_schema.table_count", tuple(range(V2_TOY_TABLES[0], V2_TOY_TABLES[1] + 1))),
    "table_layout": Knob("Table layout", "v2_schema.table_layouts", _v2_options("v2_schema.table_layouts"),
                         "The generator of the table DAG (its edges run from the lower index to the higher)"),
    "self_tree": Knob("Self-tree probability", "v2_keys.self_tree_prob", (0.0, 0.3, 1.0),
                      "Each static table gets a parent_id key into itself (a forest) with this probability"),
    "nullable": Knob("Nullable-key probability", "v2_keys.fk_nullable_prob", (0.0, 0.3, 0.6, 1.0),
                     "Each key is nullable with this probability; its null rate is drawn from v2_keys.fk_null_rate"),
    "random_link": Knob("Random-link probability", "v2_links.link_random_prob", (0.0, 0.2, 0.5, 1.0),
                        "A key links uniformly at random with this probability, else by a hierarchical SBM"),
    "levels": Knob("HSBM levels", "v2_links.hsbm_levels", tuple(range(V2_TOY_LEVELS[0], V2_TOY_LEVELS[1] + 1))),
    "aggregate": Knob("Aggregate share", "v2_crossings.aggregate_share", (0.0, 0.5, 1.0),
                      "Probability that a key with a static child also carries aggregates into the parent"),
    "nodes": Knob("Nodes per table", "v2_mechanisms.node_count", tuple(range(V2_TOY_NODES[0], V2_TOY_NODES[1] + 1))),
    "node_layout": Knob("Node layout", "v2_mechanisms.node_layouts", _v2_options("v2_mechanisms.node_layouts"),
                        "The generator of every table's node graph"),
    "missing": Knob("Missing-column share", "v2_columns.column_missing_share", (0.0, 0.3, 0.6, 1.0),
                    "Probability that a column gets missing cells (at random or by an indicator node)"),
    "warp": Knob("Warp every table's prior", "v2_warping.warp", (True, False),
                 "On: each table draws from its own warped copy of the table prior"),
}
V2_KNOB_STAGES = {"v2_schema": ("tables", "table_layout", "self_tree"), "v2_links": ("nullable", "random_link", "levels"),
                  "v2_scm": ("aggregate", "nodes", "node_layout"), "v2_columns": ("missing", "warp")}


@dataclass(frozen=True)
class V2Knobs:
    """The page's v2 knob values (see :data:`V2_KNOBS`); ``None`` keeps the sidebar's prior."""

    tables: int | None = None
    table_layout: str | None = None
    self_tree: float | None = None
    nullable: float | None = None
    random_link: float | None = None
    levels: int | None = None
    aggregate: float | None = None
    nodes: int | None = None
    node_layout: str | None = None
    missing: float | None = None
    warp: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The config changes these knobs make (see :func:`knob_changes`)."""
        return knob_changes(vars(self), V2_KNOBS, "v2")


def is_v2(db: Database) -> bool:
    """Whether ``db`` comes from the v2 design space."""
    return db.trace.priors.get("design_space") == "v2"


def v2_toy_config(cfg: Config, knobs: V2Knobs = V2Knobs()) -> Config:
    """The sidebar's v2 config with only the sizes overridden, then the knobs applied.

    Tables: the sidebar's range clamped to 2-6; rows 20-40 for static and 30-60 for event
    tables; nodes per table clamped to 3-8, columns to 1-4 and HSBM levels to 1-3 (so that the
    blocks stay visible on a few dozen rows). A config of another design raises ConfigError
    naming ``design``.
    """
    if cfg.design != "v2":
        raise ConfigError("design", f"the v2 walkthrough follows the v2 design's stages (PLUREL_V2_SPEC.md); this "
                                    f"config has design {cfg.design!r}: use cfg.replace(design='v2')")
    ranges = {"v2_schema.table_count": V2_TOY_TABLES, "v2_mechanisms.node_count": V2_TOY_NODES,
              "v2_columns.column_count": V2_TOY_COLUMNS, "v2_links.hsbm_levels": V2_TOY_LEVELS}
    changes: dict[str, Any] = {path: _clamp(int(cfg.get(path).lo), int(cfg.get(path).hi), bounds)
                               for path, bounds in ranges.items()}
    changes["v2_schema.static_rows"] = V2_TOY_STATIC_ROWS
    changes["v2_schema.event_rows"] = V2_TOY_EVENT_ROWS
    changes.update(knobs.changes())
    return cfg.replace(**changes)


def v2_toy_database(cfg: Config, seed: int, knobs: V2Knobs = V2Knobs()) -> Database:
    """The v2 toy database: ``generate(v2_toy_config(cfg, knobs), seed, keep_node_values=True)``."""
    return generate(v2_toy_config(cfg, knobs), seed, keep_node_values=True)


@dataclass
class CrossingStep(Step):
    """Stage 3 (v2): one pass of crossing edges over the graph of every table's nodes.

    ``graph`` is :func:`dependency_graph`; ``crossings`` the summaries (``trace.priors["crossings"]``)
    of this pass, ``earlier`` those of the passes before; ``tainted`` the nodes ("t0.n2") that
    aggregates made tainted.
    """

    kind: str = ""  # "aggregate" | "gather" | "self_tree"
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    crossings: list[dict] = field(default_factory=list)
    earlier: list[dict] = field(default_factory=list)
    tainted: list[str] = field(default_factory=list)


@dataclass
class V2NodeStep(ScmStep):
    """Stage 4 (v2): one node in the propagation order over every table's nodes.

    ``values`` is the node's value as propagation left it: (n, dim) float64 (one-hot rows for a
    categorical or indicator node), or the event times of the time node. ``inputs`` lists its
    local edges and crossing edges (:func:`node_inputs`); ``position`` is its 0-based place in
    the whole propagation order of ``total`` nodes.
    """

    label: str = ""  # "t0.n3"
    kind: str = ""  # root | numeric | categorical | indicator | time
    dim: int = 1
    inputs: list[dict] = field(default_factory=list)
    position: int = 0
    total: int = 0


@dataclass
class TimeStep(Step):
    """Stage 6 (v2): the event times of one table and the calendar they were drawn from."""

    table: str = ""
    calendar: str = ""
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[ns]"))
    weekday_weights: tuple[float, ...] = ()
    hour_weights: tuple[float, ...] = ()


@dataclass
class CutoffStep(Step):
    """Stage 6 (v2): the pooled event times and the validation / test cut-offs."""

    times: dict[str, np.ndarray] = field(default_factory=dict)  # event table -> its times
    val_timestamp: Any = None
    test_timestamp: Any = None
    val_share: float = 0.1
    test_share: float = 0.1


def _range_text(r: Any) -> str:
    return f"{_fmt(r.lo)}-{_fmt(r.hi)}" if hasattr(r, "lo") else _fmt(r)


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def v2_schema_steps(db: Database) -> list[SchemaStep]:
    """Stage 1 (v2): one step per topological generation of the table DAG, then roles and rows."""
    tr, cfg = db.trace, db.config
    g = tr.schema_graph
    self_trees = [n for n, d in g.nodes(data=True) if d.get("self_tree")]
    params = ", ".join(f"{k} = {_fmt(v)}" for k, v in tr.table_layout_params.items()) or "none"
    keys = {f"{c}.{col}": p for c, t in db.tables.items() for col, p in t.fkey_col_to_pkey_table.items()}
    facts = {"layout": tr.table_layout, "layout trace": params, "tables": str(g.number_of_nodes()),
             "keys": str(len(keys)), "self-trees": _names(self_trees) if self_trees else "none"}
    steps, shown = [], []
    generations = _generations(g)
    for gen, new in generations:
        shown = shown + new
        if gen == 0:
            caption = (f"Stage 1 draws the table layout first ({tr.table_layout}), then the table count "
                       f"{g.number_of_nodes()} (log-uniform in {_range_text(cfg.get('v2_schema.table_count'))}) "
                       f"and the layout's graph over t0 to t{g.number_of_nodes() - 1}, every edge oriented from "
                       f"the lower index to the higher, so generation 0 holds the tables without a parent: "
                       f"{_names(new)}. An arrow parent → child gives the child a key column named after the parent "
                       f"(t0 → t1 gives t1.t0_id; a second one, t1.t0_id2, with probability "
                       f"{_fmt(cfg.get('v2_keys.fk_duplicate_prob'))}), whose values are rows of the parent.")
        else:
            cols = [f"{c}.{col} → {p}" for c in new for col, p in db.tables[c].fkey_col_to_pkey_table.items()
                    if p != c]
            one = len(new) == 1
            caption = (f"Stage 1, generation {gen}: {_names(new)} {'joins' if one else 'join'} because all "
                       f"{'its' if one else 'their'} parents appeared in earlier generations, with the key "
                       f"columns {_names(cols)}. Each key also draws whether it is nullable (probability "
                       f"{_fmt(cfg.get('v2_keys.fk_nullable_prob'))}, then a null rate in "
                       f"{_range_text(cfg.get('v2_keys.fk_null_rate'))}) and its link model, shown in stage 2.")
        steps.append(SchemaStep("v2_schema", f"Schema plan: generation {gen}", caption,
                                {**facts, "new tables": _names(new)}, graph=g, generation=gen, shown=list(shown),
                                new=new, labels=("static table", "event table"), self_trees=self_trees))
    static = [n for n in shown if g.nodes[n]["role"] == "static"]
    event = [n for n in shown if g.nodes[n]["role"] != "static"]
    rows = ", ".join(f"{n}: {g.nodes[n]['rows']}" for n in shown)
    trees = (f"; static tables get a self-tree key parent_id with probability "
             f"{_fmt(cfg.get('v2_keys.self_tree_prob'))} ({_names(self_trees) if self_trees else 'none here'}, "
             f"marked ↺)")
    caption = (f"Stage 1 calls every table that another table references static ({_names(static) if static else 'none'}"
               f", blue: no time column) and every unreferenced table an event table ({_names(event)}, orange: "
               f"it gets a time column){trees}. Row counts come from their own stream, log-uniform in "
               f"{_range_text(cfg.get('v2_schema.static_rows'))} for static and "
               f"{_range_text(cfg.get('v2_schema.event_rows'))} for event tables in this toy (the authors: 500-1000 "
               f"and 10k-30k).")
    steps.append(SchemaStep("v2_schema", "Schema plan: static and event tables", caption, {**facts, "rows": rows},
                            graph=g, generation=generations[-1][0], shown=list(shown), new=[], kinds_shown=True,
                            labels=("static table", "event table"), self_trees=self_trees))
    return steps


def _null_text(info: dict, n_child: int) -> str:
    nulls = int(round(info["null_share"] * n_child))
    if info["self_tree"]:
        return f"its {nulls} roots are null"
    if info["nullable"]:
        return f"then each child row is null with probability {_fmt(info['null_rate'])} ({nulls} null here)"
    return "the key is not nullable, so no row is null"


def v2_link_steps(db: Database, fk: str) -> list[Step]:
    """Stage 2 (v2) for the key ``fk`` ("child.column"): one step per HSBM level (HSBM links
    only), then every child row's parent with the children-per-parent histogram and the nulls."""
    lt = db.trace.links[fk]
    info = db.trace.priors["links"][fk]
    model = info["model"]
    n_parent, n_child = len(db.tables[lt.parent]), len(lt.parent_index)
    idx = np.asarray(lt.parent_index, dtype=np.int64)
    counts = np.bincount(idx[idx >= 0], minlength=n_parent)
    nulls = int((idx < 0).sum())
    facts = {"key": lt.name, "link model": model, "parent rows": str(n_parent), "child rows": str(n_child),
             "null references": str(nulls), "nullable": "yes (self-tree roots)" if info["self_tree"]
             else ("yes, rate " + _fmt(info["null_rate"]) if info["nullable"] else "no")}
    steps: list[Step] = []
    level = 0
    inactive = np.zeros(0, np.int64)
    if model == "hsbm":
        levels = lt.levels
        level = default_level(lt)
        inactive = np.asarray(info["inactive_parents"], dtype=np.int64)
        facts.update({"levels L": str(levels), "parent clusters": _fmt(lt.h_parent),
                      "child clusters": _fmt(lt.h_child), "within law": info["within"],
                      "between law": info["between"], "cluster weights": info["cluster_weights"],
                      "popularity": info["popularity"], "inactive parents": f"{len(inactive)} "
                      f"(share {_fmt(info['inactive_share'])})"})
        for lv in range(levels):
            pb = block_at_level(lt.parent_block, lt.h_parent, lv)
            cb = block_at_level(lt.child_block, lt.h_child, lv)
            m = np.asarray(lt.block_matrices[lv], dtype=np.float64)
            hp, hc = lt.h_parent[lv], lt.h_child[lv]
            inside = "" if lv == 0 else " inside every block of the level above"
            sizes = ("equal shares" if info["cluster_weights"] == "None"
                     else f"shares drawn from {info['cluster_weights']}")
            if _diagonal(hp, hc).all():
                effect = (f"Every cell of M_{lv + 1} (right) is a within draw because one side has a single "
                          f"cluster, so this level favours no block.")
            else:
                effect = (f"The matrix M_{lv + 1} (right) holds within draws ({info['within']}) on the matched cells "
                          f"(i mod {hp}, i mod {hc}) and between draws ({info['between']}) elsewhere, so a child "
                          f"prefers parents of its matched cluster.")
            caption = (f"Stage 2, key {lt.name} (HSBM), level {lv + 1} of {levels}: the {n_parent} rows of "
                       f"{lt.parent} are cut into {_plural(hp, 'cluster')} and the {n_child} rows of {lt.child} "
                       f"into {hc}{inside}, as contiguous row ranges with {sizes}. {effect}")
            steps.append(BlocksStep("v2_links", f"Key {lt.name}: HSBM level {lv + 1}", caption, dict(facts), fk=fk,
                                    parent=lt.parent, child=lt.child, level=lv, parent_block=pb, child_block=cb,
                                    parent_cluster=cluster_at_level(lt.parent_block, lt.h_parent, lv),
                                    child_cluster=cluster_at_level(lt.child_block, lt.h_child, lv), matrix=m))
        pop = "1 for every parent" if info["popularity"] == "None" else f"drawn from {info['popularity']}"
        caption = (f"Stage 2, key {lt.name}: each child row of {lt.child} draws one parent row of {lt.parent} with "
                   f"probability ∝ w_parent × Π_l M_l[parent cluster, child cluster] by inverse CDF, where the "
                   f"popularity w is {pop} and {len(inactive)} inactive parents get w = 0; "
                   f"{_null_text(info, n_child)}. The histogram counts children per parent: "
                   f"{int((counts == 0).sum())} of {n_parent} parents got none and the busiest got "
                   f"{int(counts.max()) if len(counts) else 0}.")
    elif model == "tree":
        facts.update({"roots share": _fmt(info["roots_share"]), "roots": str(info["roots"]),
                      "depth": str(info["depth"])})
        caption = (f"Stage 2, key {lt.name} is a self-tree of {lt.child}: row i points at row floor(U × i), always an "
                   f"earlier row, and is a root with probability {_fmt(info['roots_share'])} (row 0 always), so "
                   f"{lt.child} becomes a forest with {info['roots']} roots and depth {info['depth']}; "
                   f"{_null_text(info, n_child)}. The histogram counts children per row: {int((counts == 0).sum())} "
                   f"of {n_parent} rows have none and the busiest has {int(counts.max()) if len(counts) else 0}.")
    else:
        caption = (f"Stage 2, key {lt.name} is a random link: each child row of {lt.child} references a parent row of "
                   f"{lt.parent} drawn uniformly, with no blocks and no popularity; {_null_text(info, n_child)}. "
                   f"The histogram counts children per parent: {int((counts == 0).sum())} of {n_parent} parents got "
                   f"none and the busiest got {int(counts.max()) if len(counts) else 0}.")
    steps.append(LinkStep("v2_links", f"Key {lt.name}: every child picks a parent", caption, dict(facts), fk=fk,
                          parent=lt.parent, child=lt.child, level=level,
                          parent_block=block_at_level(lt.parent_block, lt.h_parent, level),
                          child_block=block_at_level(lt.child_block, lt.h_child, level),
                          parent_index=idx, children_per_parent=counts, model=model, inactive=inactive))
    return steps


def _node_name(db: Database, table: str, node: int) -> str:
    return db.trace.scm[table].graph.nodes[node]["name"]


def dependency_graph(db: Database) -> nx.DiGraph:
    """The graph over every table's nodes ("t0.n3"): local edges (``kind`` "local") and crossing
    edges (``kind`` aggregate / gather / self_tree, with ``fk`` and ``how``). Node attributes:
    table, node (id), name, type, tainted. Propagation evaluates it in one topological order."""
    g = nx.DiGraph()
    for table, tr in db.trace.scm.items():
        for n, d in tr.graph.nodes(data=True):
            g.add_node(f"{table}.{d['name']}", table=table, node=int(n), name=d["name"], type=d["type"],
                       tainted=bool(d.get("tainted")), role=d["role"])
        for a, b in tr.graph.edges:
            g.add_edge(f"{table}.{_node_name(db, table, a)}", f"{table}.{_node_name(db, table, b)}", kind="local")
    for c in db.trace.priors["crossings"]:
        source = f"{c['source_table']}.{_node_name(db, c['source_table'], c['source'])}"
        reader = f"{c['reader_table']}.{_node_name(db, c['reader_table'], c['reader'])}"
        g.add_edge(source, reader, kind=c["kind"], fk=c["fk"], how=c["how"])
    return g


def propagation_order(db: Database) -> list[tuple[str, int]]:
    """``trace.priors["propagation_order"]`` as (table, node id) pairs."""
    ids = {t: {d["name"]: int(n) for n, d in tr.graph.nodes(data=True)} for t, tr in db.trace.scm.items()}
    out = []
    for item in db.trace.priors["propagation_order"]:
        table, name = item.split(".", 1)
        out.append((table, ids[table][name]))
    return out


def _crossing_text(c: dict, db: Database) -> str:
    src = f"{c['source_table']}.{_node_name(db, c['source_table'], c['source'])}"
    reader = f"{c['reader_table']}.{_node_name(db, c['reader_table'], c['reader'])}"
    how = f" {c['how']}" if c.get("how") else ""
    return f"{reader} ← {src}{how} ({c['family']})"


def crossing_steps(db: Database) -> list[CrossingStep]:
    """Stage 3 (v2): the three crossing passes in the pipeline's order (aggregates, gathers,
    self-tree gathers), each over the graph of every table's nodes."""
    cfg = db.config
    g = dependency_graph(db)
    crossings = db.trace.priors["crossings"]
    tainted = [n for n, d in g.nodes(data=True) if d["tainted"]]
    by_kind = {k: [c for c in crossings if c["kind"] == k] for k in CROSSING_PASSES}
    rule = ("a tainted node is never gathered back into a child, the one rule that keeps the graph over "
            "(table, node) acyclic")
    steps = []
    for i, kind in enumerate(CROSSING_PASSES):
        mine = by_kind[kind]
        keys = sorted({c["fk"] for c in mine})
        shown = _names([_crossing_text(c, db) for c in mine[:6]]) + (f" and {len(mine) - 6} more" if len(mine) > 6
                                                                      else "")
        facts = {"edges of this pass": str(len(mine)), "keys": _names(keys) if keys else "none",
                 "tainted nodes": _names(tainted) if tainted else "none",
                 "crossing edges in all": str(len(crossings))}
        if kind == "aggregate":
            marked = [f"{c}.{col}" for c, t in db.tables.items() for col in t.fkey_col_to_pkey_table
                      if db.trace.priors["links"][f"{c}.{col}"]["aggregate"]]
            facts["keys marked for aggregates"] = _names(marked) if marked else "none"
            if mine:
                caption = (f"Stage 3 wires the crossings between tables in three passes, first the aggregates: each "
                           f"key whose child is static carries them with probability "
                           f"{_fmt(cfg.get('v2_crossings.aggregate_share'))}, and some parent nodes then read a "
                           f"summary (count, sum, mean, max or min) of child nodes over the linked child rows, here "
                           f"{shown}. Those readers and their local descendants become tainted (ringed), and {rule}.")
            else:
                caption = (f"Stage 3 wires the crossings between tables in three passes, first the aggregates, "
                           f"carried with probability {_fmt(cfg.get('v2_crossings.aggregate_share'))} by each key "
                           f"whose child is static: no key carries one here, so no parent reads a summary of its "
                           f"children and no node is tainted. A reader of an aggregate and its local descendants "
                           f"would be tainted, and {rule}.")
        elif kind == "gather":
            caption = (f"Stage 3, second pass: for every key some nodes of the child read untainted parent nodes at "
                       f"the linked parent row (0 on a null reference), each reader joining with the child's "
                       f"key-reader share and getting a fresh edge per source from the child's warped prior"
                       f"{', here ' + shown if mine else ''}. "
                       + (f"That gives {_plural(len(mine), 'gather edge')} over {_plural(len(keys), 'key')}."
                          if mine else "No key drew a gather source here, so no child reads its parents."))
        else:
            trees = [n for n, d in db.trace.schema_graph.nodes(data=True) if d.get("self_tree")]
            if trees:
                caption = (f"Stage 3, third pass: in a table with a self-tree ({_names(trees)}) the nodes with local "
                           f"parents may read untainted root nodes at the tree parent's row, like a gather along "
                           f"parent_id. " + (f"Here that gives {shown}." if mine else
                                             "No such edge was drawn here, so the trees carry keys only."))
            else:
                caption = ("Stage 3, third pass: in a table with a self-tree, nodes with local parents may read "
                           "untainted root nodes at the tree parent's row. No table has a self-tree here, so this "
                           "pass adds nothing.")
        steps.append(CrossingStep("v2_crossings", f"Crossings, pass {i + 1}: "
                                  + {"aggregate": "aggregates", "gather": "gathers",
                                     "self_tree": "self-tree gathers"}[kind], caption, facts, kind=kind, graph=g,
                                  crossings=mine, earlier=[c for k in CROSSING_PASSES[:i] for c in by_kind[k]],
                                  tainted=tainted))
    return steps


def node_inputs(db: Database, table: str, node: int) -> list[dict]:
    """The inputs of a v2 node: its local edges (``kind`` "local", in parent order) then its
    crossing edges, each with ``source`` ("n2" or "t0.n3"), ``family`` and ``label``."""
    g = db.trace.scm[table].graph
    out = []
    for p in sorted(g.predecessors(node)):
        e = g.edges[p, node]
        out.append({"kind": "local", "source": g.nodes[p]["name"], "node": int(p), "family": e["family"],
                    "label": e["label"], "nested": bool(e.get("nested"))})
    for c in g.nodes[node].get("crossings") or []:
        out.append({"kind": c["kind"], "source": f"{c['source_table']}.{_node_name(db, c['source_table'], c['source'])}",
                    "node": int(c["source"]), "family": c["family"], "label": c["label"], "fk": c["fk"],
                    "how": c["how"]})
    return out


def _feeds(d: dict) -> str:
    cols = [c for c in d.get("columns") or [] if c != "time"]
    masks = d.get("masks") or []
    if masks:
        return f"its class 1 masks {_names(masks)}"
    if cols:
        return f"{_names(cols)} {'is' if len(cols) == 1 else 'are'} observed from it"
    return "no column reads it, so it stays latent"


def _across_text(crossings: list[dict]) -> str:
    """"sum of its 2 crossing inputs (gather of t0.n1 via t1.t0_id, ...)", or "" without any."""
    if not crossings:
        return ""
    parts = [f"{c['kind'].replace('_', '-')}{' ' + c['how'] if c.get('how') else ''} of {c['source']} via {c['fk']}"
             for c in crossings]
    return f"sum of its {_plural(len(crossings), 'crossing input')} ({_names(parts)})"


def _v2_node_caption(db: Database, table: str, node: int, position: int, total: int, inputs: list[dict]) -> str:
    g = db.trace.scm[table].graph
    d = g.nodes[node]
    head = f"Stage 4, node {position + 1} of {total}: {table}.{d['name']}"
    local = [x for x in inputs if x["kind"] == "local"]
    across = _across_text([x for x in inputs if x["kind"] != "local"])
    edges = _names([f"{x['source']} ({x['label']})" for x in local])
    n = len(db.tables[table])
    kind = d["kind"]
    if kind == "time":
        return (f"{head} is the time node of an event table: it has no input and draws {n} sorted event times from "
                f"the {d['source']['calendar']} calendar (stage 6 shows how). No node reads it, so it feeds no "
                f"value into the graph; it becomes the time column.")
    if kind == "indicator":
        rate = 1.0 / (1.0 + math.exp(-float(d["bias"][1])))
        fired = int((np.asarray(db.trace.scm[table].node_values[node])[:, 1] > 0.5).sum())
        return (f"{head} is the indicator behind the structured missingness of {_names(d['masks'])}: it reads "
                f"{edges}, adds the bias (0, logit {_fmt(rate)}) and Gumbel noise and takes the argmax of two "
                f"classes. Class 1 fires on {fired} of {n} rows, and exactly those cells of "
                f"{_names(d['masks'])} go missing in stage 5.")
    tail = (f"The {'bars count the rows of each class' if d['type'] == 'categorical' else 'histogram shows its values'}"
            f" over the {n} rows, and {_feeds(d)}.")
    if kind == "root":
        src = d.get("source") or {}
        if src.get("law") == "series":
            what = (f"a time-series root of width {d['dim']}: over the row index t in [0, 1] its value is "
                    f"s·t^α + a·sin(2πPt + φ) + AR(1) noise (s = {_fmt(src['scale'])}, α = {_fmt(src['alpha'])}, "
                    f"a = {_fmt(src['amplitude'])}, P = {_fmt(src['periods'])}, ρ = {_fmt(src['rho'])}, "
                    f"σ = {_fmt(src['sigma'])}, parts drawn below)")
        else:
            what = f"a root (no local parent) of width {d['dim']}, so its value is raw {src.get('law')} noise"
        return f"{head} is {what}{' plus the z-scored ' + across if across else ''}. {tail}"
    if kind == "categorical":
        if not local:
            return (f"{head} is a categorical node with {d['dim']} classes and no local parent, so each row's class "
                    f"is the argmax of a bias N(0, 0.5) per class plus Gumbel noise"
                    f"{' plus the z-scored ' + across if across else ''}. {tail}")
        nested = [x["source"] for x in local if x["nested"]]
        std = (f"left unstandardized because {nested[0]} is a nested parent (its edge masks the classes)" if nested
               else "z-scored")
        return (f"{head} is a categorical node with {d['dim']} classes: its local edges {edges} are summed"
                f"{' together with the ' + across if across else ''}, {std}, then a bias N(0, 0.5) and Gumbel noise are added and the argmax picks one class per row. "
                f"{tail}")
    capped = f" (a concat of width {d['capped_from']} capped to a sum)" if d.get("capped_from") else ""
    return (f"{head} is numeric of width {d['dim']}: each local parent passes through its own edge, {edges}, the "
            f"outputs are reduced by {d['op']}{capped}{', the ' + across + ' is added' if across else ''}, and the "
            f"result is z-scored before N(0, {_fmt(d['noise_sd'])}) noise is added per slot. {tail}")


def v2_scm_steps(db: Database, table: str | None = None) -> list[ScmStep]:
    """Stage 4 (v2): an overview of each table's node graph, then every node in the propagation
    order over all tables (``trace.priors["propagation_order"]``), or only ``table``'s.

    Needs a database generated with ``keep_node_values=True``.
    """
    tables = [t for t in db.tables if table is None or t == table]
    for t in tables:
        if not db.trace.scm[t].node_values:
            raise ValueError(f"{t}: no node values in the trace; generate with keep_node_values=True")
    order = propagation_order(db)
    per_table = {t: [n for tt, n in order if tt == t] for t in db.tables}
    tp = db.trace.priors
    steps: list[ScmStep] = []
    for t in tables:
        tr = db.trace.scm[t]
        g = tr.graph
        summary = tp["tables"][t]
        local = [n for n, d in g.nodes(data=True) if d["kind"] not in ("indicator", "time")]
        extra = [g.nodes[n]["name"] for n in g.nodes if g.nodes[n]["kind"] in ("indicator", "time")]
        feature = [g.nodes[n]["name"] for n in summary["feature_nodes"]]
        columns = [f"{c} on {p['node_name']}" for c, p in summary["columns"].items()]
        warp = tp["database"]["warp_kappa"]
        facts = {"table": f"{t} ({summary['role']}, {summary['rows']} rows)", "node layout": tr.layout,
                 "nodes": f"{len(local)} local" + (f" + {_names(extra)}" if extra else ""),
                 "categorical nodes": str(summary["categorical_nodes"]), "roots": str(summary["root_nodes"]),
                 "feature nodes": _names(feature), "columns": _names(columns),
                 "warp κ": "off" if warp is None else f"{_fmt(warp[0])}-{_fmt(warp[1])}",
                 "crossing inputs": _names(tr.foreign_inputs) if tr.foreign_inputs else "none"}
        more = f", plus {_names(extra)}" if extra else ""
        caption = (f"Stage 4 builds {t}'s node graph from its own {'warped ' if warp is not None else ''}copy of the "
                   f"table prior: {len(local)} nodes from the {tr.layout} layout, {summary['categorical_nodes']} of "
                   f"them categorical and {_plural(summary['root_nodes'], 'numeric root')}{more}, with the columns "
                   f"{_names(columns)} on its feature nodes. Every node is evaluated for all rows at once in one "
                   f"topological order over the nodes of all tables, so a node waits for its local parents and for "
                   f"the nodes its crossing edges read.")
        steps.append(ScmStep("v2_scm", f"Nodes of {t}: the graph", caption, facts, table=t, graph=g,
                             order=per_table[t], foreign_inputs=list(tr.foreign_inputs)))
    for position, (t, node) in enumerate(order):
        if t not in tables:
            continue
        tr = db.trace.scm[t]
        g = tr.graph
        d = g.nodes[node]
        inputs = node_inputs(db, t, node)
        done = per_table[t][: per_table[t].index(node)]
        facts = {"node": f"{t}.{d['name']} ({d['kind']}, width {d['dim']})",
                 "inputs": "; ".join(f"{x['source']} via {x['label']}"
                                     + ("" if x["kind"] == "local" else f" ({x['kind']}{' ' + x['how'] if x.get('how') else ''}"
                                                                        f" over {x['fk']})") for x in inputs) or "none",
                 "reduction": d.get("op") or "-", "columns": _names(d["columns"]) if d["columns"] else "none"}
        comps = tr.source_components.get(node)
        if comps is not None:
            comps = {k: np.asarray(v)[:, 0] if np.ndim(v) == 2 else np.asarray(v) for k, v in comps.items()}
        categorical = d["type"] == "categorical"
        steps.append(V2NodeStep("v2_scm", f"Nodes of {t}: {d['name']} ({d['kind']})",
                                _v2_node_caption(db, t, node, position, len(order), inputs), facts, table=t,
                                graph=g, order=per_table[t], done=done, node=node,
                                parents=[(x["node"], math.nan) for x in inputs if x["kind"] == "local"],
                                foreign_inputs=[x["source"] for x in inputs if x["kind"] != "local"],
                                aggregation=d.get("op"), source=d.get("source"), values=tr.node_values[node],
                                categorical=categorical, components=comps, label=f"{t}.{d['name']}",
                                kind=d["kind"], dim=int(d["dim"]), inputs=inputs, position=position,
                                total=len(order)))
    return steps


def _column_plans(db: Database, tables: list[str]) -> list[tuple[str, str, dict]]:
    return [(t, c, p) for t in tables for c, p in db.trace.priors["tables"][t]["columns"].items()]


def _latent(db: Database, table: str, plan: dict) -> np.ndarray:
    return np.asarray(db.trace.scm[table].node_values[plan["node"]], dtype=np.float64)


def argmax_codes(onehot: np.ndarray) -> np.ndarray:
    """The class of each row of a one-hot value (-1 where the row is all zero)."""
    onehot = np.asarray(onehot, dtype=np.float64)
    codes = onehot.argmax(1).astype(np.int64)
    codes[~(onehot != 0).any(1)] = -1
    return codes


def _missing_table(db: Database) -> str:
    """The table the missing-cells step shows by default: the first with a structured column
    whose indicator fired, else with a missing cell, else with a missing plan, else the first."""
    tables = db.trace.priors["tables"]

    def fired(t: str, p: dict) -> bool:
        return p["missing"] == "structured" and bool((db.trace.scm[t].node_values[p["indicator_node"]][:, 1] > 0.5).any())

    tests = (lambda t, p: fired(t, p), lambda t, p: p["missing_count"] > 0, lambda t, p: p["missing"] != "none")
    for test in tests:
        for t in db.tables:
            if any(test(t, p) for p in tables[t]["columns"].values()):
                return t
    return next(iter(db.tables))


def v2_column_steps(db: Database, table: str | None = None, limit: int = SHOWN_COLUMNS) -> list[PostStep]:
    """Stage 5 (v2): numeric columns by rank mapping, binned and categorical columns, then the
    missing cells of one table with its indicators. ``table``'s columns come first (default: the
    first table), up to ``limit`` per step; the missing cells are ``table``'s (default:
    :func:`_missing_table`)."""
    first = table if table in db.tables else next(iter(db.tables))
    order = [first] + [t for t in db.tables if t != first]
    plans = _column_plans(db, order)
    cfg = db.config
    numeric = [x for x in plans if x[2]["kind"] == "numeric"]
    numeric.sort(key=lambda x: x[2]["marginal"] == "none")  # stable: mapped columns first, tables in order
    changes = [ColumnChange(f"{t}.{c}", p["node"], _latent(db, t, p)[:, p["slot"]],
                            db.tables[t].df[c].to_numpy(dtype=np.float64),
                            f"{p['marginal_law']} on slot {p['slot']} of {p['node_name']}") for t, c, p in numeric[:limit]]
    base = {"numeric columns": str(len(numeric)),
            "marginals": ", ".join(f"{t}.{c}: {p['marginal']}" for t, c, p in numeric) or "-"}
    if changes:
        caption = (f"Stage 5 observes each numeric column on one slot of its node: unless its marginal is the raw "
                   f"latent, it draws as many values from the marginal law as there are rows and hands them out "
                   f"by rank, so the column keeps the latent's order and takes the law's shape (here "
                   f"{_names([f'{ch.column}: {ch.detail}' for ch in changes])}). Each dot is one row, the latent on "
                   f"the x axis and the column on the y axis; a missing cell (made after the mapping) has no dot.")
    else:
        caption = ("Stage 5 observes each numeric column on one slot of its node, mapped by rank onto a marginal "
                   "law. This toy database has no numeric column, so nothing is shown here.")
    steps = [PostStep("v2_columns", "Columns: marginals by rank mapping", caption, base, table=first,
                      kind="marginal", columns=changes)]

    coded = [x for x in plans if x[2]["kind"] in ("binned", "categorical")]
    bins = []
    for t, c, p in coded[:limit]:
        after = db.tables[t].df[c].cat.codes.to_numpy(dtype=np.int64)
        if p["kind"] == "binned":
            b = p["binning"]
            bins.append(ColumnChange(f"{t}.{c}", p["node"], _latent(db, t, p)[:, p["slot"]], after,
                                     f"{b['k']} bins, {b['method']} edges, slot {p['slot']} of {p['node_name']}"))
        else:
            bins.append(ColumnChange(f"{t}.{c}", p["node"], argmax_codes(_latent(db, t, p)), after,
                                     f"class of {p['node_name']} ({p['k']} classes)"))
    share = _fmt(cfg.get("v2_columns.column_binned_share"))
    if bins:
        caption = (f"Stage 5 cuts a numeric slot into k bins with probability {share} (Dirichlet bin shares, edges at "
                   f"normal quantiles or at the latent's own quantiles), and a categorical node's column is its "
                   f"class, labelled c0, c1 and so on (here {_names([f'{ch.column}: {ch.detail}' for ch in bins])}). "
                   f"The figure puts each row's latent (or class) against its label in the table, missing cells "
                   f"left out.")
    else:
        caption = (f"Stage 5 cuts a numeric slot into k bins with probability {share}, and a categorical node's "
                   f"column is its class. This toy database has neither a binned nor a categorical column.")
    steps.append(PostStep("v2_columns", "Columns: bins and classes", caption,
                          {"binned or categorical columns": str(len(coded))}, table=first, kind="binning",
                          columns=bins))

    where = table if table in db.tables else _missing_table(db)
    cols = db.trace.priors["tables"][where]["columns"]
    masks = {c: db.tables[where].df[c].isna().to_numpy() for c in cols}
    indicators = {c: np.asarray(db.trace.scm[where].node_values[p["indicator_node"]])[:, 1] > 0.5
                  for c, p in cols.items() if p["missing"] == "structured"}
    how = [f"{c} at random ({int(masks[c].sum())} cells)" if p["missing"] == "random" else
           f"{c} by {p['indicator']} ({int(masks[c].sum())} cells)" for c, p in cols.items() if p["missing"] != "none"]
    caption = (f"Stage 5 gives a column missing cells with probability {_fmt(cfg.get('v2_columns.column_missing_share'))}"
               f" at a rate in {_range_text(cfg.get('v2_columns.column_missing_rate'))}: at random (each row with "
               f"that probability) or, with probability "
               f"{_fmt(cfg.get('v2_columns.column_missing_structured_share'))}, structured, missing exactly where "
               f"its indicator node fires class 1. In {where}, "
               + (f"they are {_names(how)}, marked in the grid (rows down, columns across)." if how else
                  "no column is missing, so the grid is empty (rows down, columns across)."))
    steps.append(PostStep("v2_columns", f"Columns: missing cells of {where}", caption,
                          {"table": f"{where} ({len(db.tables[where])} rows)",
                           "missing columns": _names(how) if how else "none"},
                          table=where, kind="v2_missing", missing=masks, indicators=indicators))
    return steps


def v2_time_steps(db: Database) -> list[Step]:
    """Stage 6 (v2): each event table's times against its calendar, then the val / test cut-offs."""
    tp = db.trace.priors
    steps: list[Step] = []
    times: dict[str, np.ndarray] = {}
    span = f"{str(SPAN[0])[:10]} to {str(SPAN[1])[:10]}"
    for t, table in db.tables.items():
        if table.time_col is None:
            continue
        stamps = table.df[table.time_col].to_numpy(dtype="datetime64[ns]")
        times[t] = stamps
        name = tp["tables"][t]["calendar"]
        cal = CALENDARS[name]
        n = len(stamps)
        caption = (f"Stage 6, event times of {t}: its time node drew {OVERSAMPLING} × {n} uniform candidate "
                   f"times from {span}, weighted each by the {name} calendar's weekday × hour weight, picked {n} of "
                   f"them in proportion and sorted them, so time ascends with the row index. The bars count the rows "
                   f"per weekday and per hour, and the line is what the calendar's weights expect.")
        steps.append(TimeStep("v2_time", f"Event times of {t}", caption,
                              {"table": f"{t} ({n} rows)", "calendar": name,
                               "first": str(stamps.min())[:16] if n else "-",
                               "last": str(stamps.max())[:16] if n else "-"},
                              table=t, calendar=name, times=stamps, weekday_weights=cal.weekday_weights,
                              hour_weights=cal.hour_weights))
    val, test = db.trace.val_timestamp, db.trace.test_timestamp
    vs, ts = tp["database"]["val_share"], tp["database"]["test_share"]
    total = sum(len(v) for v in times.values())
    caption = (f"Stage 6 pools the {total} event times of {_names(list(times))} and puts the validation cut-off at "
               f"their {_fmt(round(1 - vs - ts, 12))} quantile ({val:%Y-%m-%d %H:%M}) and the test cut-off at the "
               f"{_fmt(round(1 - ts, 12))} quantile ({test:%Y-%m-%d %H:%M}), with linear interpolation. Rows up to "
               f"the validation cut-off are for training, and the two cut-offs go into the manifest relbench reads.")
    steps.append(CutoffStep("v2_time", "Validation and test cut-offs", caption,
                            {"val share": _fmt(vs), "test share": _fmt(ts), "val cut-off": str(val)[:16],
                             "test cut-off": str(test)[:16], "event times": str(total)},
                            times=times, val_timestamp=val, test_timestamp=test, val_share=vs, test_share=ts))
    return steps


def v2_walkthrough(db: Database, table: str | None = None) -> list[Step]:
    """Every v2 step, in order: the schema plan, every key's link, the crossing passes, the
    nodes in propagation order (every table's, or only ``table``'s), the columns (``table``'s
    first), the event times and the cut-offs."""
    steps: list[Step] = list(v2_schema_steps(db))
    if db.trace.links:
        for fk in db.trace.links:
            steps += v2_link_steps(db, fk)
    else:
        steps.append(Step("v2_links", "No key", "Stage 2 links child rows to parent rows, one link per key. This "
                          "schema has a single table without a self-tree, so there is nothing to link."))
    steps += crossing_steps(db)
    steps += v2_scm_steps(db, table if table in db.tables else None)
    steps += v2_column_steps(db, table)
    steps += v2_time_steps(db)
    return steps
