"""Export: the database as a ZIP (CSV, Parquet in relbench layout, SQLite, schema.sql, config)."""

import io

import streamlit as st

import plurel_core as pc
from pages import _shared as shared

db = shared.current()
shared.page_header("Export", "Download the database on screen as a ZIP")

try:
    from plurel_core import export as _export
except ImportError as err:
    st.error(f"The exporter is not available ({err}).")
    st.stop()

FORMATS = tuple(_export.ALL_FORMATS)
DEFAULT = FORMATS
LABELS = {"csv": "CSV (one file per table)", "parquet": "Parquet (relbench layout + manifest.yaml)",
          "sqlite": "SQLite database (with key constraints)", "sql": "schema.sql (SQLite and DuckDB)"}
HELP = {"sqlite": "database.sqlite: each table with its PRIMARY KEY and FOREIGN KEY constraints (PRAGMA "
                  "foreign_key_check finds no violation)"}

st.markdown(f"**{db.name}** · {len(db.tables)} tables · {db.num_rows:,} rows · {db.num_cells:,} cells. "
            "`config.json` (config and seed) is always included.")
cols = st.columns(min(2, len(FORMATS)) or 1)  # two per row: the labels fit uncut
chosen = [f for i, f in enumerate(FORMATS)
          if cols[i % len(cols)].checkbox(LABELS.get(f, f), value=f in DEFAULT, key=f"exp_{f}",
                                          help=HELP.get(f))]

build_key = (shared.current_id(), tuple(chosen))
if st.button("Build ZIP", type="primary", disabled=not chosen, key="exp_build"):
    with st.spinner("Writing the ZIP…"):
        buf = io.BytesIO()
        try:
            pc.export_zip(db, buf, formats=tuple(chosen), schema_ddl=shared.current_ddl() or None)
        except (ValueError, OSError) as err:
            st.error(f"Export failed: {err}")
        else:
            st.session_state.exp_zip = (build_key, buf.getvalue())

built = st.session_state.get("exp_zip")
if built is not None and built[0] == build_key:
    data = built[1]
    st.success(f"ZIP ready: {len(data) / 1e6:.2f} MB ({', '.join(chosen)}).")
    st.download_button("Download ZIP", data, file_name=f"{db.name}.zip", mime="application/zip", type="primary",
                       key="exp_download")
elif not chosen:
    st.info("Choose at least one format.")
