"""The pipeline: ``generate(config, seed) -> Database``.

Stage 1 draws (or takes) a schema, stage 2 links child rows to parent rows, stage 3 runs one SCM
per table in topological generations, then post-processing. Each stage and table has its own
random stream (:mod:`plurel_core.random`), so the result is a pure function of config and seed.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import threadpoolctl
from threadpoolctl import threadpool_limits

from plurel_core import random as streams
from plurel_core.config import Config, ConfigError
from plurel_core.database import ColumnMeta, Database, LinkTrace, Table, Trace
from plurel_core.links import (
    Hsbm,
    distinct_combinations,
    popularity,
    sample_hsbm,
    sample_parent_index,
)
from plurel_core.postprocess import (
    apply_transform,
    binarize,
    categorical,
    is_constant,
    missing_count,
    set_missing,
)
from plurel_core.prefetch import Prefetcher
from plurel_core.random import pick
from plurel_core.schema import Schema, TableSpec, sample_schema
from plurel_core.scm.model import ForeignInput, ScmColumn, build_scm, propagate_scm

_settings_lock = threading.Lock()
_generations = 0  # running in this process
_restore: list = []  # how to undo the settings once the last one ends

FULL_GC_EVERY = 1000  # third gc threshold while generating (Python's default: 10)


def _release_blas_control() -> None:
    """threadpoolctl >= 3.8 lets only the thread that last set OpenBLAS's limit change it (others
    silently do nothing). The settings are made by the first generation to start and undone by
    the last to end, often another thread: it takes the control first."""
    release = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    if release is not None:
        release(force=True)


@contextmanager
def generation_settings():
    """Process-wide settings while any generation runs in this process, undone after the last.

    - OpenBLAS on one thread. The SCM's GEMMs are small (rows x 32 x 32): a second BLAS thread
      only adds spin-waiting, and under load it makes each product 4-40x slower. Tables run in
      parallel threads instead.
    - Full garbage collections 100x rarer. A database allocates millions of small containers,
      and each full collection walks every live object (graphs, MLPs): 8% of a paper database
      (one thread, median 0.89 s -> 0.82 s). Young collections run as before. Neither setting
      touches a random stream: the bytes are the same either way.
    """
    global _generations
    with _settings_lock:
        if _generations == 0:
            _release_blas_control()
            limiter = threadpool_limits(limits=1, user_api="blas")
            thresholds = gc.get_threshold()
            gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], FULL_GC_EVERY))
            _restore[:] = [_release_blas_control, limiter.restore_original_limits, _release_blas_control,
                           lambda: gc.set_threshold(*thresholds)]
        _generations += 1
    try:
        yield
    finally:
        with _settings_lock:
            _generations -= 1
            if _generations == 0:
                for undo in _restore:
                    undo()
                _restore.clear()


PARALLEL_FROM_CELLS = 1_000_000
BACKGROUND_FROM_CELLS = 50_000
# Tables whose SCMs are built ahead of the one propagating. Paper median: 2 ahead 1.18 s, 4 ahead
# 1.02 s, at a cost in memory (a dense 180-node SCM holds ~180 MB of MLPs; paper peak RSS 0.32 GB).
BUILD_AHEAD = 4


class SizeError(ValueError):
    """The database a config would make exceeds the given budget; the message holds the estimate."""


@dataclass
class _Sized:
    schema: Schema
    rows: dict[str, int]


def _resolve_schema(cfg: Config, seed: int, schema: Schema | None) -> _Sized:
    if schema is None:
        schema = sample_schema(cfg, streams.stream(seed, streams.SCHEMA))
    rows = {}
    for name, t in schema.tables.items():
        if t.n_rows is not None:
            rows[name] = int(t.n_rows)
        else:
            prior = cfg.schema.activity_rows if t.kind == "activity" else cfg.schema.entity_rows
            rows[name] = prior.sample(streams.stream(seed, streams.SCHEMA, 1, t.node_id))
    for name, t in schema.tables.items():
        if t.composite_key:
            cap = math.prod(rows[fk.parent] for fk in t.fkeys if fk.column in t.composite_key)
            rows[name] = min(rows[name], cap)
    return _Sized(schema, rows)


@dataclass
class Stage1:
    """What stage 1 fixes before any row is made: the schema, row counts and the time span."""

    schema: Schema
    rows: dict[str, int]
    min_timestamp: pd.Timestamp
    max_timestamp: pd.Timestamp
    val_timestamp: pd.Timestamp
    test_timestamp: pd.Timestamp


def _paper_only(config: Config, what: str) -> None:
    if config.design != "paper":
        raise ConfigError("design", f"{what} draws the paper design's stage 1; this config has design "
                                    f"{config.design!r} (pc.generate and pc.estimate_cells take it)")


# --- the v2 design (PLUREL_V2_SPEC.md): generate_v2 does the work; these size it up front ----------
def _v2_pipeline():
    """plurel_core.v2.pipeline, imported on first use; ConfigError naming ``design`` when absent."""
    try:
        from plurel_core.v2 import pipeline as v2_pipeline
    except ModuleNotFoundError as err:
        if err.name != "plurel_core.v2.pipeline":
            raise
        raise ConfigError("design", "the v2 pipeline (plurel_core.v2.pipeline.generate_v2) is not "
                                    "installed in this build; use design 'paper'") from None
    return v2_pipeline


def _v2_plan(config: Config, seed: int, schema: Schema | None):
    """The v2 schema plan of (config, seed), drawn from the streams generate_v2 draws it from
    (the same tables, keys and rows), and the config's TablePrior."""
    from plurel_core.config import v2_priors
    from plurel_core.v2.schema import sample_schema_plan

    if schema is not None:
        raise ConfigError("design", "a SQL schema (DDL) fixes the tables of the paper design only; "
                                    "this config has design 'v2'")
    v2 = _v2_pipeline()
    schema_prior, table_prior = v2_priors(config)
    plan = sample_schema_plan(schema_prior, v2.stream(seed, v2.SCHEMA), rows_rng=v2.stream(seed, v2.ROWS))
    return plan, table_prior


