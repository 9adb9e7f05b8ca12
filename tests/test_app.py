"""The Streamlit app driven headless by streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import plurel_core as pc
from pages import _state as aps
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
PAGES = ["pages/overview.py", "pages/schema.py", "pages/foreign_keys.py", "pages/columns.py",
         "pages/mechanisms.py", "pages/explorer.py", "pages/compare.py", "pages/export.py"]
TITLES = ["Overview", "Schema", "Foreign keys", "Columns", "Mechanisms", "Prior explorer", "Compare priors",
          "Export"]


def make_app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = str(v)
    return at


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}; have {[m.label for m in at.metric]}")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("preset", pc.Config.preset_names())
def test_every_page_renders_for_every_preset(preset):
    at = make_app(preset=preset, seed=0).run()
    no_exception(at)
    assert not errors(at)
    db = at.session_state["plurel_db"]
    assert db.config == pc.Config.preset(preset)
    assert metric(at, "Tables") == str(len(db.tables))
    for path, title in zip(PAGES, TITLES):
        at.switch_page(path).run()
        no_exception(at)
        assert any(t.value == title for t in at.title), (path, [t.value for t in at.title])
    if preset == "demo":  # the interactive parts of the heavier pages, on the small preset
        at.switch_page("pages/foreign_keys.py").run()
        fk = at.selectbox(key="fk_choice")
        fk.set_value(fk.options[1] if len(fk.options) > 1 else fk.options[0]).run()
        no_exception(at)
        at.switch_page("pages/compare.py").run()
        at.slider(key="cmp_k").set_value(10).run()
        at.selectbox(key="cmp_b").set_value("preset: chain").run()
        at.button(key="cmp_run").click().run()
        no_exception(at)
        from pages import _pool  # the run's seeds go to the server's worker processes

        jobs = [_pool.get_pool().snapshot(at.session_state[k]) for k in ("cmp_job_a", "cmp_job_b")]
        assert [j.seeds for j in jobs] == [list(range(10))] * 2
        at.button(key="cmp_cancel").click().run()
        no_exception(at)
        _pool.shutdown_pool()
        at.switch_page("pages/export.py").run()
        at.button(key="exp_build").click().run()
        no_exception(at)
        assert any("ZIP ready" in s.value for s in at.success)
        assert at.session_state["exp_zip"][1][:2] == b"PK"


def test_every_prior_has_a_widget():
    at = make_app(preset="demo").run()
    for spec in pc.prior_specs():
        plan = aps.widget_plan(spec)
        wanted = [f"w:{spec.path}:lo", f"w:{spec.path}:hi"] if plan == "range_pair" else [f"w:{spec.path}"]
        for k in wanted:
            assert k in at.session_state, k


def test_table_count_range_changes_overview():
    at = make_app(preset="demo", seed=0).run()
    before = metric(at, "Tables")
    at.slider(key="w:schema.num_tables").set_value((9, 9)).run()
    no_exception(at)
    assert metric(at, "Tables") == "9" != before
    assert len(at.session_state["plurel_db"].tables) == 9
    # the URL now carries the diff: opening it gives the same database
    params = dict(at.query_params)
    assert params.get("preset") in ("demo", ["demo"])
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
    assert aps.decode_diff(flat["cfg"]) == {"schema.num_tables": [9, 9]}
    at2 = make_app(**flat).run()
    no_exception(at2)
    assert metric(at2, "Tables") == "9"
    assert at2.session_state["plurel_db"].name == at.session_state["plurel_db"].name


def test_invalid_combination_shows_error_and_keeps_last_database():
    at = make_app(preset="demo", seed=0).run()
    good = at.session_state["plurel_db"]
    tables = metric(at, "Tables")
    at.slider(key="w:schema.val_fraction").set_value(0.95).run()  # test cut-off stays at 0.9
    no_exception(at)
    msgs = errors(at)
    assert any("val_fraction" in m for m in msgs), msgs
    assert any("val_fraction" in e.value for e in at.sidebar.error)
    assert at.session_state["plurel_db"] is good
    assert metric(at, "Tables") == tables
    # fixing it brings a database from the new (valid) config
    at.slider(key="w:schema.test_fraction").set_value(0.97).run()
    assert not errors(at)
    assert at.session_state["plurel_db"].config.schema.val_fraction == 0.95


def test_invalid_config_in_url_shows_error():
    code = aps.encode_diff({"schema.val_fraction": 0.95, "schema.test_fraction": 0.5})
    at = make_app(preset="demo", seed=2, cfg=code).run()
    no_exception(at)
    assert any("val_fraction" in m for m in errors(at))
    db = at.session_state["plurel_db"]  # the preset itself stands in for the invalid config
    assert db.config == pc.Config.preset("demo") and db.seed == 2
    assert metric(at, "Tables") == str(len(db.tables))


def test_damaged_url_is_reported_and_ignored():
    at = make_app(preset="demo", seed=0, cfg="!!notbase64").run()
    no_exception(at)
    assert any("URL" in w.value for w in at.warning)
    assert at.session_state["plurel_db"].config == pc.Config.preset("demo")


def test_config_upload_reproduces_the_same_tables():
    cfg = pc.Config.preset("demo").replace(**{"schema.num_tables": (4, 4), "schema.categorical_share": 0.8})
    payload = aps.config_download(cfg, 7).encode()
    at = make_app(preset="demo", seed=0).run()
    at.file_uploader(key="cfg_upload").set_value(("config.json", payload, "application/json")).run()
    no_exception(at)
    assert not errors(at)
    assert at.session_state["seed"] == 7
    db = at.session_state["plurel_db"]
    assert db.config == cfg and db.seed == 7
    expected = pc.generate(cfg, 7)
    assert list(db.tables) == list(expected.tables)
    for name, t in expected.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df)
    # the same JSON pasted into the text area gives the same database
    at2 = make_app(preset="demo").run()
    at2.text_area(key="cfg_paste").set_value(payload.decode()).run()
    for b in at2.button:
        if b.label == "Apply pasted config":
            b.click().run()
            break
    assert at2.session_state["plurel_db"].name == db.name


def test_bad_upload_is_reported():
    at = make_app(preset="demo").run()
    bad = json.dumps({"schema": {"num_tables": [5, 2]}}).encode()
    at.file_uploader(key="cfg_upload").set_value(("bad.json", bad, "application/json")).run()
    no_exception(at)
    assert any("num_tables" in e for e in errors(at))


def test_download_holds_config_and_seed():
    at = make_app(preset="demo", seed=3).run()
    cfg, seed = at.session_state["good_config"]
    assert seed == 3
    again, s2 = aps.config_upload(aps.config_download(cfg, seed))
    assert again == cfg and s2 == 3


def test_live_budget_refuses_with_estimate(monkeypatch):
    at = make_app(preset="demo", seed=0).run()
    good = at.session_state["plurel_db"]
    monkeypatch.setenv(aps.LIVE_MAX_CELLS_ENV, "1000")
    at.number_input(key="seed").set_value(5).run()
    no_exception(at)
    msgs = " ".join(errors(at))
    est = pc.estimate_cells(pc.Config.preset("demo"), 5)
    assert f"{est:,}" in msgs and "plurel generate" in msgs
    assert at.session_state["plurel_db"] is good


def test_new_sample_and_reset():
    at = make_app(preset="demo", seed=0).run()
    for b in at.button:
        if b.label == "New sample":
            b.click().run()
            break
    assert at.session_state["plurel_db"].seed == 1
    at.slider(key="w:schema.num_tables").set_value((7, 7)).run()
    assert metric(at, "Tables") == "7"
    for b in at.button:
        if b.label == "Reset to preset":
            b.click().run()
            break
    assert at.session_state["plurel_db"].config == pc.Config.preset("demo")


DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, vip BOOLEAN);
CREATE TABLE products (id INTEGER PRIMARY KEY, price REAL, category VARCHAR(20));
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
  product_id INTEGER REFERENCES products(id), quantity INTEGER, created_at TIMESTAMP);
"""


