"""The v2 pipeline end to end (PLUREL_V2_SPEC §5-6): invariants over many seeds, structured
missingness, determinism across processes and threads, property-based priors, and exports."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import plurel_core as pc
from plurel_core.v2 import pipeline as P
from plurel_core.v2.calendar import SPAN
from plurel_core.v2.columns import structured_mask
from plurel_core.v2.edges import FAMILY_NAMES, FITS
from plurel_core.v2.links import tree_depth
from plurel_core.v2.ranges import Choices, IntegersRange, LogIntegersRange, Range
from plurel_core.v2.schema import sample_schema_plan
from plurel_core.v2.schema_prior import SchemaPrior
from plurel_core.v2.table_prior import TablePrior

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SP, DEFAULT_TP = SchemaPrior(), TablePrior()
SMALL_SP = SchemaPrior().replace(static_rows=LogIntegersRange(50, 200), event_rows=LogIntegersRange(200, 2000))
DEFAULT_SEEDS = (0, 1, 3, 5, 6, 9)
SMALL_SEEDS = tuple(range(12))
SPAN_LO, SPAN_HI = (pd.Timestamp(t) for t in SPAN)


def _digest(db: pc.Database) -> str:
    h = hashlib.sha256()
    for name, t in db.tables.items():
        h.update(name.encode())
        h.update(str(list(t.df.dtypes.astype(str))).encode())
        h.update(t.df.to_csv().encode())
    h.update(str((db.val_timestamp, db.test_timestamp)).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def default_dbs() -> dict[int, pc.Database]:
    return {s: P.generate_v2(DEFAULT_SP, DEFAULT_TP, s) for s in DEFAULT_SEEDS}


@pytest.fixture(scope="module")
def small_dbs() -> dict[int, pc.Database]:
    return {s: P.generate_v2(SMALL_SP, DEFAULT_TP, s) for s in SMALL_SEEDS}


@pytest.fixture(scope="module")
def all_dbs(default_dbs, small_dbs) -> list[pc.Database]:
    return list(default_dbs.values()) + list(small_dbs.values())


# --------------------------------------------------------------------------------------------
# invariants (one checker, also used by the property tests)
# --------------------------------------------------------------------------------------------
def check_keys(db: pc.Database) -> None:
    """Keys 0..n-1; every FK an Int64 column of valid parent rows or NA, equal to its link trace."""
    for name, t in db.tables.items():
        assert t.pkey_col == "id" and t.df["id"].dtype == np.int64
        np.testing.assert_array_equal(t.df["id"].to_numpy(), np.arange(len(t.df)))
        for col, parent in t.fkey_col_to_pkey_table.items():
            s = t.df[col]
            assert s.dtype == "Int64", (name, col, s.dtype)
            values = s.dropna().to_numpy(dtype=np.int64)
            assert ((values >= 0) & (values < len(db.tables[parent].df))).all(), (name, col)
            link = db.trace.links[f"{name}.{col}"]
            assert (link.child, link.parent, link.fkey_col) == (name, parent, col)
            np.testing.assert_array_equal(s.fillna(-1).to_numpy(dtype=np.int64), link.parent_index)
            assert t.columns[col].kind == "fkey" and t.columns[col].missing == int(s.isna().sum())


def check_names_and_dtypes(db: pc.Database) -> None:
    """Spec §6: t0.., id, col{c}, time, then {parent}_id[2] / parent_id; their dtypes and metadata."""
    assert list(db.tables) == [f"t{i}" for i in range(len(db.tables))]
    g = db.trace.schema_graph
    for name, t in db.tables.items():
        plan = db.trace.priors["tables"][name]
        event = plan["role"] == "event"
        assert t.kind == ("activity" if event else "entity") and g.nodes[name]["kind"] == t.kind
        assert t.time_col == ("time" if event else None)
        assert event == (g.out_degree(name) == 0)  # event = referenced by no other table
        cols = list(t.df.columns)
        n_feat = len(plan["columns"])
        fks = list(t.fkey_col_to_pkey_table)
        assert cols == ["id", *[f"col{c}" for c in range(n_feat)], *(["time"] if event else []), *fks]
        index = int(name[1:])
        expect = []
        for p in sorted({int(v[1:]) for k, v in t.fkey_col_to_pkey_table.items() if k != "parent_id"}):
            expect.append(f"t{p}_id")
            if f"t{p}_id2" in fks:
                expect.append(f"t{p}_id2")
            assert p < index
        if "parent_id" in fks:
            assert t.fkey_col_to_pkey_table["parent_id"] == name and not event
            expect.append("parent_id")
        assert fks == expect
        assert list(t.columns) == cols
        assert t.columns["id"].kind == "pkey"
        if event:
            assert t.df["time"].dtype == "datetime64[ns]" and t.columns["time"].kind == "time"
        for c in range(n_feat):
            s, meta = t.df[f"col{c}"], t.columns[f"col{c}"]
            assert meta.node is not None and meta.note
            if meta.kind == "numerical":
                assert s.dtype == np.float64
                assert meta.missing == int(s.isna().sum())
            else:
                assert meta.kind == "categorical" and isinstance(s.dtype, pd.CategoricalDtype)
                k = len(meta.categories)
                assert list(s.cat.categories) == [f"c{j}" for j in range(k)] == meta.categories
                assert all(isinstance(v, str) for v in s.cat.categories)
        for col in cols:
            assert not pd.api.types.is_bool_dtype(t.df[col].dtype)


def check_nulls(db: pc.Database, z: float = 5.0) -> None:
    """Nulls of a nullable key ~ Binomial(n, rate); none for the others; self-tree roots ~ 1 + Bin(n - 1, roots)."""
    for key, info in db.trace.priors["links"].items():
        link = db.trace.links[key]
        n = len(link.parent_index)
        k = int((link.parent_index < 0).sum())
        if info["self_tree"]:
            p, k, n = info["roots_share"], k - min(n, 1), max(n - 1, 0)
        elif info["nullable"]:
            p = info["null_rate"]
        else:
            assert k == 0, key
            continue
        assert abs(k - n * p) <= z * np.sqrt(n * p * (1 - p)) + 2, (key, k, n, p)
        assert link.null_share == pytest.approx(float(np.mean(link.parent_index < 0)) if len(link.parent_index) else 0)


def check_forests(db: pc.Database) -> int:
    """Self-references: parent row < row, roots (row 0 among them) null, so a forest; depth as traced."""
    count = 0
    for name, t in db.tables.items():
        if "parent_id" not in t.df:
            continue
        count += 1
        parent = t.df["parent_id"].fillna(-1).to_numpy(dtype=np.int64)
        rows = np.arange(len(parent))
        assert (parent < rows).all()  # every row points to an earlier one: no cycle can close
        if len(parent):
            assert parent[0] == -1
        g = nx.DiGraph()
        g.add_nodes_from(rows.tolist())
        g.add_edges_from((int(p), int(r)) for r, p in zip(rows, parent) if p >= 0)
        assert nx.is_directed_acyclic_graph(g) and (not len(g) or nx.is_forest(g.to_undirected()))
        info = db.trace.priors["links"][f"{name}.parent_id"]
        assert info["model"] == "tree" and info["depth"] == int(tree_depth(parent).max(initial=0))
        assert info["roots"] == int((parent < 0).sum())
    return count


def check_time(db: pc.Database) -> None:
    """Event tables sorted by time inside 1990-01-01 .. 2025-01-01; cut-offs = pooled quantiles."""
    pooled = []
    for t in db.tables.values():
        if t.time_col is None:
            continue
        s = t.df["time"]
        assert s.notna().all() and s.is_monotonic_increasing
        assert s.min() >= SPAN_LO and s.max() < SPAN_HI
        pooled.append(s)
    assert pooled, "every database has an event table (the last table is never referenced)"
    times = pd.concat(pooled, ignore_index=True)
    sp = db.trace.priors["database"]
    val_q, test_q = round(1 - sp["val_share"] - sp["test_share"], 12), round(1 - sp["test_share"], 12)
    assert db.val_timestamp == times.quantile(val_q) and db.test_timestamp == times.quantile(test_q)
    assert db.val_timestamp <= db.test_timestamp
    assert SPAN_LO <= db.val_timestamp and db.test_timestamp < SPAN_HI


def crossing_graph(db: pc.Database) -> nx.DiGraph:
    """(table, node) graph rebuilt from the traces: local edges of every SCM plus crossing edges."""
    g = nx.DiGraph()
    for name, tr in db.trace.scm.items():
        g.add_nodes_from((name, n) for n in tr.graph.nodes)
        g.add_edges_from(((name, a), (name, b)) for a, b in tr.graph.edges)
    for c in db.trace.priors["crossings"]:
        g.add_edge((c["source_table"], c["source"]), (c["reader_table"], c["reader"]))
    return g


def check_crossings(db: pc.Database) -> dict[str, int]:
    """Acyclic over (table, node), the order is topological, and the spec's rules hold per kind."""
    g = crossing_graph(db)
    assert nx.is_directed_acyclic_graph(g)
    names = {(t, d["name"]): (t, n) for t, tr in db.trace.scm.items() for n, d in tr.graph.nodes(data=True)}
    order = [names[tuple(s.split("."))] for s in db.trace.priors["propagation_order"]]
    assert sorted(order) == sorted(g.nodes)
    position = {v: i for i, v in enumerate(order)}
    assert all(position[a] < position[b] for a, b in g.edges)
    kinds = dict.fromkeys(P.CROSSING_KINDS, 0)
    pairs: dict[tuple[str, str], set] = {}
    for c in db.trace.priors["crossings"]:
        kinds[c["kind"]] += 1
        src = db.trace.scm[c["source_table"]].graph.nodes[c["source"]]
        reader = db.trace.scm[c["reader_table"]].graph.nodes[c["reader"]]
        child = db.tables[c["fk"].split(".")[0]]
        assert reader["kind"] not in ("time", "indicator") and src["kind"] not in ("time", "indicator")
        assert c["d_out"] == reader["dim"] and c["d_in"] == (1 if c["how"] == "count" else src["dim"])
        if c["kind"] == "aggregate":
            assert child.kind == "entity" and c["reader_table"] != c["fk"].split(".")[0]
            assert c["how"] in ("count", "sum", "mean", "max", "min") and reader["tainted"]
        elif c["kind"] == "gather":
            assert not src["tainted"] and c["how"] is None
            assert c["source_table"] == child.fkey_col_to_pkey_table[c["fk"].split(".")[1]]
        else:
            tr = db.trace.scm[c["source_table"]].graph
            assert c["source_table"] == c["reader_table"] and c["fk"] == f"{c['source_table']}.parent_id"
            assert tr.in_degree(c["source"]) == 0 and not src["tainted"] and tr.in_degree(c["reader"]) > 0
        pair = (c["reader"], c["source"], c["how"])
        group = pairs.setdefault((c["kind"], c["fk"]), set())
        assert pair not in group  # one fresh edge per (reader, source)
        group.add(pair)
    for group in pairs.values():  # every reader of a key reads every chosen source
        readers, sources = {p[0] for p in group}, {(p[1], p[2]) for p in group}
        assert len(group) == len(readers) * len(sources)
    for t, tr in db.trace.scm.items():  # taint: aggregate readers and their local descendants
        tainted = {n for n, d in tr.graph.nodes(data=True) if d["tainted"]}
        readers = {c["reader"] for c in db.trace.priors["crossings"]
                   if c["kind"] == "aggregate" and c["reader_table"] == t}
        local = tr.graph.subgraph([n for n, d in tr.graph.nodes(data=True) if d["kind"] not in ("indicator", "time")])
        assert tainted == set().union(*[{r} | nx.descendants(local, r) for r in readers])
    return kinds


