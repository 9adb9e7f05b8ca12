"""Worker processes of the server for the prior explorer and the compare page (app glue).

One :class:`FigurePool` per server process, shared by every session: a bounded
``ProcessPoolExecutor`` (spawn context, ``os.cpu_count()`` workers) runs
:func:`plurel_core.stats.seed_figures` for one (config, seed) per task, and an LRU cache in the
server keeps the result per (config digest [+ DDL hash], seed), so a rerun or a larger K only
computes the new seeds, and two sessions that ask for the same seed share one task.

A page submits a *job* (a config and its seeds) and gets a job id; it polls
:meth:`FigurePool.snapshot` (from an ``st.fragment(run_every=...)``, so the script thread never
waits) and may :meth:`FigurePool.cancel` it. At most ``2 x workers`` tasks are in the executor at
a time, taken round-robin from the running jobs: one session's 500 seeds do not starve another
session, and a cancel has at most that many tasks left to drop (queued ones are cancelled; the
ones already running in a worker finish and land in the cache).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import itertools
import json
import multiprocessing
import os
import sys
import threading
import types
from typing import Any

import pandas as pd

import plurel_core as pc
from plurel_core import stats

CACHE_SIZE = 20_000  # (config, seed) results kept in the server (~1 kB each)
MAX_JOBS = 256  # finished jobs beyond this are forgotten, oldest first
TASKS_PER_WORKER = 2  # tasks in the executor per worker process: queued work a cancel can drop


@dataclasses.dataclass
class Snapshot:
    """Where a job stands: its seeds, the figures of the finished ones, what was skipped."""

    job_id: str
    key: str  # the cache key of the job's config (digest, plus the DDL hash of a SQL schema)
    seeds: list[int]
    rows: list[dict[str, Any]]  # {"seed": s, **figures} of the finished seeds, in seed order
    over_budget: list[tuple[int, int]]  # (seed, estimated cells) skipped: over the live budget
    failed: list[tuple[int, str]]  # (seed, error)
    cancelled: bool
    queued: int = 0  # seeds not yet given to the executor

    @property
    def in_tail(self) -> bool:
        """Running, with every seed left already in the executor (the last databases)."""
        return not self.finished and self.queued == 0

    @property
    def total(self) -> int:
        return len(self.seeds)

    @property
    def done(self) -> int:
        return len(self.rows) + len(self.over_budget) + len(self.failed)

    @property
    def finished(self) -> bool:
        return self.cancelled or self.done >= self.total

    def frame(self) -> pd.DataFrame:
        """One row per finished database: its seed and every figure of :data:`stats.FIGURES` (and
        the learnability figures of a job that asked for them)."""
        extra = [f for f in stats.LEARNABILITY_FIGURES if self.rows and f in self.rows[0]]
        return pd.DataFrame(self.rows, columns=["seed", *stats.FIGURES, *extra])


@contextlib.contextmanager
def _plain_main():
    """Start processes without the script as their main module.

    A spawned worker re-imports the parent's ``__main__`` from its file; in a Streamlit script
    run that is the app script itself (Streamlit installs it as ``sys.modules["__main__"]``), which
    would run the whole app in every new worker. For the few milliseconds of the process starts,
    ``__main__`` is a module without a file, so a worker imports only what its tasks need.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def config_key(config: pc.Config, ddl: str = "", dialect: str = "auto") -> str:
    """The cache key of a config: its digest, plus a hash of the DDL when the schema is SQL."""
    key = config.digest()
    if ddl:
        key += "-ddl" + hashlib.sha256(f"{dialect}\x00{ddl}".encode()).hexdigest()[:8]
    return key


class _Job:
    def __init__(self, job_id: str, key: str, config_json: str, seeds: list[int], max_cells: int,
                 ddl: str, dialect: str, learnability: bool = False):
        self.id, self.key, self.config_json, self.learnability = job_id, key, config_json, learnability
        self.seeds, self.max_cells, self.ddl, self.dialect = seeds, max_cells, ddl, dialect
        self.queue = collections.deque(seeds)  # not yet looked up / dispatched
        self.waiting: set[int] = set()  # seeds whose task is in the executor
        self.results: dict[int, dict[str, Any]] = {}  # seed -> {"figures": ...} | {"over": cells} | {"error": ...}
        self.cancelled = False

    @property
    def finished(self) -> bool:
        return self.cancelled or len(self.results) >= len(self.seeds)


class _Task:
    def __init__(self, future: cf.Future, job: _Job):
        self.future = future
        self.waiters: set[_Job] = {job}


