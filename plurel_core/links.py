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


def block_clusters(block_ids: np.ndarray | int, radices: list[int]) -> np.ndarray:
    """(blocks, levels) cluster of each block id per level, mixed-radix, level 0 most significant."""
    b = np.arange(block_ids, dtype=np.int64) if np.isscalar(block_ids) else np.asarray(block_ids, np.int64).copy()
    out = np.empty((len(b), len(radices)), dtype=np.int64)
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


CHUNK_CELLS = 1 << 22  # (parent blocks x child rows) evaluated at once: bounded memory


def sample_parent_index(
    n_parent: int, n_child: int, hsbm: Hsbm, theta: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One parent row per child row; returns (parent_index, parent_block, child_block).

    Only occupied blocks are ever formed (at most one per row), and child rows are processed in
    chunks, so memory stays O(CHUNK_CELLS + rows) for any hierarchy.
    """
    bp_count = int(np.prod(hsbm.h_parent, dtype=np.float64)) if hsbm.h_parent else 1
    bc_count = int(np.prod(hsbm.h_child, dtype=np.float64)) if hsbm.h_child else 1
    parent_block = base_blocks(n_parent, bp_count)
    child_block = base_blocks(n_child, bc_count)
    p_ids = np.arange(min(bp_count, n_parent), dtype=np.int64)  # blocks 0..k-1 are the occupied ones
    cp = block_clusters(p_ids, hsbm.h_parent)
    cum_theta = np.concatenate([[0.0], np.cumsum(theta)])
    starts = np.searchsorted(parent_block, p_ids, side="left")
    ends = np.searchsorted(parent_block, p_ids, side="right")
    block_mass = cum_theta[ends] - cum_theta[starts]
    with np.errstate(divide="ignore"):
        log_mass = np.log(block_mass)
        log_m = [np.log(m) for m in hsbm.matrices]
    u = rng.random(n_child)
    u2 = rng.random(n_child)
    chosen = np.empty(n_child, dtype=np.int64)
    step = max(1, CHUNK_CELLS // max(len(p_ids), 1))
    for r0 in range(0, n_child, step):
        r1 = min(n_child, r0 + step)
        b0, b1 = int(child_block[r0]), int(child_block[r1 - 1]) + 1
        cc = block_clusters(np.arange(b0, b1), hsbm.h_child)
        log_p = np.repeat(log_mass[:, None], b1 - b0, axis=1)
        for level, lm in enumerate(log_m):
            log_p += lm[cp[:, level][:, None], cc[:, level][None, :]]
        top = log_p.max(axis=0)
        dead = ~np.isfinite(top)  # every block weight 0: fall back to the parents' own mass
        if dead.any():
            log_p[:, dead] = log_mass[:, None]
            top[dead] = log_p[:, dead].max(axis=0)
        cdf = np.cumsum(np.exp(log_p - top), axis=0)
        cdf /= cdf[-1:, :]
        cols = child_block[r0:r1] - b0
        # Inverse CDF per child row in its own column: count of blocks whose CDF is below u.
        chosen[r0:r1] = np.minimum((cdf[:, cols] < u[None, r0:r1]).sum(axis=0), len(p_ids) - 1)
    # Row inside the chosen block in proportion to θ.
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

