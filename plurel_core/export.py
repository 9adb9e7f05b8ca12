"""Write a :class:`~plurel_core.database.Database` as a ZIP or a folder in real formats.

One folder named after the database (``db.name``, sanitised) holds::

    README.md        what is inside, how it was made, how to load each format
    config.json      {"config": ..., "seed": N, "schema_ddl": ...}: regenerates the tables exactly
    metadata.json    tables, columns (kind, dtype, categories ...), keys, time columns, cut-offs
    manifest.yaml    relbench 3.x dataset manifest (format "parquet") ...
    db/<t>.parquet   ... next to one Parquet file per table, also carrying relbench 1.x metadata
    schema.sql       CREATE TABLE statements for SQLite and DuckDB (format "sql")
    csv/<t>.csv      one CSV per table (format "csv")
    database.sqlite  SQLite file with PRIMARY / FOREIGN KEY constraints (format "sqlite")
    manifest.json    sha256, size and row count of every file above

The folder is itself a relbench 3.x dataset folder: ``relbench.load.load_dataset(folder)``.
Output is deterministic: the same database gives the same bytes (fixed ZIP entry times, order
and compression; Parquet and SQLite written the same way every time). Tables are written one by
one straight into the ZIP entries, so memory stays bounded by the largest table's buffers.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from plurel_core.names import safe_name, unique_safe_names

ALL_FORMATS: tuple[str, ...] = ("csv", "parquet", "sqlite", "sql")
EXPORT_FORMAT_VERSION = 1
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_LEVEL = 3  # deflate level: about half the time of level 6 for ~7% larger CSV / SQLite entries
_CHUNK_ROWS = 65536
_COPY_BYTES = 1 << 20
_ZIP64_THRESHOLD = 1 << 30  # entries that might exceed this are written with ZIP64 headers


# --------------------------------------------------------------------------------------------
# names, types, layout
# --------------------------------------------------------------------------------------------
def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (SQLite, DuckDB, standard SQL); embedded quotes doubled."""
    name = str(name)
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character, which SQL cannot quote")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A SQL literal for a category label (integers bare, text single-quoted)."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    text = str(value)
    if "\x00" in text:
        raise ValueError(f"category label {text!r} contains a NUL character, which SQL cannot quote")
    return "'" + text.replace("'", "''") + "'"


def value_check(col: str, dtype: Any) -> str | None:
    """The CHECK clause that keeps a boolean column to 0 / 1 and a categorical to its labels."""
    if pd.api.types.is_bool_dtype(dtype):
        return f"CHECK ({quote_ident(col)} IN (0, 1))"
    if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories):
        return f"CHECK ({quote_ident(col)} IN ({', '.join(sql_literal(v) for v in dtype.categories)}))"
    return None


def _comment(text: str) -> str:
    """Text safe inside a ``--`` comment (no line breaks or control characters)."""
    return json.dumps(str(text), ensure_ascii=False)[1:-1]


def sql_type(dtype: Any) -> str:
    """Column type accepted by both SQLite and DuckDB for a pandas dtype (a categorical by its labels)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return sql_type(dtype.categories.dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "BIGINT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP"
    return "TEXT"


def _generator_version() -> str:
    import plurel_core

    version = getattr(plurel_core, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        return dist_version("plurel-studio")
    except PackageNotFoundError:
        return "unknown"


class Layout:
    """File names of one export: the root folder and one safe file stem per table."""

    def __init__(self, db):
        self.root = safe_name(db.name)
        self.stems = unique_safe_names(db.tables)  # real table name -> file stem

    def parquet(self, table: str) -> str:
        return f"db/{self.stems[table]}.parquet"

    def csv(self, table: str) -> str:
        return f"csv/{self.stems[table]}.csv"


def _normalize_formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise ValueError(f"formats: unknown {unknown}; allowed: {list(ALL_FORMATS)}")
    return tuple(f for f in ALL_FORMATS if f in formats)


def _iso(ts: Any) -> str | None:
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return None
    return pd.Timestamp(ts).isoformat()


def iso_strings(series: pd.Series) -> np.ndarray:
    """ISO 8601 text of a datetime column (object array, None where missing).

    The unit is the coarsest of s / ms / us / ns that represents every value exactly, so the
    text reads back to the same timestamps and carries no noise digits.
    """
    values = series.to_numpy(dtype="datetime64[ns]")
    mask = np.isnat(values)
    ints = values.view(np.int64)[~mask]
    unit = "ns"
    for name, div in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ints.size == 0 or not np.any(ints % div):
            unit = name
            break
    text = np.datetime_as_string(values, unit=unit).astype(object)
    text[mask] = None
    return text


def _jsonable(obj: Any) -> Any:
    """Plain JSON values from numpy / pandas objects (deterministic)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (pd.Timestamp, np.datetime64)):
        return _iso(obj)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [_jsonable(v) for v in items]
    if hasattr(obj, "model_dump"):
        return _jsonable(obj.model_dump(mode="json"))
    return str(obj)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _run_lengths(values: np.ndarray, limit: int = 4096) -> list[list[int]] | None:
    """[[value, count], ...] of a 1-d int array, or None when it has more than ``limit`` runs."""
    values = np.asarray(values)
    if values.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    if starts.size > limit:
        return None
    counts = np.diff(np.r_[starts, values.size])
    return [[int(values[s]), int(c)] for s, c in zip(starts, counts)]


