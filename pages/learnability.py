"""Learnability: how well a quick model predicts each column from its row, and with its parent rows."""

import pandas as pd
import streamlit as st

from pages import _shared as shared
from plurel_core import learn_plots, stats
from plurel_core.learnability import DEFAULT_MAX_ROWS

ss = st.session_state
ROW_OPTIONS = sorted({500, 1000, DEFAULT_MAX_ROWS, 4000, 8000})


@st.cache_data(max_entries=512, show_spinner=False)
def table_learnability(_db, db_id: str, table: str, max_rows: int, seed: int) -> pd.DataFrame:
    """Learnability of one table of the database ``db_id`` (the database itself is not hashed)."""
    return stats.learnability(_db, table, max_rows=max_rows, seed=seed)


db = shared.current()
shared.page_header("Learnability", "How predictable each column is from its own row, and with its parent rows")
st.markdown(
    "For every feature column a quick gradient-boosting model predicts it **(a)** from the other columns of "
    "its row and **(b)** from those plus the columns of the parent rows its foreign keys point at. Activity "
    "tables train on rows before the validation cut-off and are scored on rows after the test cut-off; "
    "entity tables are split 80/20 at random. Scores: R² (numerical), AUROC (boolean / binarized), balanced "
    "accuracy (other categoricals); the red mark is a trivial baseline (mean / majority) on the same metric.")

names = list(db.tables)
c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
chosen = c1.multiselect("Tables", names, key="learn_tables", placeholder="All tables",
                        help="Leave empty for every table")
max_rows = c2.select_slider("Rows per table", options=ROW_OPTIONS, value=DEFAULT_MAX_ROWS, key="learn_rows",
                            help="Each table is subsampled to at most this many rows (speed)")
seed = c3.number_input("Split seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="learn_seed")
if st.button("Run", type="primary", key="learn_run", icon=":material/play_arrow:"):
    ss.learn_request = (shared.current_id(), tuple(chosen or names), int(max_rows), int(seed))

request = ss.get("learn_request")
if request is None or request[0] != shared.current_id():
    st.info("Press **Run** to fit the models (cached per database: a table is fitted once per setting).")
    st.stop()

db_id, tables, rows, split_seed = request
tables = [t for t in tables if t in db.tables]
bar = st.progress(0.0, text="Fitting…")
frames = []
for i, name in enumerate(tables):
    bar.progress(i / max(len(tables), 1), text=f"Fitting {name} ({len(db.tables[name].feature_cols)} columns)…")
    frames.append(table_learnability(db, db_id, name, rows, split_seed))
bar.empty()
frames = [f for f in frames if len(f)]
if not frames:
    st.info("The chosen tables have no feature columns.")
    st.stop()
results = pd.concat(frames, ignore_index=True)

gain = stats.learnability_gain(results)
scored = int(results["row_only"].notna().sum())
with_parents = results["parent_features"] > 0
m = st.columns(4)
m[0].metric("Median gain (b − a)", "n/a" if pd.isna(gain) else f"{gain:+.3f}",
            help="Median over the columns of tables with parents of score (b) minus score (a)")
m[1].metric("Columns scored", f"{scored} / {len(results)}")
m[2].metric("Columns with parent features", f"{int(with_parents.sum())}")
beats = ((results["row_only"] - results["baseline"]) > 0.05).sum()
m[3].metric("(a) beats the baseline by > 0.05", f"{int(beats)}")

if with_parents.any():
    st.plotly_chart(learn_plots.gain_by_table(results), theme=None, width="stretch", key="learn_gain")

st.subheader("Per table")
for i in range(0, len(frames), 2):
    cols = st.columns(2)
    for c, frame in zip(cols, frames[i:i + 2]):
        name = str(frame["table"].iloc[0])
        c.plotly_chart(learn_plots.learnability_bars(frame, name), theme=None, width="stretch", key=f"learn_fig_{name}")

st.subheader("Results")
st.dataframe(results[["table", *[c for c in results.columns if c != "table"]]], hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("baseline", "row_only", "with_parents")})
