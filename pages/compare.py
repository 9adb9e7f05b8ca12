"""Compare priors (A/B): the sidebar's config against a preset, an uploaded or a pinned config."""

import streamlit as st

import plurel_core as pc
from pages import _pool
from pages import _shared as shared
from pages import _state as aps
from plurel_core import plots, stats

ss = st.session_state
JOBS = ("cmp_job_a", "cmp_job_b")
PINNED = "cmp_pinned"


def pin_current() -> None:
    cfg, _ = ss.good_config
    ss[PINNED] = cfg.to_json(indent=None)
    ss.cmp_b = "config pinned as B"


db = shared.current()
shared.page_header("Compare priors", "A = the sidebar's config, B = another one: the same seeds for both")

src = _pool.sidebar_source()
cfg_a, seed0, ddl, dialect, budget = src.config, src.seed, src.ddl, src.dialect, src.budget

sources = [*[f"preset: {p}" for p in pc.Config.preset_names()], "uploaded config JSON", "config pinned as B"]
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
source = c1.selectbox("B", sources, key="cmp_b", help="What A is compared with")
c2.button("Pin as B", key="cmp_pin", on_click=pin_current, width="stretch",
          help="Keep the sidebar's current config as B; then move the sidebar to make A")

cfg_b = None
if source.startswith("preset: "):
    cfg_b = pc.Config.preset(source.removeprefix("preset: "))
elif source == "uploaded config JSON":
    up = st.file_uploader("B config (JSON)", type=["json"], key="cmp_upload", max_upload_size=1)
    if up is not None:
        try:
            cfg_b, _ = aps.config_upload(up.getvalue())
        except pc.ConfigError as err:
            st.error(f"B config: {err}")
elif ss.get(PINNED):
    cfg_b = pc.Config.from_json(ss[PINNED])
else:
    st.info("Nothing pinned yet: press **Pin as B** to keep the sidebar's current config as B.")
if cfg_b is None:
    st.stop()

st.subheader("Config diff")
diff = stats.config_diff(cfg_a, cfg_b)
if diff.empty:
    st.info("A and B are the same config: every figure will have the same distribution.")
else:
    shown = diff.assign(A=diff["A"].map(stats.config_value_text), B=diff["B"].map(stats.config_value_text))
    st.dataframe(shown, hide_index=True, width="stretch")

c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
k = c1.slider("Seeds per config", 10, 500, 50, step=10, key="cmp_k",
              help=f"Seeds {seed0}..{seed0}+K-1 (from the sidebar's seed) for A and for B")
if c2.button("Run", type="primary", key="cmp_run", width="stretch"):
    seeds = list(range(seed0, seed0 + k))
    _pool.start(JOBS[0], cfg_a, seeds, budget, ddl, dialect)
    _pool.start(JOBS[1], cfg_b, seeds, budget, ddl, dialect)
    ss.cmp_labels = (f"A: {cfg_a.name} ({cfg_a.digest()})", f"B: {cfg_b.name} ({cfg_b.digest()})")
c3.button("Cancel", key="cmp_cancel", on_click=_pool.cancel, args=JOBS, width="stretch")

_pool.progress(*JOBS)
snap_a, snap_b = _pool.snapshots(*JOBS)
if snap_a is None or snap_b is None:
    st.info("Press **Run** to generate the seeds of both configs (in the server's worker processes).")
    st.stop()
skipped = len(snap_a.over_budget) + len(snap_b.over_budget)
if skipped:
    st.warning(f"{skipped} database(s) skipped: over the live budget of {budget:,} cells "
               f"(env var `{aps.LIVE_MAX_CELLS_ENV}`).")
for s, error in (snap_a.failed + snap_b.failed)[:5]:
    st.error(f"Seed {s} failed: {error}")
a, b = snap_a.frame(), snap_b.frame()
if a.empty or b.empty:
    st.stop()
label_a, label_b = ss.get("cmp_labels", ("A", "B"))

st.subheader("Distance per figure (two-sample Kolmogorov-Smirnov)")
ks = stats.ks_table(a, b)
st.dataframe(ks, hide_index=True, width="stretch",
             column_config={"KS statistic": st.column_config.NumberColumn(format="%.3f"),
                            "p-value": st.column_config.NumberColumn(format="%.3g")})
st.caption(f"{len(a)} databases of A and {len(b)} of B on seeds {snap_a.seeds[0]}..{snap_a.seeds[-1]}; "
           "sorted by the KS statistic (largest distance first).")
st.plotly_chart(plots.ecdf_figure({label_a: a, label_b: b}), theme=None, width="stretch")
with st.expander("Summary (median, p10, p90) per config"):
    left, right = st.columns(2)
    left.caption(label_a)
    left.dataframe(stats.figure_summary(a), hide_index=True, width="stretch")
    right.caption(label_b)
    right.dataframe(stats.figure_summary(b), hide_index=True, width="stretch")