class FigurePool:
    """Figures of (config, seed) computed in worker processes, cached, shared across sessions."""

    def __init__(self, max_workers: int | None = None, cache_size: int = CACHE_SIZE, start_method: str = "spawn"):
        self.max_workers = max(1, int(max_workers or os.cpu_count() or 1))
        self.window = TASKS_PER_WORKER * self.max_workers
        self.cache_size = int(cache_size)
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.RLock()  # future callbacks run on the executor's thread
        self._changed = threading.Condition(self._lock)  # notified when a job finishes
        self._executor: cf.ProcessPoolExecutor | None = None
        self._cache: collections.OrderedDict[tuple[str, int], dict[str, Any]] = collections.OrderedDict()
        self._tasks: dict[tuple[str, int], _Task] = {}
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)
        self._turn = 0  # round-robin position over the jobs
        self._closed = False
        self.computed = 0  # tasks a worker finished (each one new (config, seed) for the cache)
        self.cache_hits = 0  # seeds of a job answered from the cache
        self.cancelled = 0  # tasks dropped from the executor's queue before a worker took them

    # --- public ---------------------------------------------------------------------------------
    def submit(self, config: pc.Config, seeds: list[int], max_cells: int, ddl: str = "",
               dialect: str = "auto", learnability: bool = False) -> str:
        """Start a job computing the figures of every seed; returns its id (cached seeds are done
        at once, the others are queued for the workers). With ``learnability`` the figures also
        hold the learnability figures (cached apart: a seed computed without them is redone)."""
        key = config_key(config, ddl, dialect) + ("+learn" if learnability else "")
        with self._lock:
            if self._closed:
                raise RuntimeError("the figure pool is shut down")
            job = _Job(f"job{next(self._ids)}", key, config.to_json(indent=None), [int(s) for s in seeds],
                       int(max_cells), ddl, dialect, bool(learnability))
            self._jobs[job.id] = job
            self._forget_old_jobs()
            self._fill()
        return job.id

    def snapshot(self, job_id: str | None) -> Snapshot | None:
        """The job's progress and results so far (None for an unknown or forgotten id)."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else None
            if job is None:
                return None
            rows, over, failed = [], [], []
            for seed in job.seeds:
                res = job.results.get(seed)
                if res is None:
                    continue
                if "figures" in res:
                    rows.append({"seed": seed, **res["figures"]})
                elif "over" in res:
                    over.append((seed, res["over"]))
                else:
                    failed.append((seed, res["error"]))
            return Snapshot(job.id, job.key, list(job.seeds), rows, over, failed, job.cancelled, len(job.queue))

    def cancel(self, job_id: str | None) -> int:
        """Stop a job: drop its seeds not yet dispatched, and cancel its tasks still queued in the
        executor that no other job waits for. Returns the number of tasks cancelled."""
        with self._lock:
            job = self._jobs.get(job_id) if job_id else None
            if job is None or job.finished:
                return 0
            job.cancelled = True
            job.queue.clear()
            before = self.cancelled
            for seed in list(job.waiting):
                task = self._tasks.get((job.key, seed))
                if task is None:
                    continue
                task.waiters.discard(job)
                if not task.waiters:
                    task.future.cancel()  # its callback (run here) counts it and frees the slot
            job.waiting.clear()
            self._fill()
            self._changed.notify_all()
            return self.cancelled - before

    def wait_finished(self, job_ids: list[str | None], timeout: float) -> bool:
        """Block up to ``timeout`` seconds until every known job of ``job_ids`` is finished; True
        if they are."""
        def finished() -> bool:
            return all(self._jobs[j].finished for j in job_ids if j in self._jobs)

        with self._changed:
            return self._changed.wait_for(finished, timeout)

    def warm(self) -> None:
        """Start the worker processes before the first job: each imports plurel_core and loads its
        compiled kernels (a few seconds on a busy machine), so a Run does not wait for that."""
        with self._lock:
            if not self._closed:
                self._pool()

    def in_flight(self) -> int:
        """Tasks in the executor (queued or running in a worker)."""
        with self._lock:
            return len(self._tasks)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {"computed": self.computed, "cache_hits": self.cache_hits, "cancelled": self.cancelled,
                    "in_flight": len(self._tasks), "cached": len(self._cache)}

    def worker_pids(self) -> list[int]:
        with self._lock:
            procs = getattr(self._executor, "_processes", None) or {}
            return sorted(int(p) for p in procs)

    def shutdown(self, wait: bool = True) -> None:
        """Cancel every job, drop queued tasks and stop the worker processes."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                job.cancelled = True
                job.queue.clear()
            executor, self._executor = self._executor, None
            self._changed.notify_all()
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)

    # --- dispatch -------------------------------------------------------------------------------
    def _pool(self) -> cf.ProcessPoolExecutor:
        """The executor, made with every worker process started (each warms up with one small
        database). Called with the lock held."""
        if self._executor is None:
            from plurel_core.batch import _worker_init  # ignore Ctrl-C, end with the server

            executor = cf.ProcessPoolExecutor(max_workers=self.max_workers, mp_context=self._context,
                                              initializer=_worker_init)
            with _plain_main():  # the executor starts one worker per submit until it has them all
                for _ in range(self.max_workers):
                    executor.submit(stats.warm_up)
            self._executor = executor
        return self._executor

    def _fill(self) -> None:
        """Answer queued seeds from the cache or from a task another job started, and dispatch
        the others while the executor holds fewer than ``window`` tasks: one dispatch per job and
        round, round-robin over the jobs. Called with the lock held."""
        while not self._closed:
            jobs = [j for j in self._jobs.values() if j.queue and not j.cancelled]
            if not jobs:
                return
            start = self._turn % len(jobs)
            self._turn += 1
            progressed = False
            for i in range(len(jobs)):
                progressed |= self._advance(jobs[(start + i) % len(jobs)])
            if not progressed:
                return

    def _advance(self, job: _Job) -> bool:
        """Take seeds of ``job`` until one is dispatched or joins a task in the executor; cache
        hits are answered on the way. False when nothing moved (the window is full)."""
        moved = False
        while job.queue:
            seed = job.queue[0]
            key = (job.key, seed)
            hit = self._cache.get(key)
            if hit is not None and not (hit["figures"] is None and hit["estimate"] <= job.max_cells):
                job.queue.popleft()
                self._cache.move_to_end(key)
                self.cache_hits += 1
                self._deliver(job, seed, hit)
                moved = True
                continue
            task = self._tasks.get(key)
            if task is not None:
                job.queue.popleft()
                task.waiters.add(job)
                job.waiting.add(seed)
                return True
            if len(self._tasks) >= self.window:
                return moved
            job.queue.popleft()
            future = self._pool().submit(stats.seed_figures, job.config_json, seed, job.max_cells, job.ddl,
                                         job.dialect, job.learnability)
            self._tasks[key] = task = _Task(future, job)
            job.waiting.add(seed)
            future.add_done_callback(lambda fut, key=key, task=task: self._done(key, task))
            return True
        return moved

    def _deliver(self, job: _Job, seed: int, record: dict[str, Any]) -> None:
        job.waiting.discard(seed)
        if job.cancelled:
            return
        if "error" in record:
            job.results[seed] = {"error": record["error"]}
        elif record["figures"] is None or record["estimate"] > job.max_cells:
            if record["figures"] is None and record["estimate"] <= job.max_cells:
                job.queue.appendleft(seed)  # skipped under a smaller budget than this job's: compute
            else:
                job.results[seed] = {"over": int(record["estimate"])}
        else:
            job.results[seed] = {"figures": record["figures"]}

    def _done(self, key: tuple[str, int], task: _Task) -> None:
        with self._lock:
            if self._tasks.get(key) is task:
                del self._tasks[key]
            fut = task.future
            if fut.cancelled():
                self.cancelled += 1
                for job in task.waiters:  # cancelled under a job that still wanted it: try again
                    job.waiting.discard(key[1])
                    if not job.cancelled:
                        job.queue.appendleft(key[1])
            else:
                err = fut.exception()
                if err is None:
                    record = fut.result()
                    self.computed += 1
                    self._cache[key] = record
                    self._cache.move_to_end(key)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
                else:
                    record = {"error": f"{type(err).__name__}: {err}"}
                    if isinstance(err, cf.process.BrokenProcessPool) and self._executor is not None:
                        self._executor.shutdown(wait=False, cancel_futures=True)
                        self._executor = None  # the next task starts a new pool
                for job in task.waiters:
                    self._deliver(job, key[1], record)
            self._fill()
            self._changed.notify_all()

    def _forget_old_jobs(self) -> None:
        extra = len(self._jobs) - MAX_JOBS
        for job_id in [j.id for j in self._jobs.values() if j.finished][:max(0, extra)]:
            del self._jobs[job_id]


