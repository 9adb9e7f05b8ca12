"""plurel_core: synthetic relational databases after PluRel (arXiv 2602.04029).

    >>> import plurel_core as pc
    >>> db = pc.generate(pc.Config.preset("demo"), seed=0)
    >>> sorted(db.tables)[:2]

Stage 1 draws a schema DAG of tables, stage 2 links rows by a hierarchical SBM, stage 3 fills
columns from one structural causal model per table. Everything is pure numpy with explicit
random generators: the same config and seed give the same bytes.
"""

__version__ = "0.1.0"

from plurel_core.config import Config, ConfigError, FloatRange, IntRange, prior_specs
from plurel_core.database import ColumnMeta, Database, LinkTrace, ScmTrace, Table, Trace
from plurel_core.pipeline import (
    SizeError,
    Stage1,
    estimate_bytes,
    estimate_cells,
    generate,
    preview_database,
    sample_stage1,
)
from plurel_core.schema import ColumnSpec, ForeignKeySpec, Schema, TableSpec

__all__ = [
    "ColumnMeta", "ColumnSpec", "Config", "ConfigError", "Database", "FloatRange", "ForeignKeySpec",
    "IntRange", "LinkTrace", "Schema", "ScmTrace", "SizeError", "Table", "TableSpec", "Trace",
    "estimate_bytes", "estimate_cells", "export_folder", "export_zip", "generate", "load_database", "prior_specs",
    "schema_from_ddl", "DDLError", "Stage1", "sample_stage1", "preview_database",
]

_LAZY = {
    "export_zip": "plurel_core.export",
    "export_folder": "plurel_core.export",
    "load_database": "plurel_core.load",
    "schema_from_ddl": "plurel_core.ddl",
    "DDLError": "plurel_core.ddl",
}


def __getattr__(name):  # exporters and the DDL parser load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'plurel_core' has no attribute {name!r}")
