"""The v2 structure in the views: mechanism_views tables against the trace, the SCM figure, and the
Mechanisms and Columns pages driven by AppTest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import plurel_core as pc
from plurel_core import mechanism_views as mv
from plurel_core import plots
from tests.test_app import make_app, no_exception

SEEDS = (0, 1, 3, 4, 9, 12)  # seed 4 has aggregates, gathers and self-tree gathers


@pytest.fixture(scope="module")
def dbs() -> dict[int, pc.Database]:
    return {s: pc.generate(pc.Config.preset("v2"), s) for s in SEEDS}


@pytest.fixture(scope="module")
def paper_db() -> pc.Database:
    return pc.generate(pc.Config.preset("demo"), 0)


# --- edges ---------------------------------------------------------------------------------------
def test_every_edge_gets_a_label_naming_its_family(dbs):
    families = set()
    for db in dbs.values():
        for name, tr in db.trace.scm.items():
            g = tr.graph
            table = mv.edge_table(db, name)
            assert len(table) == g.number_of_edges()
            for (a, b, d), row in zip(g.edges(data=True), table.itertuples(index=False)):
                label = mv.edge_family_label(d)
                assert label and label.startswith(d["family"]), (name, a, b, label)
                assert row.family == d["family"] and row.mechanism == label
                assert (row[0], row[1]) == (g.nodes[a]["name"], g.nodes[b]["name"])
                families.add(d["family"])
            for c in mv.table_crossings(db, name):
                assert mv.edge_family_label(c).startswith(c["family"])
    assert families == set(mv.FAMILIES)  # the seeds reach all eight families


def test_labels_carry_the_family_parameters(dbs):
    seen = set()
    for db in dbs.values():
        for tr in db.trace.scm.values():
            for *_, d in tr.graph.edges(data=True):
                p, label = d["params"], mv.edge_family_label(d)
                if d["family"] == "mlp":
                    layers = len(p["activations"])
                    assert label.startswith(f"mlp: {layers} hidden layer")
                    assert all(a in label for a in p["activations"])
                    hidden = p["widths"][1:-1]
                    assert (f"x {hidden[0]}" in label) if len(set(hidden)) == 1 else \
                        ("(" + ", ".join(map(str, hidden)) + ")" in label)
                elif d["family"] == "tree":
                    trees = f"{p['trees']} tree" + ("" if p["trees"] == 1 else "s")
                    assert label.startswith(f"tree: {trees} depth {p['depth']}")
                elif d["family"] == "linear":
                    assert label == f"linear({p['transform']}, w={p['weight']:.3g})"
                elif d["family"] == "matrix" and p.get("nested"):
                    assert d["nested"] and f"{int(np.asarray(p['mask']).sum())} of {p['mask'].size}" in label
                elif d["family"] == "lookup":
                    assert label.startswith(f"lookup: {len(p['values'])} levels")
                elif d["family"] == "fourier":
                    assert f"{p['features']} cosine features" in label and f"{p['scale']:.3g}" in label
                seen.add(d["family"])
    assert {"mlp", "tree", "linear", "matrix", "lookup", "fourier"} <= seen


def test_paper_edges_and_nodes_keep_their_columns(paper_db):
    name = next(iter(paper_db.trace.scm))
    g = paper_db.trace.scm[name].graph
    edges = mv.edge_table(paper_db, name)
    assert list(edges.columns) == ["from", "to", "weight", "encoder activations"]
    assert list(edges["weight"]) == [d["weight"] for *_, d in g.edges(data=True)]
    nodes = mv.node_table(paper_db, name)
    assert list(nodes.columns[:4]) == ["node", "role", "column", "type"] and len(nodes) == g.number_of_nodes()
    assert mv.crossing_table(paper_db, name).empty
    assert not mv.is_v2(paper_db, name)
    with pytest.raises(ValueError, match="no v2 trace"):
        mv.column_prior_table(paper_db, name)


# --- nodes and crossings -------------------------------------------------------------------------
def test_node_table_shows_reductions_kinds_and_nested_parents(dbs):
    for db in dbs.values():
        for name, tr in db.trace.scm.items():
            g = tr.graph
            nodes = mv.node_table(db, name)
            assert list(nodes["node"]) == list(g.nodes)
            assert list(nodes["reduction"]) == [d.get("op") or "" for _, d in g.nodes(data=True)]
            assert list(nodes["kind"]) == [d["kind"] for _, d in g.nodes(data=True)]
            assert list(nodes["dim"]) == [d["dim"] for _, d in g.nodes(data=True)]
            assert list(nodes["crossings"]) == [len(d["crossings"]) for _, d in g.nodes(data=True)]
            for n, nested in zip(nodes["node"], nodes["nested parent"]):
                tails = [g.nodes[a]["name"] for a, _, d in g.in_edges(n, data=True) if d["nested"]]
                assert nested == (tails[0] if tails else "")
            for n, d in g.nodes(data=True):
                lines = mv.node_lines(db, name, n)
                assert lines[0].startswith(f"{d['name']} (node {n}) · {d['kind']}, dim {d['dim']}")
                if g.in_degree(n) or d["crossings"]:
                    assert any(x.startswith(f"reduction: {d['op']} over") for x in lines)
                assert sum(x.startswith("crossing: ") for x in lines) == min(len(d["crossings"]), mv.MAX_LISTED)


def test_crossing_table_rows_are_the_traces_crossings_of_the_reader(dbs):
    kinds = set()
    for db in dbs.values():
        total = 0
        for name, tr in db.trace.scm.items():
            want = [c for c in db.trace.priors["crossings"] if c["reader_table"] == name]
            got = mv.crossing_table(db, name)
            assert len(got) == len(want)
            total += len(got)
            for c, row in zip(want, got.to_dict("records")):
                source = db.trace.scm[c["source_table"]].graph.nodes[c["source"]]["name"]
                assert row == {**row, "kind": mv.CROSSING_KINDS[c["kind"]], "FK": c["fk"],
                               "from": f"{c['source_table']}.{source}", "to": tr.graph.nodes[c["reader"]]["name"],
                               "function": c["how"] or "", "family": c["family"],
                               "d_in → d_out": f"{c['d_in']} → {c['d_out']}"}
                assert row["mechanism"].startswith(c["family"])
                kinds.add(c["kind"])
            # the params joined to each crossing are the reader node's own edge
            for c in mv.table_crossings(db, name):
                assert c["params"]["family"] == c["family"] and c["params"]["d_out"] == c["d_out"]
        assert total == len(db.trace.priors["crossings"])
    assert kinds == {"gather", "aggregate", "self_tree"}
    aggregates = mv.crossing_table(dbs[4], "t0")
    assert set(aggregates.loc[aggregates["kind"] == "aggregate", "function"]) == {"max", "sum"}


# --- columns -------------------------------------------------------------------------------------
def test_column_prior_table_against_the_data(dbs):
    kinds, binned = set(), 0
    for db in dbs.values():
        for name, t in db.tables.items():
            g = db.trace.scm[name].graph
            priors = db.trace.priors["tables"][name]["columns"]
            table = mv.column_prior_table(db, name)
            assert list(table["column"]) == t.feature_cols
            for row in table.to_dict("records"):
                col, cp = row["column"], priors[row["column"]]
                s = t.df[col]
                assert row["missing rate realised"] == pytest.approx(float(s.isna().mean()))
                assert row["missing rate realised"] == pytest.approx(cp["missing_count"] / len(t.df))
                assert row["missing rate drawn"] == cp["missing_rate"]
                assert row["missingness"] == cp["missing"]
                assert row["SCM node"].startswith(g.nodes[cp["node"]]["name"])
                kinds.add(row["missingness"])
                if row["missingness"] == "structured":
                    ind = cp["indicator_node"]
                    assert ind in g and g.nodes[ind]["kind"] == "indicator" and col in g.nodes[ind]["masks"]
                    assert row["indicator"] == f"{g.nodes[ind]['name']} (node {ind})"
                    parents = [g.nodes[p]["name"] for p in g.predecessors(ind)]
                    assert parents and row["indicator parents"] == ", ".join(parents)
                else:
                    assert row["indicator"] == "" and row["indicator parents"] == ""
                if cp["kind"] == "binned":
                    k = cp["binning"]["k"]
                    assert row["bins"] == k and row["marginal"] == "binned"
                    assert s.nunique(dropna=True) <= k and row["distinct"] <= k
                    assert len(row["bin shares"].split(" / ")) == min(k, 8) + (k > 8)
                    binned += 1
                else:
                    assert pd.isna(row["bins"])
                if cp["kind"] == "numeric":
                    assert (row["marginal"], row["marginal law"]) == (cp["marginal"], cp["marginal_law"])
    assert kinds == {"none", "random", "structured"} and binned


# --- the SCM figure -------------------------------------------------------------------------------
def test_v2_scm_figure_colours_edges_by_family_and_marks_crossings(dbs):
    db = dbs[4]
    for name, tr in db.trace.scm.items():
        g = tr.graph
        fig = plots.scm_graph_figure(db, name)
        families = {d["family"] for *_, d in g.edges(data=True)}
        lines = {t.name.split(" (")[0]: t for t in fig.data if t.name and t.name.startswith("edge · ") and t.mode == "lines"}
        assert set(lines) == {f"edge · {f}" for f in families}
        for f in families:
            assert lines[f"edge · {f}"].line.color == plots.family_color(f)
        hovers = [h for t in fig.data if t.name and t.name.startswith("edge · ") and t.mode == "markers"
                  for h in t.hovertext]
        assert len(hovers) == g.number_of_edges()
        assert all(any(lbl in h for lbl in [mv.edge_family_label(d) for *_, d in g.edges(data=True)]) for h in hovers)
        stubs = [h for t in fig.data if t.name and t.name.startswith("crossing · ") for h in t.hovertext]
        assert len(stubs) == len(mv.table_crossings(db, name))
        for c in mv.table_crossings(db, name):
            assert any(mv.source_name(db, c) in h and c["fk"] in h for h in stubs)
        node_hover = {n: h for t in fig.data if t.mode == "markers+text"
                      for n, h in zip(_nodes_at(g, t), t.hovertext)}
        assert len(node_hover) == g.number_of_nodes()
        for n, d in g.nodes(data=True):
            assert node_hover[n].startswith(f"<b>{d['name']} (node {n}) · {d['kind']}, dim {d['dim']}")
            assert (f"reduction: {d['op']} over" in node_hover[n]) == bool(g.in_degree(n) or d["crossings"])
        assert f"{len(mv.table_crossings(db, name))} crossings" in fig.layout.title.text


def _nodes_at(g, trace) -> list:
    """The nodes a node trace draws, in its point order (by their drawn positions)."""
    pos = plots.stats.generation_positions(g, spacing_x=1.0, spacing_y=1.0)
    where = {(round(x, 9), round(y, 9)): n for n, (x, y) in pos.items()}
    return [where[(round(x, 9), round(y, 9))] for x, y in zip(trace.x, trace.y)]


def test_paper_scm_figure_has_no_v2_traces(paper_db):
    for name in paper_db.trace.scm:
        names = [t.name or "" for t in plots.scm_graph_figure(paper_db, name).data]
        assert not any(n.startswith(("edge · ", "crossing · ", "missingness", "time")) for n in names)
        assert "edges" in names


# --- the pages -------------------------------------------------------------------------------------
def _frames(at):
    return [d.value for d in at.dataframe]


def test_mechanisms_page_shows_families_and_crossings_for_v2():
    at = make_app(preset="v2", seed=4).run()
    no_exception(at)
    at.switch_page("pages/mechanisms.py").run()
    no_exception(at)
    at.selectbox(key="scm_table").set_value("t0").run()
    no_exception(at)
    db = at.session_state["plurel_db"]
    frames = _frames(at)
    edges = next(f for f in frames if "mechanism" in f and "nested" in f)
    assert set(edges["family"]) == {d["family"] for *_, d in db.trace.scm["t0"].graph.edges(data=True)}
    crossings = next(f for f in frames if "FK" in f)
    assert set(crossings["kind"]) == {"aggregate", "self-tree gather"} and len(crossings) == len(
        mv.table_crossings(db, "t0"))
    nodes = next(f for f in frames if "reduction" in f)
    assert "concat" in set(nodes["reduction"]) and "decoder activations" not in nodes
    assert any("Crossings (" in e.label for e in at.expander)


def test_columns_page_shows_missingness_kinds_for_v2():
    at = make_app(preset="v2", seed=4).run()
    at.switch_page("pages/columns.py").run()
    no_exception(at)
    at.selectbox(key="col_table").set_value("t1").run()
    no_exception(at)
    summary = _frames(at)[0]
    assert list(summary["missingness"]) == ["none", "none", "structured", "random"]
    assert summary.loc[summary["missingness"] == "structured", "indicator"].iloc[0].startswith("m2 (node ")
    at.selectbox(key="col_table").set_value("t2").run()
    no_exception(at)
    summary = _frames(at)[0]
    assert "binned" in set(summary["marginal"]) and "bin shares" in summary


def test_columns_page_keeps_the_paper_summary():
    at = make_app(preset="demo", seed=0).run()
    at.switch_page("pages/columns.py").run()
    no_exception(at)
    assert {"transform", "missing", "binarized"} <= set(_frames(at)[0].columns)
