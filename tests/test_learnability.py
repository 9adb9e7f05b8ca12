"""Learnability (plurel_core.learnability): scores on hand-built tables, the splits, the page."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import plurel_core as pc
from plurel_core import learn_plots, stats
from plurel_core.database import ColumnMeta, Database, Table, Trace
from plurel_core.learnability import (
    database_learnability,
    encode_column,
    learnability,
    learnability_gain,
    split_rows,
)

VAL, TEST = pd.Timestamp("2021-01-01"), pd.Timestamp("2021-07-01")


# --------------------------------------------------------------------------------------------
# hand-built databases
# --------------------------------------------------------------------------------------------
def make_db(tables: dict[str, Table]) -> Database:
    graph = nx.DiGraph()
    for i, (name, t) in enumerate(tables.items()):
        graph.add_node(name, kind=t.kind, rows=len(t.df), node_id=i, generation=i)
        for parent in t.fkey_col_to_pkey_table.values():
            graph.add_edge(parent, name)
    trace = Trace(schema_graph=graph, table_layout="given", table_layout_params={}, links={}, scm={},
                  priors={}, min_timestamp=pd.Timestamp("2020-01-01"), max_timestamp=pd.Timestamp("2022-01-01"),
                  val_timestamp=VAL, test_timestamp=TEST, timings={})
    return Database(tables=tables, config=pc.Config.preset("demo"), seed=0, trace=trace)


def table(df: pd.DataFrame, kinds: dict[str, str], fkeys: dict[str, str] | None = None, kind: str = "entity",
          time_col: str | None = None, binarized: tuple[str, ...] = ()) -> Table:
    meta = {c: ColumnMeta(kind=kinds.get(c, "numerical"), binarized=c in binarized) for c in df.columns}
    return Table(df, "id", fkeys or {}, time_col, kind, meta)


def row(df: pd.DataFrame, col: str) -> pd.Series:
    (i,) = np.flatnonzero(df["column"].to_numpy() == col)
    return df.iloc[i]


@pytest.fixture(scope="module")
def row_db() -> Database:
    """One entity table: y = sin(2x) + x^2 (a deterministic function of x) and independent noise z."""
    rng = np.random.default_rng(1)
    n = 800
    x = rng.uniform(-2, 2, n)
    df = pd.DataFrame({"id": np.arange(n), "x": x, "y": np.sin(2 * x) + x ** 2, "z": rng.normal(size=n)})
    return make_db({"t": table(df, {"id": "pkey"})})


@pytest.fixture(scope="module")
def parent_db() -> Database:
    """A child column that copies its parent row's column (through a nullable FK holding parent ids)."""
    rng = np.random.default_rng(2)
    n_p, n_c = 300, 900
    ids = rng.permutation(n_p) + 1000  # parent ids are not row positions
    parent = pd.DataFrame({"id": ids, "p": rng.normal(size=n_p), "q": rng.normal(size=n_p)})
    pos = rng.integers(0, n_p, n_c)
    fk = pd.array(ids[pos], dtype="Int64")
    null = rng.random(n_c) < 0.1
    fk[null] = pd.NA
    copy = parent["p"].to_numpy()[pos] + 0.01 * rng.normal(size=n_c)
    copy[null] = rng.normal(size=int(null.sum()))
    child = pd.DataFrame({"id": np.arange(n_c), "fk": fk, "c": copy, "w": rng.normal(size=n_c)})
    return make_db({"parent": table(parent, {"id": "pkey"}),
                    "child": table(child, {"id": "pkey", "fk": "fkey"}, {"fk": "parent"})})


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------
def test_deterministic_function_scores_near_one_and_noise_near_baseline(row_db):
    df = learnability(row_db, "t", seed=0)
    assert list(df["column"]) == ["x", "y", "z"]
    assert list(df.columns[:6]) == ["column", "kind", "metric", "baseline", "row_only", "with_parents"]
    y, z = row(df, "y"), row(df, "z")
    assert y["metric"] == "r2" and y["row_only"] > 0.9
    assert abs(y["baseline"]) < 0.05  # the training mean scores about 0
    assert z["row_only"] < 0.1 and abs(z["row_only"] - z["baseline"]) < 0.15
    # no parents: (b) is (a), and such columns do not enter the database-level gain
    assert (df["with_parents"] == df["row_only"]).all() and (df["parent_features"] == 0).all()
    assert np.isnan(learnability_gain(df))


