"""generate(): invariants over many seeds and every preset, stage-1 statistics, the size guard."""

from __future__ import annotations

import math
import re
import time

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from core_helpers import cached_generate, check_invariants, small_config
from scipy import stats

import plurel_core as pc
from plurel_core import pipeline
from plurel_core import random as streams
from plurel_core.graphs import LAYOUT_REGISTRY
from plurel_core.schema import power_law_int, sample_schema

# (preset, number of seeds): the paper preset costs seconds per database, the demo milliseconds.
PRESET_SEEDS = {"paper": 2, "demo": 30, "chain": 3, "hub": 2}


def test_every_preset_is_covered():
    # the v2 design's invariants (its names, keys and dtypes) are held by tests/test_v2_generate.py
    paper_design = {p for p in pc.Config.preset_names() if pc.Config.preset(p).design == "paper"}
    assert paper_design <= set(PRESET_SEEDS)
    assert set(pc.Config.preset_names()) - paper_design == {"v2"}


@pytest.mark.parametrize(("preset", "seed"), [(p, s) for p, k in PRESET_SEEDS.items() for s in range(k)])
def test_invariants_presets(preset, seed):
    db = cached_generate(preset, seed)
    check_invariants(db)
    assert db.config == pc.Config.preset(preset)
    assert db.seed == seed


@pytest.mark.parametrize("seed", range(20))
def test_invariants_without_binarization(seed):
    cfg = small_config(**{"postprocess.binarize": False})
    check_invariants(pc.generate(cfg, seed), cfg)


@pytest.mark.parametrize("layout", sorted(LAYOUT_REGISTRY))
def test_invariants_every_table_layout(layout):
    cfg = small_config(**{"schema.table_layouts": (layout,), "schema.num_tables": (1, 8)})
    for seed in range(3):
        db = pc.generate(cfg, seed)
        check_invariants(db, cfg)
        assert db.trace.table_layout == layout


def test_invariants_single_table_and_tiny_rows():
    cfg = small_config(**{"schema.num_tables": (1, 1), "schema.activity_rows": (1, 3),
                          "schema.entity_rows": (1, 3)})
    for seed in range(5):
        db = pc.generate(cfg, seed)
        check_invariants(db, cfg)
        (t,) = db.tables.values()
        assert t.kind == "activity" and db.foreign_keys == []


def test_activity_timestamps_are_evenly_spaced():
    db = cached_generate("demo", 3)
    for t in db.tables.values():
        if t.kind != "activity":
            continue
        ts = t.df["date"].to_numpy().astype("int64")
        step = (db.trace.max_timestamp.value - db.trace.min_timestamp.value) / (len(ts) - 1)
        np.testing.assert_allclose(np.diff(ts), step, atol=2)


def test_generation_order_and_trace():
    db = cached_generate("demo", 4)
    g = db.trace.schema_graph
    gens = [g.nodes[n]["generation"] for n in db.tables]
    assert gens == sorted(gens), "tables are listed in generation order"
    for u, v in g.edges:
        assert g.nodes[u]["generation"] < g.nodes[v]["generation"]
    assert [sorted(x) for x in nx.topological_generations(g)] == [
        sorted(n for n in db.tables if g.nodes[n]["generation"] == i) for i in range(max(gens) + 1)]
    for name in db.tables:
        assert name == f"table_{g.nodes[name]['node_id']}"
    assert set(db.trace.timings) == {"stage1", "stage2", "stage3", "postprocess", "total"}
    assert all(v >= 0 for v in db.trace.timings.values())
    assert db.name == f"plurel_demo_seed4_{db.config.digest()}"
    assert db.trace.priors["database"]["num_tables"] == len(db.tables)
    assert db.trace.priors["database"]["num_foreign_keys"] == len(db.foreign_keys) == g.number_of_edges()


def test_scm_trace_matches_the_tables():
    db = cached_generate("demo", 5)
    for name, t in db.tables.items():
        tr = db.trace.scm[name]
        m = db.trace.priors["tables"][name]["feature_columns"]
        cols = {a["column"]: v for v, a in tr.graph.nodes(data=True) if a["role"] == "column"}
        assert set(cols) == {f"feature_{k}" for k in range(m)}
        assert tr.graph.number_of_nodes() == m + math.ceil(m / tr.column_node_share) + 3
        for c in t.feature_cols:
            assert t.columns[c].node == cols[c]
            kind = tr.graph.nodes[cols[c]]["type"]
            assert kind == t.columns[c].kind
        # every column of every parent table enters the SCM
        expected = []
        for parent in t.fkey_col_to_pkey_table.values():
            expected += [f"{parent}.feature_{k}" for k in range(db.trace.priors["tables"][parent]["feature_columns"])]
        assert tr.foreign_inputs == expected


