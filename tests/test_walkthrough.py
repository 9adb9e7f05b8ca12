"""How it's made: the toy database, keep_node_values, the walkthrough steps and the page."""

from __future__ import annotations

import json
import math
import re

import networkx as nx
import numpy as np
import pytest
from core_helpers import assert_same_tables, drawn_links
from streamlit.testing.v1 import AppTest

import plurel_core as pc
from plurel_core import stats, walk_plots
from plurel_core import walkthrough as wt
from plurel_core.links import block_clusters
from plurel_core.postprocess import apply_transform
from tests.test_app import make_app, no_exception

PRESETS = pc.Config.preset_names()
PAPER_PRESETS = [name for name in PRESETS if pc.Config.preset(name).design == "paper"]  # the page walks v2 apart
PAGE = "pages/how_its_made.py"


def paper_design(cfg: pc.Config) -> pc.Config:
    """The config the walkthrough uses: itself, or its paper-design priors for another design."""
    return cfg if getattr(cfg, "design", "paper") == "paper" else cfg.replace(design="paper")


def walk_config(name: str) -> pc.Config:
    return paper_design(pc.Config.preset(name))


# --- keep_node_values ----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESETS)
def test_keep_node_values_changes_no_byte(preset):
    cfg = walk_config(preset)
    cases = [(wt.toy_config(cfg), seed, 1) for seed in (0, 1, 2)]
    if preset == "demo":  # full-size tables too, one and two threads
        cases += [(cfg, 0, 1), (cfg, 1, 2)]
    for config, seed, threads in cases:
        off = pc.generate(config, seed, threads=threads)
        on = pc.generate(config, seed, threads=threads, keep_node_values=True)
        assert_same_tables(off, on)
        for name in on.tables:
            assert off.trace.scm[name].node_values == {}
            kept = on.trace.scm[name].node_values
            g = on.trace.scm[name].graph
            assert list(kept) == wt.evaluation_order(g)  # every evaluated node, in evaluation order
            for node, values in kept.items():
                assert len(values) == len(on.tables[name])
                categorical = g.nodes[node]["prop_type"] == "categorical"
                assert values.dtype == (np.int64 if categorical else np.float32)


def test_column_nodes_equal_the_columns_before_post_processing():
    """With identity transforms, no missing cells, eager typing and no binarization, every
    feature column is its SCM node's values: float32 values widened, or the labels."""
    cfg = pc.Config.preset("demo").replace(**{
        "postprocess.transforms": ("identity",), "postprocess.missing_rate": (0.0, 0.0),
        "postprocess.binarize": False, "scm.propagation_modes": ("type_eager",)})
    checked = {"numerical": 0, "categorical": 0}
    for seed in (0, 1, 2):
        ref = pc.generate(cfg, seed)  # without node values: the plain pipeline
        kept = pc.generate(cfg, seed, keep_node_values=True)
        for name, t in ref.tables.items():
            values = kept.trace.scm[name].node_values
            for col in t.feature_cols:
                meta = t.columns[col]
                node_values = values[meta.node]
                if meta.kind == "numerical":
                    assert meta.transform == "identity" and not t.df[col].isna().any()
                    assert node_values.dtype == np.float32
                    assert np.array_equal(t.df[col].to_numpy(), node_values.astype(np.float64))
                else:
                    assert np.array_equal(t.df[col].cat.codes.to_numpy(dtype=np.int64), node_values)
                checked[meta.kind] += 1
    assert checked["numerical"] > 10 and checked["categorical"] > 10


# --- the toy database ----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESETS)
def test_toy_config_overrides_only_the_sizes(preset):
    cfg = walk_config(preset)
    toy = wt.toy_config(cfg)
    changed = set(stats.config_diff(cfg, toy)["path"])
    assert changed <= {"schema.num_tables", "schema.entity_rows", "schema.activity_rows", "schema.feature_columns"}
    for seed in range(6):
        db = wt.toy_database(cfg, seed)
        assert 3 <= len(db.tables) <= 8
        for name, t in db.tables.items():
            assert 20 <= len(t) <= 40
            assert db.trace.scm[name].graph.number_of_nodes() <= wt.MAX_SCM_NODES


