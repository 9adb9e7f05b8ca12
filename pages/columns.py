"""Columns: per-column distributions, columns over time, correlations, and joins through FKs."""

import streamlit as st

from pages import _shared as shared
from plurel_core import mechanism_views as mv
from plurel_core import plots, stats

db = shared.current()
shared.page_header("Columns", "Stage 3 and post-processing: the values of every feature column")

names = list(db.tables)
widest = max(range(len(names)), key=lambda i: (len(db.tables[names[i]].feature_cols) > 0, -i))
table = st.selectbox("Table", names, index=widest, key="col_table",
                     format_func=lambda n: f"{n} ({db.tables[n].kind}, {len(db.tables[n].df):,} rows)")
t = db.tables[table]
feats = t.feature_cols
if feats and mv.is_v2(db, table):
    st.dataframe(mv.column_prior_table(db, table), hide_index=True, width="stretch",
                 column_config={"missing rate drawn": st.column_config.NumberColumn(format="%.3f"),
                                "missing rate realised": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Per column: the SCM node (and slot) it reads, its marginal, its bins if binned, and its "
               "missingness: none, random (MCAR at the drawn rate) or structured (masked where the indicator "
               "node, a binary node reading the listed parents, takes its second class).")
elif feats:
    st.dataframe(stats.column_summary(db, table), hide_index=True, width="stretch",
                 column_config={"missing": st.column_config.NumberColumn(format="%.3f")})

if not feats:
    st.info("This table has no feature columns.")
else:
    st.subheader("Distributions")
    per_row = 3
    for i in range(0, len(feats), per_row):
        cols = st.columns(per_row)
        for c, col in zip(cols, feats[i:i + per_row]):
            c.plotly_chart(plots.column_figure(db, table, col), theme=None, width="stretch", key=f"colfig_{table}_{col}")

    if t.time_col is not None:
        st.subheader(f"Columns over {t.time_col}")
        chosen = st.multiselect("Columns to plot", feats, default=feats[: min(4, len(feats))], key=f"time_cols_{table}")
        if chosen:
            st.plotly_chart(plots.columns_over_time(db, table, chosen), theme=None, width="stretch")

    if len(feats) > 1:
        st.subheader("Correlations")
        st.plotly_chart(plots.correlation_heatmap(db, table), theme=None, width="stretch")

if t.fkey_col_to_pkey_table:
    st.subheader("Through a foreign key")
    fks = list(t.fkey_col_to_pkey_table)
    c1, c2, c3 = st.columns(3)
    fk = c1.selectbox("Foreign key", fks, key=f"join_fk_{table}",
                      format_func=lambda k: f"{k} → {t.fkey_col_to_pkey_table[k]}")
    parent = db.tables[t.fkey_col_to_pkey_table[fk]]
    if feats and parent.feature_cols:
        child_col = c2.selectbox("Child column", feats, key=f"join_child_{table}")
        parent_col = c3.selectbox(f"Parent column ({t.fkey_col_to_pkey_table[fk]})", parent.feature_cols,
                                  key=f"join_parent_{table}_{fk}")
        st.plotly_chart(plots.join_figure(db, table, fk, child_col, parent_col), theme=None, width="stretch")
    else:
        st.info("The child or the parent table has no feature columns.")
