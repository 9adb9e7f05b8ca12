"""Mechanisms: the SCM graph of a table and the components of its time-series sources."""

import pandas as pd
import streamlit as st

from pages import _shared as shared
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
c = st.columns([1, 1, 1, 2, 2])
c[0].metric("SCM nodes", g.number_of_nodes())
c[1].metric("Edges", g.number_of_edges())
c[2].metric("Column nodes", sum(d.get("role") == "column" for _, d in g.nodes(data=True)))
c[3].metric("Layout", tr.layout)
c[4].metric("Mode", tr.mode)
st.plotly_chart(plots.scm_graph_figure(db, table), theme=None, width="stretch")
st.caption("Red ring: source node. Faded: no column descends from the node, so it cannot change any column "
           "and is not evaluated. "
           f"Column-node share q = {tr.column_node_share:.3f}. Foreign inputs (parent-table columns entering every "
           f"non-source node): {', '.join(tr.foreign_inputs) if tr.foreign_inputs else 'none'}.")

rows = []
for n, d in g.nodes(data=True):
    src = d.get("source") or {}
    rows.append({"node": n, "role": d.get("role"), "column": d.get("column") or "", "type": d.get("type"),
                 "categories": d.get("num_categories"), "source law": src.get("law", ""),
                 "aggregation": "" if d.get("is_source") else d.get("aggregation"),
                 "decoder activations": " → ".join(map(str, d.get("decoder_activations") or [])),
                 "parents": g.in_degree(n),
                 "evaluated": "yes" if d.get("evaluated", True) else "no: no column depends on it"})
skipped = sum(r["evaluated"] != "yes" for r in rows)
with st.expander(f"Nodes ({len(rows)}): types, sources, aggregations, decoder MLP activations"
                 + (f" · {skipped} not evaluated (no column descends from them)" if skipped else ""), expanded=False):
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
edges = [{"from": a, "to": b, "weight": d.get("weight"),
          "encoder activations": " → ".join(map(str, d.get("encoder_activations") or []))}
         for a, b, d in g.edges(data=True)]
with st.expander(f"Edges ({len(edges)}): weights and encoder MLP activations", expanded=False):
    st.dataframe(pd.DataFrame(edges), hide_index=True, width="stretch",
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
