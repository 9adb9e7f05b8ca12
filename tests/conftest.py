"""Shared fixtures: a demo database, a Streamlit server on a free port, headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(port: int, env: dict | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` headless on 127.0.0.1:port; returns once /_stcore/health answers."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    full_env = {**os.environ, **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.25)
    stop_streamlit(proc)
    raise RuntimeError("streamlit did not become healthy within 60 s")


def stop_streamlit(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def demo_db():
    import plurel_core as pc

    return pc.generate(pc.Config.preset("demo"), 0)


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory):
    """Base URL of a running app on a free port (stopped at the end of the session)."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc = start_streamlit(port, log_path=log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_streamlit(proc)


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
