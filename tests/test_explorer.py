"""Prior explorer and Compare pages (AppTest) and the server's figure pool behind them."""

from __future__ import annotations

import json
import time

import psutil
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

import plurel_core as pc
from pages import _pool
from plurel_core import stats
from tests.conftest import ROOT
from tests.test_app import make_app, no_exception

APP = str(ROOT / "app.py")
DEMO = pc.Config.preset("demo")
BUDGET = 10**8


@pytest.fixture()
def pool():
    """A fresh server pool for the test; afterwards its worker processes must be gone."""
    _pool.shutdown_pool()
    p = _pool.get_pool()
    yield p
    pids = p.worker_pids()
    _pool.shutdown_pool()
    alive = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"worker processes left running: {alive}"


def wait_jobs(at: AppTest, pool: _pool.FigurePool, *keys: str, timeout: float = 240.0) -> list[_pool.Snapshot]:
    """Rerun the page (as the fragment's timer would) until this session's jobs are finished."""
    deadline = time.monotonic() + timeout
    while True:
        snaps = [pool.snapshot(at.session_state[k]) for k in keys]
        if all(s.finished for s in snaps):
            at.run()
            no_exception(at)
            return snaps
        assert time.monotonic() < deadline, [f"{s.done}/{s.total}" for s in snaps]
        time.sleep(0.3)
        at.run()
        no_exception(at)


def without_seconds(figs: dict) -> dict:
    return {k: v for k, v in figs.items() if k != "seconds"}


def explorer(seed: int = 0) -> AppTest:
    at = make_app(preset="demo", seed=seed).run()
    at.switch_page("pages/explorer.py").run()
    no_exception(at)
    assert "Prior explorer" in [t.value for t in at.title]
    return at


def test_explorer_respects_k_and_computes_only_new_seeds(pool):
    at = explorer(seed=0)
    at.slider(key="exp_k").set_value(10).run()
    at.button(key="exp_run").click().run()
    no_exception(at)
    (snap,) = wait_jobs(at, pool, "exp_job")
    assert snap.seeds == list(range(10)) and not snap.over_budget and not snap.failed
    assert list(snap.frame()["seed"]) == list(range(10))
    assert pool.computed == 10 and pool.cache_hits == 0
    assert "Figures of 10 databases" in [s.value for s in at.subheader]
    row = snap.frame().set_index("seed").loc[3].to_dict()
    assert without_seconds(row) == without_seconds(stats.database_figures(pc.generate(DEMO, 3)))

    at.slider(key="exp_k").set_value(20).run()  # a larger K: only seeds 10..19 are new
    at.button(key="exp_run").click().run()
    (snap,) = wait_jobs(at, pool, "exp_job")
    assert list(snap.frame()["seed"]) == list(range(20))
    assert pool.computed == 20 and pool.cache_hits == 10
    assert "Figures of 20 databases" in [s.value for s in at.subheader]

    at.button(key="exp_run").click().run()  # a rerun of the same K computes nothing
    (snap,) = wait_jobs(at, pool, "exp_job")
    assert snap.done == 20 and pool.computed == 20 and pool.cache_hits == 30


def test_explorer_skips_seeds_over_the_live_budget(pool, monkeypatch):
    estimates = {s: pc.estimate_cells(DEMO, s) for s in range(10)}
    budget = max(sorted(estimates.values())[5], estimates[0])  # the sidebar's database (seed 0) fits
    over = sorted(s for s, c in estimates.items() if c > budget)
    assert over
    at = explorer(seed=0)
    monkeypatch.setenv("PLUREL_LIVE_MAX_CELLS", str(budget))
    at.slider(key="exp_k").set_value(10).run()
    at.button(key="exp_run").click().run()
    (snap,) = wait_jobs(at, pool, "exp_job")
    assert [s for s, _ in snap.over_budget] == over
    assert [c for _, c in snap.over_budget] == [estimates[s] for s in over]
    assert list(snap.frame()["seed"]) == sorted(set(range(10)) - set(over))
    assert pool.computed == 10  # each seed one task: the over-budget ones stop after the estimate
    assert any("over the live budget" in w.value for w in at.warning)