def check_database(db: pc.Database) -> None:
    check_keys(db)
    check_names_and_dtypes(db)
    check_nulls(db)
    check_forests(db)
    check_time(db)
    check_crossings(db)


def test_keys_are_unique_and_every_fk_is_a_parent_row_or_null(all_dbs):
    nulls = 0
    for db in all_dbs:
        check_keys(db)
        nulls += sum(int(t.df[c].isna().sum()) for t in db.tables.values() for c in t.fkey_col_to_pkey_table)
    assert nulls > 0  # nullable keys and self-tree roots are exercised


def test_names_and_dtypes_follow_the_spec(all_dbs):
    kinds = set()
    for db in all_dbs:
        check_names_and_dtypes(db)
        kinds |= {m.kind for t in db.tables.values() for m in t.columns.values()}
    assert kinds == {"pkey", "fkey", "numerical", "categorical", "time"}


def test_null_shares_lie_within_their_rates(all_dbs):
    nullable = 0
    for db in all_dbs:
        check_nulls(db)
        nullable += sum(1 for v in db.trace.priors["links"].values() if v["nullable"])
    assert nullable >= 5


def test_null_share_checker_catches_a_wrong_rate(small_dbs):
    db = next(d for d in small_dbs.values() if any(v["nullable"] and v["null_rate"] > 0.05
                                                   for v in d.trace.priors["links"].values()))
    links = {k: dict(v) for k, v in db.trace.priors["links"].items()}
    key = next(k for k, v in links.items() if v["nullable"] and v["null_rate"] > 0.05)
    links[key]["null_rate"] = links[key]["null_rate"] / 3
    fake = SimpleNamespace(trace=SimpleNamespace(priors={"links": links}, links=db.trace.links))
    with pytest.raises(AssertionError):
        check_nulls(fake)


