"""Schema: the table DAG (pyvis, inlined, draggable), the sampled table layout and a legend."""

import pandas as pd
import streamlit as st

from pages import _shared as shared
from plurel_core import key_views, plots, stats

db = shared.current()
shared.page_header("Schema", "Stage 1: the DAG of tables; arrows point from parent to child (child holds the FK)")

tr = db.trace
g = tr.schema_graph
c = st.columns(4)
c[0].metric("Table layout", tr.table_layout)
c[1].metric("Tables", g.number_of_nodes())
c[2].metric("Foreign keys", len(db.foreign_keys))
c[3].metric("Generations", 1 + max((d.get("generation", 0) for _, d in g.nodes(data=True)), default=0))
v2 = key_views.is_v2(db)
if v2:
    n = key_views.structure_counts(db)
    c = st.columns(5)
    c[0].metric("Self references", n["self references"], help="Keys from a table to itself: a tree inside the table")
    c[1].metric("Duplicate keys", n["duplicate keys"], help="Further keys from a child to a parent it already has")
    c[2].metric("Nullable keys", n["nullable keys"])
    c[3].metric("Aggregated keys", n["aggregated keys"],
                help="Keys through which child columns are summarised (count, sum, mean, max, min) into the parent")
    c[4].metric("Tables receiving aggregates", n["tables receiving aggregates"])

if shared.is_preview():
    st.caption(":material/hourglass_top: Drawn from stage 1 (tables, keys, rows) while foreign keys and columns "
               "are generated.")
    st.iframe(plots.schema_graph_html(db, height=560, key=shared.current_id()), height=580)
else:
    st.iframe(shared.schema_html(db, shared.current_id(), 560), height=580)
st.caption("Blue dots: entity tables (have children, no time). Orange diamonds: activity tables (no children, "
           "a timestamp). Size grows with √rows; x = topological generation. Drag nodes; hover for columns "
           "(PK / FK marks)."
           + (" Loops: self-reference trees; parallel arrows: duplicate keys; dashed: nullable keys; green ring "
              "and Σ: the table receives aggregates of child columns. Hover an arrow for its column, link model "
              "and null share." if v2 else ""))

left, right = st.columns(2)
with left:
    st.subheader("Table layout parameters")
    params = {"layout": tr.table_layout, **{k: v for k, v in (tr.table_layout_params or {}).items()}}
    st.dataframe(pd.DataFrame({"parameter": list(params), "value": [str(v) for v in params.values()]}),
                 hide_index=True, width="stretch")
with right:
    st.subheader("Sampled database-level priors")
    priors = key_views.database_priors(db)
    st.dataframe(priors if v2 else priors[["prior", "value"]], hide_index=True, width="stretch")
    if v2:
        with st.expander("Table prior (before each table warps it)", expanded=False):
            tp = key_views.database_priors(db, table_prior=True)
            st.dataframe(tp[tp["group"].str.startswith("table prior")][["prior", "value"]], hide_index=True,
                         width="stretch")

if v2:
    st.subheader("Crossings per foreign key")
    st.dataframe(key_views.crossing_table(db), hide_index=True, width="stretch")
    st.caption("Crossing edges carried by each key: aggregates summarise child nodes into the parent's nodes, "
               "gathers read parent nodes at each child row's parent, self-tree gathers read a root node at the "
               "tree parent's row. One edge per (reader node, source). Node by node on the Mechanisms page; "
               "each key's link on the Foreign keys page.")

st.subheader("Tables by generation")
ov = stats.table_overview(db)
st.dataframe(ov[["table", "kind", "generation", "rows", "parents", "children", "time column"]]
             .sort_values(["generation", "table"]), hide_index=True, width="stretch")