def test_child_copy_of_parent_column_gains_from_parents(parent_db):
    df = learnability(parent_db, "child", seed=0)
    c, w = row(df, "c"), row(df, "w")
    assert c["parent_features"] == 2 and c["row_features"] == 1
    assert c["row_only"] < 0.2  # the child's own row says nothing about the copied value
    assert c["with_parents"] > 0.75  # the parent row does (10% null FKs give missing parents)
    assert c["with_parents"] - c["row_only"] > 0.5
    assert w["with_parents"] < 0.15  # noise stays noise with parents too
    assert learnability_gain(df) == pytest.approx(np.median(df["with_parents"] - df["row_only"]))
    assert learnability_gain(df) > 0.2


def _categorical_db(dtype: str) -> Database:
    rng = np.random.default_rng(3)
    n = 700
    codes = rng.integers(0, 4, n)
    labels = np.array(["u", "v", "w", "x"])
    if dtype == "category":  # the new dtype of non-binarized categoricals (string labels from SQL)
        a = pd.Categorical.from_codes(codes, categories=list(labels))
        b = pd.Categorical.from_codes(codes, categories=list(labels))
        kind = "categorical"
    elif dtype == "int64":  # the old dtype: integer labels
        a, b, kind = codes.astype(np.int64), codes.astype(np.int64), "categorical"
    else:  # text labels
        a, b, kind = pd.array(labels[codes], dtype="string"), pd.array(labels[codes], dtype="string"), "text"
    df = pd.DataFrame({"id": np.arange(n), "a": a, "b": b, "noise": rng.normal(size=n)})
    return make_db({"t": table(df, {"id": "pkey", "a": kind, "b": kind})})


@pytest.mark.parametrize("dtype", ["category", "int64", "string"])
def test_categorical_copy_scores_high_balanced_accuracy(dtype):
    df = learnability(_categorical_db(dtype), "t", seed=0)
    b = row(df, "b")
    assert b["metric"] == "balanced_accuracy"
    assert b["row_only"] > 0.95
    assert b["baseline"] == pytest.approx(0.25)  # majority class: recall 1 on one of four classes


@pytest.mark.parametrize("dtype", ["bool", "int64"])
def test_binary_copy_scores_high_auroc(dtype):
    rng = np.random.default_rng(4)
    n = 600
    bits = rng.random(n) < 0.4
    vals = bits if dtype == "bool" else bits.astype(np.int64)
    df = pd.DataFrame({"id": np.arange(n), "a": vals, "b": vals.copy(), "noise": rng.normal(size=n)})
    db = make_db({"t": table(df, {"id": "pkey", "a": "categorical", "b": "categorical"}, binarized=("a", "b"))})
    res = learnability(db, "t", seed=0)
    b = row(res, "b")
    assert b["metric"] == "auroc" and b["baseline"] == 0.5 and b["row_only"] > 0.99


def test_missing_targets_are_dropped(row_db):
    t = row_db.tables["t"]
    df = t.df.copy()
    df.loc[df.index[::3], "y"] = np.nan
    db = make_db({"t": table(df, {"id": "pkey"})})
    train, test = split_rows(db, "t", seed=0)
    res = learnability(db, "t", seed=0)
    labelled = df["y"].notna().to_numpy()
    assert row(res, "y")["n_train"] == labelled[train].sum() < train.size
    assert row(res, "y")["n_test"] == labelled[test].sum() < test.size
    assert row(res, "x")["n_train"] == train.size
    assert row(res, "y")["row_only"] > 0.9


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def activity_db() -> Database:
    rng = np.random.default_rng(5)
    n = 3000
    dates = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 730, n)), unit="D"))
    dates[rng.random(n) < 0.02] = pd.NaT
    x = rng.normal(size=n)
    df = pd.DataFrame({"id": np.arange(n), "x": x, "y": 2 * x + 0.1 * rng.normal(size=n), "date": dates})
    df = df.sample(frac=1.0, random_state=np.random.default_rng(6)).reset_index(drop=True)  # rows not in time order
    return make_db({"events": table(df, {"id": "pkey", "date": "time"}, kind="activity", time_col="date")})


