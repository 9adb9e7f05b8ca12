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
