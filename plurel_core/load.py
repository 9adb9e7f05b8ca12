"""Read an export (ZIP or extracted folder) back into a :class:`~plurel_core.database.Database`.

What is restored:

- every table's DataFrame with its dtypes (from ``db/<t>.parquet``, else ``csv/<t>.csv``, else
  ``database.sqlite``, with the dtypes recorded in metadata.json: booleans ``bool``, categoricals
  pandas ``category`` over the recorded labels, integer or text), column order,
  primary key, composite key, foreign keys, time column, kind and every column's
  :class:`ColumnMeta`;
- the config and the seed (config.json), so ``generate(db.config, db.seed)`` remakes it;
- a trace that is minimal but valid: the schema graph (node attrs kind, rows, node_id,
  generation), table layout and its parameters, min / max / val / test timestamps, the sampled
  priors and notes; one :class:`LinkTrace` per foreign key whose ``parent_index`` comes from the
  FK column (-1 where null) and whose HSBM summary (levels, h_parent, h_child, block matrices,
  block ids per row, popularity law, null share, deferred) comes from metadata.json.

Not restored: the SCM traces (``trace.scm`` is empty; regenerate from config.json for them),
source components, and the stage timings (all 0.0).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from plurel_core.database import ColumnMeta, Database, LinkTrace, Table, Trace

_TIMING_KEYS = ("stage1", "stage2", "stage3", "postprocess", "total")


class _DirSource:
    """Files of an extracted export, relative to its root folder."""

    def __init__(self, root: Path):
        self.root = root

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read_bytes(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def parquet(self, rel: str):
        return pq.read_table(self.root / rel)

    @contextmanager
    def local_file(self, rel: str) -> Iterator[str]:
        yield str(self.root / rel)


class _ZipSource:
    """Files of an export inside a ZIP, relative to its one root folder."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        roots = {PurePosixPath(n).parts[0] for n in zf.namelist()
                 if len(PurePosixPath(n).parts) == 2 and PurePosixPath(n).name == "metadata.json"}
        if len(roots) != 1:
            raise ValueError(f"expected one export folder with metadata.json in the ZIP, found {sorted(roots)}")
        self.root = roots.pop()
        self.names = set(zf.namelist())

    def exists(self, rel: str) -> bool:
        return f"{self.root}/{rel}" in self.names

    def read_bytes(self, rel: str) -> bytes:
        return self.zf.read(f"{self.root}/{rel}")

    def parquet(self, rel: str):
        return pq.read_table(io.BytesIO(self.read_bytes(rel)))

    @contextmanager
    def local_file(self, rel: str) -> Iterator[str]:
        """The entry extracted to a temporary file (sqlite3 reads files only), removed afterwards."""
        fd, path = tempfile.mkstemp(suffix=Path(rel).suffix)
        try:
            with os.fdopen(fd, "wb") as out, self.zf.open(f"{self.root}/{rel}") as entry:
                shutil.copyfileobj(entry, out, 1 << 20)
            yield path
        finally:
            os.unlink(path)


def _find_root(folder: Path) -> Path:
    if (folder / "metadata.json").is_file():
        return folder
    found = [p for p in sorted(folder.iterdir()) if p.is_dir() and (p / "metadata.json").is_file()]
    if len(found) != 1:
        raise ValueError(f"{folder}: no export folder (metadata.json) found" if not found
                         else f"{folder}: several export folders found: {[p.name for p in found]}")
    return found[0]


def as_categorical(values: pd.Series, categories: list[Any]) -> pd.Series:
    """A column of labels (any representation: ints, their text, a categorical) as a pandas
    Categorical over ``categories``, in that order; a label outside them is an error."""
    cats = pd.Index(list(categories))
    source = pd.Categorical(values)
    by_text = {str(c): i for i, c in enumerate(cats)}
    remap = np.array([by_text.get(str(c), -2) for c in source.categories], dtype=np.int64)
    if (remap == -2).any():
        unknown = [c for c, r in zip(source.categories, remap) if r == -2]
        raise ValueError(f"column {values.name!r}: labels {unknown[:5]} are not among its categories")
    codes = np.where(source.codes >= 0, remap[np.clip(source.codes, 0, None)] if len(remap) else -1, -1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=values.index, name=values.name)


