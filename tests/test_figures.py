"""Database-level figures (plurel_core.stats): known answers on built databases, references on
generated ones, NaN edge cases; the KS table, the summary, the config diff and their plots."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats as sps

import plurel_core as pc
from plurel_core import plots, stats
from plurel_core.database import ColumnMeta, Database, LinkTrace, Table, Trace

DEMO = pc.Config.preset("demo")


# --- building small databases by hand -------------------------------------------------------------
def table(n: int, fks: dict | None = None, features: dict | None = None, time=None, kind: str = "entity") -> dict:
    """fks: {column: (parent, parent row per child row)}; features: {column: (kind, values)}."""
    return {"n": n, "fks": fks or {}, "features": features or {}, "time": time, "kind": kind}


def build(specs: dict[str, dict], timings: dict | None = None) -> Database:
    tables, links = {}, {}
    graph = nx.DiGraph()
    for name, spec in specs.items():
        data = {"row_idx": np.arange(spec["n"], dtype=np.int64)}
        columns = {"row_idx": ColumnMeta("pkey")}
        for col, (parent, idx) in spec["fks"].items():
            data[col] = np.asarray(idx, dtype=np.int64)
            columns[col] = ColumnMeta("fkey")
            links[f"{name}.{col}"] = LinkTrace(
                child=name, parent=parent, fkey_col=col, parent_index=np.asarray(idx, dtype=np.int64), levels=1,
                h_parent=[1], h_child=[1], parent_block=np.zeros(specs[parent]["n"], dtype=np.int64),
                child_block=np.zeros(spec["n"], dtype=np.int64), block_matrices=[np.ones((1, 1))])
            if parent != name:
                graph.add_edge(parent, name)
        for col, (kind, values) in spec["features"].items():
            data[col] = values
            columns[col] = ColumnMeta(kind)
        if spec["time"] is not None:
            data["date"] = spec["time"]
            columns["date"] = ColumnMeta("time")
        graph.add_node(name, kind=spec["kind"], rows=spec["n"])
        tables[name] = Table(df=pd.DataFrame(data), pkey_col="row_idx",
                             fkey_col_to_pkey_table={c: p for c, (p, _) in spec["fks"].items()},
                             time_col="date" if spec["time"] is not None else None, kind=spec["kind"], columns=columns)
    ts = pd.Timestamp("2020-01-01")
    trace = Trace(schema_graph=graph, table_layout="given", table_layout_params={}, links=links, scm={}, priors={},
                  min_timestamp=ts, max_timestamp=ts, val_timestamp=ts, test_timestamp=ts,
                  timings=timings if timings is not None else {"total": 1.25})
    return Database(tables=tables, config=DEMO, seed=0, trace=trace)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


# --- schema shape ----------------------------------------------------------------------------------
def test_schema_depth_and_max_in_degree_of_a_chain_with_a_hub():
    zeros = np.zeros(5, dtype=np.int64)
    db = build({
        "a": table(5), "b": table(5, {"fk": ("a", zeros)}), "c": table(5, {"fk": ("b", zeros)}),
        "d": table(5, {"fk": ("c", zeros)}),  # a -> b -> c -> d: 3 foreign keys deep
        "e": table(5, {"fa": ("a", zeros), "fa2": ("a", zeros), "fb": ("b", zeros), "fc": ("c", zeros)}),
    })
    assert stats.schema_depth(db) == 3
    assert stats.max_in_degree(db) == 4  # e holds 4 FK columns (two to a)
    figs = stats.database_figures(db)
    assert figs["schema depth"] == 3.0 and figs["max in-degree"] == 4.0
    assert figs["tables"] == 5.0 and figs["foreign keys"] == 7.0


def test_schema_depth_of_a_cycle_and_a_self_reference():
    z = np.zeros(4, dtype=np.int64)
    # x <-> y is a reference cycle (possible in SQL schemas): one node of the condensation; y -> z
    db = build({"x": table(4, {"fy": ("y", z)}), "y": table(4, {"fx": ("x", z)}), "z": table(4, {"fy": ("y", z)})})
    assert stats.schema_depth(db) == 1
    selfref = build({"tree": table(4, {"parent": ("tree", np.array([0, 0, 1, 1]))})})
    assert stats.schema_depth(selfref) == 0 and stats.max_in_degree(selfref) == 1


# --- FK degree figures --------------------------------------------------------------------------------
def test_fk_coverage_gini_and_top_share_known_values():
    db = build({"p": table(4), "c": table(4, {"fk": ("p", np.array([0, 0, 1, 1]))})})
    figs = stats.database_figures(db)
    assert figs["FK coverage (mean)"] == pytest.approx(0.5)  # parents 0, 1 of 4 have children
    assert figs["FK Gini (mean)"] == pytest.approx(0.5)  # counts 2, 2, 0, 0
    assert figs["top-1% parent share"] == pytest.approx(0.5)  # ceil(1% of 4) = 1 parent holds 2 of 4


def test_top_one_percent_share():
    counts = np.zeros(100)
    counts[0] = 50
    counts[1:51] = 1  # 100 children: the top parent (1% of 100) holds half
    assert stats.top_share(counts) == pytest.approx(0.5)
    counts = np.zeros(250)
    counts[:5] = [10, 7, 5, 3, 1]  # ceil(2.5) = 3 top parents: 22 of 26
    assert stats.top_share(counts) == pytest.approx(22 / 26)
    assert nan(stats.top_share(np.zeros(10))) and nan(stats.top_share(np.array([])))


def test_mean_fk_figures_over_two_fks():
    idx1 = np.array([0, 0, 0, 0, 1, 2])  # 3 parents: counts 4, 1, 1
    idx2 = np.array([0, 1, 2, 3, 4, 5])  # 6 parents: one child each
    db = build({"p": table(3), "q": table(6), "c": table(6, {"f1": ("p", idx1), "f2": ("q", idx2)})})
    figs = stats.database_figures(db)
    assert figs["FK Gini (mean)"] == pytest.approx((stats.gini(np.array([4, 1, 1])) + 0.0) / 2)
    assert figs["FK coverage (mean)"] == pytest.approx(1.0)
    assert figs["top-1% parent share"] == pytest.approx((4 / 6 + 1 / 6) / 2)


# --- correlations -----------------------------------------------------------------------------------
def test_mean_abs_spearman_known_values():
    x = rng(1).normal(size=60)
    w = rng(2).normal(size=60)
    y = x + 0.8 * w
    db = build({
        "mono": table(60, features={"x": ("numerical", x), "cube": ("numerical", x ** 3),
                                    "neg": ("numerical", -np.exp(x))}),  # every pair monotone: |rho| = 1
        "noisy": table(60, features={"x": ("numerical", x), "y": ("numerical", y)}),
        "single": table(60, features={"only": ("numerical", w)}),  # no pair: left out
    })
    rho = abs(sps.spearmanr(x, y).statistic)
    assert stats.mean_abs_spearman(db) == pytest.approx((1.0 + rho) / 2)


def test_spearman_matrix_equals_scipy_with_ties_and_bool_and_category_dtypes():
    g = rng(3)
    n = 200
    num = g.normal(size=n)
    codes = (num + g.normal(size=n) > 0).astype(np.int64) + (num > 1)  # 0..2, many ties
    flag = num + g.normal(size=n) > 0.3
    db = build({"t": table(n, features={
        "num": ("numerical", num),
        "cat": ("categorical", pd.Categorical(codes, categories=[0, 1, 2])),  # issue 10 dtypes
        "flag": ("categorical", flag),
    })})
    frame = np.column_stack([num, codes.astype(float), flag.astype(float)])
    expected = sps.spearmanr(frame).statistic
    got = stats.spearman_matrix(frame)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    pairs = np.abs(expected[np.triu_indices(3, k=1)])
    assert stats.mean_abs_spearman(db) == pytest.approx(pairs.mean())


def test_cross_and_paired_correlation_against_numpy():
    g = rng(4)
    x = g.normal(size=(80, 3))
    y = np.column_stack([x[:, 0] * 2 + g.normal(size=80), g.normal(size=80)])
    expected = np.corrcoef(x.T, y.T)[:3, 3:]
    np.testing.assert_allclose(stats.cross_correlation(x, y), expected, atol=1e-12)
    np.testing.assert_allclose(stats.paired_correlation(x[:, :2], y),
                               [np.corrcoef(x[:, j], y[:, j])[0, 1] for j in range(2)], atol=1e-12)
    # pairwise-complete rows; a constant column and fewer than 3 shared rows give NaN
    xm = x.copy()
    xm[:10, 0] = np.nan
    ok = ~np.isnan(xm[:, 0])
    assert stats.cross_correlation(xm[:, :1], y[:, :1])[0, 0] == pytest.approx(np.corrcoef(x[ok, 0], y[ok, 0])[0, 1])
    const = np.column_stack([np.full(80, 0.1), x[:, 0]])
    assert np.isnan(stats.cross_correlation(const, y)[0]).all()
    few = np.full((80, 1), np.nan)
    few[:2, 0] = [1.0, 2.0]
    assert np.isnan(stats.cross_correlation(few, y)).all()


def test_ranks_match_pandas_and_weighted_ranks_match_repeated_rows():
    g = rng(5)
    x = np.round(g.normal(size=(150, 4)), 1)
    x[g.random(x.shape) < 0.1] = np.nan
    np.testing.assert_allclose(stats._ranks(x), pd.DataFrame(x).rank().to_numpy(), equal_nan=True)
    idx = g.integers(0, 150, size=400)
    weighted = stats._ranks(x, np.bincount(idx, minlength=150))[idx]
    np.testing.assert_allclose(weighted, pd.DataFrame(x[idx]).rank().to_numpy(), equal_nan=True)


def test_lag1_autocorrelation_sorts_by_time():
    n = 40
    order = rng(6).permutation(n)  # row i happens at time order[i]: rows are out of time order
    times = pd.Timestamp("2021-01-01") + pd.to_timedelta(order, unit="D")
    up = order.astype(float)  # increases with time: lag-1 correlation 1
    alt = np.where(order % 2 == 0, 1.0, -1.0)  # alternates in time: -1
    noise = rng(7).normal(size=n)
    in_time = noise[np.argsort(order)]
    expected_noise = np.corrcoef(in_time[:-1], in_time[1:])[0, 1]
    one = build({"e": table(n, features={"x": ("numerical", noise)}),  # entity tables do not count
                 "act": table(n, features={"up": ("numerical", up)}, time=times, kind="activity")})
    assert stats.lag1_autocorrelation(one) == pytest.approx(1.0)
    two = build({"act": table(n, features={"up": ("numerical", up), "alt": ("categorical", alt > 0),
                                           "noise": ("numerical", noise)}, time=times, kind="activity")})
    assert stats.lag1_autocorrelation(two) == pytest.approx((1.0 - 1.0 + expected_noise) / 3)


def test_parent_child_dependence_through_the_fk():
    g = rng(8)
    p = g.normal(size=30)
    idx = g.integers(0, 30, size=200)
    child_noise = p[idx] + g.normal(size=200)
    db = build({"p": table(30, features={"p": ("numerical", p), "q": ("numerical", g.normal(size=30))}),
                "c": table(200, {"fk": ("p", idx)}, features={"c": ("numerical", child_noise),
                                                             "z": ("numerical", g.normal(size=200))})})
    expected = max(abs(sps.spearmanr(a, b).statistic)
                   for a in (p[idx], db.tables["p"].df["q"].to_numpy()[idx])
                   for b in (child_noise, db.tables["c"].df["z"].to_numpy()))
    assert stats.parent_child_dependence(db) == pytest.approx(expected)  # parent values repeat: ties
    assert expected == pytest.approx(abs(sps.spearmanr(p[idx], child_noise).statistic))
    exact = build({"p": table(30, features={"p": ("numerical", p)}),
                   "c": table(200, {"fk": ("p", idx)}, features={"c": ("numerical", -p[idx] ** 3)})})
    assert stats.parent_child_dependence(exact) == pytest.approx(1.0)


# --- NaN edge cases ------------------------------------------------------------------------------------
def test_no_fk_no_activity_no_features_give_nan():
    db = build({"solo": table(10)}, timings={"total": 0.0})  # a loaded export has no timings
    figs = stats.database_figures(db)
    assert list(figs) == list(stats.FIGURES)
    for name in ("FK coverage (mean)", "FK Gini (mean)", "top-1% parent share", "mean |Spearman|",
                 "lag-1 autocorrelation", "parent->child dependence", "categorical share", "missing rate",
                 "seconds"):
        assert nan(figs[name]), name
    assert figs["schema depth"] == 0.0 and figs["max in-degree"] == 0.0
    assert figs["feature columns per table"] == 0.0
    assert stats.database_figures(db, seconds=2.5)["seconds"] == 2.5


def test_constant_and_too_short_columns_give_nan():
    times = pd.date_range("2020-01-01", periods=3, freq="D")
    db = build({
        "p": table(5, features={"k": ("numerical", np.full(5, 3.0))}),  # constant parent column
        "c": table(5, {"fk": ("p", np.array([0, 1, 2, 3, 4]))},
                   features={"a": ("numerical", np.arange(5.0)), "b": ("numerical", np.full(5, 1.0))}),
        "act": table(3, features={"x": ("numerical", np.array([1.0, 2.0, 3.0]))}, time=times, kind="activity"),
    })
    figs = stats.database_figures(db)
    assert nan(figs["mean |Spearman|"])  # the only pair has a constant column
    assert nan(figs["parent->child dependence"])  # the parent column is constant
    assert nan(figs["lag-1 autocorrelation"])  # 3 rows: 2 consecutive pairs, fewer than 3
    assert figs["FK coverage (mean)"] == 1.0


def test_missing_rate_and_categorical_share():
    x = np.arange(10.0)
    x[:3] = np.nan
    db = build({"t": table(10, features={"x": ("numerical", x), "c": ("categorical", np.arange(10) % 2 == 0),
                                        "s": ("text", pd.array(["a"] * 10, dtype="string"))})})
    figs = stats.database_figures(db)
    assert figs["missing rate"] == pytest.approx(3 / 30)
    assert figs["categorical share"] == pytest.approx(2 / 3)
    assert figs["feature columns per table"] == 3.0


# --- generated databases --------------------------------------------------------------------------------
def _reference_spearman(db) -> float:
    """Slow reference: per table, pandas ranks then pandas' pairwise-complete Pearson correlation."""
    means = []
    for t in db.tables.values():
        cols = [c for c in t.feature_cols if t.columns[c].kind in ("numerical", "categorical", "boolean")]
        if len(cols) < 2:
            continue
        r = stats.numeric_frame(t, cols).rank().corr(min_periods=3).abs().to_numpy()
        vals = r[np.triu_indices(len(cols), k=1)]
        vals = vals[np.isfinite(vals)]
        if vals.size:
            means.append(vals.mean())
    return float(np.mean(means)) if means else float("nan")