def test_sql_schema_mode():
    at = make_app(preset="demo").run()
    at.radio(key="mode").set_value("SQL schema").run()
    no_exception(at)
    at.text_area(key="ddl_text").set_value(DDL).run()
    no_exception(at)
    assert not errors(at)
    db = at.session_state["plurel_db"]
    assert set(db.tables) == {"customers", "products", "orders"}
    assert metric(at, "Tables") == "3"
    assert sorted(p for _, _, p in db.foreign_keys) == ["customers", "products"]
    for path in PAGES[:5]:
        at.switch_page(path).run()
        no_exception(at)
    # a broken statement gives the parser's message and keeps the database
    at.text_area(key="ddl_text").set_value("CREATE TABLE (").run()
    no_exception(at)
    assert any("DDL" in e for e in errors(at))
    assert at.session_state["plurel_db"] is db


def test_sql_upload_over_one_megabyte_is_refused():
    at = make_app(preset="demo").run()
    at.radio(key="mode").set_value("SQL schema").run()
    big = ("-- padding\n" * 100_000 + DDL).encode()
    assert len(big) > aps.MAX_DDL_BYTES
    at.file_uploader(key="ddl_file").set_value(("big.sql", big, "application/sql")).run()
    no_exception(at)
    assert any("1 MB" in e for e in errors(at))


