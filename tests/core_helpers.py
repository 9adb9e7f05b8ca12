"""Shared helpers of the core-generator tests: database hashes and the invariant checker.

``check_invariants(db)`` asserts every structural promise of PLUREL_SPEC.md and CONTRACT.md that
holds for any database generated from a random (non-DDL) schema, against the priors of the
config that made it. Tests over many seeds, presets and random configs all call it.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import networkx as nx
import numpy as np
import pandas as pd

import plurel_core as pc

PK = "row_idx"
TIME = "date"


def small_config(**changes) -> pc.Config:
    """The demo preset shrunk further, for loops over many seeds (a few ms per database)."""
    base = {
        "schema.num_tables": (2, 5),
        "schema.entity_rows": (30, 60),
        "schema.activity_rows": (60, 120),
        "schema.feature_columns": (2, 6),
    }
    base.update(changes)
    return pc.Config.preset("demo").replace(**base)


@lru_cache(maxsize=64)
def cached_generate(preset: str, seed: int) -> pc.Database:
    """One database per (preset, seed) per process; tests only read it."""
    return pc.generate(pc.Config.preset(preset), seed)


def table_digest(df: pd.DataFrame) -> str:
    """Hash of a DataFrame's values (row by row), column names and dtypes."""
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    for c in df.columns:  # per column too: hash_pandas_object combines columns, keep each one visible
        h.update(pd.util.hash_pandas_object(df[c], index=False).to_numpy().tobytes())
    return h.hexdigest()


def db_digest(db: pc.Database) -> dict[str, str]:
    """Table name -> digest, in generation order (the order is part of the result)."""
    return {name: table_digest(t.df) for name, t in db.tables.items()}


def in_range(value, rng) -> bool:
    return rng.lo <= value <= rng.hi


