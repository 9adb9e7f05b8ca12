"""The running app in headless Chromium: schema graph, sliders, URL round trip, offline, no errors."""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest

from plurel_core.plots import SCHEMA_GRAPH_PROBE

pytestmark = pytest.mark.browser

PAGES = {"overview": "", "schema": "schema", "foreign_keys": "foreign_keys", "columns": "columns",
         "mechanisms": "mechanisms", "compare": "compare", "export": "export"}
# Streamlit's client probes "<page path>/_stcore/health" and ".../host-config" before falling back to
# the root: those 404s come from Streamlit's base-path detection, not from the app.
PROBE = re.compile(r"/_stcore/(health|host-config)$")


class Recorder:
    """Every request, console error and page error of a page."""

    def __init__(self, page, origin: str):
        self.origin = origin
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if "Failed to load resource" in msg.text and PROBE.search(urlparse(url).path or ""):
            return
        self.console_errors.append(f"{msg.text} @ {url}")

    def assert_clean(self) -> None:
        own = urlparse(self.origin).netloc
        foreign = [u for u in self.requests
                   if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).netloc != own]
        assert not foreign, f"requests to other hosts: {foreign[:10]}"
        assert self.requests, "no request recorded at all"
        assert not self.console_errors, self.console_errors


IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"


def wait_idle(page, timeout: float = 90) -> None:
    """Wait until Streamlit has finished the current run (script state notRunning, a title shown)."""
    page.wait_for_selector("h1", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        calm = calm + 1 if page.evaluate(IDLE) == "notRunning" else 0
        if calm >= 3:  # not running on three polls in a row: no rerun pending
            return
        time.sleep(0.1)
    raise AssertionError("the app kept running")


def metric(page, label: str) -> str:
    loc = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return loc.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def schema_frame(page, timeout: float = 60, not_db: str | None = None):
    """The component frame holding the vis network, once drawn (and not showing ``not_db``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                info = frame.evaluate(SCHEMA_GRAPH_PROBE)
            except Exception:  # a frame detached while the page reran
                continue
            if info and info["canvas"] > 0 and info["db"] != not_db:
                return frame, info
        time.sleep(0.1)
    raise AssertionError("the schema graph did not render")


@pytest.fixture()
def page(chromium, streamlit_server):
    context = chromium.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    rec = Recorder(pg, streamlit_server)
    pg.recorder = rec
    yield pg
    context.close()


def test_schema_graph_renders_one_node_per_table(page, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server}/schema?preset=demo&seed=0")
    wait_idle(page)
    frame, info = schema_frame(page)
    tables = int(metric(page, "Tables"))
    assert info["nodes"] == tables >= 3
    # node ids in the vis DataSet are the table names
    ids = frame.evaluate("() => network.body.data.nodes.getIds()")
    assert all(i.startswith("table_") for i in ids)
    edges = frame.evaluate("() => network.body.data.edges.length")
    assert edges == int(metric(page, "Foreign keys"))
    page.screenshot(path=str(tmp_path / "schema.png"), full_page=True)
    page.recorder.assert_clean()


def test_slider_updates_page_and_url_round_trip(page, chromium, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server}/schema?preset=demo&seed=0")
    wait_idle(page)
    _, first = schema_frame(page)
    page.get_by_text("Stage 1 · schema", exact=True).click()
    slider = page.locator('[data-testid="stSlider"]').filter(has=page.get_by_text("Tables", exact=True)).first
    lo_thumb = slider.locator('input[type="range"]').first
    assert lo_thumb.get_attribute("value") == "3"
    lo_thumb.focus()
    for _ in range(3):  # lo 3 -> 6 with hi = 6: exactly six tables
        page.keyboard.press("ArrowRight")
    _, second = schema_frame(page, not_db=first["db"])
    wait_idle(page)
    _, second = schema_frame(page, not_db=first["db"])
    assert metric(page, "Tables") == "6"
    assert second["nodes"] == 6
    assert "cfg=" in page.url and "preset=demo" in page.url
    url = page.url
    page.screenshot(path=str(tmp_path / "after_slider.png"), full_page=True)

    # a copied URL opens the same database in a fresh browser context
    other_ctx = chromium.new_context(viewport={"width": 1440, "height": 1000})
    other = other_ctx.new_page()
    rec = Recorder(other, streamlit_server)
    other.goto(url)
    wait_idle(other)
    _, again = schema_frame(other)
    assert again["db"] == second["db"] and again["nodes"] == 6
    assert metric(other, "Tables") == "6"
    overview = url.replace("/schema?", "/?")
    other.goto(overview)
    wait_idle(other)
    page.goto(overview)
    wait_idle(page)
    for label in ("Tables", "Foreign keys", "Rows", "Cells"):
        assert metric(other, label) == metric(page, label), label
    rec.assert_clean()
    other_ctx.close()
    page.recorder.assert_clean()


def test_every_page_offline_without_errors(page, streamlit_server, tmp_path):
    for name, path in PAGES.items():
        page.goto(f"{streamlit_server}/{path}?preset=demo&seed=0")
        wait_idle(page)
        if name == "schema":
            schema_frame(page)
        if name in ("overview", "foreign_keys", "columns", "mechanisms"):
            page.wait_for_selector(".js-plotly-plot", timeout=30000)
        shot = tmp_path / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        assert not page.locator('[data-testid="stException"]').count(), name
    page.recorder.assert_clean()


# --- headline knobs, deep links -------------------------------------------------------------------
LOCAL_HOST = "127.0.0.1"


def assert_all_local(requests: list[str]) -> None:
    """Every request recorded went to the app's own host (data:/blob: URLs stay in the page)."""
    assert requests, "no request recorded at all"
    for url in requests:
        parts = urlparse(url)
        if parts.scheme == "data":
            continue
        if parts.scheme == "blob":
            assert urlparse(parts.path).hostname == LOCAL_HOST, url
            continue
        assert parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == LOCAL_HOST, url


def headline_slider(page, label: str = "Table count"):
    sidebar = page.locator('[data-testid="stSidebar"]')
    return sidebar.locator('[data-testid="stSlider"]').filter(has=page.get_by_text(label, exact=True)).first


def page_caption(page) -> str:
    return page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()


def test_headline_table_count_visible_on_first_load(page, streamlit_server, tmp_path):
    page.goto(f"{streamlit_server}/")
    wait_idle(page)
    slider = headline_slider(page)
    assert slider.is_visible()
    box = slider.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 1000  # on screen, no scrolling
    # no expander was opened: the prior expanders are all closed, their "Tables" slider hidden
    expanders = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"] details')
    assert expanders.count() >= 5 and all(expanders.nth(i).get_attribute("open") is None
                                          for i in range(expanders.count()))
    assert not page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').filter(
        has=page.get_by_text("Tables", exact=True)).first.is_visible()
    assert headline_slider(page, "DAG density").is_visible()
    page.screenshot(path=str(tmp_path / "first_load.png"))
    lo, hi = slider.locator('input[type="range"]').nth(0), slider.locator('input[type="range"]').nth(1)
    assert (lo.get_attribute("value"), hi.get_attribute("value")) == ("3", "20")  # the paper's U{3..20}
    before = metric(page, "Tables")
    assert before != "3"
    hi.focus()
    page.keyboard.press("Home")  # the upper thumb down to the lower one: exactly three tables
    deadline = time.monotonic() + 90
    while metric(page, "Tables") != "3" and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_idle(page)
    assert metric(page, "Tables") == "3"
    assert hi.get_attribute("value") == "3"
    assert "cfg=" in page.url
    assert_all_local(page.recorder.requests)
    page.recorder.assert_clean()


