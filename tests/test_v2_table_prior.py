"""The v2 TablePrior: the authors' defaults, warping in declaration order, dict round trip (spec §3, §4)."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pytest

from plurel_core.v2.layouts import LayoutSpec, sample_layout
from plurel_core.v2.ranges import Choices, IntegersRange, LogIntegersRange, LogRange, Range
from plurel_core.v2.table_prior import NODE_LAYOUTS, NOT_WARPED, PriorError, TablePrior

DEFAULT = TablePrior()
FIXED = {"node_categorical_share": 0.3, "node_nested_share": 0.5, "root_series_share": 0.3,
         "fourier_frequency_count": 16, "column_binned_share": 0.2, "column_missing_share": 0.3,
         "column_missing_structured_share": 0.5}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_defaults_are_the_authors():
    p = DEFAULT
    assert p.node_count == LogIntegersRange(3, 16) and isinstance(p.node_count, LogIntegersRange)
    assert p.node_layouts.options == NODE_LAYOUTS and len(NODE_LAYOUTS) == 10
    assert [x.label for x in NODE_LAYOUTS] == [
        "RandomCauchy(offset=0)", "RandomCauchy(offset=2)", "BarabasiAlbert(m=2, sink_dropout=0.4)",
        "Layered(depth=3, dropout=0.2)", "ErdosRenyi(p=0.3)", "ErdosRenyi(p=0.6)", "Layered(depth=6, dropout=0.1)",
        "RandomTree()", "ReverseRandomTree()", "WattsStrogatz(k=2, rewire=0.2)"]
    for spec in NODE_LAYOUTS:  # every option is a layout the schema layer draws
        g, _ = sample_layout(spec, 8, rng(0))
        assert g.number_of_nodes() == 8 and all(u < v for u, v in g.edges)
    assert dict(zip(p.node_ops.options, p.node_ops.weights)) == {
        "sum": 6, "product": 1, "max": 1, "min": 1, "logsumexp": 1, "concat": 2}
    assert p.node_width == LogIntegersRange(1, 4) and p.node_class_count == IntegersRange(2, 10)
    assert p.node_noise_std == LogRange(0.001, 0.5) and p.key_reader_share == Range(0.1, 1.0)
    assert p.edge_families.options == ("linear", "lookup", "matrix", "nearest", "mlp", "tree", "fourier", "quadratic")
    assert set(p.edge_families.weights) == {1.0}
    assert len(p.root_noise.options) == 10 and set(p.root_noise.weights) == {1.0}
    assert (p.series_trend_alpha, p.series_trend_scale, p.series_cycle_periods) == (
        Range(0, 2), Range(-1.5, 1.5), LogRange(1, 12))
    assert (p.series_cycle_scale, p.series_rho, p.series_noise_std) == (Range(0, 1), Range(0, 0.9), LogRange(0.1, 1))
    assert (p.mlp_hidden_width, p.mlp_layer_count, p.mlp_weight_scale) == (
        LogIntegersRange(2, 16), IntegersRange(1, 3), LogRange(0.1, 3))
    assert (p.tree_count, p.tree_depth) == (LogIntegersRange(1, 8), IntegersRange(1, 4))
    assert p.column_count == IntegersRange(3, 12) and p.column_bin_count == IntegersRange(2, 10)
    assert p.column_missing_rate == Range(0.01, 0.1) and p.column_binning.options == ("normal", "empirical")
    assert p.column_marginals.weights == (3, 1, 1, 1, 1, 1, 1, 1, 0.5)
    assert p.time_calendars.options == ("business", "workweek", "leisure", "always")
    assert p.aggregate_hows.options == ("count", "sum", "mean", "max", "min")
    for name, value in FIXED.items():
        assert getattr(p, name) == value


def test_warp_redraws_every_range_and_choice_in_declaration_order():
    names = [f.name for f in fields(TablePrior)]
    warped = TablePrior.warped_fields()
    assert list(warped) == [n for n in names if n not in FIXED and n not in NOT_WARPED]
    assert len(warped) == 26
    w = DEFAULT.warp(rng(1))
    # by hand: the same stream, field by field in order
    r = rng(1)
    for name in warped:
        expected = getattr(DEFAULT, name).warped(r)
        got = getattr(w, name)
        if isinstance(got, Choices):
            assert got == expected
        else:
            assert got.warp == expected.warp and got.warp is not None
    for name, value in FIXED.items():
        assert getattr(w, name) == value
    assert w.aggregate_hows == DEFAULT.aggregate_hows
    assert DEFAULT.node_count.warp is None  # the base prior is left alone


def test_warp_is_deterministic_and_differs_between_tables():
    a, b, c = DEFAULT.warp(rng(2)), DEFAULT.warp(rng(2)), DEFAULT.warp(rng(3))
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != c.to_dict()


def test_huge_concentration_gives_the_mean_and_tiny_one_spreads_out():
    tight = DEFAULT.warp(rng(4), kappa=(1e8, 1e8))
    r = rng(5)
    for name in ("node_count", "column_count", "tree_depth"):
        prior = getattr(tight, name)
        draws = prior.sample(r, 500)
        target = prior.from_u(prior.warp.m)
        assert np.mean(draws == target) > 0.97, name  # almost every draw is the mean's value
    for name in ("node_noise_std", "key_reader_share", "series_rho"):
        prior = getattr(tight, name)
        draws = prior.sample(r, 500)
        assert np.abs(draws - prior.from_u(prior.warp.m)).max() < 1e-3 * (prior.hi - prior.lo), name
    # Dirichlet(huge): the warped weights are the base weights
    np.testing.assert_allclose(tight.node_ops.probabilities, DEFAULT.node_ops.probabilities, atol=2e-3)
    np.testing.assert_allclose(tight.column_marginals.probabilities, DEFAULT.column_marginals.probabilities, atol=2e-3)

    loose = DEFAULT.warp(rng(6), kappa=(0.01, 0.01))
    share = loose.key_reader_share.sample(r, 2000)
    ends = np.mean((share < 0.1 + 0.045) | (share > 1.0 - 0.045))
    # Beta(.01 m, .01 (1 - m)): nearly all mass at the two ends, both of them reached
    assert ends > 0.95 and share.min() < 0.101 and share.max() > 0.999 and share.std() > 0.2
    counts = loose.node_count.sample(r, 2000)
    assert np.isin(counts, (3, 16)).mean() > 0.9 and counts.std() > 3
    assert max(loose.edge_families.probabilities) > 0.99  # Dirichlet(tiny): nearly one-hot


def test_dict_round_trip_through_json_keeps_warps():
    w = DEFAULT.warp(rng(7))
    data = json.loads(json.dumps(w.to_dict()))
    back = TablePrior.from_dict(data)
    assert back == w
    for name in TablePrior.warped_fields():
        if not isinstance(getattr(w, name), Choices):
            assert getattr(back, name).warp == getattr(w, name).warp
    assert back.node_layouts.options[3] == LayoutSpec.of("Layered", depth=3, dropout=0.2)
    assert data["node_count"] == {"type": "LogIntegersRange", "lo": 3, "hi": 16,
                                  "warp": {"m": w.node_count.warp.m, "kappa": w.node_count.warp.kappa}}
    assert TablePrior.from_dict(DEFAULT.to_dict()) == DEFAULT
    partial = TablePrior.from_dict({"node_categorical_share": 0.0,
                                    "column_count": {"type": "IntegersRange", "lo": 1, "hi": 2}})
    assert partial == replace(DEFAULT, node_categorical_share=0.0, column_count=IntegersRange(1, 2))


def test_invalid_priors_name_their_field():
    cases = [
        ({"node_count": LogRange(3, 16)}, "node_count"),
        ({"node_class_count": IntegersRange(1, 5)}, "node_class_count"),
        ({"key_reader_share": Range(0.1, 1.5)}, "key_reader_share"),
        ({"node_categorical_share": 1.2}, "node_categorical_share"),
        ({"fourier_frequency_count": 0}, "fourier_frequency_count"),
        ({"node_ops": Choices(("sum", "median"))}, "node_ops"),
        ({"root_noise": Choices(("cauchy",))}, "root_noise"),
        ({"node_layouts": Choices((LayoutSpec.of("Spiral"),))}, "node_layouts"),
        ({"node_layouts": Choices((LayoutSpec.of("Layered", depth=0),))}, "node_layouts"),
        ({"node_layouts": Choices(("Layered",))}, "node_layouts"),
        ({"edge_families": Choices(("linear", "lookup", "nearest"))}, "edge_families"),
        ({"edge_families": Choices(("linear", "matrix"), (1.0, 0.0))}, "edge_families"),
        ({"time_calendars": "business"}, "time_calendars"),
    ]
    for change, field in cases:
        with pytest.raises(PriorError) as err:
            replace(DEFAULT, **change)
        assert err.value.field == field, change
    with pytest.raises(PriorError, match="unknown TablePrior field"):
        TablePrior.from_dict({"node_cnt": 3})
    with pytest.raises(PriorError) as err:
        TablePrior.from_dict({"column_count": {"type": "Gaussian", "lo": 1, "hi": 2}})
    assert err.value.field == "column_count"
