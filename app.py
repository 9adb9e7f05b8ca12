"""PluRel Studio: the router and the shared sidebar (priors, seed, schema source, config file).

Every prior of ``pc.prior_specs()`` gets a widget built from its spec. The config on screen is
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

SPECS = pc.prior_specs()
SPEC_BY_PATH = {s.path: s for s in SPECS}
ss = st.session_state
MODES = ("Random schema", "SQL schema")


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
    for spec in SPECS:
        _set_widget(spec, overrides.get(spec.path, aps._plain(cfg.get(spec.path))))


def read_widgets(preset: pc.Config) -> dict:
    """Config values (dotted path -> JSON-like value) from the widget state."""
    values = {}
    for spec in SPECS:
        plan = aps.widget_plan(spec)
        if plan == "range_pair":
            values[spec.path] = [ss[_wkey(spec.path, "lo")], ss[_wkey(spec.path, "hi")]]
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


def prior_widget(spec) -> None:
    plan = aps.widget_plan(spec)
    key = _wkey(spec.path)
    if spec.kind in ("int_range", "float_range"):
        _range_widget(spec, plan)
    elif spec.kind == "choices":
        st.multiselect(spec.label, list(spec.options), key=key, help=spec.help, format_func=str)
    elif spec.kind == "int":
        b0, b1 = int(spec.bounds[0]), int(spec.bounds[1])
        if plan == "slider":
            st.slider(spec.label, b0, b1, step=1, key=key, help=spec.help)
        else:
            st.number_input(spec.label, b0, b1, step=1, key=key, help=spec.help)
    elif spec.kind == "float":
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


def sidebar() -> tuple[pc.Config | None, pc.ConfigError | None, str, str, bool]:
    """Draw the sidebar; return (config or None, its error, ddl text, dialect, ddl ok)."""
    names = pc.Config.preset_names()
    st.selectbox("Preset", names, key="preset", on_change=on_preset,
                 help="Start from a named set of priors; the widgets below show its values.")
    st.caption(pc.Config.preset_description(ss.preset))
    c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
    c1.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed")
    c2.button("New sample", on_click=on_new_sample, help="Next seed: another database from the same priors",
              width="stretch")

    st.radio("Schema source", MODES, key="mode", horizontal=True,
             help="Random: stage 1 draws the schema. SQL: the tables, keys and column types come from DDL.")
    ddl, dialect, ddl_ok = "", "auto", True
    if ss.mode == MODES[1]:
        ddl, dialect, schema = sql_source()
        ddl_ok = schema is not None

    for problem in ss.get("url_problems") or []:
        st.warning(f"URL: {problem}")

    preset_cfg = pc.Config.preset(ss.preset)
    cfg, err = None, None
    try:
        cfg = aps.config_from_values(ss.preset, read_widgets(preset_cfg))
    except pc.ConfigError as e:
        err = e
    if err is not None:
        st.error(f"Invalid config — **{err.field}**: {err.message}. Showing the last good database.")

    st.subheader("Priors", divider="gray")
    for section, (title, about) in aps.STAGES.items():
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
    st.Page("pages/compare.py", title="Compare priors", icon=":material/compare:", url_path="compare"),
    st.Page("pages/learnability.py", title="Learnability", icon=":material/model_training:", url_path="learnability"),
    st.Page("pages/export.py", title="Export", icon=":material/download:", url_path="export"),
]

page = st.navigation(PAGES)
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
