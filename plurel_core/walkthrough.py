"""How a database is made, step by step: a toy database and the ordered steps that show it.

The toy database comes out of :func:`plurel_core.generate` itself, with the sidebar's priors and
only the sizes overridden (:func:`toy_config`: 3-8 tables, 20-40 rows, few enough feature
columns that an SCM has at most :data:`MAX_SCM_NODES` nodes), and ``keep_node_values=True`` so
that every SCM node's values stay in the trace. :func:`walkthrough` turns the database into a list
of steps (dataclasses holding a stage, a title, a two-sentence caption and the data the step
shows): stage 1 generation by generation, stage 2 for one foreign key level by level, stage 3 for
one table node by node, then post-processing. Nothing is recomputed: every array is read from
the database or its trace. :mod:`plurel_core.walk_plots` draws the steps.

The v2 design space has its own toy database and steps: :mod:`plurel_core.walkthrough_v2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from plurel_core.config import TS_PERIOD_FRACTIONS, Config, ConfigError, prior_specs
from plurel_core.database import Database
from plurel_core.graphs import DAG_LAYOUTS, EXTENSION_LAYOUTS
from plurel_core.links import POPULARITY_LAWS
from plurel_core.pipeline import generate, sample_stage1
from plurel_core.scm.mlp import AGGREGATIONS

TOY_TABLES = (3, 8)
TOY_ROWS = (20, 40)
MAX_SCM_NODES = 12
STAGES = {
    "schema": "Stage 1 · schema DAG",
    "links": "Stage 2 · foreign keys (HSBM)",
    "scm": "Stage 3 · structural causal model",
    "post": "Post-processing",
    # the v2 design space (PLUREL_V2_SPEC.md), see "the v2 walkthrough" below
    "v2_schema": "Stage 1 · schema plan (v2)",
    "v2_links": "Stage 2 · foreign keys: random, HSBM and tree links (v2)",
    "v2_crossings": "Stage 3 · crossings between tables (v2)",
    "v2_scm": "Stage 4 · nodes in propagation order (v2)",
    "v2_columns": "Stage 5 · columns (v2)",
    "v2_time": "Stage 6 · event times and cut-offs (v2)",
}
SHOWN_COLUMNS = 3  # columns per post-processing step


# --- the toy database --------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """A knob of the page: the config field it fixes and the values it offers."""

    label: str
    path: str
    options: tuple
    help: str = ""


KNOBS: dict[str, Knob] = {
    "tables": Knob("Tables", "schema.num_tables", tuple(range(TOY_TABLES[0], TOY_TABLES[1] + 1))),
    "layout": Knob("Table layout", "schema.table_layouts", DAG_LAYOUTS + EXTENSION_LAYOUTS,
                   "The DAG generator of the schema (Chain and Hub are extensions beyond the paper)"),
    "levels": Knob("HSBM levels L", "links.hsbm_levels", (1, 2, 3, 4, 5)),
    "clusters": Knob("Clusters per level", "links.hsbm_clusters", (1, 2, 3, 4),
                     "Clusters per level on each side (parent and child), every level"),
    "popularity": Knob("Parent popularity law", "links.popularity_laws", POPULARITY_LAWS,
                       "constant is the paper; lognormal and Zipf weight parents (degree-corrected SBM)"),
    "aggregation": Knob("Aggregation", "scm.aggregations", AGGREGATIONS,
                        "How every non-source node combines its weighted, encoded inputs"),
    "trend_exponent": Knob("Trend exponent a", "scm.ts_trend_exponent", (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
                           "Shape of a ts source's trend s_T (t/n)^a; its strength s_T is ±1 in activity "
                           "tables and 0 in entity tables (the paper), not a config field"),
    "period_fraction": Knob("Cycle period (share of rows)", "scm.ts_period_fractions", TS_PERIOD_FRACTIONS,
                            "The cycle sin(pi t / f) has period f = ceil(rows × share): a smaller share is a "
                            "higher frequency"),
    "activity_noise": Knob("AR(1) noise σ, activity tables", "scm.ts_activity_noise",
                           (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)),
    "entity_noise": Knob("AR(1) noise σ, entity tables", "scm.ts_entity_noise",
                         (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)),
}
KNOB_STAGES = {"schema": ("tables", "layout"), "links": ("levels", "clusters", "popularity"),
               "scm": ("aggregation", "trend_exponent", "period_fraction", "activity_noise", "entity_noise")}


@dataclass(frozen=True)
class Knobs:
    """The page's knob values (see :data:`KNOBS`); ``None`` keeps the sidebar's prior.

    ``resample`` > 0 keeps the tables and draws stages 2-3 again with seed + resample.
    """

    tables: int | None = None
    layout: str | None = None
    levels: int | None = None
    clusters: int | None = None
    popularity: str | None = None
    aggregation: str | None = None
    trend_exponent: float | None = None
    period_fraction: float | None = None
    activity_noise: float | None = None
    entity_noise: float | None = None
    resample: int = 0

    def changes(self) -> dict[str, Any]:
        """The config changes these knobs make (dotted path -> value): a range fixed to the
        value, a set of choices reduced to it, a number set to it."""
        return knob_changes(vars(self), KNOBS, "paper")


def knob_changes(values: dict[str, Any], knobs: dict[str, Knob], design: str) -> dict[str, Any]:
    """The config changes of knob ``values`` (name -> value or None) of a design's ``knobs``: a
    range fixed to the value, choices reduced to it, weights all on it, a number or flag set to it."""
    kinds = {spec.path: spec.kind for spec in prior_specs(design)}
    out: dict[str, Any] = {}
    for name, knob in knobs.items():
        value = values.get(name)
        if value is None:
            continue
        kind = kinds[knob.path]
        if kind.endswith("_range"):
            out[knob.path] = (value, value)
        elif kind == "choices":
            out[knob.path] = (value,)
        elif kind == "weights":
            out[knob.path] = {value: 1.0}
        else:
            out[knob.path] = value
    return out


def _clamp(lo: int, hi: int, bounds: tuple[int, int]) -> tuple[int, int]:
    a, b = bounds
    return min(max(lo, a), b), min(max(hi, a), b)


def max_feature_columns(q_lo: float, max_nodes: int = MAX_SCM_NODES) -> int:
    """The most feature columns m whose SCM (``m + ceil(m / q) + 3`` nodes) stays within
    ``max_nodes`` for every q >= q_lo; 0 when even one column does not fit."""
    m = 0
    while (m + 1) + math.ceil((m + 1) / q_lo) + 3 <= max_nodes:
        m += 1
    return m


def toy_config(cfg: Config, knobs: Knobs = Knobs()) -> Config:
    """The sidebar's config with only the sizes overridden, then the knobs applied.

    Tables: the sidebar's range clamped to 3-8; rows 20-40 for both kinds; feature columns
    clamped so that every SCM has at most 12 nodes. When the column-node share's lower end is so
    small that one column would need more nodes, that end is raised to 1/8 (one column: 12 nodes).
    A config of another design than "paper" raises ConfigError naming ``design``.
    """
    design = getattr(cfg, "design", "paper")
    if design != "paper":
        raise ConfigError("design", f"the walkthrough follows the paper design's stages (PLUREL_SPEC.md); this "
                                    f"config has design {design!r}: use cfg.replace(design='paper')")
    sp = cfg.schema
    changes: dict[str, Any] = {
        "schema.num_tables": _clamp(sp.num_tables.lo, sp.num_tables.hi, TOY_TABLES),
        "schema.entity_rows": TOY_ROWS,
        "schema.activity_rows": TOY_ROWS,
    }
    q = cfg.scm.column_node_share
    if max_feature_columns(q.lo) < 1:
        q_lo = 1.0 / 8.0
        changes["scm.column_node_share"] = (q_lo, max(q.hi, q_lo))
    else:
        q_lo = q.lo
    m = max_feature_columns(q_lo)
    changes["schema.feature_columns"] = _clamp(sp.feature_columns.lo, sp.feature_columns.hi, (1, m))
    changes.update(knobs.changes())
    return cfg.replace(**changes)


def toy_database(cfg: Config, seed: int, knobs: Knobs = Knobs()) -> Database:
    """The toy database: ``generate(toy_config(cfg, knobs), seed, keep_node_values=True)``.

    With ``knobs.resample = r > 0`` stage 1 is kept (the schema of ``seed``) and stages 2-3 are
    drawn with seed ``seed + r``: the same tables, new links and values.
    """
    toy = toy_config(cfg, knobs)
    if knobs.resample:
        schema = sample_stage1(toy, seed).schema
        return generate(toy, seed + knobs.resample, schema, keep_node_values=True, threads=1)
    return generate(toy, seed, keep_node_values=True, threads=1)


# --- steps -------------------------------------------------------------------------------------
@dataclass
class Step:
    """One step of the walkthrough: its stage key (see :data:`STAGES`), title, two-sentence
    caption, and facts (label -> text) shown beside the figure."""

    stage: str
    title: str
    caption: str
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def stage_label(self) -> str:
        return STAGES[self.stage]


@dataclass
class SchemaStep(Step):
    """Stage 1: the schema DAG with the tables of generations 0..generation shown."""

    graph: nx.DiGraph = field(default_factory=nx.DiGraph)  # the whole schema graph
    generation: int = 0
    shown: list[str] = field(default_factory=list)  # tables of generations <= generation
    new: list[str] = field(default_factory=list)  # tables of this generation
    kinds_shown: bool = False  # entity / activity colours (the last step)
    labels: tuple[str, str] = ("entity table", "activity table")  # legend of the two kinds
    self_trees: list[str] = field(default_factory=list)  # tables with a self-reference (v2 ``parent_id``)


@dataclass
class BlocksStep(Step):
    """Stage 2, one HSBM level: rows grouped by their block at this level, and M_l."""

    fk: str = ""
    parent: str = ""
    child: str = ""
    level: int = 0  # 0-based
    parent_block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # block at this level
    child_block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    parent_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # cluster (digit) at level
    child_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


@dataclass
class LinkStep(Step):
    """Stage 2: one edge per child row to its parent row, and children per parent."""

    fk: str = ""
    parent: str = ""
    child: str = ""
    level: int = 0  # the level the rows are grouped and coloured by
    parent_block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    child_block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    parent_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # edge child row -> parent row
    children_per_parent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    model: str = "hsbm"  # v2: "random" | "hsbm" | "tree"
    inactive: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # parent rows of weight 0 (v2)


@dataclass
class ScmStep(Step):
    """Stage 3: the SCM graph of a table with nodes ``done`` evaluated and ``node`` current
    (None for the overview step); ``values`` are the current node's values over all rows."""

    table: str = ""
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    order: list[int] = field(default_factory=list)  # evaluated nodes, in evaluation order
    done: list[int] = field(default_factory=list)
    node: int | None = None
    parents: list[tuple[int, float]] = field(default_factory=list)  # (parent node, edge weight)
    foreign_inputs: list[str] = field(default_factory=list)
    aggregation: str | None = None  # None for a source
    source: dict[str, Any] | None = None
    values: np.ndarray | None = None
    categorical: bool = False  # values are labels
    components: dict[str, np.ndarray] | None = None  # trend, cycle, noise, signal of a ts source


