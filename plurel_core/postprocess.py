"""Post-processing per table: numerical transforms, exact missing counts, binarization.

Column dtypes follow the authors' output: a binarized categorical is a numpy ``bool`` column, a
categorical that is not binarized a pandas ``Categorical`` whose categories are its labels.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

TRANSFORMS = ("identity", "rank_uniform", "signed_log1p", "signed_sqrt", "standardize")


def apply_transform(name: str, x: np.ndarray) -> np.ndarray:
    if name == "identity":
        return x
    if name == "rank_uniform":
        ranks = np.empty(len(x), dtype=np.float64)
        ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
        return (ranks + 1.0) / (len(x) + 1.0)
    if name == "signed_log1p":
        return np.sign(x) * np.log1p(np.abs(x))
    if name == "signed_sqrt":
        return np.sign(x) * np.sqrt(np.abs(x))
    if name == "standardize":
        sd = x.std()
        return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
    raise ValueError(f"unknown transform {name!r}; allowed: {TRANSFORMS}")


def missing_count(rate: float, rows: int) -> int:
    return int(np.floor(rate * rows))


def set_missing(x: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``count`` cells of a float column set to NaN, at random."""
    out = x.astype(np.float64, copy=True)
    if count:
        out[rng.permutation(len(out))[:count]] = np.nan
    return out


def binarize(labels: np.ndarray) -> np.ndarray:
    """Integer labels as booleans, label > 0 (the paper's binary pretraining target)."""
    return np.asarray(labels) > 0


def categorical(codes: np.ndarray, labels: Iterable) -> pd.Categorical:
    """Label codes 0..k-1 as a pandas Categorical over ``labels`` (every label a category, used or not)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=pd.Index(list(labels)))


def is_constant(x: np.ndarray) -> bool:
    finite = x[~np.isnan(x)] if x.dtype.kind == "f" else x
    return len(finite) == 0 or bool((finite == finite[0]).all())
