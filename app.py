"""PluRel Studio: the router and the shared sidebar (priors, seed, schema source, config file).

Every prior of ``pc.prior_specs(None)`` (both design spaces) gets a widget built from its spec; the
sidebar draws those of the config's design ("paper" or "v2") and keeps the others' state. The config on screen is
validated on every rerun; when it is invalid (or over the live budget) the error is shown next
to the widgets and the last good database stays on screen. The preset, seed and the diff of the
config from its preset live in the URL, so a copied URL opens the same database.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

import plurel_core as pc
from pages import _shared as shared
from pages import _state as aps

st.set_page_config(page_title="PluRel Studio", page_icon="🧬", layout="wide", initial_sidebar_state="expanded")

SPECS = pc.prior_specs(None)
SPEC_BY_PATH = {s.path: s for s in SPECS}
ss = st.session_state
MODES = ("Random schema", "SQL schema")
DESIGN_KEY = "w:design"


# --- widget state <-> config values -------------------------------------------------------------
def _wkey(path: str, part: str | None = None) -> str:
    return f"w:{path}" + (f":{part}" if part else "")


def _set_widget(spec, value) -> None:
    """Put a JSON-like config value into the widget state of ``spec``."""
    plan = aps.widget_plan(spec)
    if spec.kind in ("int_range", "float_range"):
        cast = int if spec.kind == "int_range" else float
        lo, hi = cast(value[0]), cast(value[1])
        if plan == "range_slider":
            ss[_wkey(spec.path)] = (lo, hi)
        else:
            ss[_wkey(spec.path, "lo")], ss[_wkey(spec.path, "hi")] = lo, hi
    elif spec.kind == "choices":
        ss[_wkey(spec.path)] = list(value)
    elif spec.kind == "weights":
        for option in spec.options:
            ss[_wkey(spec.path, option)] = float(value.get(option, 0.0))
    elif spec.kind == "prob":
        ss[_wkey(spec.path)] = float(value)
    elif spec.kind == "int":
        ss[_wkey(spec.path)] = int(value)
    elif spec.kind == "float":
        ss[_wkey(spec.path)] = float(value)
    elif spec.kind == "bool":
        ss[_wkey(spec.path)] = bool(value)
    elif spec.kind == "date":
        ss[_wkey(spec.path)] = dt.date.fromisoformat(str(value))


def set_widgets(cfg: pc.Config, overrides: dict | None = None) -> None:
    overrides = overrides or {}
    ss[DESIGN_KEY] = overrides.get("design", cfg.design)
    for spec in SPECS:
        _set_widget(spec, overrides.get(spec.path, aps._plain(cfg.get(spec.path))))


def read_widgets(preset: pc.Config) -> dict:
    """Config values (dotted path -> JSON-like value, and ``design``) from the widget state."""
    values = {"design": ss.get(DESIGN_KEY, preset.design)}
    for spec in SPECS:
        plan = aps.widget_plan(spec)
        if plan == "range_pair":
            values[spec.path] = [ss[_wkey(spec.path, "lo")], ss[_wkey(spec.path, "hi")]]
        elif plan == "weights":
            values[spec.path] = {o: float(ss[_wkey(spec.path, o)]) for o in spec.options}
        elif spec.kind in ("int_range", "float_range"):
            values[spec.path] = list(ss[_wkey(spec.path)])
        elif spec.kind == "choices":
            values[spec.path] = list(aps.order_choices(list(ss[_wkey(spec.path)]), spec, preset.get(spec.path)))
        elif spec.kind == "date":
            d = ss[_wkey(spec.path)]
            values[spec.path] = d.isoformat() if isinstance(d, dt.date) else str(d)
        else:
            values[spec.path] = ss[_wkey(spec.path)]
    return values


def init_state() -> None:
    """First run of a session: preset, seed and priors from the URL (else paper, seed 0)."""
    if ss.get("plurel_init"):
        return
    preset, seed, values, problems = aps.seed_and_values_from_query(st.query_params.to_dict())
    ss.preset = preset
    ss.seed = seed
    ss.mode = MODES[0]
    ss.ddl_dialect = "auto"
    set_widgets(pc.Config.preset(preset), values)
    ss.url_problems = problems
    ss.plurel_init = True


def apply_pending_seed() -> None:
    """A seed picked on another page (a point of the prior explorer) is opened by st.switch_page,
    which drops the state of every widget; its URL holds the preset, the seed and the config, so
    the session is set up again from it (init_state), before the sidebar's widgets exist."""
    if ss.pop("pending_seed", None) is not None:
        ss.plurel_init = False


