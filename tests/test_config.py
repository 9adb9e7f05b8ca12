"""Config: the paper defaults of PLUREL_SPEC.md, presets, JSON round trips, dotted edits, errors."""

from __future__ import annotations

import json
import math

import pytest

import plurel_core as pc
from plurel_core.config import FloatRange, IntRange

ALL_SEVEN = ("ErdosRenyi", "BarabasiAlbert", "RandomTree", "ReverseRandomTree", "WattsStrogatz", "Layered",
             "RandomCauchy")
TWENTY_NINE = {
    "relu", "elu", "selu", "silu", "softsign", "tanh", "sigmoid", "hardswish", "mish", "leaky_relu", "gelu",
    "softplus", "hardsigmoid", "hardtanh", "celu", "tanhshrink", "rrelu", "logsigmoid", "softshrink", "hardshrink",
    "identity", "abs", "sin", "cos", "sign", "clamp", "signed_log1p", "sqrt_smooth", "sine_sum",
}

# Every default of the spec ("Defaults summary" and the stage sections), as (path, value).
SPEC_DEFAULTS = [
    ("schema.num_tables", IntRange(lo=3, hi=20)),
    ("schema.table_layouts", ("BarabasiAlbert", "ReverseRandomTree", "WattsStrogatz")),
    ("schema.entity_rows", IntRange(lo=500, hi=1000)),
    ("schema.activity_rows", IntRange(lo=2000, hi=5000)),
    ("schema.feature_columns", IntRange(lo=3, hi=40)),
    ("schema.feature_columns_exponent", 1.0),
    ("schema.categorical_share", 0.5),
    ("schema.num_categories", IntRange(lo=2, hi=10)),
    ("schema.start_date", "1990-01-01"),
    ("schema.end_date", "2025-01-01"),
    ("schema.val_fraction", 0.8),
    ("schema.test_fraction", 0.9),
    ("graphs.edge_weight_laws", ("gaussian", "lognormal", "cauchy", "uniform")),
    ("graphs.er_p", FloatRange(lo=0.3, hi=0.8)),
    ("graphs.ba_m", 2),
    ("graphs.ba_sink_edge_dropout", 0.4),
    ("graphs.ba_leaf_flip", 0.0),
    ("graphs.ws_k", (2, 4)),
    ("graphs.ws_rewire", FloatRange(lo=0.1, hi=0.3)),
    ("graphs.layered_depth", IntRange(lo=2, hi=8)),
    ("graphs.layered_edge_dropout", 0.1),
    ("links.hsbm_levels", IntRange(lo=1, hi=5)),
    ("links.hsbm_clusters", IntRange(lo=1, hi=3)),
    ("links.hsbm_diagonal", 0.9),
    ("links.hsbm_off_diagonal", FloatRange(lo=0.001, hi=0.002)),
    ("links.popularity_laws", ("constant",)),
    ("scm.scm_layouts", ALL_SEVEN),
    ("scm.column_node_share", FloatRange(lo=0.3, hi=0.9)),
    ("scm.emb", 32),
    ("scm.mlp_layers", IntRange(lo=2, hi=4)),
    ("scm.weight_density", FloatRange(lo=0.3, hi=1.0)),
    ("scm.initializations", ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                             "truncated_normal", "sparse")),
    ("scm.activations", tuple(sorted(TWENTY_NINE))),
    ("scm.activation_log_scale", FloatRange(lo=-1.0, hi=1.0)),
    ("scm.noise_alpha", FloatRange(lo=0.5, hi=5.0)),
    ("scm.noise_beta", FloatRange(lo=0.5, hi=5.0)),
    ("scm.aggregations", ("sum", "max", "product", "logsumexp")),
    ("scm.propagation_modes", ("type_eager", "type_lazy")),
    ("scm.lazy_permute_prob", FloatRange(lo=0.3, hi=1.0)),
    ("scm.lazy_reverse_prob", FloatRange(lo=0.2, hi=0.8)),
    ("scm.source_laws", ("ts", "uniform", "gaussian", "beta", "mixed")),
    ("scm.source_scales", (0.01, 0.1, 1.0, 10.0, 100.0)),
    ("scm.source_beta_ab", FloatRange(lo=0.5, hi=5.0)),
    ("scm.ts_trend_exponent", FloatRange(lo=0.0, hi=2.0)),
    ("scm.ts_ar_rho", FloatRange(lo=0.0, hi=0.9)),
    ("scm.ts_period_fractions", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)),
    ("scm.ts_activity_noise", 0.05),
    ("scm.ts_entity_noise", 1.0),
    ("postprocess.transforms", ("identity", "rank_uniform", "signed_log1p", "signed_sqrt", "standardize")),
    ("postprocess.missing_rate", FloatRange(lo=0.01, hi=0.1)),
    ("postprocess.binarize", True),
]


