"""How it's made: a toy database from the sidebar's priors, walked through stage by stage.

The paper design walks stage 1 (schema), stage 2 (one key's HSBM) and stage 3 (one table's SCM);
the v2 design walks its schema plan, every key's link, the crossings, every node in propagation
order, the columns, the event times and the cut-offs (:func:`plurel_core.walkthrough_v2.v2_walkthrough`).
"""

import streamlit as st

import plurel_core as pc
from pages import _shared as shared
from plurel_core import stats, walk_plots
from plurel_core import walkthrough as wt
from plurel_core import walkthrough_v2 as wt2

ss = st.session_state
SIDEBAR = "sidebar"
ALL_TABLES = "all"
STEP = "hm_step"


@st.cache_resource(max_entries=32, show_spinner=False)
def toy(cfg_json: str, seed: int, knob_values: tuple) -> pc.Database:
    """The paper toy database of (sidebar config, seed, knob values): one ``generate`` call."""
    return wt.toy_database(pc.Config.from_json(cfg_json), seed, wt.Knobs(*knob_values))


@st.cache_resource(max_entries=32, show_spinner=False)
def toy_v2(cfg_json: str, seed: int, knob_values: tuple) -> pc.Database:
    """The v2 toy database of (sidebar config, seed, knob values): one ``generate`` call."""
    return wt2.v2_toy_database(pc.Config.from_json(cfg_json), seed, wt2.V2Knobs(*knob_values))


def move(delta: int, count: int) -> None:
    ss[STEP] = min(max(int(ss.get(STEP, 1)) + delta, 1), count)


def keep_valid(key: str, options: list, default) -> None:
    """A selection that is no longer offered (the toy changed) falls back to the default."""
    if ss.get(key) not in options:
        ss[key] = default


shared.current()
shared.page_header("How it's made", "A toy database made with the sidebar's priors, one step at a time")
cfg, seed = ss.good_config
v2 = cfg.design == "v2"
knob_defs, knob_stages = (wt2.V2_KNOBS, wt2.V2_KNOB_STAGES) if v2 else (wt.KNOBS, wt.KNOB_STAGES)
prefix = "hm_v2_knob_" if v2 else "hm_knob_"
sized = wt2.v2_toy_config(cfg) if v2 else wt.toy_config(cfg)

values = {}
knob_row = st.columns([1] * len(knob_stages) + [0.6], vertical_alignment="bottom")
for col, (stage, names) in zip(knob_row, knob_stages.items()):
    box = col.popover(f"Knobs · {wt.STAGES[stage]}", width="stretch")
    box.caption("Each knob fixes one config field of the toy; \"sidebar\" keeps the sidebar's prior.")
    for name in names:
        knob = knob_defs[name]
        section, field = knob.path.split(".")
        prior = stats.config_value_text(sized.to_dict()[section][field])
        choice = box.selectbox(knob.label, [SIDEBAR, *knob.options], key=f"{prefix}{name}",
                               help=f"`{knob.path}`. {knob.help}".strip(),
                               format_func=lambda v, p=prior: f"sidebar ({p})" if v == SIDEBAR else str(v))
        values[name] = None if choice == SIDEBAR else choice
if v2:
    knob_row[-1].button("Resample", key="hm_resample_btn", width="stretch", disabled=True,
                        help="v2 draws its schema plan, links and values from the one seed: change the sidebar's seed")
    knobs = wt2.V2Knobs(**values)
    db = toy_v2(cfg.to_json(indent=None), int(seed), tuple(vars(knobs).values()))
    resampled = ""
else:
    knob_row[-1].button("Resample", key="hm_resample_btn", width="stretch",
                        help="Stage 2 again: the same tables, stages 2-3 drawn with the next seed",
                        on_click=lambda: ss.update(hm_resample=ss.get("hm_resample", 0) + 1))
    knobs = wt.Knobs(**values, resample=int(ss.get("hm_resample", 0)))
    db = toy(cfg.to_json(indent=None), int(seed), tuple(vars(knobs).values()))
    resampled = f", resampled {knobs.resample}×" if knobs.resample else ""
ss["hm_db"] = db
changed = ", ".join(f"{knob_defs[k].label} = {v}" for k, v in values.items() if v is not None)
st.caption(f"Toy database `{db.name}` (seed {db.seed}, design {cfg.design}): {len(db.tables)} tables, "
           f"{db.num_rows} rows, made by `pc.generate` with the sidebar's config, smaller sizes"
           + (f" and {changed}" if changed else "") + resampled + ".")

tables = [n for n in db.tables if n in db.trace.scm]
if v2:
    options = [ALL_TABLES, *tables]
    keep_valid("hm_v2_table", options, ALL_TABLES)
    table = st.selectbox("Nodes of (stage 4) and columns first from (stage 5)", options, key="hm_v2_table",
                         format_func=lambda n: "all tables, in propagation order" if n == ALL_TABLES
                         else f"{n} ({db.trace.priors['tables'][n]['role']})")
    steps = wt2.v2_walkthrough(db, table=None if table == ALL_TABLES else table)
else:
    links = list(db.trace.links)
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
b1, s, b2 = st.columns([1.3, 7.4, 1.3], vertical_alignment="bottom")
b1.button("◀ Back", key="hm_prev", help="The previous step", on_click=move, args=(-1, count), width="stretch")
s.slider("Step", 1, count, key=STEP)
b2.button("Next ▶", key="hm_next", help="The next step", on_click=move, args=(1, count), width="stretch")

step = steps[ss[STEP] - 1]
st.subheader(f"{ss[STEP]}/{count} · {step.title}")
st.caption(step.stage_label)
st.markdown(step.caption)
left, right = st.columns([4, 1])
for i, fig in enumerate(walk_plots.figures(step)):
    left.plotly_chart(fig, theme=None, width="stretch", key=f"hm_fig_{i}")
right.markdown("\n".join(f"- **{k}**: {v}" for k, v in step.facts.items()))

with st.expander("The toy's config: what differs from the sidebar's"):
    if v2:
        st.caption(f"Sizes first ({wt2.V2_TOY_TABLES[0]}-{wt2.V2_TOY_TABLES[1]} tables, {wt2.V2_TOY_STATIC_ROWS[0]}-"
                   f"{wt2.V2_TOY_STATIC_ROWS[1]} static and {wt2.V2_TOY_EVENT_ROWS[0]}-{wt2.V2_TOY_EVENT_ROWS[1]} event "
                   f"rows, {wt2.V2_TOY_NODES[0]}-{wt2.V2_TOY_NODES[1]} nodes and {wt2.V2_TOY_COLUMNS[0]}-"
                   f"{wt2.V2_TOY_COLUMNS[1]} columns per table, {wt2.V2_TOY_LEVELS[0]}-{wt2.V2_TOY_LEVELS[1]} HSBM "
                   "levels), then the knobs.")
    else:
        st.caption("Sizes first (3-8 tables, 20-40 rows, at most 12 SCM nodes), then the knobs; "
                   "a SQL schema in the sidebar is not used here.")
    diff = stats.config_diff(cfg, db.config)
    st.dataframe(diff.assign(sidebar=diff["A"].map(stats.config_value_text),
                             toy=diff["B"].map(stats.config_value_text))[["path", "sidebar", "toy"]],
                 hide_index=True, width="stretch")