# --- callbacks ------------------------------------------------------------------------------------
def on_preset() -> None:
    set_widgets(pc.Config.preset(ss.preset))


def on_reset() -> None:
    set_widgets(pc.Config.preset(ss.preset))
    ss.pop("upload_error", None)


def on_new_sample() -> None:
    ss.seed = int(ss.seed) + 1


def _apply_uploaded(text: str | bytes) -> None:
    try:
        cfg, seed = aps.config_upload(text)
    except pc.ConfigError as err:
        ss.upload_error = str(err)
        return
    ss.upload_error = None
    base = aps.base_config(cfg)
    ss.preset = base.name
    set_widgets(cfg)
    if seed is not None:
        ss.seed = int(seed)
    ss.upload_ok = f"Loaded config '{cfg.name}'" + (f" with seed {seed}" if seed is not None else "")


def on_upload() -> None:
    f = ss.get("cfg_upload")
    if f is not None:
        _apply_uploaded(f.getvalue())


def on_paste() -> None:
    text = ss.get("cfg_paste", "")
    if text.strip():
        _apply_uploaded(text)


# --- sidebar ----------------------------------------------------------------------------------------
def _range_widget(spec, plan: str) -> None:
    key = _wkey(spec.path)
    b0, b1 = spec.bounds
    if spec.kind == "int_range":
        if plan == "range_slider":
            st.slider(spec.label, int(b0), int(b1), key=key, step=1, help=spec.help)
        else:
            st.markdown(f"<div style='font-size:14px;margin-bottom:-6px'>{spec.label}</div>", unsafe_allow_html=True,
                        help=spec.help)
            c1, c2 = st.columns(2)
            c1.number_input("min", int(b0), int(b1), step=1, key=_wkey(spec.path, "lo"))
            c2.number_input("max", int(b0), int(b1), step=1, key=_wkey(spec.path, "hi"))
    else:
        step = aps.float_step(spec)
        if plan == "range_slider":
            st.slider(spec.label, float(b0), float(b1), key=key, step=step, format=aps.step_format(step),
                      help=spec.help)
        else:
            st.markdown(f"<div style='font-size:14px;margin-bottom:-6px'>{spec.label}</div>", unsafe_allow_html=True,
                        help=spec.help)
            c1, c2 = st.columns(2)
            c1.number_input("min", float(b0), float(b1), step=min(step, 0.1), format="%g", key=_wkey(spec.path, "lo"))
            c2.number_input("max", float(b0), float(b1), step=min(step, 0.1), format="%g", key=_wkey(spec.path, "hi"))


def _weights_widget(spec) -> None:
    """One number input per option (its weight; 0 = off), two to a row when the names are short."""
    st.markdown(f"<div style='font-size:14px;margin-bottom:-6px'>{spec.label}</div>", unsafe_allow_html=True,
                help=f"{spec.help} Weights are relative; 0 turns an option off, one must be positive.".strip())
    options = [str(o) for o in spec.options]
    per_row = 2 if max(len(o) for o in options) <= 16 else 1
    cols = st.columns(per_row) if per_row > 1 else [st.container()]
    for i, option in enumerate(options):
        cols[i % per_row].number_input(option, min_value=0.0, max_value=1e6, step=0.5, format="%g",
                                       key=_wkey(spec.path, option))