def test_default_config_is_the_paper_preset():
    assert pc.Config() == pc.Config.preset("paper")
    assert pc.Config().name == "paper"
    assert pc.Config().to_json() == pc.Config.preset("paper").to_json()


@pytest.mark.parametrize(("path", "expected"), SPEC_DEFAULTS, ids=[p for p, _ in SPEC_DEFAULTS])
def test_paper_default_matches_spec(path, expected):
    value = pc.Config().get(path)
    if isinstance(expected, tuple):
        assert set(value) == set(expected) and len(value) == len(expected), path
    else:
        assert value == expected, path


def test_activation_and_layout_sets_are_complete():
    cfg = pc.Config()
    assert set(cfg.scm.activations) == TWENTY_NINE and len(cfg.scm.activations) == 29
    assert set(cfg.scm.scm_layouts) == set(ALL_SEVEN)
    # Every layout named by the spec is an allowed choice of the table layout prior too.
    spec = {s.path: s for s in pc.prior_specs()}
    assert set(ALL_SEVEN) <= set(spec["schema.table_layouts"].options)
    assert set(spec["scm.activations"].options) == TWENTY_NINE


def test_every_spec_default_is_covered():
    # Guard the table above against silent additions: every knob either appears or is an extension.
    covered = {p for p, _ in SPEC_DEFAULTS}
    extensions = {"schema.text_categories", "links.popularity_sigma", "links.popularity_alpha", "links.null_fk_share",
                  "links.link_models", "links.v2_nullable_fks"}  # the last two: the paper + v2 mix, off by default
    all_paths = {s.path for s in pc.prior_specs()}
    assert all_paths == covered | extensions


def test_preset_names():
    names = pc.Config.preset_names()
    assert "paper" in names and "demo" in names
    assert len(names) >= 4
    assert len(set(names)) == len(names)
    for name in names:
        cfg = pc.Config.preset(name)
        assert cfg.name == name
        assert isinstance(pc.Config.preset_description(name), str) and pc.Config.preset_description(name)
    digests = {pc.Config.preset(n).digest() for n in names}
    assert len(digests) == len(names), "presets differ from each other"


def test_demo_preset_is_small():
    demo = pc.Config.preset("demo")
    paper = pc.Config()
    assert demo.schema.num_tables.hi < paper.schema.num_tables.hi
    assert demo.schema.entity_rows.hi < paper.schema.entity_rows.lo
    assert demo.schema.activity_rows.hi < paper.schema.activity_rows.lo
    assert demo.schema.feature_columns.hi < paper.schema.feature_columns.hi
    # everything else stays at the paper's priors
    assert demo.scm == paper.scm and demo.links == paper.links and demo.postprocess == paper.postprocess


def test_unknown_preset():
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.preset("nonexistent")
    assert err.value.field == "preset"
    assert "nonexistent" in str(err.value)