def test_schema_view_shows_stage1_preview_then_full_database():
    at = make_app(preset="demo", seed=0)
    at.switch_page("pages/schema.py").run()
    at.slider(key="w:schema.num_tables").set_value((8, 8)).run()
    no_exception(at)
    assert any("Drawn from stage 1" in c.value for c in at.caption)  # this run drew the preview first
    db = at.session_state["plurel_db"]  # ... and finished the database after the page
    assert len(db.tables) == 8 and db.trace.links and not at.session_state["plurel_preview"]
    at.run()  # the next run draws the full database
    assert not any("Drawn from stage 1" in c.value for c in at.caption)
    assert dict(at.query_params).get("cfg")


def test_pages_folder_pages_run_through_the_router():
    # pages/ next to app.py makes Streamlit treat each AppTest run (and a server's first run) as a
    # v1 multipage app that would run a page file without app.py; pages/_shared.ensure_router
    # runs the router in its place, so every page keeps the sidebar and the same database.
    assert (ROOT / "pages").is_dir()
    at = make_app(preset="demo", seed=3).run()
    first = at.session_state["plurel_db"].name
    for path, title in zip(PAGES, TITLES):
        at.switch_page(path).run()
        no_exception(at)
        demo_tables = pc.Config.preset("demo").schema.num_tables
        assert at.slider(key="w:schema.num_tables").value == (demo_tables.lo, demo_tables.hi)
        assert at.session_state["plurel_db"].name == first, path
        assert title in [t.value for t in at.title], (path, [t.value for t in at.title])
        at.run()  # a plain rerun stays on the page, with the sidebar
        assert title in [t.value for t in at.title] and at.sidebar, path


