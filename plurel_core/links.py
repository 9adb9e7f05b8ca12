"""Stage 2: primary-foreign key links from a hierarchical stochastic block model.

Every child row picks exactly one parent row with ``P(a | b) ∝ θ_a · Π_l M_l[c_P(a,l), c_C(b,l)]``.
The block product depends only on the pair of finest-level blocks, so sampling factorises: first a
parent block per child from a (parent blocks × child blocks) table built in float64 log space,
then a row inside that block in proportion to θ. Memory is O(blocks² + rows) whatever the table
sizes, and the draw is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POPULARITY_LAWS = ("constant", "lognormal", "zipf")


@dataclass
class Hsbm:
    levels: int
    h_parent: list[int]
    h_child: list[int]
    matrices: list[np.ndarray]


def sample_hsbm(lp, rng: np.random.Generator) -> Hsbm:
    levels = lp.hsbm_levels.sample(rng)
    h_p = [lp.hsbm_clusters.sample(rng) for _ in range(levels)]
    h_c = [lp.hsbm_clusters.sample(rng) for _ in range(levels)]
    mats = []
    for hp, hc in zip(h_p, h_c):
        m = rng.uniform(lp.hsbm_off_diagonal.lo, lp.hsbm_off_diagonal.hi, size=(hp, hc))
        i = np.arange(max(hp, hc))
        m[i % hp, i % hc] = lp.hsbm_diagonal
        mats.append(m)
    return Hsbm(levels, h_p, h_c, mats)


def base_blocks(n: int, num_blocks: int) -> np.ndarray:
    """Contiguous, equal-size blocks of rows 0..n-1; the last block takes the rest."""
    size = max(n // num_blocks, 1)
    return np.minimum(np.arange(n, dtype=np.int64) // size, num_blocks - 1)


def block_clusters(num_blocks: int, radices: list[int]) -> np.ndarray:
    """(num_blocks, levels) cluster of each block per level, mixed-radix, level 0 most significant."""
    b = np.arange(num_blocks, dtype=np.int64)
    out = np.empty((num_blocks, len(radices)), dtype=np.int64)
    for level in range(len(radices) - 1, -1, -1):
        out[:, level] = b % radices[level]
        b //= radices[level]
    return out


def popularity(law: str, param: float | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """Parent weights θ (degree-corrected SBM); constant is the paper's behaviour."""
    if law == "constant":
        return np.ones(n)
    if law == "lognormal":
        return np.exp(param * rng.standard_normal(n))
    if law == "zipf":
        theta = np.empty(n)
        theta[rng.permutation(n)] = np.arange(1, n + 1, dtype=np.float64) ** (-param)
        return theta
    raise ValueError(f"unknown popularity law {law!r}; allowed: {POPULARITY_LAWS}")


def sample_parent_index(
    n_parent: int, n_child: int, hsbm: Hsbm, theta: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One parent row per child row; returns (parent_index, parent_block, child_block)."""
    bp_count = int(np.prod(hsbm.h_parent))
    bc_count = int(np.prod(hsbm.h_child))
    parent_block = base_blocks(n_parent, bp_count)
    child_block = base_blocks(n_child, bc_count)
    cp = block_clusters(bp_count, hsbm.h_parent)
    cc = block_clusters(bc_count, hsbm.h_child)
    log_w = np.zeros((bp_count, bc_count))
    for level, m in enumerate(hsbm.matrices):
        log_w += np.log(m)[cp[:, level][:, None], cc[:, level][None, :]]
    # Mass of each parent block: the sum of θ over its rows (blocks are contiguous runs).
    cum_theta = np.concatenate([[0.0], np.cumsum(theta)])
    starts = np.searchsorted(parent_block, np.arange(bp_count), side="left")
    ends = np.searchsorted(parent_block, np.arange(bp_count), side="right")
    block_mass = cum_theta[ends] - cum_theta[starts]
    with np.errstate(divide="ignore"):
        log_p = log_w + np.log(block_mass)[:, None]
    log_p -= log_p.max(axis=0, keepdims=True)
    p = np.exp(log_p)
    cdf = np.cumsum(p, axis=0)
    cdf /= cdf[-1:, :]
    u = rng.random(n_child)
    # Parent block per child: inverse CDF in the child's column of the block table.
    chosen = np.empty(n_child, dtype=np.int64)
    c_starts = np.searchsorted(child_block, np.arange(bc_count), side="left")
    c_ends = np.searchsorted(child_block, np.arange(bc_count), side="right")
    for bc in range(bc_count):
        rows = slice(c_starts[bc], c_ends[bc])
        chosen[rows] = np.minimum(np.searchsorted(cdf[:, bc], u[rows], side="right"), bp_count - 1)
    # Row inside the block in proportion to θ.
    u2 = rng.random(n_child)
    target = cum_theta[starts[chosen]] + u2 * block_mass[chosen]
    parent = np.searchsorted(cum_theta, target, side="right") - 1
    parent = np.clip(parent, starts[chosen], ends[chosen] - 1)
    return parent.astype(np.int64), parent_block, child_block


def distinct_combinations(
    columns: list[np.ndarray], resample, max_rounds: int = 20
) -> np.ndarray:
    """Row mask keeping distinct key combinations after re-drawing duplicates of the last column.

    ``resample(rows)`` returns fresh parent indices for the given child rows. Rows still
    duplicated after ``max_rounds`` are dropped (the mask is False for them).
    """
    cols = [c.copy() for c in columns]
    for _ in range(max_rounds):
        dup = _duplicated(cols)
        if not dup.any():
            break
        rows = np.nonzero(dup)[0]
        cols[-1][rows] = resample(rows)
    keep = ~_duplicated(cols)
    for original, new in zip(columns, cols):
        original[:] = new
    return keep


def _duplicated(cols: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(cols, axis=1)
    _, first = np.unique(stacked, axis=0, return_index=True)
    mask = np.ones(len(stacked), dtype=bool)
    mask[first] = False
    return mask
