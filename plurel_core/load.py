"""Read an export (ZIP or extracted folder) back into a :class:`~plurel_core.database.Database`.

What is restored:

- every table's DataFrame with its dtypes (from ``db/<t>.parquet``, or from ``csv/<t>.csv``
  with the dtypes recorded in metadata.json when the export has no Parquet files), column order,
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
import zipfile
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


def _find_root(folder: Path) -> Path:
    if (folder / "metadata.json").is_file():
        return folder
    found = [p for p in sorted(folder.iterdir()) if p.is_dir() and (p / "metadata.json").is_file()]
    if len(found) != 1:
        raise ValueError(f"{folder}: no export folder (metadata.json) found" if not found
                         else f"{folder}: several export folders found: {[p.name for p in found]}")
    return found[0]


def _read_csv(src: _DirSource | _ZipSource, rel: str, columns: list[dict[str, Any]]) -> pd.DataFrame:
    dates = [c["name"] for c in columns if c["dtype"].startswith("datetime")]
    dtypes = {}
    for c in columns:
        if c["name"] in dates:
            continue
        dtype = c["dtype"]
        if dtype == "bool":
            dtype = "boolean"  # read as nullable, converted back below
        dtypes[c["name"]] = "object" if dtype in ("object", "str") else dtype
    df = pd.read_csv(io.BytesIO(src.read_bytes(rel)), dtype=dtypes, keep_default_na=False,
                     na_values=[""])
    for c in columns:
        name, dtype = c["name"], c["dtype"]
        if name in dates:
            df[name] = pd.to_datetime(df[name], format="ISO8601").astype(dtype)
        elif dtype in ("bool", "str"):
            df[name] = df[name].astype(dtype)
    return df[[c["name"] for c in columns]]


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
    for name, tm in meta["tables"].items():
        stem, columns = tm["file_stem"], tm["columns"]
        if src.exists(f"db/{stem}.parquet"):
            df = src.parquet(f"db/{stem}.parquet").to_pandas()
        elif src.exists(f"csv/{stem}.csv"):
            df = _read_csv(src, f"csv/{stem}.csv", columns)
        else:
            raise ValueError(f"table {name!r}: neither db/{stem}.parquet nor csv/{stem}.csv in the export")
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
