"""Exports (ZIP / folder) read back by pandas, relbench 3 and 1.x, sqlite3 and DuckDB."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path, PurePosixPath

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import plurel_core as pc
from plurel_core.database import ColumnMeta, Database, LinkTrace, Table, Trace
from plurel_core.export import ALL_FORMATS, export_folder, export_zip, schema_sql
from plurel_core.load import load_database
from plurel_core.names import safe_name, unique_safe_names

SEED = 3


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_db() -> Database:
    return pc.generate(pc.Config.preset("demo"), SEED)


@pytest.fixture(scope="module")
def demo_zip(demo_db, tmp_path_factory) -> Path:
    return export_zip(demo_db, tmp_path_factory.mktemp("zip") / "demo.zip")


@pytest.fixture(scope="module")
def demo_dir(demo_zip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(demo_zip) as zf:
        zf.extractall(out)
    (root,) = list(out.iterdir())
    return root


def _hostile_db() -> Database:
    """A hand-built database whose table and column names are all hostile as file names.

    It has a self-reference, a reference cycle (a deferred FK to a table created later), a
    nullable FK, a composite key, text / boolean / categorical / numerical / time columns and
    missing values in each.
    """
    rng = np.random.default_rng(0)
    n = 40
    t_x = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "na me": pd.array([f"v{i % 3}" if i % 7 else None for i in range(n)], dtype="str"),
        'quo"te': pd.array([bool(i % 2) if i % 5 else None for i in range(n)], dtype="boolean"),
        "x,y\nz": rng.integers(0, 3, n).astype(np.int64),
        "ünï": np.where(np.arange(n) % 6 == 0, np.nan, rng.normal(size=n)),
    })
    parent_self = pd.array([None] + list(range(n - 1)), dtype="Int64")  # a tree inside one table
    t_ab = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "parent id": parent_self,
        "x_id": rng.integers(0, n, n).astype(np.int64),
        "con_ref": pd.array([int(v) if i % 4 else None for i, v in enumerate(rng.integers(0, n, n))],
                            dtype="Int64"),  # closes a cycle: "CON" is created after "a/b"
        "created": pd.date_range("2001-01-01", periods=n, freq="37h").astype("datetime64[ns]"),
    })
    t_ab.loc[3, "created"] = pd.NaT
    t_con = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "ab_id": rng.integers(0, n, n).astype(np.int64),
        "score": rng.random(n) * 1e-7,
    })
    pairs = pd.DataFrame({"x_id": np.arange(n) % 10, "ab_id": np.arange(n) // 10}).astype(np.int64)
    t_assoc = pairs.assign(w=rng.exponential(size=n))
    t_uni = pd.DataFrame({"id": np.arange(5, dtype=np.int64), "ключ": ["α", "β", "γ", "δ", "ε"]})
    t_uni["ключ"] = t_uni["ключ"].astype("str")
    t_bs = pd.DataFrame({"id": np.arange(3, dtype=np.int64), "ref": np.array([0, 1, 4], dtype=np.int64)})
    t_q = pd.DataFrame({"id": np.arange(2, dtype=np.int64), "v": [1.5, -2.25]})
    t_con2 = pd.DataFrame({"id": np.arange(2, dtype=np.int64)})

    def meta(df, kinds):
        return {c: ColumnMeta(kind=kinds.get(c, "numerical")) for c in df.columns}

    tables = {
        "../x": Table(t_x, "id", {}, None, "entity", meta(t_x, {
            "id": "pkey", "na me": "text", 'quo"te': "boolean", "x,y\nz": "categorical"})),
        "a/b": Table(t_ab, "id", {"parent id": "a/b", "x_id": "../x", "con_ref": "CON"}, "created", "activity",
                     meta(t_ab, {"id": "pkey", "parent id": "fkey", "x_id": "fkey", "con_ref": "fkey",
                                 "created": "time"})),
        "CON": Table(t_con, "id", {"ab_id": "a/b"}, None, "entity", meta(t_con, {"id": "pkey", "ab_id": "fkey"})),
        "a_b": Table(t_assoc, None, {"x_id": "../x", "ab_id": "a/b"}, None, "activity",
                     meta(t_assoc, {"x_id": "fkey", "ab_id": "fkey"}), composite_key=("x_id", "ab_id")),
        "日本語": Table(t_uni, "id", {}, None, "entity", meta(t_uni, {"id": "pkey", "ключ": "text"})),
        "A\\..\\b": Table(t_bs, "id", {"ref": "日本語"}, None, "entity", meta(t_bs, {"id": "pkey", "ref": "fkey"})),
        'quo"te \'s': Table(t_q, "id", {}, None, "entity", meta(t_q, {"id": "pkey"})),
        "nul.txt": Table(t_con2, "id", {}, None, "entity", meta(t_con2, {"id": "pkey"})),
    }
    tables["../x"].columns["na me"].categories = ["v0", "v1", "v2"]
    tables["../x"].columns['quo"te'].categories = [False, True]
    tables["../x"].columns["x,y\nz"].categories = [0, 1, 2]
    graph = nx.DiGraph()
    for i, (name, t) in enumerate(tables.items()):
        graph.add_node(name, kind=t.kind, rows=len(t.df), node_id=i, generation=i)
    links = {}
    for name, t in tables.items():
        for col, parent in t.fkey_col_to_pkey_table.items():
            if parent != name:
                graph.add_edge(parent, name)
            idx = t.df[col].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
            links[f"{name}.{col}"] = LinkTrace(
                child=name, parent=parent, fkey_col=col, parent_index=idx, levels=1, h_parent=[1],
                h_child=[1], parent_block=np.zeros(len(tables[parent].df), dtype=np.int64),
                child_block=np.zeros(len(t.df), dtype=np.int64), block_matrices=[np.array([[0.9]])],
                null_share=float(np.mean(idx < 0)), deferred=(name, col) == ("a/b", "con_ref"))
    ts = pd.Timestamp
    trace = Trace(schema_graph=graph, table_layout="given", table_layout_params={}, links=links, scm={},
                  priors={"database": {"schema_source": "ddl"}}, min_timestamp=ts("2001-01-01"),
                  max_timestamp=ts("2001-03-03"), val_timestamp=ts("2001-02-20"),
                  test_timestamp=ts("2001-02-26"), timings={}, notes=["hand-built"])
    cfg = pc.Config().replace(name='evil/../"name"')
    return Database(tables=tables, config=cfg, seed=7, trace=trace)


@pytest.fixture(scope="module")
def hostile_db() -> Database:
    return _hostile_db()


@pytest.fixture(scope="module")
def hostile_zip(hostile_db, tmp_path_factory) -> Path:
    return export_zip(hostile_db, tmp_path_factory.mktemp("hz") / "hostile.zip", schema_ddl="CREATE TABLE t (id INT);")


@pytest.fixture(scope="module")
def hostile_dir(hostile_db, tmp_path_factory) -> Path:
    return export_folder(hostile_db, tmp_path_factory.mktemp("hd"), schema_ddl="CREATE TABLE t (id INT);")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _meta(root: Path) -> dict:
    return json.loads((root / "metadata.json").read_text())


def _read_csv(root: Path, tmeta: dict) -> pd.DataFrame:
    """Read a CSV back the way README.md says, with the dtypes from metadata.json."""
    cols = tmeta["columns"]
    dates = [c["name"] for c in cols if c["dtype"].startswith("datetime")]
    dtypes = {c["name"]: c["dtype"] for c in cols if c["name"] not in dates}
    df = pd.read_csv(root / "csv" / f"{tmeta['file_stem']}.csv", dtype=dtypes, parse_dates=dates,
                     keep_default_na=False, na_values=[""])
    for d in dates:
        df[d] = df[d].astype(next(c["dtype"] for c in cols if c["name"] == d))
    return df


def _assert_same_values(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns and the same values (missing where missing), whatever the container dtypes."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:
        a, b = got[col], want[col]
        assert (a.isna().to_numpy() == b.isna().to_numpy()).all(), col
        keep = b.notna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(b.dtype):
            a = pd.to_datetime(a, format="ISO8601") if not pd.api.types.is_datetime64_any_dtype(a.dtype) else a
            assert (a.to_numpy(dtype="datetime64[ns]")[keep] == b.to_numpy(dtype="datetime64[ns]")[keep]).all(), col
        elif pd.api.types.is_float_dtype(b.dtype):
            assert np.array_equal(a.to_numpy(dtype=float)[keep], b.to_numpy(dtype=float)[keep]), col
        elif pd.api.types.is_bool_dtype(b.dtype):
            assert [bool(v) for v in a[keep]] == [bool(v) for v in b[keep]], col
        elif pd.api.types.is_integer_dtype(b.dtype):
            assert np.array_equal(a[keep].to_numpy(dtype=np.int64), b[keep].to_numpy(dtype=np.int64)), col
        else:
            assert [str(v) for v in a[keep]] == [str(v) for v in b[keep]], col


def _relbench1_load(db_dir: Path) -> dict:
    """relbench 1.x's Database.load / Table.load, line for line (relbench 3 no longer ships them):
    every ``*.parquet`` of the folder is a table named by its stem; ``pa.parquet.read_table`` then
    ``to_pandas``; the keys fkey_col_to_pkey_table, pkey_col and time_col are JSON in the Arrow
    schema metadata."""
    out = {}
    for table_path in Path(db_dir).glob("*.parquet"):
        table = pq.read_table(table_path)
        df = table.to_pandas()
        metadata = {key.decode("utf-8"): json.loads(value.decode("utf-8"))
                    for key, value in table.schema.metadata.items()
                    if key in [b"fkey_col_to_pkey_table", b"pkey_col", b"time_col"]}
        out[table_path.stem] = (df, metadata["fkey_col_to_pkey_table"], metadata["pkey_col"], metadata["time_col"])
    return out


def _duckdb_load(root: Path) -> duckdb.DuckDBPyConnection:
    """schema.sql into DuckDB, then every table from its Parquet file, parents first (README recipe)."""
    meta = _meta(root)
    con = duckdb.connect()
    con.execute((root / "schema.sql").read_text())
    for name in meta["generation_order"]:
        ident = '"' + name.replace('"', '""') + '"'
        path = str(root / "db" / f"{meta['tables'][name]['file_stem']}.parquet").replace("'", "''")
        con.execute(f"INSERT INTO {ident} SELECT * FROM read_parquet('{path}')")
    return con


# --------------------------------------------------------------------------------------------
# ZIP structure, manifest, determinism
# --------------------------------------------------------------------------------------------
def test_zip_holds_one_folder_with_every_file(demo_db, demo_zip):
    with zipfile.ZipFile(demo_zip) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    root = demo_db.name
    assert {PurePosixPath(n).parts[0] for n in names} == {root}
    expected = {"README.md", "config.json", "metadata.json", "schema.sql", "manifest.yaml", "database.sqlite",
                "manifest.json"} | {f"db/{t}.parquet" for t in demo_db.tables} | {f"csv/{t}.csv" for t in demo_db.tables}
    assert {n.split("/", 1)[1] for n in names} == expected
    assert names[-1] == f"{root}/manifest.json"
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)


def test_manifest_json_hashes_and_rows(demo_db, demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(demo_dir).as_posix() for p in demo_dir.rglob("*") if p.is_file()}
    assert set(files) == on_disk - {"manifest.json"}
    for rel, rec in files.items():
        data = (demo_dir / rel).read_bytes()
        assert rec["sha256"] == hashlib.sha256(data).hexdigest(), rel
        assert rec["bytes"] == len(data)
    for name, t in demo_db.tables.items():
        assert files[f"db/{name}.parquet"]["rows"] == len(t.df)
        assert files[f"csv/{name}.csv"]["rows"] == len(t.df)
    assert files["database.sqlite"]["tables"] == {n: len(t.df) for n, t in demo_db.tables.items()}


def test_same_config_and_seed_give_byte_identical_zip(demo_zip, tmp_path):
    again = pc.generate(pc.Config.preset("demo"), SEED)  # a fresh run, not the same object
    buf = io.BytesIO()
    assert export_zip(again, buf) is None
    assert buf.getvalue() == demo_zip.read_bytes()
    other = export_zip(pc.generate(pc.Config.preset("demo"), SEED + 1), tmp_path / "other.zip")
    assert other.read_bytes() != demo_zip.read_bytes()


def test_folder_export_matches_zip_entries(demo_db, demo_zip, tmp_path):
    root = export_folder(demo_db, tmp_path)
    assert root == tmp_path / demo_db.name
    with zipfile.ZipFile(demo_zip) as zf:
        for info in zf.infolist():
            assert zf.read(info) == (tmp_path / info.filename).read_bytes(), info.filename
    with pytest.raises(FileExistsError):
        export_folder(demo_db, tmp_path)


def test_formats_subset_and_validation(demo_db):
    buf = io.BytesIO()
    export_zip(demo_db, buf, formats=["csv"])
    with zipfile.ZipFile(buf) as zf:
        rels = {n.split("/", 1)[1] for n in zf.namelist()}
    assert rels == {"README.md", "config.json", "metadata.json", "manifest.json"} | {f"csv/{t}.csv" for t in demo_db.tables}
    with pytest.raises(ValueError, match="unknown"):
        export_zip(demo_db, io.BytesIO(), formats=["xlsx"])
    assert set(ALL_FORMATS) == {"csv", "parquet", "sqlite", "sql"}


# --------------------------------------------------------------------------------------------
# config.json, metadata.json, README.md
# --------------------------------------------------------------------------------------------
def test_config_json_regenerates_identical_tables(demo_db, demo_dir):
    payload = json.loads((demo_dir / "config.json").read_text())
    assert set(payload) == {"config", "seed", "schema_ddl"} and payload["schema_ddl"] is None
    cfg = pc.Config.from_json((demo_dir / "config.json").read_text())
    assert cfg == demo_db.config
    again = pc.generate(cfg, payload["seed"])
    for name, t in demo_db.tables.items():
        pd.testing.assert_frame_equal(again.tables[name].df, t.df)


def test_metadata_describes_keys_columns_and_cutoffs(demo_db, demo_dir):
    meta = _meta(demo_dir)
    assert meta["generation_order"] == list(demo_db.tables)
    assert pd.Timestamp(meta["val_timestamp"]) == demo_db.val_timestamp
    assert pd.Timestamp(meta["test_timestamp"]) == demo_db.test_timestamp
    for name, t in demo_db.tables.items():
        tm = meta["tables"][name]
        assert tm["pkey_col"] == t.pkey_col and tm["time_col"] == t.time_col and tm["rows"] == len(t.df)
        assert {fk["column"]: fk["parent"] for fk in tm["foreign_keys"]} == t.fkey_col_to_pkey_table
        assert [c["name"] for c in tm["columns"]] == list(t.df.columns)
        for c in tm["columns"]:
            assert c["dtype"] == str(t.df[c["name"]].dtype)
            assert c["kind"] == t.columns[c["name"]].kind
            assert c["categories"] == t.columns[c["name"]].categories


def test_readme_explains_regeneration_and_loading(demo_db, demo_dir):
    text = (demo_dir / "README.md").read_text()
    assert f"plurel generate --config config.json --seed {SEED} --out" in text
    assert f"plurel_core.generate(Config.from_json(open('config.json').read()), seed={SEED})" in text
    for needle in ("load_dataset", "Database.load", "sqlite3", "duckdb", "read_parquet", "read_csv",
                   demo_db.config.digest(), f"seed: `{SEED}`"):
        assert needle in text
    for name, t in demo_db.tables.items():
        assert f"| {name} | `{name}` | {t.kind} | {len(t.df)} |" in text


# --------------------------------------------------------------------------------------------
# round trips per format
# --------------------------------------------------------------------------------------------
def test_csv_round_trip(demo_db, demo_dir):
    meta = _meta(demo_dir)
    for name, t in demo_db.tables.items():
        got = _read_csv(demo_dir, meta["tables"][name])
        pd.testing.assert_frame_equal(got, t.df, check_exact=True)


def test_parquet_round_trip_with_pandas(demo_db, demo_dir):
    for name, t in demo_db.tables.items():
        got = pd.read_parquet(demo_dir / "db" / f"{name}.parquet")
        pd.testing.assert_frame_equal(got, t.df, check_exact=True)


def test_relbench3_load_dataset_opens_the_folder(demo_db, demo_dir):
    from relbench.load import load_dataset

    ds = load_dataset(demo_dir)
    assert ds.val_timestamp == demo_db.val_timestamp and ds.test_timestamp == demo_db.test_timestamp
    full = ds.get_db(upto_test_timestamp=False)
    assert set(full.table_dict) == set(demo_db.tables)
    for name, t in demo_db.tables.items():
        rt = full.table_dict[name]
        assert rt.pkey_col == t.pkey_col and rt.time_col == t.time_col
        assert rt.fkey_col_to_pkey_table == t.fkey_col_to_pkey_table
        _assert_same_values(rt.df, t.df)
    upto = ds.get_db()
    for name, t in demo_db.tables.items():
        expect = len(t.df) if t.time_col is None else int((t.df[t.time_col] <= demo_db.test_timestamp).sum())
        assert len(upto.table_dict[name].df) == expect
    manifest = yaml.safe_load((demo_dir / "manifest.yaml").read_text())
    assert manifest["manifest_version"] == 1 and manifest["description"]


def test_relbench1_parquet_metadata(demo_db, demo_dir):
    import relbench.base

    for path in (demo_dir / "db").glob("*.parquet"):
        raw = pq.read_schema(path).metadata
        for key in (b"pkey_col", b"fkey_col_to_pkey_table", b"time_col"):
            json.loads(raw[key])  # valid JSON
    if hasattr(relbench.base.Database, "load"):  # relbench 1.x / 2.x
        loaded = {n: (t.df, t.fkey_col_to_pkey_table, t.pkey_col, t.time_col)
                  for n, t in relbench.base.Database.load(demo_dir / "db").table_dict.items()}
    else:
        loaded = _relbench1_load(demo_dir / "db")
    assert set(loaded) == set(demo_db.tables)
    for name, t in demo_db.tables.items():
        df, fkeys, pkey, time_col = loaded[name]
        assert (fkeys, pkey, time_col) == (t.fkey_col_to_pkey_table, t.pkey_col, t.time_col)
        pd.testing.assert_frame_equal(df, t.df, check_exact=True)


def test_sqlite_file_has_rows_and_valid_constraints(demo_db, demo_dir):
    con = sqlite3.connect(demo_dir / "database.sqlite")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for name, t in demo_db.tables.items():
        fks = {(r[3], r[2], r[4]) for r in con.execute(f'PRAGMA foreign_key_list("{name}")')}
        assert fks == {(c, p, "row_idx") for c, p in t.fkey_col_to_pkey_table.items()}
        pk = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")') if r[5]]
        assert pk == [t.pkey_col]
        got = pd.read_sql_query(f'SELECT * FROM "{name}"', con)
        _assert_same_values(got, t.df)
        if t.time_col:  # timestamps are ISO text
            first = con.execute(f'SELECT "{t.time_col}" FROM "{name}" LIMIT 1').fetchone()[0]
            assert isinstance(first, str) and pd.Timestamp(first) == t.df[t.time_col].iloc[0]
    # a dangling reference is caught once foreign keys are enforced
    child = next(n for n, t in demo_db.tables.items() if t.fkey_col_to_pkey_table)
    col, parent = next(iter(demo_db.tables[child].fkey_col_to_pkey_table.items()))
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(f'UPDATE "{child}" SET "{col}" = 10000000 WHERE rowid = 1')
    con.close()


def test_schema_sql_runs_on_sqlite_and_duckdb(demo_db, demo_dir):
    ddl = (demo_dir / "schema.sql").read_text()
    con = sqlite3.connect(":memory:")
    con.executescript(ddl)
    assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")} == set(demo_db.tables)
    duck = _duckdb_load(demo_dir)
    for name, t in demo_db.tables.items():
        assert duck.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == len(t.df)
        _assert_same_values(duck.execute(f'SELECT * FROM "{name}"').df(), t.df)
    child = next(n for n, t in demo_db.tables.items() if t.fkey_col_to_pkey_table)
    cols = list(demo_db.tables[child].df.columns)
    bad = ", ".join("10000000" if c in demo_db.tables[child].fkey_col_to_pkey_table or c == "row_idx" else "NULL"
                    for c in cols)
    with pytest.raises(duckdb.ConstraintException):
        duck.execute(f'INSERT INTO "{child}" VALUES ({bad})')


def test_load_database_round_trip(demo_db, demo_zip, demo_dir):
    for source in (demo_zip, demo_dir, demo_dir.parent, io.BytesIO(demo_zip.read_bytes())):
        db = load_database(source)
        assert db.config == demo_db.config and db.seed == demo_db.seed and db.name == demo_db.name
        assert list(db.tables) == list(demo_db.tables)
        for name, t in demo_db.tables.items():
            r = db.tables[name]
            pd.testing.assert_frame_equal(r.df, t.df, check_exact=True)
            assert (r.pkey_col, r.fkey_col_to_pkey_table, r.time_col, r.kind, r.composite_key) == \
                (t.pkey_col, t.fkey_col_to_pkey_table, t.time_col, t.kind, t.composite_key)
            assert r.columns == t.columns
        assert db.val_timestamp == demo_db.val_timestamp and db.test_timestamp == demo_db.test_timestamp
        assert set(db.trace.schema_graph.edges) == set(demo_db.trace.schema_graph.edges)
        assert dict(db.trace.schema_graph.nodes(data=True)) == dict(demo_db.trace.schema_graph.nodes(data=True))
        assert db.trace.table_layout == demo_db.trace.table_layout
        for key, link in demo_db.trace.links.items():
            got = db.trace.links[key]
            assert np.array_equal(got.parent_index, link.parent_index)
            assert np.array_equal(got.parent_block, link.parent_block)
            assert np.array_equal(got.child_block, link.child_block)
            assert (got.levels, got.h_parent, got.h_child, got.deferred) == \
                (link.levels, link.h_parent, link.h_child, link.deferred)
            assert all(np.allclose(a, b) for a, b in zip(got.block_matrices, link.block_matrices))
        assert db.trace.scm == {}


def test_load_database_from_csv_only_export(demo_db):
    buf = io.BytesIO()
    export_zip(demo_db, buf, formats=("csv",))
    db = load_database(io.BytesIO(buf.getvalue()))
    for name, t in demo_db.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df, check_exact=True)


# --------------------------------------------------------------------------------------------
# hostile names, self references, cycles, nullable keys, composite keys
# --------------------------------------------------------------------------------------------
def test_hostile_names_give_safe_distinct_files(hostile_db, hostile_zip):
    with zipfile.ZipFile(hostile_zip) as zf:
        names = zf.namelist()
    for n in names:
        parts = n.split("/")
        assert "\\" not in n and ".." not in parts and all(parts), n
        assert all(p == safe_name(p) for p in parts), n  # every component is already safe
        assert not any(ord(ch) < 32 for ch in n)
    root = {n.split("/")[0] for n in names}
    assert root == {safe_name(hostile_db.name)} and ".." not in next(iter(root))
    stems = [PurePosixPath(n).stem for n in names if n.endswith(".parquet")]
    assert len(stems) == len(hostile_db.tables)
    assert len({s.casefold() for s in stems}) == len(stems)  # distinct even on case-insensitive disks
    assert "日本語" in stems  # unicode kept


def test_hostile_export_sqlite_duckdb_relbench(hostile_db, hostile_dir):
    meta = _meta(hostile_dir)
    assert list(meta["tables"]) == list(hostile_db.tables)  # real names kept
    con = sqlite3.connect(hostile_dir / "database.sqlite")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    quoted = '"' + "a/b" + '"'
    fks = {r[3]: r[2] for r in con.execute(f"PRAGMA foreign_key_list({quoted})")}
    assert fks == {"parent id": "a/b", "x_id": "../x", "con_ref": "CON"}  # self-ref and cycle declared
    pk = [r[1] for r in con.execute("PRAGMA table_info(\"a_b\")") if r[5]]
    assert pk == ["x_id", "ab_id"]
    for name, t in hostile_db.tables.items():
        ident = '"' + name.replace('"', '""') + '"'
        _assert_same_values(pd.read_sql_query(f"SELECT * FROM {ident}", con), t.df)
    ddl = (hostile_dir / "schema.sql").read_text()
    assert "closes a reference cycle" in ddl and "is a self-reference" in ddl
    lite = sqlite3.connect(":memory:")
    lite.executescript(ddl)
    duck = _duckdb_load(hostile_dir)
    for name, t in hostile_db.tables.items():
        ident = '"' + name.replace('"', '""') + '"'
        _assert_same_values(duck.execute(f"SELECT * FROM {ident}").df(), t.df)
    from relbench.load import load_dataset

    rb = load_dataset(hostile_dir).get_db(upto_test_timestamp=False)
    stems = {name: tm["file_stem"] for name, tm in meta["tables"].items()}
    for name, t in hostile_db.tables.items():
        rt = rb.table_dict[stems[name]]
        assert rt.fkey_col_to_pkey_table == {c: stems[p] for c, p in t.fkey_col_to_pkey_table.items()}
        _assert_same_values(rt.df, t.df)


def test_hostile_round_trips_csv_and_load_database(hostile_db, hostile_zip, hostile_dir):
    meta = _meta(hostile_dir)
    for name, t in hostile_db.tables.items():
        _assert_same_values(_read_csv(hostile_dir, meta["tables"][name]), t.df)
    assert json.loads((hostile_dir / "config.json").read_text())["schema_ddl"] == "CREATE TABLE t (id INT);"
    db = load_database(hostile_zip)
    assert list(db.tables) == list(hostile_db.tables)
    for name, t in hostile_db.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df, check_exact=True)
        assert db.tables[name].composite_key == t.composite_key
        assert db.tables[name].columns == t.columns
    assert db.trace.links["a/b.con_ref"].deferred
    assert np.array_equal(db.trace.links["a/b.parent id"].parent_index, hostile_db.trace.links["a/b.parent id"].parent_index)
    text = (hostile_dir / "README.md").read_text()
    assert "schema_ddl" in text


def test_hostile_csv_only_export_loads_back(hostile_db):
    buf = io.BytesIO()
    export_zip(hostile_db, buf, formats=("csv",))
    db = load_database(io.BytesIO(buf.getvalue()))
    for name, t in hostile_db.tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df, check_exact=True)


HOSTILE_DDL = """
CREATE TABLE "../x" (id INTEGER PRIMARY KEY, "na me" TEXT, "quo""te" BOOLEAN,
                     kind VARCHAR(10) CHECK (kind IN ('a', 'b')));
