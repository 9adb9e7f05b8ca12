"""Unit tests of plurel_core.stats, plurel_core.plots and plurel_core.app_state."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plurel_core as pc
from pages import _state as aps
from plurel_core import plots, stats


# --- stats ---------------------------------------------------------------------------------------
def test_gini_of_constant_is_zero():
    assert stats.gini(np.full(100, 7)) == pytest.approx(0.0, abs=1e-12)


def test_gini_of_point_mass_is_near_one():
    x = np.zeros(1000)
    x[17] = 50
    assert stats.gini(x) == pytest.approx(1 - 1 / 1000)


def test_gini_known_value_and_edge_cases():
    assert stats.gini(np.array([0, 0, 1, 1])) == pytest.approx(0.5)
    assert stats.gini(np.array([])) == 0.0
    assert stats.gini(np.zeros(5)) == 0.0


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=200))
@settings(max_examples=60, deadline=None)
def test_gini_bounds_and_scale_invariance(values):
    x = np.array(values)
    g = stats.gini(x)
    assert 0.0 <= g <= 1.0 - 1.0 / len(x) + 1e-9
    if x.sum() > 0:
        assert stats.gini(3 * x) == pytest.approx(g)


def test_coverage():
    assert stats.coverage(np.array([0, 1, 2, 0])) == 0.5
    assert stats.coverage(np.array([3, 3])) == 1.0
    assert stats.coverage(np.array([], dtype=int)) == 0.0


@given(st.lists(st.integers(0, 50), min_size=1, max_size=300))
@settings(max_examples=60, deadline=None)
def test_ccdf_is_monotone_and_starts_at_one(values):
    ks, p = stats.ccdf(np.array(values))
    assert np.all(np.diff(ks) > 0)
    assert np.all(np.diff(p) <= 0)
    assert p[0] == pytest.approx(1.0)
    # P(X >= k) checked against a direct count
    for k, pk in zip(ks, p):
        assert pk == pytest.approx(np.mean(np.array(values) >= k))


def test_children_per_parent_skips_nulls():
    counts = stats.children_per_parent(np.array([0, 0, 2, -1, 2, 2]), 4)
    assert counts.tolist() == [2, 0, 3, 0]


def test_fk_degrees_match_the_foreign_key_column(demo_db):
    for child, col, parent in demo_db.foreign_keys:
        counts = stats.fk_degrees(demo_db, f"{child}.{col}")
        fk = demo_db.tables[child].df[col].dropna().astype(np.int64).to_numpy()
        direct = np.bincount(fk, minlength=len(demo_db.tables[parent].df))
        assert counts.tolist() == direct.tolist()
        assert counts.sum() == len(fk)


def test_block_crosstab_counts_every_child(demo_db):
    for key in stats.fk_keys(demo_db):
        tab = stats.block_crosstab(demo_db, key)
        link = demo_db.trace.links[key]
        assert tab.to_numpy().sum() == int((np.asarray(link.parent_index) >= 0).sum())


def test_table_overview_and_database_figures(demo_db):
    ov = stats.table_overview(demo_db)
    assert list(ov["table"]) == list(demo_db.tables)
    assert ov["rows"].sum() == demo_db.num_rows
    for _, row in ov.iterrows():
        t = demo_db.tables[row["table"]]
        assert row["numerical"] + row["categorical"] + row["text"] + row["boolean"] + row["time"] == len(t.feature_cols)
    figs = stats.database_figures(demo_db)
    assert figs["tables"] == len(demo_db.tables)
    assert figs["foreign keys"] == len(demo_db.foreign_keys)
    assert figs["rows"] == demo_db.num_rows
    assert 0.0 <= figs["categorical share"] <= 1.0 and 0.0 <= figs["missing rate"] < 1.0


def test_generation_positions_put_parents_left_of_children(demo_db):
    g = demo_db.trace.schema_graph
    pos = stats.generation_positions(g)
    for a, b in g.edges:
        assert pos[a][0] < pos[b][0]


# --- plots ---------------------------------------------------------------------------------------
def _check(fig: go.Figure) -> None:
    assert isinstance(fig, go.Figure)
    title = fig.layout.title.text
    assert title and title.strip()
    xs = [fig.layout[k].title.text for k in fig.layout if k.startswith("xaxis")]
    ys = [fig.layout[k].title.text for k in fig.layout if k.startswith("yaxis")]
    assert xs and all(xs), xs
    assert ys and all(ys), ys
    assert len(fig.data) > 0


def test_every_figure_has_title_and_axis_labels(demo_db):
    db = demo_db
    _check(plots.timings_figure(db))
    _check(plots.timeline_figure(db))
    keys = stats.fk_keys(db)
    assert keys
    _check(plots.degree_histogram(db, None))
    _check(plots.degree_ccdf(db, None))
    for key in keys:
        _check(plots.degree_histogram(db, key))
        _check(plots.degree_ccdf(db, key))
        _check(plots.block_heatmap(db, key))
    for name, t in db.tables.items():
        for col in t.feature_cols:
            _check(plots.column_figure(db, name, col))
        if t.feature_cols:
            _check(plots.correlation_heatmap(db, name))
        if t.time_col and t.feature_cols:
            _check(plots.columns_over_time(db, name))
        _check(plots.scm_graph_figure(db, name))
        for node in db.trace.scm[name].source_components:
            _check(plots.source_components_figure(db, name, node))
        for fk, parent in t.fkey_col_to_pkey_table.items():
            if t.feature_cols and db.tables[parent].feature_cols:
                _check(plots.join_figure(db, name, fk, t.feature_cols[0], db.tables[parent].feature_cols[0]))
    import pandas as pd

    samples = pd.DataFrame([{"config": "a", "seed": s, **stats.database_figures(db)} for s in range(3)])
    _check(plots.compare_figure(samples, ["tables", "rows", "FK Gini (mean)"]))


def test_schema_html_is_self_contained(demo_db):
    html = plots.schema_graph_html(demo_db, key="abc")
    assert "vis-network" in html or "vis.Network" in html
    assert "new vis.Network" in html
    assert "https://" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.count('"shape": "diamond"') == sum(t.kind == "activity" for t in demo_db.tables.values())
    for name in demo_db.tables:
        assert f'"id": "{name}"' in html
    assert "data-db='abc'" in html and f"data-nodes='{len(demo_db.tables)}'" in html
    assert "[PK]" in html and "[FK" in html


# --- app_state -----------------------------------------------------------------------------------
def test_url_round_trip_of_a_config_diff():
    cfg = pc.Config.preset("hub").replace(**{"schema.num_tables": (6, 9), "links.popularity_alpha": (1.2, 2.0),
                                             "scm.activations": ("relu", "tanh"), "postprocess.binarize": False})
    params = aps.to_query_params(cfg, 42)
    assert params["preset"] == "hub" and params["seed"] == "42"
    assert len(params["cfg"]) < len(cfg.to_json(indent=None)) / 10  # only the diff, compressed
    again, seed = aps.from_query_params(params)
    assert again == cfg and seed == 42
    assert "cfg" not in aps.to_query_params(pc.Config.preset("demo"), 0)


def test_lenient_url_reading_drops_bad_values():
    code = aps.encode_diff({"schema.num_tables": [1, 1000], "schema.nope": 1, "scm.emb": 16})
    preset, seed, values, problems = aps.seed_and_values_from_query({"preset": "demo", "seed": "x", "cfg": code})
    assert preset == "demo" and seed == 0
    assert values == {"scm.emb": 16}
    assert len(problems) == 3


def test_live_budget_from_env():
    assert aps.live_max_cells({}) == aps.DEFAULT_LIVE_MAX_CELLS
    assert aps.live_max_cells({aps.LIVE_MAX_CELLS_ENV: "1_000"}) == 1000
    assert aps.live_max_cells({aps.LIVE_MAX_CELLS_ENV: "junk"}) == aps.DEFAULT_LIVE_MAX_CELLS


def test_widget_plans_cover_every_prior():
    for spec in pc.prior_specs():
        plan = aps.widget_plan(spec)
        assert plan in ("range_slider", "range_pair", "slider", "number", "multiselect", "checkbox", "date")
        if spec.kind.startswith("float") and plan in ("range_slider", "slider"):
            step = aps.float_step(spec)
            for name in pc.Config.preset_names():  # every preset value sits on the slider grid
                v = pc.Config.preset(name).get(spec.path)
                for x in ((v.lo, v.hi) if hasattr(v, "lo") else (v,)):
                    assert abs(x / step - round(x / step)) < 1e-6, (spec.path, x, step)
    rows = next(s for s in pc.prior_specs() if s.path == "schema.entity_rows")
    assert aps.widget_plan(rows) == "range_pair"


def test_order_choices_keeps_preset_order():
    spec = next(s for s in pc.prior_specs() if s.path == "schema.table_layouts")
    preset = pc.Config().schema.table_layouts
    assert aps.order_choices(list(reversed(preset)), spec, preset) == preset
    assert aps.order_choices(["Hub", "ErdosRenyi"], spec, preset) == ("ErdosRenyi", "Hub")


def test_ddl_size_limit():
    aps.check_ddl_size("x" * aps.MAX_DDL_BYTES)
    with pytest.raises(ValueError, match="1 MB"):
        aps.check_ddl_size(b"x" * (aps.MAX_DDL_BYTES + 1))


@pytest.mark.parametrize("preset", ["demo", "paper"])
def test_stage1_preview_matches_the_generated_database(preset):
    cfg = pc.Config.preset(preset)
    for seed in (0, 1):
        pre = pc.preview_database(cfg, seed)
        assert pre is not None, "the pipeline's stage-1 helpers changed: the Schema view lost its preview"
        db = pc.generate(cfg, seed)
        assert list(pre.tables) == list(db.tables)
        assert {n: len(t.df) for n, t in pre.tables.items()} == {n: len(t.df) for n, t in db.tables.items()}
        assert set(pre.trace.schema_graph.edges) == set(db.trace.schema_graph.edges)
        assert pre.trace.table_layout == db.trace.table_layout
        assert pre.foreign_keys == db.foreign_keys
        assert pre.trace.val_timestamp == db.trace.val_timestamp
        gens = {n: d["generation"] for n, d in db.trace.schema_graph.nodes(data=True)}
        assert {n: d["generation"] for n, d in pre.trace.schema_graph.nodes(data=True)} == gens


def test_scm_graph_fades_the_nodes_that_are_not_evaluated():
    db = pc.generate(pc.Config(), 0)
    for name, tr in db.trace.scm.items():
        skipped = {n for n, d in tr.graph.nodes(data=True) if not d["evaluated"]}
        if not skipped:
            continue
        fig = plots.scm_graph_figure(db, name)
        faded = 0
        for trace in fig.data:
            opacity = getattr(trace.marker, "opacity", None)
            if isinstance(opacity, tuple):
                faded += sum(o == plots.SKIPPED_OPACITY for o in opacity)
        assert faded == len(skipped)
        assert f"({len(skipped)} faded: not evaluated)" in fig.layout.title.text
        return
    raise AssertionError("paper seed 0 has a table with nodes no column descends from")


# --- booleans and categoricals in the views ------------------------------------------------------
def _typed_table() -> pc.Table:
    df = pd.DataFrame({
        "flag": np.array([True, False, True, True]),
        "tier": pd.Categorical.from_codes([2, 0, 2, 1], categories=[0, 1, 2, 3]),
        "word": pd.Categorical.from_codes([1, -1, 0, 1], categories=["b", "a"]),
        "x": [0.5, 1.5, np.nan, 3.0],
    })
    cols = {"flag": pc.ColumnMeta("categorical", categories=[False, True], binarized=True),
            "tier": pc.ColumnMeta("categorical", categories=[0, 1, 2, 3]),
            "word": pc.ColumnMeta("categorical", categories=["b", "a"]),
            "x": pc.ColumnMeta("numerical")}
    return pc.Table(df=df, pkey_col=None, fkey_col_to_pkey_table={}, time_col=None, columns=cols)


def test_numeric_frame_uses_labels_codes_and_0_1():
    num = stats.numeric_frame(_typed_table())
    assert num["flag"].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert num["tier"].tolist() == [2.0, 0.0, 2.0, 1.0]  # integer labels as themselves
    assert num["word"].iloc[[0, 2, 3]].tolist() == [1.0, 0.0, 1.0] and np.isnan(num["word"].iloc[1])
    assert all(num[c].dtype == np.float64 for c in num)
    corr = stats.correlation(_typed_table())
    assert corr.shape == (4, 4) and corr.loc["tier", "tier"] == pytest.approx(1.0)


def test_binarized_columns_count_as_booleans():
    t = _typed_table()
    counts = stats.feature_kind_counts(t)
    assert counts["boolean"] == 1 and counts["categorical"] == 2 and counts["numerical"] == 1
    assert stats.feature_kind(t, "flag") == "boolean"


def test_bar_counts_keep_category_order_and_unused_labels():
    t = _typed_table()
    assert plots.category_counts(t.df["flag"]) == (["false", "true"], pytest.approx([1, 3]))
    labels, counts = plots.category_counts(t.df["tier"])
    assert labels == ["0", "1", "2", "3"] and counts.tolist() == [1, 1, 2, 0]
    labels, counts = plots.category_counts(t.df["word"])
    assert labels == ["b", "a"] and counts.tolist() == [1, 2]  # the missing row is not counted
    labels, counts = plots.category_counts(pd.Series(pd.Categorical.from_codes(np.arange(40) % 35, range(35))), limit=5)
    assert len(labels) == 5 and labels == sorted(labels, key=int)


def test_column_and_join_figures_draw_booleans_and_categoricals():
    db = pc.generate(pc.Config.preset("demo").replace(**{"postprocess.binarize": False}), 1)
    binar = pc.generate(pc.Config.preset("demo"), 1)
    for d in (db, binar):
        for name, t in d.tables.items():
            for col in t.feature_cols:
                fig = plots.column_figure(d, name, col)
                assert isinstance(fig.data[0], go.Bar if t.columns[col].kind == "categorical" else go.Histogram)
                lines = re.findall(r"<sup[^>]*>(.*?)</sup>", fig.layout.title.text)  # short enough for a third of the page
                assert lines and all(len(line) <= 48 for line in lines), lines
                assert str(t.df[col].dtype) in lines[0] and "missing" in lines[0]
                if t.df[col].dtype == np.bool_:
                    assert list(fig.data[0].x) == ["false", "true"]
            for fk, parent in t.fkey_col_to_pkey_table.items():
                pt = d.tables[parent]
                if t.feature_cols and pt.feature_cols:
                    for child_col in t.feature_cols[:3]:
                        fig = plots.join_figure(d, name, fk, child_col, pt.feature_cols[0])
                        assert len(fig.data) == 1
                        both_cat = t.columns[child_col].kind == pt.columns[pt.feature_cols[0]].kind == "categorical"
                        assert isinstance(fig.data[0], go.Heatmap) == both_cat