def prior_widget(spec) -> None:
    plan = aps.widget_plan(spec)
    key = _wkey(spec.path)
    if spec.kind in ("int_range", "float_range"):
        _range_widget(spec, plan)
    elif spec.kind == "weights":
        _weights_widget(spec)
    elif spec.kind == "choices":
        st.multiselect(spec.label, list(spec.options), key=key, help=spec.help, format_func=str)
    elif spec.kind == "int":
        b0, b1 = int(spec.bounds[0]), int(spec.bounds[1])
        if plan == "slider":
            st.slider(spec.label, b0, b1, step=1, key=key, help=spec.help)
        else:
            st.number_input(spec.label, b0, b1, step=1, key=key, help=spec.help)
    elif spec.kind in ("float", "prob"):
        b0, b1 = float(spec.bounds[0]), float(spec.bounds[1])
        step = aps.float_step(spec)
        if plan == "slider":
            st.slider(spec.label, b0, b1, step=step, format=aps.step_format(step), key=key, help=spec.help)
        else:
            st.number_input(spec.label, b0, b1, step=min(step, 0.01), format="%g", key=key, help=spec.help)
    elif spec.kind == "bool":
        st.checkbox(spec.label, key=key, help=spec.help)
    elif spec.kind == "date":
        st.date_input(spec.label, min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31), key=key,
                      help=spec.help)


def sql_source() -> tuple[str, str, object | None]:
    """SQL schema mode: the DDL text, its dialect and the parsed schema (or None on error)."""
    try:
        _parser = pc.schema_from_ddl  # the DDL parser module may not be installed
    except (AttributeError, ImportError) as err:
        st.error(f"SQL schema mode is unavailable: the DDL parser could not be loaded ({err}).")
        return "", "auto", None
    st.selectbox("SQL dialect", aps.DIALECTS, key="ddl_dialect",
                 help="auto: let the parser guess; the DDL is parsed, never executed")
    up = st.file_uploader("Upload a .sql file (≤ 1 MB)", type=["sql", "txt", "ddl"], key="ddl_file", max_upload_size=1)
    st.text_area("…or paste CREATE TABLE statements", key="ddl_text", height=170,
                 placeholder="CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
                             "CREATE TABLE orders (id INTEGER PRIMARY KEY,\n  user_id INTEGER REFERENCES users(id),\n"
                             "  created_at TIMESTAMP);")
    raw = up.getvalue() if up is not None else ss.get("ddl_text", "").encode()
    try:
        aps.check_ddl_size(raw)
    except ValueError as err:
        st.error(str(err))
        return "", ss.ddl_dialect, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        st.error("The SQL file is not UTF-8 text.")
        return "", ss.ddl_dialect, None
    if not text.strip():
        st.info("Paste or upload DDL to generate a database with that schema.")
        return "", ss.ddl_dialect, None
    try:
        schema = shared.parse_ddl(text, ss.ddl_dialect)
    except pc.DDLError as err:
        st.error(f"DDL error: {err}")
        return text, ss.ddl_dialect, None
    with st.expander(f"Schema from SQL: {len(schema.tables)} tables · notes", expanded=False):
        if schema.notes:
            for note in schema.notes:
                st.markdown(f"- {note}")
        else:
            st.caption("Everything in the DDL was used.")
    return text, ss.ddl_dialect, schema


# --- headline knobs (the sync is explained in sync_headline's docstring) ----------------------------
HEADLINE_MIRRORS = ("schema.num_tables", "links.popularity_laws", "links.popularity_sigma",
                    "links.popularity_alpha", "links.hsbm_levels", "links.hsbm_clusters",
                    "scm.scm_layouts", "scm.aggregations")
DENSITY_KEY = "h:density"
FAMILIES_KEY = "h:activation_families"
POPULARITY_LABELS = {"constant": "constant (paper)", "lognormal": "lognormal", "zipf": "Zipf"}
DENSITY_HELP = (
    "One knob for the edge density of the schema DAG. It sets the density parameter of each "
    "layout selected under Table layouts: ErdosRenyi arc probability p, BarabasiAlbert m, "
    "WattsStrogatz k and Layered edge dropout (0 = sparsest, 0.50 = the paper's values, 1 = densest). "
    "These parameters are shared by stage 1 and stage 3, so SCM graphs drawn with the same layouts "
    "change too; the parameters of layouts not selected for tables are left as they are. "
    "RandomCauchy has no density parameter; Chain and Hub have n-1 edges.")


def _hkey(path: str) -> str:
    return f"h:{path}"


def _headline_form(spec, value):
    """A JSON config value as the headline widget holds it (tuple for a range, list for choices)."""
    if spec.kind in ("int_range", "float_range"):
        cast = int if spec.kind == "int_range" else float
        return (cast(value[0]), cast(value[1]))
    return list(value)


