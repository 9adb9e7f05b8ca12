"""The v2 design space as config: the ``v2`` preset, its sections, their validation, JSON and URL
round trips, the mapping to ``SchemaPrior`` / ``TablePrior`` both ways, and the dispatch of
``pc.generate`` (PLUREL_V2_SPEC.md; issue 13, "Knobs")."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields

import pandas as pd
import pytest

import plurel_core as pc
from pages import _state as aps
from plurel_core.config import V2_SECTIONS, v2_config, v2_priors, v2_warp
from plurel_core.v2 import knobs
from plurel_core.v2.layouts import LayoutSpec
from plurel_core.v2.links import Lomax
from plurel_core.v2.ranges import KAPPA, Choices, IntegersRange, LogIntegersRange, LogRange, Range
from plurel_core.v2.schema_prior import SchemaPrior
from plurel_core.v2.table_prior import TablePrior

V2 = pc.Config.preset("v2")
V2_SPECS = pc.prior_specs("v2")
PAPER_SPECS = pc.prior_specs()

# Recorded with `pc.Config.preset(name).digest()` and the sha256 of `.to_json()` on main before the
# v2 design space entered the config (commit 8ab48a6): the paper presets must keep them.
PAPER_DIGESTS = {
    "paper": ("e83cbf76", "88396cb6d327aab4a434f5c34ab399de6104624c85a031656463cb240b7aca99"),
    "demo": ("db5b31a6", "b58d2eac2511b62fe43a15d02c8e5107adb31549fbb7ebd9ec1ebb19eeb6089d"),
    "chain": ("0d8535e0", "d53d1320a050fe690e2ac86f0aaf9b00a5fcec3fe2a5897a305d70aa9e5064ce"),
    "hub": ("1064a3b5", "1ba5adc0164502d3202a9fbbe341c90cb04485335f9b0314d09cb12c1eb5aaac"),
}


# --- the paper design is untouched -----------------------------------------------------------------
@pytest.mark.parametrize("name", list(PAPER_DIGESTS))
def test_paper_presets_keep_their_json_and_digest(name):
    cfg = pc.Config.preset(name)
    digest, sha = PAPER_DIGESTS[name]
    assert cfg.digest() == digest
    assert hashlib.sha256(cfg.to_json().encode()).hexdigest() == sha
    assert cfg.design == "paper"
    assert set(cfg.to_dict()) == {"name", "schema", "graphs", "links", "scm", "postprocess"}
    assert pc.Config().digest() == PAPER_DIGESTS["paper"][0]


def test_paper_config_with_a_v2_knob_keeps_that_section_only():
    cfg = pc.Config.preset("demo").replace(**{"v2_keys.fk_nullable_prob": 0.5})
    data = cfg.to_dict()
    assert "design" not in data and data["v2_keys"]["fk_nullable_prob"] == 0.5
    assert [s for s in data if s.startswith("v2_")] == ["v2_keys"]
    assert cfg.digest() != pc.Config.preset("demo").digest()
    assert pc.Config.from_json(cfg.to_json()) == cfg
    full = cfg.to_dict(full=True)
    assert full["design"] == "paper" and set(V2_SECTIONS) <= set(full)


# --- the v2 preset <-> the authors' default priors --------------------------------------------------
def test_v2_preset_maps_to_the_default_priors():
    assert V2.design == "v2" and V2.name == "v2"
    sp, tp = v2_priors(V2)
    assert sp == SchemaPrior() and tp == TablePrior()
    for name in (f.name for f in fields(TablePrior)):  # Choices compare options and weights in order
        v = getattr(tp, name)
        if isinstance(v, Choices):
            assert v.options == getattr(TablePrior(), name).options, name
    assert sp.hsbm_between.options == (Range(0.001, 0.002), Lomax(1.0, 0.01))
    assert v2_warp(V2) == KAPPA


def test_default_priors_map_to_the_v2_preset():
    assert v2_config() == V2
    assert v2_config(SchemaPrior(), TablePrior(), warp=True, kappa=KAPPA) == V2


def test_changed_priors_round_trip_through_the_config():
    sp = SchemaPrior().replace(
        table_layouts=Choices((LayoutSpec.of("RandomTree"), LayoutSpec.of("RandomCauchy", offset=2.0)), (1.0, 3.0)),
        table_count=LogIntegersRange(4, 9), fk_nullable_prob=0.6, hsbm_within=Choices((Range(0.5, 0.6),)),
        hsbm_between=Choices((Lomax(2.0, 0.05), 0.003), (1.0, 2.0)), hsbm_popularity=Choices((Lomax(3.0),)),
        val_share=0.2, test_share=0.3)
    tp = TablePrior(node_count=LogIntegersRange(2, 30), edge_families=Choices(("mlp", "tree"), (1.0, 2.0)),
                    column_marginals=Choices(("uniform", "outliers"), (1.0, 0.25)), root_series_share=0.0,
                    fourier_frequency_count=8, series_rho=Range(0.1, 0.2),
                    node_layouts=Choices((LayoutSpec.of("ErdosRenyi", p=0.4),)))
    cfg = v2_config(sp, tp, warp=False, kappa=(1.0, 2.0))
    assert v2_priors(cfg) == (sp, tp) and v2_warp(cfg) is None
    assert cfg.v2_links.hsbm_between_constant == 0.003  # a law the default does not offer gets its knob
    assert dict(cfg.v2_mechanisms.edge_families)["linear"] == 0.0
    back = pc.Config.from_json(cfg.to_json())
    assert back == cfg and v2_priors(back) == (sp, tp)
    # the knobs hold options in their catalog order: another order is the same law, reordered
    swapped = sp.replace(hsbm_between=Choices((0.003, Lomax(2.0, 0.05)), (2.0, 1.0)))
    assert v2_priors(v2_config(swapped, tp))[0] == sp


def test_priors_the_knobs_cannot_hold_are_refused_by_field():
    with pytest.raises(pc.ConfigError) as err:
        v2_config(SchemaPrior().replace(table_layouts=Choices((LayoutSpec.of("ErdosRenyi", p=0.9),))))
    assert err.value.field == "v2_schema.table_layouts"
    with pytest.raises(pc.ConfigError) as err:
        v2_config(table_prior=TablePrior(node_count=IntegersRange(3, 16)))  # the knob is log-uniform
    assert err.value.field == "v2_mechanisms.node_count"
    with pytest.raises(pc.ConfigError) as err:
        v2_config(SchemaPrior().replace(hsbm_popularity=Choices((Lomax(2.5, 3.0),))))  # its scale has no knob
    assert err.value.field == "v2_links.hsbm_popularity_laws"


def test_every_dataclass_prior_is_a_knob_with_its_law():
    sources = {(k.prior, k.source) for k in knobs.KNOBS if k.prior}
    assert sources == {("schema", f.name) for f in fields(SchemaPrior)} | {("table", f.name) for f in fields(TablePrior)}
    specs = {s.path: s for s in V2_SPECS}
    assert [s.path for s in V2_SPECS] == [k.path for k in knobs.KNOBS]
    assert {s.section for s in V2_SPECS} == set(V2_SECTIONS) == set(knobs.SECTIONS)
    for prior, default in (("schema", SchemaPrior()), ("table", TablePrior())):
        for f in fields(default):
            value = getattr(default, f.name)
            knob = next(k for k in knobs.KNOBS if k.prior == prior and k.source == f.name and k.law is None)
            spec = specs[knob.path]
            assert spec.design == "v2" and spec.label and spec.help
            if isinstance(value, (LogIntegersRange, IntegersRange)):
                assert (spec.kind, spec.scale) == ("int_range", "log" if isinstance(value, LogIntegersRange) else "linear")
                assert spec.bounds[0] <= value.lo <= value.hi <= spec.bounds[1]
            elif isinstance(value, (LogRange, Range)):
                assert (spec.kind, spec.scale) == ("float_range", "log" if isinstance(value, LogRange) else "linear")
                assert spec.bounds[0] <= value.lo <= value.hi <= spec.bounds[1]
                if spec.scale == "log":
                    assert spec.bounds[0] > 0
            elif isinstance(value, Choices):
                assert spec.kind == "weights" and len(spec.options) >= len(value.options)
            elif isinstance(value, float):
                assert spec.kind == "prob" and spec.bounds == (0.0, 1.0)
            else:
                assert spec.kind == "int"
    assert specs["v2_warping.warp"].kind == "bool"
    assert (specs["v2_warping.kappa"].kind, specs["v2_warping.kappa"].scale) == ("float_range", "log")


def test_bounds_corners_are_accepted_by_the_dataclasses():
    """Every value a widget can hold makes valid priors (no error raised later by the pipeline)."""
    for spec in V2_SPECS:
        if spec.kind in ("int_range", "float_range"):
            b0, b1 = spec.bounds
            for value in ((b0, b0), (b0, b1), (b1, b1)):
                v2_priors(V2.replace(**{spec.path: value}))
        elif spec.kind in ("prob", "int", "float") and spec.path not in ("v2_time.val_share", "v2_time.test_share"):
            for value in spec.bounds:
                v2_priors(V2.replace(**{spec.path: int(value) if spec.kind == "int" else value}))
        elif spec.kind == "weights" and spec.path != "v2_mechanisms.edge_families":
            for option in spec.options:  # any single option on
                v2_priors(V2.replace(**{spec.path: {option: 2.0}}))


def _changed(spec):
    """A valid value of ``spec`` other than the v2 preset's."""
    current = aps._plain(V2.get(spec.path))
    if spec.kind in ("int_range", "float_range"):
        lo, hi = spec.bounds
        return [lo, lo] if current != [lo, lo] else [hi, hi]
    if spec.kind in ("prob", "float"):
        return 0.25 if not math.isclose(current, 0.25) else 0.75
    if spec.kind == "int":
        return int(spec.bounds[0]) if current != spec.bounds[0] else int(spec.bounds[1])
    if spec.kind == "bool":
        return not current
    if spec.kind == "weights":
        on = [o for o, w in current.items() if w > 0]
        if spec.path == "v2_mechanisms.edge_families":
            return {"mlp": 1.0}
        return {on[-1]: 1.0} if len(on) > 1 else {o: 1.0 for o in spec.options}
    raise AssertionError(spec.kind)