def test_toy_config_keeps_tiny_column_shares_within_twelve_nodes():
    cfg = pc.Config().replace(**{"scm.column_node_share": (0.05, 0.9), "schema.feature_columns": (5, 9)})
    toy = wt.toy_config(cfg)
    assert toy.scm.column_node_share.lo == pytest.approx(1 / 8)
    assert toy.schema.feature_columns.hi == 1
    assert wt.max_feature_columns(0.3) == 2 and wt.max_feature_columns(0.9) == 4
    for m in range(1, 6):  # the bound is exact: one more column would not fit
        q = 0.9
        fits = m + math.ceil(m / q) + 3 <= 12
        assert fits == (m <= wt.max_feature_columns(q))
    for seed in range(5):
        db = wt.toy_database(cfg, seed)
        assert all(s.graph.number_of_nodes() <= 12 for s in db.trace.scm.values())


def test_toy_config_refuses_another_design():
    others = [name for name in PRESETS if getattr(pc.Config.preset(name), "design", "paper") != "paper"]
    if not others:
        pytest.skip("every preset has the paper design")
    for name in others:
        with pytest.raises(pc.ConfigError) as err:
            wt.toy_config(pc.Config.preset(name))
        assert err.value.field == "design"


def test_toy_database_is_generate_of_the_toy_config():
    cfg = pc.Config.preset("paper")
    db = wt.toy_database(cfg, 3)
    assert db.config == wt.toy_config(cfg) and db.seed == 3
    assert_same_tables(db, pc.generate(wt.toy_config(cfg), 3))


def test_resample_keeps_the_tables_and_draws_links_again():
    cfg = pc.Config.preset("demo")
    base = wt.toy_database(cfg, 0)
    again = wt.toy_database(cfg, 0, wt.Knobs(resample=1))
    toy = wt.toy_config(cfg)
    assert_same_tables(again, pc.generate(toy, 1, pc.sample_stage1(toy, 0).schema))
    assert list(again.tables) == list(base.tables)
    assert {n: (t.kind, len(t)) for n, t in again.tables.items()} == {n: (t.kind, len(t)) for n, t in base.tables.items()}
    assert list(again.trace.links) == list(base.trace.links)
    assert any(not np.array_equal(again.trace.links[k].parent_index, base.trace.links[k].parent_index)
               for k in base.trace.links)


def test_knobs_set_their_config_fields_and_the_toy_follows():
    cfg = pc.Config.preset("paper")
    knobs = wt.Knobs(tables=4, layout="Layered", levels=2, clusters=3, popularity="zipf", aggregation="max",
                     trend_exponent=0.5, period_fraction=0.2, activity_noise=0.25, entity_noise=0.0)
    toy = wt.toy_config(cfg, knobs)
    assert toy.schema.num_tables == pc.IntRange(lo=4, hi=4)
    assert toy.schema.table_layouts == ("Layered",)
    assert toy.links.hsbm_levels == pc.IntRange(lo=2, hi=2) and toy.links.hsbm_clusters == pc.IntRange(lo=3, hi=3)
    assert toy.links.popularity_laws == ("zipf",) and toy.scm.aggregations == ("max",)
    assert toy.scm.ts_trend_exponent == pc.FloatRange(lo=0.5, hi=0.5)
    assert toy.scm.ts_period_fractions == (0.2,)
    assert toy.scm.ts_activity_noise == 0.25 and toy.scm.ts_entity_noise == 0.0
    ts_seen = 0
    for seed in range(4):
        db = wt.toy_database(cfg, seed, knobs)
        assert len(db.tables) == 4 and db.trace.table_layout == "Layered"
        for lt in db.trace.links.values():
            assert lt.levels == 2 and lt.h_parent == [3, 3] and lt.h_child == [3, 3]
            assert lt.popularity_law == "zipf"
        for name, tr in db.trace.scm.items():
            g = tr.graph
            assert all(d["aggregation"] == "max" for _, d in g.nodes(data=True) if not d["is_source"])
            for _, d in g.nodes(data=True):
                src = d.get("source") or {}
                if src.get("law") == "ts" and "trend_exponent" in src:
                    ts_seen += 1
                    assert src["trend_exponent"] == 0.5
                    assert src["period"] == math.ceil(len(db.tables[name]) * 0.2)
                    activity = db.tables[name].kind == "activity"
                    assert src["noise_sigma"] == (0.25 if activity else 0.0)
    assert ts_seen > 0


# --- the steps -----------------------------------------------------------------------------------
def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