def test_self_references_form_forests(all_dbs):
    assert sum(check_forests(db) for db in all_dbs) >= 2


def test_event_tables_are_sorted_in_the_span_and_cutoffs_are_pooled_quantiles(all_dbs):
    for db in all_dbs:
        check_time(db)
        assert db.val_timestamp < db.test_timestamp


def test_crossing_graph_is_acyclic_and_follows_the_rules(all_dbs):
    total = dict.fromkeys(P.CROSSING_KINDS, 0)
    for db in all_dbs:
        for k, v in check_crossings(db).items():
            total[k] += v
    assert all(v > 0 for v in total.values()), total  # every kind of crossing occurs


def test_trace_layout_for_the_views(default_dbs):
    db = default_dbs[0]
    tr = db.trace
    assert tr.priors["design_space"] == "v2" and set(tr.timings) >= {"stage1", "stage2", "stage3", "postprocess",
                                                                       "total", "links", "propagate", "observe"}
    assert set(tr.links) == {f"{c}.{col}" for c, col, _ in db.foreign_keys} == set(tr.priors["links"])
    for key, link in tr.links.items():
        info = tr.priors["links"][key]
        assert len(link.parent_index) == len(db.tables[link.child].df)
        assert len(link.child_block) == len(link.parent_index)
        assert len(link.parent_block) == len(db.tables[link.parent].df)
        if info["model"] == "hsbm":
            assert link.levels == info["levels"] == len(link.h_parent) == len(link.block_matrices)
            assert link.parent_block.max() < np.prod(link.h_parent)
            inactive = np.asarray(info["inactive_parents"], dtype=np.int64)
            assert not np.isin(link.parent_index, inactive).any()  # inactive parents get no child
    for name, scm in tr.scm.items():
        g = scm.graph
        summary = tr.priors["tables"][name]
        assert summary["nodes"] == sum(1 for _, d in g.nodes(data=True) if d["kind"] not in ("indicator", "time"))
        for _, _, e in g.edges(data=True):
            assert e["family"] in FAMILY_NAMES and e["params"]["family"] == e["family"]
        for col, meta in db.tables[name].columns.items():
            if col.startswith("col"):
                assert col in g.nodes[meta.node]["columns"]
                plan = summary["columns"][col]
                assert plan["missing"] in ("none", "random", "structured")
                if plan["missing"] == "structured":
                    ind = g.nodes[plan["indicator_node"]]
                    assert ind["kind"] == "indicator" and col in ind["masks"] and plan["indicator"] == ind["name"]


