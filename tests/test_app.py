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
         "pages/mechanisms.py", "pages/compare.py", "pages/export.py"]
TITLES = ["Overview", "Schema", "Foreign keys", "Columns", "Mechanisms", "Compare priors", "Export"]


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
        at.slider(key="cmp_n").set_value(5).run()
        at.selectbox(key="cmp_other").set_value("preset: chain").run()
        at.button(key="cmp_run").click().run()
        no_exception(at)
        assert at.session_state["cmp_request"][2] == 5
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
