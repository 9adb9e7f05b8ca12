"""Learnability: how well a quick model predicts each feature column, from its row and its parents.

For every feature column of a table a histogram gradient-boosting model (scikit-learn) predicts
the column (a) from the other feature columns of its row and (b) from those plus the feature
columns of the parent rows joined through every foreign key (one hop). The gap between (a) and
(b) is the signal the foreign keys carry: the reason a relational model looks across tables at
all. Each score sits beside a trivial baseline (the training mean or majority class) scored with
the same metric: R^2 for numerical (and time) columns, AUROC for boolean and binarized columns,
balanced accuracy for other categorical and text columns.

Split: activity tables by time (train on rows before ``db.val_timestamp``, test on rows from
``db.test_timestamp`` on), entity tables at random 80/20. Tables are subsampled to ``max_rows``
rows so a whole paper-preset database takes seconds. Pure functions of (database, seed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api.types import (
    CategoricalDtype,
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
)
from threadpoolctl import threadpool_limits

DEFAULT_MAX_ROWS = 2000  # rows per table: a paper-preset database in seconds on 2 cores
# The quick model: many small fits, so small trees, few bins and iterations, no early stopping
# (deterministic), and one OpenMP thread (on small data threads cost more than they bring).
HGB_PARAMS = dict(max_iter=20, max_leaf_nodes=7, learning_rate=0.3, max_bins=31, early_stopping=False)
MAX_CATEGORIES = 31  # HGB categories are codes below max_bins; more labels enter as a number
TEST_SHARE = 0.2  # random split of entity tables; also the test part's share of max_rows
MIN_TRAIN, MIN_TEST = 10, 5  # fewer labelled rows than this on either side: no score
METRICS = {"regression": "r2", "binary": "auroc", "multiclass": "balanced_accuracy"}
RESULT_COLUMNS = ["column", "kind", "metric", "baseline", "row_only", "with_parents", "table",
                  "n_train", "n_test", "row_features", "parent_features", "note"]

Progress = Callable[[int, int, str], None]


# --- split --------------------------------------------------------------------------------------
def split_rows(db, table: str, *, max_rows: int = DEFAULT_MAX_ROWS, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Positional (train, test) row indices of ``table``, sorted, at most ``max_rows`` in all.

    An activity table with a time column is split by time: train rows are strictly before
    ``db.val_timestamp``, test rows at or after ``db.test_timestamp`` (rows without a time and
    rows in between are in neither); the test part keeps at most ``max_rows // 5`` rows and the
    train part the rest of the budget. Other tables are split at random, 80/20, after a random
    subsample to ``max_rows``. Draws come from ``np.random.default_rng(seed)``.
    """
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2, got {max_rows}")
    t = db.tables[table]
    rng = np.random.default_rng(seed)
    n = len(t.df)
    if t.kind == "activity" and t.time_col is not None:
        times = pd.to_datetime(t.df[t.time_col])
        train = np.flatnonzero((times < db.val_timestamp).to_numpy(dtype=bool, na_value=False))
        test = np.flatnonzero((times >= db.test_timestamp).to_numpy(dtype=bool, na_value=False))
        test = _sample(test, int(max_rows * TEST_SHARE), rng)
        train = _sample(train, max_rows - test.size, rng)
        return train, test
    keep = rng.permutation(n)[: min(n, max_rows)]
    n_test = int(round(keep.size * TEST_SHARE)) if keep.size >= 2 else 0
    return np.sort(keep[n_test:]), np.sort(keep[:n_test])


def _sample(idx: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if idx.size <= k:
        return idx
    return np.sort(rng.choice(idx, size=max(k, 0), replace=False))


# --- encoding -------------------------------------------------------------------------------------
def encode_column(s: pd.Series, kind: str) -> tuple[np.ndarray, bool]:
    """A column as float64 (NaN = missing) and whether HGB should treat it as categorical.

    Datetimes become days since 1970, booleans 0/1, numerical columns stay numbers; categorical,
    text and any other labels become category codes (pandas ``category`` codes as they are,
    other labels sorted), categorical when there are at most :data:`MAX_CATEGORIES` of them.
    Works on both the old dtypes (int64 / "Int64" labels) and the new ones (bool, category).
    """
    if is_datetime64_any_dtype(s.dtype):
        ns = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        ns[s.isna().to_numpy()] = np.nan
        return ns / 86_400e9, False
    if is_bool_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), False
    if kind in ("numerical", "time") and is_numeric_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan), False
    if isinstance(s.dtype, CategoricalDtype):
        codes, k = s.cat.codes.to_numpy(), len(s.cat.categories)
    else:
        codes, k = _factorize(s)
    x = codes.astype(np.float64)
    x[codes < 0] = np.nan
    return x, k <= MAX_CATEGORIES


