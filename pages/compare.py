"""Compare priors: database-level figures over many seeds, for this config and another one."""

import pandas as pd
import streamlit as st

import plurel_core as pc
from pages import _shared as shared
from pages import _state as aps
from plurel_core import plots, stats


@st.cache_data(max_entries=2000, show_spinner=False)
def figures(cfg_json: str, seed: int, max_cells: int) -> dict | None:
    """Database-level figures of one sample (None when it is over the live budget)."""
    cfg = pc.Config.from_json(cfg_json)
    if pc.estimate_cells(cfg, seed) > max_cells:
        return None
    return stats.database_figures(pc.generate(cfg, seed, max_cells=max_cells))


db = shared.current()
shared.page_header("Compare priors", "Distributions of database-level figures over many samples")

current_cfg, current_seed = st.session_state.good_config
c1, c2, c3 = st.columns([1, 1, 2])
n = c1.slider("Samples per config", 5, 50, 10, step=5, key="cmp_n")
first = c2.number_input("First seed", 0, 2**31 - 1, 0, key="cmp_seed0")
other = c3.selectbox("Compare with", ["(nothing)", *[f"preset: {p}" for p in pc.Config.preset_names()],
                                      "uploaded config JSON"], key="cmp_other")
other_cfg = None
if other.startswith("preset: "):
    other_cfg = pc.Config.preset(other.removeprefix("preset: "))
elif other == "uploaded config JSON":
    up = st.file_uploader("Second config (JSON)", type=["json"], key="cmp_upload")
    if up is not None:
        try:
            other_cfg, _ = aps.config_upload(up.getvalue())
        except pc.ConfigError as err:
            st.error(f"Second config: {err}")

configs = [("current", current_cfg)]
if other_cfg is not None:
    configs.append((f"{other_cfg.name} (other)", other_cfg))

if st.button(f"Sample {n} databases per config", type="primary", key="cmp_run"):
    st.session_state.cmp_request = [(label, cfg.to_json(indent=None)) for label, cfg in configs], int(first), int(n)

request = st.session_state.get("cmp_request")
if request is None:
    st.info("Press the button to generate the samples (cached: a seed is generated once per config).")
    st.stop()

cfg_list, seed0, count = request
budget = aps.live_max_cells()
rows, skipped = [], 0
bar = st.progress(0.0, text="Sampling…")
total = len(cfg_list) * count
for i, (label, cfg_json) in enumerate(cfg_list):
    for k in range(count):
        fig = figures(cfg_json, seed0 + k, budget)
        if fig is None:
            skipped += 1
        else:
            rows.append({"config": label, "seed": seed0 + k, **fig})
        bar.progress((i * count + k + 1) / total, text=f"Sampling {label}: seed {seed0 + k}")
bar.empty()
if skipped:
    st.warning(f"{skipped} sample(s) skipped: over the live budget of {budget:,} cells.")
if not rows:
    st.stop()
samples = pd.DataFrame(rows)
metrics = ["tables", "foreign keys", "rows", "feature columns", "categorical share", "missing rate",
           "FK Gini (mean)", "FK coverage (mean)", "activity tables"]
st.plotly_chart(plots.compare_figure(samples, metrics), theme=None, width="stretch")
st.subheader("Summary")
st.dataframe(samples.groupby("config")[metrics].agg(["mean", "median", "min", "max"]).T, width="stretch")
with st.expander("All samples"):
    st.dataframe(samples, hide_index=True, width="stretch")
