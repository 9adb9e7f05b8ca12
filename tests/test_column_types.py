"""Column dtypes as the PluRel authors write them, in every table and every export.

A binarized categorical is a ``bool`` column; a categorical that keeps its labels is a pandas
``category`` over them (integers 0..k-1 for a random schema, the declared labels for a SQL
schema); a numerical column is float64 and is kept when constant, while a binarized column left
with one value is dropped.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import plurel_core as pc

SEEDS = {"paper": range(4), "demo": range(16), "chain": range(3), "hub": range(3)}
FORMATS = ("parquet", "csv", "sqlite")


def _is_categorical_dtype(s: pd.Series) -> bool:
    return s.dtype == np.bool_ or isinstance(s.dtype, pd.CategoricalDtype)


def _check_dtypes(db: pc.Database) -> None:
    binarize = db.config.postprocess.binarize
    for name, t in db.tables.items():
        for col in t.feature_cols:
            meta, s = t.columns[col], t.df[col]
            if meta.kind == "numerical":
                assert s.dtype == np.float64, (name, col, s.dtype)
            elif meta.binarized:
                assert binarize and s.dtype == np.bool_, (name, col, s.dtype)
                assert s.nunique() == 2, f"{name}.{col}: a constant binarized column was kept"
            else:
                assert meta.kind == "categorical" and not binarize, (name, col, meta.kind)
                assert isinstance(s.dtype, pd.CategoricalDtype), (name, col, s.dtype)
                assert list(s.dtype.categories) == meta.categories == list(range(len(meta.categories)))
                assert s.dtype.categories.dtype == np.int64


PAPER_DESIGN = [p for p in pc.Config.preset_names() if pc.Config.preset(p).design == "paper"]


@pytest.mark.parametrize("preset", PAPER_DESIGN)
@pytest.mark.parametrize("binarize", [True, False])
def test_every_preset_writes_the_authors_dtypes(preset, binarize):
    cfg = pc.Config.preset(preset).replace(**{"postprocess.binarize": binarize})
    for seed in SEEDS.get(preset, range(3)):
        db = pc.generate(cfg, seed)
        _check_dtypes(db)
        if not binarize:
            assert not any(db.trace.priors["tables"][n]["dropped_columns"] for n in db.tables)


def test_v2_writes_its_authors_dtypes():
    # v2 has no bool columns: categorical and binned columns are categories of strings c0.., keys Int64
    for seed in range(3):
        db = pc.generate(pc.Config.preset("v2"), seed)
        for name, t in db.tables.items():
            assert t.df["id"].dtype == np.int64
            for col in t.fkey_col_to_pkey_table:
                assert t.df[col].dtype == "Int64", (name, col)
            for col in t.feature_cols:
                s = t.df[col]
                if t.columns[col].kind == "numerical":
                    assert s.dtype == np.float64, (name, col, s.dtype)
                elif t.columns[col].kind == "categorical":
                    cats = list(s.dtype.categories)
                    assert isinstance(s.dtype, pd.CategoricalDtype) and cats == [f"c{i}" for i in range(len(cats))]
                else:
                    assert t.columns[col].kind == "time" and s.dtype == "datetime64[ns]", (name, col)


def test_constant_numerical_columns_are_kept_and_constant_binarized_ones_dropped():
    # hardshrink (|x| < 0.5 -> 0) after a sparse N(0, 0.01^2) initialisation zeroes every hidden
    # unit: non-source nodes come out constant, numerical and categorical alike
    cfg = pc.Config.preset("demo").replace(**{"scm.activations": ("hardshrink",),
                                              "scm.initializations": ("sparse",)})
    kept_constant = dropped = 0
    for seed in range(3):
        db = pc.generate(cfg, seed)
        _check_dtypes(db)
        for name, t in db.tables.items():
            kept_constant += sum(t.columns[c].kind == "numerical" and t.df[c].nunique() <= 1 for c in t.feature_cols)
            gone = db.trace.priors["tables"][name]["dropped_columns"]
            dropped += len(gone)
            assert not set(gone) & set(t.df.columns)
    assert kept_constant >= 5 and dropped >= 5, (kept_constant, dropped)


def test_categorical_share_by_dtype_matches_the_prior():
    # judged by dtype alone: bool and category columns are categorical. Before binarization drops
    # the constant ones the share is the prior's categorical_share (0.5); after, it is lower.
    cfg = pc.Config.preset("demo")
    share = cfg.schema.categorical_share
    kept = dropped = total = total_off = kept_off = 0
    for seed in range(40):
        on = pc.generate(cfg, seed)
        off = pc.generate(cfg.replace(**{"postprocess.binarize": False}), seed)
        for name, t in on.tables.items():
            gone = len(on.trace.priors["tables"][name]["dropped_columns"])
            kept += sum(_is_categorical_dtype(t.df[c]) for c in t.feature_cols)
            dropped += gone
            total += len(t.feature_cols) + gone
        for t in off.tables.values():
            kept_off += sum(_is_categorical_dtype(t.df[c]) for c in t.feature_cols)
            total_off += len(t.feature_cols)
    assert total == total_off > 400
    sd = (share * (1 - share) / total) ** 0.5
    assert abs(kept_off / total_off - share) < 4 * sd, kept_off / total_off  # binarization off
    assert abs((kept + dropped) / total - share) < 4 * sd  # binarized, counting the dropped ones
    assert kept / (total - dropped) < share - 2 * sd  # the kept share alone is lower


# --------------------------------------------------------------------------------------------
# exports keep the types
# --------------------------------------------------------------------------------------------
def _ddl_db() -> pc.Database:
    ddl = """
    CREATE TABLE customers (id INTEGER PRIMARY KEY, tier TEXT CHECK (tier IN ('gold', 'silver', 'bronze')),
                            vip BOOLEAN NOT NULL, score REAL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                         status TEXT CHECK (status IN ('new', 'paid', 'it''s shipped')), total REAL,
                         created_at TIMESTAMP);
    """
    return pc.generate(pc.Config.preset("demo"), 2, schema=pc.schema_from_ddl(ddl, "sqlite"))


@pytest.fixture(scope="module")
def databases() -> dict[str, pc.Database]:
    demo = pc.Config.preset("demo")
    return {"binarized": pc.generate(demo, 1),
            "labels": pc.generate(demo.replace(**{"postprocess.binarize": False}), 1),
            "ddl": _ddl_db()}


def test_ddl_schema_columns_are_categorical_over_their_labels_and_bool(databases):
    db = databases["ddl"]
    tier, vip = db.tables["customers"].df["tier"], db.tables["customers"].df["vip"]
    assert isinstance(tier.dtype, pd.CategoricalDtype) and list(tier.dtype.categories) == ["gold", "silver", "bronze"]
    assert vip.dtype == np.bool_
    status = db.tables["orders"].df["status"]
    assert list(status.dtype.categories) == ["new", "paid", "it's shipped"]


@pytest.mark.parametrize("kind", ["binarized", "labels", "ddl"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("container", ["zip", "folder"])
def test_round_trip_gives_back_dtypes_and_values(databases, kind, fmt, container, tmp_path):
    db = databases[kind]
    if container == "zip":
        path = pc.export_zip(db, tmp_path / "db.zip", formats=[fmt])
    else:
        path = pc.export_folder(db, tmp_path, formats=[fmt])
    back = pc.load_database(path)
    assert list(back.tables) == list(db.tables)
    for name, t in db.tables.items():
        assert_frame_equal(back.tables[name].df, t.df, check_exact=True)
        for col, meta in t.columns.items():
            got = back.tables[name].columns[col]
            assert (got.kind, got.binarized, got.categories) == (meta.kind, meta.binarized, meta.categories)


def test_relbench_duckdb_sqlite_and_csv_see_booleans_and_categoricals(databases, tmp_path):
    from relbench.load import load_dataset

    for kind, db in databases.items():
        root = pc.export_folder(db, tmp_path / kind)
        meta = json.loads((root / "metadata.json").read_text())
        # relbench 3.x
        rdb = load_dataset(str(root)).get_db(upto_test_timestamp=False)
        stems = {m["file_stem"]: n for n, m in meta["tables"].items()}
        for stem, rt in rdb.table_dict.items():
            t = db.tables[stems[stem]]
            for col in t.feature_cols:
                if t.df[col].dtype == np.bool_:
                    assert rt.df[col].dtype == np.bool_, (kind, col)
                elif isinstance(t.df[col].dtype, pd.CategoricalDtype):
                    assert isinstance(rt.df[col].dtype, pd.CategoricalDtype), (kind, col, rt.df[col].dtype)
                    assert [str(v) for v in rt.df[col].astype(str)] == [str(v) for v in t.df[col].astype(str)]
        # metadata.json: kind, dtype and labels of every column
        for name, t in db.tables.items():
            cols = {c["name"]: c for c in meta["tables"][name]["columns"]}
            for col in t.feature_cols:
                c = cols[col]
                assert c["dtype"] == str(t.df[col].dtype) and c["kind"] == t.columns[col].kind
                if isinstance(t.df[col].dtype, pd.CategoricalDtype):
                    assert c["categories"] == list(t.df[col].dtype.categories)
                if t.df[col].dtype == np.bool_:
                    assert c["sql_type"] == "BOOLEAN" and c["categories"] == [False, True]
        # SQLite: BOOLEAN 0/1 guarded by a CHECK, categoricals as their labels
        con = sqlite3.connect(root / "database.sqlite")
        for name, t in db.tables.items():
            types = {r[1]: r[2] for r in con.execute(f'PRAGMA table_info("{name}")')}
            for col in t.feature_cols:
                s = t.df[col]
                got = [r[0] for r in con.execute(f'SELECT "{col}" FROM "{name}" ORDER BY rowid')]
                if s.dtype == np.bool_:
                    assert types[col] == "BOOLEAN" and got == s.astype(int).tolist()
                elif isinstance(s.dtype, pd.CategoricalDtype):
                    assert got == s.tolist()
            bools = [c for c in t.feature_cols if t.df[c].dtype == np.bool_]
            if bools:
                with pytest.raises(sqlite3.IntegrityError):
                    con.execute(f'UPDATE "{name}" SET "{bools[0]}" = 2 WHERE rowid = 1')
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()
        # DuckDB runs schema.sql and takes the Parquet files into its BOOLEAN / labelled columns
        duck = duckdb.connect()
        duck.execute((root / "schema.sql").read_text())
        for name in meta["generation_order"]:
            stem = meta["tables"][name]["file_stem"]
            duck.execute(f"INSERT INTO \"{name}\" SELECT * FROM read_parquet('{root / 'db' / (stem + '.parquet')}')")
        for name, t in db.tables.items():
            for col in t.feature_cols:
                s = t.df[col]
                if s.dtype == np.bool_ or isinstance(s.dtype, pd.CategoricalDtype):
                    got = [r[0] for r in duck.execute(f'SELECT "{col}" FROM "{name}" ORDER BY rowid').fetchall()]
                    assert got == s.tolist(), (kind, name, col)
            bools = [c for c in t.feature_cols if t.df[c].dtype == np.bool_]
            if bools:
                dtype = duck.execute(f"SELECT data_type FROM information_schema.columns WHERE table_name = '{name}' "
                                     f"AND column_name = '{bools[0]}'").fetchone()[0]
                assert dtype == "BOOLEAN"
        # CSV: booleans as true / false, categoricals as their labels
        for name, t in db.tables.items():
            text = (root / "csv" / f"{meta['tables'][name]['file_stem']}.csv").read_text()
            raw = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
            for col in t.feature_cols:
                if t.df[col].dtype == np.bool_:
                    assert set(raw[col]) <= {"true", "false"} and (raw[col] == "true").tolist() == t.df[col].tolist()
                elif isinstance(t.df[col].dtype, pd.CategoricalDtype):
                    assert raw[col].tolist() == [str(v) for v in t.df[col].tolist()]


def test_exports_stay_byte_identical(databases, tmp_path):
    for kind, db in databases.items():
        a = pc.export_zip(db, tmp_path / f"{kind}_a.zip")
        b = pc.export_zip(db, tmp_path / f"{kind}_b.zip")
        assert Path(a).read_bytes() == Path(b).read_bytes(), kind
    with zipfile.ZipFile(a) as zf:
        assert any(n.endswith(".parquet") for n in zf.namelist())

