"""Views of the v2 key structure (plurel_core.key_views), the schema graph's loops, parallel arrows and
aggregate marks, and the Schema / Foreign keys pages for a v2 database."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import plurel_core as pc
from plurel_core import key_views as kv
from plurel_core import plots, stats
from tests.test_app import make_app, metric, no_exception

SEED = 10  # v2 seed with self trees, duplicate keys, nullable keys, aggregates, random and HSBM links


@pytest.fixture(scope="module")
def v2_db():
    return pc.generate(pc.Config.preset("v2"), SEED)


@pytest.fixture(scope="module")
def paper_db():
    return pc.generate(pc.Config.preset("demo"), 0)


@pytest.fixture(scope="module")
def v2_html(v2_db):
    return plots.schema_graph_html(v2_db, key="kv")


def _dataset(html: str, name: str) -> list[dict]:
    m = re.search(rf"{name} = new vis.DataSet\((\[.*?\])\);", html, re.S)
    assert m, name
    return json.loads(m.group(1))


def _keys_where(db, flag: str) -> list[str]:
    return [k for k, d in db.trace.priors["links"].items() if d.get(flag)]


def _walk_depth(parent: np.ndarray) -> np.ndarray:
    """Depth per row by following parents one by one (the reference for the vectorized one)."""
    out = np.zeros(len(parent), np.int64)
    for i in range(len(parent)):
        j, d = int(parent[i]), 0
        while j >= 0:
            j, d = int(parent[j]), d + 1
        out[i] = d
    return out


def test_the_seed_has_every_v2_key_feature(v2_db):
    models = Counter(d["model"] for d in v2_db.trace.priors["links"].values())
    assert set(models) == {"random", "hsbm", "tree"}
    assert _keys_where(v2_db, "self_tree") and _keys_where(v2_db, "duplicate")
    assert [k for k, d in v2_db.trace.priors["links"].items() if d["nullable"] and d["model"] != "tree"]
    assert any(c["kind"] == "aggregate" for c in v2_db.trace.priors["crossings"])


# --- self-reference trees ----------------------------------------------------------------------------
def test_tree_depths_roots_and_histogram(v2_db):
    keys = kv.self_keys(v2_db)
    assert sorted(keys) == sorted(_keys_where(v2_db, "self_tree"))
    for key in keys:
        pidx = v2_db.trace.links[key].parent_index
        rows = len(v2_db.tables[key.split(".")[0]].df)
        depth = kv.tree_depths(v2_db, key)
        np.testing.assert_array_equal(depth, _walk_depth(pidx))
        hist = kv.depth_histogram(v2_db, key)
        assert hist["rows"].sum() == rows == len(pidx)
        assert list(hist["depth"]) == list(range(depth.max() + 1))
        assert hist.loc[hist["depth"] == 0, "rows"].item() == int((pidx < 0).sum())
        t = kv.tree_summary(v2_db, key)
        info = kv.link_info(v2_db, key)
        assert t["roots"] == int((pidx < 0).sum()) == info["roots"]
        assert t["depth"] == info["depth"] == depth.max()
        assert t["roots_share"] == pytest.approx(t["roots"] / rows)
        assert t["roots_prob"] == pytest.approx(info["link"]["roots"])
        assert pidx[0] == -1 and (pidx[pidx >= 0] < np.nonzero(pidx >= 0)[0]).all()  # parents are earlier rows


def test_tree_depths_refuse_a_key_between_two_tables(v2_db):
    other = next(k for k in stats.fk_keys(v2_db) if k not in kv.self_keys(v2_db))
    with pytest.raises(ValueError, match="not a self-reference"):
        kv.tree_depths(v2_db, other)


# --- nulls, inactive parents, the words -------------------------------------------------------------
def test_null_share_is_the_share_of_null_parents(v2_db):
    for key in stats.fk_keys(v2_db):
        pidx = v2_db.trace.links[key].parent_index
        n = kv.null_summary(v2_db, key)
        info = kv.link_info(v2_db, key)
        assert n["null_rows"] == int((pidx == -1).sum())
        assert n["null_share"] == pytest.approx(np.mean(pidx == -1)) == pytest.approx(info["null_share"])
        child, col = key.split(".")
        assert n["null_share"] == pytest.approx(v2_db.tables[child].df[col].isna().mean())
        assert n["nullable"] == info["nullable"] and n["null_rate"] == info["null_rate"]
        if not info["nullable"]:
            assert n["null_rows"] == 0


def test_inactive_parents_get_no_child(v2_db):
    hsbm = [k for k in stats.fk_keys(v2_db) if kv.link_info(v2_db, k)["model"] == "hsbm"]
    assert hsbm
    for key in hsbm:
        ina = kv.inactive_summary(v2_db, key)
        deg = stats.fk_degrees(v2_db, key)
        info = kv.link_info(v2_db, key)
        assert ina["inactive"] == len(info["inactive_parents"]) == min(round(ina["share"] * deg.size), deg.size - 1)
        assert ina["inactive_with_child"] == 0 and ina["childless_inactive"] == ina["inactive"]
        assert ina["childless"] == int((deg == 0).sum()) == info["parent_rows"] - info["parents_with_children"]


def test_link_lines_say_the_model_and_its_parameters(v2_db):
    by_model = {}
    for key in stats.fk_keys(v2_db):
        by_model.setdefault(kv.link_info(v2_db, key)["model"], key)
    hsbm = by_model["hsbm"]
    info = kv.link_info(v2_db, hsbm)
    text = "\n".join(kv.link_lines(v2_db, hsbm))
    assert f"**{info['levels']} levels**" in text
    assert " × ".join(map(str, info["link"]["parent_counts"])) in text
    assert info["within"] in text and info["between"] in text and "inactive parent share" in text
    tree = by_model["tree"]
    t = kv.tree_summary(v2_db, tree)
    text = "\n".join(kv.link_lines(v2_db, tree))
    assert f"**{t['roots']:,} roots**" in text and f"tree depth **{t['depth']}**" in text
    assert "uniform" in "\n".join(kv.link_lines(v2_db, by_model["random"]))
    nullable = next(k for k in stats.fk_keys(v2_db) if kv.link_info(v2_db, k)["nullable"]
                    and kv.link_info(v2_db, k)["model"] != "tree")
    assert f"null share realised **{kv.null_summary(v2_db, nullable)['null_share']:.1%}**" in \
        "\n".join(kv.link_lines(v2_db, nullable))
    dup = _keys_where(v2_db, "duplicate")[0]
    assert "**duplicate key**" in "\n".join(kv.link_lines(v2_db, dup))
    assert not kv.has_block_structure(v2_db, by_model["random"]) and not kv.has_block_structure(v2_db, tree)


# --- duplicates, aggregates, crossings ---------------------------------------------------------------
def test_duplicate_keys_agree_with_the_trace(v2_db):
    assert sorted(kv.duplicate_keys(v2_db)) == sorted(_keys_where(v2_db, "duplicate"))
    edges = kv.parallel_edges(v2_db)
    assert len(edges) == len(v2_db.foreign_keys)
    assert {e["key"] for e in edges if e["rank"] > 0} == set(kv.duplicate_keys(v2_db))


def test_aggregates_into_follows_the_crossings(v2_db):
    cross = [c for c in v2_db.trace.priors["crossings"] if c["kind"] == "aggregate"]
    agg = kv.aggregates_into(v2_db)
    assert set(agg) == {c["reader_table"] for c in cross}
    assert sum(e["readers"] for entries in agg.values() for e in entries) == len(cross)
    for table, entries in agg.items():
        for e in entries:
            assert v2_db.trace.links[e["fk"]].parent == table and e["how"] in ("count", "sum", "mean", "max", "min")
    assert {e["fk"] for entries in agg.values() for e in entries} == set(_keys_where(v2_db, "aggregate"))
    graph = v2_db.trace.schema_graph
    assert {n for n, d in graph.nodes(data=True) if d.get("aggregated")} == set(agg)


def test_crossing_table_counts_every_crossing(v2_db):
    tab = kv.crossing_table(v2_db)
    cross = v2_db.trace.priors["crossings"]
    assert len(tab) == len(stats.fk_keys(v2_db)) and tab["total"].sum() == len(cross)
    for kind in kv.CROSSING_KINDS:
        assert tab[kv.CROSSING_LABELS[kind]].sum() == sum(c["kind"] == kind for c in cross)
    agg_rows = tab[tab[kv.CROSSING_LABELS["aggregate"]] > 0]
    assert (agg_rows["aggregate functions"] != "").all() and (agg_rows["aggregated into"] != "").all()
    n = kv.structure_counts(v2_db)
    assert n["aggregated keys"] == len(agg_rows) and n["crossing edges"] == len(cross)
    assert n["self references"] == len(kv.self_keys(v2_db)) and n["duplicate keys"] == len(kv.duplicate_keys(v2_db))
    assert n["random links"] + n["hsbm links"] + n["tree links"] == len(stats.fk_keys(v2_db))


def test_fk_table_has_the_v2_columns(v2_db, paper_db):
    tab = stats.fk_table(v2_db)
    for col in ("model", "nullable", "null rate", "duplicate", "self", "aggregated", "inactive"):
        assert col in tab.columns
    for key, row in zip(stats.fk_keys(v2_db), tab.itertuples(index=False)):
        info = kv.link_info(v2_db, key)
        assert row.model == info["model"] and row.nullable == info["nullable"]
        assert row.duplicate == info["duplicate"] and row.self == (row.child == row.parent)
        assert row.aggregated == info["aggregate"]
        assert pd.isna(row.levels) == (info["model"] != "hsbm")
    paper = stats.fk_table(paper_db)
    assert "model" not in paper.columns and list(paper.columns)[:4] == ["foreign key", "child", "parent", "levels"]


def test_database_priors_in_words(v2_db, paper_db):
    tab = kv.database_priors(v2_db)
    keys = tab[tab["group"] == "schema prior · keys"].set_index("prior")["value"]
    rate = pc.Config.preset("v2").get("v2_keys.fk_null_rate")
    assert keys["fk_null_rate"] == f"U({rate.lo:g}, {rate.hi:g})"
    assert "table_prior" not in set(tab["prior"]) and "schema_prior" not in set(tab["prior"])
    assert tab[tab["prior"] == "num_tables"]["value"].item() == str(len(v2_db.tables))
    assert (kv.database_priors(v2_db, table_prior=True)["group"] == "table prior (before warping)").any()
    assert kv.law_text({"type": "Lomax", "alpha": 1.0, "scale": 0.01}) == "Lomax(1, scale 0.01)"
    assert kv.law_text({"type": "Choices", "options": [None, 0.9], "weights": [1.0, 2.0]}) == "none (1) | 0.9 (2)"
    paper = kv.database_priors(paper_db)
    assert list(paper["prior"]) == list(paper_db.trace.priors["database"]) and set(paper["group"]) == {"sampled"}


# --- the schema graph -------------------------------------------------------------------------------
def test_duplicate_keys_are_parallel_arrows(v2_db, v2_html):
    edges = _dataset(v2_html, "edges")
    assert len(edges) == len(v2_db.foreign_keys)
    for dup in kv.duplicate_keys(v2_db):
        child, col = dup.split(".")
        parent = v2_db.trace.links[dup].parent
        pair = [e for e in edges if e["from"] == parent and e["to"] == child]
        assert len(pair) >= 2
        assert len({json.dumps(e["smooth"], sort_keys=True) for e in pair}) == len(pair)  # each curve its own
        titles = [e["title"].split("\n")[0] for e in pair]
        assert f"{child}.{col} → {parent}" in titles and len(set(titles)) == len(pair)
        mine = next(e for e in pair if e["title"].startswith(f"{child}.{col} "))
        assert "duplicate key" in mine["title"] and f"{kv.link_info(v2_db, dup)['model']} link" in mine["title"]


def test_self_keys_are_loops(v2_db, v2_html):
    edges = _dataset(v2_html, "edges")
    loops = [e for e in edges if e["from"] == e["to"]]
    assert len(loops) == len(kv.self_keys(v2_db))
    for key in kv.self_keys(v2_db):
        table, col = key.split(".")
        loop = next(e for e in loops if e["from"] == table and e["column"] == col)
        info = kv.link_info(v2_db, key)
        assert "selfReference" in loop and "tree link" in loop["title"]
        assert f"null share {info['null_share']:.1%}" in loop["title"] and f"depth {info['depth']}" in loop["title"]
    assert "self-reference (tree)" in v2_html and "duplicate keys" in v2_html


def test_aggregate_receiving_tables_are_marked(v2_db, v2_html):
    nodes = {n["id"]: n for n in _dataset(v2_html, "nodes")}
    agg = kv.aggregates_into(v2_db)
    marked = {name for name, n in nodes.items() if n["color"]["border"] == plots.AGGREGATE_COLOR}
    assert marked == set(agg) and {name for name, n in nodes.items() if n["label"].endswith("Σ")} == set(agg)
    for table, entries in agg.items():
        tip = nodes[table]["title"]
        assert "receives aggregates" in tip
        for e in entries:
            assert f"via {e['fk']}" in tip and f"{e['how']}({e['source_label']})" in tip
    assert "receives aggregates of child columns" in v2_html
    assert "https://" not in v2_html and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", v2_html)


def test_nullable_keys_are_dashed(v2_db, v2_html):
    edges = _dataset(v2_html, "edges")
    for e in edges:
        key = e["title"].split(" → ")[0]
        info = kv.link_info(v2_db, key)
        assert bool(e.get("dashes")) == (info["nullable"] and e["from"] != e["to"])
        assert f"null share {info['null_share']:.1%}" in e["title"]


def test_paper_graph_has_no_v2_marks(paper_db):
    html = plots.schema_graph_html(paper_db, key="p")
    edges = _dataset(html, "edges")
    assert len(edges) == len(paper_db.foreign_keys) and all(e["from"] != e["to"] for e in edges)
    assert all(e["smooth"] == {"type": "curvedCW", "roundness": 0.08} and "dashes" not in e for e in edges)
    assert all(e["title"] == f"{c}.{col} → {p}" for e, (c, col, p) in zip(edges, paper_db.foreign_keys))
    assert "Σ" not in html and "self-reference" not in html and "duplicate keys" not in html
    assert kv.aggregates_into(paper_db) == {} and kv.crossing_table(paper_db).empty


# --- the pages ---------------------------------------------------------------------------------------
def _app(preset: str, seed: int) -> AppTest:
    return make_app(preset=preset, seed=seed).run()


def _ok(at: AppTest) -> None:
    no_exception(at)
    assert not at.error, [e.value for e in at.error]


def test_schema_page_shows_the_v2_structure(v2_db):
    at = _app("v2", SEED)
    _ok(at)
    at.switch_page("pages/schema.py").run()
    _ok(at)
    db = at.session_state["plurel_db"]
    n = kv.structure_counts(db)
    assert metric(at, "Self references") == str(n["self references"]) == str(len(kv.self_keys(v2_db)))
    assert metric(at, "Duplicate keys") == str(n["duplicate keys"])
    assert metric(at, "Aggregated keys") == str(n["aggregated keys"])
    assert metric(at, "Tables receiving aggregates") == str(len(kv.aggregates_into(v2_db)))
    assert any(s.value == "Crossings per foreign key" for s in at.subheader)
    frames = [d.value for d in at.dataframe]
    assert any(kv.CROSSING_LABELS["aggregate"] in f.columns for f in frames)
    assert any("group" in f.columns and (f["group"] == "schema prior · links").any() for f in frames)
    assert any("Loops: self-reference trees" in c.value for c in at.caption)


def test_foreign_keys_page_shows_model_null_share_and_tree_depth(v2_db):
    at = _app("v2", SEED)
    at.switch_page("pages/foreign_keys.py").run()
    _ok(at)
    tree = kv.self_keys(v2_db)[0]
    at.selectbox(key="fk_choice").set_value(tree).run()
    _ok(at)
    t = kv.tree_summary(v2_db, tree)
    assert metric(at, "Link model") == "tree"
    assert metric(at, "Tree depth") == str(t["depth"]) and metric(at, "Roots") == f"{t['roots']:,}"
    assert metric(at, "Null share") == f"{kv.null_summary(v2_db, tree)['null_share']:.1%}"
    assert any("tree depth" in m.value for m in at.markdown)
    assert not any(s.value == "Sampled HSBM" for s in at.subheader)

    nullable = next(k for k in stats.fk_keys(v2_db) if kv.link_info(v2_db, k)["nullable"]
                    and kv.link_info(v2_db, k)["model"] == "hsbm")
    at.selectbox(key="fk_choice").set_value(nullable).run()
    _ok(at)
    info = kv.link_info(v2_db, nullable)
    assert metric(at, "Link model") == "hsbm" and metric(at, "Nullable") == "yes"
    assert metric(at, "Null share") == f"{info['null_share']:.1%}"
    assert metric(at, "Inactive parents") == f"{len(info['inactive_parents']):,}"
    assert any(f"**{info['levels']} levels**" in m.value for m in at.markdown)

    random = next(k for k in stats.fk_keys(v2_db) if kv.link_info(v2_db, k)["model"] == "random")
    at.selectbox(key="fk_choice").set_value(random).run()
    _ok(at)
    assert metric(at, "Link model") == "random"
    assert any("no block structure" in i.value for i in at.info)
    table = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert list(table["model"]) == [kv.link_info(v2_db, k)["model"] for k in stats.fk_keys(v2_db)]


def test_foreign_keys_page_keeps_the_paper_panel():
    at = _app("demo", 0)
    at.switch_page("pages/foreign_keys.py").run()
    fk = at.selectbox(key="fk_choice")
    fk.set_value(fk.options[1]).run()
    _ok(at)
    assert any(s.value == "Sampled HSBM" for s in at.subheader)
    assert "Link model" not in [m.label for m in at.metric]