def _v2_cells(plan, table_prior) -> int:
    """Cells of a v2 plan with every table at its widest: id, keys, time and ``column_count.hi``
    feature columns (a table's own column count is drawn from its warped prior, inside that range)."""
    width = int(table_prior.column_count.hi)
    return sum(t.rows * (1 + len(t.all_fkeys) + (t.time_col is not None) + width) for t in plan.tables.values())


def _v2_bytes(plan, table_prior) -> int:
    """The tables twice over, plus the largest table's latent nodes at their widest (float64)."""
    widest = int(table_prior.node_count.hi) * max(int(table_prior.node_width.hi), int(table_prior.node_class_count.hi))
    peak = max((t.rows * widest * 8 * 2 for t in plan.tables.values()), default=0)
    return 16 * _v2_cells(plan, table_prior) + peak + 50_000_000


def _generate_v2(cfg: Config, seed: int, schema: Schema | None, max_cells: int | None,
                 max_bytes: int | None, keep_node_values: bool = False) -> Database:
    plan, table_prior = _v2_plan(cfg, seed, schema)
    cells = _v2_cells(plan, table_prior)
    if max_cells is not None and cells > max_cells:
        raise SizeError(f"this config and seed make about {cells:,} cells, over the budget of {max_cells:,}")
    need = _v2_bytes(plan, table_prior)
    if max_bytes is not None and need > max_bytes:
        raise SizeError(f"this config and seed need about {need / 1e9:.2f} GB, over the budget of "
                        f"{max_bytes / 1e9:.2f} GB ({cells:,} cells)")
    from plurel_core.config import v2_priors, v2_warp

    schema_prior, table_prior = v2_priors(cfg)
    return _v2_pipeline().generate_v2(schema_prior, table_prior, int(seed), config=cfg, warp_kappa=v2_warp(cfg),
                                      keep_node_values=keep_node_values)


def sample_stage1(config: Config, seed: int, schema: Schema | None = None) -> Stage1:
    """Stage 1 alone (milliseconds): exactly the schema and row counts ``generate`` will use.

    Composite-key tables may lose rows in stage 2 when distinct key combinations run out.
    Paper design only: a v2 config raises ConfigError naming ``design``.
    """
    _paper_only(config, "sample_stage1")
    sized = _resolve_schema(config, seed, schema)
    return Stage1(sized.schema, dict(sized.rows), *_time_span(config, seed))


def _width(t: TableSpec) -> int:
    return (t.pkey is not None) + len(t.fkeys) + len(t.features) + (t.time_col is not None and
                                                                    t.time_col not in {c.name for c in t.features})


def estimate_cells(config: Config, seed: int = 0, schema: Schema | None = None) -> int:
    """Cells of the database for this config and seed (stage 1 only, cheap).

    For the v2 design: the rows of its schema plan times each table's widest row (an upper bound
    on the feature columns, which each table draws from its warped prior)."""
    if config.design == "v2":
        return _v2_cells(*_v2_plan(config, seed, schema))
    sized = _resolve_schema(config, seed, schema)
    return sum(sized.rows[n] * _width(t) for n, t in sized.schema.tables.items())


def estimate_bytes(config: Config, seed: int = 0, schema: Schema | None = None) -> int:
    """Peak memory estimate: the tables twice over, plus the largest SCM working set."""
    if config.design == "v2":
        return _v2_bytes(*_v2_plan(config, seed, schema))
    return _bytes_needed(config, _resolve_schema(config, seed, schema))


