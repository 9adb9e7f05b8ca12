"""Streamlit glue shared by app.py and the pages: cached generation and the current database.

Heavy work is cached on strings (config JSON, seed, DDL text), never on widget objects, so a
rerun that changes nothing costs nothing, and two sessions with the same config share one
generation.
"""

from __future__ import annotations

import hashlib

import streamlit as st

import plurel_core as pc
from plurel_core import plots

DB_KEY = "plurel_db"
DB_ID_KEY = "plurel_db_id"
ERROR_KEY = "plurel_error"
PREVIEW_KEY = "plurel_preview"


def db_id(cfg_json: str, seed: int, ddl: str = "", dialect: str = "auto") -> str:
    """Stable id of a (config, seed, schema source) combination, for caches and the UI."""
    h = hashlib.sha256(f"{cfg_json}\x00{int(seed)}\x00{ddl}\x00{dialect}".encode()).hexdigest()
    return h[:12]


def _schema(ddl: str, dialect: str):
    if not ddl:
        return None
    return pc.schema_from_ddl(ddl, None if dialect == "auto" else dialect)


@st.cache_data(max_entries=64, show_spinner=False)
def parse_ddl(ddl: str, dialect: str):
    """The Schema parsed from DDL (cached: the same text parses once)."""
    return _schema(ddl, dialect)


@st.cache_data(max_entries=256, show_spinner=False)
def estimate(cfg_json: str, seed: int, ddl: str = "", dialect: str = "auto") -> int:
    """Cells the database would have (stage 1 only, cheap)."""
    return int(pc.estimate_cells(pc.Config.from_json(cfg_json), int(seed), parse_ddl(ddl, dialect)))


_GENERATED: set[str] = set()  # ids generated in this process (the cache may have evicted some)


def is_generated(cfg_json: str, seed: int, ddl: str = "", dialect: str = "auto") -> bool:
    return db_id(cfg_json, seed, ddl, dialect) in _GENERATED


@st.cache_data(max_entries=64, show_spinner=False)
def preview(cfg_json: str, seed: int, ddl: str = "", dialect: str = "auto"):
    """Stage 1 only (tables, keys, rows) for drawing the schema while stages 2-3 run; or None."""
    return pc.preview_database(pc.Config.from_json(cfg_json), int(seed), parse_ddl(ddl, dialect))


@st.cache_resource(max_entries=12, show_spinner=False)
def generate(cfg_json: str, seed: int, ddl: str = "", dialect: str = "auto"):
    """The Database of (config JSON, seed, DDL). Shared read-only across reruns and sessions;
    cache_resource avoids a pickle round trip of a few million cells on every rerun. The live
    budget is checked by the caller with :func:`estimate` before this runs."""
    db = pc.generate(pc.Config.from_json(cfg_json), int(seed), parse_ddl(ddl, dialect))
    _GENERATED.add(db_id(cfg_json, seed, ddl, dialect))
    return db


@st.cache_data(max_entries=24, show_spinner=False)
def schema_html(_db, key: str, height: int = 560) -> str:
    """The pyvis page of a database's schema graph (keyed by the database id)."""
    return plots.schema_graph_html(_db, height=height, key=key)


def is_preview() -> bool:
    """Whether the database on screen is the stage-1 preview (full generation still running)."""
    return bool(st.session_state.get(PREVIEW_KEY))


def ensure_router() -> None:
    """Run the router when Streamlit ran a page file on its own.

    Streamlit takes a ``pages/`` folder next to the main script for a v1 multipage app until the
    first ``st.navigation`` call of the process (and on every AppTest run): a deep link such as
    ``/schema`` then runs ``pages/schema.py`` without app.py, so without the sidebar and its
    database. A page that finds that mode on switches it off and runs app.py in its place, in the
    same script run (so a button press of this run is not lost); app.py's ``st.navigation``
    resolves the same URL and runs this page inside the router.
    """
    import runpy

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    runpy.run_path(ctx.pages_manager.main_script_path, run_name="__main__")
    st.stop()


def current():
    """The database on screen (the last good one when the sidebar holds an invalid config)."""
    ensure_router()
    db = st.session_state.get(DB_KEY)
    if db is None:
        st.info("No database yet: fix the settings in the sidebar.")
        st.stop()
    return db


def current_ddl() -> str:
    """The DDL text of the database on screen ('' for a random schema)."""
    last = st.session_state.get("last_good")
    return last[2] if last else ""


def current_id() -> str:
    return st.session_state.get(DB_ID_KEY, "")


def page_header(title: str, caption: str) -> None:
    db = current()
    st.title(title)
    total = float(db.trace.timings.get("total", 0.0))
    made = "stages 2-3 running…" if is_preview() else f"generated in {total:.2f} s"
    st.caption(f"{caption} · database `{db.name}` · id `{current_id()}` · {made}")
