"""The v2 table DAG, roles, rows and keys (PLUREL_V2_SPEC §2, §5 items 1-2, §6 names).

:func:`sample_schema_plan` draws, in this order from ``rng``: the table layout (before the count),
the table count, the DAG, then per table t_i and per parent t_p ascending the key ``t{p}_id``
(nullable with prob ``fk_nullable_prob`` and then a rate; its link model) and with prob
``fk_duplicate_prob`` a second key ``t{p}_id2`` drawn the same way, then the aggregate coin of
every key whose child is static, then per static table (ascending) the self-tree coin and its
roots share. Row counts come from ``rows_rng`` (the authors' second stream; ``rng`` when None),
so moving a row knob leaves the structure alone. The plan is plain data the pipeline consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from plurel_core.v2.layouts import LayoutSpec, sample_layout
from plurel_core.v2.links import HsbmLink, LinkSpec, RandomLink, TreeLink, link_to_dict
from plurel_core.v2.schema_prior import SchemaPrior

STATIC, EVENT = "static", "event"
PKEY, TIME_COL, SELF_TREE_COL = "id", "time", "parent_id"


@dataclass
class FkPlan:
    """One foreign key: child ``table`` column ``column`` -> ``parent``.id, linked by ``link``.

    ``null_rate`` is the share of nulls drawn after the link (0 unless ``nullable``); a self-tree
    key is nullable through its roots (its ``null_rate`` stays 0). ``aggregate``: crossing step 1
    (spec §2) summarises this key's child nodes into the parent (static children only).
    """

    table: str
    column: str
    parent: str
    link: LinkSpec
    nullable: bool = False
    null_rate: float = 0.0
    duplicate: bool = False
    self_tree: bool = False
    aggregate: bool = False

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "parent": self.parent, "link": link_to_dict(self.link),
                "nullable": self.nullable, "null_rate": float(self.null_rate), "duplicate": self.duplicate,
                "self_tree": self.self_tree, "aggregate": self.aggregate}


@dataclass
class TablePlan:
    """A table t{index}: ``static`` (referenced, no time) or ``event`` (unreferenced, gets ``time``)."""

    name: str
    index: int
    role: str
    rows: int
    fkeys: list[FkPlan] = field(default_factory=list)  # to other tables, parents ascending
    self_tree: FkPlan | None = None
    pkey: str = PKEY

    @property
    def time_col(self) -> str | None:
        return TIME_COL if self.role == EVENT else None

    @property
    def parents(self) -> list[str]:
        return sorted({fk.parent for fk in self.fkeys}, key=lambda t: int(t[1:]))

    @property
    def all_fkeys(self) -> list[FkPlan]:
        """Key columns in output order: the table keys, then ``parent_id``."""
        return self.fkeys + ([self.self_tree] if self.self_tree else [])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "role": self.role, "rows": int(self.rows), "pkey": self.pkey,
                "time_col": self.time_col, "fkeys": [fk.to_dict() for fk in self.fkeys],
                "self_tree": self.self_tree.to_dict() if self.self_tree else None}


@dataclass
class SchemaPlan:
    """Tables t0.. in index order, the layout that drew them, and the parent -> child table graph."""

    tables: dict[str, TablePlan]
    layout: LayoutSpec
    layout_info: dict[str, Any]
    graph: nx.DiGraph

    @property
    def fkeys(self) -> list[FkPlan]:
        """Every key in creation order (table keys by child then parent, then the self-trees): one link stream each."""
        inter = [fk for t in self.tables.values() for fk in t.fkeys]
        return inter + [t.self_tree for t in self.tables.values() if t.self_tree]

    @property
    def static_tables(self) -> list[str]:
        return [n for n, t in self.tables.items() if t.role == STATIC]

    @property
    def event_tables(self) -> list[str]:
        return [n for n, t in self.tables.items() if t.role == EVENT]

    def to_dict(self) -> dict[str, Any]:
        info = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.layout_info.items()}
        return {"layout": self.layout.to_dict(), "layout_info": info,
                "tables": [t.to_dict() for t in self.tables.values()]}


def draw_link_spec(prior: SchemaPrior, rng: np.random.Generator) -> LinkSpec:
    """RandomLink with prob ``link_random_prob``, else an HSBM with L levels, L parent counts, L child
    counts, then within, between, cluster weights, popularity and inactive share (spec §2)."""
    if rng.random() < prior.link_random_prob:
        return RandomLink()
    levels = prior.hsbm_levels.sample(rng)
    parent_counts = tuple(int(prior.hsbm_counts.sample(rng)) for _ in range(levels))
    child_counts = tuple(int(prior.hsbm_counts.sample(rng)) for _ in range(levels))
    return HsbmLink(
        parent_counts, child_counts,
        within=prior.hsbm_within.sample(rng),
        between=prior.hsbm_between.sample(rng),
        cluster_weights=prior.hsbm_cluster_weights.sample(rng),
        popularity=prior.hsbm_popularity.sample(rng),
        inactive=float(prior.hsbm_inactive.sample(rng)),
    )


def draw_fk(prior: SchemaPrior, table: str, column: str, parent: str, rng: np.random.Generator,
            duplicate: bool = False) -> FkPlan:
    """Nullable with prob ``fk_nullable_prob`` (rate ~ ``fk_null_rate``), then the link model."""
    nullable = bool(rng.random() < prior.fk_nullable_prob)
    rate = float(prior.fk_null_rate.sample(rng)) if nullable else 0.0
    return FkPlan(table, column, parent, draw_link_spec(prior, rng), nullable, rate, duplicate=duplicate)


def sample_schema_plan(
    prior: SchemaPrior, rng: np.random.Generator, rows_rng: np.random.Generator | None = None
) -> SchemaPlan:
    """One v2 schema: table DAG, roles, rows, keys with their link models, self-trees (spec §2)."""
    layout = prior.table_layouts.sample(rng)
    n = int(prior.table_count.sample(rng))
    dag, info = sample_layout(layout, n, rng)
    referenced = {int(u) for u, _ in dag.edges}
    tables: dict[str, TablePlan] = {}
    for i in range(n):
        role = STATIC if i in referenced else EVENT
        tables[f"t{i}"] = TablePlan(name=f"t{i}", index=i, role=role, rows=0)
    for i in range(n):
        child = f"t{i}"
        for p in sorted(int(q) for q in dag.predecessors(i)):
            parent = f"t{p}"
            tables[child].fkeys.append(draw_fk(prior, child, f"{parent}_id", parent, rng))
            # UNSURE: the duplicate coin is drawn after the first key's draws; the duplicate draws its
            # own nullability, rate and link model like any key.
            if rng.random() < prior.fk_duplicate_prob:
                tables[child].fkeys.append(draw_fk(prior, child, f"{parent}_id2", parent, rng, duplicate=True))
    # Crossing step 1 coin (spec §2): aggregates only summarise static children (no future leak).
    # UNSURE: drawn here, with the keys, so the plan (and the schema view) knows which parents
    # receive aggregates; the crossing wiring draws the sources and functions.
    for t in tables.values():
        for fk in t.fkeys:
            fk.aggregate = t.role == STATIC and bool(rng.random() < prior.aggregate_share)
    for t in tables.values():
        if t.role == STATIC and rng.random() < prior.self_tree_prob:
            roots = float(prior.self_tree_roots.sample(rng))
            t.self_tree = FkPlan(t.name, SELF_TREE_COL, t.name, TreeLink(roots), nullable=True, self_tree=True)
    r = rng if rows_rng is None else rows_rng
    for t in tables.values():
        t.rows = int((prior.static_rows if t.role == STATIC else prior.event_rows).sample(r))
    return SchemaPlan(tables=tables, layout=layout, layout_info=info, graph=table_graph(tables))


def table_graph(tables: dict[str, TablePlan]) -> nx.DiGraph:
    """Parent -> child DiGraph over table names; an edge lists its key columns (two for a duplicate).

    Node attributes: index, role, rows, time_col, self_tree (``parent_id`` present), aggregated
    (receives aggregates from some child). Self-trees are node attributes, not loops, so the
    graph stays a DAG; views draw them as loops.
    """
    g = nx.DiGraph()
    for t in tables.values():
        g.add_node(t.name, index=t.index, role=t.role, rows=t.rows, time_col=t.time_col,
                   self_tree=t.self_tree is not None, aggregated=False)
    for t in tables.values():
        for fk in t.fkeys:
            if g.has_edge(fk.parent, t.name):
                g.edges[fk.parent, t.name]["columns"].append(fk.column)
            else:
                g.add_edge(fk.parent, t.name, columns=[fk.column])
            if fk.aggregate:
                g.nodes[fk.parent]["aggregated"] = True
    return g