# --------------------------------------------------------------------------------------------
# config.json, metadata.json, schema.sql, manifest.yaml, README.md
# --------------------------------------------------------------------------------------------
def schema_ddl_text(db, schema_ddl: str | None = None) -> str | None:
    """The DDL the database was generated from, if any (argument, then db / trace attributes)."""
    if schema_ddl is not None:
        return schema_ddl
    for holder in (db, db.trace):
        text = getattr(holder, "schema_ddl", None)
        if text:
            return str(text)
    return None


def config_payload(db, schema_ddl: str | None = None) -> dict[str, Any]:
    return {"config": db.config.to_dict(), "seed": int(db.seed), "schema_ddl": schema_ddl_text(db, schema_ddl)}


def _parent_key(db, parent: str) -> str | None:
    t = db.tables.get(parent)
    return None if t is None else t.pkey_col


def _links_meta(db) -> dict[str, Any]:
    out = {}
    for key, link in db.trace.links.items():
        out[key] = {
            "child": link.child, "parent": link.parent, "fkey_col": link.fkey_col,
            "levels": int(link.levels), "h_parent": [int(h) for h in link.h_parent],
            "h_child": [int(h) for h in link.h_child],
            "block_matrices": [np.asarray(m, dtype=float).tolist() for m in link.block_matrices],
            "parent_block_runs": _run_lengths(link.parent_block),
            "child_block_runs": _run_lengths(link.child_block),
            "popularity_law": link.popularity_law, "popularity_param": link.popularity_param,
            "null_share": float(link.null_share), "deferred": bool(link.deferred),
        }
    return out


def metadata_payload(db, layout: Layout | None = None) -> dict[str, Any]:
    """Everything needed to read the tables back with their keys, kinds and categories."""
    layout = layout or Layout(db)
    graph = db.trace.schema_graph
    deferred = {(link.child, link.fkey_col) for link in db.trace.links.values() if link.deferred}
    tables: dict[str, Any] = {}
    for name, t in db.tables.items():
        node = graph.nodes[name] if name in graph.nodes else {}
        columns = []
        for col in t.df.columns:
            meta = t.columns.get(col)
            columns.append({
                "name": col, "dtype": str(t.df[col].dtype), "sql_type": sql_type(t.df[col].dtype),
                "kind": meta.kind if meta else None,
                "categories": _jsonable(meta.categories) if meta else None,
                "transform": meta.transform if meta else None,
                "missing": int(meta.missing) if meta else 0,
                "binarized": bool(meta.binarized) if meta else False,
                "node": None if meta is None or meta.node is None else int(meta.node),
                "note": meta.note if meta else "",
                "nulls": int(t.df[col].isna().sum()),
            })
        tables[name] = {
            "file_stem": layout.stems[name], "kind": t.kind, "rows": len(t.df),
            "pkey_col": t.pkey_col, "composite_key": list(t.composite_key), "time_col": t.time_col,
            "foreign_keys": [
                {"column": col, "parent": parent, "parent_column": _parent_key(db, parent),
                 "deferred": (name, col) in deferred, "self_reference": parent == name}
                for col, parent in t.fkey_col_to_pkey_table.items()
            ],
            "node_id": _jsonable(node.get("node_id")), "generation": _jsonable(node.get("generation")),
            "columns": columns,
        }
    trace = db.trace
    return {
        "format_version": EXPORT_FORMAT_VERSION, "name": db.name,
        "generator": {"package": "plurel-studio", "version": _generator_version()},
        "preset": db.config.name, "seed": int(db.seed), "config_digest": db.config.digest(),
        "min_timestamp": _iso(trace.min_timestamp), "max_timestamp": _iso(trace.max_timestamp),
        "val_timestamp": _iso(trace.val_timestamp), "test_timestamp": _iso(trace.test_timestamp),
        "num_tables": len(db.tables), "num_rows": int(db.num_rows), "num_cells": int(db.num_cells),
        "generation_order": list(db.tables),
        "table_layout": trace.table_layout, "table_layout_params": _jsonable(trace.table_layout_params),
        "tables": tables,
        "links": _links_meta(db),
        "priors": _jsonable(trace.priors),
        "notes": [str(n) for n in trace.notes],
    }


