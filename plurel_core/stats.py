"""Numbers the views show: FK degree distributions, column summaries, database-level figures.

Pure functions of a :class:`~plurel_core.database.Database` (or plain arrays); no plotting here.
"""

from __future__ import annotations

import functools
from typing import Any

import networkx as nx
import numba
import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

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
    """One row per foreign key: names, HSBM sizes, popularity and degree figures.

    A v2 database adds, after "parent", the key's link ``model`` (random / hsbm / tree),
    ``nullable``, the ``null rate`` drawn, ``duplicate`` (a further key to the same parent),
    ``self`` (a self-reference tree), ``aggregated`` (child columns summarised into the parent)
    and the HSBM's ``inactive`` parent share; its HSBM columns are empty for non-HSBM keys. So does
    a paper database drawn with the paper + v2 mix (its keys' records have a ``model``)."""
    priors = db.trace.priors or {}
    infos = priors.get("links") or {}
    v2 = priors.get("design_space") == "v2" or any("model" in (i or {}) for i in infos.values())
    rows = []
    for key in fk_keys(db):
        link = db.trace.links[key]
        s = degree_summary(fk_degrees(db, key))
        row = {"foreign key": fk_label(db, key), "child": link.child, "parent": link.parent}
        hsbm = True
        if v2:
            info = infos.get(key) or {}
            hsbm = info.get("model") in ("hsbm", "paper_hsbm")
            row.update({"model": info.get("model", ""), "nullable": bool(info.get("nullable", False)),
                        "null rate": float(info.get("null_rate", 0.0)),
                        "duplicate": bool(info.get("duplicate", False)), "self": link.child == link.parent,
                        "aggregated": bool(info.get("aggregate", False)),
                        "inactive": float(info["inactive_share"]) if "inactive_share" in info else np.nan})
        row.update({
            "levels": link.levels if hsbm else pd.NA, "h_parent": "×".join(map(str, link.h_parent)) if hsbm else "",
            "h_child": "×".join(map(str, link.h_child)) if hsbm else "", "popularity": _popularity(link) if hsbm else "",
            "coverage": s["coverage"], "gini": s["gini"], "max children": s["max"],
            "mean children": s["mean"], "null share": float(link.null_share),
        })
        rows.append(row)
    out = pd.DataFrame(rows)
    if v2 and len(out):
        out["levels"] = out["levels"].astype("Int64")
    return out


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


