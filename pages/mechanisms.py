"""Mechanisms: the SCM graph of a table and the components of its time-series sources."""

import streamlit as st

from pages import _shared as shared
from plurel_core import mechanism_views as mv
from plurel_core import plots

db = shared.current()
shared.page_header("Mechanisms", "Stage 3: one structural causal model per table")

tables = [n for n in db.tables if n in db.trace.scm]
if not tables:
    st.info("No SCM trace in this database.")
    st.stop()
table = st.selectbox("Table", tables, key="scm_table")
tr = db.trace.scm[table]
g = tr.graph
c = st.columns([1, 1, 1.2, 1.6, 1.2])
c[0].metric("SCM nodes", g.number_of_nodes())
c[1].metric("Edges", g.number_of_edges())
c[2].metric("Columns", sum(d.get("role") == "column" for _, d in g.nodes(data=True)),
            help="SCM nodes that are columns of the table")
for col, label, value in ((c[3], "Layout", tr.layout), (c[4], "Mode", tr.mode)):  # names: text that wraps
    col.caption(label)
    col.markdown(f"**{value}**")
st.plotly_chart(plots.scm_graph_figure(db, table), theme=None, width="stretch")
v2 = tr.mode == "v2"
if v2:
    st.caption("Red ring: source node (a root, or a categorical node without parents). Edge colour: the edge's "
               "mechanism family; hover the middle of an edge for its parameters, a node for its reduction, kind, "
               "width and noise. Dotted stubs: crossings from other tables' nodes (gathers from parents, aggregates "
               f"of children, self-tree gathers). Feature-node share {tr.column_node_share:.3f}.")
else:
    st.caption("Red ring: source node. Faded: no column descends from the node, so it cannot change any column "
               "and is not evaluated. "
               f"Column-node share q = {tr.column_node_share:.3f}. Foreign inputs (parent-table columns entering "
               f"every non-source node): {', '.join(tr.foreign_inputs) if tr.foreign_inputs else 'none'}.")

nodes = mv.node_table(db, table)
if v2:
    with st.expander(f"Nodes ({len(nodes)}): kinds, widths, reductions, sources, noise, nested parents",
                     expanded=False):
        st.dataframe(nodes, hide_index=True, width="stretch",
                     column_config={"noise sd": st.column_config.NumberColumn(format="%.4f")})
else:
    skipped = int((nodes["evaluated"] != "yes").sum()) if len(nodes) else 0
    with st.expander(f"Nodes ({len(nodes)}): types, sources, aggregations, decoder MLP activations"
                     + (f" · {skipped} not evaluated (no column descends from them)" if skipped else ""),
                     expanded=False):
        st.dataframe(nodes, hide_index=True, width="stretch")
edges = mv.edge_table(db, table)
if v2:
    with st.expander(f"Edges ({len(edges)}): mechanism families and their parameters", expanded=False):
        st.dataframe(edges, hide_index=True, width="stretch")
    crossings = mv.crossing_table(db, table)
    with st.expander(f"Crossings ({len(crossings)}): inputs from other tables' nodes", expanded=bool(len(crossings))):
        if len(crossings):
            st.dataframe(crossings, hide_index=True, width="stretch")
        else:
            st.info("No node of this table reads another table's node.")
else:
    with st.expander(f"Edges ({len(edges)}): weights and encoder MLP activations", expanded=False):
        st.dataframe(edges, hide_index=True, width="stretch",
                     column_config={"weight": st.column_config.NumberColumn(format="%.3f")})
with st.expander("Layout parameters", expanded=False):
    st.json({"layout": tr.layout, **{k: str(v) for k, v in (tr.layout_params or {}).items()}})

st.subheader("Time-series sources")
ts_nodes = list(tr.source_components)
if not ts_nodes:
    st.info("No ts source node in this table's SCM.")
else:
    node = st.selectbox("ts source node", ts_nodes, key=f"ts_node_{table}",
                        format_func=lambda n: f"node {n}" + (f" · {g.nodes[n].get('column')}" if g.nodes[n].get("column") else " · latent"))
    src = g.nodes[node].get("source") or {}
    if src:
        st.caption("Source parameters: " + ", ".join(f"{k} = {v}" for k, v in src.items()))
    st.plotly_chart(plots.source_components_figure(db, table, node), theme=None, width="stretch")
