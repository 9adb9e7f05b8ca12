"""Stage 1: the schema of a database as a DAG of tables.

A :class:`Schema` is what stages 2 and 3 consume. :func:`sample_schema` draws one from the priors
(PluRel's stage 1); :func:`plurel_core.ddl.schema_from_ddl` builds one from SQL DDL instead. An edge
``parent -> child`` of :attr:`Schema.graph` means the child table holds a foreign key to the
parent's primary key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from plurel_core.graphs import sample_dag
from plurel_core.random import pick

FEATURE_KINDS = ("numerical", "categorical", "text", "boolean", "time")


@dataclass
class ColumnSpec:
    """A feature column to generate.

    kind: numerical | categorical | text | boolean | time. ``labels`` fixes the category labels
    (enum types, CHECK IN lists); text columns get ``n_categories`` generated labels; a time
    column that is not the table's time column is derived from it with a positive lag.
    """

    name: str
    kind: str
    n_categories: int | None = None
    labels: tuple[str, ...] | None = None
    sql_type: str | None = None
    nullable: bool = True


@dataclass
class ForeignKeySpec:
    column: str
    parent: str
    parent_column: str | None = None  # the referenced column (the parent's primary key)
    nullable: bool = False
    deferred: bool = False  # breaks a reference cycle: filled in a second pass


@dataclass
class TableSpec:
    name: str
    kind: str  # "entity" or "activity"
    features: list[ColumnSpec]
    fkeys: list[ForeignKeySpec] = field(default_factory=list)
    pkey: str | None = "row_idx"
    composite_key: tuple[str, ...] = ()  # primary key made of FK columns: distinct combinations
    time_col: str | None = None
    n_rows: int | None = None  # None: drawn from the entity/activity row prior
    node_id: int = 0
    # column order of the generated table (keys, then features); empty = default order
    column_order: tuple[str, ...] = ()

    @property
    def parents(self) -> list[str]:
        return [fk.parent for fk in self.fkeys]


@dataclass
class Schema:
    tables: dict[str, TableSpec]
    layout: str = "given"
    layout_params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: str = "random"  # "random" or "ddl"
    ddl: str | None = None  # the SQL text a DDL schema was parsed from

    @property
    def graph(self) -> nx.DiGraph:
        """Parent -> child graph over table names (deferred FKs included)."""
        g = nx.DiGraph()
        for name, t in self.tables.items():
            g.add_node(name, kind=t.kind, node_id=t.node_id)
        for name, t in self.tables.items():
            for fk in t.fkeys:
                if fk.parent != name:
                    g.add_edge(fk.parent, name)
        return g

    def generation_order(self) -> list[list[str]]:
        """Topological generations over the non-deferred FKs (parents before children)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.tables)
        for name, t in self.tables.items():
            for fk in t.fkeys:
                if not fk.deferred and fk.parent != name:
                    g.add_edge(fk.parent, name)
        return [sorted(gen, key=lambda n: self.tables[n].node_id) for gen in nx.topological_generations(g)]


def power_law_int(rng: np.random.Generator, lo: int, hi: int, exponent: float) -> int:
    """Draw k in {lo..hi} with P(k) ∝ k^-exponent."""
    ks = np.arange(lo, hi + 1, dtype=np.float64)
    p = ks ** (-exponent)
    return int(rng.choice(ks.astype(np.int64), p=p / p.sum()))


def sample_schema(cfg, rng: np.random.Generator) -> Schema:
    """PluRel stage 1: a connected DAG of tables with keys, row counts and feature columns."""
    sp = cfg.schema
    n = sp.num_tables.sample(rng)
    layout = str(pick(rng, sp.table_layouts))
    dag = sample_dag(layout, n, cfg.graphs, rng)
    tables: dict[str, TableSpec] = {}
    for node in sorted(dag.graph.nodes):
        name = f"table_{node}"
        parents = sorted(dag.graph.predecessors(node))
        kind = "activity" if dag.graph.out_degree(node) == 0 else "entity"
        rows = (sp.activity_rows if kind == "activity" else sp.entity_rows).sample(rng)
        m = power_law_int(rng, sp.feature_columns.lo, sp.feature_columns.hi, sp.feature_columns_exponent)
        features = []
        for k in range(m):
            if rng.random() < sp.categorical_share:
                features.append(ColumnSpec(f"feature_{k}", "categorical", n_categories=sp.num_categories.sample(rng)))
            else:
                features.append(ColumnSpec(f"feature_{k}", "numerical"))
        tables[name] = TableSpec(
            name=name, kind=kind, features=features,
            fkeys=[ForeignKeySpec(f"foreign_row_{i}", f"table_{p}", "row_idx") for i, p in enumerate(parents)],
            pkey="row_idx", time_col="date" if kind == "activity" else None, n_rows=rows, node_id=int(node),
        )
    return Schema(tables=tables, layout=layout, layout_params=dag.params, source="random")