def _check_sql_names(db) -> None:
    """SQL identifiers are case-insensitive in SQLite and DuckDB: refuse names that would clash."""
    seen: dict[str, str] = {}
    for name, t in db.tables.items():
        quote_ident(name)
        prev = seen.setdefault(name.casefold(), name)
        if prev != name:
            raise ValueError(f"tables {prev!r} and {name!r} differ only in case; SQL cannot tell them apart")
        cols: dict[str, str] = {}
        for col in t.df.columns:
            quote_ident(col)
            prev = cols.setdefault(str(col).casefold(), col)
            if prev != col:
                raise ValueError(f"table {name!r}: columns {prev!r} and {col!r} differ only in case")


def create_table_sql(db, name: str, *, created: set[str] | None = None) -> str:
    """One CREATE TABLE statement.

    With ``created`` (the tables already created), two kinds of foreign key are left out as a
    comment, because DuckDB cannot take them: one to a table not yet created (it closes a
    reference cycle; DuckDB refuses forward references) and a self-reference (DuckDB checks it
    against the rows already stored, so one bulk INSERT of a tree fails). Without ``created``
    every foreign key is declared (SQLite checks them only on demand).
    """
    t = db.tables[name]
    key_cols = {t.pkey_col} if t.pkey_col else set(t.composite_key)
    lines, tail, notes = [], [], []
    for col in t.df.columns:
        s = t.df[col]
        decl = f"    {quote_ident(col)} {sql_type(s.dtype)}"
        nullable_dtype = s.dtype == object or getattr(s.dtype, "na_value", None) is not None \
            or pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype)
        if col in key_cols or (col in t.fkey_col_to_pkey_table and not nullable_dtype):
            decl += " NOT NULL"
        if col == t.pkey_col:
            decl += " PRIMARY KEY"
        check = value_check(col, s.dtype)
        if check:
            decl += " " + check
        lines.append(decl)
    if not t.pkey_col and t.composite_key:
        tail.append(f"    PRIMARY KEY ({', '.join(quote_ident(c) for c in t.composite_key)})")
    for col, parent in t.fkey_col_to_pkey_table.items():
        pcol = _parent_key(db, parent)
        ref = f"FOREIGN KEY ({quote_ident(col)}) REFERENCES {quote_ident(parent)} ({quote_ident(pcol)})" \
            if pcol else None
        if ref is None:
            notes.append(f"-- {_comment(col)} references {_comment(parent)}, which has no single-column "
                         "primary key: constraint not declared")
        elif created is not None and parent == name:
            notes.append(f"-- {_comment(col)} -> {_comment(parent)}.{_comment(pcol)} is a self-reference: "
                         "constraint omitted here (DuckDB checks it against rows already stored, so a bulk "
                         "load of the table fails), declared in database.sqlite")
        elif created is not None and parent not in created:
            notes.append(f"-- {_comment(col)} -> {_comment(parent)}.{_comment(pcol)} closes a reference cycle "
                         f"({_comment(parent)} is created later): constraint omitted here, declared in "
                         "database.sqlite")
        else:
            tail.append(f"    {ref}")
    body = ",\n".join(lines + tail)
    head = "".join(n + "\n" for n in notes)
    return f"{head}CREATE TABLE {quote_ident(name)} (\n{body}\n);\n"