# --- headline knobs (top of the sidebar) --------------------------------------------------------
def _sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_headline_and_expanders_stay_in_sync_both_ways():
    at = make_app(preset="demo", seed=0).run()
    ss = at.session_state
    # headline -> expander widget, config and database
    at.slider(key="h:schema.num_tables").set_value((5, 5)).run()
    no_exception(at)
    assert at.slider(key="w:schema.num_tables").value == (5, 5)
    assert metric(at, "Tables") == "5" and ss["plurel_db"].config.schema.num_tables == pc.IntRange(lo=5, hi=5)
    # expander -> headline
    at.slider(key="w:schema.num_tables").set_value((4, 4)).run()
    assert at.slider(key="h:schema.num_tables").value == (4, 4) and metric(at, "Tables") == "4"

    # density: the demo's table layouts are BA, ReverseRandomTree and WS, so m and k move, p stays
    assert at.slider(key="h:density").value == aps.DENSITY_PAPER
    at.slider(key="h:density").set_value(0.8).run()
    no_exception(at)
    assert at.slider(key="w:graphs.ba_m").value == 7
    assert at.multiselect(key="w:graphs.ws_k").value == [6]
    assert at.slider(key="w:graphs.er_p").value == (0.3, 0.8)
    graphs = ss["plurel_db"].config.graphs
    assert (graphs.ba_m, graphs.ws_k, graphs.er_p) == (7, (6,), pc.Config().graphs.er_p)
    assert "BarabasiAlbert m = 7 · WattsStrogatz k ∈ {6}" in _sidebar_text(at)
    at.slider(key="w:graphs.ba_m").set_value(10).run()
    at.multiselect(key="w:graphs.ws_k").set_value([8]).run()
    assert at.slider(key="h:density").value == 1.0 and "Set elsewhere" not in _sidebar_text(at)
    # ErdosRenyi joins the table layouts with its paper p: no single position fits, and it says so
    layouts = list(at.multiselect(key="w:schema.table_layouts").value) + ["ErdosRenyi"]
    at.multiselect(key="w:schema.table_layouts").set_value(layouts).run()
    assert "Set elsewhere" in _sidebar_text(at) and "ErdosRenyi arc probability p" in _sidebar_text(at)
    at.slider(key="h:density").set_value(0.6).run()  # moving the slider sets all three
    assert at.slider(key="w:graphs.er_p").value == (0.44, 0.84) and at.slider(key="w:graphs.ba_m").value == 4
    assert "Set elsewhere" not in _sidebar_text(at)

    # activation families <-> the individual activations
    at.pills(key="h:activation_families").set_value(["ReLU-like", "sigmoid-like", "other"]).run()
    no_exception(at)
    acts = at.multiselect(key="w:scm.activations").value
    assert not {"sin", "cos", "sine_sum"} & set(acts) and len(acts) == 26
    assert not {"sin", "cos", "sine_sum"} & set(ss["plurel_db"].config.scm.activations)
    at.multiselect(key="w:scm.activations").set_value([a for a in acts if a != "gelu"] + ["sin", "cos", "sine_sum"]).run()
    assert at.pills(key="h:activation_families").value == ["sigmoid-like", "periodic", "other"]
    assert "ReLU-like 10/11" in _sidebar_text(at)

    # FK degree distribution and the other mechanism types
    at.pills(key="h:links.popularity_laws").set_value(["zipf"]).run()
    assert at.multiselect(key="w:links.popularity_laws").value == ["zipf"]
    at.slider(key="h:links.popularity_alpha").set_value((2.0, 2.5)).run()
    assert at.slider(key="w:links.popularity_alpha").value == (2.0, 2.5)
    at.slider(key="w:links.popularity_alpha").set_value((1.5, 3.0)).run()
    assert at.slider(key="h:links.popularity_alpha").value == (1.5, 3.0)
    at.slider(key="h:links.hsbm_levels").set_value((2, 2)).run()
    assert at.slider(key="w:links.hsbm_levels").value == (2, 2)
    at.slider(key="w:links.hsbm_clusters").set_value((3, 3)).run()
    assert at.slider(key="h:links.hsbm_clusters").value == (3, 3)
    at.pills(key="h:scm.scm_layouts").set_value(["Layered", "RandomTree"]).run()
    assert set(at.multiselect(key="w:scm.scm_layouts").value) == {"Layered", "RandomTree"}
    at.multiselect(key="w:scm.aggregations").set_value(["sum"]).run()
    assert at.pills(key="h:scm.aggregations").value == ["sum"]
    no_exception(at)
    assert not errors(at)
    cfg = ss["plurel_db"].config
    assert (cfg.links.popularity_laws, cfg.links.hsbm_levels.hi, cfg.scm.aggregations) == (("zipf",), 2, ("sum",))

    # a preset (callback on the expander side) reaches the headline too
    at.selectbox(key="preset").set_value("hub").run()
    assert at.pills(key="h:links.popularity_laws").value == ["zipf"]
    assert at.slider(key="h:schema.num_tables").value == (5, 12)
    # Hub has no density field: the slider is off and shows where the four fields sit (paper values)
    assert at.slider(key="h:density").value == aps.DENSITY_PAPER
    assert at.slider(key="h:density").disabled