def test_time_span_is_two_distinct_days():
    cfg = pc.Config()
    lows, spans = [], []
    for seed in range(300):
        lo, hi, val, test = pipeline._time_span(cfg, seed)
        assert pd.Timestamp("1990-01-01") <= lo < hi <= pd.Timestamp("2025-01-01")
        span = (hi - lo).days
        assert val == lo + pd.Timedelta(days=math.floor(0.8 * span))
        assert test == lo + pd.Timedelta(days=math.floor(0.9 * span))
        lows.append((lo - pd.Timestamp("1990-01-01")).days)
        spans.append(span)
    days = (pd.Timestamp("2025-01-01") - pd.Timestamp("1990-01-01")).days
    # the min of two uniform days: P(min <= x) = 1 - (1 - x/D)^2
    assert stats.kstest(np.array(lows) / days, lambda x: 1 - (1 - x) ** 2).pvalue > 0.001
    # custom fractions
    cfg = pc.Config().replace(**{"schema.val_fraction": 0.5, "schema.test_fraction": 0.75})
    lo, hi, val, test = pipeline._time_span(cfg, 3)
    span = (hi - lo).days
    assert val == lo + pd.Timedelta(days=span // 2) and test == lo + pd.Timedelta(days=math.floor(0.75 * span))


# ---------------------------------------------------------------------------------------------
# Stage-1 statistics


def _pk(lo, hi, exponent):
    k = np.arange(lo, hi + 1, dtype=np.float64)
    p = k ** -exponent
    return k, p / p.sum()


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_power_law_int(exponent):
    r = np.random.default_rng(0)
    draws = np.array([power_law_int(r, 3, 40, exponent) for _ in range(20000)])
    assert draws.min() >= 3 and draws.max() <= 40
    k, p = _pk(3, 40, exponent)
    observed = np.bincount(draws, minlength=41)[3:]
    expected = p * len(draws)
    keep = expected >= 5
    obs = np.r_[observed[keep], observed[~keep].sum()] if (~keep).any() else observed
    exp = np.r_[expected[keep], expected[~keep].sum()] if (~keep).any() else expected
    assert stats.chisquare(obs, exp).pvalue > 0.001


def test_schema_priors_from_many_sampled_schemas():
    cfg = pc.Config()
    feats, n_tables, layouts, kinds, cats, ks, rows = [], [], [], [], [], [], {"entity": [], "activity": []}
    for seed in range(400):
        s = sample_schema(cfg, streams.stream(seed, streams.SCHEMA))
        n_tables.append(len(s.tables))
        layouts.append(s.layout)
        g = s.graph
        assert nx.is_directed_acyclic_graph(g) and nx.is_weakly_connected(g)
        for name, t in s.tables.items():
            feats.append(len(t.features))
            kinds.append(t.kind)
            assert t.kind == ("activity" if g.out_degree(name) == 0 else "entity")
            rows[t.kind].append(t.n_rows)
            for c in t.features:
                cats.append(c.kind == "categorical")
                if c.kind == "categorical":
                    ks.append(c.n_categories)
    feats = np.asarray(feats)
    # P(k) ∝ 1/k on {3..40}: 3 is 13x as likely as 40; compare frequencies of coarse bins
    k, p = _pk(3, 40, 1.0)
    bins = [(3, 4), (5, 7), (8, 12), (13, 20), (21, 30), (31, 40)]
    observed = np.array([((feats >= a) & (feats <= b)).sum() for a, b in bins])
    expected = np.array([p[(k >= a) & (k <= b)].sum() for a, b in bins]) * len(feats)
    assert stats.chisquare(observed, expected).pvalue > 0.001
    assert np.mean(feats == 3) == pytest.approx(p[0], abs=0.02)
    assert np.median(feats) < 15, "most tables narrow"
    # num_tables U{3..20}, layouts uniform over the three, categorical share 1/2, categories U{2..10}
    assert min(n_tables) >= 3 and max(n_tables) <= 20
    assert stats.chisquare(np.bincount(n_tables, minlength=21)[3:]).pvalue > 0.001
    assert set(layouts) == {"BarabasiAlbert", "ReverseRandomTree", "WattsStrogatz"}
    assert stats.chisquare([layouts.count(x) for x in set(layouts)]).pvalue > 0.001
    assert stats.binomtest(sum(cats), len(cats), 0.5).pvalue > 0.001
    assert stats.chisquare(np.bincount(ks, minlength=11)[2:]).pvalue > 0.001
    assert min(rows["entity"]) >= 500 and max(rows["entity"]) <= 1000
    assert min(rows["activity"]) >= 2000 and max(rows["activity"]) <= 5000
    assert stats.kstest(rows["entity"], stats.randint(500, 1001).cdf).pvalue > 0.001


def test_stage1_records_one_fk_per_parent_in_sorted_order():
    s = sample_schema(pc.Config(), streams.stream(7, streams.SCHEMA))
    g = s.graph
    for name, t in s.tables.items():
        parents = sorted(g.predecessors(name), key=lambda p: s.tables[p].node_id)
        assert [fk.parent for fk in t.fkeys] == parents
        assert [fk.column for fk in t.fkeys] == [f"foreign_row_{i}" for i in range(len(parents))]
        assert [c.name for c in t.features] == [f"feature_{i}" for i in range(len(t.features))]
        assert t.pkey == "row_idx" and t.time_col == ("date" if t.kind == "activity" else None)


# ---------------------------------------------------------------------------------------------
# Size guard


def _no_work(*args, **kwargs):
    raise AssertionError("stage 2/3 ran although the size guard should have stopped generation")


@pytest.fixture
def stages_2_3_forbidden(monkeypatch):
    """Stages 2 and 3 fail the test if they run."""
    for name in ("_stage2", "build_scm", "propagate_scm"):
        monkeypatch.setattr(pipeline, name, _no_work)


def test_max_cells_raises_before_any_work(stages_2_3_forbidden):
    cfg = pc.Config()
    estimate = pc.estimate_cells(cfg, 1)
    t0 = time.perf_counter()
    with pytest.raises(pc.SizeError) as err:
        pc.generate(cfg, 1, max_cells=1000)
    assert time.perf_counter() - t0 < 1.0
    assert isinstance(err.value, ValueError)
    numbers = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", str(err.value))]
    assert estimate in numbers and 1000 in numbers
    assert estimate > 1000


def test_max_cells_boundary():
    cfg = pc.Config.preset("demo")
    estimate = pc.estimate_cells(cfg, 2)
    with pytest.raises(pc.SizeError):
        pc.generate(cfg, 2, max_cells=estimate - 1)
    db = pc.generate(cfg, 2, max_cells=estimate)
    # the estimate counts every column before constant ones are dropped
    assert db.num_cells <= estimate
    width = {n: 1 + len(t.fkey_col_to_pkey_table) + db.trace.priors["tables"][n]["feature_columns"]
             + (t.time_col is not None) for n, t in db.tables.items()}
    assert estimate == sum(len(t.df) * width[n] for n, t in db.tables.items())
    no_drop = cfg.replace(**{"postprocess.binarize": False})
    assert pc.generate(no_drop, 2).num_cells == pc.estimate_cells(no_drop, 2) == estimate


def test_max_bytes_raises_before_any_work(stages_2_3_forbidden):
    cfg = pc.Config()
    need = pc.estimate_bytes(cfg, 3)
    cells = pc.estimate_cells(cfg, 3)
    t0 = time.perf_counter()
    with pytest.raises(pc.SizeError) as err:
        pc.generate(cfg, 3, max_bytes=10_000_000)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert f"{need / 1e9:.2f} GB" in msg
    assert f"{cells:,}" in msg
    assert need > 10_000_000


def test_budgets_that_fit_do_not_raise():
    cfg = pc.Config.preset("demo")
    db = pc.generate(cfg, 0, max_cells=10**9, max_bytes=10**12)
    check_invariants(db)
    with pytest.raises(pc.SizeError):
        pc.generate(cfg, 0, max_bytes=pc.estimate_bytes(cfg, 0) - 1)
    pc.generate(cfg, 0, max_bytes=pc.estimate_bytes(cfg, 0))


def test_estimates_are_cheap_and_deterministic():
    cfg = pc.Config()
    t0 = time.perf_counter()
    a = [pc.estimate_cells(cfg, s) for s in range(20)]
    assert time.perf_counter() - t0 < 2.0
    assert a == [pc.estimate_cells(cfg, s) for s in range(20)]
    assert len(set(a)) > 10
    assert all(pc.estimate_bytes(cfg, s) > 16 * c for s, c in enumerate(a))


def test_bad_arguments():
    with pytest.raises(TypeError):
        pc.generate({"schema": {}}, 0)
    with pytest.raises(ValueError, match="seed"):
        pc.generate(pc.Config.preset("demo"), -1)


def test_generation_settings_hold_during_generation_and_are_undone_after(monkeypatch):
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before_gc, before_blas = gc.get_threshold(), blas_threads()
    seen = []
    stage2 = pipeline._stage2

    def spy(*args, **kwargs):
        seen.append((gc.get_threshold(), blas_threads()))
        time.sleep(0.05)  # overlap the generations below
        return stage2(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_stage2", spy)
    cfg = pc.Config.preset("demo")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda s: pc.generate(cfg, s), range(6)))
    assert len(seen) == 6
    for thresholds, blas in seen:
        assert thresholds[:2] == before_gc[:2] and thresholds[2] >= pipeline.FULL_GC_EVERY
        assert all(n == 1 for n in blas)
    assert gc.get_threshold() == before_gc and blas_threads() == before_blas