STAGE_WORDS = {"schema": "Stage 1", "links": "Stage 2", "scm": "Stage 3", "post": "Post-processing"}


def replay(db: pc.Database, ref: pc.Database, ref_values: pc.Database, fk: str, table: str) -> None:
    """Walk the steps in order, rebuilding what each stage made, and compare with ``ref`` (the
    same config and seed, generated without node values) and ``ref_values`` (with them)."""
    steps = wt.walkthrough(db, fk=fk, table=table)
    stages = [s.stage for s in steps]
    assert stages == sorted(stages, key=["schema", "links", "scm", "post"].index)  # stage by stage, in order
    made: list[str] = []
    edges: set[tuple[str, str]] = set()
    evaluated: list[int] = []
    ref_g = ref.trace.schema_graph
    for step in steps:
        assert step.caption.startswith(STAGE_WORDS[step.stage]), step.caption
        assert _sentences(step.caption) == 2, step.caption
        assert step.title and step.stage_label == wt.STAGES[step.stage]
        if isinstance(step, wt.SchemaStep):
            for name in step.new:  # a table appears once, after all its parents
                assert name not in made
                assert set(ref_g.predecessors(name)) <= set(made)
                made.append(name)
                edges |= {(p, name) for p in step.graph.predecessors(name)}
            assert step.shown == made
            if step.kinds_shown:
                assert {n: step.graph.nodes[n]["kind"] for n in made} == {n: t.kind for n, t in ref.tables.items()}
        elif isinstance(step, wt.BlocksStep):
            lt = ref.trace.links[fk]
            digits_p = block_clusters(lt.parent_block, lt.h_parent)
            digits_c = block_clusters(lt.child_block, lt.h_child)
            assert np.array_equal(step.parent_cluster, digits_p[:, step.level])
            assert np.array_equal(step.child_cluster, digits_c[:, step.level])
            # rows in the same block at this level share every coarser cluster
            for blocks, digits in ((step.parent_block, digits_p), (step.child_block, digits_c)):
                for b in np.unique(blocks):
                    assert len(np.unique(digits[blocks == b, : step.level + 1], axis=0)) == 1
            assert np.array_equal(step.matrix, lt.block_matrices[step.level])
            if step.level == lt.levels - 1:
                assert np.array_equal(step.parent_block, lt.parent_block)
        elif isinstance(step, wt.LinkStep):
            lt = ref.trace.links[fk]
            assert np.array_equal(step.parent_index, lt.parent_index)
            assert np.array_equal(step.parent_index, ref.tables[lt.child].df[lt.fkey_col].to_numpy())
            assert step.children_per_parent.sum() == len(ref.tables[lt.child])
        elif isinstance(step, wt.ScmStep) and step.node is not None:
            g = ref_values.trace.scm[table].graph
            assert step.done == evaluated and set(g.predecessors(step.node)) <= set(evaluated)
            assert [p for p, _ in step.parents] == sorted(g.predecessors(step.node))
            expected = ref_values.trace.scm[table].node_values[step.node]
            assert step.values.dtype == expected.dtype and np.array_equal(step.values, expected)
            if step.components is not None and not step.categorical:
                assert np.array_equal(step.values, step.components["signal"])
            evaluated.append(step.node)
        elif isinstance(step, wt.PostStep) and step.kind == "transform":
            for ch in step.columns:
                name, col = ch.column.split(".")
                meta = ref.tables[name].columns[col]
                after = ref.tables[name].df[col].to_numpy()
                assert np.array_equal(ch.after, after, equal_nan=True)
                assert np.array_equal(ch.before, ref_values.trace.scm[name].node_values[meta.node])
                kept = ~np.isnan(after)
                assert (~kept).sum() == meta.missing
                redone = apply_transform(meta.transform, ch.before.astype(np.float64))
                assert np.array_equal(redone[kept], after[kept])
        elif isinstance(step, wt.PostStep) and step.kind == "missing":
            for col, mask in step.missing.items():
                assert np.array_equal(mask, ref.tables[step.table].df[col].isna().to_numpy())
        elif isinstance(step, wt.PostStep) and step.kind == "binarize":
            for ch in step.columns:
                name, col = ch.column.split(".")
                meta = ref.tables[name].columns[col]
                assert np.array_equal(ch.before, ref_values.trace.scm[name].node_values[meta.node])
                if ref.trace.scm[name].mode == "type_eager":  # labels straight from the SCM node
                    assert np.array_equal(ch.after, ch.before > 0 if meta.binarized else ch.before)
    assert sorted(made) == sorted(ref.tables)
    assert edges == {(p, c) for c, _, p in ref.foreign_keys}
    assert evaluated == list(ref_values.trace.scm[table].node_values)