@pytest.mark.parametrize("max_rows", [10_000, 500])
def test_temporal_split_never_trains_after_val_cutoff(activity_db, max_rows):
    times = activity_db.tables["events"].df["date"]
    train, test = split_rows(activity_db, "events", max_rows=max_rows, seed=0)
    assert train.size and test.size and train.size + test.size <= max_rows
    assert (times.iloc[train] < VAL).all()  # NaT compares False, so no row without a time either
    assert (times.iloc[test] >= TEST).all()
    assert not np.intersect1d(train, test).size
    if max_rows >= len(times):  # everything eligible is used
        assert train.size == int((times < VAL).sum()) and test.size == int((times >= TEST).sum())
    else:
        assert test.size <= max_rows // 5
    res = learnability(activity_db, "events", max_rows=max_rows, seed=0)
    assert (res["n_train"] == train.size).all() and (res["n_test"] == test.size).all()
    assert row(res, "y")["row_only"] > 0.9


def test_entity_split_is_random_80_20_and_seeded(row_db):
    train, test = split_rows(row_db, "t", seed=0)
    assert train.size == 640 and test.size == 160
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(800))
    again = split_rows(row_db, "t", seed=0)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    other = split_rows(row_db, "t", seed=1)
    assert not np.array_equal(other[1], test)
    small_train, small_test = split_rows(row_db, "t", max_rows=100, seed=0)
    assert small_train.size == 80 and small_test.size == 20
    with pytest.raises(ValueError, match="max_rows"):
        split_rows(row_db, "t", max_rows=1)