@pytest.mark.parametrize("spec", V2_SPECS, ids=lambda s: s.path)
def test_every_v2_knob_moves_its_prior_and_only_it(spec):
    knob = knobs.KNOB_BY_PATH[spec.path]
    base = V2
    if knob.law is not None:  # a parameter of a law: that law turned on (the default may not offer it)
        base = V2.replace(**{f"{knob.section}.{knob.source}_laws": {knob.law: 1.0}})
    cfg = base.replace(**{spec.path: _changed(spec)})
    sp, tp = v2_priors(cfg)
    sp0, tp0 = v2_priors(base)
    moved = ({f.name for f in fields(sp) if getattr(sp, f.name) != getattr(sp0, f.name)}
             | {f.name for f in fields(tp) if getattr(tp, f.name) != getattr(tp0, f.name)})
    if knob.prior is None:  # warping
        assert moved == set() and v2_warp(cfg) != v2_warp(V2)
    else:
        assert moved == {knob.source}, moved
        assert v2_warp(cfg) == KAPPA


# --- validation names the field -------------------------------------------------------------------
def _bad_values(spec):
    """(value, words of the message) pairs that ``spec`` must refuse."""
    if spec.kind in ("int_range", "float_range"):
        lo, hi = spec.bounds
        cases = [((lo, hi * 2 + 1), "outside the allowed range"), ((lo - 1, hi), "outside the allowed range")]
        return cases + [((hi, lo), "greater than")] if hi > lo else cases
    if spec.kind in ("prob", "float", "int"):
        lo, hi = spec.bounds
        return [(hi + 1, "outside the allowed range"), (lo - 1, "outside the allowed range")]
    if spec.kind == "weights":
        first = spec.options[0]
        return [({first: -1.0, spec.options[1]: 1.0}, "non-negative"),
                ({o: 0.0 for o in spec.options}, "at least one weight must be positive"),
                ({"no_such_option": 1.0}, "unknown option"),
                ({first: "heavy"}, "must be a number")]
    if spec.kind == "bool":
        return [([True], "")]
    raise AssertionError(spec.kind)