def _bytes_needed(config: Config, sized: _Sized) -> int:
    cells = sum(sized.rows[n] * _width(t) for n, t in sized.schema.tables.items())
    emb = config.scm.emb
    scm_peak = 0
    for name, t in sized.schema.tables.items():
        m = len(t.features)
        nodes = m + math.ceil(m / max(config.scm.column_node_share.lo, 1e-3)) + 3
        scm_peak = max(scm_peak, sized.rows[name] * (nodes * 8 + 16 * emb * 4))
    return 16 * cells + scm_peak + 50_000_000


def _time_span(cfg: Config, seed: int) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    rng = streams.stream(seed, streams.DATABASE)
    start = pd.Timestamp(cfg.schema.start_date)
    days = (pd.Timestamp(cfg.schema.end_date) - start).days
    a, b = np.sort(rng.choice(days + 1, size=2, replace=False))
    lo, hi = start + pd.Timedelta(days=int(a)), start + pd.Timedelta(days=int(b))
    span = (hi - lo).days
    val = lo + pd.Timedelta(days=int(np.floor(cfg.schema.val_fraction * span)))
    test = lo + pd.Timedelta(days=int(np.floor(cfg.schema.test_fraction * span)))
    return lo, hi, val, test


# The paper + v2 mix (links.link_models, links.v2_nullable_fks) draws from sub-streams of a key's
# LINKS stream, and only when its knob is on: the paper draws of every other key stay as they were.
MIX_MODEL_STREAM, MIX_NULLS_STREAM = 1, 2


def _mix_prior(cfg: Config):
    """The v2 SchemaPrior whose v2_links / v2_keys knobs the paper + v2 mix reads; None with the mix off."""
    lp = cfg.links
    if tuple(lp.link_models) == ("paper_hsbm",) and not lp.v2_nullable_fks:
        return None
    from plurel_core.config import v2_priors

    return v2_priors(cfg)[0]


@dataclass
class _Drawn:
    """One foreign key's stage-2 draw, before composite-key filtering and nulls."""

    parent: np.ndarray
    rng: np.random.Generator  # the key's paper stream, continued (composite re-draws, SQL nulls)
    model: str = "paper_hsbm"  # or v2's "random" / "hsbm"
    pblock: np.ndarray | None = None  # paper_hsbm: blocks, the HSBM, popularity law, parameter, weights
    cblock: np.ndarray | None = None
    hsbm: Hsbm | None = None
    law: str = "constant"
    param: float | None = None
    theta: np.ndarray | None = None
    spec: Any = None  # a v2 model: its LinkSpec and the trace dict of v2's sample_link
    info: dict | None = None


def _link(cfg: Config, seed: int, t: TableSpec, fk_pos: int, n_parent: int, n_child: int, mix=None) -> _Drawn:
    """The parent row of every child row of key ``fk_pos`` of ``t``: the paper's HSBM, or with
    ``links.link_models`` holding "v2" (and ``mix`` the v2 SchemaPrior) possibly v2's link draw
    (``draw_link_spec`` + ``sample_link``) from the key's model stream. Composite-key tables keep
    the paper HSBM: their duplicate key combinations are re-drawn from the same blocks."""
    lp = cfg.links
    rng = streams.stream(seed, streams.LINKS, t.node_id, fk_pos)
    if mix is not None and not t.composite_key and tuple(lp.link_models) != ("paper_hsbm",):
        mrng = streams.stream(seed, streams.LINKS, t.node_id, fk_pos, MIX_MODEL_STREAM)
        model = lp.link_models[0] if len(lp.link_models) == 1 else str(pick(mrng, lp.link_models))
        if model == "v2":
            from plurel_core.v2.links import sample_link
            from plurel_core.v2.schema import draw_link_spec

            spec = draw_link_spec(mix, mrng)
            index, info = sample_link(spec, n_child, n_parent, mrng)
            return _Drawn(index, rng, model=info["model"], spec=spec, info=info)
    hsbm = sample_hsbm(lp, rng)
    law = str(pick(rng, lp.popularity_laws))
    param = {"lognormal": lp.popularity_sigma, "zipf": lp.popularity_alpha}.get(law)
    param = param.sample(rng) if param is not None else None
    theta = popularity(law, param, n_parent, rng)
    parent, pblock, cblock = sample_parent_index(n_parent, n_child, hsbm, theta, rng)
    return _Drawn(parent, rng, pblock=pblock, cblock=cblock, hsbm=hsbm, law=law, param=param, theta=theta)


def _mix_nulls(seed: int, t: TableSpec, fk_pos: int, parent: np.ndarray, mix) -> tuple[np.ndarray, bool, float]:
    """v2's null draw for a key of the paper design (``links.v2_nullable_fks``), from its own stream:
    nullable with prob ``v2_keys.fk_nullable_prob``, then a rate from ``v2_keys.fk_null_rate`` and
    v2's ``apply_nulls`` (each row NULL, -1, with that probability)."""
    from plurel_core.v2.links import apply_nulls

    nrng = streams.stream(seed, streams.LINKS, t.node_id, fk_pos, MIX_NULLS_STREAM)
    nullable = bool(nrng.random() < mix.fk_nullable_prob)
    rate = float(mix.fk_null_rate.sample(nrng)) if nullable else 0.0
    return apply_nulls(parent, rate, nrng), nullable, rate