def test_deterministic_for_a_fixed_seed(parent_db):
    a = database_learnability(parent_db, seed=3)
    b = database_learnability(parent_db, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = database_learnability(parent_db, seed=4)
    assert not a[["baseline", "row_only", "with_parents"]].equals(c[["baseline", "row_only", "with_parents"]])


# --------------------------------------------------------------------------------------------
# encoding, generated databases
# --------------------------------------------------------------------------------------------
def test_encode_column_old_and_new_dtypes():
    cat = pd.Series(pd.Categorical(["b", None, "a", "b"], categories=["a", "b"]))
    x, is_cat = encode_column(cat, "categorical")
    assert is_cat and np.array_equal(x, [1.0, np.nan, 0.0, 1.0], equal_nan=True)
    x, is_cat = encode_column(pd.Series(np.array([True, False, True])), "categorical")
    assert not is_cat and list(x) == [1.0, 0.0, 1.0]
    x, _ = encode_column(pd.Series(pd.array([True, None], dtype="boolean")), "boolean")
    assert x[0] == 1.0 and np.isnan(x[1])
    x, _ = encode_column(pd.Series(pd.to_datetime(["1970-01-03", None])), "time")
    assert x[0] == pytest.approx(2.0) and np.isnan(x[1])
    x, is_cat = encode_column(pd.Series(pd.array(["z", "y", None], dtype="string")), "text")
    assert is_cat and np.array_equal(x, [1.0, 0.0, np.nan], equal_nan=True)
    x, is_cat = encode_column(pd.Series(pd.array([3, None, 1], dtype="Int64")), "categorical")
    assert is_cat and np.array_equal(x, [1.0, np.nan, 0.0], equal_nan=True)
    x, is_cat = encode_column(pd.Series([f"v{i}" for i in range(300)]), "text")
    assert not is_cat and np.nanmax(x) == 299  # too many labels for an HGB category: a number


def _check_results(db, df: pd.DataFrame) -> None:
    expected = [(n, c) for n, t in db.tables.items() for c in t.feature_cols]
    assert list(zip(df["table"], df["column"])) == expected
    assert set(df["metric"]) <= {"r2", "auroc", "balanced_accuracy"}
    ok = df["note"] == ""
    scores = df.loc[ok, ["baseline", "row_only", "with_parents"]].to_numpy(dtype=float)
    assert np.isfinite(scores).all() and (scores <= 1.0 + 1e-9).all()
    cls = df.loc[ok, "metric"] != "r2"
    assert (df.loc[ok & cls, ["baseline", "row_only", "with_parents"]].to_numpy() >= 0).all()
    assert df.loc[~ok, ["row_only", "with_parents"]].isna().all().all()


def test_every_table_of_a_demo_database():
    db = pc.generate(pc.Config.preset("demo"), 0)
    calls = []
    df = database_learnability(db, max_rows=600, seed=0, progress=lambda d, t, label: calls.append((d, t)))
    _check_results(db, df)
    total = sum(len(t.feature_cols) for t in db.tables.values())
    assert calls[-1] == (total, total) and [d for d, _ in calls] == list(range(1, total + 1))
    assert (df["note"] == "").mean() > 0.5
    assert df["n_test"].max() > 0
    single = stats.learnability(db, df["table"].iloc[-1], max_rows=600, seed=0)
    pd.testing.assert_frame_equal(single, df[df["table"] == df["table"].iloc[-1]].reset_index(drop=True))


def test_sql_schema_with_text_category_time_and_nullable_fk():
    ddl = ("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, status VARCHAR(10) "
           "CHECK (status IN ('a','b','c')), age INT, vip BOOLEAN, joined DATE);\n"
           "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), amount REAL, "
           "kind TEXT, created_at TIMESTAMP, shipped_at TIMESTAMP);")
    cfg = pc.Config.preset("demo")
    db = pc.generate(cfg, 0, pc.schema_from_ddl(ddl))
    df = database_learnability(db, max_rows=800, seed=0)
    _check_results(db, df)
    orders = df[df["table"] == "orders"]
    assert (orders["parent_features"] == len(db.tables["users"].feature_cols)).all()
    assert row(orders, "shipped_at")["metric"] == "r2"


def test_learnability_gain_of_a_results_frame():
    df = pd.DataFrame({"row_only": [0.1, 0.5, 0.2, 0.9, np.nan], "with_parents": [0.4, 0.5, 0.9, 0.9, 0.3],
                       "parent_features": [3, 3, 3, 0, 3]})
    assert learnability_gain(df) == pytest.approx(0.3)  # gains 0.3, 0.0, 0.7 (the 4th has no parents)
    assert np.isnan(learnability_gain(df.iloc[:0]))


def test_learnability_bars_figure(parent_db):
    df = database_learnability(parent_db, seed=0)
    fig = learn_plots.learnability_bars(df, "child")
    names = [t.name for t in fig.data]
    assert names == ["(a) row only", "(b) with parents", "baseline (mean / majority)"]
    child = df[df["table"] == "child"]
    assert list(fig.data[0].x) == [f"{c} · R²" for c in child["column"]]
    assert np.allclose(fig.data[1].customdata, child["with_parents"])
    assert np.allclose(fig.data[0].y, np.maximum(child["row_only"], learn_plots.Y_FLOOR))
    gain = learn_plots.gain_by_table(df)
    assert list(gain.data[0].x) == ["child"]  # the parent table has no parents: no gain bar
    assert gain.data[0].y[0] == pytest.approx(learnability_gain(df))


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------
def test_page_renders_and_the_button_draws_the_charts():
    from tests.test_app import make_app, metric, no_exception

    at = make_app(preset="demo", seed=0).run()
    at.switch_page("pages/learnability.py").run()
    no_exception(at)
    assert any(t.value == "Learnability" for t in at.title)
    assert not at.get("plotly_chart")
    at.button(key="learn_run").click().run()
    no_exception(at)
    db = at.session_state["plurel_db"]
    charts = at.get("plotly_chart")
    res = database_learnability(db, seed=0)
    featured = [n for n, t in db.tables.items() if t.feature_cols]
    gain_chart = bool((res["parent_features"] > 0).any())
    assert len(charts) == len(featured) + gain_chart  # a chart per table, and the gain chart
    expected = learnability_gain(res)
    shown = metric(at, "Median gain (b − a)")
    assert shown == ("n/a" if np.isnan(expected) else f"{expected:+.3f}")
    assert len(at.dataframe[0].value) == sum(len(t.feature_cols) for t in db.tables.values())
    with_parents = res.loc[res["parent_features"] > 0, "table"].iloc[0]  # choose one table: its chart alone
    at.multiselect(key="learn_tables").set_value([with_parents]).run()
    at.button(key="learn_run").click().run()
    no_exception(at)
    assert [c.key for c in at.get("plotly_chart")] == ["learn_gain", f"learn_fig_{with_parents}"]
    assert set(at.dataframe[0].value["table"]) == {with_parents}
