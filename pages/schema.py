"""Schema: the table DAG (pyvis, inlined, draggable), the sampled table layout and a legend."""

import pandas as pd
import streamlit as st

from pages import _shared as shared
from plurel_core import plots, stats

db = shared.current()
shared.page_header("Schema", "Stage 1: the DAG of tables; arrows point from parent to child (child holds the FK)")

tr = db.trace
g = tr.schema_graph
c = st.columns(4)
c[0].metric("Table layout", tr.table_layout)
c[1].metric("Tables", g.number_of_nodes())
c[2].metric("Foreign keys", len(db.foreign_keys))
c[3].metric("Generations", 1 + max((d.get("generation", 0) for _, d in g.nodes(data=True)), default=0))

if shared.is_preview():
    st.caption(":material/hourglass_top: Drawn from stage 1 (tables, keys, rows) while foreign keys and columns "
               "are generated.")
    st.iframe(plots.schema_graph_html(db, height=560, key=shared.current_id()), height=580)
else:
    st.iframe(shared.schema_html(db, shared.current_id(), 560), height=580)
st.caption("Blue dots: entity tables (have children, no time). Orange diamonds: activity tables (no children, "
           "a timestamp). Size grows with √rows; x = topological generation. Drag nodes; hover for columns "
           "(PK / FK marks).")

left, right = st.columns(2)
with left:
    st.subheader("Table layout parameters")
    params = {"layout": tr.table_layout, **{k: v for k, v in (tr.table_layout_params or {}).items()}}
    st.dataframe(pd.DataFrame({"parameter": list(params), "value": [str(v) for v in params.values()]}),
                 hide_index=True, width="stretch")
with right:
    st.subheader("Sampled database-level priors")
    sampled = (tr.priors or {}).get("database", {})
    st.dataframe(pd.DataFrame({"prior": list(sampled), "value": [str(v) for v in sampled.values()]}),
                 hide_index=True, width="stretch")

st.subheader("Tables by generation")
ov = stats.table_overview(db)
st.dataframe(ov[["table", "kind", "generation", "rows", "parents", "children", "time column"]]
             .sort_values(["generation", "table"]), hide_index=True, width="stretch")