CREATE TABLE "a/b" (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES "a/b"(id),
                    x_id INTEGER NOT NULL REFERENCES "../x"(id), "ünï" REAL, created TIMESTAMP);
CREATE TABLE "CON" (id INTEGER PRIMARY KEY, ab_id INTEGER NOT NULL REFERENCES "a/b"(id),
                    other_id INTEGER REFERENCES "日本語"(id));
CREATE TABLE "日本語" (id INTEGER PRIMARY KEY, con_id INTEGER REFERENCES "CON"(id), v DOUBLE PRECISION);
CREATE TABLE "a_b" (x_id INTEGER NOT NULL REFERENCES "../x"(id), ab_id INTEGER NOT NULL REFERENCES "a/b"(id),
                    w REAL, PRIMARY KEY (x_id, ab_id));
"""


def test_database_from_hostile_ddl_exports_and_regenerates(tmp_path):
    schema = pc.schema_from_ddl(HOSTILE_DDL)
    db = pc.generate(pc.Config.preset("demo"), 1, schema=schema)
    root = export_folder(db, tmp_path, schema_ddl=HOSTILE_DDL)
    con = sqlite3.connect(root / "database.sqlite")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    duck = _duckdb_load(root)
    for name, t in db.tables.items():
        ident = '"' + name.replace('"', '""') + '"'
        _assert_same_values(duck.execute(f"SELECT * FROM {ident}").df(), t.df)
        _assert_same_values(pd.read_sql_query(f"SELECT * FROM {ident}", con), t.df)
    payload = json.loads((root / "config.json").read_text())
    assert payload["schema_ddl"] == HOSTILE_DDL
    again = pc.generate(pc.Config.from_json((root / "config.json").read_text()), payload["seed"],
                        schema=pc.schema_from_ddl(payload["schema_ddl"]))
    loaded = load_database(root)
    for name, t in db.tables.items():
        pd.testing.assert_frame_equal(again.tables[name].df, t.df)
        pd.testing.assert_frame_equal(loaded.tables[name].df, t.df, check_exact=True)
    assert all(p.name == safe_name(p.name) for p in root.rglob("*"))


def test_schema_sql_quotes_identifiers(hostile_db):
    ddl = schema_sql(hostile_db)
    assert 'CREATE TABLE "quo""te \'s"' in ddl and '"x,y\nz" BIGINT' in ddl
    # the name with a newline never escapes into SQL from a comment
    for line in ddl.splitlines():
        if line.startswith("--"):
            assert "\n" not in line


def test_clashing_sql_names_are_refused(hostile_db):
    t = hostile_db.tables["nul.txt"]
    clash = Database(tables={"T": t, "t": t}, config=hostile_db.config, seed=0, trace=hostile_db.trace)
    with pytest.raises(ValueError, match="differ only in case"):
        schema_sql(clash)
    with pytest.raises(ValueError, match="differ only in case"):
        export_zip(clash, io.BytesIO())
    buf = io.BytesIO()
    export_zip(clash, buf, formats=("parquet", "csv"))  # no SQL: both tables, distinct files
    with zipfile.ZipFile(buf) as zf:
        stems = [PurePosixPath(n).stem for n in zf.namelist() if n.endswith(".parquet")]
    assert len(stems) == 2 and len({s.casefold() for s in stems}) == 2


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------
def test_safe_name_examples():
    assert safe_name("table_0") == "table_0"
    assert safe_name("日本語") == "日本語"
    for hostile in ("../x", "a/b", "CON", "con.txt", "..", ".", "", "x\x00y", " a ", "-rf", "a\\b", "NUL"):
        s = safe_name(hostile)
        assert s and "/" not in s and "\\" not in s and ".." not in s and not s.startswith((".", "-"))
        assert s.split(".")[0].upper() not in {"CON", "NUL", "PRN", "AUX"}
    assert safe_name("a/b") != safe_name("a_b")
    m = unique_safe_names(["A", "a", "a/b", "a_b"])
    assert len({v.casefold() for v in m.values()}) == 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=12))
def test_unique_safe_names_are_safe_and_distinct(names):
    mapping = unique_safe_names(names)
    assert set(mapping) == set(names)
    values = list(mapping.values())
    assert len({v.casefold() for v in values}) == len(values)
    for v in values:
        assert v and "/" not in v and "\\" not in v and ".." not in v and v == safe_name(v)
        assert not any(ord(ch) < 32 or ch in '<>:"|?*' for ch in v)
        assert len(v.encode()) <= 120
