"""Foreign keys: children-per-parent distributions, coverage, Gini, the link model and the HSBM blocks."""

import streamlit as st

from pages import _shared as shared
from plurel_core import key_views, plots, stats

db = shared.current()
keys = stats.fk_keys(db)
if key_views.is_v2(db):
    about = "(uniform random, HSBM or a self-reference tree)"
elif any(key_views.link_info(db, k) for k in keys):  # the paper + v2 mix
    about = "(the paper's HSBM, or v2's uniform random or HSBM links)"
else:
    about = ""
shared.page_header("Foreign keys", f"Stage 2: every child row picks one parent row by its key's link model {about}"
                   if about else "Stage 2: every child row picks one parent row from a hierarchical SBM")

if not keys:
    st.info("This database has no foreign keys (a single table).")
    st.stop()

ALL = "__all__"
choice = st.selectbox("Foreign key", [ALL, *keys], key="fk_choice",
                      format_func=lambda k: "All foreign keys (overlay)" if k == ALL else key_views.key_label(db, k))
key = None if choice == ALL else choice

info = key_views.link_info(db, key) if key is not None else {}
if key is not None:
    link = db.trace.links[key]
    s = stats.degree_summary(stats.fk_degrees(db, key))
    c = st.columns(6)
    c[0].metric("Parent rows", f"{s['parents']:,}")
    c[1].metric("Child rows", f"{s['children']:,}")
    c[2].metric("Coverage", f"{s['coverage']:.1%}", help="Share of parent rows with at least one child")
    c[3].metric("Gini", f"{s['gini']:.3f}", help="0 = every parent has the same number of children")
    c[4].metric("Max children", f"{s['max']:,}")
    c[5].metric("Mean children", f"{s['mean']:.2f}")
    if info:
        nulls = key_views.null_summary(db, key)
        c = st.columns(6)
        c[0].metric("Link model", info.get("model", "?"))
        c[1].metric("Nullable", "yes" if nulls["nullable"] else "no")
        c[2].metric("Null rate drawn", f"{nulls['null_rate']:.1%}")
        c[3].metric("Null share", f"{nulls['null_share']:.1%}", help="Share of child rows whose key is null")
        if info.get("model") == "tree":
            tree = key_views.tree_summary(db, key)
            c[4].metric("Roots", f"{tree['roots']:,}", help=f"{tree['roots_share']:.1%} of the rows have no parent")
            c[5].metric("Tree depth", tree["depth"], help=f"Deepest row; mean depth {tree['mean_depth']:.2f}")
        elif info.get("model") == "hsbm":
            ina = key_views.inactive_summary(db, key)
            c[4].metric("Inactive parents", f"{ina['inactive']:,}", help=f"Share drawn {ina['share']:.1%}")
            c[5].metric("Parents without child", f"{ina['childless']:,}",
                        help=f"{ina['childless_inactive']:,} of them inactive")

left, right = st.columns(2)
left.plotly_chart(plots.degree_histogram(db, key), theme=None, width="stretch")
right.plotly_chart(plots.degree_ccdf(db, key), theme=None, width="stretch")

if key is not None and info:
    left, right = st.columns([2, 3])
    with left:
        st.subheader("How the links were drawn")
        st.markdown("\n".join(f"- {line}" for line in key_views.link_lines(db, key)))
    with right:
        if info.get("model") == "tree":
            st.plotly_chart(key_views.depth_figure(db, key), theme=None, width="stretch")
        elif key_views.has_block_structure(db, key):
            st.plotly_chart(plots.block_heatmap(db, key), theme=None, width="stretch")
        else:
            st.info("One block only: this link has no block structure to draw.")
    if info.get("model") == "hsbm":
        with st.expander(f"Affinity matrix per level ({link.levels})", expanded=False):
            for lvl, m in enumerate(link.block_matrices):
                st.caption(f"Level {lvl}: parent clusters × child clusters ({m.shape[0]}×{m.shape[1]})")
                st.dataframe(m, width="stretch")
elif key is not None:
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.block_heatmap(db, key), theme=None, width="stretch")
    with right:
        st.subheader("Sampled HSBM")
        st.markdown(
            f"- levels **L = {link.levels}**\n"
            f"- parent clusters per level **h_P = {list(link.h_parent)}**\n"
            f"- child clusters per level **h_C = {list(link.h_child)}**\n"
            f"- popularity law **{link.popularity_law}**"
            + (f", parameter **{float(link.popularity_param):.3g}**" if link.popularity_param is not None else "")
            + f"\n- null share **{float(link.null_share):.1%}**"
            + ("\n- deferred (closes a reference cycle)" if link.deferred else ""))
        for lvl, m in enumerate(link.block_matrices):
            st.caption(f"Level {lvl} block matrix ({m.shape[0]}×{m.shape[1]})")
            st.dataframe(m, width="stretch")

st.subheader("All foreign keys")
st.dataframe(stats.fk_table(db), hide_index=True, width="stretch",
             column_config={"coverage": st.column_config.NumberColumn(format="%.3f"),
                            "gini": st.column_config.NumberColumn(format="%.3f"),
                            "mean children": st.column_config.NumberColumn(format="%.2f"),
                            "null rate": st.column_config.NumberColumn(format="%.3f"),
                            "null share": st.column_config.NumberColumn(format="%.3f"),
                            "inactive": st.column_config.NumberColumn(format="%.3f")})