def test_cancel_stops_the_pool_work(pool):
    at = explorer(seed=1000)
    at.slider(key="exp_k").set_value(500).run()
    at.button(key="exp_run").click().run()
    at.button(key="exp_cancel").click().run()
    no_exception(at)
    snap = pool.snapshot(at.session_state["exp_job"])
    assert snap.cancelled and snap.finished
    deadline = time.monotonic() + 60
    while pool.in_flight() and time.monotonic() < deadline:  # tasks already in a worker finish
        time.sleep(0.1)
    assert pool.in_flight() == 0
    stopped = pool.computed
    time.sleep(1.5)
    assert pool.computed == stopped  # nothing more runs for the cancelled job
    done = pool.snapshot(at.session_state["exp_job"]).done
    assert done < 500 and stopped < 500
    assert any("Cancelled" in c.value for c in at.caption)


def test_cancel_keeps_a_task_another_job_waits_for():
    p = _pool.FigurePool(max_workers=1)  # window of 2 tasks
    try:
        first = p.submit(DEMO, list(range(2000, 2040)), BUDGET)  # 2000 and 2001 dispatched
        other = p.submit(DEMO, [2001, 3000], BUDGET)  # waits for first's task of 2001, queues 3000
        assert p.in_flight() == p.window == 2
        p.cancel(first)
        deadline = time.monotonic() + 120
        while (not p.snapshot(other).finished or p.in_flight()) and time.monotonic() < deadline:
            time.sleep(0.05)
        snap = p.snapshot(other)
        assert [r["seed"] for r in snap.rows] == [2001, 3000]
        cancelled = p.snapshot(first)
        assert cancelled.cancelled and cancelled.done == 0
        # the tasks of 2000 (computed or dropped from the queue), 2001 and 3000: nothing more ran
        assert p.computed + p.cancelled == 3 and p.in_flight() == 0
    finally:
        pids = p.worker_pids()
        p.shutdown()
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def _chart_id(at: AppTest, key: str) -> str:
    return next(el for el in at.get("plotly_chart") if getattr(el, "key", None) == key).proto.id


def _run_with_selection(at: AppTest, chart_id: str, seed: int) -> AppTest:
    """What a click on a point of the scatter sends: the chart's selection state with the point
    (its customdata is the seed), for the next run (AppTest has no plotly interaction)."""
    states = at._tree.get_widget_states()
    assert isinstance(states, WidgetStates)
    state = states.widgets.add()
    state.id = chart_id
    state.string_value = json.dumps({"selection": {
        "points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "x": 1, "y": 1, "customdata": [seed]}],
        "point_indices": [0], "box": [], "lasso": []}})
    return at._run(states)


def test_clicking_a_point_opens_that_seed_in_the_overview(pool):
    at = explorer(seed=0)
    at.slider(key="w:schema.num_tables").set_value((4, 4)).run()  # a config that is not a preset
    cfg = DEMO.replace(**{"schema.num_tables": (4, 4)})
    assert at.session_state["good_config"][0] == cfg
    at.slider(key="exp_k").set_value(10).run()
    at.button(key="exp_run").click().run()
    (snap,) = wait_jobs(at, pool, "exp_job")
    assert set(snap.frame()["tables"]) == {4.0}
    assert _pool.picked_seed({"selection": {"points": [{"customdata": [7]}]}}) == 7
    assert _pool.picked_seed({"selection": {"points": []}}) is None
    chart = _chart_id(at, "exp_scatter")
    _run_with_selection(at, chart, 7)
    no_exception(at)
    assert "Overview" in [t.value for t in at.title]
    db = at.session_state["plurel_db"]
    assert db.seed == 7 and db.config == cfg  # the sidebar's config survives the page switch
    assert at.number_input(key="seed").value == 7
    assert at.slider(key="w:schema.num_tables").value == (4, 4)
    assert "pending_seed" not in at.session_state
    assert dict(at.query_params).get("seed") in ("7", ["7"])  # the URL of the opened database

    # back on the explorer, the browser sending the same selection again opens nothing
    at.switch_page("pages/explorer.py")
    _run_with_selection(at, chart, 7)
    no_exception(at)
    assert "Prior explorer" in [t.value for t in at.title]
    assert at.session_state["plurel_db"].seed == 7
    assert _chart_id(at, "exp_scatter") == chart and "exp_last_pick" in at.session_state  # it was seen


