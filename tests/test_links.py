"""Stage 2: the hierarchical SBM, parent popularity and the links recorded in the trace."""

from __future__ import annotations

import numpy as np
import pytest
from core_helpers import cached_generate, small_config
from scipy import stats

import plurel_core as pc
from plurel_core.links import (
    POPULARITY_LAWS,
    Hsbm,
    base_blocks,
    block_clusters,
    distinct_combinations,
    popularity,
    sample_hsbm,
    sample_parent_index,
)

LP = pc.Config().links


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def flat(hp=1, hc=1) -> Hsbm:
    return Hsbm(1, [hp], [hc], [np.ones((hp, hc))])


def gini(x: np.ndarray) -> float:
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def test_gini_reference_values():
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)


def test_sample_hsbm_matches_the_prior():
    levels, clusters = [], []
    for seed in range(300):
        h = sample_hsbm(LP, rng(seed))
        assert 1 <= h.levels <= 5
        assert len(h.h_parent) == len(h.h_child) == len(h.matrices) == h.levels
        for hp, hc, m in zip(h.h_parent, h.h_child, h.matrices):
            assert 1 <= hp <= 3 and 1 <= hc <= 3
            assert m.shape == (hp, hc)
            diag = np.zeros((hp, hc), dtype=bool)
            for i in range(max(hp, hc)):
                diag[i % hp, i % hc] = True
            assert np.all(m[diag] == 0.9)
            off = m[~diag]
            assert np.all((off >= 0.001) & (off <= 0.002))
            clusters += [hp, hc]
        levels.append(h.levels)
    assert stats.chisquare(np.bincount(levels)[1:]).pvalue > 0.001
    assert stats.chisquare(np.bincount(clusters)[1:]).pvalue > 0.001


