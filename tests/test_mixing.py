"""The paper design mixed with parts of v2 (issue 13): v2's link models and nullable foreign keys.

``links.link_models`` ("paper_hsbm" default, "v2") and ``links.v2_nullable_fks`` (off) are paper
knobs whose parameters are the ``v2_links`` / ``v2_keys`` knobs. At their defaults nothing moves
(JSON, digest, bytes); turned on they change the keys they must and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile

import numpy as np
import pandas as pd
import pytest
from core_helpers import check_invariants, db_digest, small_config
from scipy import stats
from test_paper_digests import DIGESTS

import plurel_core as pc
from plurel_core.cli import main

NULLABLE = {"links.v2_nullable_fks": True, "v2_keys.fk_nullable_prob": 1.0, "v2_keys.fk_null_rate": (0.1, 0.3)}
PAPER_LINK_KEYS = {"levels", "h_parent", "h_child", "popularity_law", "popularity_param", "null_share"}


def _fk_columns(db):
    for child, col, parent in db.foreign_keys:
        yield child, col, parent, db.tables[child].df[col], db.trace.links[f"{child}.{col}"]


def _as_index(s: pd.Series) -> np.ndarray:
    return s.astype("Int64").fillna(-1).to_numpy(dtype=np.int64)


# --- defaults: the paper, byte for byte ----------------------------------------------------------------
def test_mix_knobs_at_default_leave_the_json_digest_and_tables_alone():
    cfg = pc.Config()
    assert cfg.links.link_models == ("paper_hsbm",) and cfg.links.v2_nullable_fks is False
    assert "link_models" not in cfg.to_dict()["links"] and "v2_nullable_fks" not in cfg.to_dict()["links"]
    assert {"link_models", "v2_nullable_fks"} <= set(cfg.to_dict(full=True)["links"])
    for name in pc.Config.preset_names():  # the v2 preset too: its JSON has every section, not the new fields
        preset = pc.Config.preset(name)
        same = preset.replace(**{"links.link_models": ["paper_hsbm"], "links.v2_nullable_fks": False})
        assert same.to_json() == preset.to_json() and same.digest() == preset.digest()
    moved = cfg.replace(**{"links.v2_nullable_fks": True})
    assert moved.digest() != cfg.digest() and moved.to_dict()["links"]["v2_nullable_fks"] is True
    assert pc.Config.from_json(moved.to_json()) == moved
    # the tables: explicitly default knobs give the pinned paper bytes, and plain traces
    db = pc.generate(pc.Config.preset("demo").replace(**{"links.link_models": ("paper_hsbm",)}), 0)
    got = {name: hashlib.sha256(t.df.to_csv().encode()).hexdigest() for name, t in db.tables.items()}
    assert got == DIGESTS["demo", 0]
    assert all(lt.model == "paper_hsbm" and not lt.nullable and not lt.summary for lt in db.trace.links.values())
    assert all(set(v) == PAPER_LINK_KEYS for v in db.trace.priors["links"].values())


def test_mix_knobs_are_paper_knobs_with_bounds_and_help():
    specs = {s.path: s for s in pc.prior_specs()}
    lm, nl = specs["links.link_models"], specs["links.v2_nullable_fks"]
    assert lm.kind == "choices" and lm.options == ("paper_hsbm", "v2") and lm.design == "paper"
    assert nl.kind == "bool" and nl.design == "paper"
    assert "v2_links" in lm.help and "v2_keys.fk_nullable_prob" in nl.help
    with pytest.raises(pc.ConfigError) as err:
        pc.Config().replace(**{"links.link_models": ("tree",)})
    assert err.value.field == "links.link_models"


# --- nullable foreign keys -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nullable_fks_are_int64_with_null_shares_in_their_rates(seed):
    cfg = small_config(**NULLABLE, **{"schema.entity_rows": (300, 400), "schema.activity_rows": (600, 900)})
    db = pc.generate(cfg, seed)
    check_invariants(db, cfg)  # the child SCMs still work where a parent is NULL: no NaN / inf beyond missing
    assert db.foreign_keys
    for child, col, parent, s, lt in _fk_columns(db):
        assert s.dtype == "Int64", (child, col)
        assert lt.nullable and lt.model == "paper_hsbm" and lt.summary["nullable"]
        assert 0.1 <= lt.null_rate <= 0.3
        n = len(s)
        share = float(s.isna().mean())
        assert abs(share - lt.null_rate) <= 4 * np.sqrt(lt.null_rate * (1 - lt.null_rate) / n) + 1 / n
        assert lt.null_share == pytest.approx(share) and db.tables[child].columns[col].missing == s.isna().sum()
        idx = _as_index(s)
        assert np.array_equal(idx, lt.parent_index) and lt.parent_index.dtype == np.int64
        valid = idx[idx >= 0]
        assert valid.min() >= 0 and valid.max() < len(db.tables[parent].df)
        info = db.trace.priors["links"][f"{child}.{col}"]
        assert (info["model"], info["nullable"]) == ("paper_hsbm", True)
        assert info["null_rate"] == lt.null_rate and info["null_share"] == pytest.approx(share)


def test_nulls_leave_the_links_schema_and_root_tables_alone():
    base = small_config(**{"schema.entity_rows": (200, 300), "schema.activity_rows": (400, 600)})
    for seed in range(3):
        paper, mixed = pc.generate(base, seed), pc.generate(base.replace(**NULLABLE), seed)
        assert list(paper.tables) == list(mixed.tables)
        assert {n: len(t) for n, t in paper.tables.items()} == {n: len(t) for n, t in mixed.tables.items()}
        for key, lt in paper.trace.links.items():
            got = mixed.trace.links[key]
            kept = got.parent_index >= 0
            assert (~kept).any() and np.array_equal(got.parent_index[kept], lt.parent_index[kept])
            assert (got.levels, got.h_parent, got.h_child) == (lt.levels, lt.h_parent, lt.h_child)
        roots = [n for n, t in paper.tables.items() if not t.fkey_col_to_pkey_table]
        assert roots
        for name in roots:  # no parent, no key: the same bytes
            pd.testing.assert_frame_equal(mixed.tables[name].df, paper.tables[name].df, check_exact=True)


def test_nullable_probability_is_the_v2_knob():
    cfg = small_config(**{"links.v2_nullable_fks": True, "v2_keys.fk_nullable_prob": 0.5,
                          "schema.num_tables": (5, 8)})
    flags = [lt.nullable for seed in range(12) for lt in pc.generate(cfg, seed).trace.links.values()]
    assert len(flags) >= 40
    assert stats.binomtest(sum(flags), len(flags), 0.5).pvalue > 0.001
    none = pc.generate(cfg.replace(**{"v2_keys.fk_nullable_prob": 0.0}), 0)
    assert all(not lt.nullable and (lt.parent_index >= 0).all() for lt in none.trace.links.values())
    assert all(s.dtype == np.int64 for *_, s, _lt in _fk_columns(none))


# --- v2 link models --------------------------------------------------------------------------------------
HUB = {"schema.table_layouts": ("Hub",), "schema.num_tables": (4, 4), "schema.entity_rows": (20, 20),
       "schema.activity_rows": (3000, 3000)}


def test_random_link_model_gives_uniform_parents():
    cfg = small_config(**HUB, **{"links.link_models": ("v2",), "v2_links.link_random_prob": 1.0,
                                 "links.hsbm_levels": (3, 3), "links.hsbm_clusters": (3, 3)})
    db = pc.generate(cfg, 0)
    check_invariants(db, cfg)
    for child, col, parent, s, lt in _fk_columns(db):
        assert parent == "table_0" and s.dtype == np.int64
        counts = np.bincount(s.to_numpy(), minlength=20)
        assert counts.min() > 0 and stats.chisquare(counts).pvalue > 0.001, (child, col)
        assert (lt.model, lt.levels, lt.h_parent, lt.h_child) == ("random", 1, [1], [1])
        assert not lt.parent_block.any() and not lt.child_block.any()
        assert db.trace.priors["links"][f"{child}.{col}"]["model"] == "random"
    # the paper HSBM with the same knobs is far from uniform: the chi-square above can fail
    paper = pc.generate(cfg.replace(**{"links.link_models": ("paper_hsbm",)}), 0)
    pvalues = [stats.chisquare(np.bincount(s.to_numpy(), minlength=20)).pvalue for *_, s, _lt in _fk_columns(paper)]
    assert min(pvalues) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_v2_hsbm_inactive_parents_get_no_child(seed):
    cfg = small_config(**HUB, **{"links.link_models": ("v2",), "v2_links.link_random_prob": 0.0,
                                 "v2_links.hsbm_inactive": (0.5, 0.5), "v2_links.hsbm_levels": (2, 3)})
    db = pc.generate(cfg, seed)
    check_invariants(db, cfg)
    for child, col, _parent, s, lt in _fk_columns(db):
        info = db.trace.priors["links"][f"{child}.{col}"]
        assert lt.model == info["model"] == "hsbm"
        inactive = np.asarray(info["inactive_parents"])
        assert len(inactive) == 10 and info["inactive_share"] == 0.5
        counts = np.bincount(s.to_numpy(), minlength=20)
        assert counts[inactive].sum() == 0 and (counts > 0).sum() <= 10
        assert info["parents_with_children"] == int((counts > 0).sum())
        # the LinkTrace is the v2 HSBM's: its levels, clusters and blocks
        assert 2 <= lt.levels <= 3 and lt.h_parent == info["link"]["parent_counts"]
        assert lt.h_child == info["link"]["child_counts"] and len(lt.block_matrices) == lt.levels
        assert np.array_equal(np.bincount(lt.parent_block, minlength=len(info["parent_cluster_sizes"])),
                              info["parent_cluster_sizes"])
        assert len(lt.child_block) == len(s) and lt.popularity_law in ("constant", "lomax")


def test_both_models_mix_per_key_and_paper_keys_keep_their_links():
    base = small_config(**{"schema.num_tables": (5, 8)})
    mixed_cfg = base.replace(**{"links.link_models": ("paper_hsbm", "v2")})
    models = []
    for seed in range(6):
        paper, mixed = pc.generate(base, seed), pc.generate(mixed_cfg, seed)
        check_invariants(mixed, mixed_cfg)
        for key, lt in mixed.trace.links.items():
            models.append(lt.model)
            assert mixed.trace.priors["links"][key]["model"] == lt.model
            if lt.model == "paper_hsbm":  # a key that picked the paper model draws what the paper draws
                assert np.array_equal(lt.parent_index, paper.trace.links[key].parent_index)
                assert lt.block_matrices[0].tolist() == paper.trace.links[key].block_matrices[0].tolist()
    assert {"paper_hsbm", "hsbm"} <= set(models) and set(models) <= {"paper_hsbm", "hsbm", "random"}
    assert 0.25 < models.count("paper_hsbm") / len(models) < 0.75


# --- determinism, SQL schemas, exports, CLI ----------------------------------------------------------------
MIX = {"links.link_models": ("paper_hsbm", "v2"), **NULLABLE}


def test_same_config_and_seed_same_bytes():
    cfg = small_config(**MIX, **{"schema.num_tables": (4, 6)})
    again = pc.Config.from_json(cfg.to_json())
    for seed in (0, 5):
        a, b = pc.generate(cfg, seed, threads=1), pc.generate(again, seed, threads=2)
        assert db_digest(a) == db_digest(b)
        for key, lt in a.trace.links.items():
            assert np.array_equal(lt.parent_index, b.trace.links[key].parent_index)
        assert json.dumps(a.trace.priors["links"], default=str) == json.dumps(b.trace.priors["links"], default=str)
    assert db_digest(pc.generate(cfg, 0)) != db_digest(pc.generate(cfg, 1))


DDL = """
CREATE TABLE a (id INTEGER PRIMARY KEY, x REAL);
CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a(id), y REAL);
CREATE TABLE ab (a_id INTEGER NOT NULL REFERENCES a(id), b_id INTEGER NOT NULL REFERENCES b(id),
                 PRIMARY KEY (a_id, b_id));