def _put(key: str, value) -> None:
    """Write a headline state only when it differs (an unchanged value is not resent)."""
    old = ss.get(key)
    if isinstance(value, (list, tuple)):
        same = isinstance(old, (list, tuple)) and list(old) == list(value)
    else:
        same = key in ss and old == value
    if not same:
        ss[key] = value


def sync_headline(values: dict) -> aps.DensityReading:
    """Derive every headline widget state from the config values of the ``w:`` widgets.

    How the headline knobs and the expanders stay in sync. The expander widgets (keys
    ``w:<path>``) remain the only source of the config: ``read_widgets`` reads them alone. The
    headline widgets (keys ``h:...``) are views of those fields:

    1. a headline widget's on_change callback writes the ``w:`` state of the fields it drives
       (the density slider and the activation families through the pure mappings of
       pages/_state.py, the other knobs one to one);
    2. every run, before the first headline widget is drawn, this function derives every
       headline state from the ``w:`` state (the density slider keeps its position when several
       positions give the same fields).

    Callbacks run before the script and (2) runs before the headline widgets exist in the run, so
    Streamlit allows both writes, and no key belongs to two widgets. The expander widgets are drawn
    after the headline and show what the callbacks wrote. An expander edit, a preset, a reset, an
    upload or a URL reaches the headline through (2) without a callback of its own; the URL is
    built from the config, so it carries headline changes too.
    """
    for path in HEADLINE_MIRRORS:
        _put(_hkey(path), _headline_form(SPEC_BY_PATH[path], values[path]))
    reading = aps.density_reading(values, values["schema.table_layouts"], ss.get(DENSITY_KEY))
    if reading.position is not None:
        _put(DENSITY_KEY, reading.position)
    else:  # no table layout has a density field: the disabled slider shows where all four sit
        _put(DENSITY_KEY, aps.density_reading(values, aps.DENSITY_FIELDS, ss.get(DENSITY_KEY)).position)
    _put(FAMILIES_KEY, aps.families_of(values["scm.activations"]))
    return reading


def on_headline_mirror(path: str) -> None:
    _set_widget(SPEC_BY_PATH[path], list(ss.get(_hkey(path)) or []))


def on_headline_density() -> None:
    layouts = ss[_wkey("schema.table_layouts")]
    for path, value in aps.density_values(ss[DENSITY_KEY], layouts).items():
        _set_widget(SPEC_BY_PATH[path], value)


def on_headline_families() -> None:
    acts = aps.activations_for_families(ss.get(FAMILIES_KEY) or [], ss[_wkey("scm.activations")])
    _set_widget(SPEC_BY_PATH["scm.activations"], acts)


def _headline_range(path: str, label: str, help: str | None = None) -> None:
    spec = SPEC_BY_PATH[path]
    b0, b1 = spec.bounds
    if spec.kind == "int_range":
        st.slider(label, int(b0), int(b1), step=1, key=_hkey(path), on_change=on_headline_mirror, args=(path,),
                  help=help or spec.help)
    else:
        step = aps.float_step(spec)
        st.slider(label, float(b0), float(b1), step=step, format=aps.step_format(step), key=_hkey(path),
                  on_change=on_headline_mirror, args=(path,), help=help or spec.help)


def _headline_pills(path: str, label: str, help: str | None = None, labels: dict | None = None) -> None:
    spec = SPEC_BY_PATH[path]
    st.pills(label, list(spec.options), selection_mode="multi", key=_hkey(path), on_change=on_headline_mirror,
             args=(path,), help=help or spec.help, format_func=(lambda v: labels.get(v, str(v))) if labels else str)


def _field_error(err, paths) -> None:
    if err is not None and err.field in paths:
        st.error(f"{SPEC_BY_PATH[err.field].label}: {err.message}")


