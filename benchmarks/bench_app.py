"""Latency of the live app: table-count slider change -> updated schema page, in Chromium.

Starts ``streamlit run app.py`` on a free port, opens the Schema page (paper preset, seed 0 by
default), moves the upper thumb of the "Tables" range slider down one step ten times (each a new
config, so nothing is served from the cache) and prints the median and max seconds from the key
press to the redrawn schema graph of the new database (drawn from stage 1), and the time until
the run has also finished stages 2-3 (the whole database, ready for the other views).

    .venv/bin/python benchmarks/bench_app.py [--preset paper] [--seed 0] [--steps 10]

Target: median <= 1.0 s on the paper preset.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from plurel_core.plots import SCHEMA_GRAPH_PROBE

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


IDLE = ("() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def graph_state(page):
    for frame in page.frames:
        try:
            info = frame.evaluate(SCHEMA_GRAPH_PROBE)
        except Exception:
            continue
        if info and info["canvas"]:
            return info
    return None


def wait_new_graph(page, old: str | None, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = graph_state(page)
        if info and info["db"] != old:
            return info
        time.sleep(0.01)
    raise RuntimeError("the schema graph was not updated")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/schema?preset={args.preset}&seed={args.seed}")
            state = wait_new_graph(page, None)
            page.get_by_text("Stage 1 · schema", exact=True).click()
            slider = page.locator('[data-testid="stSlider"]').filter(has=page.get_by_text("Tables", exact=True)).first
            hi = slider.locator('input[type="range"]').nth(1)
            times, dones = [], []
            for i in range(args.steps):
                hi.focus()
                before = hi.get_attribute("value")
                t0 = time.perf_counter()
                page.keyboard.press("ArrowLeft")
                state = wait_new_graph(page, state["db"])
                dt = time.perf_counter() - t0
                page.wait_for_function(IDLE, timeout=300_000, polling=20)
                done = time.perf_counter() - t0
                times.append(dt)
                dones.append(done)
                print(f"step {i + 1:2d}: tables hi {before} -> {hi.get_attribute('value')}: {state['nodes']:2d} tables, "
                      f"new graph after {dt:.3f} s, whole database (stages 2-3) after {done:.3f} s", flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\n{args.preset} preset, seed {args.seed}, {len(times)} slider changes")
    print(f"slider change -> updated schema page: median {statistics.median(times):.3f} s, max {max(times):.3f} s "
          f"(target median <= 1.0 s)")
    print(f"slider change -> whole database done: median {statistics.median(dones):.3f} s, max {max(dones):.3f} s")

if __name__ == "__main__":
    main()
