"""How it's made: a toy database from the sidebar's priors, walked through stage by stage."""

import streamlit as st

import plurel_core as pc
from pages import _shared as shared
from plurel_core import stats, walk_plots
from plurel_core import walkthrough as wt

ss = st.session_state
SIDEBAR = "sidebar"
STEP = "hm_step"


@st.cache_resource(max_entries=32, show_spinner=False)
def toy(cfg_json: str, seed: int, knob_values: tuple) -> pc.Database:
    """The toy database of (sidebar config, seed, knob values): one ``generate`` call."""
    return wt.toy_database(pc.Config.from_json(cfg_json), seed, wt.Knobs(*knob_values))


def move(delta: int, count: int) -> None:
    ss[STEP] = min(max(int(ss.get(STEP, 1)) + delta, 1), count)


def keep_valid(key: str, options: list, default) -> None:
    """A selection that is no longer offered (the toy changed) falls back to the default."""
    if ss.get(key) not in options:
        ss[key] = default


shared.current()
shared.page_header("How it's made", "A toy database made with the sidebar's priors, one step at a time")
cfg, seed = ss.good_config
design = getattr(cfg, "design", "paper")
if design != "paper":
    st.warning(f"The sidebar's config has design **{design}**, whose generator has other stages than the paper's. "
               "This walkthrough follows the paper's three stages: it uses the paper design's priors of the same "
               "config (the paper preset's unless you changed them).")
    cfg = cfg.replace(design="paper")
sized = wt.toy_config(cfg)

values = {}
knob_row = st.columns([1, 1, 1, 0.6], vertical_alignment="bottom")
for col, (stage, names) in zip(knob_row, wt.KNOB_STAGES.items()):
    box = col.popover(f"Knobs · {wt.STAGES[stage]}", width="stretch")
    box.caption("Each knob fixes one config field of the toy; \"sidebar\" keeps the sidebar's prior.")
    for name in names:
        knob = wt.KNOBS[name]
        section, field = knob.path.split(".")
        prior = stats.config_value_text(sized.to_dict()[section][field])
        choice = box.selectbox(knob.label, [SIDEBAR, *knob.options], key=f"hm_knob_{name}",
                               help=f"`{knob.path}`. {knob.help}".strip(),
                               format_func=lambda v, p=prior: f"sidebar ({p})" if v == SIDEBAR else str(v))
        values[name] = None if choice == SIDEBAR else choice
knob_row[3].button("Resample", key="hm_resample_btn", width="stretch",
                   help="Stage 2 again: the same tables, stages 2-3 drawn with the next seed",
                   on_click=lambda: ss.update(hm_resample=ss.get("hm_resample", 0) + 1))
knobs = wt.Knobs(**values, resample=int(ss.get("hm_resample", 0)))
db = toy(cfg.to_json(indent=None), int(seed), tuple(vars(knobs).values()))
ss["hm_db"] = db
changed = ", ".join(f"{wt.KNOBS[k].label} = {v}" for k, v in values.items() if v is not None)
st.caption(f"Toy database `{db.name}` (seed {db.seed}): {len(db.tables)} tables, {db.num_rows} rows, made by "
           f"`pc.generate` with the sidebar's config, smaller sizes" + (f" and {changed}" if changed else "")
           + (f", resampled {knobs.resample}×" if knobs.resample else "") + ".")

links = list(db.trace.links)
tables = [n for n in db.tables if n in db.trace.scm]
c1, c2, c3 = st.columns(3)
if links:
    keep_valid("hm_fk", links, links[0])
    fk = c1.selectbox("Foreign key (stage 2)", links, key="hm_fk", format_func=lambda k: db.trace.links[k].name)
    levels = list(range(1, db.trace.links[fk].levels + 1))
    keep_valid("hm_level", levels, wt.default_level(db.trace.links[fk]) + 1)
    level = c2.selectbox("Colour rows by HSBM level", levels, key="hm_level") - 1
else:
    fk, level = None, None
keep_valid("hm_table", tables, wt.default_table(db))
table = c3.selectbox("Table (stage 3 and post-processing)", tables, key="hm_table",
                     format_func=lambda n: f"{n} ({db.tables[n].kind}"
                                           + (", has a time-series source)" if db.trace.scm[n].source_components else ")"))
steps = wt.walkthrough(db, fk=fk, table=table, level=level)

count = len(steps)
if not 1 <= int(ss.get(STEP, 1)) <= count:
    ss[STEP] = min(max(int(ss.get(STEP, 1)), 1), count)
b1, s, b2 = st.columns([1, 8, 1], vertical_alignment="bottom")
b1.button("◀ Previous", key="hm_prev", on_click=move, args=(-1, count), width="stretch")
s.slider("Step", 1, count, key=STEP)
b2.button("Next ▶", key="hm_next", on_click=move, args=(1, count), width="stretch")

step = steps[ss[STEP] - 1]
st.subheader(f"{ss[STEP]}/{count} · {step.title}")
st.caption(step.stage_label)
st.markdown(step.caption)
left, right = st.columns([4, 1])
for i, fig in enumerate(walk_plots.figures(step)):
    left.plotly_chart(fig, theme=None, width="stretch", key=f"hm_fig_{i}")
right.markdown("\n".join(f"- **{k}**: {v}" for k, v in step.facts.items()))

with st.expander("The toy's config: what differs from the sidebar's"):
    st.caption("Sizes first (3-8 tables, 20-40 rows, at most 12 SCM nodes), then the knobs; "
               "a SQL schema in the sidebar is not used here.")
    diff = stats.config_diff(cfg, db.config)
    st.dataframe(diff.assign(sidebar=diff["A"].map(stats.config_value_text),
                             toy=diff["B"].map(stats.config_value_text))[["path", "sidebar", "toy"]],
                 hide_index=True, width="stretch")
