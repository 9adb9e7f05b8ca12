"""Prior explorer: database-level figures over K seeds of the sidebar's config, in worker processes."""

import streamlit as st

from pages import _pool
from pages import _shared as shared
from pages import _state as aps
from plurel_core import plots, stats

ss = st.session_state
JOB = "exp_job"

db = shared.current()
shared.page_header("Prior explorer", "What the priors induce: figures of many databases of the sidebar's config")

src = _pool.sidebar_source()
cfg, seed0, ddl, dialect, budget = src.config, src.seed, src.ddl, src.dialect, src.budget

c1, c2, c3, c4 = st.columns([2.6, 1.8, 1, 1], vertical_alignment="bottom")
k = c1.slider("Seeds K", 10, 500, 100, step=10, key="exp_k",
              help=f"Databases s..s+K-1 from the sidebar's seed s ({seed0}); each seed is computed once per "
                   "config and kept, so a larger K only computes the new seeds.")
learn = c2.checkbox("Learnability figures", key="exp_learn",
                    help="Also fit a quick model per column of each database (the Learnability page's "
                         f"figures on {stats.LEARNABILITY_ROWS} rows per table): the slowest figures, "
                         "several seconds per paper database.")
if c3.button("Run", type="primary", key="exp_run", width="stretch"):
    _pool.start(JOB, cfg, list(range(seed0, seed0 + k)), budget, ddl, dialect, learnability=learn)
c4.button("Cancel", key="exp_cancel", on_click=_pool.cancel, args=(JOB,), width="stretch",
          help="Stop this run: seeds not started are dropped (the finished ones stay cached)")
st.caption(f"Config `{cfg.name}` ({cfg.digest()}){' on the SQL schema' if ddl else ''}, seeds {seed0}..{seed0 + k - 1}, "
           f"{_pool.get_pool().max_workers} worker processes; a database over the live budget of {budget:,} "
           "cells is skipped.")

_pool.progress(JOB)
(snap,) = _pool.snapshots(JOB)
if snap is None:
    st.info("Press **Run** to generate the databases (in the server's worker processes; the page stays usable).")
    st.stop()

if snap.over_budget:
    seeds = ", ".join(str(s) for s, _ in snap.over_budget[:20]) + (" …" if len(snap.over_budget) > 20 else "")
    st.warning(f"{len(snap.over_budget)} seed(s) skipped: over the live budget of {budget:,} cells "
               f"(env var `{aps.LIVE_MAX_CELLS_ENV}`): {seeds}.")
for s, error in snap.failed[:5]:
    st.error(f"Seed {s} failed: {error}")
frame = snap.frame()
if frame.empty:
    st.stop()
same_config = snap.key.removesuffix("+learn") == _pool.config_key(cfg, ddl, dialect)
if not same_config:
    st.info("The sidebar's config changed since this run: press **Run** for the figures of the new one.")

shown = stats.present_figures(frame)
st.subheader(f"Figures of {len(frame)} databases")
st.plotly_chart(plots.figure_histograms(frame), theme=None, width="stretch")
with st.expander("What each figure is"):
    st.markdown("\n".join(f"- **{name}**: {stats.FIGURE_HELP[name]}" for name in shown))

st.subheader("Any two figures")
x_col, y_col = st.columns(2)
x = x_col.selectbox("x", shown, index=shown.index("rows"), key="exp_x")
y = y_col.selectbox("y", shown, index=shown.index("FK Gini (mean)"), key="exp_y")
event = st.plotly_chart(plots.scatter_figure(frame, x, y), theme=None, width="stretch", key="exp_scatter",
                        on_select="rerun", selection_mode="points")
st.caption("Click a point to open that seed in the Overview (and every single-database page).")
picked = _pool.fresh_pick(event, "exp_last_pick")
if picked is not None:
    if same_config:
        _pool.open_seed(cfg, picked)
    else:
        st.warning(f"Seed {picked} belongs to the config of the last run, not the sidebar's: press Run first.")

with st.expander("Summary (median, p10, p90) and every database"):
    st.dataframe(stats.figure_summary(frame), hide_index=True, width="stretch")
    st.dataframe(frame, hide_index=True, width="stretch")
    st.download_button("Download figures (CSV)", frame.to_csv(index=False),
                       file_name=f"figures_{cfg.digest()}_{seed0}.csv", mime="text/csv")