@pytest.mark.parametrize("preset", PRESETS)
def test_replaying_the_steps_gives_the_generated_database(preset):
    cfg = walk_config(preset)
    for seed in (0, 1):
        db = wt.toy_database(cfg, seed)
        ref = pc.generate(wt.toy_config(cfg), seed)  # the same config and seed, no node values
        ref_values = pc.generate(wt.toy_config(cfg), seed, keep_node_values=True)
        assert_same_tables(db, ref)
        for fk in db.trace.links:
            replay(db, ref, ref_values, fk, wt.default_table(db))
        for table in db.tables:
            replay(db, ref, ref_values, next(iter(db.trace.links)), table)


def test_bipartite_figure_draws_exactly_the_parent_index():
    db = wt.toy_database(pc.Config.preset("paper"), 0, wt.Knobs(levels=2, clusters=3))
    for fk, lt in db.trace.links.items():
        step = next(s for s in wt.link_steps(db, fk) if isinstance(s, wt.LinkStep))
        assert np.array_equal(step.parent_index, lt.parent_index)
        fig = walk_plots.links_figure(step)
        drawn, _ = drawn_links(fig)
        assert drawn == {i: int(p) for i, p in enumerate(lt.parent_index)}


def test_scm_steps_need_node_values():
    db = pc.generate(wt.toy_config(pc.Config.preset("demo")), 0)
    with pytest.raises(ValueError, match="keep_node_values"):
        wt.scm_steps(db, next(iter(db.tables)))


def test_block_at_level_is_the_mixed_radix_prefix():
    radices = [3, 2, 4]
    finest = np.arange(24)
    digits = block_clusters(finest, radices)
    assert np.array_equal(wt.block_at_level(finest, radices, 0), digits[:, 0])
    assert np.array_equal(wt.block_at_level(finest, radices, 1), digits[:, 0] * 2 + digits[:, 1])
    assert np.array_equal(wt.block_at_level(finest, radices, 2), finest)
    for level in range(3):
        assert np.array_equal(wt.cluster_at_level(finest, radices, level), digits[:, level])


@pytest.mark.parametrize("preset", PRESETS)
def test_every_step_has_its_figures(preset):
    """Every distinct step (every foreign key, every table) draws: lazy mode, categorical-only
    tables and tables without a ts source included."""
    cfg = walk_config(preset)
    kinds = set()
    for seed in (0, 1):
        db = wt.toy_database(cfg, seed)
        steps = wt.schema_steps(db) + [s for fk in db.trace.links for s in wt.link_steps(db, fk)]
        steps += [s for t in db.tables for s in wt.scm_steps(db, t) + wt.post_steps(db, t)]
        for step in steps:
            figs = walk_plots.figures(step)
            assert figs and all(f.layout.title.text for f in figs)
            for f in figs:
                f.to_json()
            kinds.add(type(step).__name__)
            if isinstance(step, wt.ScmStep):
                assert len(figs) == (2 if step.components else 1)
    assert kinds == {"SchemaStep", "BlocksStep", "LinkStep", "ScmStep", "PostStep"}


def test_schema_steps_follow_topological_generations():
    db = wt.toy_database(pc.Config.preset("chain"), 0)
    steps = wt.schema_steps(db)
    gens = [sorted(gen) for gen in nx.topological_generations(db.trace.schema_graph)]
    assert [sorted(s.new) for s in steps[:-1]] == gens
    assert steps[-1].kinds_shown and steps[-1].new == []


# --- the page ------------------------------------------------------------------------------------
def page_steps(at: AppTest) -> list[wt.Step]:
    """The steps the page shows, from its toy database and selections."""
    ss = at.session_state
    fk = ss["hm_fk"] if "hm_fk" in ss else None
    level = ss["hm_level"] - 1 if "hm_level" in ss else None
    return wt.walkthrough(ss["hm_db"], fk=fk, table=ss["hm_table"], level=level)