@dataclass
class ColumnChange:
    """One column before and after a post-processing step."""

    column: str  # "table.column"
    node: int
    before: np.ndarray  # the SCM node's values (float32 values or int labels)
    after: np.ndarray  # the table's column (float64 with NaN, bool, or labels)
    detail: str  # the transform, "binarized", ...


@dataclass
class PostStep(Step):
    """Post-processing of one table: transforms, missing cells or binarization."""

    table: str = ""
    kind: str = ""  # "transform" | "missing" | "binarize"; v2: "marginal" | "binning" | "v2_missing"
    columns: list[ColumnChange] = field(default_factory=list)
    missing: dict[str, np.ndarray] = field(default_factory=dict)  # numerical column -> missing mask
    dropped: list[str] = field(default_factory=list)
    indicators: dict[str, np.ndarray] = field(default_factory=dict)  # v2: column -> rows its indicator fires on


def block_at_level(finest: np.ndarray, radices: list[int], level: int) -> np.ndarray:
    """The block at ``level`` (0-based, 0 coarsest) of rows given their finest-level block ids:
    the mixed-radix prefix of the levels 0..level."""
    below = math.prod(radices[level + 1:]) if level + 1 < len(radices) else 1
    return np.asarray(finest, dtype=np.int64) // below


def cluster_at_level(finest: np.ndarray, radices: list[int], level: int) -> np.ndarray:
    """The cluster (digit) at ``level`` of rows given their finest-level block ids: the index of
    the row's side in block matrix M_level."""
    return block_at_level(finest, radices, level) % radices[level]


