"""How it's made for the v2 design: keep_node_values, the v2 toy database, its steps and the page."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest
from core_helpers import assert_same_tables, drawn_links

import plurel_core as pc
from plurel_core import stats, walk_plots
from plurel_core import walkthrough as wt
from plurel_core import walkthrough_v2 as wt2
from plurel_core.v2.calendar import CALENDARS
from plurel_core.v2.columns import Binning
from plurel_core.v2.links import cluster_digits
from plurel_core.v2.timestamps import split_timestamps
from tests.test_app import make_app, no_exception
from tests.test_walkthrough import check_step

V2 = pc.Config.preset("v2")
PAGE = "pages/how_its_made.py"
# knobs that force the rarer branches: self-trees, random links, aggregates, nulls, missing cells
FORCED = wt2.V2Knobs(self_tree=1.0, random_link=0.5, aggregate=1.0, nullable=1.0, missing=1.0)


def fk_index(db: pc.Database, key: str) -> np.ndarray:
    child, col = key.split(".", 1)
    return db.tables[child].df[col].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)


# --- keep_node_values ----------------------------------------------------------------------------
@pytest.mark.parametrize("toy", [True, False])
def test_keep_node_values_changes_no_byte(toy):
    for seed in (0, 1, 2, 3):
        cfg = wt2.v2_toy_config(V2, FORCED if seed == 3 else wt2.V2Knobs()) if toy else V2
        off = pc.generate(cfg, seed)
        on = pc.generate(cfg, seed, keep_node_values=True)
        assert_same_tables(off, on)
        assert off.name == on.name
        order = wt2.propagation_order(on)
        for name, table in on.tables.items():
            assert off.trace.scm[name].node_values == {}
            kept = on.trace.scm[name].node_values
            g = on.trace.scm[name].graph
            assert list(kept) == [n for t, n in order if t == name]  # every node, in propagation order
            assert set(kept) == set(g.nodes)
            for node, values in kept.items():
                assert len(values) == len(table)
                if g.nodes[node]["kind"] == "time":
                    assert np.array_equal(values, table.df["time"].to_numpy(dtype="datetime64[ns]"))
                else:
                    assert values.dtype == np.float64 and values.shape == (len(table), g.nodes[node]["dim"])
                    assert np.isfinite(values).all()


def test_generate_v2_keeps_the_values_the_columns_are_observed_from():
    """With raw marginals, no bins and no missing cells, every numeric column is a slot of its
    node's kept value and every categorical column its node's class (before any marginal)."""
    cfg = V2.replace(**{"v2_columns.column_marginals": {"none": 1.0}, "v2_columns.column_binned_share": 0.0,
                        "v2_columns.column_missing_share": 0.0})
    checked = {"numerical": 0, "categorical": 0}
    for seed in (0, 1, 2):
        ref = pc.generate(cfg, seed)
        kept = pc.generate(cfg, seed, keep_node_values=True)
        for name, t in ref.tables.items():
            plans = kept.trace.priors["tables"][name]["columns"]
            values = kept.trace.scm[name].node_values
            for col in t.feature_cols:
                meta, plan = t.columns[col], plans[col]
                node = values[meta.node]
                if meta.kind == "numerical":
                    assert np.array_equal(t.df[col].to_numpy(), node[:, plan["slot"]])
                else:
                    codes = t.df[col].cat.codes.to_numpy(dtype=np.int64)
                    assert np.array_equal(codes, wt2.argmax_codes(node))
                checked[meta.kind] += 1
    assert checked["numerical"] > 10 and checked["categorical"] > 5


# --- the toy database ----------------------------------------------------------------------------
def test_v2_toy_config_overrides_only_the_sizes():
    toy = wt2.v2_toy_config(V2)
    changed = set(stats.config_diff(V2, toy)["path"])
    assert changed <= {"v2_schema.table_count", "v2_schema.static_rows", "v2_schema.event_rows",
                       "v2_mechanisms.node_count", "v2_columns.column_count", "v2_links.hsbm_levels"}
    assert "v2_schema.event_rows" in changed and toy.design == "v2"
    for seed in range(6):
        db = wt2.v2_toy_database(V2, seed)
        assert db.config == toy and db.seed == seed
        assert 2 <= len(db.tables) <= 6
        for name, t in db.tables.items():
            lo, hi = wt2.V2_TOY_STATIC_ROWS if t.time_col is None else wt2.V2_TOY_EVENT_ROWS
            assert lo <= len(t) <= hi
            summary = db.trace.priors["tables"][name]
            assert 3 <= summary["nodes"] <= 8 and 1 <= len(summary["columns"]) <= 4
        assert all(lt.levels <= 3 for lt in db.trace.links.values())


def test_toy_configs_refuse_the_other_design():
    with pytest.raises(pc.ConfigError) as err:
        wt2.v2_toy_config(pc.Config.preset("paper"))
    assert err.value.field == "design"
    with pytest.raises(pc.ConfigError) as err:
        wt.toy_config(V2)
    assert err.value.field == "design"


def test_v2_knobs_set_their_config_fields_and_the_toy_follows():
    knobs = wt2.V2Knobs(tables=4, table_layout="RandomTree", self_tree=1.0, nullable=1.0, random_link=1.0,
                       aggregate=1.0, nodes=5, node_layout="ErdosRenyi(p=0.6)", missing=1.0, warp=False)
    toy = wt2.v2_toy_config(V2, knobs)
    assert toy.v2_schema.table_count == pc.IntRange(lo=4, hi=4)
    assert dict(toy.get("v2_schema.table_layouts"))["RandomTree"] == 1.0
    assert sum(w for _, w in toy.get("v2_schema.table_layouts")) == 1.0
    assert toy.get("v2_mechanisms.node_count") == pc.IntRange(lo=5, hi=5)
    assert (toy.get("v2_keys.self_tree_prob"), toy.get("v2_keys.fk_nullable_prob"), toy.get("v2_links.link_random_prob"),
            toy.get("v2_crossings.aggregate_share"), toy.get("v2_columns.column_missing_share"),
            toy.get("v2_warping.warp")) == (1.0, 1.0, 1.0, 1.0, 1.0, False)
    for seed in range(3):
        db = wt2.v2_toy_database(V2, seed, knobs)
        tp = db.trace.priors
        assert len(db.tables) == 4 and db.trace.table_layout.startswith("RandomTree")
        assert tp["database"]["warp_kappa"] is None
        for summary in tp["tables"].values():
            assert summary["nodes"] == 5 and summary["node_layout"] == "ErdosRenyi(p=0.6)"
            assert summary["self_tree"] == (summary["role"] == "static")
            assert all(p["missing"] != "none" for p in summary["columns"].values())
        for info in tp["links"].values():
            assert info["model"] == ("tree" if info["self_tree"] else "random")
            assert info["nullable"]
            child_static = tp["tables"][info["child"]]["role"] == "static"
            assert info["aggregate"] == (child_static and not info["self_tree"])


# --- the steps -----------------------------------------------------------------------------------
def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


def replay(db: pc.Database) -> None:
    """Walk the v2 steps in order and check each against the database and its trace."""
    steps = wt2.v2_walkthrough(db)
    tr, tp = db.trace, db.trace.priors
    stages = [s.stage for s in steps]
    order_of_stages = list(wt.STAGES)
    assert stages == sorted(stages, key=order_of_stages.index) and set(stages) <= {k for k in wt.STAGES if "v2" in k}
    for step in steps:
        assert step.caption.startswith("Stage"), step.caption
        assert _sentences(step.caption) == 2, step.caption
        assert step.title and step.stage_label == wt.STAGES[step.stage]
    # stage 1: tables appear once, after all their parents; roles and self-trees are the schema's
    made: list[str] = []
    g = tr.schema_graph
    for step in [s for s in steps if isinstance(s, wt.SchemaStep)]:
        for name in step.new:
            assert name not in made and set(g.predecessors(name)) <= set(made)
            made.append(name)
        assert step.shown == made
        if step.kinds_shown:
            assert {n: g.nodes[n]["kind"] == "activity" for n in made} == \
                {n: t.time_col is not None for n, t in db.tables.items()}
        assert step.self_trees == [n for n, t in db.tables.items() if "parent_id" in t.df]
    assert sorted(made) == sorted(db.tables)
    # stage 2: every key, its blocks and its edges
    links = [s for s in steps if isinstance(s, wt.LinkStep)]
    assert [s.fk for s in links] == list(tr.links)
    assert set(tr.links) == {f"{c}.{col}" for c, t in db.tables.items() for col in t.fkey_col_to_pkey_table}
    for step in links:
        lt, info = tr.links[step.fk], tp["links"][step.fk]
        assert step.model == info["model"]
        assert np.array_equal(step.parent_index, lt.parent_index)
        assert np.array_equal(step.parent_index, fk_index(db, step.fk))
        idx = step.parent_index
        assert step.children_per_parent.sum() == (idx >= 0).sum()
        assert step.caption.count(f"({int((idx < 0).sum())} null here)") == (info["nullable"] and not info["self_tree"])
        assert np.array_equal(step.inactive, info.get("inactive_parents", []))
        assert (step.children_per_parent[step.inactive] == 0).all()  # weight 0: never a parent
        if info["model"] == "tree":
            rows = np.arange(len(idx))
            assert ((idx < rows) | (idx == -1)).all() and idx[0] == -1
        blocks = [s for s in steps if isinstance(s, wt.BlocksStep) and s.fk == step.fk]
        assert len(blocks) == (lt.levels if info["model"] == "hsbm" else 0)
        for b in blocks:
            assert np.array_equal(b.matrix, lt.block_matrices[b.level])
            assert np.array_equal(b.parent_cluster, cluster_digits(lt.parent_block, tuple(lt.h_parent))[:, b.level])
            assert np.array_equal(b.child_cluster, cluster_digits(lt.child_block, tuple(lt.h_child))[:, b.level])
            sizes = np.bincount(lt.parent_block, minlength=len(info["parent_cluster_sizes"]))
            assert list(sizes) == info["parent_cluster_sizes"]
    # stage 3: the three passes hold every crossing, and the graph they make is acyclic
    passes = [s for s in steps if isinstance(s, wt2.CrossingStep)]
    assert [s.kind for s in passes] == list(wt2.CROSSING_PASSES)
    assert [c for s in passes for c in s.crossings] == tp["crossings"]
    dep = passes[0].graph
    assert nx.is_directed_acyclic_graph(dep)
    labels = tp["propagation_order"]
    assert sorted(labels) == sorted(dep.nodes)
    position = {label: i for i, label in enumerate(labels)}
    assert all(position[a] < position[b] for a, b in dep.edges)  # propagation follows every edge
    tainted = set(passes[0].tainted)
    for c in tp["crossings"]:
        source = f"{c['source_table']}.{tr.scm[c['source_table']].graph.nodes[c['source']]['name']}"
        reader = f"{c['reader_table']}.{tr.scm[c['reader_table']].graph.nodes[c['reader']]['name']}"
        assert dep.edges[source, reader]["kind"] == c["kind"]
        if c["kind"] == "aggregate":
            assert reader in tainted
        else:
            assert source not in tainted  # the acyclicity rule
    # stage 4: every node, in propagation order, with its kept values and inputs
    nodes = [s for s in steps if isinstance(s, wt2.V2NodeStep)]
    assert [s.label for s in nodes] == labels
    evaluated: set[str] = set()
    for i, step in enumerate(nodes):
        sg = tr.scm[step.table].graph
        assert step.position == i and step.total == len(labels)
        assert set(dep.predecessors(step.label)) <= evaluated
        expected = tr.scm[step.table].node_values[step.node]
        assert step.values is expected
        assert [x["node"] for x in step.inputs if x["kind"] == "local"] == sorted(sg.predecessors(step.node))
        assert len([x for x in step.inputs if x["kind"] != "local"]) == len(sg.nodes[step.node]["crossings"])
        assert step.done == [n for n in step.order if f"{step.table}.{sg.nodes[n]['name']}" in evaluated]
        if step.categorical:  # one-hot rows
            assert np.array_equal(step.values.sum(1), np.ones(len(step.values)))
        if step.components is not None:
            assert np.allclose(step.components["signal"], step.values[:, 0])
        evaluated.add(step.label)
    # stage 5: the columns from the kept latents
    for step in [s for s in steps if isinstance(s, wt.PostStep)]:
        for ch in step.columns:
            name, col = ch.column.split(".")
            plan = tp["tables"][name]["columns"][col]
            latent = tr.scm[name].node_values[plan["node"]]
            df_col = db.tables[name].df[col]
            if step.kind == "marginal":
                assert np.array_equal(ch.before, latent[:, plan["slot"]])
                assert np.array_equal(ch.after, df_col.to_numpy(dtype=np.float64), equal_nan=True)
                ok = ~np.isnan(ch.after)
                by_latent = np.argsort(ch.before[ok], kind="stable")
                assert (np.diff(ch.after[ok][by_latent]) >= 0).all()  # rank mapping keeps the order
                if plan["marginal"] == "none":
                    assert np.array_equal(ch.after[ok], ch.before[ok])
            else:
                codes = df_col.cat.codes.to_numpy(dtype=np.int64)
                assert np.array_equal(ch.after, codes)
                ok = codes >= 0
                if plan["kind"] == "binned":
                    binning = Binning(np.asarray(plan["binning"]["probabilities"]), plan["binning"]["method"])
                    assert np.array_equal(binning.codes(ch.before)[ok], codes[ok])
                else:
                    assert np.array_equal(ch.before[ok], codes[ok])
        if step.kind == "v2_missing":
            cols = tp["tables"][step.table]["columns"]
            assert set(step.missing) == set(cols)
            for col, mask in step.missing.items():
                assert np.array_equal(mask, db.tables[step.table].df[col].isna().to_numpy())
            for col, fired in step.indicators.items():
                assert cols[col]["missing"] == "structured"
                indicator = tr.scm[step.table].node_values[cols[col]["indicator_node"]]
                assert np.array_equal(fired, indicator[:, 1] > 0.5)
                assert np.array_equal(step.missing[col], fired)  # missing exactly where it fires
    # stage 6: times and cut-offs
    times = [s for s in steps if isinstance(s, wt2.TimeStep)]
    assert [s.table for s in times] == [n for n, t in db.tables.items() if t.time_col]
    for step in times:
        assert np.array_equal(step.times, db.tables[step.table].df["time"].to_numpy(dtype="datetime64[ns]"))
        assert (np.diff(step.times.astype(np.int64)) >= 0).all()
        assert step.calendar == tp["tables"][step.table]["calendar"]
        assert step.hour_weights == CALENDARS[step.calendar].hour_weights
    cut = steps[-1]
    assert isinstance(cut, wt2.CutoffStep)
    again = split_timestamps(list(cut.times.values()), cut.val_share, cut.test_share)
    assert again == (tr.val_timestamp, tr.test_timestamp) == (cut.val_timestamp, cut.test_timestamp)


@pytest.mark.parametrize("knobs", [wt2.V2Knobs(), FORCED, wt2.V2Knobs(random_link=0.0, levels=3)],
                         ids=["sidebar", "forced", "hsbm"])
def test_replaying_the_v2_steps_gives_the_generated_database(knobs):
    kinds = set()
    for seed in (0, 1, 2):
        db = wt2.v2_toy_database(V2, seed, knobs)
        assert_same_tables(db, pc.generate(wt2.v2_toy_config(V2, knobs), seed))
        replay(db)
        kinds |= {s.kind for s in wt2.v2_walkthrough(db) if isinstance(s, wt2.V2NodeStep)}
    assert {"root", "numeric", "categorical", "time"} <= kinds


def test_forced_knobs_reach_every_link_model_and_crossing_pass():
    seen_models, seen_passes, nulls = set(), set(), 0
    for seed in range(4):
        db = wt2.v2_toy_database(V2, seed, FORCED)
        steps = wt2.v2_walkthrough(db)
        seen_models |= {s.model for s in steps if isinstance(s, wt.LinkStep)}
        seen_passes |= {s.kind for s in steps if isinstance(s, wt2.CrossingStep) and s.crossings}
        nulls += sum(int((s.parent_index < 0).sum()) for s in steps if isinstance(s, wt.LinkStep))
    assert seen_models == {"random", "hsbm", "tree"} and seen_passes == set(wt2.CROSSING_PASSES) and nulls > 0


def test_one_table_keeps_its_nodes_in_propagation_order():
    db = wt2.v2_toy_database(V2, 2)
    order = db.trace.priors["propagation_order"]
    for table in db.tables:
        steps = wt2.v2_walkthrough(db, table=table)
        nodes = [s.label for s in steps if isinstance(s, wt2.V2NodeStep)]
        assert nodes == [label for label in order if label.split(".")[0] == table]
        overviews = [s for s in steps if type(s) is wt.ScmStep]
        assert [s.table for s in overviews] == [table]
        assert sum(isinstance(s, wt.LinkStep) for s in steps) == len(db.trace.links)  # every key still shown
        post = [s for s in steps if isinstance(s, wt.PostStep)]
        assert post[-1].table == table


def test_v2_scm_steps_need_node_values():
    db = pc.generate(wt2.v2_toy_config(V2), 0)
    with pytest.raises(ValueError, match="keep_node_values"):
        wt2.v2_scm_steps(db)


def test_v2_links_figure_draws_the_edges_and_the_nulls():
    db = wt2.v2_toy_database(V2, 1, FORCED)
    checked = 0
    for fk in db.trace.links:
        step = wt2.v2_link_steps(db, fk)[-1]
        fig = walk_plots.links_figure(step)
        drawn, y_child = drawn_links(fig)
        idx = step.parent_index
        assert drawn == {i: int(p) for i, p in enumerate(idx) if p >= 0}
        marked = [t for t in fig.data if t.name == "null reference"]
        if (idx < 0).any():
            assert sorted(y_child[round(y, 6)] for y in marked[0].y) == list(np.flatnonzero(idx < 0))
            checked += 1
        else:
            assert not marked
    assert checked > 0


def test_every_v2_step_has_its_figures():
    kinds = set()
    for seed, knobs in ((0, wt2.V2Knobs()), (1, FORCED)):
        db = wt2.v2_toy_database(V2, seed, knobs)
        for step in wt2.v2_walkthrough(db):
            figs = walk_plots.figures(step)
            assert figs and all(f.layout.title.text for f in figs)
            for f in figs:
                f.to_json()
            if isinstance(step, wt2.V2NodeStep):
                assert len(figs) == (2 if step.components else 1)
            if isinstance(step, wt2.CrossingStep):
                arrows = [t for t in figs[0].data if t.type == "scatter" and t.mode == "lines" and t.x[0] is not None]
                assert bool(arrows) == (step.graph.number_of_edges() > 0)
            kinds.add(type(step).__name__)
    assert kinds == {"SchemaStep", "BlocksStep", "LinkStep", "CrossingStep", "ScmStep", "V2NodeStep", "PostStep",
                     "TimeStep", "CutoffStep"}


# --- the page ------------------------------------------------------------------------------------
def test_the_page_walks_the_v2_design():
    at = make_app(preset="v2", seed=1).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    assert any(t.value == "How it's made" for t in at.title)
    assert not any("paper" in w.value for w in at.warning)
    cfg, seed = at.session_state["good_config"]
    assert cfg == V2
    db = at.session_state["hm_db"]
    assert wt2.is_v2(db) and db.config == wt2.v2_toy_config(V2)
    assert_same_tables(db, pc.generate(wt2.v2_toy_config(V2), seed))
    steps = wt2.v2_walkthrough(db)
    assert int(at.slider(key="hm_step").max) == len(steps)
    check_step(at, steps, 1)
    for i in (2, 3):  # forward with the button
        at.button(key="hm_next").click().run()
        check_step(at, steps, i)
    firsts = {}  # the first step of every kind, reached with the slider
    for i, step in enumerate(steps, start=1):
        firsts.setdefault((type(step).__name__, getattr(step, "kind", "")), i)
    for i in sorted(firsts.values()) + [len(steps)]:
        at.slider(key="hm_step").set_value(i).run()
        check_step(at, steps, i)
    at.button(key="hm_next").click().run()  # stays on the last step
    check_step(at, steps, len(steps))
    at.button(key="hm_prev").click().run()
    check_step(at, steps, len(steps) - 1)


def test_the_v2_page_knobs_and_table_change_the_walk():
    at = make_app(preset="v2", seed=0).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    assert at.button(key="hm_resample_btn").disabled
    at.selectbox(key="hm_v2_knob_tables").set_value(3).run()
    at.selectbox(key="hm_v2_knob_self_tree").set_value(1.0).run()
    no_exception(at)
    db = at.session_state["hm_db"]
    assert len(db.tables) == 3 and db.config == wt2.v2_toy_config(V2, wt2.V2Knobs(tables=3, self_tree=1.0))
    assert any(info["self_tree"] for info in db.trace.priors["links"].values())
    table = list(db.tables)[-1]
    at.selectbox(key="hm_v2_table").set_value(table).run()
    no_exception(at)
    steps = wt2.v2_walkthrough(db, table=table)
    assert int(at.slider(key="hm_step").max) == len(steps)
    node = next(i for i, s in enumerate(steps, start=1) if isinstance(s, wt2.V2NodeStep))
    at.slider(key="hm_step").set_value(node).run()
    check_step(at, steps, node)
    assert steps[node - 1].table == table