def headline(values: dict, err) -> None:
    """The knobs the product is about, drawn open at the top of the sidebar (paper design)."""
    if values.get("design") == "v2":
        st.subheader("Headline knobs", divider="gray")
        st.caption("The headline knobs (table count, DAG density, FK degree distribution, mechanism types) "
                   "shape the paper design space. This config samples the v2 design space: its knobs are "
                   "in the v2 expanders under Priors.")
        return
    reading = sync_headline(values)
    st.subheader("Headline knobs", divider="gray")
    if ss.mode == MODES[1]:
        st.caption("SQL schema: the DDL fixes the tables and keys, so table count and DAG density do not apply.")
    _headline_range("schema.num_tables", "Table count",
                    "Range of the number of tables; each database draws its count uniformly from it.")
    _field_error(err, ("schema.num_tables",))

    layouts = values["schema.table_layouts"]
    st.slider("DAG density", 0.0, 1.0, step=aps.DENSITY_STEP, format="%.2f", key=DENSITY_KEY,
              on_change=on_headline_density, disabled=reading.position is None, help=DENSITY_HELP)
    if reading.position is None:
        st.caption("None of the selected table layouts has a density parameter. Tree layouts "
                   "(RandomTree, ReverseRandomTree) always have n-1 foreign keys.")
    else:
        st.caption(f"{aps.density_summary(values, layouts)}. Tree layouts (RandomTree, ReverseRandomTree) "
                   "always have n-1 foreign keys.")
        if not reading.exact:
            names = ", ".join(SPEC_BY_PATH[p].label for p in reading.disagree)
            st.caption(f":orange[:material/warning: Set elsewhere, no single position matches: {names}. "
                       f"Shown at the nearest position, {reading.position:.2f}; moving the slider sets them all.]")
    _field_error(err, aps.density_paths(layouts))

    st.markdown("**FK degree distribution**")
    _headline_pills("links.popularity_laws", "Parent popularity law", labels=POPULARITY_LABELS,
                    help="How popular parent rows are: constant is the paper (HSBM alone); lognormal and Zipf "
                         "weight parents (degree-corrected SBM). Each FK picks one of the selected laws.")
    laws = values["links.popularity_laws"]
    if "lognormal" in laws:
        _headline_range("links.popularity_sigma", "Lognormal σ")
    if "zipf" in laws:
        _headline_range("links.popularity_alpha", "Zipf exponent α")
    _headline_range("links.hsbm_levels", "HSBM levels")
    _headline_range("links.hsbm_clusters", "HSBM clusters per level")
    _field_error(err, ("links.popularity_laws", "links.popularity_sigma", "links.popularity_alpha",
                       "links.hsbm_levels", "links.hsbm_clusters"))

    st.markdown("**Mechanism types**")
    _headline_pills("scm.scm_layouts", "SCM layouts")
    st.pills("Activation families", list(aps.ACTIVATION_FAMILIES), selection_mode="multi", key=FAMILIES_KEY,
             on_change=on_headline_families,
             help="; ".join(f"{f}: {', '.join(m)}" for f, m in aps.ACTIVATION_FAMILIES.items())
                  + ". A family shows selected when all its activations are; single activations: Stage 3 expander.")
    partial = [f"{f} {k}/{n}" for f, (k, n) in aps.family_counts(values["scm.activations"]).items() if 0 < k < n]
    if partial:
        st.caption("Partly selected (shown off): " + ", ".join(partial))
    _headline_pills("scm.aggregations", "Aggregations")
    _field_error(err, ("scm.scm_layouts", "scm.activations", "scm.aggregations"))