def check_invariants(db: pc.Database, cfg: pc.Config | None = None) -> None:
    """Assert the invariants of a database generated from a random schema."""
    cfg = cfg if cfg is not None else db.config
    sp = cfg.schema
    tr = db.trace
    g = tr.schema_graph

    # Schema DAG
    assert set(g.nodes) == set(db.tables), "schema graph nodes are the tables"
    assert nx.is_directed_acyclic_graph(g)
    assert nx.is_weakly_connected(g)
    assert in_range(len(db.tables), sp.num_tables)
    assert tr.table_layout in sp.table_layouts

    # Time span and cut-offs
    start, end = pd.Timestamp(sp.start_date), pd.Timestamp(sp.end_date)
    lo, hi = tr.min_timestamp, tr.max_timestamp
    assert start <= lo < hi <= end
    span = (hi - lo).days
    assert tr.val_timestamp == lo + pd.Timedelta(days=math.floor(sp.val_fraction * span))
    assert tr.test_timestamp == lo + pd.Timedelta(days=math.floor(sp.test_fraction * span))
    assert db.val_timestamp == tr.val_timestamp and db.test_timestamp == tr.test_timestamp
    assert lo <= tr.val_timestamp <= tr.test_timestamp <= hi

    for name, t in db.tables.items():
        df = t.df
        n = len(df)
        priors = tr.priors["tables"][name]
        node = g.nodes[name]
        assert node["rows"] == n == priors["rows"]
        assert list(t.columns) == list(df.columns), "one ColumnMeta per df column, in df order"

        # Kind: activity tables are exactly the sinks
        sink = g.out_degree(name) == 0
        assert t.kind == node["kind"] == ("activity" if sink else "entity"), name
        assert in_range(n, sp.activity_rows if sink else sp.entity_rows), (name, n)

        # Primary key
        assert t.pkey_col == PK
        pk = df[PK].to_numpy()
        assert df[PK].dtype == np.int64
        assert np.array_equal(pk, np.arange(n)), "PK is 0..n-1 (hence unique)"
        assert df[PK].is_unique

        # Foreign keys: one per parent, parents in sorted node order, every value a valid parent row
        parents = sorted(g.predecessors(name), key=lambda p: g.nodes[p]["node_id"])
        expected_fks = {f"foreign_row_{i}": p for i, p in enumerate(parents)}
        assert t.fkey_col_to_pkey_table == expected_fks, name
        for col, parent in t.fkey_col_to_pkey_table.items():
            if cfg.links.v2_nullable_fks and df[col].dtype == "Int64":  # the paper + v2 mix: NULL = -1
                assert tr.links[f"{name}.{col}"].nullable, (name, col)
                v = df[col].fillna(-1).to_numpy(dtype=np.int64)
                assert v.min(initial=0) >= -1 and v.max(initial=-1) < len(db.tables[parent].df), (name, col)
            else:
                v = df[col].to_numpy()
                assert df[col].dtype == np.int64, (name, col)
                assert v.min(initial=0) >= 0 and v.max(initial=-1) < len(db.tables[parent].df), (name, col)
            assert len(v) == n
            assert np.array_equal(v, tr.links[f"{name}.{col}"].parent_index)
            assert t.columns[col].kind == "fkey"

        # Time column of activity tables: sorted, inside the span, evenly spaced from min to max
        if sink:
            assert t.time_col == TIME
            ts = df[TIME]
            assert ts.dtype == "datetime64[ns]"
            assert ts.is_monotonic_increasing
            assert ts.min() >= lo and ts.max() <= hi
            if n > 1:
                assert ts.iloc[0] == lo and ts.iloc[-1] == hi
        else:
            assert t.time_col is None and TIME not in df.columns

        # Feature columns
        m = priors["feature_columns"]
        assert in_range(m, sp.feature_columns), (name, m)
        feats = t.feature_cols
        assert len(feats) <= m
        all_feats = [f"feature_{k}" for k in range(m)]
        assert set(feats) <= set(all_feats)
        assert sorted(set(all_feats) - set(feats)) == sorted(priors["dropped_columns"])
        if not cfg.postprocess.binarize:
            assert feats == all_feats, "nothing is dropped with binarization off"
        expected_cols = [PK, *expected_fks, *feats] + ([TIME] if sink else [])
        assert sorted(df.columns) == sorted(expected_cols)

        r = priors["missing_rate"]
        assert in_range(r, cfg.postprocess.missing_rate)
        n_missing = math.floor(r * n)
        assert priors["missing_per_numerical_column"] == n_missing
        for col in feats:
            meta = t.columns[col]
            if meta.kind == "numerical":
                x = df[col].to_numpy()
                assert df[col].dtype == np.float64
                assert int(np.isnan(x).sum()) == n_missing, (name, col)
                assert meta.missing == n_missing
                assert not np.isinf(x).any(), (name, col)
                assert meta.transform in cfg.postprocess.transforms
            else:
                assert meta.kind == "categorical", (name, col, meta.kind)
                if cfg.postprocess.binarize:
                    # the authors' output: a binarized categorical is a bool column, never missing,
                    # and one left with a single value is dropped
                    assert df[col].dtype == np.bool_, (name, col, df[col].dtype)
                    assert meta.binarized and meta.categories == [False, True]
                    assert df[col].nunique() == 2, f"{name}.{col} is binarized and constant but was kept"
                else:
                    dtype = df[col].dtype
                    assert isinstance(dtype, pd.CategoricalDtype) and not dtype.ordered, (name, col, dtype)
                    k = len(meta.categories)
                    assert meta.categories == list(range(k)) == list(dtype.categories), (name, col)
                    assert dtype.categories.dtype == np.int64
                    assert in_range(k, sp.num_categories), (name, col, k)
                    assert not df[col].isna().any(), (name, col)
        dropped = priors["dropped_columns"]
        if dropped:
            assert cfg.postprocess.binarize, "only binarization drops columns"
        for col in dropped:
            assert col not in df.columns

    # Links trace covers exactly the FKs
    assert set(tr.links) == {f"{c}.{col}" for c, col, _ in db.foreign_keys}
    assert db.num_rows == sum(len(t.df) for t in db.tables.values())


def assert_same_tables(a: pc.Database, b: pc.Database) -> None:
    """Same table names, columns, dtypes and bytes."""
    assert list(a.tables) == list(b.tables)
    for name, t in a.tables.items():
        other = b.tables[name].df
        pd.testing.assert_frame_equal(t.df, other, check_exact=True)
        assert list(t.df.dtypes) == list(other.dtypes)
        assert np.array_equal(pd.util.hash_pandas_object(t.df).to_numpy(),
                              pd.util.hash_pandas_object(other).to_numpy()), name


def drawn_links(fig) -> tuple[dict[int, int], dict[float, int]]:
    """Read a walkthrough bipartite figure (``walk_plots.links_figure``) back: {child row: parent
    row} from its line segments (child point, parent point, gap), and the child dots' rows by y."""
    dots = [t for t in fig.data if t.type == "scatter" and t.mode == "markers"]
    y_parent = {round(y, 6): i for i, y in enumerate(dots[0].y)}
    y_child = {round(y, 6): i for i, y in enumerate(dots[1].y)}
    drawn = {}
    for t in fig.data:
        if t.type == "scatter" and t.mode == "lines":
            ys = list(t.y)
            for k in range(0, len(ys), 3):
                drawn[y_child[round(ys[k], 6)]] = y_parent[round(ys[k + 1], 6)]
    return drawn, y_child
