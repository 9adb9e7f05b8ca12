"""Containers for a generated database and the trace of how it was made.

The vocabulary follows relbench: a :class:`Table` is a DataFrame with its primary key, its foreign
keys (column -> parent table) and its time column. :class:`Database` maps table names to tables and
carries the config, the seed and a :class:`Trace` with everything the views need to show how each
stage produced what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from plurel_core.config import Config


@dataclass
class ColumnMeta:
    """What a column is: ``kind`` is one of pkey, fkey, numerical, categorical, text, boolean, time."""

    kind: str
    categories: list[Any] | None = None  # labels of a categorical / text / boolean column
    transform: str | None = None  # post-processing transform of a numerical column
    missing: int = 0  # cells set to missing by post-processing (or null references)
    binarized: bool = False
    node: int | None = None  # the SCM node this feature column sits on
    note: str = ""


@dataclass
class Table:
    """One table: data plus the key and time metadata relbench uses."""

    df: pd.DataFrame
    pkey_col: str | None
    fkey_col_to_pkey_table: dict[str, str]
    time_col: str | None
    kind: str = "entity"  # "entity" or "activity"
    columns: dict[str, ColumnMeta] = field(default_factory=dict)
    composite_key: tuple[str, ...] = ()  # a composite primary key (association tables)

    def __len__(self) -> int:
        return len(self.df)

    @property
    def feature_cols(self) -> list[str]:
        """Columns that are neither keys nor the time column."""
        return [c for c, m in self.columns.items() if m.kind not in ("pkey", "fkey") and c != self.time_col]


@dataclass
class LinkTrace:
    """Stage 2 for one foreign key: the sampled HSBM and the parent row of every child row."""

    child: str
    parent: str
    fkey_col: str
    parent_index: np.ndarray  # int64, one parent row per child row (-1 where the reference is null)
    levels: int
    h_parent: list[int]
    h_child: list[int]
    parent_block: np.ndarray  # finest-level block id of every parent row
    child_block: np.ndarray  # finest-level block id of every child row
    block_matrices: list[np.ndarray]
    popularity_law: str = "constant"
    popularity_param: float | None = None
    null_share: float = 0.0
    deferred: bool = False  # an FK that closed a reference cycle: its parent columns do not feed the child SCM
    # How the key was drawn: "paper_hsbm" (the paper's HSBM), or v2's "random" / "hsbm" / "tree" (a v2
    # database, or a paper database with the paper + v2 mix knob links.link_models)
    model: str = "paper_hsbm"
    nullable: bool = False  # a v2 null draw made the key nullable (v2, or the mix's links.v2_nullable_fks)
    null_rate: float = 0.0  # the null rate that draw gave (null_share is the realised share)
    summary: dict[str, Any] = field(default_factory=dict)  # a mixed key's trace.priors["links"] record

    @property
    def name(self) -> str:
        return f"{self.child}.{self.fkey_col} -> {self.parent}"


@dataclass
class ScmTrace:
    """Stage 3 for one table: the SCM graph with node roles and the mechanisms drawn.

    Node attributes of ``graph``: role ("column" or "latent"), column (name or None), type
    ("numerical" or "categorical"), num_categories, aggregation, decoder_activations (list of
    names), source (None or a dict with the law and its parameters), is_source. Edge attributes:
    weight, encoder_activations.
    """

    table: str
    graph: nx.DiGraph
    layout: str
    layout_params: dict[str, Any]
    mode: str
    column_node_share: float
    foreign_inputs: list[str]  # "parent_table.column" entering every non-source node
    source_components: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    # Only with ``generate(..., keep_node_values=True)``: every evaluated node's values as
    # propagation left them, in evaluation (topological) order: float32, or int64 labels for a
    # node propagated as categorical. Columns before post-processing (and lazy quantization).
    node_values: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class Trace:
    """Everything sampled on the way, for the views and for reproducibility."""

    schema_graph: nx.DiGraph  # nodes are table names; attrs kind, rows, node_id, generation
    table_layout: str
    table_layout_params: dict[str, Any]
    links: dict[str, LinkTrace]  # keyed by "child.fkey_col"
    scm: dict[str, ScmTrace]
    priors: dict[str, Any]  # the sampled value of every database- and table-level prior
    min_timestamp: pd.Timestamp
    max_timestamp: pd.Timestamp
    val_timestamp: pd.Timestamp
    test_timestamp: pd.Timestamp
    timings: dict[str, float]  # seconds per stage
    notes: list[str] = field(default_factory=list)


@dataclass
class Database:
    """A generated relational database: tables, the config and seed that made it, and its trace."""

    tables: dict[str, Table]
    config: Config
    seed: int
    trace: Trace
    schema_ddl: str | None = None  # the SQL DDL the schema came from, if any

    @property
    def name(self) -> str:
        base = f"plurel_{self.config.name}_seed{self.seed}_{self.config.digest()}"
        if self.schema_ddl is None:
            return base
        import hashlib

        return f"{base}_ddl{hashlib.sha256(self.schema_ddl.encode()).hexdigest()[:8]}"

    @property
    def num_rows(self) -> int:
        return sum(len(t) for t in self.tables.values())

    @property
    def num_cells(self) -> int:
        return sum(t.df.shape[0] * t.df.shape[1] for t in self.tables.values())

    @property
    def foreign_keys(self) -> list[tuple[str, str, str]]:
        """(child table, fkey column, parent table) for every foreign key."""
        return [(name, col, parent) for name, t in self.tables.items()
                for col, parent in t.fkey_col_to_pkey_table.items()]

    @property
    def val_timestamp(self) -> pd.Timestamp:
        return self.trace.val_timestamp

    @property
    def test_timestamp(self) -> pd.Timestamp:
        return self.trace.test_timestamp