def _reference_lag1(db) -> float:
    values = []
    for t in db.tables.values():
        if t.kind != "activity" or t.time_col is None:
            continue
        cols = [c for c in t.feature_cols if t.columns[c].kind in ("numerical", "categorical", "boolean")]
        frame = stats.numeric_frame(t, cols).iloc[np.argsort(t.df[t.time_col].to_numpy(), kind="stable")]
        for c in cols:
            s = frame[c].reset_index(drop=True)
            v = s.corr(s.shift(-1), min_periods=3)
            if np.isfinite(v) and s.nunique() > 1:
                values.append(v)
    return float(np.mean(values)) if values else float("nan")


def _reference_dependence(db) -> float:
    best = float("nan")
    for child, col, parent in db.foreign_keys:
        ct, pt = db.tables[child], db.tables[parent]
        ccols = [c for c in ct.feature_cols if ct.columns[c].kind in ("numerical", "categorical", "boolean")]
        pcols = [c for c in pt.feature_cols if pt.columns[c].kind in ("numerical", "categorical", "boolean")]
        if not ccols or not pcols:
            continue
        idx = db.trace.links[f"{child}.{col}"].parent_index
        ok = idx >= 0
        pf = stats.numeric_frame(pt, pcols).iloc[idx[ok]].reset_index(drop=True).rank()
        cf = stats.numeric_frame(ct, ccols)[ok].reset_index(drop=True).rank()
        for a in pf:
            for b in cf:
                v = abs(pf[a].corr(cf[b], min_periods=3))
                if np.isfinite(v):
                    best = v if not np.isfinite(best) else max(best, v)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_demo_databases_against_references(seed):
    db = pc.generate(DEMO, seed)
    figs = stats.database_figures(db)
    assert list(figs) == list(stats.FIGURES)
    assert figs["tables"] == len(db.tables) and figs["foreign keys"] == len(db.foreign_keys)
    assert figs["rows"] == db.num_rows and figs["cells"] == db.num_cells
    assert figs["feature columns per table"] == pytest.approx(np.mean([len(t.feature_cols) for t in db.tables.values()]))
    fk = stats.fk_table(db)
    assert figs["FK Gini (mean)"] == pytest.approx(fk["gini"].mean())
    assert figs["FK coverage (mean)"] == pytest.approx(fk["coverage"].mean())
    assert 0 < figs["top-1% parent share"] <= 1
    assert 1 <= figs["schema depth"] <= len(db.tables) - 1
    assert nx.dag_longest_path_length(db.trace.schema_graph) == figs["schema depth"]
    assert 1 <= figs["max in-degree"] <= figs["foreign keys"]
    assert 0 <= figs["categorical share"] <= 1 and 0 <= figs["missing rate"] < 1
    assert figs["mean |Spearman|"] == pytest.approx(_reference_spearman(db), abs=1e-9)
    assert figs["lag-1 autocorrelation"] == pytest.approx(_reference_lag1(db), abs=1e-9)
    assert figs["parent->child dependence"] == pytest.approx(_reference_dependence(db), abs=1e-9)
    assert figs["seconds"] == pytest.approx(db.trace.timings["total"])
    assert all(np.isfinite(v) for v in figs.values())  # demo databases define every figure