def _restore_dtypes(df: pd.DataFrame, columns: list[dict[str, Any]]) -> pd.DataFrame:
    """The recorded dtype of every column: categoricals over their labels, booleans as bool."""
    for c in columns:
        name, dtype = c["name"], c["dtype"]
        if dtype == "category":
            df[name] = as_categorical(df[name], c.get("categories") or [])
        elif dtype == "bool" and df[name].dtype != bool:
            df[name] = df[name].astype(bool)
    return df


def _read_csv(src: _DirSource | _ZipSource, rel: str, columns: list[dict[str, Any]]) -> pd.DataFrame:
    dates = [c["name"] for c in columns if c["dtype"].startswith("datetime")]
    dtypes = {}
    for c in columns:
        if c["name"] in dates:
            continue
        dtype = c["dtype"]
        if dtype == "bool":
            dtype = "boolean"  # read as nullable, converted back below
        dtypes[c["name"]] = "object" if dtype in ("object", "str", "category") else dtype
    df = pd.read_csv(io.BytesIO(src.read_bytes(rel)), dtype=dtypes, keep_default_na=False,
                     na_values=[""])
    for c in columns:
        name, dtype = c["name"], c["dtype"]
        if name in dates:
            df[name] = pd.to_datetime(df[name], format="ISO8601").astype(dtype)
        elif dtype == "str":
            df[name] = df[name].astype(dtype)
    return _restore_dtypes(df, columns)[[c["name"] for c in columns]]


def _read_sqlite(path: str, name: str, columns: list[dict[str, Any]]) -> pd.DataFrame:
    """One table of database.sqlite with the dtypes recorded in metadata.json."""
    import sqlite3

    from plurel_core.export import quote_ident

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(f"SELECT * FROM {quote_ident(name)} ORDER BY rowid").fetchall()
    finally:
        con.close()
    data = {}
    for i, c in enumerate(columns):
        values = [r[i] for r in rows]
        dtype = c["dtype"]
        if dtype.startswith("datetime"):
            data[c["name"]] = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601").astype(dtype)
        elif dtype in ("category", "object", "str"):
            data[c["name"]] = pd.Series(values, dtype=object)
        elif dtype == "bool":
            data[c["name"]] = pd.Series(values, dtype="boolean")
        elif dtype.startswith("float"):
            data[c["name"]] = pd.Series([np.nan if v is None else v for v in values], dtype=dtype)
        else:
            data[c["name"]] = pd.Series(values, dtype=object).astype(dtype)
    df = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    for c in columns:
        if c["dtype"] == "str":
            df[c["name"]] = df[c["name"]].astype("str")
    return _restore_dtypes(df, columns)


def _column_meta(c: dict[str, Any]) -> ColumnMeta:
    return ColumnMeta(kind=c["kind"], categories=c.get("categories"), transform=c.get("transform"),
                      missing=int(c.get("missing", 0)), binarized=bool(c.get("binarized", False)),
                      node=c.get("node"), note=c.get("note", ""))


def _expand_runs(runs: list[list[int]] | None, n: int) -> np.ndarray:
    if not runs:
        return np.zeros(n, dtype=np.int64)
    values = np.repeat([r[0] for r in runs], [r[1] for r in runs]).astype(np.int64)
    return values if values.size == n else np.zeros(n, dtype=np.int64)


def _parent_index(t: Table, col: str) -> np.ndarray:
    s = t.df[col]
    return s.astype("Int64").fillna(-1).to_numpy(dtype=np.int64) if s.isna().any() \
        else s.to_numpy(dtype=np.int64)