def _diagonal(hp: int, hc: int) -> np.ndarray:
    """The cells of an (hp x hc) block matrix that get the diagonal value."""
    mask = np.zeros((hp, hc), dtype=bool)
    i = np.arange(max(hp, hc))
    mask[i % hp, i % hc] = True
    return mask


def default_level(link) -> int:
    """The level (0-based) the rows are coloured by first: the coarsest one whose block matrix
    favours some blocks over others (else the finest)."""
    for lv, (hp, hc) in enumerate(zip(link.h_parent, link.h_child)):
        if not _diagonal(hp, hc).all():
            return lv
    return link.levels - 1


def default_table(db: Database) -> str:
    """The table the SCM steps show first: one with a time-series source (activity first)."""
    names = [n for n in db.tables if n in db.trace.scm]
    with_ts = [n for n in names if db.trace.scm[n].source_components]
    for pool in ([n for n in with_ts if db.tables[n].kind == "activity"], with_ts, names):
        if pool:
            return pool[0]
    raise ValueError("the database has no SCM trace")


def _names(items) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else (items[0] if items else "none")


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in list(v)[:6]) + (", …" if len(v) > 6 else "") + "]"
    return str(v)


def _generations(g) -> list[tuple[int, list[str]]]:
    """The schema graph's topological generations in order, each one's tables by node id."""
    gens: dict[int, list[str]] = {}
    for name, d in g.nodes(data=True):
        gens.setdefault(int(d["generation"]), []).append(name)
    return [(gen, sorted(gens[gen], key=lambda n: g.nodes[n]["node_id"])) for gen in sorted(gens)]