# --------------------------------------------------------------------------------------------
# structured missingness
# --------------------------------------------------------------------------------------------
MISSING_TP = TablePrior(node_count=IntegersRange(2, 4), node_categorical_share=0.0, node_width=IntegersRange(3, 3),
                        edge_families=Choices(("matrix",)), column_count=IntegersRange(4, 6),
                        column_missing_share=1.0, column_missing_structured_share=1.0,
                        column_missing_rate=Range(0.3, 0.3), column_binned_share=0.0)
MISSING_SP = SchemaPrior().replace(table_count=LogIntegersRange(2, 3), static_rows=LogIntegersRange(2000, 2000),
                                   event_rows=LogIntegersRange(3000, 3000))


def test_structured_missingness_masks_exactly_where_the_indicator_fires_and_depends_on_its_parent():
    realized = P.realize_v2(MISSING_SP, MISSING_TP, 4, warp_kappa=None)
    db = P.assemble_v2(realized, pc.Config().replace(name="v2"))
    assert _digest(db) == _digest(P.generate_v2(MISSING_SP, MISSING_TP, 4, warp_kappa=None))
    checked = 0
    for name, t in db.tables.items():
        for col, plan in db.trace.priors["tables"][name]["columns"].items():
            assert plan["missing"] == "structured"
            ind = realized.node(name, plan["indicator"])
            fires = structured_mask(realized.values[name, ind.id])
            np.testing.assert_array_equal(t.df[col].isna().to_numpy(), fires)
            assert 0.05 < fires.mean() < 0.7
            parent = realized.values[name, ind.parents[0]]  # (n, 3), the node the indicator reads
            p = min(stats.ttest_ind(parent[fires, d], parent[~fires, d], equal_var=False).pvalue
                    for d in range(parent.shape[1]))
            assert p < 1e-6, (name, col, p)
            checked += 1
    assert checked >= 8


def test_mcar_missingness_does_not_depend_on_the_latent():
    tp = TablePrior(**{**{f: getattr(MISSING_TP, f) for f in TablePrior.field_names()},
                       "column_missing_structured_share": 0.0})
    realized = P.realize_v2(MISSING_SP, tp, 4, warp_kappa=None)
    db = P.assemble_v2(realized, pc.Config().replace(name="v2"))
    pvalues = []
    for name, t in db.tables.items():
        for col, plan in db.trace.priors["tables"][name]["columns"].items():
            assert plan["missing"] == "random" and plan["indicator"] is None
            miss = t.df[col].isna().to_numpy()
            assert abs(miss.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / len(miss))
            latent = realized.values[name, plan["node"]][:, plan["slot"]]
            pvalues.append(stats.ttest_ind(latent[miss], latent[~miss], equal_var=False).pvalue)
    assert len(pvalues) >= 8 and min(pvalues) > 1e-4


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------
SUBPROCESS = """
import sys
sys.path.insert(0, {root!r})
from plurel_core.v2.pipeline import generate_v2
from plurel_core.v2.schema_prior import SchemaPrior
from plurel_core.v2.table_prior import TablePrior
from tests.test_v2_generate import _digest
db = generate_v2(SchemaPrior(), TablePrior(), {seed})
print(_digest(db))
"""