def _factorize(s: pd.Series) -> tuple[np.ndarray, int]:
    try:
        codes, uniques = pd.factorize(s, sort=True)
    except TypeError:  # labels of mixed types do not sort: first-seen order
        codes, uniques = pd.factorize(s, sort=False)
    return np.asarray(codes), len(uniques)


def _task(table, col: str) -> str:
    meta = table.columns[col]
    s = table.df[col]
    if meta.kind in ("boolean",) or meta.binarized or (is_bool_dtype(s.dtype) and meta.kind != "numerical"):
        return "binary"
    if meta.kind in ("numerical", "time") and (is_numeric_dtype(s.dtype) or is_datetime64_any_dtype(s.dtype)):
        return "regression"
    return "multiclass"


def _target(s: pd.Series, kind: str, task: str) -> np.ndarray:
    """The target as float64 (NaN = missing): values for regression, class codes 0..k-1 otherwise."""
    if task == "regression":
        return encode_column(s, kind)[0]
    if is_bool_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(s.dtype, CategoricalDtype):
        codes = s.cat.codes.to_numpy()
    else:
        codes, _ = _factorize(s)
    y = codes.astype(np.float64)
    y[codes < 0] = np.nan
    return y


def _row_features(table) -> tuple[list[str], np.ndarray, np.ndarray]:
    cols = table.feature_cols
    enc = [encode_column(table.df[c], table.columns[c].kind) for c in cols]
    x = np.column_stack([e[0] for e in enc]) if enc else np.empty((len(table.df), 0))
    return cols, x, np.array([e[1] for e in enc], dtype=bool)


def _parent_positions(fk: pd.Series, parent) -> np.ndarray:
    """Row position in ``parent`` of every FK value (-1 for a null or dangling reference)."""
    vals = fk.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    pos = np.full(vals.size, -1, dtype=np.int64)
    ok = ~np.isnan(vals)
    uniq, first = np.unique(parent.df[parent.pkey_col].to_numpy(), return_index=True)  # first row per key
    if uniq.size == 0:
        return pos
    hit = pd.Index(uniq).get_indexer(vals[ok].astype(np.int64))
    pos[ok] = np.where(hit >= 0, first[np.maximum(hit, 0)], -1)
    return pos