def schema_steps(db: Database) -> list[SchemaStep]:
    """One step per topological generation of the schema DAG, then entity vs activity."""
    tr = db.trace
    g = tr.schema_graph
    params = ", ".join(f"{k} = {_fmt(v)}" for k, v in tr.table_layout_params.items()) or "none"
    facts = {"layout": tr.table_layout, "layout parameters": params, "tables": str(g.number_of_nodes()),
             "foreign keys": str(g.number_of_edges())}
    steps, shown = [], []
    generations = _generations(g)
    for gen, new in generations:
        shown = shown + new
        if gen == 0:
            caption = (f"Stage 1 draws the schema as a connected DAG of {g.number_of_nodes()} tables with the "
                       f"{tr.table_layout} generator ({params}); generation 0 holds the tables without a parent: "
                       f"{_names(new)}. An arrow parent → child means the child table gets a foreign-key column "
                       f"that points to a row of the parent, so parents must be made first.")
        else:
            edges = [f"{p} → {c}" for c in new for p in sorted(g.predecessors(c))]
            one = len(new) == 1
            caption = (f"Stage 1, generation {gen}: {_names(new)} {'joins' if one else 'join'} because all "
                       f"{'its' if one else 'their'} parents appeared in earlier generations ({_names(edges)}). Tables are generated in "
                       f"this topological order, so every foreign key can point at rows that already exist.")
        steps.append(SchemaStep("schema", f"Schema: generation {gen}", caption,
                                {**facts, "new tables": _names(new)}, graph=g, generation=gen,
                                shown=list(shown), new=new))
    activity = [n for n in shown if g.nodes[n]["kind"] == "activity"]
    entity = [n for n in shown if g.nodes[n]["kind"] != "activity"]
    rows = ", ".join(f"{n}: {g.nodes[n]['rows']}" for n in shown)
    caption = (f"Stage 1 calls every table without children an activity table ({_names(activity)}, orange: "
               f"rows in time order with a timestamp column) and every other an entity table "
               f"({_names(entity)}, blue). Each then draws its row count from its kind's prior, here shrunk to "
               f"{TOY_ROWS[0]}-{TOY_ROWS[1]} rows (the paper: 500-1000 entity, 2000-5000 activity rows).")
    steps.append(SchemaStep("schema", "Schema: entity and activity tables", caption,
                            {**facts, "rows": rows}, graph=g, generation=generations[-1][0], shown=list(shown),
                            new=[], kinds_shown=True))
    return steps