def test_same_seed_gives_the_same_bytes_in_another_process(default_dbs):
    out = subprocess.run([sys.executable, "-c", SUBPROCESS.format(root=str(ROOT), seed=1)], capture_output=True,
                         text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == _digest(default_dbs[1])


def test_concurrent_generations_in_threads_give_the_same_bytes(small_dbs):
    seeds = [0, 1, 2, 3, 4, 5] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = list(pool.map(lambda s: _digest(P.generate_v2(SMALL_SP, DEFAULT_TP, s)), seeds))
    assert digests == [_digest(small_dbs[s]) for s in seeds]
    assert len(set(digests)) == 6  # different seeds, different databases


def test_streams_are_independent_of_other_knobs():
    """Moving a row knob leaves the schema, the warps and the SCM plans as they were."""
    a = P.realize_v2(SMALL_SP, DEFAULT_TP, 3)
    b = P.realize_v2(SMALL_SP.replace(event_rows=LogIntegersRange(100, 150)), DEFAULT_TP, 3)
    assert [t.to_dict()["fkeys"] for t in a.plan.tables.values()] == \
        [t.to_dict()["fkeys"] for t in b.plan.tables.values()]
    for name in a.builds:
        assert a.builds[name].prior.to_dict() == b.builds[name].prior.to_dict()
        assert [P._plain(c.params) for c in a.builds[name].columns] == \
            [P._plain(c.params) for c in b.builds[name].columns]
        assert [(x.kind, x.dim, x.parents) for x in a.builds[name].nodes] == \
            [(x.kind, x.dim, x.parents) for x in b.builds[name].nodes]


# --------------------------------------------------------------------------------------------
# mechanics
# --------------------------------------------------------------------------------------------
def test_summaries_and_foreign_inputs():
    index = np.array([2, 0, -1, 2, 2, 0])
    v = np.array([[1.0], [2.0], [50.0], [3.0], [-4.0], [5.0]])
    groups = P._Groups.of(index, 4)
    np.testing.assert_array_equal(P.summarize(v, groups, "count")[:, 0], [2, 0, 3, 0])
    np.testing.assert_array_equal(P.summarize(v, groups, "sum")[:, 0], [7, 0, 0, 0])
    np.testing.assert_allclose(P.summarize(v, groups, "mean")[:, 0], [3.5, 0, 0, 0])
    np.testing.assert_array_equal(P.summarize(v, groups, "max")[:, 0], [5, 0, 3, 0])
    np.testing.assert_array_equal(P.summarize(v, groups, "min")[:, 0], [2, 0, -4, 0])
    parent = np.array([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0]])
    np.testing.assert_array_equal(P.gather_rows(parent, np.array([2, -1, 0])), [[30, 3], [0, 0], [10, 1]])
    empty = P._Groups.of(np.array([-1, -1]), 3)
    np.testing.assert_array_equal(P.summarize(v[:2], empty, "max"), np.zeros((3, 1)))


def test_concat_width_cap_and_quadratic_guard():
    parents = [(), (), (0, 1), (0, 1, 2)]
    ops, dims, capped = P.cap_concat(parents, [False] * 4, ["sum", "sum", "concat", "concat"], [40, 30, 0, 0])
    assert ops == ["sum", "sum", "sum", "sum"] and dims == [40, 30, 40, 40] and capped == {2: 70, 3: 110}
    ops, dims, capped = P.cap_concat(parents, [False] * 4, ["sum", "sum", "concat", "concat"], [4, 3, 0, 0])
    assert ops[2:] == ["concat", "concat"] and dims == [4, 3, 7, 14] and capped == {}
    prior = TablePrior(edge_families=Choices(("quadratic", "matrix")))
    rng = np.random.default_rng(0)
    assert {P.draw_crossing_edge(40, 40, prior, rng)[0].family for _ in range(30)} == {"matrix"}
    assert {P.draw_crossing_edge(3, 3, prior, rng)[0].family for _ in range(60)} == {"quadratic", "matrix"}