def missing_count(s: pd.Series) -> int:
    """Missing cells of a column (NaN of a float column without pandas' per-call costs)."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return int(np.isnan(s.to_numpy()).sum())
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return 0
    return int(s.isna().sum())


def missing_share(series: pd.Series) -> float:
    return missing_count(series) / len(series) if len(series) else 0.0


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


def numeric_column(table, col: str) -> np.ndarray:
    """One feature column as float64 (see :func:`numeric_frame`), without pandas' per-call costs
    for the common dtypes (float64, bool, int, categorical)."""
    s = table.df[col]
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        cats = s.cat.categories
        values = cats.to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(cats.dtype) \
            else np.arange(len(cats), dtype=np.float64)
        return np.where(codes >= 0, values[np.clip(codes, 0, None)] if len(cats) else np.nan, np.nan)
    if isinstance(dtype, np.dtype) and dtype.kind in "fbiu":  # float64 as it is; bool 0/1; integers
        return s.to_numpy(dtype=np.float64)
    kind = table.columns[col].kind
    if kind == "time" or pd.api.types.is_datetime64_any_dtype(s):
        return ((s - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64)
    if kind == "text" or pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(dtype):
        codes = pd.Categorical(s).codes.astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    if pd.api.types.is_bool_dtype(s):  # nullable "boolean"
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").astype(np.float64).to_numpy()


def numeric_frame(table, cols: list[str] | None = None) -> pd.DataFrame:
    """Feature columns as floats for correlations and plots: integer-labelled categoricals as their
    labels, other categoricals and text as codes (NaN where missing), booleans as 0/1, time as days."""
    cols = table.feature_cols if cols is None else cols
    return pd.DataFrame({col: numeric_column(table, col) for col in cols}, index=table.df.index)


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
# The figures of one database that the prior explorer, the compare page and ``plurel stats`` /
# ``plurel compare`` show over many seeds. Names are the keys of :func:`database_figures`.
FIGURES: tuple[str, ...] = (
    "tables", "foreign keys", "rows", "cells", "feature columns per table", "categorical share",
    "missing rate", "schema depth", "max in-degree", "FK coverage (mean)", "FK Gini (mean)",
    "top-1% parent share", "mean |Spearman|", "lag-1 autocorrelation", "parent->child dependence",
    "seconds",
)
# The slowest figures, computed only when asked for (a quick model per column: learnability.py).
LEARNABILITY_FIGURES: tuple[str, ...] = ("learnability gain", "row-only learnability")
LEARNABILITY_ROWS = 1000  # rows per table for the per-database learnability figures
FIGURE_HELP: dict[str, str] = {
    "learnability gain": "median gain of the with-parents score (b) over the row-only score (a) over the "
                         "columns of tables with parents (learnability_gain), tables subsampled to "
                         f"{LEARNABILITY_ROWS} rows; NaN without foreign keys",
    "row-only learnability": "median over feature columns of the row-only score (a) minus its baseline "
                             "(R^2, AUROC or balanced accuracy against mean / majority)",
    "tables": "number of tables",
    "foreign keys": "number of foreign-key columns",
    "rows": "rows over all tables",
    "cells": "rows x columns over all tables (keys and time columns included)",
    "feature columns per table": "mean over tables of the number of feature columns",
    "categorical share": "share of feature columns (all tables) that are categorical, text or boolean",
    "missing rate": "missing cells / cells over the feature columns of all tables",
    "schema depth": "foreign keys on the longest parent -> child chain of tables (0 without FKs)",
    "max in-degree": "largest number of foreign-key columns held by one table",
    "FK coverage (mean)": "mean over FKs of the share of parent rows with at least one child",
    "FK Gini (mean)": "mean over FKs of the Gini coefficient of children per parent row",
    "top-1% parent share": "mean over FKs of the share of children that point at the top 1% of parents",
    "mean |Spearman|": "mean over tables of the mean |Spearman rho| over pairs of its feature columns",
    "lag-1 autocorrelation": "mean over activity-table columns of corr(x_t, x_t+1) in time order",
    "parent->child dependence": "max over FKs and column pairs of |Spearman rho| between a parent "
                                "column (at the referenced row) and a child column",
    "seconds": "generation time in seconds",
}
# feature kinds that have a numeric reading (codes for categoricals, 0/1 for booleans)
_ORDINAL_KINDS = ("numerical", "categorical", "boolean")
_MIN_PAIRS = 3


def _ordinal_frame(table) -> np.ndarray:
    """The table's numerical, categorical (codes) and boolean feature columns as float64 (n x k)."""
    cols = [c for c in table.feature_cols if table.columns[c].kind in _ORDINAL_KINDS]
    out = np.empty((len(table.df), len(cols)), dtype=np.float64)
    for j, col in enumerate(cols):
        out[:, j] = numeric_column(table, col)
    return out