def link_steps(db: Database, fk: str, level: int | None = None) -> list[Step]:
    """One step per HSBM level of the foreign key ``fk`` ("child.fkey_col"), then the links
    with the rows grouped by their block at ``level`` (0-based; default :func:`default_level`)."""
    lt = db.trace.links[fk]
    n_parent, n_child = len(db.tables[lt.parent]), len(lt.parent_index)
    levels = lt.levels
    level = default_level(lt) if level is None else min(max(int(level), 0), levels - 1)
    facts = {"foreign key": lt.name, "levels L": str(levels), "parent clusters h_P": _fmt(lt.h_parent),
             "child clusters h_C": _fmt(lt.h_child), "parent rows": str(n_parent), "child rows": str(n_child)}
    steps: list[Step] = []
    for lv in range(levels):
        pb = block_at_level(lt.parent_block, lt.h_parent, lv)
        cb = block_at_level(lt.child_block, lt.h_child, lv)
        m = np.asarray(lt.block_matrices[lv], dtype=np.float64)
        hp, hc = lt.h_parent[lv], lt.h_child[lv]
        diagonal = _diagonal(hp, hc)
        inside = "" if lv == 0 else " inside every block of the level above"
        if diagonal.all():
            effect = (f"Every cell of the block matrix M_{lv + 1} (right) is {_fmt(m.max())}, because one side has a "
                      f"single cluster, so this level does not favour any block.")
        else:
            effect = (f"The block matrix M_{lv + 1} (right) gives {_fmt(float(m[diagonal].mean()))} to matching "
                      f"clusters and about {_fmt(float(m[~diagonal].mean()))} elsewhere, so a child strongly "
                      f"prefers parents of its matching cluster.")
        caption = (f"Stage 2 (hierarchical SBM), level {lv + 1} of {levels}: the {n_parent} rows of {lt.parent} "
                   f"are cut into {hp} cluster{'s' if hp > 1 else ''} and the {n_child} rows of {lt.child} into "
                   f"{hc}{inside}, giving {len(np.unique(pb))} parent and {len(np.unique(cb))} child "
                   f"blocks of contiguous rows. {effect}")
        steps.append(BlocksStep("links", f"Foreign key {lt.name}: HSBM level {lv + 1}", caption, dict(facts),
                                fk=fk, parent=lt.parent, child=lt.child, level=lv, parent_block=pb, child_block=cb,
                                parent_cluster=cluster_at_level(lt.parent_block, lt.h_parent, lv),
                                child_cluster=cluster_at_level(lt.child_block, lt.h_child, lv), matrix=m))
    idx = np.asarray(lt.parent_index, dtype=np.int64)
    counts = np.bincount(idx[idx >= 0], minlength=n_parent)
    law = lt.popularity_law + ("" if lt.popularity_param is None else f" ({_fmt(lt.popularity_param)})")
    caption = (f"Stage 2: each of the {int((idx >= 0).sum())} child rows of {lt.child} picks exactly one parent row of {lt.parent} "
               f"with probability ∝ θ_parent × Π_l M_l[parent cluster, child cluster], and each line is the "
               f"foreign-key value {lt.fkey_col} it stores. The histogram counts children per parent "
               f"(parent popularity θ: {law}): {int((counts == 0).sum())} of {n_parent} parents got no child and "
               f"the busiest got {int(counts.max()) if len(counts) else 0}.")
    steps.append(LinkStep("links", f"Foreign key {lt.name}: every child picks a parent", caption,
                          {**facts, "popularity law": law, "coloured by level": str(level + 1)},
                          fk=fk, parent=lt.parent, child=lt.child, level=level,
                          parent_block=block_at_level(lt.parent_block, lt.h_parent, level),
                          child_block=block_at_level(lt.child_block, lt.h_child, level),
                          parent_index=idx, children_per_parent=counts))
    return steps