def test_time_order_sorts_rekeys_and_remaps_keys():
    """Spec §5 item 6 on a constructed unsorted event table referenced by another table (prior
    output is already sorted: there the step is the identity)."""
    stamps = pd.to_datetime(["2001-01-03", "2001-01-01", pd.NaT, "2001-01-02", "2001-01-01"]).values
    event = pd.DataFrame({"id": np.arange(5), "col0": [3.0, 1.0, 9.0, 2.0, 1.5], "time": stamps})
    child = pd.DataFrame({"id": np.arange(4), "e_id": P.fk_array(np.array([0, 2, -1, 4]))})
    tables = {"e": pc.Table(event.copy(), "id", {}, "time", "activity"),
              "c": pc.Table(child.copy(), "id", {"e_id": "e"}, None, "entity")}
    link = pc.LinkTrace("c", "e", "e_id", np.array([0, 2, -1, 4]), 1, [1], [1], np.arange(5), np.zeros(4, np.int64),
                        [np.ones((1, 1))])
    assert P.time_order(tables, {"c.e_id": link}) == ["e"]
    e = tables["e"].df
    assert list(e["col0"]) == [1.0, 1.5, 2.0, 3.0, 9.0] and list(e["id"]) == [0, 1, 2, 3, 4]
    assert e["time"].iloc[:4].is_monotonic_increasing and pd.isna(e["time"].iloc[4])  # stable, NaT last
    ref = tables["c"].df["e_id"]
    assert ref.dtype == "Int64" and ref.fillna(-1).tolist() == [3, 4, -1, 1]
    for old, new in zip([0, 2, 4], [3, 4, 1]):  # each reference still points at the same event row
        assert event["col0"][old] == e["col0"][new]
    np.testing.assert_array_equal(link.parent_index, [3, 4, -1, 1])
    np.testing.assert_array_equal(link.parent_block, [1, 4, 3, 0, 2])


def test_each_table_draws_from_its_own_warp():
    r = P.realize_v2(SMALL_SP, DEFAULT_TP, 2)
    assert len(r.builds) >= 2
    for b in r.builds.values():
        assert b.prior.to_dict() == DEFAULT_TP.warp(P.stream(2, P.WARP, b.plan.index)).to_dict()
    assert len({str(b.prior.to_dict()) for b in r.builds.values()}) == len(r.builds)
    flat = P.realize_v2(SMALL_SP, DEFAULT_TP, 2, warp_kappa=None)
    assert all(b.prior is DEFAULT_TP for b in flat.builds.values())


def _independent_input(r, c) -> np.ndarray:
    """A crossing's input computed apart from the pipeline: pandas for the summaries."""
    index = r.links[c.fk]
    src = r.values[c.source_table, c.source]
    if c.kind != "aggregate":
        out = src[np.maximum(index, 0)].copy()
        out[index < 0] = 0.0
        return out
    n_parent = r.rows[c.reader_table]
    frame = pd.DataFrame(src).assign(parent=index)
    frame = frame[frame["parent"] >= 0]
    if c.how == "count":
        agg = frame.groupby("parent").size().to_frame()
    else:
        agg = frame.groupby("parent").agg(c.how)
    return agg.reindex(range(n_parent), fill_value=0).to_numpy(dtype=np.float64)


def test_crossing_inputs_are_foreign_rows_and_summaries_of_linked_children():
    from plurel_core.v2.nodes import evaluate_node

    seen = set()
    for seed in range(40):
        r = P.realize_v2(SMALL_SP, DEFAULT_TP, seed)
        for name, b in r.builds.items():
            for node in b.nodes:
                if not node.crossings or node.spec.noise == "series":
                    continue
                across = sum(c.edge.apply(_independent_input(r, c)) for c in node.crossings)
                parents = [r.values[name, p] for p in node.parents]
                n = r.rows[name]
                again = evaluate_node(node.spec, parents, P.stream(seed, P.NODES, b.plan.index, node.id),
                                      across=across, n=n)
                np.testing.assert_allclose(again, r.values[name, node.id], rtol=1e-9, atol=1e-9)
                seen |= {c.kind if c.kind != "aggregate" else c.how for c in node.crossings}
        if seen >= {"gather", "self_tree", "count", "sum", "mean", "max", "min"}:
            break
    assert seen >= {"gather", "self_tree", "count", "sum", "mean", "max", "min"}, seen


# --------------------------------------------------------------------------------------------
# property-based priors
# --------------------------------------------------------------------------------------------
@st.composite
def int_range(draw, cls, lo, hi):
    a = draw(st.integers(lo, hi))
    return cls(a, draw(st.integers(a, hi)))


@st.composite
def float_range(draw, lo, hi):
    a = draw(st.floats(lo, hi))
    return Range(a, draw(st.floats(a, hi)))


probability = st.floats(0.0, 1.0)