def test_base_blocks_contiguous_equal_size():
    b = base_blocks(10, 3)
    assert b.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]  # the last block takes the rest
    b = base_blocks(1000, 7)
    assert np.all(np.diff(b) >= 0) and b[0] == 0 and b[-1] == 6
    sizes = np.bincount(b)
    assert np.all(sizes[:-1] == 1000 // 7) and sizes[-1] == 1000 - 6 * (1000 // 7)
    assert base_blocks(2, 5).tolist() == [0, 1]  # fewer rows than blocks: later blocks are empty


def test_block_clusters_mixed_radix():
    c = block_clusters(6, [2, 3])
    # level 0 most significant: block b -> (b // 3, b % 3)
    assert c.tolist() == [[b // 3, b % 3] for b in range(6)]
    c = block_clusters(12, [3, 2, 2])
    assert c.tolist() == [[b // 4, (b // 2) % 2, b % 2] for b in range(12)]


def test_one_level_one_cluster_gives_uniform_parents():
    n_parent, n_child = 50, 20000
    parent, pb, cb = sample_parent_index(n_parent, n_child, flat(), np.ones(n_parent), rng(0))
    assert parent.dtype == np.int64 and len(parent) == n_child
    assert parent.min() >= 0 and parent.max() < n_parent
    counts = np.bincount(parent, minlength=n_parent)
    assert stats.chisquare(counts).pvalue > 0.001
    assert np.all(pb == 0) and np.all(cb == 0)


def test_parent_index_deterministic_and_in_range():
    h = sample_hsbm(LP.model_copy(update={"hsbm_levels": pc.IntRange(lo=3, hi=3)}), rng(1))
    a = sample_parent_index(37, 500, h, np.ones(37), rng(5))[0]
    b = sample_parent_index(37, 500, h, np.ones(37), rng(5))[0]
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < 37


def test_popularity_laws():
    assert np.array_equal(popularity("constant", None, 5, rng(0)), np.ones(5))
    theta = popularity("zipf", 1.5, 200, rng(0))
    assert np.allclose(np.sort(theta)[::-1], np.arange(1, 201) ** -1.5)
    assert not np.all(np.diff(theta) <= 0), "a random permutation of parent rows"
    theta = popularity("lognormal", 0.7, 5000, rng(0))
    assert stats.kstest(np.log(theta), stats.norm(0, 0.7).cdf).pvalue > 0.001
    with pytest.raises(ValueError, match="unknown popularity law"):
        popularity("pareto", 1.0, 3, rng(0))
    assert set(POPULARITY_LAWS) == {"constant", "lognormal", "zipf"}


def test_parent_choice_is_proportional_to_popularity():
    n_parent, n_child = 40, 40000
    theta = popularity("zipf", 1.0, n_parent, rng(3))
    parent = sample_parent_index(n_parent, n_child, flat(), theta, rng(4))[0]
    counts = np.bincount(parent, minlength=n_parent)
    expected = theta / theta.sum() * n_child
    assert stats.chisquare(counts, expected).pvalue > 0.001


def test_zipf_popularity_has_a_heavier_tail_than_constant():
    n_parent, n_child = 500, 5000
    const = np.bincount(sample_parent_index(n_parent, n_child, flat(), np.ones(n_parent), rng(0))[0],
                        minlength=n_parent)
    zipf_theta = popularity("zipf", 1.0, n_parent, rng(1))
    zipf = np.bincount(sample_parent_index(n_parent, n_child, flat(), zipf_theta, rng(2))[0], minlength=n_parent)
    logn_theta = popularity("lognormal", 1.0, n_parent, rng(1))
    logn = np.bincount(sample_parent_index(n_parent, n_child, flat(), logn_theta, rng(2))[0], minlength=n_parent)
    # Poisson(10) counts have Gini about 0.18; Zipf(1) over 500 parents about 0.7
    assert gini(const) < 0.25
    assert gini(zipf) > gini(const) + 0.3
    assert gini(logn) > gini(const) + 0.1
    assert zipf.max() > 5 * const.max()


def test_hsbm_diagonal_makes_children_prefer_their_cluster():
    m = np.full((3, 3), 0.001)
    np.fill_diagonal(m, 0.9)
    h = Hsbm(1, [3], [3], [m])
    n_parent, n_child = 300, 9000
    parent, pb, cb = sample_parent_index(n_parent, n_child, h, np.ones(n_parent), rng(0))
    assert np.array_equal(pb, base_blocks(n_parent, 3)) and np.array_equal(cb, base_blocks(n_child, 3))
    chosen = pb[parent]
    for c in range(3):
        share = np.mean(chosen[cb == c] == c)
        assert share > 0.99, (c, share)  # 0.9 / (0.9 + 2 * 0.001) = 0.9978
    # and since blocks are contiguous, parents of early child rows are early rows (time locality)
    assert np.corrcoef(np.arange(n_child), parent)[0, 1] > 0.8


def test_rectangular_diagonal_wraps_around():
    # h_P = 2, h_C = 3: diagonal cells (0,0), (1,1), (0,2)
    m = np.full((2, 3), 0.001)
    for i in range(3):
        m[i % 2, i % 3] = 0.9
    parent, pb, cb = sample_parent_index(100, 6000, Hsbm(1, [2], [3], [m]), np.ones(100), rng(1))
    chosen = pb[parent]
    assert np.mean(chosen[cb == 0] == 0) > 0.99
    assert np.mean(chosen[cb == 1] == 1) > 0.99
    assert np.mean(chosen[cb == 2] == 0) > 0.99


def test_multi_level_block_probabilities_are_exact():
    """P(parent block | child block) ∝ mass(block) · Π_l M_l[c_P(block, l), c_C(child block, l)]."""
    r = rng(11)
    h = Hsbm(2, [2, 3], [3, 2], [r.uniform(0.05, 1.0, (2, 3)), r.uniform(0.05, 1.0, (3, 2))])
    n_parent, n_child = 61, 60000
    theta = r.uniform(0.5, 2.0, n_parent)
    parent, pb, cb = sample_parent_index(n_parent, n_child, h, theta, rng(12))
    cp, cc = block_clusters(6, h.h_parent), block_clusters(6, h.h_child)
    mass = np.bincount(pb, weights=theta, minlength=6)
    for bc in range(6):
        w = mass * h.matrices[0][cp[:, 0], cc[bc, 0]] * h.matrices[1][cp[:, 1], cc[bc, 1]]
        rows = cb == bc
        observed = np.bincount(pb[parent[rows]], minlength=6)
        expected = w / w.sum() * rows.sum()
        assert stats.chisquare(observed, expected).pvalue > 0.001, bc
    # inside a block, rows are drawn in proportion to theta
    in_block = parent[pb[parent] == 2]
    rows_of_2 = np.nonzero(pb == 2)[0]
    obs = np.bincount(in_block, minlength=n_parent)[rows_of_2]
    exp = theta[rows_of_2] / theta[rows_of_2].sum() * len(in_block)
    assert stats.chisquare(obs, exp).pvalue > 0.001


def test_more_blocks_than_rows():
    # 3^4 = 81 blocks per side for 5 parent rows: the empty blocks are never chosen
    m = np.full((3, 3), 0.001)
    np.fill_diagonal(m, 0.9)
    h = Hsbm(4, [3] * 4, [3] * 4, [m] * 4)
    parent, pb, _ = sample_parent_index(5, 400, h, np.ones(5), rng(0))
    assert parent.min() >= 0 and parent.max() < 5


def test_all_zero_block_matrices_leave_every_parent_reachable():
    # links.hsbm_diagonal = 0 with links.hsbm_off_diagonal = (0, 0) is a valid config. Every block
    # pair then has the same weight (0), so no parent block may be favoured over another; the
    # draw must not collapse onto one block through NaN arithmetic.
    h = Hsbm(1, [3], [2], [np.zeros((3, 2))])
    with np.errstate(all="ignore"):
        parent, pb, _ = sample_parent_index(30, 3000, h, np.ones(30), rng(0))
    assert parent.min() >= 0 and parent.max() < 30
    assert set(np.unique(pb[parent])) == {0, 1, 2}, np.bincount(pb[parent], minlength=3)


def test_distinct_combinations():
    r = rng(0)
    a = r.integers(0, 5, 50)
    b = r.integers(0, 3, 50)  # many duplicates at first

    def resample(rows):
        return r.integers(0, 100, len(rows))

    keep = distinct_combinations([a, b], resample)
    pairs = set(zip(a[keep].tolist(), b[keep].tolist()))
    assert len(pairs) == keep.sum() == 50
    # impossible to make distinct: only (0, 0) and (0, 1) exist for 10 rows, so 2 rows stay
    a, b = np.zeros(10, dtype=np.int64), np.zeros(10, dtype=np.int64)
    keep = distinct_combinations([a, b], lambda rows: r.integers(0, 2, len(rows)), max_rounds=50)
    assert keep.sum() == 2
    assert sorted(zip(a[keep].tolist(), b[keep].tolist())) == [(0, 0), (0, 1)]


@pytest.mark.parametrize(("preset", "seed"), [("demo", 0), ("demo", 1), ("hub", 0), ("paper", 0)])
def test_link_traces_of_generated_databases(preset, seed):
    db = cached_generate(preset, seed)
    cfg = db.config
    assert db.trace.links, "every generated schema with 2+ tables has foreign keys"
    for key, lt in db.trace.links.items():
        child, col = key.split(".")
        assert (lt.child, lt.fkey_col) == (child, col)
        assert lt.parent == db.tables[child].fkey_col_to_pkey_table[col]
        n_p, n_c = len(db.tables[lt.parent].df), len(db.tables[child].df)
        assert cfg.links.hsbm_levels.lo <= lt.levels <= cfg.links.hsbm_levels.hi
        assert len(lt.h_parent) == len(lt.h_child) == len(lt.block_matrices) == lt.levels
        assert all(cfg.links.hsbm_clusters.lo <= h <= cfg.links.hsbm_clusters.hi for h in lt.h_parent + lt.h_child)
        assert np.array_equal(lt.parent_block, base_blocks(n_p, int(np.prod(lt.h_parent))))
        assert np.array_equal(lt.child_block, base_blocks(n_c, int(np.prod(lt.h_child))))
        assert lt.parent_index.dtype == np.int64 and len(lt.parent_index) == n_c
        assert lt.popularity_law in cfg.links.popularity_laws
        if lt.popularity_law == "zipf":
            assert cfg.links.popularity_alpha.lo <= lt.popularity_param <= cfg.links.popularity_alpha.hi
        else:
            assert lt.popularity_param is None
        assert lt.null_share == 0.0 and (lt.parent_index >= 0).all()
        assert not lt.deferred
        summary = db.trace.priors["links"][key]
        assert summary["levels"] == lt.levels and summary["h_parent"] == lt.h_parent


def test_fk_to_an_entity_table_is_a_hsbm_draw_in_the_pipeline():
    # With one level and one cluster, the generated FK columns are uniform over parent rows.
    cfg = small_config(**{"links.hsbm_levels": (1, 1), "links.hsbm_clusters": (1, 1),
                          "schema.table_layouts": ("Hub",), "schema.num_tables": (4, 4),
                          "schema.entity_rows": (20, 20), "schema.activity_rows": (3000, 3000)})
    db = pc.generate(cfg, 0)
    counts = np.zeros(20)
    for child, col, parent in db.foreign_keys:
        assert parent == "table_0"
        counts += np.bincount(db.tables[child].df[col].to_numpy(), minlength=20)
    assert stats.chisquare(counts).pvalue > 0.001