def evaluation_order(graph: nx.DiGraph) -> list[int]:
    """The evaluated nodes of an SCM graph in the order propagation evaluates them."""
    order = [node for generation in nx.topological_generations(graph) for node in sorted(generation)]
    return [node for node in order if graph.nodes[node].get("evaluated", True)]


def _node_label(d: dict, node: int) -> str:
    return f"node {node} (column {d['column']})" if d.get("column") else f"node {node} (latent)"


def scm_steps(db: Database, table: str) -> list[ScmStep]:
    """The SCM of ``table``: an overview, then one step per evaluated node in topological order.

    Needs a database generated with ``keep_node_values=True``.
    """
    tr = db.trace.scm[table]
    g = tr.graph
    if not tr.node_values:
        raise ValueError(f"{table}: no node values in the trace; generate with keep_node_values=True")
    order = evaluation_order(g)
    columns = [n for n, d in g.nodes(data=True) if d.get("role") == "column"]
    skipped = [n for n in g.nodes if n not in order]
    base = {"table": f"{table} ({db.tables[table].kind}, {len(db.tables[table])} rows)", "SCM layout": tr.layout,
            "propagation mode": tr.mode, "nodes": str(g.number_of_nodes()),
            "column-node share q": _fmt(tr.column_node_share),
            "foreign inputs": ", ".join(tr.foreign_inputs) or "none"}
    lazy = "every node propagates as a number and categorical columns are cut into classes at the end" \
        if tr.mode == "type_lazy" else "each node propagates with its own type (numerical or categorical)"
    skip = f" ({len(skipped)} faded node(s) feed no column and are skipped)" if skipped else ""
    caption = (f"Stage 3 gives {table} its own structural causal model: a random {tr.layout} DAG of "
               f"{g.number_of_nodes()} nodes, {len(columns)} of which hold its columns while the rest are latent. "
               f"The nodes are evaluated for all rows at once in topological order{skip}, and in {tr.mode} mode "
               f"{lazy}.")
    steps = [ScmStep("scm", f"SCM of {table}: the graph", caption, dict(base), table=table, graph=g, order=order)]
    for i, node in enumerate(order):
        d = g.nodes[node]
        values = tr.node_values[node]
        categorical = d.get("prop_type", d.get("type")) == "categorical"
        kind = f"label (one of {d.get('num_categories')} classes)" if categorical else "number"
        facts = {**base, "node": _node_label(d, node), "type": d.get("type", "?")
                 + ("" if d.get("prop_type", d.get("type")) == d.get("type") else f" (propagated as {d['prop_type']})")}
        components = tr.source_components.get(node)
        if d.get("is_source"):
            src = d.get("source") or {}
            law = src.get("law", "?")
            params = ", ".join(f"{k} = {_fmt(v)}" for k, v in src.items() if k not in ("law", "per_category", "parts"))
            facts.update({"inputs": "none (a source)", "source law": law, "source parameters": params or "-"})
            if components is not None and db.tables[table].kind == "activity":
                tail = ("Its time series is the mean of a trend, a cycle and AR(1) noise over the row index "
                        "(drawn below), so consecutive rows look alike.")
            elif components is not None:
                tail = ("Its time series is the mean of a trend, a cycle and AR(1) noise over the row index "
                        "(drawn below); in an entity table the paper keeps trend and cycle flat, so only the "
                        "noise moves.")
            else:
                tail = "Every row draws its value independently from that law, as the histogram shows."
            caption = (f"Stage 3, step {i + 1} of {len(order)}: {_node_label(d, node)} has no parent, so it is a "
                       f"source: each row's {kind} comes straight from the {law} law. {tail}")
            steps.append(ScmStep("scm", f"SCM of {table}: {_node_label(d, node)}, a source", caption, facts,
                                 table=table, graph=g, order=order, done=order[:i], node=node, source=src,
                                 values=values, categorical=categorical, components=components))
            continue
        parents = [(int(p), float(g.edges[p, node].get("weight", 1.0))) for p in sorted(g.predecessors(node))]
        agg = d.get("aggregation")
        plist = ", ".join(f"node {p} (w = {_fmt(w)})" for p, w in parents)
        foreign = list(tr.foreign_inputs)
        facts.update({"inputs": plist + (f"; parent-table columns {', '.join(foreign)}" if foreign else ""),
                      "aggregation": agg, "noise Beta(α, β)": _fmt(list(d.get("noise") or [])),
                      "decoder": " → ".join(map(str, d.get("decoder_activations") or [])) or "-"})
        who = f"parent node{'s' if len(parents) > 1 else ''} {_names([p for p, _ in parents])}"
        if foreign:
            share = "each divided by its table's column count" if agg == "sum" else "weight 1"
            inputs = (f"{who} (times their edge weights) and the {len(foreign)} column(s) of its parent tables "
                      f"reached through the foreign keys ({share})")
        else:
            inputs = f"{who}, multiplies each by its edge weight"
        caption = (f"Stage 3, step {i + 1} of {len(order)}: {_node_label(d, node)} encodes the values of its "
                   f"{inputs} and combines them by {agg}. Beta noise is added and a decoder MLP turns the result "
                   f"into one {kind} per row, shown in the histogram.")
        steps.append(ScmStep("scm", f"SCM of {table}: {_node_label(d, node)}", caption, facts, table=table,
                             graph=g, order=order, done=order[:i], node=node, parents=parents,
                             foreign_inputs=foreign, aggregation=agg, values=values, categorical=categorical))
    return steps


