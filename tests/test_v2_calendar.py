"""v2 event times: four calendars over 1990..2025, sorted (spec §3 item 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from plurel_core.v2 import calendar as K

START, END = pd.Timestamp("1990-01-01"), pd.Timestamp("2025-01-01")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


CONTRAST = {"business": ("always", "hour"), "workweek": ("business", "weekday"),
            "leisure": ("business", "hour"), "always": ("business", "hour")}


def _days_per_weekday() -> np.ndarray:
    days = pd.date_range(START, END, freq="D", inclusive="left")
    return np.bincount(days.day_of_week, minlength=7).astype(float)


def _expected(cal: K.Calendar, n: int) -> tuple[np.ndarray, np.ndarray]:
    w = cal.weights() * _days_per_weekday()[:, None]  # hours in the span per weekday x hour cell
    p = w / w.sum()
    return p.sum(1) * n, p.sum(0) * n


def test_the_four_calendars():
    assert K.CALENDAR_NAMES == ("business", "workweek", "leisure", "always")
    business = K.CALENDARS["business"]
    assert business.hour_weights[:7] == (0.05,) * 7 and business.hour_weights[7:9] == (0.5, 0.5)
    assert business.hour_weights[9:18] == (1.0,) * 9 and business.hour_weights[18:22] == (0.5,) * 4
    assert business.hour_weights[22:] == (0.1, 0.1) and business.weekday_weights == (1.0,) * 7
    assert K.CALENDARS["workweek"].weekday_weights == (1.0,) * 5 + (0.3, 0.3)
    leisure = K.CALENDARS["leisure"]
    assert leisure.weekday_weights == (0.6,) * 4 + (0.8, 1.0, 1.0)
    assert leisure.hour_weights == (0.2,) * 8 + (0.5,) * 9 + (1.0,) * 5 + (0.4,) * 2
    assert K.CALENDARS["always"].hour_weights == (1.0,) * 24


def test_weekday_and_hour_of_epoch_seconds():
    seconds = rng(1).uniform(START.timestamp(), END.timestamp(), 5000)
    weekday, hour = K.weekday_hour(seconds)
    stamps = pd.to_datetime(np.floor(seconds), unit="s")
    np.testing.assert_array_equal(weekday, stamps.day_of_week)
    np.testing.assert_array_equal(hour, stamps.hour)


@pytest.mark.parametrize("name", K.CALENDAR_NAMES)
def test_calendar_weights_show_in_the_weekday_and_hour_histogram(name):
    n = 40000
    times = K.sample_times(name, n, rng(2))
    assert times.dtype == np.dtype("datetime64[ns]") and len(times) == n
    assert (np.diff(times.astype(np.int64)) >= 0).all()
    assert times.min() >= np.datetime64(START) and times.max() < np.datetime64(END)
    idx = pd.DatetimeIndex(times)
    weekday_counts = np.bincount(idx.day_of_week, minlength=7)
    hour_counts = np.bincount(idx.hour, minlength=24)
    exp_weekday, exp_hour = _expected(K.CALENDARS[name], n)
    assert stats.chisquare(weekday_counts, exp_weekday).pvalue > 1e-3
    assert stats.chisquare(hour_counts, exp_hour).pvalue > 1e-3
    # the test can fail: another calendar's weights are rejected by the same histogram
    other, axis = CONTRAST[name]
    other_weekday, other_hour = _expected(K.CALENDARS[other], n)
    counts, expected = (weekday_counts, other_weekday) if axis == "weekday" else (hour_counts, other_hour)
    assert stats.chisquare(counts, expected).pvalue < 1e-9


def test_times_spread_over_the_whole_span_and_ascend_with_rows():
    times = K.sample_times("always", 20000, rng(3))
    years = pd.DatetimeIndex(times).year
    assert years.min() == 1990 and years.max() == 2024
    # uniform over the span: the offsets' KS against U(0, span)
    offsets = (times - np.datetime64(START)).astype(np.int64) / (END - START).value
    assert stats.kstest(offsets, "uniform").pvalue > 1e-3


def test_seconds_and_times_are_the_same_draws_and_deterministic():
    a = K.sample_times("leisure", 1000, rng(4))
    b = K.sample_times("leisure", 1000, rng(4))
    np.testing.assert_array_equal(a, b)
    s = K.sample_seconds("leisure", 1000, rng(4))
    assert np.abs(s - a.astype(np.int64) / 1e9).max() < 1e-5
    assert not np.array_equal(a, K.sample_times("leisure", 1000, rng(5)))
    assert len(K.sample_times("always", 0, rng())) == 0


def test_custom_calendar_span_and_errors():
    weekend_nights = K.Calendar((0, 0, 0, 0, 0, 1, 1), (1,) * 3 + (0,) * 21)
    span = (np.datetime64("2020-01-01"), np.datetime64("2020-03-01"))
    idx = pd.DatetimeIndex(K.sample_times(weekend_nights, 500, rng(6), span=span))
    assert set(idx.day_of_week) <= {5, 6} and set(idx.hour) <= {0, 1, 2}
    assert idx.min() >= pd.Timestamp("2020-01-01") and idx.max() < pd.Timestamp("2020-03-01")
    with pytest.raises(ValueError, match="weekday_weights"):
        K.Calendar((1.0,) * 6, (1.0,) * 24)
    with pytest.raises(ValueError, match="hour_weights"):
        K.Calendar((1.0,) * 7, (0.0,) * 24)
    with pytest.raises(ValueError, match="calendar"):
        K.sample_times("lunar", 10, rng())
    with pytest.raises(ValueError, match="span"):
        K.sample_times("always", 10, rng(), span=(span[1], span[0]))