def test_compare_shows_ks_table_and_config_diff(pool):
    at = make_app(preset="demo", seed=0).run()
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    at.selectbox(key="cmp_b").set_value("preset: chain").run()
    chain = pc.Config.preset("chain")
    diff = next(d.value for d in at.dataframe if list(d.value.columns) == ["path", "A", "B"])
    assert list(diff["path"]) == list(stats.config_diff(DEMO, chain)["path"]) and len(diff)
    at.slider(key="cmp_k").set_value(10).run()
    at.button(key="cmp_run").click().run()
    a, b = wait_jobs(at, pool, "cmp_job_a", "cmp_job_b")
    assert a.seeds == b.seeds == list(range(10))
    ks = next(d.value for d in at.dataframe if "KS statistic" in d.value.columns)
    expected = stats.ks_table(a.frame(), b.frame())
    assert list(ks["figure"]) == list(expected["figure"]) and len(ks) == len(stats.FIGURES)
    assert ks["KS statistic"].tolist() == pytest.approx(expected["KS statistic"].tolist(), nan_ok=True)
    assert ks["KS statistic"].is_monotonic_decreasing
    assert pool.computed == 20  # the same 10 seeds for A and for B

    # pin the current config as B, then move the sidebar: the diff shows exactly that change
    at.button(key="cmp_pin").click().run()
    assert at.selectbox(key="cmp_b").value == "config pinned as B"
    assert any("same config" in i.value for i in at.info)
    at.slider(key="w:schema.num_tables").set_value((4, 4)).run()
    no_exception(at)
    diff = next(d.value for d in at.dataframe if list(d.value.columns) == ["path", "A", "B"])
    assert diff.to_dict("records") == [{"path": "schema.num_tables", "A": "4..4",
                                        "B": f"{DEMO.schema.num_tables.lo}..{DEMO.schema.num_tables.hi}"}]
    at.button(key="cmp_run").click().run()
    a, b = wait_jobs(at, pool, "cmp_job_a", "cmp_job_b")
    assert pool.computed == 30  # B (pinned demo) was cached; only A's 10 seeds are new
    assert set(a.frame()["tables"]) == {4.0}


def test_explorer_adds_learnability_figures_when_asked(pool):
    at = explorer(seed=0)
    at.slider(key="exp_k").set_value(10).run()
    at.button(key="exp_run").click().run()  # the plain figures first
    (plain,) = wait_jobs(at, pool, "exp_job")
    assert not set(stats.LEARNABILITY_FIGURES) & set(plain.frame().columns)
    at.checkbox(key="exp_learn").check().run()
    at.button(key="exp_run").click().run()
    no_exception(at)
    (snap,) = wait_jobs(at, pool, "exp_job")
    frame = snap.frame().set_index("seed")
    assert list(frame.columns[-2:]) == list(stats.LEARNABILITY_FIGURES) and len(frame) == 10
    assert pool.computed == 20  # cached apart: every seed computed again, with the models
    want = stats.learnability_figures(pc.generate(DEMO, 2))
    assert frame.loc[2, list(want)].to_dict() == pytest.approx(want, nan_ok=True)
    assert frame["learnability gain"].notna().any()
    assert "learnability gain" in at.selectbox(key="exp_x").options


def test_tail_snapshot_and_waiting_for_a_job_to_finish():
    """A job's last seeds are its tail (nothing queued, still running), and wait_finished returns
    as soon as it is done (the progress fragment waits on it instead of the next poll)."""
    p = _pool.FigurePool(max_workers=1)  # window of 2 tasks
    try:
        job = p.submit(DEMO, list(range(4000, 4006)), BUDGET)
        snap = p.snapshot(job)
        assert snap.queued == 4 and not snap.in_tail  # 2 in the executor, 4 waiting
        t0 = time.monotonic()
        assert p.wait_finished([job], 0.2) is False  # six demo databases take longer than 0.2 s
        assert 0.15 < time.monotonic() - t0 < 5.0
        deadline = time.monotonic() + 120
        while p.snapshot(job).queued and time.monotonic() < deadline:
            time.sleep(0.02)
        tail = p.snapshot(job)
        assert tail.queued == 0 and (tail.in_tail or tail.finished)
        assert p.wait_finished([job, None, "no such job"], 120) is True
        done = p.snapshot(job)
        assert done.finished and not done.in_tail and [r["seed"] for r in done.rows] == list(range(4000, 4006))
        t0 = time.monotonic()
        assert p.wait_finished([job], 30) is True and time.monotonic() - t0 < 0.5  # already done: no wait
    finally:
        pids = p.worker_pids()
        p.shutdown()
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