def _ranks(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Average ranks of each column of ``x`` (n x k) over its finite values; NaN stays NaN.

    With ``weights`` (n non-negative integers), row i counts ``weights[i]`` times: the result is
    the average rank row i's value has in the multiset where it repeats that often, so
    ``_ranks(x, w)[idx]`` equals ``_ranks(x[idx])`` for ``w = bincount(idx)`` (parents ranked
    once, not once per child).
    """
    return _ranks_of(*_sorted_columns(x), weights)


def _sorted_columns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``x`` as rows (k x n, non-finite values NaN) and each row's sort order.

    NaN sorts last; the order within a run of equal values does not matter (they share one
    average rank, and integer weights sum exactly in any order), so numpy's faster unstable sort
    serves.
    """
    xt = np.ascontiguousarray(np.where(np.isfinite(x), x, np.nan).T)
    return xt, np.argsort(xt, axis=1)


def _ranks_of(xt: np.ndarray, order: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    k, n = xt.shape
    if n == 0:
        return np.empty((0, k))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.empty((k, n))
    _average_ranks(xt, order, w, out)
    return out.T


class _TableRanks:
    """Each table's sorted columns and plain ranks, computed once for a database's figures (the
    Spearman figures rank a table's columns, the parent->child figure ranks a parent again with
    its children's counts as weights: the same sort order)."""

    def __init__(self, frames: dict[str, np.ndarray]) -> None:
        self.frames = frames
        self._sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._plain: dict[str, np.ndarray] = {}

    def ranks(self, name: str, weights: np.ndarray | None = None) -> np.ndarray:
        if name not in self._sorted:
            self._sorted[name] = _sorted_columns(self.frames[name])
        if weights is not None:
            return _ranks_of(*self._sorted[name], weights)
        if name not in self._plain:
            self._plain[name] = _ranks_of(*self._sorted[name], None)
        return self._plain[name]


@numba.njit(cache=True, nogil=True)
def _average_ranks(xt, orders, w, out):
    """out[j] = the average ranks of row j of xt (NaN: NaN) in the order orders[j], row i counting
    w[i] times: one pass per column (the ranks are sums of integer weights, exact in float64)."""
    k, n = xt.shape
    for j in range(k):
        x, order = xt[j], orders[j]
        i = 0
        before = 0.0  # weight of the values below the current run
        while i < n:
            v = x[order[i]]
            if v != v:
                for e in range(i, n):
                    out[j, order[e]] = np.nan
                break
            upto = before
            e = i
            while e < n and x[order[e]] == v:
                upto += w[order[e]]
                e += 1
            rank = before + (upto - before + 1.0) / 2.0
            for m in range(i, e):
                out[j, order[m]] = rank
            before = upto
            i = e


def _centered(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finite mask, values centred on the column mean with missing set to 0, constant columns)."""
    ok = np.isfinite(x)
    count = ok.sum(axis=0)
    filled = np.where(ok, x, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.zeros(x.shape[1]), where=count > 0)
    hi = np.where(ok, x, -np.inf).max(axis=0, initial=-np.inf)
    lo = np.where(ok, x, np.inf).min(axis=0, initial=np.inf)
    return ok, np.where(ok, x - mean, 0.0), ~(hi > lo)


def _finish_corr(n, sx, sy, sxx, syy, sxy, const) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        r = (sxy - sx * sy / n) / np.sqrt(vx * vy)
    bad = (n < _MIN_PAIRS) | (vx <= 1e-10 * sxx) | (vy <= 1e-10 * syy) | const | ~np.isfinite(r)
    return np.where(bad, np.nan, np.clip(r, -1.0, 1.0))


def cross_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``x`` (n x a) with every column of ``y`` (n x b).

    Each pair uses the rows where both values are finite; a pair with fewer than 3 such rows, or
    where either column is constant over them, gives NaN. Matrix products, no loop over pairs.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mx, x0, cx = _centered(x)
    my, y0, cy = _centered(y) if y is not x else (mx, x0, cx)
    const = cx[:, None] | cy[None, :]
    if mx.all() and my.all():  # every pair uses every row: the sums per column serve all pairs
        n = np.full(const.shape, float(x.shape[0]))
        return _finish_corr(n, x0.sum(axis=0)[:, None], y0.sum(axis=0)[None, :], (x0 * x0).sum(axis=0)[:, None],
                            (y0 * y0).sum(axis=0)[None, :], x0.T @ y0, const)
    fx, fy = mx.astype(np.float64), my.astype(np.float64)
    return _finish_corr(fx.T @ fy, x0.T @ fy, fx.T @ y0, (x0 * x0).T @ fy, fx.T @ (y0 * y0), x0.T @ y0, const)


def paired_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of column j of ``x`` with column j of ``y`` (same shape n x k), per j.

    Same rules as :func:`cross_correlation` (rows where both are finite, NaN when undefined).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    x = np.where(both, x, np.nan)
    y = np.where(both, y, np.nan)
    _, x0, cx = _centered(x)
    _, y0, cy = _centered(y)
    n = both.sum(axis=0).astype(np.float64)
    return _finish_corr(n, x0.sum(axis=0), y0.sum(axis=0), (x0 * x0).sum(axis=0), (y0 * y0).sum(axis=0),
                        (x0 * y0).sum(axis=0), cx | cy)


def spearman_matrix(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Spearman rho of the columns of ``x`` with those of ``y`` (default: ``x`` itself).

    rho is the Pearson correlation of average ranks; each column is ranked over its finite
    values, and a pair uses the rows where both are present (exact Spearman without missing values).
    """
    rx = _ranks(np.asarray(x, dtype=np.float64))
    ry = rx if y is None else _ranks(np.asarray(y, dtype=np.float64))
    return cross_correlation(rx, ry)


def schema_depth(db) -> int:
    """Foreign keys on the longest parent -> child chain of tables; 0 without foreign keys.

    Self-references are left out; tables on a reference cycle (possible with SQL schemas) count as
    one node (the longest path of the graph's condensation into strongly connected components).
    """
    g = nx.DiGraph()
    g.add_nodes_from(db.tables)
    g.add_edges_from((parent, child) for child, _, parent in db.foreign_keys if parent != child)
    if g.number_of_edges() == 0:
        return 0
    if not nx.is_directed_acyclic_graph(g):
        g = nx.condensation(g)
    return int(nx.dag_longest_path_length(g))


def max_in_degree(db) -> int:
    """Largest number of foreign-key columns held by one table (its in-degree in the parent ->
    child schema multigraph, a self-reference included); 0 without foreign keys."""
    return max((len(t.fkey_col_to_pkey_table) for t in db.tables.values()), default=0)


def top_share(counts: np.ndarray, share: float = 0.01) -> float:
    """Share of all children held by the ``ceil(share x parents)`` (at least 1) parents with the
    most children; NaN without children."""
    c = np.asarray(counts, dtype=np.float64).ravel()
    total = c.sum()
    if c.size == 0 or total <= 0:
        return float("nan")
    m = max(1, int(np.ceil(share * c.size - 1e-9)))
    top = np.partition(c, c.size - m)[c.size - m:]
    return float(top.sum() / total)


def mean_abs_spearman(db, frames: dict[str, np.ndarray] | None = None, ranks: _TableRanks | None = None) -> float:
    """Mean over tables of the mean |Spearman rho| over the pairs of the table's numerical,
    categorical (codes) and boolean feature columns (see :func:`spearman_matrix`).

    Undefined pairs (a constant column, fewer than 3 rows with both values) are left out; a table
    without a defined pair is left out; NaN when no table has one. ``ranks`` keeps each table's
    column ranks (:func:`parent_child_dependence` reads the same).
    """
    frames = _frames(db) if frames is None else frames
    ranks = _TableRanks(frames) if ranks is None else ranks
    means = []
    for name in db.tables:
        x = frames[name]
        if x.shape[1] < 2:
            continue
        rx = ranks.ranks(name)
        r = np.abs(cross_correlation(rx, rx)[np.triu_indices(x.shape[1], k=1)])
        r = r[np.isfinite(r)]
        if r.size:
            means.append(r.mean())
    return float(np.mean(means)) if means else float("nan")


def lag1_autocorrelation(db, frames: dict[str, np.ndarray] | None = None) -> float:
    """Mean over the columns of activity tables of their lag-1 autocorrelation in time order.

    For every activity table with a time column, rows are sorted by time (stable: ties keep row
    order, missing times last); for each numerical, categorical (codes) or boolean feature column
    the figure is the Pearson correlation of consecutive pairs (x_t, x_t+1) over the pairs where
    both are present. Undefined columns (constant, fewer than 3 pairs) are left out. NaN when no
    activity table has a defined column.
    """
    frames = _frames(db) if frames is None else frames
    values = []
    for name, t in db.tables.items():
        if t.kind != "activity" or t.time_col is None or len(t.df) < _MIN_PAIRS + 1:
            continue
        x = frames[name]
        if x.shape[1] == 0:
            continue
        times = t.df[t.time_col]
        if not (isinstance(times.dtype, np.dtype) and times.dtype.kind == "M"):
            times = pd.to_datetime(times, errors="coerce")
        stamp = times.to_numpy(dtype="datetime64[ns]")
        key = np.where(np.isnat(stamp), np.iinfo(np.int64).max, stamp.view(np.int64))
        x = x[np.argsort(key, kind="stable")]
        r = paired_correlation(x[:-1], x[1:])
        values.extend(r[np.isfinite(r)].tolist())
    return float(np.mean(values)) if values else float("nan")


def parent_child_dependence(db, frames: dict[str, np.ndarray] | None = None,
                            ranks: _TableRanks | None = None) -> float:
    """Strongest dependence of a child column on a parent column through a foreign key.

    For every FK, over the child rows with a (non-null) reference: |Spearman rho| between each
    numerical / categorical / boolean feature column of the parent, read at the referenced row,
    and each such column of the child (see :func:`spearman_matrix`). The figure is the maximum over
    all FKs and column pairs; NaN when no FK has a defined pair.
    """
    frames = _frames(db) if frames is None else frames
    ranks = _TableRanks(frames) if ranks is None else ranks
    best = float("nan")
    for key in fk_keys(db):
        link = db.trace.links[key]
        if link.parent not in frames or link.child not in frames:
            continue
        child, parent = frames[link.child], frames[link.parent]
        if child.shape[1] == 0 or parent.shape[1] == 0:
            continue
        idx = fk_parent_index(db, key)
        ok = (idx >= 0) & (idx < parent.shape[0])
        if ok.sum() < _MIN_PAIRS:
            continue
        rc = ranks.ranks(link.child) if ok.all() else _ranks(child[ok])
        used = idx[ok]
        rp = ranks.ranks(link.parent, np.bincount(used, minlength=parent.shape[0]))[used]
        r = np.abs(cross_correlation(rp, rc))
        if np.isfinite(r).any():
            best = float(np.nanmax([best, np.nanmax(r)]))
    return best


def _frames(db) -> dict[str, np.ndarray]:
    return {name: _ordinal_frame(t) for name, t in db.tables.items()}


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The process's thread pools, found once (a scan of the loaded libraries costs milliseconds)."""
    return ThreadpoolController()


def _seconds(db) -> float:
    total = float(dict(db.trace.timings).get("total", 0.0) or 0.0)
    return total if total > 0 else float("nan")


def database_figures(db, seconds: float | None = None) -> dict[str, float]:
    """The figures of one database, keyed by :data:`FIGURES` (all floats; NaN = undefined).

    - tables; foreign keys (FK columns); rows; cells (rows x columns, keys and time included);
    - feature columns per table: mean over tables of the number of feature columns;
    - categorical share: share of all feature columns whose kind is categorical, text or boolean
      (NaN without feature columns);
    - missing rate: missing cells / cells over all feature columns (NaN without feature cells);
    - schema depth (:func:`schema_depth`) and max in-degree (:func:`max_in_degree`);
    - FK coverage (mean), FK Gini (mean): over FKs, the share of parent rows with a child and the
      Gini coefficient of children per parent row (:func:`gini`); NaN without FKs;
    - top-1% parent share: mean over FKs with children of :func:`top_share` (NaN without);
    - mean |Spearman| (:func:`mean_abs_spearman`), lag-1 autocorrelation
      (:func:`lag1_autocorrelation`), parent->child dependence (:func:`parent_child_dependence`);
    - seconds: ``seconds`` if given, else the trace's total generation time (NaN when the trace
      has none, e.g. a database loaded from an export).
    """
    n_feat = n_cat = 0
    cells = missing = 0
    for t in db.tables.values():
        for col in t.feature_cols:
            n_feat += 1
            n_cat += t.columns[col].kind in ("categorical", "text", "boolean")
            s = t.df[col]
            cells += len(s)
            missing += missing_count(s)
    degrees = [fk_degrees(db, k) for k in fk_keys(db)]
    tops = [top_share(d) for d in degrees]
    tops = [v for v in tops if np.isfinite(v)]
    nan = float("nan")
    frames = _frames(db)
    with _blas_controller().limit(limits=1, user_api="blas"):  # small products: threads only contend
        ranks = _TableRanks(frames)
        spearman = mean_abs_spearman(db, frames, ranks)
        lag1 = lag1_autocorrelation(db, frames)
        dependence = parent_child_dependence(db, frames, ranks)
    return {
        "tables": float(len(db.tables)),
        "foreign keys": float(len(db.foreign_keys)),
        "rows": float(db.num_rows),
        "cells": float(db.num_cells),
        "feature columns per table": n_feat / len(db.tables) if db.tables else nan,
        "categorical share": n_cat / n_feat if n_feat else nan,
        "missing rate": missing / cells if cells else nan,
        "schema depth": float(schema_depth(db)),
        "max in-degree": float(max_in_degree(db)),
        "FK coverage (mean)": float(np.mean([coverage(d) for d in degrees])) if degrees else nan,
        "FK Gini (mean)": float(np.mean([gini(d) for d in degrees])) if degrees else nan,
        "top-1% parent share": float(np.mean(tops)) if tops else nan,
        "mean |Spearman|": spearman,
        "lag-1 autocorrelation": lag1,
        "parent->child dependence": dependence,
        "seconds": float(seconds) if seconds is not None else _seconds(db),
    }


def learnability_figures(db, *, max_rows: int = LEARNABILITY_ROWS, seed: int = 0) -> dict[str, float]:
    """The database-level learnability figures (:data:`LEARNABILITY_FIGURES`) of ``db``."""
    res = database_learnability(db, max_rows=max_rows, seed=seed)
    lift = (res["row_only"] - res["baseline"]).dropna() if len(res) else pd.Series(dtype=float)
    return {"learnability gain": learnability_gain(res),
            "row-only learnability": float(lift.median()) if len(lift) else float("nan")}


def seed_figures(config_json: str, seed: int, max_cells: int | None = None, ddl: str = "",
                 dialect: str = "auto", with_learnability: bool = False) -> dict[str, Any]:
    """Generate (config, seed[, DDL schema]) and return ``{"estimate": cells, "figures": {...}}``,
    or ``{"estimate": cells, "figures": None}`` without generating when the stage-1 estimate is
    over ``max_cells``. With ``with_learnability`` the figures include :data:`LEARNABILITY_FIGURES`
    (seconds stay the generation's). Top-level and picklable: the app's worker processes run it."""
    import plurel_core as pc

    config = _config_from_json(config_json)
    schema = _schema_from_ddl(ddl, dialect) if ddl else None
    estimate = int(pc.estimate_cells(config, int(seed), schema))
    if max_cells is not None and estimate > max_cells:
        return {"estimate": estimate, "figures": None}
    db = pc.generate(config, int(seed), schema, max_cells=max_cells, threads=1)
    figures = database_figures(db)
    if with_learnability:
        figures.update(learnability_figures(db))
    return {"estimate": estimate, "figures": figures}


def warm_up() -> None:
    """Load what :func:`seed_figures` needs in a fresh worker process (the generator's compiled
    kernels) by computing the figures of one small database."""
    from plurel_core.config import Config

    seed_figures(Config.preset("demo").to_json(indent=None), 0)


@functools.lru_cache(maxsize=8)
def _config_from_json(config_json: str):
    from plurel_core.config import Config

    return Config.from_json(config_json)


@functools.lru_cache(maxsize=8)
def _schema_from_ddl(ddl: str, dialect: str):
    from plurel_core.ddl import schema_from_ddl

    return schema_from_ddl(ddl, None if dialect == "auto" else dialect)


def present_figures(*frames: pd.DataFrame) -> list[str]:
    """The figures (:data:`FIGURES`, then :data:`LEARNABILITY_FIGURES`) that every frame has."""
    return [f for f in FIGURES + LEARNABILITY_FIGURES if all(f in frame.columns for frame in frames)]


def figure_summary(frame: pd.DataFrame, figures: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per figure over the rows of ``frame`` (one per database): n (finite values), median, p10, p90.
    Default: every figure of :data:`FIGURES`, and the learnability figures when ``frame`` has them."""
    if figures is None:
        figures = list(FIGURES) + [f for f in LEARNABILITY_FIGURES if f in frame.columns]
    rows = []
    for name in figures:
        v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64) if name in frame \
            else np.array([])
        v = v[np.isfinite(v)]
        q = np.percentile(v, [50, 10, 90]) if v.size else [np.nan] * 3
        rows.append({"figure": name, "n": int(v.size), "median": float(q[0]), "p10": float(q[1]),
                     "p90": float(q[2])})
    return pd.DataFrame(rows, columns=["figure", "n", "median", "p10", "p90"])


def ks_table(a: pd.DataFrame, b: pd.DataFrame,
             figures: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Two-sample Kolmogorov-Smirnov test per figure between the databases of ``a`` and ``b``.

    One row per figure (default: the :data:`FIGURES` present in both frames): KS statistic,
    p-value (``scipy.stats.ks_2samp``, two-sided), the number of finite values and the medians of
    each side. Sorted by statistic, largest first; a figure without finite values on a side gets
    NaN and goes last.
    """
    from scipy.stats import ks_2samp

    if figures is None:
        figures = present_figures(a, b)
    rows = []
    for name in figures:
        va = pd.to_numeric(a[name], errors="coerce").to_numpy(dtype=np.float64)
        vb = pd.to_numeric(b[name], errors="coerce").to_numpy(dtype=np.float64)
        va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
        stat = p = float("nan")
        if va.size and vb.size:
            res = ks_2samp(va, vb)
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append({"figure": name, "KS statistic": stat, "p-value": p, "n A": int(va.size),
                     "n B": int(vb.size), "median A": float(np.median(va)) if va.size else float("nan"),
                     "median B": float(np.median(vb)) if vb.size else float("nan")})
    out = pd.DataFrame(rows, columns=["figure", "KS statistic", "p-value", "n A", "n B", "median A",
                                      "median B"])
    return out.sort_values("KS statistic", ascending=False, na_position="last", kind="stable") \
        .reset_index(drop=True)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not (set(value) == {"lo", "hi"}):
            out.update(_flat(value, f"{path}."))
        else:
            out[path] = value
    return out


NOT_IN_CONFIG = "(not in this config)"


def config_value_text(value: Any) -> str:
    """A config value as short text: ranges as ``lo..hi``, lists comma-separated; a field one of
    two configs lacks (a paper config has no ``v2_*`` sections) as "(not in this config)"."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return NOT_IN_CONFIG
    if isinstance(value, dict) and set(value) == {"lo", "hi"}:
        return f"{value['lo']}..{value['hi']}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def config_diff(a, b) -> pd.DataFrame:
    """The fields where configs ``a`` and ``b`` differ: columns path (dotted, e.g.
    "schema.num_tables"), A, B (values as in ``Config.to_dict``); empty when they are equal."""
    fa, fb = _flat(a.to_dict()), _flat(b.to_dict())
    rows = [{"path": path, "A": fa.get(path), "B": fb.get(path)}
            for path in list(dict.fromkeys([*fa, *fb])) if fa.get(path) != fb.get(path)]
    return pd.DataFrame(rows, columns=["path", "A", "B"])


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