"""


def test_sql_schema_keeps_its_not_null_keys_and_composite_keys_keep_the_paper_hsbm():
    schema = pc.schema_from_ddl(DDL)
    cfg = small_config(**{"links.link_models": ("v2",), **NULLABLE})
    db = pc.generate(cfg, 0, schema=schema)
    for child, col, _parent, s, lt in _fk_columns(db):
        assert s.dtype == np.int64 and not s.isna().any() and not lt.nullable, (child, col)
        assert lt.model == ("paper_hsbm" if child == "ab" else db.trace.priors["links"][f"{child}.{col}"]["model"])
    assert db.trace.links["b.a_id"].model in ("random", "hsbm")
    assert not db.tables["ab"].df.duplicated(["a_id", "b_id"]).any()


@pytest.fixture(scope="module")
def mixed_db():
    cfg = small_config(**MIX, **{"schema.num_tables": (4, 6), "schema.entity_rows": (80, 120)})
    db = pc.generate(cfg, 3)
    assert any(s.isna().any() for *_, s, _lt in _fk_columns(db))
    return db


def test_sqlite_export_has_null_fks_and_a_clean_foreign_key_check(mixed_db, tmp_path):
    folder = pc.export_folder(mixed_db, tmp_path / "db", formats=("sqlite",))
    con = sqlite3.connect(folder / "database.sqlite")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    for child, col, _parent, s, _lt in _fk_columns(mixed_db):
        nulls = con.execute(f'SELECT COUNT(*) FROM "{child}" WHERE "{col}" IS NULL').fetchone()[0]
        assert nulls == int(s.isna().sum()), (child, col)
        notnull = [r[3] for r in con.execute(f'PRAGMA table_info("{child}")') if r[1] == col][0]
        assert notnull == 0, (child, col)  # a nullable key is declared without NOT NULL
    con.close()


def test_parquet_and_csv_round_trip_through_load_database(mixed_db, tmp_path):
    for formats in (("parquet",), ("csv",)):
        loaded = pc.load_database(pc.export_zip(mixed_db, tmp_path / f"{formats[0]}.zip", formats=formats))
        for name, t in mixed_db.tables.items():
            pd.testing.assert_frame_equal(loaded.tables[name].df, t.df, check_exact=True)
        for key, lt in mixed_db.trace.links.items():
            np.testing.assert_array_equal(loaded.trace.links[key].parent_index, lt.parent_index)
        assert loaded.trace.priors["links"] == json.loads(json.dumps(mixed_db.trace.priors["links"], default=float))


def test_cli_set_switches_the_mix_on(tmp_path):
    target = tmp_path / "mix.zip"
    code = main(["generate", "--preset", "demo", "--seed", "1", "--out", str(target),
                 "--set", "links.link_models=paper_hsbm,v2", "--set", "links.v2_nullable_fks=true",
                 "--set", "v2_keys.fk_nullable_prob=1"])
    assert code == 0
    cfg = pc.Config.preset("demo").replace(**{"links.link_models": ("paper_hsbm", "v2"),
                                              "links.v2_nullable_fks": True, "v2_keys.fk_nullable_prob": 1.0})
    db = pc.generate(cfg, 1)
    loaded = pc.load_database(target)
    assert loaded.config == cfg
    for name, t in db.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name].df, t.df, check_exact=True)
    assert all(s.dtype == "Int64" for *_, s, _lt in _fk_columns(loaded))
    with zipfile.ZipFile(target) as zf:
        saved = json.loads(zf.read(f"{db.name}/config.json"))
    assert saved["config"]["links"]["link_models"] == ["paper_hsbm", "v2"]
    assert saved["config"]["links"]["v2_nullable_fks"] is True


def test_sidebar_shows_the_v2_knobs_the_mix_reads_and_they_reach_the_database():
    """The paper design's sidebar draws v2_links / v2_keys knobs only once a mix switch reads them."""
    from streamlit.testing.v1 import AppTest
    from test_app import APP, _drawn_keys

    mix_title = "Paper + v2 mix: the v2 knobs it reads"
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["preset"], at.query_params["seed"] = "demo", "1"
    at.run()
    assert not at.exception
    assert mix_title not in [e.label for e in at.sidebar.expander]
    assert "w:v2_links.link_random_prob" not in _drawn_keys(at)

    at.multiselect(key="w:links.link_models").set_value(["paper_hsbm", "v2"]).run()
    assert not at.exception
    assert mix_title in [e.label for e in at.sidebar.expander]
    drawn = _drawn_keys(at)
    assert {f"w:v2_links.{f}" for f in ("link_random_prob", "hsbm_inactive")} <= {k.split(":lo")[0].split(":hi")[0]
                                                                                   for k in drawn}
    assert "w:v2_keys.fk_nullable_prob" not in drawn  # the nullable switch is still off

    at.checkbox(key="w:links.v2_nullable_fks").check().run()
    assert "w:v2_keys.fk_nullable_prob" in _drawn_keys(at)
    at.session_state["w:v2_keys.fk_nullable_prob"] = 1.0
    at.run()
    assert not at.exception
    db = at.session_state["plurel_db"]
    assert db.config.links.v2_nullable_fks and db.config.v2_keys.fk_nullable_prob == 1.0
    fks = [(t, c) for t in db.tables.values() for c in t.fkey_col_to_pkey_table]
    assert fks and all(str(t.df[c].dtype) == "Int64" for t, c in fks)