def schema_sql(db, *, portable: bool = True) -> str:
    """CREATE TABLE statements in generation order.

    ``portable=True`` (schema.sql) runs on SQLite and DuckDB: FKs that point forward (cycles)
    and self-references are omitted with a comment. ``portable=False`` declares every FK (the SQLite file).
    """
    _check_sql_names(db)
    out = [
        f"-- Schema of {_comment(db.name)}: {len(db.tables)} tables in generation order "
        "(parents before children).\n",
        "-- Accepted by SQLite and DuckDB; identifiers are double-quoted.\n",
    ]
    created: set[str] = set()
    for name in db.tables:
        out.append("\n")
        out.append(create_table_sql(db, name, created=created if portable else None))
        created.add(name)
    return "".join(out)


def relbench_manifest(db, layout: Layout) -> dict[str, Any]:
    """relbench 3.x DatasetManifest as a dict (table names = Parquet file stems)."""
    stems = layout.stems
    return {
        "name": layout.root,
        "manifest_version": 1,
        "description": (f"PluRel synthetic relational database {db.name} (preset {db.config.name}, "
                        f"seed {db.seed}, config {db.config.digest()})"),
        "val_timestamp": _iso(db.val_timestamp),
        "test_timestamp": _iso(db.test_timestamp),
        "tables": {
            stems[name]: {
                "pkey": t.pkey_col, "time_col": t.time_col,
                "fkeys": {col: stems[parent] for col, parent in t.fkey_col_to_pkey_table.items()},
            }
            for name, t in db.tables.items()
        },
    }