def _trace(meta: dict[str, Any], tables: dict[str, Table]) -> Trace:
    graph = nx.DiGraph()
    for name, tm in meta["tables"].items():
        graph.add_node(name, kind=tm["kind"], rows=tm["rows"], node_id=tm.get("node_id"),
                       generation=tm.get("generation"))
    for name, tm in meta["tables"].items():
        for fk in tm["foreign_keys"]:
            if fk["parent"] != name:
                graph.add_edge(fk["parent"], name, fkey_col=fk["column"], deferred=bool(fk.get("deferred")))
    links = {}
    for name, t in tables.items():
        for col, parent in t.fkey_col_to_pkey_table.items():
            key = f"{name}.{col}"
            lm = meta.get("links", {}).get(key, {})
            n_parent = len(tables[parent].df) if parent in tables else 0
            index = _parent_index(t, col)
            links[key] = LinkTrace(
                child=name, parent=parent, fkey_col=col, parent_index=index,
                levels=int(lm.get("levels", 1)), h_parent=list(lm.get("h_parent", [1])),
                h_child=list(lm.get("h_child", [1])),
                parent_block=_expand_runs(lm.get("parent_block_runs"), n_parent),
                child_block=_expand_runs(lm.get("child_block_runs"), len(t.df)),
                block_matrices=[np.asarray(m, dtype=np.float64) for m in lm.get("block_matrices", [[[1.0]]])],
                popularity_law=lm.get("popularity_law", "constant"),
                popularity_param=lm.get("popularity_param"),
                null_share=float(lm.get("null_share", float(np.mean(index < 0)) if index.size else 0.0)),
                deferred=bool(lm.get("deferred", False)),
            )

    def ts(key: str) -> pd.Timestamp:
        return pd.Timestamp(meta[key]) if meta.get(key) else pd.NaT

    notes = list(meta.get("notes", []))
    notes.append("loaded from an export: SCM traces and stage timings are not stored there")
    return Trace(
        schema_graph=graph, table_layout=meta.get("table_layout") or "given",
        table_layout_params=dict(meta.get("table_layout_params") or {}), links=links, scm={},
        priors=dict(meta.get("priors") or {}), min_timestamp=ts("min_timestamp"),
        max_timestamp=ts("max_timestamp"), val_timestamp=ts("val_timestamp"),
        test_timestamp=ts("test_timestamp"), timings=dict.fromkeys(_TIMING_KEYS, 0.0), notes=notes,
    )


def _load(src: _DirSource | _ZipSource) -> Database:
    from plurel_core.config import Config

    meta = json.loads(src.read_bytes("metadata.json"))
    payload = json.loads(src.read_bytes("config.json"))
    config = Config.from_dict(payload["config"])
    tables: dict[str, Table] = {}
    sqlite_path = None
    with ExitStack() as files:  # a SQLite file extracted from a ZIP lives until every table is read
        for name, tm in meta["tables"].items():
            stem, columns = tm["file_stem"], tm["columns"]
            if src.exists(f"db/{stem}.parquet"):
                df = _restore_dtypes(src.parquet(f"db/{stem}.parquet").to_pandas(), columns)
            elif src.exists(f"csv/{stem}.csv"):
                df = _read_csv(src, f"csv/{stem}.csv", columns)
            elif src.exists("database.sqlite"):
                sqlite_path = sqlite_path or files.enter_context(src.local_file("database.sqlite"))
                df = _read_sqlite(sqlite_path, name, columns)
            else:
                raise ValueError(f"table {name!r}: none of db/{stem}.parquet, csv/{stem}.csv, database.sqlite "
                                 "in the export")
            order = [c["name"] for c in columns]
            if list(df.columns) != order:
                raise ValueError(f"table {name!r}: columns {list(df.columns)} differ from metadata {order}")
            tables[name] = Table(
                df=df, pkey_col=tm["pkey_col"],
                fkey_col_to_pkey_table={fk["column"]: fk["parent"] for fk in tm["foreign_keys"]},
                time_col=tm["time_col"], kind=tm["kind"],
                columns={c["name"]: _column_meta(c) for c in columns if c.get("kind") is not None},
                composite_key=tuple(tm.get("composite_key") or ()),
            )
    return Database(tables=tables, config=config, seed=int(payload["seed"]), trace=_trace(meta, tables))


def load_database(path: str | os.PathLike | IO[bytes]) -> Database:
    """Read a ZIP written by :func:`plurel_core.export_zip` or a folder (the extracted ZIP, or the
    folder holding it) back into a Database. See the module docstring for what is restored."""
    if not isinstance(path, (str, os.PathLike)):
        with zipfile.ZipFile(path) as zf:
            return _load(_ZipSource(zf))
    p = Path(path)
    if p.is_dir():
        return _load(_DirSource(_find_root(p)))
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if not zipfile.is_zipfile(p):
        raise ValueError(f"{p}: not a ZIP file or export folder")
    with zipfile.ZipFile(p) as zf:
        return _load(_ZipSource(zf))
