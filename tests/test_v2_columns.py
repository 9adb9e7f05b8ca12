"""v2 columns: marginals by rank mapping, binning, categorical columns, missingness (spec §3 item 12)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from plurel_core.v2 import columns as C
from plurel_core.v2.nodes import draw_indicator, evaluate_node
from plurel_core.v2.ranges import Choices, IntegersRange, Range
from plurel_core.v2.table_prior import TablePrior

PRIOR = TablePrior()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _mixture_cdf(x):
    return 0.97 * stats.norm.cdf(x) + 0.03 * stats.norm.cdf(x, 0.0, 8.0)


TARGETS = {
    "normal": stats.norm().cdf,
    "uniform": stats.uniform().cdf,
    "lognormal": stats.lognorm(1.0).cdf,
    "lomax": stats.lomax(2.0).cdf,
    "exponential": stats.expon().cdf,
    "outliers": _mixture_cdf,
}
ZERO_INFLATED = {"zero_inflated_30": 0.3, "zero_inflated_70": 0.7}


def _latent(n: int = 20000, seed: int = 1) -> np.ndarray:
    x = rng(seed).standard_t(3, n) * 4.0 + 10.0  # any continuous latent: the marginal does not care
    x[rng(seed + 1).random(n) < 0.05] = np.nan
    return x


def _check_order_and_nans(latent, out):
    ok = ~np.isnan(latent)
    np.testing.assert_array_equal(np.isnan(out), ~ok)
    order = np.argsort(latent[ok], kind="stable")
    assert (np.diff(out[ok][order]) >= 0).all()  # a non-decreasing function of the latent


def test_marginal_registry_and_default_weights():
    assert C.MARGINAL_NAMES == ("none", "normal", "uniform", "lognormal", "lomax", "exponential",
                                "zero_inflated_30", "zero_inflated_70", "outliers")
    assert len(C.MARGINAL_WEIGHTS) == len(C.MARGINAL_NAMES) and C.MARGINAL_WEIGHTS[0] == 3.0
    assert C.MARGINAL_WEIGHTS[-1] == 0.5 and set(C.MARGINAL_LABELS) == set(C.MARGINALS)


@pytest.mark.parametrize("name", list(TARGETS))
def test_marginal_reproduces_its_target_and_keeps_order_and_nans(name):
    latent = _latent()
    out = C.apply_marginal(latent, name, rng(3))
    _check_order_and_nans(latent, out)
    assert stats.kstest(out[~np.isnan(out)], TARGETS[name]).pvalue > 1e-3


@pytest.mark.parametrize("name", list(ZERO_INFLATED))
def test_zero_inflated_marginal(name):
    share = ZERO_INFLATED[name]
    latent = _latent(seed=4)
    out = C.apply_marginal(latent, name, rng(5))
    _check_order_and_nans(latent, out)
    values = out[~np.isnan(out)]
    zeros = values == 0.0
    assert abs(zeros.mean() - share) < 4 * np.sqrt(share * (1 - share) / len(values))
    assert stats.kstest(values[~zeros], "expon").pvalue > 1e-3
    # the zeros sit at the bottom of the latent's order
    ok = ~np.isnan(latent)
    assert latent[ok][zeros].max() <= latent[ok][~zeros].min()


def test_none_keeps_the_latent_and_ties_share_a_value():
    latent = _latent(seed=6)
    out = C.apply_marginal(latent, "none", rng(7))
    np.testing.assert_array_equal(out, latent)
    assert out is not latent
    tied = np.array([0.5, 0.5, -1.0, 2.0, 0.5, np.nan])
    mapped = C.apply_marginal(tied, "normal", rng(8))
    assert mapped[0] == mapped[1] == mapped[4] and mapped[2] < mapped[0] < mapped[3] and np.isnan(mapped[5])
    with pytest.raises(ValueError, match="marginal"):
        C.apply_marginal(tied, "cauchy", rng())


def test_rank_map_is_deterministic_and_uses_exactly_the_marginal_draws():
    latent = rng(9).normal(size=1000)
    a = C.apply_marginal(latent, "lognormal", rng(10))
    np.testing.assert_array_equal(a, C.apply_marginal(latent, "lognormal", rng(10)))
    np.testing.assert_array_equal(np.sort(a), np.sort(rng(10).lognormal(0.0, 1.0, 1000)))


def test_normal_binning_gives_k_bins_with_the_drawn_shares_on_a_standard_normal():
    prior = replace(PRIOR, column_bin_count=IntegersRange(5, 5), column_binning=Choices(("normal",)))
    b = C.draw_binning(prior, rng(11))
    assert b.k == 5 and b.method == "normal" and np.isclose(b.probabilities.sum(), 1.0)
    latent = rng(12).normal(size=50000)
    latent[:100] = np.nan
    col = C.binned_column(latent, b)
    assert isinstance(col, pd.Categorical) and list(col.categories) == ["c0", "c1", "c2", "c3", "c4"]
    assert col.isna().sum() == 100
    counts = pd.Series(col).value_counts().reindex(col.categories).to_numpy()
    assert stats.chisquare(counts, b.probabilities * counts.sum()).pvalue > 1e-3
    ks = {C.draw_binning(PRIOR, rng(s)).k for s in range(300)}
    assert ks == set(range(2, 11))


def test_empirical_binning_gives_the_shares_exactly_by_quantile():
    prior = replace(PRIOR, column_bin_count=IntegersRange(7, 7), column_binning=Choices(("empirical",)))
    b = C.draw_binning(prior, rng(13))
    assert b.method == "empirical" and b.k == 7
    latent = rng(14).lognormal(2.0, 1.5, 30001)  # far from normal: normal edges would miss the shares
    codes = b.codes(latent)
    counts = np.bincount(codes, minlength=7)
    assert (np.abs(counts - b.probabilities * len(latent)) <= 2).all()
    normal = C.Binning(b.probabilities, "normal").codes(latent)
    assert np.abs(np.bincount(normal, minlength=7) - b.probabilities * len(latent)).max() > 100
    methods = [C.draw_binning(PRIOR, rng(s)).method for s in range(400)]
    assert 0.4 < methods.count("normal") / 400 < 0.6


def test_categorical_column_from_one_hot_and_all_zero_rows_missing():
    onehot = np.eye(4)[rng(15).integers(4, size=200)]
    onehot[[3, 50]] = 0.0  # a null FK copied through
    col = C.categorical_column(onehot)
    assert list(col.categories) == ["c0", "c1", "c2", "c3"]
    assert col.isna().sum() == 2 and pd.isna(col[3]) and pd.isna(col[50])
    ok = onehot.any(1)
    np.testing.assert_array_equal(col.codes[ok], onehot[ok].argmax(1))
    assert all(isinstance(c, str) for c in col.categories)


def test_mcar_mask_rate():
    mask = C.mcar_mask(100000, 0.07, rng(16))
    assert abs(mask.mean() - 0.07) < 4 * np.sqrt(0.07 * 0.93 / 100000)
    with pytest.raises(ValueError, match="rate"):
        C.mcar_mask(10, 1.0, rng())


def test_structured_missingness_masks_exactly_where_the_indicator_fires():
    n = 20000
    parent = rng(17).normal(size=(n, 2))
    spec = draw_indicator(0.2, 2, replace(PRIOR, edge_families=Choices(("matrix",))), rng(18))
    indicator = evaluate_node(spec, [parent], rng(19))
    fires = indicator[:, 1] == 1.0
    assert 0.05 < fires.mean() < 0.5
    np.testing.assert_array_equal(C.structured_mask(indicator), fires)
    plan = C.ColumnPlan(0, "numeric", 1, marginal="uniform", missing="structured", missing_rate=0.2, indicator="m0")
    values = C.observe_column(plan, parent, rng(20), indicator=indicator)
    np.testing.assert_array_equal(np.isnan(values), fires)
    binned = C.ColumnPlan(0, "binned", 0, 3, C.Binning(np.array([0.2, 0.3, 0.5])), missing="structured",
                          missing_rate=0.2, indicator="m0")
    cat = C.observe_column(binned, parent, rng(21), indicator=indicator)
    np.testing.assert_array_equal(cat.isna(), fires)
    # the indicator depends on its parent: masked rows differ from the others in the parent's value
    projection = parent @ (spec.edges[0].matrix[:, 1] - spec.edges[0].matrix[:, 0])
    assert projection[fires].mean() > projection[~fires].mean() + 0.3
    with pytest.raises(ValueError, match="indicator"):
        C.observe_column(plan, parent, rng())


def test_with_missing_for_floats_and_categories():
    x = np.arange(5.0)
    mask = np.array([True, False, False, True, False])
    np.testing.assert_array_equal(np.isnan(C.with_missing(x, mask)), mask)
    assert not np.isnan(x).any()
    cat = C.codes_to_category(np.array([0, 1, 2, 1, 0]), 3)
    out = C.with_missing(cat, mask)
    np.testing.assert_array_equal(out.isna(), mask)
    np.testing.assert_array_equal(out.codes[~mask], cat.codes[~mask])
    assert list(out.categories) == ["c0", "c1", "c2"]


def test_draw_missing_and_draw_column():
    kinds = [C.draw_missing(PRIOR, rng(s)) for s in range(3000)]
    share = np.mean([k != "none" for k, _ in kinds])
    assert abs(share - 0.3) < 0.03
    structured = np.mean([k == "structured" for k, _ in kinds if k != "none"])
    assert abs(structured - 0.5) < 0.05
    assert all(0.01 <= r <= 0.1 for k, r in kinds if k != "none")
    plans = [C.draw_column(2, 3, False, PRIOR, rng(s)) for s in range(2000)]
    assert abs(np.mean([p.kind == "binned" for p in plans]) - 0.2) < 0.03
    assert {p.slot for p in plans} == {0, 1, 2}
    numeric = [p.marginal for p in plans if p.kind == "numeric"]
    expected = np.asarray(C.MARGINAL_WEIGHTS) / sum(C.MARGINAL_WEIGHTS) * len(numeric)
    assert stats.chisquare([numeric.count(m) for m in C.MARGINAL_NAMES], expected).pvalue > 1e-3
    cat = C.draw_column(1, 5, True, PRIOR, rng(22))
    assert cat.kind == "categorical" and cat.k == 5 and cat.slot is None
    with pytest.raises(ValueError, match="indicator"):
        C.draw_column(0, 1, False, PRIOR, rng(), missing="structured", missing_rate=0.1)


def test_observe_column_end_to_end_is_deterministic():
    latent = rng(23).normal(size=(3000, 2))
    prior = replace(PRIOR, column_missing_rate=Range(0.05, 0.05))
    plan = C.draw_column(0, 2, False, prior, rng(24), missing="random", missing_rate=0.05)
    a = C.observe_column(plan, latent, rng(25))
    b = C.observe_column(plan, latent, rng(25))
    pd.testing.assert_series_equal(pd.Series(a), pd.Series(b))
    assert 0.02 < pd.Series(a).isna().mean() < 0.08
    onehot = np.eye(3)[rng(26).integers(3, size=3000)]
    cat = C.observe_column(C.ColumnPlan(1, "categorical", k=3), onehot, rng(27))
    np.testing.assert_array_equal(cat.codes, onehot.argmax(1))
