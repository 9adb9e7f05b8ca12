"""v2 event times: four calendars over 1990-01-01 .. 2025-01-01 (PLUREL_V2_SPEC §3 item 13).

An event table's ``time`` column draws 5n uniform candidate offsets in the span, weights each by
its weekday x hour (the calendar's weights), picks n of them with replacement in proportion to
those weights, and sorts them, so time ascends with the row index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPAN = (np.datetime64("1990-01-01T00:00:00", "ns"), np.datetime64("2025-01-01T00:00:00", "ns"))
OVERSAMPLING = 5
_DAY, _HOUR = 86_400, 3_600
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)

BUSINESS_HOURS = (0.05,) * 7 + (0.5,) * 2 + (1.0,) * 9 + (0.5,) * 4 + (0.1,) * 2
EVENING_HOURS = (0.2,) * 8 + (0.5,) * 9 + (1.0,) * 5 + (0.4,) * 2


@dataclass(frozen=True)
class Calendar:
    """Relative weights of the 7 weekdays (Monday first) and the 24 hours of the day."""

    weekday_weights: tuple[float, ...]
    hour_weights: tuple[float, ...]

    def __post_init__(self) -> None:
        for name, w, size in (("weekday_weights", self.weekday_weights, 7), ("hour_weights", self.hour_weights, 24)):
            w = tuple(float(x) for x in w)
            if len(w) != size or min(w) < 0 or not max(w) > 0 or not all(np.isfinite(w)):
                raise ValueError(f"{name}: expected {size} non-negative finite weights with a positive one, got {w}")
            object.__setattr__(self, name, w)

    def weights(self) -> np.ndarray:
        """The (7, 24) weekday x hour weight table."""
        return np.outer(self.weekday_weights, self.hour_weights)


CALENDARS: dict[str, Calendar] = {
    "business": Calendar((1.0,) * 7, BUSINESS_HOURS),  # flat weekdays, business hours
    "workweek": Calendar((1.0,) * 5 + (0.3,) * 2, BUSINESS_HOURS),  # Mon-Fri 1, weekend .3
    "leisure": Calendar((0.6,) * 4 + (0.8,) + (1.0,) * 2, EVENING_HOURS),  # evenings and weekends
    "always": Calendar((1.0,) * 7, (1.0,) * 24),  # flat 24 hours
}
CALENDAR_NAMES = tuple(CALENDARS)


def weekday_hour(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weekday (Monday = 0) and hour of seconds since 1970-01-01 (UTC, no time zones)."""
    s = np.floor(np.asarray(seconds, dtype=np.float64)).astype(np.int64)
    days = s // _DAY
    return (days + _EPOCH_WEEKDAY) % 7, (s - days * _DAY) // _HOUR


def _calendar(calendar: str | Calendar) -> Calendar:
    if isinstance(calendar, Calendar):
        return calendar
    if calendar not in CALENDARS:
        raise ValueError(f"calendar: {calendar!r} is not one of {CALENDAR_NAMES}")
    return CALENDARS[calendar]


def _span_ns(span) -> tuple[int, int]:
    start, end = (int(np.datetime64(t, "ns").astype(np.int64)) for t in span)
    if not end > start:
        raise ValueError(f"span: start {span[0]} must be before end {span[1]}")
    return start, end


def sample_offsets(calendar: str | Calendar, n: int, rng: np.random.Generator, span=SPAN,
                   oversampling: int = OVERSAMPLING) -> np.ndarray:
    """n ascending offsets in seconds from the span's start: 5n uniform candidates weighted by
    weekday x hour, n picked with replacement, sorted."""
    cal = _calendar(calendar)
    if n < 0 or oversampling < 1:
        raise ValueError(f"sample_offsets: n={n} must be >= 0 and oversampling={oversampling} >= 1")
    start, end = _span_ns(span)
    if n == 0:
        return np.empty(0)
    offsets = rng.uniform(0.0, (end - start) / 1e9, n * oversampling)
    weekday, hour = weekday_hour(start / 1e9 + offsets)
    w = cal.weights()[weekday, hour]
    total = w.sum()
    if not total > 0:
        raise ValueError("calendar: every candidate time has weight 0; give the span's weekdays and hours weight")
    chosen = rng.choice(len(offsets), n, replace=True, p=w / total)
    return np.sort(offsets[chosen])


def sample_seconds(calendar: str | Calendar, n: int, rng: np.random.Generator, span=SPAN,
                   oversampling: int = OVERSAMPLING) -> np.ndarray:
    """n ascending event times as float seconds since 1970-01-01 (the time node's latent)."""
    start, _ = _span_ns(span)
    return start / 1e9 + sample_offsets(calendar, n, rng, span, oversampling)


def sample_times(calendar: str | Calendar, n: int, rng: np.random.Generator, span=SPAN,
                 oversampling: int = OVERSAMPLING) -> np.ndarray:
    """n sorted event times, datetime64[ns], in [start, end) of ``span``, weighted by the calendar
    (§3 item 13). Same draws as :func:`sample_seconds` with the same ``rng`` state."""
    start, end = _span_ns(span)
    ns = np.floor(sample_offsets(calendar, n, rng, span, oversampling) * 1e9).astype(np.int64)
    return (start + np.minimum(ns, end - start - 1)).astype("datetime64[ns]")