def test_headline_changes_the_generated_database():
    at = make_app(preset="demo", seed=1).run()
    before = at.session_state["plurel_db"]
    assert {lt.popularity_law for lt in before.trace.links.values()} == {"constant"}
    at.pills(key="h:links.popularity_laws").set_value(["lognormal"]).run()
    at.slider(key="h:links.popularity_sigma").set_value((2.0, 2.0)).run()
    at.slider(key="h:schema.num_tables").set_value((6, 6)).run()
    no_exception(at)
    db = at.session_state["plurel_db"]
    assert len(db.tables) == 6 and metric(at, "Tables") == "6"
    links = db.trace.links.values()
    assert links and {(lt.popularity_law, lt.popularity_param) for lt in links} == {("lognormal", 2.0)}
    expected = pc.generate(pc.Config.preset("demo").replace(**{
        "links.popularity_laws": ("lognormal",), "links.popularity_sigma": (2.0, 2.0), "schema.num_tables": (6, 6)}), 1)
    assert db.name == expected.name
    for name, t in expected.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df)


def test_headline_change_survives_the_url_round_trip():
    at = make_app(preset="demo", seed=2).run()
    at.slider(key="h:density").set_value(0.8).run()
    at.pills(key="h:activation_families").set_value(["ReLU-like", "periodic"]).run()
    at.slider(key="h:schema.num_tables").set_value((5, 5)).run()
    no_exception(at)
    name = at.session_state["plurel_db"].name
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    diff = aps.decode_diff(flat["cfg"])
    assert diff["schema.num_tables"] == [5, 5] and diff["graphs.ba_m"] == 7 and diff["graphs.ws_k"] == [6]
    assert set(diff["scm.activations"]) == set(aps.ACTIVATION_FAMILIES["ReLU-like"] + aps.ACTIVATION_FAMILIES["periodic"])
    again = make_app(**flat).run()
    no_exception(again)
    assert again.session_state["plurel_db"].name == name
    assert again.slider(key="h:density").value == 0.8
    assert again.slider(key="h:schema.num_tables").value == (5, 5)
    assert again.pills(key="h:activation_families").value == ["ReLU-like", "periodic"]


# --- the v2 design space in the sidebar -------------------------------------------------------------
WIDGET_KINDS = ("slider", "number_input", "multiselect", "checkbox", "date_input", "radio", "selectbox", "pills")
V2_SPECS = pc.prior_specs("v2")


def _drawn_keys(at: AppTest) -> set[str]:
    """Keys of every widget drawn in the last run."""
    return {w.key for kind in WIDGET_KINDS for w in at.get(kind) if getattr(w, "key", None)}


def test_v2_preset_shows_the_v2_knobs_and_not_the_papers():
    at = make_app(preset="v2", seed=0).run()
    no_exception(at)
    assert not errors(at)
    assert at.radio(key="w:design").value == "v2"
    titles = [e.label for e in at.sidebar.expander]
    assert [t for t in titles if t in {v[0] for v in aps.STAGES.values()} | {v[0] for v in aps.V2_STAGES.values()}] \
        == [title for title, _ in aps.V2_STAGES.values()]
    drawn = _drawn_keys(at)
    assert not {k for s in pc.prior_specs() for k in aps.widget_keys(s)} & drawn  # no paper knob is drawn
    assert not {k for k in drawn if k.startswith("h:")}  # nor the paper's headline knobs
    assert any("shape the paper design space" in c.value for c in at.sidebar.caption)
    db = at.session_state["plurel_db"]
    assert db.config == pc.Config.preset("v2") and metric(at, "Tables") == str(len(db.tables))


@pytest.mark.parametrize(("preset", "design"), [("demo", "paper"), ("v2", "v2")])
def test_every_prior_spec_of_both_designs_has_a_widget(preset, design):
    at = make_app(preset=preset).run()
    no_exception(at)
    drawn = _drawn_keys(at)
    for spec in pc.prior_specs(design):
        for key in aps.widget_keys(spec):
            assert key in drawn, key
    cfg = pc.Config.preset(preset)  # each widget holds the preset's value
    for spec in pc.prior_specs(design):
        if spec.kind == "weights":
            assert {o: at.number_input(key=f"w:{spec.path}:{o}").value for o in spec.options} == \
                aps._plain(cfg.get(spec.path)), spec.path