def sidebar() -> tuple[pc.Config | None, pc.ConfigError | None, str, str, bool]:
    """Draw the sidebar; return (config or None, its error, ddl text, dialect, ddl ok)."""
    names = pc.Config.preset_names()
    st.selectbox("Preset", names, key="preset", on_change=on_preset,
                 help="Start from a named set of priors; the widgets below show its values.")
    st.caption(pc.Config.preset_description(ss.preset))
    st.radio("Design space", aps.DESIGNS, key=DESIGN_KEY, horizontal=True, format_func=aps.DESIGN_LABELS.get,
             help="What generate() samples: the paper's priors (sections schema .. postprocess) or the "
                  "authors' later v2 design (sections v2_schema .. v2_warping). A preset sets it; the "
                  "other design's knobs keep their values and are hidden.")
    design = ss[DESIGN_KEY]
    for spec in SPECS:  # the hidden design's widgets keep their state (Streamlit drops an undrawn widget's)
        if spec.design != design:
            for k in aps.widget_keys(spec):
                if k in ss:
                    ss[k] = ss[k]
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    c1.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed")
    c2.button("New sample", on_click=on_new_sample, help="Next seed: another database from the same priors",
              width="stretch")

    for problem in ss.get("url_problems") or []:
        st.warning(f"URL: {problem}")

    values = read_widgets(pc.Config.preset(ss.preset))
    cfg, err = None, None
    try:
        cfg = aps.config_from_values(ss.preset, values)
    except pc.ConfigError as e:
        err = e
    headline(values, err)

    st.radio("Schema source", MODES, key="mode", horizontal=True,
             help="Random: stage 1 draws the schema. SQL: the tables, keys and column types come from DDL.")
    ddl, dialect, ddl_ok = "", "auto", True
    if ss.mode == MODES[1]:
        ddl, dialect, schema = sql_source()
        ddl_ok = schema is not None

    if err is not None:
        st.error(f"Invalid config — **{err.field}**: {err.message}. Showing the last good database.")

    st.subheader("Priors", divider="gray")
    for section, (title, about) in aps.stages_for(design).items():
        specs = [s for s in SPECS if s.section == section]
        bad_here = err is not None and err.field.split(".")[0] == section
        with st.expander(title, expanded=bad_here, icon=":material/error:" if bad_here else None):
            st.caption(about)
            if bad_here and err.field == section:
                st.error(err.message)
            for spec in specs:
                prior_widget(spec)
                if err is not None and err.field == spec.path:
                    st.error(f"{spec.label}: {err.message}")

    mixed = [] if design != "paper" else pc.config.mixed_v2_paths(values.get("links.link_models", ()),
                                                         values.get("links.v2_nullable_fks", False))
    if mixed:  # the v2 knobs the paper design reads through the paper + v2 mix (Stage 2 switches)
        bad_here = err is not None and err.field in mixed
        with st.expander("Paper + v2 mix: the v2 knobs it reads", expanded=bad_here,
                         icon=":material/error:" if bad_here else ":material/join:"):
            st.caption("Stage 2's mix switches make the paper design draw these v2 priors: v2's link models "
                       "(random or v2 HSBM) and v2's nullable foreign keys. The same knobs as in the v2 design.")
            for path in mixed:
                prior_widget(SPEC_BY_PATH[path])
                if err is not None and err.field == path:
                    st.error(f"{SPEC_BY_PATH[path].label}: {err.message}")

    st.subheader("Config file", divider="gray")
    st.button("Reset to preset", on_click=on_reset, width="stretch",
              help="Set every prior back to the selected preset's value")
    st.file_uploader("Upload config JSON", type=["json"], key="cfg_upload", on_change=on_upload, max_upload_size=1,
                     help="A config downloaded here (or config.json from an exported ZIP); its seed is applied too.")
    with st.expander("…or paste config JSON"):
        st.text_area("Config JSON", key="cfg_paste", height=120, label_visibility="collapsed")
        st.button("Apply pasted config", on_click=on_paste)
    if ss.get("upload_error"):
        st.error(f"Config upload: {ss.upload_error}")
    elif ss.get("upload_ok"):
        st.success(ss.upload_ok)
    return cfg, err, ddl, dialect, ddl_ok