def _link_trace(name: str, fk, d: _Drawn, parent: np.ndarray, cblock: np.ndarray | None, n_parent: int,
                null_share: float, nullable: bool, null_rate: float, mixed: bool) -> LinkTrace:
    """The LinkTrace of one key. With the mix on it also holds its model, null draw and the summary
    ``trace.priors["links"]`` shows (a v2 link: v2's own ``link_trace`` / ``link_summary``)."""
    if d.model == "paper_hsbm":
        lt = LinkTrace(
            child=name, parent=fk.parent, fkey_col=fk.column, parent_index=parent, levels=d.hsbm.levels,
            h_parent=d.hsbm.h_parent, h_child=d.hsbm.h_child, parent_block=d.pblock, child_block=cblock,
            block_matrices=d.hsbm.matrices, popularity_law=d.law, popularity_param=d.param,
            null_share=null_share, deferred=fk.deferred,
        )
        if not mixed:
            return lt
        summary = {"child": name, "parent": fk.parent, "column": fk.column, "model": "paper_hsbm",
                   "nullable": nullable, "null_rate": float(null_rate),
                   "null_share": float(np.mean(parent < 0)) if len(parent) else 0.0,
                   "parents_with_children": int(np.unique(parent[parent >= 0]).size), "parent_rows": int(n_parent)}
    else:
        from plurel_core.v2.pipeline import link_summary
        from plurel_core.v2.pipeline import link_trace as v2_link_trace
        from plurel_core.v2.schema import FkPlan

        plan = FkPlan(name, fk.column, fk.parent, d.spec, nullable, null_rate)
        info = {**d.info, "null_rate": float(null_rate), "null_share": null_share}
        lt = v2_link_trace(plan, parent, info, n_parent)
        lt.deferred = fk.deferred
        summary = link_summary(plan, info, parent, n_parent)
    return dataclasses.replace(lt, model=summary["model"], nullable=nullable, null_rate=float(null_rate),
                               summary=summary)


def _stage2(cfg: Config, seed: int, sized: _Sized, workers: int = 1,
            ) -> tuple[dict[str, LinkTrace], dict[str, int], list[str]]:
    links: dict[str, LinkTrace] = {}
    rows = dict(sized.rows)
    notes: list[str] = []
    tables = sized.schema.tables
    mix = _mix_prior(cfg)
    # v2 nullable keys on random schemas only: a SQL schema's DDL says which keys may be NULL.
    mix_nulls = mix is not None and cfg.links.v2_nullable_fks and sized.schema.source != "ddl"
    # Each foreign key draws from its own stream. Without composite keys no table drops rows, so
    # every key's row counts are known now, and on big databases the keys are drawn in parallel.
    ahead: dict[tuple[str, int], _Drawn] = {}
    if workers > 1 and not any(t.composite_key for t in tables.values()):
        jobs = [(t, pos, fk) for t in tables.values() for pos, fk in enumerate(t.fkeys) if rows[fk.parent] >= 1]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            drawn_ahead = pool.map(
                lambda job: _link(cfg, seed, job[0], job[1], rows[job[2].parent], rows[job[0].name], mix), jobs)
            ahead = {(t.name, pos): link for (t, pos, _), link in zip(jobs, drawn_ahead)}
    for name, t in tables.items():
        drawn: dict[str, tuple[int, object, _Drawn]] = {}
        for pos, fk in enumerate(t.fkeys):
            n_parent = rows[fk.parent]
            if n_parent < 1:
                raise ConfigError("schema", f"table {fk.parent!r} has no rows for {name}.{fk.column} to refer to")
            link = ahead.pop((name, pos), None) or _link(cfg, seed, t, pos, n_parent, rows[name], mix)
            drawn[fk.column] = (pos, fk, link)
        keep = np.ones(rows[name], dtype=bool)
        if t.composite_key:
            key_cols = [c for c in t.composite_key if c in drawn]
            if key_cols:
                _pos, last_fk, last = drawn[key_cols[-1]]
                hsbm, theta, rng = last.hsbm, last.theta, last.rng
                n_parent = rows[last_fk.parent]

                def resample(idx, hsbm=hsbm, theta=theta, rng=rng, n_parent=n_parent, n=rows[name]):
                    return sample_parent_index(n_parent, n, hsbm, theta, rng)[0][idx]

                cols = [drawn[c][2].parent for c in key_cols]
                keep = distinct_combinations(cols, resample)
                if not keep.all():
                    notes.append(f"{name}: {int((~keep).sum())} rows dropped to keep key {t.composite_key} distinct")
        for col, (pos, fk, d) in drawn.items():
            parent = d.parent[keep]
            cblock = d.cblock[keep] if d.cblock is not None else None
            null_share, nullable, null_rate = 0.0, False, 0.0
            if fk.nullable and col not in t.composite_key:
                null_share = cfg.links.null_fk_share.sample(d.rng)
                k = int(np.floor(null_share * len(parent)))
                parent = parent.copy()
                parent[d.rng.permutation(len(parent))[:k]] = -1
                nullable, null_rate = True, null_share
            elif mix_nulls:
                parent, nullable, null_rate = _mix_nulls(seed, t, pos, parent, mix)
                null_share = float(np.mean(parent < 0)) if len(parent) else 0.0
            links[f"{name}.{col}"] = _link_trace(name, fk, d, parent, cblock, rows[fk.parent], null_share, nullable,
                                                 null_rate, mix is not None)
        rows[name] = int(keep.sum())
    return links, rows, notes