def check_step(at: AppTest, steps: list, i: int) -> None:
    """The page shows step i of ``steps``: slider, title, caption, stage label and every figure."""
    no_exception(at)
    step = steps[i - 1]
    assert at.slider(key="hm_step").value == i
    assert at.subheader[0].value == f"{i}/{len(steps)} · {step.title}"
    assert any(m.value == step.caption for m in at.markdown)
    assert any(c.value == step.stage_label for c in at.caption)
    charts = at.get("plotly_chart")
    figures = walk_plots.figures(step)
    assert len(charts) == len(figures)
    for chart, fig in zip(charts, figures):
        assert json.loads(chart.proto.spec)["layout"]["title"]["text"] == fig.layout.title.text


@pytest.mark.parametrize("preset", PAPER_PRESETS)
def test_every_step_renders_for_every_preset(preset):
    at = make_app(preset=preset, seed=0).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    assert any(t.value == "How it's made" for t in at.title)
    db = at.session_state["hm_db"]
    cfg, seed = at.session_state["good_config"]
    assert cfg == pc.Config.preset(preset)
    assert_same_tables(db, pc.generate(wt.toy_config(cfg), seed))
    steps = page_steps(at)
    assert int(at.slider(key="hm_step").max) == len(steps)
    for i in range(1, len(steps) + 1):
        if i > 1:
            at.slider(key="hm_step").set_value(i).run()
        check_step(at, steps, i)
    at.button(key="hm_prev").click().run()
    assert at.slider(key="hm_step").value == len(steps) - 1
    at.button(key="hm_next").click().run()
    at.button(key="hm_next").click().run()  # stays on the last step
    assert at.slider(key="hm_step").value == len(steps)
    no_exception(at)


def test_page_knobs_change_the_toy_database():
    at = make_app(preset="demo", seed=0).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    first = at.session_state["hm_db"]

    def toy() -> pc.Database:
        no_exception(at)
        return at.session_state["hm_db"]

    for count in (3, 8):
        at.selectbox(key="hm_knob_tables").set_value(count).run()
        assert len(toy().tables) == count
    at.selectbox(key="hm_knob_layout").set_value("Chain").run()
    assert toy().trace.table_layout == "Chain"
    at.selectbox(key="hm_knob_levels").set_value(2).run()
    at.selectbox(key="hm_knob_clusters").set_value(3).run()
    at.selectbox(key="hm_knob_popularity").set_value("zipf").run()
    links = toy().trace.links.values()
    assert all(lt.levels == 2 and lt.h_parent == [3, 3] and lt.popularity_law == "zipf" for lt in links)
    at.selectbox(key="hm_knob_aggregation").set_value("product").run()
    for tr in toy().trace.scm.values():
        assert all(d["aggregation"] == "product" for _, d in tr.graph.nodes(data=True) if not d["is_source"])
    at.selectbox(key="hm_knob_trend_exponent").set_value(1.5).run()
    at.selectbox(key="hm_knob_period_fraction").set_value(0.3).run()
    at.selectbox(key="hm_knob_activity_noise").set_value(0.5).run()
    at.selectbox(key="hm_knob_entity_noise").set_value(0.01).run()
    db = toy()
    scm = db.config.scm
    assert (scm.ts_trend_exponent.lo, scm.ts_period_fractions, scm.ts_activity_noise, scm.ts_entity_noise) == \
        (1.5, (0.3,), 0.5, 0.01)
    before = db
    at.button(key="hm_resample_btn").click().run()
    again = toy()
    assert again.seed == before.seed + 1 and list(again.tables) == list(before.tables)
    assert any(not np.array_equal(again.trace.links[k].parent_index, before.trace.links[k].parent_index)
               for k in before.trace.links)
    assert again.name != first.name
    # every step of the changed toy renders
    steps = page_steps(at)
    for i in range(1, len(steps) + 1):
        at.slider(key="hm_step").set_value(i).run()
        no_exception(at)
        assert at.subheader[0].value == f"{i}/{len(steps)} · {steps[i - 1].title}"
    # back to the sidebar's priors: the first toy again
    for name in wt.KNOBS:
        at.selectbox(key=f"hm_knob_{name}").set_value("sidebar").run()
    assert list(toy().tables) == list(first.tables)
    assert_same_tables(toy(), pc.generate(wt.toy_config(pc.Config.preset("demo")), 1,
                                          pc.sample_stage1(wt.toy_config(pc.Config.preset("demo")), 0).schema))