def resolve_database(cfg, err, ddl: str, dialect: str, ddl_ok: bool, preview_first: bool = False):
    """Generate (cached) the database of the sidebar, or keep the last good one with a message.

    With ``preview_first`` (the Schema view) a new database is first shown as its stage-1
    preview and the (cache key of the) pending generation is returned, to run after the page.
    """
    budget = aps.live_max_cells()
    seed = int(ss.seed)
    messages = []
    target = None
    if cfg is not None and ddl_ok and (ss.mode == MODES[0] or ddl):
        cfg_json = cfg.to_json(indent=None)
        ddl_used = ddl if ss.mode == MODES[1] else ""
        try:
            cells = shared.estimate(cfg_json, seed, ddl_used, dialect)
        except (pc.ConfigError, ValueError) as e:
            cells = None
            messages.append(f"Cannot estimate the size: {e}")
        if cells is not None and cells > budget:
            messages.append(
                f"This database would have about **{cells:,} cells**, over the live budget of {budget:,} "
                f"(env var `{aps.LIVE_MAX_CELLS_ENV}`). Generate it on the command line: download the config "
                f"JSON below and run `plurel generate --config config.json --seed {seed}`. "
                "Showing the last good database.")
        elif cells is not None:
            target = (cfg_json, seed, ddl_used, dialect)
    elif err is not None:
        messages.append(f"Invalid config: {err}")
    elif ss.mode == MODES[1] and not ddl_ok:
        messages.append("SQL schema: fix or provide the DDL in the sidebar. Showing the last good database.")

    ss[shared.PREVIEW_KEY] = False
    if target is not None and preview_first and not shared.is_generated(*target):
        early = shared.preview(*target)
        if early is not None:  # the Schema view draws stage 1 now; stages 2-3 follow in this run
            ss[shared.DB_KEY] = early
            ss[shared.DB_ID_KEY] = shared.db_id(*target)
            ss[shared.PREVIEW_KEY] = True
            ss[shared.ERROR_KEY] = messages
            return target
    if target is not None:
        try:
            with st.spinner("Generating…"):
                db = shared.generate(*target)
            ss.last_good = target
            ss[shared.DB_KEY] = db
            ss[shared.DB_ID_KEY] = shared.db_id(*target)
            ss.good_config = (cfg, seed)
            qp = aps.to_query_params(cfg, seed)
            if st.query_params.to_dict() != qp:
                st.query_params.from_dict(qp)
        except (pc.SizeError, ValueError) as e:
            messages.append(f"Generation failed: {e}. Showing the last good database.")
            target = None
    if target is None:
        last = ss.get("last_good")
        if last is None:  # nothing good yet this session: fall back to the preset itself
            base = pc.Config.preset(ss.preset)
            last = (base.to_json(indent=None), seed, "", "auto")
            try:
                cells = shared.estimate(*last)
                if cells > budget:
                    raise pc.SizeError(f"about {cells:,} cells, over the live budget of {budget:,}")
                ss[shared.DB_KEY] = shared.generate(*last)
            except (pc.SizeError, ValueError) as e:
                messages.append(f"The preset itself cannot be generated live: {e}")
                ss[shared.DB_KEY] = None
                ss[shared.ERROR_KEY] = messages
                return None
            ss.good_config = (base, seed)
            ss.last_good = last
        else:
            ss[shared.DB_KEY] = shared.generate(*last)
        ss[shared.DB_ID_KEY] = shared.db_id(*last)
    ss[shared.ERROR_KEY] = messages
    return None


def download_box() -> None:
    if ss.get(shared.DB_KEY) is None:
        return
    cfg, seed = ss.good_config
    db = ss[shared.DB_KEY]
    st.sidebar.download_button("Download config JSON", aps.config_download(cfg, seed), file_name=f"{db.name}.json",
                               mime="application/json", width="stretch",
                               help="The full config and its seed; upload it to get the same tables.")


PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
    st.Page("pages/schema.py", title="Schema", icon=":material/schema:", url_path="schema"),
    st.Page("pages/foreign_keys.py", title="Foreign keys", icon=":material/link:", url_path="foreign_keys"),
    st.Page("pages/columns.py", title="Columns", icon=":material/bar_chart:", url_path="columns"),
    st.Page("pages/mechanisms.py", title="Mechanisms", icon=":material/account_tree:", url_path="mechanisms"),
    st.Page("pages/explorer.py", title="Prior explorer", icon=":material/query_stats:", url_path="explorer"),
    st.Page("pages/compare.py", title="Compare priors", icon=":material/compare:", url_path="compare"),
    st.Page("pages/how_its_made.py", title="How it's made", icon=":material/school:", url_path="how_its_made"),
    st.Page("pages/learnability.py", title="Learnability", icon=":material/model_training:", url_path="learnability"),
    st.Page("pages/export.py", title="Export", icon=":material/download:", url_path="export"),
]

page = st.navigation(PAGES)
apply_pending_seed()
init_state()
with st.sidebar:
    st.markdown("### :material/hub: PluRel Studio")
    config, error, ddl_text, ddl_dialect, ddl_valid = sidebar()
pending = resolve_database(config, error, ddl_text, ddl_dialect, ddl_valid,
                           preview_first=getattr(page, "url_path", "") == "schema")
if pending is not None:
    ss.good_config = (config, int(ss.seed))
download_box()
for message in ss.get(shared.ERROR_KEY) or []:
    st.error(message)
page.run()
if pending is not None:  # finish the database whose stage-1 preview is on screen
    resolve_database(config, error, ddl_text, ddl_dialect, ddl_valid)