@st.composite
def priors(draw):
    val = draw(st.floats(0.01, 0.5))
    sp = SchemaPrior().replace(
        table_count=draw(int_range(LogIntegersRange, 1, 5)), static_rows=draw(int_range(LogIntegersRange, 1, 60)),
        event_rows=draw(int_range(LogIntegersRange, 1, 150)), fk_duplicate_prob=draw(probability),
        fk_nullable_prob=draw(probability), fk_null_rate=draw(float_range(0.0, 1.0)),
        self_tree_prob=draw(probability), self_tree_roots=draw(float_range(0.0, 1.0)),
        link_random_prob=draw(probability), hsbm_levels=draw(int_range(IntegersRange, 1, 3)),
        hsbm_counts=draw(int_range(IntegersRange, 1, 3)), hsbm_inactive=draw(float_range(0.0, 0.99)),
        aggregate_share=draw(probability), aggregate_sources=draw(int_range(IntegersRange, 0, 3)),
        gather_sources=draw(int_range(IntegersRange, 0, 3)), self_tree_gather=draw(int_range(IntegersRange, 0, 3)),
        val_share=val, test_share=draw(st.floats(0.01, 0.98 - val)))
    general = [f for f in FAMILY_NAMES if f not in FITS]
    families = draw(st.lists(st.sampled_from(FAMILY_NAMES), min_size=1, max_size=8, unique=True))
    if not set(families) & set(general):
        families.append(draw(st.sampled_from(general)))
    tp = TablePrior(
        node_count=draw(int_range(LogIntegersRange, 1, 6)), node_width=draw(int_range(IntegersRange, 1, 3)),
        node_categorical_share=draw(probability), node_class_count=draw(int_range(IntegersRange, 2, 4)),
        node_nested_share=draw(probability), key_reader_share=draw(float_range(0.0, 1.0)),
        edge_families=Choices(tuple(families)), root_series_share=draw(probability),
        column_count=draw(int_range(IntegersRange, 0, 5)), column_binned_share=draw(probability),
        column_missing_share=draw(probability), column_missing_structured_share=draw(probability),
        column_missing_rate=draw(float_range(0.0, 0.9)))
    kappa = draw(st.sampled_from([None, (0.1, 1e4), (0.1, 0.5), (1e3, 1e4)]))
    return sp, tp, kappa, draw(st.integers(0, 2**32))


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(priors())
def test_priors_within_bounds_generate_valid_databases(args):
    sp, tp, kappa, seed = args
    db = P.generate_v2(sp, tp, seed, warp_kappa=kappa)
    check_database(db)
    n_tables = len(db.tables)
    assert sp.table_count.lo <= n_tables <= sp.table_count.hi
    for t in db.tables.values():
        lo, hi = (sp.event_rows if t.time_col else sp.static_rows).lo, (sp.event_rows if t.time_col else sp.static_rows).hi
        assert lo <= len(t.df) <= hi
    assert _digest(db) == _digest(P.generate_v2(sp, tp, seed, warp_kappa=kappa))


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match="schema_prior"):
        P.generate_v2(pc.Config(), DEFAULT_TP, 0)
    with pytest.raises(TypeError, match="table_prior"):
        P.generate_v2(DEFAULT_SP, DEFAULT_SP, 0)
    with pytest.raises(ValueError, match="seed"):
        P.generate_v2(DEFAULT_SP, DEFAULT_TP, -1)


# --------------------------------------------------------------------------------------------
# exports
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export_db() -> pc.Database:
    """A small-row database with a nullable key, a duplicate or self-tree key and a categorical column."""
    for seed in range(200):
        plan = sample_schema_plan(SMALL_SP, P.stream(seed, P.SCHEMA), rows_rng=P.stream(seed, P.ROWS))
        if len(plan.tables) >= 3 and any(t.self_tree for t in plan.tables.values()) and \
                any(fk.nullable for fk in plan.fkeys):
            db = P.generate_v2(SMALL_SP, DEFAULT_TP, seed)
            if any(m.kind == "categorical" for t in db.tables.values() for m in t.columns.values()):
                return db
    raise AssertionError("no seed under 200 has the wanted schema")