def _scm_columns(t: TableSpec, cfg: Config, seed: int) -> tuple[list[ScmColumn], dict[str, tuple[str, ...]]]:
    """Feature columns the SCM makes, and the labels of text / boolean / enum columns."""
    rng = streams.stream(seed, streams.SCHEMA, 2, t.node_id)
    cols, labels = [], {}
    for c in t.features:
        if c.kind == "numerical":
            cols.append(ScmColumn(c.name, "numerical"))
        elif c.kind == "time":
            continue
        elif c.kind == "boolean":
            cols.append(ScmColumn(c.name, "categorical", 2))
            labels[c.name] = (False, True)
        elif c.labels:
            cols.append(ScmColumn(c.name, "categorical", len(c.labels)))
            labels[c.name] = tuple(c.labels)
        elif c.kind == "text":
            k = c.n_categories or cfg.schema.text_categories.sample(rng)
            cols.append(ScmColumn(c.name, "categorical", k))
            labels[c.name] = tuple(f"{c.name}_{i}" for i in range(k))
        else:
            cols.append(ScmColumn(c.name, "categorical", c.n_categories or cfg.schema.num_categories.sample(rng)))
    return cols, labels


def generate(
    config: Config | None = None,
    seed: int = 0,
    schema: Schema | None = None,
    *,
    max_cells: int | None = None,
    max_bytes: int | None = None,
    threads: int | None = None,
    keep_node_values: bool = False,
) -> Database:
    """A database drawn from the config's priors; the same config and seed give the same bytes.

    ``threads`` bounds the threads used (default: the CPU count, at most 4, from 50k cells on;
    else 1): a background thread builds SCMs ahead, numba's worker threads share each table's row
    chunks, and from a million cells on the tables of one generation run in parallel. The result
    does not depend on it. ``max_bytes`` defaults to 80% of this machine's memory: a database
    that would not fit is refused before any work, with the estimate. ``keep_node_values`` keeps
    every SCM node's values in ``trace.scm[table].node_values`` (a copy of the propagation's
    matrices, for teaching views); the tables are the same bytes either way.

    A config of design "v2" goes to ``plurel_core.v2.pipeline.generate_v2`` with its
    ``(SchemaPrior, TablePrior)`` (:func:`plurel_core.config.v2_priors`) and its warp
    (:func:`plurel_core.config.v2_warp`: the kappa range, or None = no warp) after the same size
    checks; ``threads`` is a paper-design option (v2 runs in one thread), ``keep_node_values``
    keeps every v2 node's (n, dim) value and the event times (see
    :func:`plurel_core.v2.pipeline.assemble_v2`), and a SQL ``schema`` is refused (ConfigError
    naming ``design``).
    """
    if max_bytes is None:
        import psutil

        max_bytes = int(0.8 * psutil.virtual_memory().total)
    if isinstance(config, Config) and config.design == "v2":
        return _generate_v2(config, seed, schema, max_cells, max_bytes, keep_node_values)
    with generation_settings():
        return _generate(config, seed, schema, max_cells, max_bytes, threads, keep_node_values)