@pytest.mark.parametrize("name", pc.Config.preset_names())
def test_json_round_trip(name):
    cfg = pc.Config.preset(name)
    text = cfg.to_json()
    back = pc.Config.from_json(text)
    assert back == cfg
    assert back.to_json() == text
    assert back.digest() == cfg.digest()
    assert pc.Config.from_dict(cfg.to_dict()) == cfg
    assert pc.Config.from_json(cfg.to_json(indent=None)) == cfg
    assert pc.Config.from_json(text.encode()) == cfg
    # the ZIP's config.json wraps the config with its seed
    wrapped = json.dumps({"config": cfg.to_dict(), "seed": 7})
    assert pc.Config.from_json(wrapped) == cfg
    # plain JSON types only
    assert json.loads(text) == cfg.to_dict()


def test_digest_is_stable_and_sensitive():
    a = pc.Config()
    assert len(a.digest()) == 8 and all(c in "0123456789abcdef" for c in a.digest())
    assert a.digest() == pc.Config().digest()
    assert a.replace(**{"scm.emb": 16}).digest() != a.digest()


def test_replace_with_dotted_paths():
    cfg = pc.Config()
    new = cfg.replace(**{"schema.num_tables": (3, 5), "scm.activations": ("relu", "tanh"),
                         "graphs.ba_m": 3, "postprocess.binarize": False, "links.hsbm_diagonal": 0.5,
                         "graphs.er_p": FloatRange(lo=0.4, hi=0.4), "name": "custom"})
    assert new.schema.num_tables == IntRange(lo=3, hi=5)
    assert new.get("schema.num_tables") == IntRange(lo=3, hi=5)
    assert new.scm.activations == ("relu", "tanh")
    assert new.graphs.ba_m == 3
    assert new.postprocess.binarize is False
    assert new.links.hsbm_diagonal == 0.5
    assert new.graphs.er_p == FloatRange(lo=0.4, hi=0.4)
    assert new.name == "custom"
    # the original is untouched and frozen
    assert cfg == pc.Config()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError type
        cfg.schema.num_tables = IntRange(lo=1, hi=2)
    # a number is accepted as a degenerate range; lists as tuples
    assert cfg.replace(**{"schema.num_tables": 4}).schema.num_tables == IntRange(lo=4, hi=4)
    assert cfg.replace(**{"scm.aggregations": ["sum"]}).scm.aggregations == ("sum",)
    # unchanged sections compare equal
    assert new.scm.emb == cfg.scm.emb and new.links.hsbm_levels == cfg.links.hsbm_levels


def test_get_unknown_paths():
    cfg = pc.Config()
    for path in ("schema.nope", "nope.num_tables", "num_tables", "schema.num_tables.lo"):
        with pytest.raises(pc.ConfigError) as err:
            cfg.get(path)
        assert err.value.field == path


def _err(**changes) -> pc.ConfigError:
    with pytest.raises(pc.ConfigError) as err:
        pc.Config().replace(**changes)
    assert isinstance(err.value, ValueError)
    return err.value


@pytest.mark.parametrize(
    ("path", "value", "fragments"),
    [
        ("schema.num_tables", (6, 5), ["6", "5", "greater"]),
        ("schema.num_tables", (0, 5), ["0", "[1, 100]"]),
        ("schema.num_tables", (1, 101), ["101", "[1, 100]"]),
        ("graphs.er_p", (0.2, 1.5), ["1.5", "[0.0, 1.0]"]),
        ("graphs.ba_m", 0, ["0", "[1, 10]"]),
        ("schema.categorical_share", -0.1, ["-0.1", "[0.0, 1.0]"]),
        ("links.hsbm_levels", (1, 11), ["11", "[1, 10]"]),
        ("postprocess.missing_rate", (0.5, 0.99), ["0.99", "[0.0, 0.95]"]),
        ("scm.column_node_share", (0.0, 0.5), ["0.0", "[0.01, 1.0]"]),
        ("schema.table_layouts", (), ["at least one"]),
        ("scm.activations", ("relu", "swish"), ["swish", "relu"]),
        ("graphs.ws_k", (3,), ["3", "2, 4, 6, 8"]),
        ("scm.source_scales", (0.5,), ["0.5"]),
        ("scm.aggregations", ("sum", "sum"), ["duplicate"]),
        ("schema.start_date", "2020-13-01", ["2020-13-01", "ISO"]),
        ("schema.end_date", "yesterday", ["yesterday"]),
        ("schema.end_date", "1989-12-31", ["1989-12-31", "1990-01-01"]),
        ("schema.val_fraction", 0.95, ["0.95", "0.9"]),
        ("graphs.ba_m", 2.5, []),
        ("postprocess.binarize", "maybe", []),
    ],
)
def test_errors_name_field_value_and_range(path, value, fragments):
    err = _err(**{path: value})
    assert err.field == path
    assert str(err).startswith(f"{path}: ")
    for frag in fragments:
        assert frag in err.message, (frag, err.message)