def _tune_v2(at: AppTest) -> AppTest:
    at.slider(key="w:v2_keys.fk_nullable_prob").set_value(0.9).run()
    at.number_input(key="w:v2_columns.column_marginals:none").set_value(0.0).run()
    at.number_input(key="w:v2_columns.column_marginals:lomax").set_value(4.0).run()
    at.number_input(key="w:v2_mechanisms.node_count:hi").set_value(6).run()  # a log-uniform range
    at.number_input(key="w:v2_schema.table_count:lo").set_value(3).run()
    at.number_input(key="w:v2_schema.table_count:hi").set_value(4).run()
    at.checkbox(key="w:v2_warping.warp").uncheck().run()
    return at


V2_TUNED = pc.Config.preset("v2").replace(**{
    "v2_keys.fk_nullable_prob": 0.9, "v2_columns.column_marginals": {
        **aps._plain(pc.Config.preset("v2").get("v2_columns.column_marginals")), "none": 0.0, "lomax": 4.0},
    "v2_mechanisms.node_count": (3, 6), "v2_schema.table_count": (3, 4), "v2_warping.warp": False})


def test_v2_widgets_change_the_config_and_the_database():
    at = _tune_v2(make_app(preset="v2", seed=1).run())
    no_exception(at)
    assert not errors(at)
    db = at.session_state["plurel_db"]
    assert db.config == V2_TUNED and db.trace.priors["database"]["warp_kappa"] is None
    expected = pc.generate(V2_TUNED, 1)
    assert db.name == expected.name and list(db.tables) == list(expected.tables)
    for name, t in expected.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df)
    # every weight off: the error names the field, the last good database stays
    *others, last = aps.widget_keys(next(s for s in V2_SPECS if s.path == "v2_time.time_calendars"))
    for key in others:
        at.number_input(key=key).set_value(0.0).run()
    good = at.session_state["plurel_db"]
    assert not errors(at) and dict(good.config.v2_time.time_calendars)[last.rsplit(":", 1)[1]] == 1.0
    at.number_input(key=last).set_value(0.0).run()
    no_exception(at)
    assert any("v2_time.time_calendars" in m for m in errors(at))
    assert any("Calendars" in e.value for e in at.sidebar.error)
    assert at.session_state["plurel_db"] is good


def test_v2_config_survives_the_url_round_trip():
    at = _tune_v2(make_app(preset="v2", seed=2).run())
    no_exception(at)
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert flat["preset"] == "v2" and flat["seed"] == "2"
    assert aps.decode_diff(flat["cfg"]) == aps.config_diff(V2_TUNED)
    again = make_app(**flat).run()
    no_exception(again)
    assert again.session_state["plurel_db"].config == V2_TUNED
    assert again.session_state["plurel_db"].name == at.session_state["plurel_db"].name
    assert again.slider(key="w:v2_keys.fk_nullable_prob").value == 0.9
    assert again.number_input(key="w:v2_columns.column_marginals:lomax").value == 4.0
    assert not again.checkbox(key="w:v2_warping.warp").value


def test_switching_the_design_keeps_each_designs_values():
    at = make_app(preset="demo", seed=0).run()
    at.slider(key="w:schema.num_tables").set_value((5, 5)).run()
    at.radio(key="w:design").set_value("v2").run()  # the demo preset sampled in the v2 design
    no_exception(at)
    assert "w:schema.num_tables" not in _drawn_keys(at) and "w:v2_keys.fk_nullable_prob" in _drawn_keys(at)
    at.slider(key="w:v2_keys.fk_nullable_prob").set_value(0.5).run()
    db = at.session_state["plurel_db"]
    want = pc.Config.preset("demo").replace(design="v2", **{"schema.num_tables": (5, 5),
                                                            "v2_keys.fk_nullable_prob": 0.5})
    assert db.config == want and db.config.design == "v2"
    flat = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert aps.decode_diff(flat["cfg"])["design"] == "v2"
    assert make_app(**flat).run().session_state["plurel_db"].config == want
    at.radio(key="w:design").set_value("paper").run()  # back: the paper knob kept its value
    no_exception(at)
    assert at.slider(key="w:schema.num_tables").value == (5, 5) and metric(at, "Tables") == "5"
    assert at.slider(key="h:schema.num_tables").value == (5, 5)
    assert at.session_state["plurel_db"].config == want.replace(design="paper")