def test_seed_figures_skips_over_budget_and_matches_database_figures():
    est = pc.estimate_cells(DEMO, 4)
    over = stats.seed_figures(DEMO.to_json(indent=None), 4, max_cells=est - 1)
    assert over == {"estimate": est, "figures": None}
    res = stats.seed_figures(DEMO.to_json(indent=None), 4, max_cells=est)
    direct = stats.database_figures(pc.generate(DEMO, 4))
    assert res["estimate"] == est
    assert {k: v for k, v in res["figures"].items() if k != "seconds"} == \
        {k: v for k, v in direct.items() if k != "seconds"}


# --- summaries, KS table, config diff ---------------------------------------------------------------
def _frames():
    g = rng(9)
    a = pd.DataFrame({"tables": g.integers(3, 7, 40).astype(float), "rows": g.normal(100, 10, 40),
                      "seconds": np.full(40, np.nan)})
    b = pd.DataFrame({"tables": g.integers(3, 7, 30).astype(float), "rows": g.normal(200, 10, 30),
                      "seconds": np.full(30, np.nan)})
    return a, b


def test_ks_table_matches_scipy_sorted_by_distance():
    a, b = _frames()
    ks = stats.ks_table(a, b)
    assert list(ks["figure"]) == ["rows", "tables", "seconds"]  # disjoint rows first, no values last
    for _, row in ks.iloc[:2].iterrows():
        ref = sps.ks_2samp(a[row["figure"]], b[row["figure"]])
        assert row["KS statistic"] == pytest.approx(ref.statistic) and row["p-value"] == pytest.approx(ref.pvalue)
    assert ks.loc[0, "KS statistic"] == 1.0 and (ks.loc[0, "n A"], ks.loc[0, "n B"]) == (40, 30)
    assert nan(ks.loc[2, "KS statistic"]) and ks.loc[2, "n A"] == 0
    same = stats.ks_table(a, a, ["tables", "rows"])
    assert (same["KS statistic"] == 0).all() and (same["p-value"] == 1).all()