def test_error_on_unknown_fields_and_bad_json():
    assert _err(**{"schema.nope": 1}).field == "schema.nope"
    assert _err(**{"nope.x": 1}).field == "nope.x"
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.from_json('{"schema": {"bogus": 1}}')
    assert err.value.field == "schema.bogus"
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.from_json("{not json")
    assert err.value.field == "config"
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.from_json("[1, 2]")
    assert err.value.field == "config"
    with pytest.raises(pc.ConfigError) as err:
        pc.Config.from_json('{"config": {"schema": {"num_tables": [9, 2]}}, "seed": 3}')
    assert err.value.field == "schema.num_tables"


def test_prior_specs_describe_every_knob():
    specs = pc.prior_specs()
    paths = [s.path for s in specs]
    assert len(paths) == len(set(paths))
    cfg = pc.Config()
    kinds = {"int_range", "float_range", "choices", "int", "float", "bool", "date"}
    for s in specs:
        assert s.kind in kinds
        assert s.path == f"{s.section}.{s.field}"
        assert s.label
        value = cfg.get(s.path)  # every spec is a real field
        if s.kind in ("int_range", "float_range"):
            lo, hi = s.bounds
            assert lo <= value.lo <= value.hi <= hi, s.path
            assert isinstance(value, IntRange if s.kind == "int_range" else FloatRange)
        elif s.kind in ("int", "float"):
            lo, hi = s.bounds
            assert lo <= value <= hi, s.path
        elif s.kind == "choices":
            assert set(value) <= set(s.options) and len(value) >= 1, s.path
        elif s.kind == "bool":
            assert isinstance(value, bool)
        elif s.kind == "date":
            assert len(value) == 10 and value[4] == "-" and value[7] == "-"
    # the bounds are enforced exactly at their ends
    for s in specs:
        if s.kind == "int_range":
            lo, hi = int(s.bounds[0]), int(s.bounds[1])
            ok = cfg.replace(**{s.path: (lo, hi)})
            assert ok.get(s.path) == IntRange(lo=lo, hi=hi)
            assert _err(**{s.path: (lo - 1, hi)}).field == s.path
            assert _err(**{s.path: (lo, hi + 1)}).field == s.path
        elif s.kind == "float_range":
            lo, hi = s.bounds
            assert cfg.replace(**{s.path: (lo, hi)}).get(s.path) == FloatRange(lo=lo, hi=hi)
            assert _err(**{s.path: (lo - 0.01, hi)}).field == s.path
            assert _err(**{s.path: (math.nextafter(hi, math.inf), math.nextafter(hi, math.inf))}).field == s.path


def test_range_sampling_is_inclusive_and_uniform():
    import numpy as np

    rng = np.random.default_rng(0)
    draws = np.array([IntRange(lo=2, hi=4).sample(rng) for _ in range(3000)])
    assert set(np.unique(draws)) == {2, 3, 4}
    counts = np.bincount(draws)[2:]
    assert np.all(np.abs(counts / 3000 - 1 / 3) < 0.04)
    f = np.array([FloatRange(lo=0.5, hi=1.5).sample(rng) for _ in range(3000)])
    assert f.min() >= 0.5 and f.max() <= 1.5 and abs(f.mean() - 1.0) < 0.03
    assert FloatRange(lo=0.7, hi=0.7).sample(rng) == 0.7
