"""The v2 prior laws and their per-table warping (PLUREL_V2_SPEC §4)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from plurel_core.v2.ranges import (
    Choices,
    IntegersRange,
    LogIntegersRange,
    LogRange,
    Range,
    draw_warp,
    warp,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_plain_ranges_follow_their_laws():
    n = 20000
    x = Range(-2.0, 3.0).sample(rng(1), n)
    assert stats.kstest((x + 2.0) / 5.0, "uniform").pvalue > 1e-3
    y = LogRange(0.001, 0.5).sample(rng(2), n)
    assert y.min() >= 0.001 and y.max() <= 0.5
    assert stats.kstest(np.log(y / 0.001) / np.log(500), "uniform").pvalue > 1e-3
    k = IntegersRange(1, 5).sample(rng(3), n)
    assert set(np.unique(k)) == {1, 2, 3, 4, 5}
    assert stats.chisquare(np.bincount(k)[1:]).pvalue > 1e-3
    li = LogIntegersRange(2, 20).sample(rng(4), n)
    assert li.min() == 2 and li.max() == 20
    # log-int: P(k) = log((k+1)/k) / log(21/2), most mass on small counts
    expected = np.log((np.arange(2, 21) + 1) / np.arange(2, 21)) / np.log(21 / 2)
    assert stats.chisquare(np.bincount(li, minlength=21)[2:], expected * n).pvalue > 1e-3
    assert isinstance(IntegersRange(1, 5).sample(rng()), int) and isinstance(Range(0, 1).sample(rng()), float)


def test_warp_m_is_inside_the_unit_interval_and_kappa_log_uniform():
    ws = [draw_warp(rng(s)) for s in range(400)]
    ms = np.array([w.m for w in ws])
    ks = np.array([w.kappa for w in ws])
    assert (ms > 0).all() and (ms < 1).all()
    assert ks.min() >= 0.1 and ks.max() <= 1e4
    assert stats.kstest(np.log(ks / 0.1) / np.log(1e5), "uniform").pvalue > 1e-3


def test_huge_concentration_gives_the_mean_and_tiny_one_spreads_out():
    base = Range(0.0, 10.0)
    tight = base.warped(rng(5), kappa=(1e7, 1e7))
    x = tight.sample(rng(6), 2000)
    assert np.std(x) < 0.05 and abs(np.mean(x) - 10.0 * tight.warp.m) < 0.01
    loose = base.warped(rng(7), kappa=(0.01, 0.01))
    y = loose.sample(rng(8), 2000)
    # Beta(0.01 m, 0.01 (1-m)): almost all mass at the two ends
    assert np.mean((y < 0.5) | (y > 9.5)) > 0.95 and np.std(y) > 3.0
    c = Choices(("a", "b", "c"), (1.0, 1.0, 1.0))
    assert max(c.warped(rng(9), kappa=(1e7, 1e7)).probabilities) < 0.34  # Dirichlet(huge) ~ even
    assert max(c.warped(rng(9), kappa=(0.01, 0.01)).probabilities) > 0.99  # Dirichlet(tiny) ~ one-hot


def test_integer_ranges_stay_in_bounds_when_warped():
    for seed in range(50):
        w = LogIntegersRange(3, 16).warped(rng(seed))
        k = w.sample(rng(seed + 100), 500)
        assert k.min() >= 3 and k.max() <= 16
        v = IntegersRange(2, 10).warped(rng(seed)).sample(rng(seed + 1), 500)
        assert v.min() >= 2 and v.max() <= 10


def test_choices_weights_filtering_and_errors():
    c = Choices(("sum", "product", "max", "min", "logsumexp", "concat"), (6, 1, 1, 1, 1, 2))
    draws = [c.sample(rng(s)) for s in range(6000)]
    counts = np.array([draws.count(o) for o in c.options])
    assert stats.chisquare(counts, c.probabilities * 6000).pvalue > 1e-3
    sub = c.among(("max", "min", "concat"))
    assert sub.options == ("max", "min", "concat") and np.allclose(sub.probabilities, [0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match="none of"):
        c.among(("median",))
    with pytest.raises(ValueError, match="weights"):
        Choices(("a", "b"), (1.0,))
    with pytest.raises(ValueError, match="greater"):
        Range(2.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        LogRange(0.0, 1.0)


def test_warp_of_a_prior_dict_is_deterministic_and_in_order():
    priors = {"nodes": LogIntegersRange(3, 16), "categorical": 0.3, "op": Choices(("sum", "max"), (6, 1))}
    a, b = warp(priors, rng(11)), warp(priors, rng(11))
    assert a["categorical"] == 0.3 and a["nodes"].warp == b["nodes"].warp and a["op"] == b["op"]
    assert a["nodes"].warp is not None and a["op"].weights != priors["op"].weights