@pytest.mark.parametrize("spec", V2_SPECS, ids=lambda s: s.path)
def test_every_v2_field_refuses_bad_values_naming_the_field(spec):
    for value, words in _bad_values(spec):
        with pytest.raises(pc.ConfigError) as err:
            V2.replace(**{spec.path: value})
        assert err.value.field == spec.path, (value, str(err.value))
        assert words in err.value.message, (value, err.value.message)


def test_cross_field_checks_of_the_dataclasses_name_the_config_field():
    with pytest.raises(pc.ConfigError) as err:
        V2.replace(**{"v2_time.val_share": 0.6, "v2_time.test_share": 0.5})
    assert err.value.field == "v2_time.test_share" and "sum to < 1" in err.value.message
    with pytest.raises(pc.ConfigError) as err:
        V2.replace(**{"v2_time.val_share": 0.0})
    assert err.value.field == "v2_time.val_share"
    with pytest.raises(pc.ConfigError) as err:  # lookup and linear fit only some edges
        V2.replace(**{"v2_mechanisms.edge_families": {"lookup": 1.0, "linear": 2.0}})
    assert err.value.field == "v2_mechanisms.edge_families" and "fits any widths" in err.value.message
    with pytest.raises(pc.ConfigError) as err:
        V2.replace(design="v3")
    assert err.value.field == "design"
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.from_dict({"design": "v2", "v2_columns": {"column_marginals": {"none": 1, "none ": 1}}})
    assert err.value.field == "v2_columns.column_marginals"