_POOL: FigurePool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> FigurePool:
    """The server's pool (created on first use; its workers start with the first task)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = FigurePool()
        return _POOL


def shutdown_pool(wait: bool = True) -> None:
    """Stop the server's pool and its workers; the next :func:`get_pool` makes a new one."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=wait)


atexit.register(shutdown_pool, False)


# --- session helpers for the pages --------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SidebarSource:
    """What a many-seed page samples: the sidebar's good config and seed, its SQL schema, the budget."""

    config: pc.Config
    seed: int
    ddl: str
    dialect: str
    budget: int


def sidebar_source() -> SidebarSource:
    """The sidebar's current source for a job; starts the worker processes while the user sets K."""
    from streamlit import session_state as ss

    from pages import _state as aps

    cfg, seed = ss.good_config
    last = ss.get("last_good") or ("", seed, "", "auto")
    get_pool().warm()
    return SidebarSource(cfg, int(seed), last[2], last[3], aps.live_max_cells())


def start(state_key: str, config: pc.Config, seeds: list[int], max_cells: int, ddl: str = "",
          dialect: str = "auto", learnability: bool = False) -> str:
    """Cancel the job of this session stored under ``state_key`` and start a new one there."""
    import streamlit as st

    pool = get_pool()
    pool.cancel(st.session_state.get(state_key))
    job_id = pool.submit(config, seeds, max_cells, ddl, dialect, learnability)
    st.session_state[state_key] = job_id
    return job_id