def _readme(db, layout: Layout, formats: tuple[str, ...], has_ddl: bool) -> str:
    name, seed = db.name, int(db.seed)
    rows = "\n".join(
        f"| {_md(t)} | `{layout.stems[t]}` | {tab.kind} | {len(tab.df)} | {tab.df.shape[1]} | "
        f"{_md(tab.pkey_col or ', '.join(tab.composite_key) or '-')} | {_md(tab.time_col or '-')} | "
        f"{_md(', '.join(f'{c} -> {p}' for c, p in tab.fkey_col_to_pkey_table.items()) or '-')} |"
        for t, tab in db.tables.items()
    )
    files = ["- `README.md`: this file.",
             "- `config.json`: the config, the seed" + (" and the DDL schema" if has_ddl else "")
             + ": regenerates these tables exactly.",
             "- `metadata.json`: tables, columns (kind, dtype, SQL type, categories), primary, composite "
             "and foreign keys, time columns, val/test cut-offs, the sampled priors."]
    if "parquet" in formats:
        files.append("- `manifest.yaml` + `db/<table>.parquet`: a relbench 3.x dataset folder (this folder); "
                     "each Parquet file also carries relbench 1.x metadata (`pkey_col`, "
                     "`fkey_col_to_pkey_table`, `time_col`).")
    if "sql" in formats:
        files.append("- `schema.sql`: CREATE TABLE statements with PRIMARY KEY and FOREIGN KEY constraints "
                     "for SQLite and DuckDB.")
    if "csv" in formats:
        files.append("- `csv/<table>.csv`: one CSV per table (header row; missing values empty; timestamps ISO 8601).")
    if "sqlite" in formats:
        files.append("- `database.sqlite`: every row, constraints declared; timestamps as ISO text, "
                     "missing values NULL.")
    files.append("- `manifest.json`: sha256, size and row count of every file.")
    stem0 = next(iter(layout.stems.values()), "table")
    real0 = next(iter(db.tables), "table")
    sections = [
        f"# {name}\n",
        "A synthetic relational database generated by PluRel Studio after PluRel "
        "(Kothapalli et al., arXiv 2602.04029).\n",
        "## How it was made\n",
        f"- preset: `{db.config.name}`\n- seed: `{seed}`\n- config digest: `{db.config.digest()}`\n"
        f"- generator: plurel-studio {_generator_version()}\n"
        f"- schema: {_schema_line(db, has_ddl)}\n"
        f"- {len(db.tables)} tables, {db.num_rows} rows, {db.num_cells} cells\n"
        f"- time span {_iso(db.trace.min_timestamp)} .. {_iso(db.trace.max_timestamp)}; "
        f"val cut-off {_iso(db.val_timestamp)}, test cut-off {_iso(db.test_timestamp)}\n",
        "Tables in generation order (parents before children):\n",
        "| table | file | kind | rows | columns | primary key | time column | foreign keys |\n"
        "|---|---|---|---|---|---|---|---|\n" + rows + "\n",
        "File names are sanitised table names (no path separators, no `..`, no reserved names); SQL, "
        "metadata.json and the Parquet/CSV headers keep the real names. The relbench table names are "
        "the file stems (`file_stem` in metadata.json).\n",
        "## Regenerate\n",
        _cli_block(seed, has_ddl),
        "```python\nimport json\nimport plurel_core\nfrom plurel_core import Config\n\n"
        f"db = plurel_core.generate(Config.from_json(open('config.json').read()), seed={seed}"
        + (", schema=plurel_core.schema_from_ddl(json.load(open('config.json'))['schema_ddl'])"
           if has_ddl else "") + ")\n```\n",
        "## Files\n",
        "\n".join(files) + "\n",
        "## Load\n",
        "PluRel Studio (tables, keys, column kinds, config and seed):\n\n"
        "```python\nimport plurel_core\ndb = plurel_core.load_database('.')  # this folder or the ZIP\n```\n",
    ]
    if "parquet" in formats:
        sections += [
            "pandas:\n\n```python\nimport pandas as pd\n"
            f"df = pd.read_parquet('db/{stem0}.parquet')\n```\n",
            "relbench 3.x:\n\n```python\nfrom relbench.load import load_dataset\n"
            "ds = load_dataset('.')  # the folder holding manifest.yaml\n"
            "db = ds.get_db()  # rows up to the test cut-off; get_db(upto_test_timestamp=False) for all\n```\n",
            "relbench 1.x:\n\n```python\nfrom relbench.base import Database\n"
            "db = Database.load('db')  # reads pkey_col / fkey_col_to_pkey_table / time_col from Parquet\n```\n",
        ]
    if "csv" in formats:
        sections.append(
            "CSV with pandas (dtypes from metadata.json; only empty fields are missing):\n\n"
            "```python\nimport json\nimport pandas as pd\nmeta = json.load(open('metadata.json'))\n"
            f"t = meta['tables'][{real0!r}]\n"
            "dtypes = {c['name']: c['dtype'] for c in t['columns'] if not c['dtype'].startswith('datetime')}\n"
            "dates = [c['name'] for c in t['columns'] if c['dtype'].startswith('datetime')]\n"
            "df = pd.read_csv(f\"csv/{t['file_stem']}.csv\", dtype=dtypes, parse_dates=dates,\n"
            "                 keep_default_na=False, na_values=[''])\n```\n")
    if "sqlite" in formats:
        sections.append(
            "sqlite3:\n\n```python\nimport sqlite3\ncon = sqlite3.connect('database.sqlite')\n"
            "con.execute('PRAGMA foreign_keys = ON')\n"
            "assert con.execute('PRAGMA foreign_key_check').fetchall() == []\n"
            f"rows = con.execute('SELECT * FROM {quote_ident(real0)} LIMIT 5').fetchall()\n```\n")
    duck = []
    if "sql" in formats and "parquet" in formats:
        duck.append(
            "import json\nmeta = json.load(open('metadata.json'))\n"
            "con.execute(open('schema.sql').read())\n"
            "for name in meta['generation_order']:  # parents first, so FK checks pass\n"
            "    stem = meta['tables'][name]['file_stem']\n"
            "    ident = '\"' + name.replace('\"', '\"\"') + '\"'\n"
            "    con.execute(f\"INSERT INTO {ident} SELECT * FROM read_parquet('db/{stem}.parquet')\")\n")
    elif "parquet" in formats:
        duck.append(f"df = con.sql(\"SELECT * FROM 'db/{stem0}.parquet'\").df()\n")
    if duck:
        sections.append("DuckDB:\n\n```python\nimport duckdb\ncon = duckdb.connect()\n" + "".join(duck) + "```\n")
    if "sql" in formats:
        sections.append(
            "`schema.sql` in the sqlite3 shell: `sqlite3 new.db < schema.sql`. Two kinds of foreign key "
            "are left out of schema.sql, each with a comment, because DuckDB cannot take them: one that "
            "closes a reference cycle (it points to a table created later) and a self-reference (DuckDB "
            "checks it against rows already stored, so a bulk load fails). database.sqlite declares them all.\n")
    return "\n".join(sections)