def _parent_features(db, table: str, encoded: dict) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Feature columns of the parent row behind every FK, named "fkey_col.column"."""
    t = db.tables[table]
    names, blocks, cats = [], [], []
    for fk, parent_name in t.fkey_col_to_pkey_table.items():
        parent = db.tables.get(parent_name)
        if parent is None or parent.pkey_col is None or not parent.feature_cols:
            continue
        if parent_name not in encoded:
            encoded[parent_name] = _row_features(parent)
        pcols, px, pcat = encoded[parent_name]
        pos = _parent_positions(t.df[fk], parent)
        block = px[np.maximum(pos, 0)]
        block[pos < 0] = np.nan
        names += [f"{fk}.{c}" for c in pcols]
        blocks.append(block)
        cats.append(pcat)
    if not blocks:
        return [], np.empty((len(t.df), 0)), np.zeros(0, dtype=bool)
    return names, np.hstack(blocks), np.concatenate(cats)


# --- models and scores ------------------------------------------------------------------------------
def _score(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    if task == "regression":
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        return float("nan") if ss_tot == 0.0 else 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot
    if task == "binary":
        return float("nan") if np.unique(y).size < 2 else float(roc_auc_score(y, pred))
    with warnings.catch_warnings():  # predicted classes absent from the test rows are fine
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y, pred))


def _constant(task: str, y_train: np.ndarray, n: int) -> np.ndarray:
    """The trivial prediction: the training mean (regression), else the majority class."""
    if task == "regression":
        return np.full(n, y_train.mean())
    values, counts = np.unique(y_train, return_counts=True)
    majority = values[np.argmax(counts)]
    return np.full(n, 0.5 if task == "binary" else majority)


def _model_score(task: str, x_tr, y_tr, x_te, y_te, cat: np.ndarray, seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if x_tr.shape[1] == 0 or (task != "regression" and np.unique(y_tr).size < 2):
        return _score(task, y_te, _constant(task, y_tr, y_te.size))  # nothing to learn from
    kw = dict(HGB_PARAMS, random_state=seed, categorical_features=cat if cat.any() else None)
    if task == "regression":
        model = HistGradientBoostingRegressor(**kw).fit(x_tr, y_tr)
        return _score(task, y_te, model.predict(x_te))
    model = HistGradientBoostingClassifier(**kw).fit(x_tr, y_tr.astype(np.int64))
    if task == "binary":
        return _score(task, y_te, model.predict_proba(x_te)[:, list(model.classes_).index(1)])
    return _score(task, y_te, model.predict(x_te))


# --- public ------------------------------------------------------------------------------------------
def learnability(db, table: str, *, max_rows: int = DEFAULT_MAX_ROWS, seed: int = 0,
                 progress: Progress | None = None, _encoded: dict | None = None) -> pd.DataFrame:
    """Per feature column of ``table``: baseline, (a) row-only and (b) with-parents scores.

    One row per feature column with ``column``, ``kind`` (the column's kind), ``metric`` (r2,
    auroc or balanced_accuracy), ``baseline``, ``row_only``, ``with_parents``, then ``table``,
    ``n_train`` / ``n_test`` (labelled rows used), ``row_features`` / ``parent_features`` (model
    inputs) and ``note`` (why a score is missing). Rows with a missing target are dropped; a null
    FK gives missing parent values, which HGB handles natively. Without parent features (b) is
    (a). ``progress(done, total, label)`` is called after each column.
    """
    if table not in db.tables:
        raise KeyError(f"no table {table!r}; tables are {list(db.tables)}")
    t = db.tables[table]
    encoded = {} if _encoded is None else _encoded
    if table not in encoded:
        encoded[table] = _row_features(t)
    cols, x_row, cat_row = encoded[table]
    _, x_par, cat_par = _parent_features(db, table, encoded)
    train, test = split_rows(db, table, max_rows=max_rows, seed=seed)
    rows = []
    with threadpool_limits(limits=1, user_api="openmp"):
        for j, col in enumerate(cols):
            task = _task(t, col)
            y = _target(t.df[col], t.columns[col].kind, task)
            if task == "binary" and np.unique(y[~np.isnan(y)]).size > 2:
                task, y = "multiclass", _target(t.df[col], t.columns[col].kind, "multiclass")
            tr, te = train[~np.isnan(y[train])], test[~np.isnan(y[test])]
            others = np.arange(len(cols)) != j
            row = {"column": col, "kind": t.columns[col].kind, "metric": METRICS[task],
                   "baseline": np.nan, "row_only": np.nan, "with_parents": np.nan, "table": table,
                   "n_train": int(tr.size), "n_test": int(te.size), "row_features": int(others.sum()),
                   "parent_features": int(x_par.shape[1]), "note": ""}
            if tr.size < MIN_TRAIN or te.size < MIN_TEST:
                row["note"] = f"too few labelled rows ({tr.size} train, {te.size} test)"
            elif task == "regression" and np.ptp(y[te]) == 0:
                row["note"] = "constant target on the test rows"
            elif task == "binary" and np.unique(y[te]).size < 2:
                row["note"] = "one class only on the test rows (AUROC undefined)"
            else:
                y_tr, y_te = y[tr], y[te]
                row["baseline"] = _score(task, y_te, _constant(task, y_tr, y_te.size))
                xa, ca = x_row[:, others], cat_row[others]
                row["row_only"] = _model_score(task, xa[tr], y_tr, xa[te], y_te, ca, seed)
                if x_par.shape[1]:
                    xb, cb = np.hstack([xa, x_par]), np.concatenate([ca, cat_par])
                    row["with_parents"] = _model_score(task, xb[tr], y_tr, xb[te], y_te, cb, seed)
                else:
                    row["with_parents"] = row["row_only"]
            rows.append(row)
            if progress is not None:
                progress(j + 1, len(cols), f"{table}.{col}")
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def database_learnability(db, *, tables: list[str] | None = None, max_rows: int = DEFAULT_MAX_ROWS,
                          seed: int = 0, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`learnability` of every table (or of ``tables``), stacked; ``table`` says whose row.

    ``progress(done, total, label)`` counts feature columns over all the tables.
    """
    names = list(db.tables) if tables is None else list(tables)
    total = sum(len(db.tables[n].feature_cols) for n in names)
    encoded: dict = {}
    frames, done = [], 0
    for name in names:
        base = done

        def step(k, _n, label, _base=base):
            if progress is not None:
                progress(_base + k, total, label)

        frames.append(learnability(db, name, max_rows=max_rows, seed=seed, progress=step, _encoded=encoded))
        done += len(db.tables[name].feature_cols)
    frames = [f for f in frames if len(f)] or frames[:1]  # empty frames would change the dtypes
    if not frames:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def learnability_gain(df: pd.DataFrame) -> float:
    """Median gain of (b) with-parents over (a) row-only, over the columns that have parent features.

    Columns of tables without parents are left out (their (b) is (a) by construction); NaN when
    no column has both scores.
    """
    if df.empty:
        return float("nan")
    d = df
    if "parent_features" in d:
        d = d[d["parent_features"] > 0]
    gain = (d["with_parents"] - d["row_only"]).dropna()
    return float(gain.median()) if len(gain) else float("nan")