def test_weights_are_held_in_catalog_order_with_absent_options_off():
    cfg = V2.replace(**{"v2_columns.column_marginals": {"outliers": 2, "none": 1}})
    assert cfg.v2_columns.column_marginals[0] == ("none", 1.0)
    assert dict(cfg.v2_columns.column_marginals) == {o: {"none": 1.0, "outliers": 2.0}.get(o, 0.0)
                                                     for o in knobs.KNOB_BY_PATH["v2_columns.column_marginals"].options}
    _, tp = v2_priors(cfg)
    assert tp.column_marginals == Choices(("none", "outliers"), (1.0, 2.0))
    hash(cfg)  # every config value stays hashable


# --- JSON, dict and URL round trips -----------------------------------------------------------------
def _tuned_v2() -> pc.Config:
    return V2.replace(**{
        "v2_schema.table_count": (3, 7), "v2_mechanisms.node_noise_std": (0.01, 0.2),
        "v2_keys.fk_nullable_prob": 0.55, "v2_columns.column_marginals": {"none": 1, "lomax": 4},
        "v2_schema.table_layouts": {"RandomTree": 1, "Layered(depth=6, dropout=0.1)": 0.5},
        "v2_mechanisms.fourier_frequency_count": 32, "v2_warping.warp": False, "v2_warping.kappa": (1.0, 50.0),
        "schema.num_tables": (4, 4)})


@pytest.mark.parametrize("cfg", [pc.Config(), pc.Config.preset("hub"), V2, _tuned_v2(),
                                 pc.Config.preset("demo").replace(design="v2"),
                                 pc.Config().replace(**{"v2_links.hsbm_popularity_laws": {"lomax": 1}})],
                         ids=["paper", "hub", "v2", "tuned-v2", "demo-as-v2", "paper-with-v2-knob"])
def test_json_and_dict_round_trip_both_designs(cfg):
    text = cfg.to_json()
    back = pc.Config.from_json(text)
    assert back == cfg and back.to_json() == text and back.digest() == cfg.digest()
    assert pc.Config.from_dict(cfg.to_dict()) == cfg == pc.Config.from_dict(cfg.to_dict(full=True))
    assert pc.Config.from_json(json.dumps({"config": cfg.to_dict(), "seed": 4})) == cfg
    assert ('"design": "v2"' in text) == (cfg.design == "v2")


@pytest.mark.parametrize("cfg", [V2, _tuned_v2(), pc.Config.preset("demo").replace(design="v2")],
                         ids=["v2", "tuned-v2", "demo-as-v2"])
def test_url_round_trips_v2_configs(cfg):
    params = aps.to_query_params(cfg, 11)
    assert aps.from_query_params(params) == (cfg, 11)
    preset, seed, values, problems = aps.seed_and_values_from_query(params)
    assert not problems and seed == 11
    assert aps.config_from_values(preset, values) == cfg
    diff = aps.config_diff(cfg)
    assert ("design" in diff) == (cfg.name != "v2")


def test_url_values_the_widgets_cannot_hold_are_dropped_and_reported():
    code = aps.encode_diff({"v2_keys.fk_nullable_prob": 3.0, "v2_columns.column_marginals": {"bogus": 1},
                            "v2_time.time_calendars": {"always": -1}, "design": "v9",
                            "v2_schema.table_count": [2, 5]})
    preset, _, values, problems = aps.seed_and_values_from_query({"preset": "v2", "cfg": code})
    assert values == {"v2_schema.table_count": [2, 5]}
    assert len(problems) == 4 and any(p.startswith("design:") for p in problems)


def test_widget_plans_and_keys_of_the_new_kinds():
    specs = {s.path: s for s in V2_SPECS}
    assert aps.widget_plan(specs["v2_keys.fk_nullable_prob"]) == "slider"
    assert aps.widget_plan(specs["v2_columns.column_marginals"]) == "weights"
    assert aps.widget_plan(specs["v2_mechanisms.node_count"]) == "range_pair"  # log-uniform
    assert aps.widget_plan(specs["v2_mechanisms.tree_depth"]) == "range_slider"
    assert aps.widget_plan(specs["v2_warping.warp"]) == "checkbox"
    spec = specs["v2_time.time_calendars"]
    assert aps.widget_keys(spec) == [f"w:v2_time.time_calendars:{o}" for o in spec.options]
    for s in V2_SPECS:  # every slider's step hits the preset value
        if aps.widget_plan(s) in ("slider", "range_slider") and s.kind != "int_range":
            step = aps.float_step(s)
            v = aps._plain(V2.get(s.path))
            for x in (v if isinstance(v, list) else [v]):
                assert abs(x / step - round(x / step)) < 1e-6, (s.path, x, step)