def _cli_block(seed: int, has_ddl: bool) -> str:
    if not has_ddl:
        return f"```sh\nplurel generate --config config.json --seed {seed} --out regenerated/\n```\n"
    return ("The schema came from SQL DDL, kept in config.json (`schema_ddl`); write it to a file and "
            "generate on it:\n\n```sh\n"
            "python -c \"import json; open('source_schema.sql', 'w').write(json.load(open('config.json'))['schema_ddl'])\"\n"
            f"plurel ddl source_schema.sql --config config.json --seed {seed} --out regenerated/\n```\n")


def _schema_source(db) -> str:
    priors = db.trace.priors if isinstance(db.trace.priors, dict) else {}
    return str((priors.get("database") or {}).get("schema_source", "random"))


def _schema_line(db, has_ddl: bool) -> str:
    if has_ddl:
        return "from a SQL DDL schema (its text is in config.json, `schema_ddl`)"
    if _schema_source(db) == "ddl":
        return ("from a SQL DDL schema that was not handed to the exporter: config.json alone does not "
                "regenerate it; pass the same DDL as `schema=`")
    return "sampled from the priors"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


# --------------------------------------------------------------------------------------------
# sinks: a ZIP or a folder, with hashing
# --------------------------------------------------------------------------------------------
class _HashingWriter(io.RawIOBase):
    """Forwards writes to ``raw`` while hashing and counting them (tell() for pyarrow)."""

    def __init__(self, raw: IO[bytes]):
        super().__init__()
        self._raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        mv = memoryview(data).cast("B")
        self._raw.write(mv)
        self.sha.update(mv)
        self.size += mv.nbytes
        return mv.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._raw.flush()


class _Sink:
    def __init__(self):
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def open(self, rel: str, *, rows: int | None = None, compress: bool = True,
             large: bool = False) -> Iterator[_HashingWriter]:
        with self._open_raw(rel, compress=compress, large=large) as raw:
            writer = _HashingWriter(raw)
            yield writer
        self.records.append({"path": rel, "sha256": writer.sha.hexdigest(), "bytes": writer.size, "rows": rows})

    def write_bytes(self, rel: str, data: bytes, **kw) -> None:
        with self.open(rel, **kw) as f:
            f.write(data)

    def copy_file(self, rel: str, src: Path, **kw) -> None:
        with self.open(rel, **kw) as f, open(src, "rb") as fin:
            while chunk := fin.read(_COPY_BYTES):
                f.write(chunk)


class _ZipSink(_Sink):
    def __init__(self, zf: zipfile.ZipFile, root: str):
        super().__init__()
        self.zf, self.root = zf, root

    @contextmanager
    def _open_raw(self, rel: str, *, compress: bool, large: bool):
        info = zipfile.ZipInfo(f"{self.root}/{rel}", date_time=ZIP_DATE_TIME)
        info.create_system = 3  # the platform byte would otherwise differ between OSes
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info._compresslevel = ZIP_LEVEL if compress else None  # read by ZipFile.open(mode="w")
        with self.zf.open(info, mode="w", force_zip64=large) as f:
            yield f


class _DirSink(_Sink):
    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    @contextmanager
    def _open_raw(self, rel: str, *, compress: bool, large: bool):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            yield f