def _column_nodes(db: Database, table: str) -> dict[str, int]:
    """Feature column -> its SCM node (also for columns dropped by post-processing)."""
    g = db.trace.scm[table].graph
    return {d["column"]: int(n) for n, d in g.nodes(data=True) if d.get("role") == "column" and d.get("column")}


def post_steps(db: Database, table: str, limit: int = SHOWN_COLUMNS) -> list[PostStep]:
    """Post-processing: transforms, missing cells, binarization (SCM node values -> columns).

    Columns of ``table`` come first, then those of the other tables, up to ``limit`` per step;
    the missing cells are those of ``table`` (or of the first table with a numerical column).
    """
    order = [table] + [n for n in db.tables if n != table and n in db.trace.scm]
    nodes = {n: _column_nodes(db, n) for n in order}

    def kind_columns(kind: str) -> list[tuple[str, str]]:
        return [(n, c) for n in order for c, m in db.tables[n].columns.items() if m.kind == kind and c in nodes[n]]

    numerical, categorical = kind_columns("numerical"), kind_columns("categorical")
    base = {"table": f"{table} ({len(db.tables[table])} rows)"}

    changes = [ColumnChange(f"{n}.{c}", nodes[n][c], db.trace.scm[n].node_values[nodes[n][c]],
                            db.tables[n].df[c].to_numpy(dtype=np.float64), db.tables[n].columns[c].transform)
               for n, c in numerical[:limit]]
    if changes:
        used = ", ".join(f"{ch.column}: {ch.detail}" for ch in changes)
        caption = (f"Post-processing, part 1: every numerical column gets a random transform from the prior "
                   f"(here {used}). Each dot is one row, its SCM value on the x axis and the transformed value in "
                   f"the table on the y axis (missing cells, made next, have no dot).")
    else:
        caption = ("Post-processing, part 1: every numerical column gets a random transform from the prior. "
                   "This toy database has no numerical column, so nothing changes here.")
    steps = [PostStep("post", "Post-processing: transforms", caption,
                      {**base, "transforms": ", ".join(f"{n}.{c}: {db.tables[n].columns[c].transform}"
                                                       for n, c in numerical) or "-"},
                      table=table, kind="transform", columns=changes)]

    where = next((n for n in order if any(t == n for t, _ in numerical)), table)
    priors = db.trace.priors["tables"].get(where, {})
    rate, count, rows = priors.get("missing_rate"), priors.get("missing_per_numerical_column", 0), len(db.tables[where])
    masks = {c: db.tables[where].df[c].isna().to_numpy() for n, c in numerical if n == where}
    if masks:
        caption = (f"Post-processing, part 2: {where} draws a missing rate r = {_fmt(rate)} and each of its numerical "
                   f"columns gets exactly floor(r × {rows}) = {count} cells set to missing, at random. The grid marks "
                   f"those cells (rows down, columns across); keys and categorical columns are never missing.")
    else:
        caption = ("Post-processing, part 2: each table draws a missing rate r and each numerical column gets "
                   "exactly floor(r × rows) cells set to missing, at random. This toy database has no numerical "
                   "column and categorical columns are never missing, so no cell is.")
    steps.append(PostStep("post", f"Post-processing: missing cells of {where}", caption,
                          {"table": f"{where} ({rows} rows)", "missing rate r": _fmt(rate),
                           "missing cells per numerical column": str(count)},
                          table=where, kind="missing", missing=masks))

    bins = []
    for n, c in categorical[:limit]:
        meta = db.tables[n].columns[c]
        col = db.tables[n].df[c]
        after = col.to_numpy() if meta.binarized else col.cat.codes.to_numpy(dtype=np.int64)
        lazy = db.trace.scm[n].mode == "type_lazy"
        bins.append(ColumnChange(f"{n}.{c}", nodes[n][c], db.trace.scm[n].node_values[nodes[n][c]], after,
                                 ("binarized" if meta.binarized else "labels kept") + (" (lazy)" if lazy else "")))
    dropped = [f"{n}.{c}" for n in order for c in db.trace.priors["tables"].get(n, {}).get("dropped_columns", [])]
    on = db.config.postprocess.binarize
    how = ("a bar counts the rows of each SCM label; a lazy-mode column shows the float value its classes were "
           "cut from instead")
    if not categorical and not dropped:
        caption = ("Post-processing, part 3: categorical columns with integer labels are binarized (label > 0), the "
                   "paper's binary pretraining target. This toy database has no categorical column, so nothing "
                   "changes.")
    elif on:
        drop = f" (here {_names(dropped)})" if dropped else ""
        caption = (f"Post-processing, part 3: each categorical column becomes a boolean, True where its label is "
                   f"above 0, since the paper pretrains on binary targets; a column left with one value is dropped"
                   f"{drop}. In the figure {how}.")
    else:
        caption = (f"Post-processing, part 3: binarization is off in the sidebar, so categorical columns keep "
                   f"their labels. In the figure {how}.")
    steps.append(PostStep("post", "Post-processing: binarization", caption,
                          {**base, "binarize": "on" if on else "off", "dropped": _names(dropped) if dropped else "-"},
                          table=table, kind="binarize", columns=bins, dropped=dropped))
    return steps


def walkthrough(db: Database, fk: str | None = None, table: str | None = None,
                level: int | None = None) -> list[Step]:
    """Every step, in order: stage 1, stage 2 for ``fk`` (default: the first foreign key, rows
    coloured by ``level``, default :func:`default_level`), stage 3 and post-processing for
    ``table`` (default :func:`default_table`)."""
    steps: list[Step] = list(schema_steps(db))
    if db.trace.links:
        steps += link_steps(db, fk if fk in db.trace.links else next(iter(db.trace.links)), level)
    else:
        steps.append(Step("links", "No foreign key", "Stage 2 links child rows to parent rows, one bipartite "
                          "graph per foreign key. This schema has a single table, so there is nothing to link."))
    table = table if table in db.trace.scm else default_table(db)
    steps += scm_steps(db, table)
    steps += post_steps(db, table)
    return steps