def test_figure_summary_percentiles():
    a, _ = _frames()
    s = stats.figure_summary(a, ["rows", "seconds"]).set_index("figure")
    assert s.loc["rows", "median"] == pytest.approx(np.median(a["rows"]))
    assert s.loc["rows", "p10"] == pytest.approx(np.percentile(a["rows"], 10))
    assert s.loc["rows", "p90"] == pytest.approx(np.percentile(a["rows"], 90))
    assert s.loc["rows", "n"] == 40 and s.loc["seconds", "n"] == 0 and nan(s.loc["seconds", "median"])


def test_config_diff_lists_only_the_fields_that_differ():
    assert stats.config_diff(DEMO, DEMO).empty
    b = DEMO.replace(**{"schema.num_tables": (4, 4), "scm.activations": ("relu", "tanh")})
    diff = stats.config_diff(DEMO, b).set_index("path")
    assert set(diff.index) == {"schema.num_tables", "scm.activations"}
    assert diff.loc["schema.num_tables", "A"] == {"lo": DEMO.schema.num_tables.lo, "hi": DEMO.schema.num_tables.hi}
    assert diff.loc["schema.num_tables", "B"] == {"lo": 4, "hi": 4}
    assert stats.config_value_text(diff.loc["schema.num_tables", "B"]) == "4..4"
    assert stats.config_value_text(diff.loc["scm.activations", "B"]) == "relu, tanh"
    paper = stats.config_diff(pc.Config.preset("paper"), DEMO)
    assert "name" in set(paper["path"]) and len(paper) > 1
    v2 = stats.config_diff(pc.Config.preset("paper"), pc.Config.preset("v2"))
    absent = v2[v2["path"].str.startswith("v2_")]
    assert len(absent) and {stats.config_value_text(v) for v in absent["A"]} == {stats.NOT_IN_CONFIG}
    assert stats.NOT_IN_CONFIG not in {stats.config_value_text(v) for v in absent["B"]}
    flat_a, flat_b = pc.Config.preset("paper").to_dict(), DEMO.to_dict()
    for path in paper["path"]:
        if "." in path:
            sec, field = path.split(".", 1)
            assert flat_a[sec][field] != flat_b[sec][field]


