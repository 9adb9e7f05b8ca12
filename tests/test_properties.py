"""Property-based: any valid config generates a valid database; invalid configs name their field.

Configs are drawn from ``plurel_core.prior_specs()``: every knob within its declared bounds, choice
sets as random non-empty subsets of the options. Knobs that only scale the work (tables, rows,
columns, embedding width, HSBM block count, SCM node count) are kept small so that an example takes
a fraction of a second; everything else ranges over its full bounds.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from core_helpers import check_invariants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plurel_core as pc
from plurel_core import samplers

SPECS = {s.path: s for s in pc.prior_specs()}

# Sub-ranges of the bounds for the size knobs (each still inside the declared bounds).
SIZE_CAPS = {
    "schema.num_tables": (1, 5),
    "schema.entity_rows": (1, 40),
    "schema.activity_rows": (1, 60),
    "schema.feature_columns": (1, 5),
    "schema.num_categories": (2, 12),
    "schema.text_categories": (2, 20),
    "links.hsbm_levels": (1, 3),
    "links.hsbm_clusters": (1, 4),
    "scm.emb": (2, 16),
    "scm.mlp_layers": (1, 4),
    "scm.column_node_share": (0.25, 1.0),
    "graphs.layered_depth": (1, 12),
}

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _bounds(spec):
    lo, hi = spec.bounds
    if spec.path in SIZE_CAPS:
        c_lo, c_hi = SIZE_CAPS[spec.path]
        lo, hi = max(lo, c_lo), min(hi, c_hi)
    return lo, hi


def _ordered_pair(elements):
    return st.tuples(elements, elements).map(lambda p: (min(p), max(p)))


def _value(spec):
    if spec.kind == "int_range":
        lo, hi = _bounds(spec)
        return _ordered_pair(st.integers(int(lo), int(hi)))
    if spec.kind == "float_range":
        lo, hi = _bounds(spec)
        return _ordered_pair(st.floats(lo, hi, allow_nan=False, allow_infinity=False))
    if spec.kind == "int":
        lo, hi = _bounds(spec)
        return st.integers(int(lo), int(hi))
    if spec.kind == "float":
        lo, hi = _bounds(spec)
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if spec.kind == "choices":
        return st.lists(st.sampled_from(spec.options), min_size=1, max_size=len(spec.options),
                        unique=True).map(tuple)
    if spec.kind == "bool":
        return st.booleans()
    raise AssertionError(spec.kind)


@st.composite
def valid_configs(draw):
    changes = {}
    for path, spec in SPECS.items():
        if spec.kind == "date" or path in ("schema.val_fraction", "schema.test_fraction"):
            continue
        if draw(st.booleans()) or path in SIZE_CAPS:  # each knob moved or left at its default
            changes[path] = draw(_value(spec))
    start = draw(st.dates(dt.date(1900, 1, 1), dt.date(2090, 1, 1)))
    end = start + dt.timedelta(days=draw(st.integers(1, 20000)))
    changes["schema.start_date"] = start.isoformat()
    changes["schema.end_date"] = end.isoformat()
    val, test = sorted(draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=2)))
    changes["schema.val_fraction"], changes["schema.test_fraction"] = val, test
    return pc.Config().replace(name="property", **changes)


@PROPERTY_SETTINGS
@given(cfg=valid_configs(), seed=st.integers(0, 2**31 - 1))
def test_any_valid_config_generates_a_valid_database(cfg, seed):
    assert pc.Config.from_json(cfg.to_json()) == cfg
    db = pc.generate(cfg, seed, threads=1)
    check_invariants(db, cfg)
    assert db.num_cells <= pc.estimate_cells(cfg, seed)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(cfg=valid_configs(), seed=st.integers(0, 1000))
def test_valid_configs_are_deterministic(cfg, seed):
    from core_helpers import db_digest

    assert db_digest(pc.generate(cfg, seed, threads=1)) == db_digest(pc.generate(cfg, seed, threads=2))


# ---------------------------------------------------------------------------------------------
# Invalid configs


RANGE_SPECS = [s for s in SPECS.values() if s.kind in ("int_range", "float_range")]
NUMBER_SPECS = [s for s in SPECS.values() if s.kind in ("int", "float")]
CHOICE_SPECS = [s for s in SPECS.values() if s.kind == "choices"]


@st.composite
def invalid_change(draw):
    """(path, value) that must be rejected, with the path the error must name."""
    kind = draw(st.sampled_from(["lo_gt_hi", "range_out", "number_out", "empty", "unknown", "duplicate",
                                 "bad_date", "end_before_start", "val_gt_test"]))
    if kind == "lo_gt_hi":
        spec = draw(st.sampled_from(RANGE_SPECS))
        lo, hi = spec.bounds
        if spec.kind == "int_range":
            a = draw(st.integers(int(lo), int(hi) - 1))
            b = draw(st.integers(a + 1, int(hi)))
        else:
            a = draw(st.floats(lo, hi, allow_nan=False, exclude_max=True))
            b = draw(st.floats(a, hi, allow_nan=False, exclude_min=True))
        return {spec.path: (b, a)}, spec.path
    if kind == "range_out":
        spec = draw(st.sampled_from(RANGE_SPECS))
        lo, hi = spec.bounds
        if spec.kind == "int_range":
            bad = draw(st.one_of(st.integers(int(lo) - 10**6, int(lo) - 1), st.integers(int(hi) + 1, int(hi) + 10**6)))
            good = int(lo) if bad > hi else int(hi)
        else:
            bad = draw(st.one_of(st.floats(lo - 1e6, lo, exclude_max=True), st.floats(hi, hi + 1e6, exclude_min=True)))
            good = lo if bad > hi else hi
        pair = (min(bad, good), max(bad, good))
        return {spec.path: pair}, spec.path
    if kind == "number_out":
        spec = draw(st.sampled_from(NUMBER_SPECS))
        lo, hi = spec.bounds
        if spec.kind == "int":
            bad = draw(st.one_of(st.integers(int(lo) - 1000, int(lo) - 1), st.integers(int(hi) + 1, int(hi) + 1000)))
        else:
            bad = draw(st.one_of(st.floats(lo - 1e3, lo, exclude_max=True), st.floats(hi, hi + 1e3, exclude_min=True),
                                 st.just(float("nan"))))
        return {spec.path: bad}, spec.path
    if kind == "empty":
        spec = draw(st.sampled_from(CHOICE_SPECS))
        return {spec.path: ()}, spec.path
    if kind == "unknown":
        spec = draw(st.sampled_from(CHOICE_SPECS))
        if isinstance(spec.options[0], str):
            bad = draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in spec.options))
        else:
            bad = draw(st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: x not in spec.options))
        keep = draw(st.lists(st.sampled_from(spec.options), max_size=3, unique=True))
        return {spec.path: (*keep, bad)}, spec.path
    if kind == "duplicate":
        spec = draw(st.sampled_from(CHOICE_SPECS))
        opt = draw(st.sampled_from(spec.options))
        return {spec.path: (opt, opt)}, spec.path
    if kind == "bad_date":
        path = draw(st.sampled_from(["schema.start_date", "schema.end_date"]))
        bad = draw(st.one_of(st.sampled_from(["2020-13-01", "2021-02-30", "yesterday", "", "2020/01/01", "1e9"]),
                             st.text(max_size=8).filter(lambda s: not _is_iso(s))))
        return {path: bad}, path
    if kind == "end_before_start":
        start = draw(st.dates(dt.date(1950, 1, 1), dt.date(2050, 1, 1)))
        end = start - dt.timedelta(days=draw(st.integers(0, 5000)))
        return {"schema.start_date": start.isoformat(), "schema.end_date": end.isoformat()}, "schema.end_date"
    val = draw(st.floats(0, 1, allow_nan=False, exclude_min=True))
    test = draw(st.floats(0, val, allow_nan=False, exclude_max=True))
    return {"schema.val_fraction": val, "schema.test_fraction": test}, "schema.val_fraction"


def _is_iso(s: str) -> bool:
    try:
        dt.date.fromisoformat(s)
        return True
    except ValueError:
        return False


@settings(max_examples=200, deadline=None, derandomize=True)
@given(case=invalid_change())
def test_invalid_configs_raise_config_error_naming_the_field(case):
    changes, field = case
    with pytest.raises(pc.ConfigError) as err:
        pc.Config().replace(**changes)
    # the field itself, or an element of it (e.g. "graphs.ws_k.0", "schema.num_tables.lo")
    assert err.value.field == field or err.value.field.startswith(field + "."), (changes, err.value.field)
    assert str(err.value).startswith(field)
    # the same error comes through the JSON path
    data = pc.Config().to_dict()
    for path, value in changes.items():
        section, name = path.split(".")
        data[section][name] = list(value) if isinstance(value, tuple) else value
    with pytest.raises(pc.ConfigError) as err2:
        pc.Config.from_dict(data)
    assert err2.value.field == err.value.field


@settings(max_examples=40, deadline=None, derandomize=True)
@given(path=st.text(min_size=1, max_size=20).filter(lambda p: p not in SPECS and p != "name"))
def test_unknown_option_names_raise(path):
    with pytest.raises(pc.ConfigError) as err:
        pc.Config().replace(**{path: 1})
    assert err.value.field == path


# ---------------------------------------------------------------------------------------------
# Extreme corners of the declared bounds, outside the property strategy above


def test_largest_hsbm_within_bounds_generates():
    # links.hsbm_levels <= 10 and links.hsbm_clusters <= 20 are valid; tables are tiny.
    cfg = pc.Config.preset("demo").replace(**{
        "links.hsbm_levels": (10, 10), "links.hsbm_clusters": (20, 20),
        "schema.num_tables": (2, 3), "schema.entity_rows": (5, 10), "schema.activity_rows": (5, 10)})
    db = pc.generate(cfg, 0)
    check_invariants(db, cfg)


@pytest.mark.parametrize(("a", "b"), [(0.01, 0.01), (0.01, 100.0), (100.0, 0.01)])
def test_node_noise_is_a_beta_draw_at_the_bounds(a, b):
    # scm.noise_alpha and scm.noise_beta accept [0.01, 100]: the noise stays a Beta(a, b) / emb value
    x = samplers.beta(a, b, np.random.default_rng(0), (2000, 1000), scale=1 / 1000)
    assert not np.isnan(x).any(), f"{int(np.isnan(x).sum())} NaN cells"
    assert x.min() >= 0 and x.max() <= 1 / 1000


def test_extreme_but_valid_values_generate():
    base = pc.Config.preset("demo").replace(**{"schema.entity_rows": (5, 30), "schema.activity_rows": (5, 30),
                                               "schema.num_tables": (2, 4), "schema.feature_columns": (1, 4)})
    corners = [
        {"postprocess.missing_rate": (0.95, 0.95)},
        {"postprocess.missing_rate": (0.0, 0.0)},
        {"schema.categorical_share": 0.0},
        {"schema.categorical_share": 1.0, "postprocess.binarize": False, "schema.num_categories": (200, 200)},
        {"scm.weight_density": (0.01, 0.01)},
        {"scm.activation_log_scale": (5.0, 5.0), "scm.aggregations": ("product",)},
        {"scm.activation_log_scale": (-5.0, -5.0)},
        {"scm.emb": 2, "scm.mlp_layers": (1, 1)},
        {"graphs.er_p": (1.0, 1.0), "graphs.layered_edge_dropout": 1.0, "graphs.ba_m": 10},
        {"graphs.er_p": (0.0, 0.0), "graphs.ws_rewire": (1.0, 1.0), "graphs.ws_k": (8,)},
        {"links.popularity_laws": ("zipf",), "links.popularity_alpha": (5.0, 5.0)},
        {"links.popularity_laws": ("lognormal",), "links.popularity_sigma": (5.0, 5.0)},
        {"links.hsbm_diagonal": 0.0, "links.hsbm_off_diagonal": (0.0, 0.0)},
        {"scm.ts_ar_rho": (0.99, 0.99), "scm.ts_activity_noise": 100.0, "scm.source_laws": ("ts",)},
        {"schema.feature_columns_exponent": 5.0},
        {"schema.start_date": "2000-01-01", "schema.end_date": "2000-01-02"},
        {"schema.val_fraction": 0.0, "schema.test_fraction": 0.0},
        {"schema.val_fraction": 1.0, "schema.test_fraction": 1.0},
    ]
    for change in corners:
        cfg = base.replace(**change)
        for seed in range(2):
            try:
                db = pc.generate(cfg, seed)
            except Exception as err:  # report which corner broke
                raise AssertionError(f"{change} seed {seed}: {type(err).__name__}: {err}") from err
            check_invariants(db, cfg)
            for t in db.tables.values():
                num = t.df.select_dtypes("number").to_numpy(dtype=np.float64)
                assert not np.isinf(num).any(), change


@pytest.mark.parametrize(("start", "end"), [("1500-01-01", "1600-01-01"), ("2262-01-01", "2400-01-01")])
def test_dates_outside_the_nanosecond_range(start, end):
    """A span the config accepts either is rejected by validation or gives timestamps inside it.

    datetime64[ns] covers 1677-09-21 .. 2262-04-11; the date fields accept any ISO date.
    """
    try:
        cfg = pc.Config.preset("demo").replace(**{"schema.start_date": start, "schema.end_date": end})
    except pc.ConfigError as err:
        assert err.field in ("schema.start_date", "schema.end_date")
        return
    for seed in range(3):
        db = pc.generate(cfg, seed)
        for name, t in db.tables.items():
            if t.time_col:
                ts = t.df[t.time_col]
                assert ts.min() >= db.trace.min_timestamp and ts.max() <= db.trace.max_timestamp, (
                    seed, name, ts.iloc[0], db.trace.min_timestamp)


@pytest.mark.parametrize("start", ["2020-W01-1", "2020W011"])
def test_dates_accepted_by_validation_are_usable(start):
    """ISO week dates pass ``date.fromisoformat`` (Python 3.11); generation must accept them too."""
    try:
        cfg = pc.Config.preset("demo").replace(**{"schema.start_date": start, "schema.end_date": "2021-01-01"})
    except pc.ConfigError as err:
        assert err.field == "schema.start_date"
        return
    db = pc.generate(cfg, 0)
    assert db.trace.min_timestamp >= pd.Timestamp(dt.date.fromisoformat(start))


def test_missing_rate_extremes_are_exact():
    cfg = pc.Config.preset("demo").replace(**{"postprocess.missing_rate": (0.5, 0.5), "postprocess.binarize": False})
    db = pc.generate(cfg, 0)
    for t in db.tables.values():
        for c in t.feature_cols:
            if t.columns[c].kind == "numerical":
                assert int(t.df[c].isna().sum()) == math.floor(0.5 * len(t.df))
