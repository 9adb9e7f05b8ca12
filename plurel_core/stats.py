"""Numbers the views show: FK degree distributions, column summaries, database-level figures.

Pure functions of a :class:`~plurel_core.database.Database` (or plain arrays); no plotting here.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from plurel_core.schema import FEATURE_KINDS


# --- degree distributions -------------------------------------------------------------------
def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 = all equal, (n-1)/n = all on one item."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * x).sum() / (n * total)) - (n + 1.0) / n)


def coverage(counts: np.ndarray) -> float:
    """Share of parent rows with at least one child."""
    c = np.asarray(counts)
    return float((c > 0).mean()) if c.size else 0.0


def ccdf(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complementary CDF: distinct values k (ascending) and P(X >= k), non-increasing."""
    c = np.asarray(counts, dtype=np.int64).ravel()
    if c.size == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
    ks, freq = np.unique(c, return_counts=True)
    tail = np.cumsum(freq[::-1])[::-1]
    return ks, tail / c.size


def children_per_parent(parent_index: np.ndarray, n_parent: int) -> np.ndarray:
    """Number of child rows pointing at each of ``n_parent`` parent rows (-1 = null, skipped)."""
    idx = np.asarray(parent_index, dtype=np.int64)
    idx = idx[(idx >= 0) & (idx < n_parent)]
    return np.bincount(idx, minlength=n_parent).astype(np.int64)


def fk_keys(db) -> list[str]:
    """Keys of the FK traces ("child.fkey_col"), in table order."""
    return [f"{c}.{col}" for c, col, _ in db.foreign_keys if f"{c}.{col}" in db.trace.links]


def fk_label(db, key: str) -> str:
    link = db.trace.links[key]
    return f"{link.child}.{link.fkey_col} → {link.parent}"


def fk_parent_index(db, key: str) -> np.ndarray:
    """Parent row position of every child row (from the trace; -1 = null reference)."""
    return np.asarray(db.trace.links[key].parent_index, dtype=np.int64)


def fk_degrees(db, key: str) -> np.ndarray:
    link = db.trace.links[key]
    return children_per_parent(link.parent_index, len(db.tables[link.parent].df))


def degree_summary(counts: np.ndarray) -> dict[str, float]:
    c = np.asarray(counts)
    return {
        "parents": int(c.size),
        "children": int(c.sum()),
        "coverage": coverage(c),
        "gini": gini(c),
        "max": int(c.max()) if c.size else 0,
        "mean": float(c.mean()) if c.size else 0.0,
    }


def fk_table(db) -> pd.DataFrame:
    """One row per foreign key: names, HSBM sizes, popularity and degree figures."""
    rows = []
    for key in fk_keys(db):
        link = db.trace.links[key]
        s = degree_summary(fk_degrees(db, key))
        rows.append({
            "foreign key": fk_label(db, key), "child": link.child, "parent": link.parent,
            "levels": link.levels, "h_parent": "×".join(map(str, link.h_parent)),
            "h_child": "×".join(map(str, link.h_child)), "popularity": _popularity(link),
            "coverage": s["coverage"], "gini": s["gini"], "max children": s["max"],
            "mean children": s["mean"], "null share": float(link.null_share),
        })
    return pd.DataFrame(rows)


def _popularity(link) -> str:
    if link.popularity_param is None or link.popularity_law == "constant":
        return str(link.popularity_law)
    return f"{link.popularity_law} ({float(link.popularity_param):.3g})"


def block_crosstab(db, key: str) -> pd.DataFrame:
    """Child rows by (child cluster, parent cluster of the chosen parent): the block structure."""
    link = db.trace.links[key]
    pidx = np.asarray(link.parent_index, dtype=np.int64)
    cblock = np.asarray(link.child_block, dtype=np.int64)
    pblock = np.asarray(link.parent_block, dtype=np.int64)
    ok = pidx >= 0
    tab = pd.crosstab(pd.Series(cblock[ok], name="child block"),
                      pd.Series(pblock[pidx[ok]], name="parent block"))
    return tab.sort_index(axis=0).sort_index(axis=1)


# --- tables and columns ---------------------------------------------------------------------
def feature_kind(table, col: str) -> str:
    """The kind a view counts a feature column as: a binarized categorical (a ``bool`` column) is
    a boolean, apart from the categoricals that keep their labels."""
    meta = table.columns[col]
    return "boolean" if meta.kind == "categorical" and meta.binarized else meta.kind


def feature_kind_counts(table) -> dict[str, int]:
    counts = dict.fromkeys(FEATURE_KINDS, 0)
    for col in table.feature_cols:
        kind = feature_kind(table, col)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def table_overview(db) -> pd.DataFrame:
    """One row per table: kind, rows, feature columns by type, parents, children, time column."""
    g = db.trace.schema_graph
    rows = []
    for name, t in db.tables.items():
        counts = feature_kind_counts(t)
        parents = sorted(set(t.fkey_col_to_pkey_table.values()))
        children = sorted(g.successors(name)) if name in g else []
        rows.append({
            "table": name, "kind": t.kind, "rows": len(t.df), "columns": len(t.columns) or t.df.shape[1],
            **{k: v for k, v in counts.items()},
            "parents": ", ".join(parents), "children": ", ".join(children),
            "time column": t.time_col or "",
            "generation": int(g.nodes[name].get("generation", 0)) if name in g else 0,
        })
    return pd.DataFrame(rows)


def missing_share(series: pd.Series) -> float:
    return float(series.isna().mean()) if len(series) else 0.0


