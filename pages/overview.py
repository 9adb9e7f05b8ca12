"""Overview: size of the database, time per stage, the tables and the time span."""

import streamlit as st

from pages import _shared as shared
from plurel_core import plots, stats

db = shared.current()
shared.page_header("Overview", "What was generated and how long each stage took")

tr = db.trace
t = stats.timings(db)
cols = st.columns(6)
cols[0].metric("Tables", len(db.tables))
cols[1].metric("Foreign keys", len(db.foreign_keys))
cols[2].metric("Rows", f"{db.num_rows:,}")
cols[3].metric("Cells", f"{db.num_cells:,}")
cols[4].metric("Activity tables", sum(tb.kind == "activity" for tb in db.tables.values()))
cols[5].metric("Generation", f"{t.get('total', 0.0):.2f} s")

kinds = {k: sum(stats.feature_kind_counts(tb)[k] for tb in db.tables.values())
         for k in ("numerical", "categorical", "boolean", "text", "time")}
kind_cols = st.columns(6)
kind_cols[0].metric("Feature columns", sum(kinds.values()))
kind_cols[1].metric("Numerical", kinds["numerical"], help="float64, NaN where missing")
kind_cols[2].metric("Categorical", kinds["categorical"], help="pandas category over its labels")
kind_cols[3].metric("Boolean", kinds["boolean"], help="bool: binarized categoricals (label > 0) and SQL BOOLEAN columns")
kind_cols[4].metric("Text", kinds["text"])
kind_cols[5].metric("Time", kinds["time"], help="besides the time column of each activity table")

stage_cols = st.columns(4)
for c, (key, label) in zip(stage_cols, [("stage1", "Stage 1 · schema"), ("stage2", "Stage 2 · FKs"),
                                        ("stage3", "Stage 3 · features"), ("postprocess", "Post-processing")]):
    c.metric(label, f"{t.get(key, 0.0):.3f} s")

st.subheader("Tables")
st.dataframe(stats.table_overview(db), hide_index=True, width="stretch", height=min(740, 35 * (len(db.tables) + 1) + 3),
             column_config={"rows": st.column_config.NumberColumn(format="%d")})

left, right = st.columns([3, 2])
with left:
    st.plotly_chart(plots.timeline_figure(db), theme=None, width="stretch")
    st.caption(f"Validation cut-off **{tr.val_timestamp.date()}**, test cut-off **{tr.test_timestamp.date()}** "
               f"(of {tr.min_timestamp.date()} → {tr.max_timestamp.date()}).")
with right:
    st.plotly_chart(plots.timings_figure(db), theme=None, width="stretch")
if tr.notes:
    with st.expander(f"Generator notes ({len(tr.notes)})"):
        for note in tr.notes:
            st.markdown(f"- {note}")
