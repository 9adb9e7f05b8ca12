"""Seeds to independent random streams, one per stage and per table.

``stream(seed, stage, *ids)`` is a pure function: the same key always gives the same generator,
in any process. Moving a knob of one stage therefore leaves the draws of the other stages alone.
"""

from __future__ import annotations

import numpy as np

DATABASE = 0  # time span
SCHEMA = 1  # stage 1: tables, layout, rows, feature columns
LINKS = 2  # stage 2: one stream per foreign key
SCM = 3  # stage 3: one stream per table
POSTPROCESS = 4  # transforms and missing values, one stream per table


def stream(seed: int, stage: int, *ids: int) -> np.random.Generator:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(stage, *map(int, ids))))


def pick(rng: np.random.Generator, options):
    """One element of a sequence, uniformly (a faster ``rng.choice`` for small Python sequences)."""
    return options[int(rng.integers(len(options)))]