def _generate(config, seed, schema, max_cells, max_bytes, threads, keep_node_values=False) -> Database:
    cfg = config if config is not None else Config()
    if not isinstance(cfg, Config):
        raise TypeError(f"config: expected plurel_core.Config, got {type(cfg).__name__}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    sized = _resolve_schema(cfg, seed, schema)
    cells = sum(sized.rows[n] * _width(t) for n, t in sized.schema.tables.items())
    if max_cells is not None and cells > max_cells:
        raise SizeError(f"this config and seed make about {cells:,} cells, over the budget of {max_cells:,}")
    if max_bytes is not None:
        need = _bytes_needed(cfg, sized)
        if need > max_bytes:
            raise SizeError(f"this config and seed need about {need / 1e9:.2f} GB, over the budget of "
                            f"{max_bytes / 1e9:.2f} GB ({cells:,} cells)")
    lo, hi, val, test = _time_span(cfg, seed)
    timings["stage1"] = time.perf_counter() - t0

    schema_ = sized.schema
    scm_columns = {name: _scm_columns(t, cfg, seed) for name, t in schema_.tables.items()}

    def foreign_parents(t: TableSpec) -> list[str]:
        return [fk.parent for fk in t.fkeys if not (fk.deferred or fk.parent == t.name)]

    def build(name: str):
        t = schema_.tables[name]
        kinds = [[(c.kind, c.k) for c in scm_columns[parent][0]] for parent in foreign_parents(t)]
        return build_scm(name, scm_columns[name][0], t.kind == "activity", kinds, cfg,
                         streams.stream(seed, streams.SCM, t.node_id))

    # Measured on 2 cores (bench_generate): a background thread builds the next tables' SCMs while
    # the table kernel (numba, no GIL) runs each table's row chunks on ``threads`` worker threads.
    # Paper databases: median 0.53 s on one thread, 0.36-0.39 s on two. Under 50k cells (demo)
    # the threads save nothing (0.023 s either way), so those run on one thread. Tables of one
    # generation run in parallel from a million cells on (x16 rows: 3.6 s against 4.0 s).
    if threads is None:
        threads = min(os.cpu_count() or 1, 4) if cells >= BACKGROUND_FROM_CELLS else 1
    workers = threads if cells >= PARALLEL_FROM_CELLS else 1
    # Largest tables first within a generation so the pool stays busy; results are keyed, never
    # order-dependent. SCMs need no links and no values (graphs and MLPs: the stream's draws), so
    # they are built ahead on a background thread from stage 2 on, while earlier tables propagate.
    table_order = [sorted(generation, key=lambda n: -sized.rows[n] * max(1, len(schema_.tables[n].features)))
                   for generation in schema_.generation_order()]
    with Prefetcher([n for generation in table_order for n in generation], build, ahead=BUILD_AHEAD,
                    background=threads > 1) as builds, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        t1 = time.perf_counter()
        links, rows, notes = _stage2(cfg, seed, sized, workers)
        timings["stage2"] = time.perf_counter() - t1

        t2 = time.perf_counter()
        raw: dict[str, dict[str, np.ndarray]] = {}
        raw_kinds: dict[str, dict[str, tuple[str, int | None]]] = {}
        scm_traces = {}
        labels_of: dict[str, dict[str, tuple]] = {}

        def one_table(name: str):
            t = schema_.tables[name]
            cols, labels = scm_columns[name]
            foreign = []
            for fk in t.fkeys:
                if fk.deferred or fk.parent == name:
                    continue
                pcols = [(c, raw[fk.parent][c], *raw_kinds[fk.parent][c]) for c in raw[fk.parent]]
                foreign.append(ForeignInput(fk.parent, links[f"{name}.{fk.column}"].parent_index, pcols))
            values, trace = propagate_scm(builds.take(name), rows[name], foreign, cfg, threads=threads,
                                          keep_values=keep_node_values)
            return name, cols, labels, values, trace

        for ordered in table_order:
            results = list(pool.map(one_table, ordered)) if workers > 1 else [one_table(n) for n in ordered]
            for name, cols, labels, values, trace in results:
                raw[name] = values
                raw_kinds[name] = {c.name: (c.kind, c.k) for c in cols}
                labels_of[name] = labels
                scm_traces[name] = trace
    timings["stage3"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    tables = {}
    table_priors = {}
    # Columns other tables reference instead of the primary key (FK to a UNIQUE column) must be unique.
    alternate_keys: dict[str, set[str]] = {}
    for t in schema_.tables.values():
        for fk in t.fkeys:
            parent = schema_.tables[fk.parent]
            if fk.parent_column and fk.parent_column != parent.pkey:
                alternate_keys.setdefault(fk.parent, set()).add(fk.parent_column)
                notes.append(f"{t.name}.{fk.column} references {fk.parent}.{fk.parent_column}: that column is made "
                             f"unique and the reference is stored as the parent's row id ({parent.pkey or 'row'})")

    def assemble(name: str):
        return _assemble(cfg, seed, schema_.tables[name], rows[name], raw[name], raw_kinds[name], labels_of[name],
                         links, lo, hi, keep_constant=schema_.source == "ddl",
                         alternate_keys=alternate_keys.get(name, set()))

    # Each table post-processes from its own stream: on big databases the tables share threads.
    names = [name for generation in schema_.generation_order() for name in generation]
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            assembled = dict(zip(names, pool.map(assemble, names)))
    else:
        assembled = {name: assemble(name) for name in names}
    for generation in schema_.generation_order():
        for name in generation:
            tables[name], table_priors[name] = assembled[name]
            for col in table_priors[name]["dropped_columns"]:
                notes.append(f"{name}.{col} dropped: a single value was left after post-processing")
            for node, attrs in scm_traces[name].graph.nodes(data=True):
                if attrs.get("column") in tables[name].columns:
                    tables[name].columns[attrs["column"]].node = int(node)
            table_priors[name].update(scm_layout=scm_traces[name].layout, scm_mode=scm_traces[name].mode,
                                      column_node_share=scm_traces[name].column_node_share,
                                      scm_nodes=scm_traces[name].graph.number_of_nodes(),
                                      scm_edges=scm_traces[name].graph.number_of_edges())
    timings["postprocess"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0

    graph = nx.DiGraph()
    for gen_idx, generation in enumerate(schema_.generation_order()):
        for name in generation:
            graph.add_node(name, kind=schema_.tables[name].kind, rows=rows[name],
                           node_id=schema_.tables[name].node_id, generation=gen_idx)
    for name, t in schema_.tables.items():
        for fk in t.fkeys:
            if fk.parent != name:
                graph.add_edge(fk.parent, name, fkey_col=fk.column, deferred=fk.deferred)
    priors = {
        "database": {
            "num_tables": len(schema_.tables), "table_layout": schema_.layout, "schema_source": schema_.source,
            "min_timestamp": str(lo.date()), "max_timestamp": str(hi.date()),
            "num_foreign_keys": len(links), **{f"layout_{k}": v for k, v in schema_.layout_params.items()},
        },
        "tables": table_priors,
        "links": {k: {"levels": v.levels, "h_parent": v.h_parent, "h_child": v.h_child,
                      "popularity_law": v.popularity_law, "popularity_param": v.popularity_param,
                      "null_share": v.null_share, **v.summary} for k, v in links.items()},
    }
    trace = Trace(
        schema_graph=graph, table_layout=schema_.layout, table_layout_params=dict(schema_.layout_params),
        links=links, scm=scm_traces, priors=priors, min_timestamp=lo, max_timestamp=hi,
        val_timestamp=val, test_timestamp=test, timings=timings, notes=list(schema_.notes) + notes,
    )
    return Database(tables=tables, config=cfg, seed=int(seed), trace=trace, schema_ddl=schema_.ddl)


def _assemble(cfg, seed, t: TableSpec, n, raw, raw_kinds, labels, links, lo, hi, *, keep_constant=False,
              alternate_keys=frozenset()):
    """Keys, post-processed features and time columns of one table, in its column order.

    ``keep_constant`` keeps columns left with one value (a DDL schema declares them);
    ``alternate_keys`` are feature columns referenced by a foreign key, made unique.
    """
    pp = cfg.postprocess
    rng = streams.stream(seed, streams.POSTPROCESS, t.node_id)
    data: dict[str, object] = {}
    meta: dict[str, ColumnMeta] = {}
    if t.pkey is not None:
        data[t.pkey] = np.arange(n, dtype=np.int64)
        meta[t.pkey] = ColumnMeta("pkey")
    fkeys = {}
    for fk in t.fkeys:
        link = links[f"{t.name}.{fk.column}"]
        idx = link.parent_index
        nulls = int((idx < 0).sum())
        if nulls or link.nullable:  # a paper + v2 mix nullable key: Int64 even without NULL
            col = pd.array(idx, dtype="Int64")
            col[idx < 0] = pd.NA
            data[fk.column] = col
        else:
            data[fk.column] = idx
        meta[fk.column] = ColumnMeta("fkey", missing=nulls)
        fkeys[fk.column] = fk.parent
    missing_rate = pp.missing_rate.sample(rng)
    n_missing = missing_count(missing_rate, n)
    spec_by_name = {c.name: c for c in t.features}
    dropped = []
    for name, values in raw.items():
        kind, _k = raw_kinds[name]
        spec = spec_by_name[name]
        if kind == "numerical":  # kept even when constant, as the authors do
            transform = str(pick(rng, pp.transforms))
            data[name] = set_missing(apply_transform(transform, values), n_missing, rng)
            meta[name] = ColumnMeta("numerical", transform=transform, missing=n_missing)
        elif name in labels:
            lab = labels[name]
            if spec.kind == "boolean":
                data[name] = np.asarray(lab, dtype=bool)[values]
                meta[name] = ColumnMeta("boolean", categories=[False, True])
            elif spec.kind == "text":
                data[name] = pd.array(np.asarray(lab, dtype=object)[values], dtype="string")
                meta[name] = ColumnMeta("text", categories=list(lab))
            else:
                data[name] = categorical(values, lab)
                meta[name] = ColumnMeta("categorical", categories=list(lab))
        else:
            k = raw_kinds[name][1]
            if pp.binarize:
                values = binarize(values)
                if not keep_constant and is_constant(values):
                    dropped.append(name)
                    continue
                data[name] = values
                meta[name] = ColumnMeta("categorical", categories=[False, True], binarized=True)
            else:
                data[name] = categorical(values, range(k))
                meta[name] = ColumnMeta("categorical", categories=list(range(k)))
    for name in sorted(alternate_keys & set(data)):
        if meta[name].kind == "numerical":
            data[name] = np.arange(n, dtype=np.float64)
            meta[name] = ColumnMeta("numerical", note="unique: referenced by a foreign key")
        else:
            data[name] = pd.array([f"{name}_{i}" for i in range(n)], dtype="string")
            meta[name] = ColumnMeta("text", note="unique: referenced by a foreign key")
    times = [c for c in t.features if c.kind == "time"]
    if t.time_col is not None:
        stamps = pd.date_range(lo, hi, periods=n) if n > 1 else pd.DatetimeIndex([lo] * n)
        data[t.time_col] = stamps.values.astype("datetime64[ns]")
        meta[t.time_col] = ColumnMeta("time")
        for c in times:
            if c.name == t.time_col:
                continue
            mean_days = float(rng.uniform(1.0, 90.0))
            lag = pd.to_timedelta(rng.exponential(mean_days, n) * 86400.0 + 1.0, unit="s").values
            data[c.name] = (stamps.values + lag).astype("datetime64[s]").astype("datetime64[ns]")
            meta[c.name] = ColumnMeta("time", note=f"time column {t.time_col} plus a random lag (mean {mean_days:.1f} days)")
    order = [c for c in (t.column_order or ()) if c in data] + [c for c in data if c not in (t.column_order or ())]
    df = pd.DataFrame({c: data[c] for c in order})
    if len(df) != n:
        raise AssertionError(f"{t.name}: built {len(df)} rows, expected {n}")
    priors = {
        "kind": t.kind, "rows": n, "feature_columns": len(t.features),
        "categorical_columns": sum(1 for c in t.features if c.kind != "numerical"),
        "missing_rate": missing_rate, "missing_per_numerical_column": n_missing, "dropped_columns": dropped,
    }
    table = Table(df=df, pkey_col=t.pkey, fkey_col_to_pkey_table=fkeys, time_col=t.time_col, kind=t.kind,
                  columns={c: meta[c] for c in order}, composite_key=tuple(t.composite_key))
    return table, priors


def preview_database(cfg: Config, seed: int, schema: Schema | None = None) -> Database | None:
    """A Database holding only stage 1 (tables, keys, planned columns, row counts, time span).

    The Schema view draws it at once while stages 2-3 run (``pc.sample_stage1``); returns None
    for a config stage 1 cannot sample (and for the v2 design, whose stage 1 is generate_v2's),
    and the app then waits for the full database.
    """
    if cfg.design != "paper":
        return None
    try:
        plan = sample_stage1(cfg, int(seed), schema)
    except ValueError:
        return None
    spec_schema, rows = plan.schema, plan.rows
    lo, hi, val, test = plan.min_timestamp, plan.max_timestamp, plan.val_timestamp, plan.test_timestamp
    order = spec_schema.generation_order()
    generation = {name: i for i, names in enumerate(order) for name in names}
    g = nx.DiGraph()
    tables = {}
    for name in [n for names in order for n in names]:  # generation order, as generate() keeps it
        t = spec_schema.tables[name]
        cols: dict[str, ColumnMeta] = {}
        if t.pkey:
            cols[t.pkey] = ColumnMeta("pkey")
        for fk in t.fkeys:
            cols[fk.column] = ColumnMeta("fkey")
        if t.time_col:
            cols[t.time_col] = ColumnMeta("time")
        for c in t.features:
            cols.setdefault(c.name, ColumnMeta(c.kind, categories=list(c.labels) if c.labels else None))
        n = int(rows.get(name, t.n_rows or 0))
        tables[name] = Table(df=pd.DataFrame(index=pd.RangeIndex(n)), pkey_col=t.pkey,
                             fkey_col_to_pkey_table={fk.column: fk.parent for fk in t.fkeys},
                             time_col=t.time_col, kind=t.kind, columns=cols, composite_key=tuple(t.composite_key))
        g.add_node(name, kind=t.kind, rows=n, node_id=t.node_id, generation=generation.get(name, 0))
    for name, t in spec_schema.tables.items():
        for fk in t.fkeys:
            if fk.parent != name and fk.parent in tables:
                g.add_edge(fk.parent, name)
    trace = Trace(schema_graph=g, table_layout=spec_schema.layout, table_layout_params=dict(spec_schema.layout_params),
                  links={}, scm={}, priors={"database": {"num_tables": len(tables)}, "tables": {}},
                  min_timestamp=lo, max_timestamp=hi, val_timestamp=val, test_timestamp=test,
                  timings={"stage1": 0.0, "total": 0.0}, notes=["stage-1 preview"])
    return Database(tables=tables, config=cfg, seed=int(seed), trace=trace)