# --------------------------------------------------------------------------------------------
# table writers
# --------------------------------------------------------------------------------------------
def _arrow_table(t) -> pa.Table:
    """The table in Arrow: booleans as ``bool``, categoricals dictionary-encoded.

    Parquet keeps a dictionary's logical type for text only (an integer dictionary reads back as
    plain integers), so integer labels are written as the dictionary of their text; metadata.json
    records the labels with their type and :func:`plurel_core.load_database` restores them.
    """
    table = pa.Table.from_pandas(t.df, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and not (pa.types.is_string(field.type.value_type)
                                                        or pa.types.is_large_string(field.type.value_type)):
            cat = t.df[field.name].cat
            labels = pa.array([str(v) for v in cat.categories], type=pa.string())
            codes = pa.array(cat.codes.to_numpy(), mask=cat.codes.to_numpy() < 0, type=field.type.index_type)
            table = table.set_column(i, pa.field(field.name, pa.dictionary(field.type.index_type, pa.string())),
                                     pa.DictionaryArray.from_arrays(codes, labels))
    return table


def parquet_schema_metadata(t) -> dict[bytes, bytes]:
    """relbench 1.x table metadata (JSON values) as Arrow schema metadata."""
    return {
        b"fkey_col_to_pkey_table": json.dumps(t["fkeys"]).encode(),
        b"pkey_col": json.dumps(t["pkey"]).encode(),
        b"time_col": json.dumps(t["time_col"]).encode(),
    }


def _write_parquet(t, fkeys_stems: dict[str, str], out) -> None:
    table = _arrow_table(t)
    meta = dict(table.schema.metadata or {})
    meta.update(parquet_schema_metadata({"fkeys": fkeys_stems, "pkey": t.pkey_col, "time_col": t.time_col}))
    table = table.replace_schema_metadata(meta)
    pq.write_table(table, out, compression="snappy", row_group_size=1 << 20, write_statistics=True,
                   use_dictionary=True, store_schema=True)


def _write_csv(t, out) -> None:
    df = t.df
    columns, names = [], []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            columns.append(pa.array(iso_strings(s), type=pa.string()))
        elif pd.api.types.is_bool_dtype(s.dtype):  # true / false
            columns.append(pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.bool_()))
        elif isinstance(s.dtype, pd.CategoricalDtype):  # the labels themselves
            labels, missing = category_labels(s)
            columns.append(pa.array(labels, mask=missing if missing.any() else None))
        else:
            columns.append(pa.Array.from_pandas(s))
        names.append(str(col))
    table = pa.Table.from_arrays(columns, names=names)
    options = pacsv.WriteOptions(include_header=True, batch_size=_CHUNK_ROWS, delimiter=",",
                                 quoting_style="needed")
    pacsv.write_csv(table, out, write_options=options)


