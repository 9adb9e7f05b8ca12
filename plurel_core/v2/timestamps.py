"""v2 validation / test cut-offs from the pooled event times (PLUREL_V2_SPEC §5 item 7).

``split_timestamps(times, .1, .1)`` pools every non-null time of every event table; the
validation cut-off is its quantile at 1 - val - test (0.8), the test cut-off at 1 - test (0.9),
both with pandas' linear interpolation.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def check_shares(val_share: float, test_share: float) -> None:
    """Both shares > 0 and summing to < 1, else a ValueError naming them."""
    if not (val_share > 0 and test_share > 0 and val_share + test_share < 1):
        raise ValueError(
            f"val_share={val_share} and test_share={test_share}: both must be > 0 and sum to < 1"
        )


def pooled_times(times: Iterable) -> pd.Series:
    """All non-null times of the given columns (Series, arrays, DatetimeIndex) as one datetime64[ns] Series."""
    parts = [pd.Series(pd.to_datetime(np.asarray(t).ravel() if not isinstance(t, pd.Series) else t))
             for t in times]
    if not parts:
        return pd.Series([], dtype="datetime64[ns]")
    pooled = pd.concat(parts, ignore_index=True).dropna()
    return pooled.astype("datetime64[ns]")


def split_timestamps(
    times: Iterable, val_share: float = 0.1, test_share: float = 0.1
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(val, test) cut-offs: quantiles 1 - val - test and 1 - test of the pooled non-null times."""
    check_shares(val_share, test_share)
    pooled = pooled_times(times)
    if pooled.empty:
        raise ValueError("split_timestamps: no non-null event time to split at")
    # rounded so that e.g. 1 - .2 - .15 is the quantile 0.65, not 0.6499999999999999
    levels = [round(1.0 - val_share - test_share, 12), round(1.0 - test_share, 12)]
    q = pooled.quantile(levels, interpolation="linear")
    return pd.Timestamp(q.iloc[0]), pd.Timestamp(q.iloc[1])