def _app_pages() -> list[str]:
    """The URL path of every page the router registers, read from app.py so that new pages count.
    The default page lives at the root (Streamlit ignores its url_path)."""
    from tests.conftest import ROOT

    lines = [ln for ln in (ROOT / "app.py").read_text().splitlines() if "st.Page(" in ln]
    paths = ["" if "default=True" in ln else re.search(r'url_path="([^"]+)"', ln).group(1) for ln in lines]
    assert paths.count("") == 1 and "schema" in paths and len(paths) >= 7, paths
    return paths


def test_deep_link_to_every_page_runs_the_router_with_the_same_database(page, streamlit_server):
    import plurel_core as pc
    from pages import _shared as shared
    from pages import _state as aps

    cfg = pc.Config.preset("demo").replace(**{"schema.num_tables": (5, 5), "links.popularity_laws": ("zipf",)})
    params = aps.to_query_params(cfg, 3)
    assert "cfg" in params
    query = "&".join(f"{k}={v}" for k, v in params.items())
    name = pc.generate(cfg, 3).name
    db_id = shared.db_id(cfg.to_json(indent=None), 3)
    for path in _app_pages():
        page.goto(f"{streamlit_server}/{path}?{query}")
        wait_idle(page)
        assert not page.locator('[data-testid="stException"]').count(), path
        assert page.locator('[data-testid="stSidebar"]').is_visible(), path  # the router drew the sidebar
        hi = headline_slider(page).locator('input[type="range"]').nth(1)
        assert hi.get_attribute("value") == "5", path
        caption = page_caption(page)
        assert name in caption and db_id in caption, (path, caption)
        assert f"seed={params['seed']}" in page.url and f"cfg={params['cfg']}" in page.url, (path, page.url)
    assert_all_local(page.recorder.requests)
    page.recorder.assert_clean()