def category_labels(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The label of every row of a categorical column, and the mask of its missing rows."""
    codes = s.cat.codes.to_numpy()
    labels = s.cat.categories.to_numpy()
    missing = codes < 0
    if not len(labels):
        return np.full(len(codes), None, dtype=object), missing
    return labels[np.where(missing, 0, codes)], missing


def _sqlite_values(s: pd.Series) -> list:
    """Python values for sqlite3 (None for missing, ISO text for timestamps, 0/1 for booleans,
    labels for categoricals)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        labels, missing = category_labels(s)
        out = labels.tolist()  # Python ints / str
        for i in np.flatnonzero(missing):
            out[i] = None
        return out
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return iso_strings(s).tolist()
    if pd.api.types.is_float_dtype(dtype) and isinstance(dtype, np.dtype):
        values = s.to_numpy()
        out = values.astype(object)
        out[np.isnan(values)] = None
        return out.tolist()
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return s.to_numpy().tolist()
    return s.to_numpy(dtype=object, na_value=None).tolist()


def build_sqlite(db, path: str | os.PathLike) -> dict[str, int]:
    """Write every table into a fresh SQLite file at ``path`` (deterministic bytes)."""
    path = Path(path)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA page_size = 4096")
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA foreign_keys = OFF")  # cyclic references are filled table by table
        con.execute("BEGIN")
        for name in db.tables:
            con.execute(create_table_sql(db, name))
        counts = {}
        for name, t in db.tables.items():
            cols = list(t.df.columns)
            sql = f"INSERT INTO {quote_ident(name)} VALUES ({', '.join('?' * len(cols))})"
            n = len(t.df)
            for start in range(0, n, _CHUNK_ROWS):
                part = t.df.iloc[start:start + _CHUNK_ROWS]
                con.executemany(sql, zip(*(_sqlite_values(part[c]) for c in cols)))
            counts[name] = n
        con.execute("COMMIT")
        con.execute("VACUUM")
    finally:
        con.close()
    return counts


# --------------------------------------------------------------------------------------------
# the export
# --------------------------------------------------------------------------------------------
def _estimated_large(t) -> bool:
    return int(t.df.memory_usage(deep=False).sum()) * 4 > _ZIP64_THRESHOLD


def _write_all(db, sink: _Sink, layout: Layout, formats: tuple[str, ...], schema_ddl: str | None,
               tmp_dir: str | None) -> None:
    config = config_payload(db, schema_ddl)
    has_ddl = config["schema_ddl"] is not None
    if "sql" in formats or "sqlite" in formats:
        _check_sql_names(db)
    sink.write_bytes("README.md", _readme(db, layout, formats, has_ddl).encode())
    sink.write_bytes("config.json", _json_bytes(config))
    sink.write_bytes("metadata.json", _json_bytes(metadata_payload(db, layout)))
    if "sql" in formats:
        sink.write_bytes("schema.sql", schema_sql(db, portable=True).encode())
    if "parquet" in formats:
        manifest = yaml.safe_dump(relbench_manifest(db, layout), sort_keys=False, allow_unicode=True,
                                  default_flow_style=False, width=4096)
        sink.write_bytes("manifest.yaml", manifest.encode())
        for name, t in db.tables.items():
            fkeys = {col: layout.stems[p] for col, p in t.fkey_col_to_pkey_table.items()}
            with sink.open(layout.parquet(name), rows=len(t.df), compress=False,
                           large=_estimated_large(t)) as f:
                _write_parquet(t, fkeys, f)
    if "csv" in formats:
        for name, t in db.tables.items():
            with sink.open(layout.csv(name), rows=len(t.df), large=_estimated_large(t)) as f:
                _write_csv(t, f)
    if "sqlite" in formats:
        fd, tmp = tempfile.mkstemp(suffix=".sqlite", dir=tmp_dir)
        os.close(fd)
        try:
            counts = build_sqlite(db, tmp)
            size = os.path.getsize(tmp)
            sink.copy_file("database.sqlite", Path(tmp), rows=sum(counts.values()),
                           large=size > _ZIP64_THRESHOLD)
            sink.records[-1]["tables"] = counts
        finally:
            os.unlink(tmp)
    manifest_json = {"name": db.name, "format_version": EXPORT_FORMAT_VERSION, "files": list(sink.records)}
    sink.write_bytes("manifest.json", _json_bytes(manifest_json))


def export_zip(db, target: str | os.PathLike | IO[bytes], formats: Sequence[str] = ALL_FORMATS, *,
               schema_ddl: str | None = None) -> Path | None:
    """Write ``db`` as a ZIP holding one folder named after the database.

    ``target`` is a path (the ZIP is written there and the path returned) or a binary file-like
    object (written to, not closed; returns None). ``formats`` picks among "csv", "parquet"
    (the relbench folder), "sqlite" and "sql"; README.md, config.json, metadata.json and
    manifest.json are always written. ``schema_ddl`` is the DDL text the schema came from,
    stored in config.json (taken from ``db.schema_ddl`` / ``db.trace.schema_ddl`` when absent).
    """
    formats = _normalize_formats(formats)
    layout = Layout(db)
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        try:
            with open(tmp, "wb") as fh:
                _export_zip_stream(db, fh, layout, formats, schema_ddl, str(path.parent))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path
    _export_zip_stream(db, target, layout, formats, schema_ddl, None)
    return None


def _export_zip_stream(db, fh: IO[bytes], layout: Layout, formats, schema_ddl, tmp_dir) -> None:
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        _write_all(db, _ZipSink(zf, layout.root), layout, formats, schema_ddl, tmp_dir)


def export_folder(db, folder: str | os.PathLike, formats: Sequence[str] = ALL_FORMATS, *,
                  schema_ddl: str | None = None) -> Path:
    """Write the same files as :func:`export_zip` into ``folder/<db name>/``; returns that path.

    An existing folder of that name is refused (nothing is overwritten).
    """
    formats = _normalize_formats(formats)
    layout = Layout(db)
    root = Path(folder) / layout.root
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    root.mkdir(parents=True)
    _write_all(db, _DirSink(root), layout, formats, schema_ddl, str(root))
    return root