def column_summary(db, table: str) -> pd.DataFrame:
    """Per feature column: type, transform, missing share, distinct values."""
    t = db.tables[table]
    rows = []
    for col in t.feature_cols:
        meta = t.columns[col]
        s = t.df[col]
        rows.append({
            "column": col, "type": feature_kind(t, col), "dtype": str(s.dtype), "transform": meta.transform or "",
            "missing": missing_share(s), "distinct": int(s.nunique(dropna=True)),
            "binarized": bool(meta.binarized), "SCM node": meta.node,
        })
    return pd.DataFrame(rows)


def numeric_frame(table, cols: list[str] | None = None) -> pd.DataFrame:
    """Feature columns as floats for correlations and plots: integer-labelled categoricals as their
    labels, other categoricals and text as codes (NaN where missing), booleans as 0/1, time as days."""
    cols = table.feature_cols if cols is None else cols
    out = {}
    for col in cols:
        s = table.df[col]
        kind = table.columns[col].kind
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            cats = s.cat.categories
            values = cats.to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(cats.dtype) \
                else np.arange(len(cats), dtype=np.float64)
            out[col] = np.where(codes >= 0, values[np.clip(codes, 0, None)] if len(cats) else np.nan, np.nan)
        elif kind == "time" or pd.api.types.is_datetime64_any_dtype(s):
            out[col] = (s - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
        elif kind in ("text",) or pd.api.types.is_string_dtype(s) or s.dtype == object:
            codes = pd.Categorical(s).codes.astype(np.float64)
            codes[codes < 0] = np.nan
            out[col] = codes
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("Float64").astype(np.float64)
        else:
            out[col] = pd.to_numeric(s, errors="coerce").astype(np.float64)
    return pd.DataFrame(out, index=table.df.index)


def correlation(table, cols: list[str] | None = None) -> pd.DataFrame:
    """Pearson correlation of the table's feature columns (constant columns give NaN)."""
    frame = numeric_frame(table, cols)
    if frame.shape[1] == 0:
        return frame
    return frame.corr()


def joined(db, child: str, fkey_col: str, child_col: str, parent_col: str) -> pd.DataFrame:
    """Child column next to the parent column of the referenced row (inner join on the FK)."""
    ct = db.tables[child]
    parent = ct.fkey_col_to_pkey_table[fkey_col]
    pt = db.tables[parent]
    left = pd.DataFrame({"fk": pd.to_numeric(ct.df[fkey_col], errors="coerce"), "child": ct.df[child_col]})
    if pt.pkey_col is not None:
        right = pd.DataFrame({"fk": pt.df[pt.pkey_col].astype(np.float64), "parent": pt.df[parent_col]})
    else:
        right = pd.DataFrame({"fk": np.arange(len(pt.df), dtype=np.float64), "parent": pt.df[parent_col]})
    left["fk"] = left["fk"].astype(np.float64)
    return left.merge(right, on="fk", how="inner")[["child", "parent"]]


# --- database-level figures -------------------------------------------------------------------
def database_figures(db) -> dict[str, float]:
    """The figures compared across samples: tables, FKs, rows, columns, shares, FK Gini."""
    n_feat = n_cat = 0
    cells = missing = 0
    for t in db.tables.values():
        for col in t.feature_cols:
            kind = t.columns[col].kind
            n_feat += 1
            n_cat += kind in ("categorical", "text", "boolean")
            s = t.df[col]
            cells += len(s)
            missing += int(s.isna().sum())
    ginis = [gini(fk_degrees(db, k)) for k in fk_keys(db)]
    covs = [coverage(fk_degrees(db, k)) for k in fk_keys(db)]
    return {
        "tables": len(db.tables),
        "foreign keys": len(db.foreign_keys),
        "rows": db.num_rows,
        "cells": db.num_cells,
        "feature columns": n_feat,
        "categorical share": n_cat / n_feat if n_feat else 0.0,
        "missing rate": missing / cells if cells else 0.0,
        "FK Gini (mean)": float(np.mean(ginis)) if ginis else float("nan"),
        "FK coverage (mean)": float(np.mean(covs)) if covs else float("nan"),
        "activity tables": sum(t.kind == "activity" for t in db.tables.values()),
    }


def generation_positions(graph: nx.DiGraph, spacing_x: float = 1.0, spacing_y: float = 1.0,
                         generation_attr: str | None = None) -> dict[Any, tuple[float, float]]:
    """Layered (x = generation, y = rank in generation, centred) positions of a DAG's nodes."""
    if generation_attr is not None and all(generation_attr in d for _, d in graph.nodes(data=True)):
        gens: dict[int, list] = {}
        for node, d in graph.nodes(data=True):
            gens.setdefault(int(d[generation_attr]), []).append(node)
        layers = [gens[k] for k in sorted(gens)]
    else:
        try:
            layers = [list(gen) for gen in nx.topological_generations(graph)]
        except nx.NetworkXUnfeasible:
            layers = [list(graph.nodes)]
    pos: dict[Any, tuple[float, float]] = {}
    rank: dict[Any, float] = {}
    for gx, layer in enumerate(layers):
        # barycenter ordering: a node sits near the mean rank of its already placed parents,
        # which removes most edge crossings of a layered drawing
        def key(node, _rank=rank):
            ys = [_rank[p] for p in graph.predecessors(node) if p in _rank]
            return (sum(ys) / len(ys) if ys else float("inf"), str(node))

        layer = sorted(layer, key=key)
        for i, node in enumerate(layer):
            offset = i - (len(layer) - 1) / 2.0
            rank[node] = offset
            pos[node] = (gx * spacing_x, offset * spacing_y)
    return pos


def timings(db) -> dict[str, float]:
    t = dict(db.trace.timings)
    return {k: float(t[k]) for k in ("stage1", "stage2", "stage3", "postprocess", "total") if k in t}

from plurel_core.learnability import database_learnability, learnability, learnability_gain  # noqa: E402, F401