# --- plots ------------------------------------------------------------------------------------------------
def _titled(fig: go.Figure) -> None:
    assert isinstance(fig, go.Figure) and fig.layout.title.text
    xs = [fig.layout[k].title.text for k in fig.layout if k.startswith("xaxis")]
    ys = [fig.layout[k].title.text for k in fig.layout if k.startswith("yaxis")]
    assert xs and all(xs) and ys and all(ys)


def test_explorer_and_compare_figures():
    rows = [{"seed": s, **stats.database_figures(pc.generate(DEMO, s))} for s in range(4)]
    frame = pd.DataFrame(rows)
    hist = plots.figure_histograms(frame)
    _titled(hist)
    assert len(hist.data) == len(stats.FIGURES)
    assert list(hist.data[0].x) == list(frame["tables"])
    ecdf = plots.ecdf_figure({"A": frame, "B": frame.iloc[:2]})
    _titled(ecdf)
    assert len(ecdf.data) == 2 * len(stats.FIGURES)
    assert ecdf.data[0].y[-1] == 1.0 and list(ecdf.data[0].x) == sorted(frame["tables"])
    assert ecdf.data[len(stats.FIGURES)].y[-1] == 1.0 and len(ecdf.data[len(stats.FIGURES)].x) == 2
    with_nan = frame.assign(rows=[1.0, np.nan, 3.0, 4.0])
    sc = plots.scatter_figure(with_nan, "rows", "FK Gini (mean)")
    _titled(sc)
    assert [int(c[0]) for c in sc.data[0].customdata] == [0, 2, 3]  # seeds of the plotted points
    assert list(sc.data[0].x) == [1.0, 3.0, 4.0]
    assert "1 without both values" in sc.layout.title.text


def test_learnability_figures_are_optional_and_match_the_learnability_functions():
    db = pc.generate(DEMO, 5)
    base = stats.seed_figures(DEMO.to_json(indent=None), 5)["figures"]
    full = stats.seed_figures(DEMO.to_json(indent=None), 5, with_learnability=True)["figures"]
    assert not set(stats.LEARNABILITY_FIGURES) & set(base)
    assert set(full) == set(base) | set(stats.LEARNABILITY_FIGURES)
    res = stats.database_learnability(db, max_rows=stats.LEARNABILITY_ROWS, seed=0)
    assert full["learnability gain"] == pytest.approx(stats.learnability_gain(res), nan_ok=True)
    lift = (res["row_only"] - res["baseline"]).dropna()
    assert full["row-only learnability"] == pytest.approx(float(lift.median()))
    frame = pd.DataFrame([full, full])
    assert stats.present_figures(frame)[-2:] == list(stats.LEARNABILITY_FIGURES)
    assert list(stats.figure_summary(frame)["figure"])[-2:] == list(stats.LEARNABILITY_FIGURES)