def test_prior_specs_by_design():
    assert all(s.design == "paper" for s in PAPER_SPECS)
    assert {s.section for s in PAPER_SPECS} == {"schema", "graphs", "links", "scm", "postprocess"}
    assert [s.path for s in pc.prior_specs(None)] == [s.path for s in PAPER_SPECS + V2_SPECS]
    with pytest.raises(pc.ConfigError) as err:
        pc.prior_specs("v3")
    assert err.value.field == "design"
    assert V2.get("design") == "v2" and pc.Config().replace(design="v2").v2_schema == V2.v2_schema
    assert "v2" in pc.Config.preset_names() and "later design" in pc.Config.preset_description("v2")


# --- generate() dispatch --------------------------------------------------------------------------
def _same_tables(a: pc.Database, b: pc.Database) -> None:
    assert list(a.tables) == list(b.tables)
    for name, t in a.tables.items():
        pd.testing.assert_frame_equal(t.df, b.tables[name].df, check_exact=True)


def test_generate_dispatches_v2_configs_to_generate_v2():
    v2p = pytest.importorskip("plurel_core.v2.pipeline")
    cfg = V2.replace(**{"v2_schema.table_count": (2, 4), "v2_schema.event_rows": (300, 600)})
    sp, tp = v2_priors(cfg)
    db = pc.generate(cfg, 3)
    assert db.config == cfg and db.seed == 3
    _same_tables(db, v2p.generate_v2(sp, tp, 3, config=cfg))
    assert db.trace.priors["database"]["warp_kappa"] == list(KAPPA)
    # warping: off = no warp; the kappa range is passed through
    off = cfg.replace(**{"v2_warping.warp": False})
    db_off = pc.generate(off, 3)
    _same_tables(db_off, v2p.generate_v2(sp, tp, 3, config=off, warp_kappa=None))
    assert db_off.trace.priors["database"]["warp_kappa"] is None
    narrow = cfg.replace(**{"v2_warping.kappa": (5.0, 5.0)})
    _same_tables(pc.generate(narrow, 3), v2p.generate_v2(sp, tp, 3, config=narrow, warp_kappa=(5.0, 5.0)))
    # a v2 knob reaches the database: no nullable key at probability 0, keys nullable at 1
    never = pc.generate(cfg.replace(**{"v2_keys.fk_nullable_prob": 0.0, "v2_keys.self_tree_prob": 0.0}), 3)
    assert all(not t.df[c].isna().any() for t in never.tables.values() for c in t.fkey_col_to_pkey_table)


def test_stage1_helpers_size_or_refuse_v2_configs():
    pytest.importorskip("plurel_core.v2.pipeline")
    cfg = V2.replace(**{"v2_schema.table_count": (2, 4), "v2_schema.event_rows": (300, 600)})
    for seed in (0, 1):
        db = pc.generate(cfg, seed)
        widest = sum(len(t.df) * (len(t.df.columns) - sum(c.startswith("col") for c in t.df.columns)
                                  + cfg.v2_columns.column_count.hi) for t in db.tables.values())
        assert pc.estimate_cells(cfg, seed) == widest >= db.num_cells
        assert pc.estimate_bytes(cfg, seed) > 16 * widest
        with pytest.raises(pc.SizeError, match="cells"):
            pc.generate(cfg, seed, max_cells=db.num_cells // 4)
    with pytest.raises(pc.ConfigError) as err:
        pc.sample_stage1(cfg, 0)
    assert err.value.field == "design"
    assert pc.preview_database(cfg, 0) is None
    schema = pc.sample_stage1(pc.Config.preset("demo"), 0).schema
    with pytest.raises(pc.ConfigError) as err:
        pc.generate(cfg, 0, schema)
    assert err.value.field == "design"


def test_the_paper_pipeline_ignores_v2_knobs():
    """Mixing is not implemented in the paper pipeline: v2 knobs of a paper config change nothing."""
    demo = pc.Config.preset("demo")
    mixed = demo.replace(**{"v2_keys.fk_nullable_prob": 1.0, "v2_links.link_random_prob": 1.0})
    a, b = pc.generate(demo, 2), pc.generate(mixed, 2)
    _same_tables(a, b)
    assert a.name != b.name and b.config == mixed
    assert pc.sample_stage1(demo, 2).rows == pc.sample_stage1(mixed, 2).rows