def test_views_show_the_link_model_and_nulls_of_a_mixed_paper_database(mixed_db):
    from plurel_core import key_views, stats

    table = stats.fk_table(mixed_db)
    assert {"model", "nullable", "null rate"} <= set(table.columns)
    for key in stats.fk_keys(mixed_db):
        info = key_views.link_info(mixed_db, key)
        lt = mixed_db.trace.links[key]
        assert info["model"] == lt.model and info["nullable"] == lt.nullable
        lines = " ".join(key_views.link_lines(mixed_db, key))
        assert f"link model **{lt.model}**" in lines
        assert ("**nullable**" in lines) == lt.nullable
        assert key_views.has_block_structure(mixed_db, key) == (
            lt.model == "paper_hsbm" or (lt.model == "hsbm" and np.prod(lt.h_parent) * np.prod(lt.h_child) > 1))
    row = table.set_index("foreign key").loc[stats.fk_label(mixed_db, stats.fk_keys(mixed_db)[0])]
    assert row["model"] == mixed_db.trace.links[stats.fk_keys(mixed_db)[0]].model
    plain = pc.generate(small_config(), 0)  # without the mix a paper database has no link records
    assert "model" not in stats.fk_table(plain).columns
    assert all(key_views.link_info(plain, k) == {} for k in stats.fk_keys(plain))