@pytest.fixture(scope="module")
def export_paths(export_db, tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("v2export")
    zip_path = pc.export_zip(export_db, base / "db.zip")
    folder = pc.export_folder(export_db, base / "folder")
    return zip_path, folder


def test_export_zip_is_deterministic_and_loads_back_equal(export_db, export_paths, tmp_path):
    zip_path, folder = export_paths
    again = pc.export_zip(export_db, tmp_path / "again.zip")
    assert again.read_bytes() == zip_path.read_bytes()
    for source in (zip_path, folder, io.BytesIO(zip_path.read_bytes())):
        db = pc.load_database(source)
        assert db.config == export_db.config and db.seed == export_db.seed and db.name == export_db.name
        assert list(db.tables) == list(export_db.tables)
        for name, t in export_db.tables.items():
            r = db.tables[name]
            pd.testing.assert_frame_equal(r.df, t.df, check_exact=True)
            assert (r.pkey_col, r.fkey_col_to_pkey_table, r.time_col, r.kind) == \
                (t.pkey_col, t.fkey_col_to_pkey_table, t.time_col, t.kind)
            assert r.columns == t.columns
        assert (db.val_timestamp, db.test_timestamp) == (export_db.val_timestamp, export_db.test_timestamp)
        assert set(db.trace.schema_graph.edges) == set(export_db.trace.schema_graph.edges)
        for key, link in export_db.trace.links.items():
            got = db.trace.links[key]
            np.testing.assert_array_equal(got.parent_index, link.parent_index)
            np.testing.assert_array_equal(got.parent_block, link.parent_block)
            assert (got.levels, got.h_parent, got.h_child) == (link.levels, link.h_parent, link.h_child)
    csv_only = pc.load_database(pc.export_zip(export_db, tmp_path / "csv.zip", formats=("csv",)))
    for name, t in export_db.tables.items():
        pd.testing.assert_frame_equal(csv_only.tables[name].df, t.df, check_exact=True)


def test_sqlite_has_null_fks_and_a_clean_foreign_key_check(export_db, export_paths):
    _, folder = export_paths
    con = sqlite3.connect(folder / "database.sqlite")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    nulls = 0
    for name, t in export_db.tables.items():
        fks = {(r[3], r[2], r[4]) for r in con.execute(f'PRAGMA foreign_key_list("{name}")')}
        assert fks == {(c, p, "id") for c, p in t.fkey_col_to_pkey_table.items()}
        for col in t.fkey_col_to_pkey_table:
            got = con.execute(f'SELECT count(*) FROM "{name}" WHERE "{col}" IS NULL').fetchone()[0]
            assert got == int(t.df[col].isna().sum())
            nulls += got
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == len(t.df)
    assert nulls > 0
    child = next(n for n, t in export_db.tables.items() if t.fkey_col_to_pkey_table)
    col = next(iter(export_db.tables[child].fkey_col_to_pkey_table))
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(f'UPDATE "{child}" SET "{col}" = 10000000 WHERE rowid = 1')
    con.close()


def test_duckdb_runs_schema_sql_and_loads_the_parquet_files(export_db, export_paths):
    _, folder = export_paths
    con = duckdb.connect()
    con.execute((folder / "schema.sql").read_text())
    for name in export_db.tables:
        con.execute(f"INSERT INTO \"{name}\" SELECT * FROM read_parquet('{folder / 'db' / (name + '.parquet')}')")
    for name, t in export_db.tables.items():
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == len(t.df)
        for col in t.fkey_col_to_pkey_table:
            got = con.execute(f'SELECT count(*) FROM "{name}" WHERE "{col}" IS NULL').fetchone()[0]
            assert got == int(t.df[col].isna().sum())
        cats = [c for c, m in t.columns.items() if m.kind == "categorical"]
        for c in cats:
            labels = {r[0] for r in con.execute(f'SELECT DISTINCT "{c}" FROM "{name}" WHERE "{c}" IS NOT NULL').fetchall()}
            assert labels <= set(t.columns[c].categories)


def test_relbench_load_dataset_opens_the_folder(export_db, export_paths):
    from relbench.load import load_dataset

    _, folder = export_paths
    ds = load_dataset(folder)
    assert ds.val_timestamp == export_db.val_timestamp and ds.test_timestamp == export_db.test_timestamp
    db = ds.get_db()
    assert set(db.table_dict) == set(export_db.tables)
    for name, t in export_db.tables.items():
        rt = db.table_dict[name]
        assert (rt.pkey_col, rt.time_col, rt.fkey_col_to_pkey_table) == (t.pkey_col, t.time_col,
                                                                          t.fkey_col_to_pkey_table)
        expect = len(t.df) if t.time_col is None else int((t.df["time"] <= export_db.test_timestamp).sum())
        assert len(rt.df) == expect


def test_existing_views_read_a_v2_database(export_db):
    from plurel_core import plots
    from plurel_core import stats as pstats

    db = export_db
    assert len(pstats.fk_table(db)) == len(db.foreign_keys)
    assert list(pstats.table_overview(db)["table"]) == list(db.tables)
    figures = pstats.database_figures(db)
    assert figures["tables"] == len(db.tables) and figures["foreign keys"] == len(db.foreign_keys)
    html = plots.schema_graph_html(db)
    assert all(f"{name}\\n" in html for name in db.tables)
    for name, t in db.tables.items():
        assert len(pstats.column_summary(db, name)) == len(t.feature_cols)
        plots.scm_graph_figure(db, name)
        for node in db.trace.scm[name].source_components:
            plots.source_components_figure(db, name, node)
    for key in pstats.fk_keys(db):
        assert pstats.block_crosstab(db, key).to_numpy().sum() == int((db.trace.links[key].parent_index >= 0).sum())
    plots.degree_histogram(db)
    plots.timeline_figure(db)
    plots.timings_figure(db)