def cancel(*state_keys: str) -> None:
    """Cancel this session's jobs stored under ``state_keys`` (a button callback)."""
    import streamlit as st

    pool = get_pool()
    for k in state_keys:
        pool.cancel(st.session_state.get(k))


def snapshots(*state_keys: str) -> list[Snapshot | None]:
    import streamlit as st

    pool = get_pool()
    return [pool.snapshot(st.session_state.get(k)) for k in state_keys]


def progress(*state_keys: str, every: float = 2.0) -> None:
    """A progress bar over this session's jobs, redrawn every ``every`` seconds by a fragment
    while they run (every 2 s: each fragment run costs the server process CPU that the workers
    need; 0.5 s made a K = 100 run 70-83 s, 2 s 60 s); when the last one finishes it reruns the
    whole page to draw the results.

    Once every seed left is in a worker (the tail), a fragment run waits for the jobs to finish
    (at most ``0.9 x every``) instead of returning: the results are drawn as soon as the last
    database is done, not at the next poll (on average ``every / 2`` later).
    """
    import streamlit as st

    running = any(s is not None and not s.finished for s in snapshots(*state_keys))
    drawn_key = f"_pool_running:{'|'.join(state_keys)}"
    st.session_state[drawn_key] = running  # what the page around the fragment was drawn with
    inline_key = f"_pool_inline:{'|'.join(state_keys)}"
    st.session_state[inline_key] = True  # the fragment's first run is part of the page's run

    @st.fragment(run_every=every if running else None)
    def _bar() -> None:
        snaps = [s for s in snapshots(*state_keys) if s is not None]
        if not snaps:
            return
        inline = st.session_state.pop(inline_key, False)  # never hold up the rest of the page
        if not inline and any(s.in_tail for s in snaps) and all(s.finished or s.in_tail for s in snaps):
            get_pool().wait_finished([st.session_state.get(k) for k in state_keys], 0.9 * every)
            snaps = [s for s in snapshots(*state_keys) if s is not None]
        done, total = sum(s.done for s in snaps), sum(s.total for s in snaps)
        if any(s.cancelled for s in snaps):
            st.caption(f"Cancelled: {done} of {total} databases done.")
        elif done < total:
            st.progress(done / max(total, 1), text=f"{done} of {total} databases (worker processes)")
        if st.session_state.get(drawn_key) and all(s.finished for s in snaps):
            st.rerun()  # the page was drawn while running: draw the results

    _bar()


def picked_seed(event: Any) -> int | None:
    """The seed of the first point picked in a scatter of :func:`plots.scatter_figure` (its
    ``customdata``), from the event ``st.plotly_chart(..., on_select="rerun")`` returns; or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        custom = point.get("customdata") if hasattr(point, "get") else None
        if isinstance(custom, dict):  # an array the browser sent as an object {"0": seed}
            custom = list(custom.values())
        if isinstance(custom, (list, tuple)):
            custom = custom[0] if custom else None
        try:
            return int(custom)
        except (TypeError, ValueError):
            continue
    return None


def fresh_pick(event: Any, memory_key: str) -> int | None:
    """:func:`picked_seed` of a selection not acted on yet (remembered under ``memory_key``): a
    selection the browser sends again when the user comes back to the page opens nothing; an
    empty selection clears the memory, so the same point can be picked again."""
    import streamlit as st

    seed = picked_seed(event)
    if seed is None:
        st.session_state.pop(memory_key, None)
        return None
    signature = json.dumps(event["selection"]["points"], sort_keys=True, default=str)
    if st.session_state.get(memory_key) == signature:
        return None
    st.session_state[memory_key] = signature
    return seed


PENDING_SEED_KEY = "pending_seed"


def open_seed(config: pc.Config, seed: int) -> None:
    """Open (config, seed) in the single-database pages: switch to the Overview with the URL of
    that database. ``st.switch_page`` drops the state of every widget (the sidebar's too), so
    app.py sees the pending seed and sets the session up again from that URL (preset, seed and
    config diff) before the sidebar's widgets are created."""
    import streamlit as st

    from pages import _state as aps

    st.session_state[PENDING_SEED_KEY] = int(seed)
    st.switch_page("pages/overview.py", query_params=aps.to_query_params(config, int(seed)))
