"""Batch generation: thousands of databases on local processes or a Dask cluster.

:func:`run_batch` generates every seed of a list with one config and writes each database into an
output directory, next to an append-only ``index.jsonl`` (one JSON object per finished seed: seed,
name, tables, rows, cells, seconds, path, bytes, sha256, status, error) and, at the end, the same
index compacted into ``index.parquet``. Each task runs generate + export inside the worker and
returns only a small summary, so nothing large crosses process or machine boundaries.

Robustness rules:

- A worker writes its database under a temporary name in the output directory; the driver renames
  it into place and appends its index entry in one step that no stop request splits. So a file
  under its final name is complete and indexed; an interrupt loses only unfinished work.
- A seed that raises (``SizeError``, a bug) is recorded with its error; the batch goes on. A
  worker process that dies takes its seed with it: the seeds that were running are retried one
  at a time to find the culprit, which is recorded as failed.
- ``resume=True`` skips every seed whose index entry says "ok" for the same config and layout
  and whose file is present with the recorded size.
- The database for a seed is a pure function of (config, seed, schema): it is byte-identical
  whichever backend, worker count or completion order produced it.

    >>> import plurel_core as pc
    >>> from plurel_core.batch import run_batch
    >>> summary = run_batch(pc.Config.preset("demo"), range(100), "out", workers=4)  # doctest: +SKIP
    >>> print(summary.format())  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import multiprocessing
import operator
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

LAYOUTS = ("zip", "folder", "parquet")
BACKENDS = ("local", "dask", "inline")
INDEX_NAME = "index.jsonl"
INDEX_PARQUET = "index.parquet"
MANIFEST_NAME = "batch.json"
_WHAT = {"digest": "config (digest)", "layout": "layout (--format)", "formats": "formats", "ddl_sha256": "DDL schema"}
TMP_PREFIX = ".plurel-tmp-"
INDEX_FIELDS = ("seed", "name", "status", "error", "tables", "rows", "cells", "seconds", "path",
                "bytes", "sha256", "config", "layout", "worker", "finished")


class BatchError(ValueError):
    """A batch cannot start: bad seeds, layout, backend, or an output directory of another batch."""


# --- seeds -----------------------------------------------------------------------------------

def parse_seeds(text: str) -> list[int]:
    """Parse ``"0..9999"``, ``"1,5,7"`` or mixtures like ``"0..9,20..29"`` (ranges inclusive)."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:\.\.(\d+))?", part)
        if not m:
            raise BatchError(f"seeds: {part!r} is not a seed or a range lo..hi of non-negative integers")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise BatchError(f"seeds: range {part!r} is empty (lo > hi)")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise BatchError("seeds: no seed given")
    return seeds


def _normalize_seeds(seeds: Iterable[int]) -> list[int]:
    out, seen = [], set()
    for s in seeds:
        try:
            s = operator.index(s)
        except TypeError:
            raise BatchError(f"seeds: {s!r} is not an integer") from None
        if s < 0:
            raise BatchError(f"seeds: {s} is negative; seeds are non-negative integers")
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# --- the task that runs in a worker ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Task:
    """Everything a worker needs for one seed; small and picklable (the config travels as JSON)."""

    seed: int
    config_json: str
    out_dir: str
    layout: str = "zip"
    formats: tuple[str, ...] | None = None
    max_cells: int | None = None
    max_bytes: int | None = None
    ddl: str | None = None
    dialect: str | None = None
    threads: int | None = 1


@functools.lru_cache(maxsize=1)
def _generate_takes_threads() -> bool:
    import inspect

    import plurel_core as pc

    return "threads" in inspect.signature(pc.generate).parameters


@functools.lru_cache(maxsize=8)
def _config(config_json: str):
    from plurel_core.config import Config

    return Config.from_json(config_json)


@functools.lru_cache(maxsize=8)
def _schema(ddl: str, dialect: str | None):
    import plurel_core as pc

    return pc.schema_from_ddl(ddl, dialect=dialect)


def database_name(config, seed: int) -> str:
    """File-safe name of the database for (config, seed): the exporter's root folder name."""
    from plurel_core.names import safe_name

    return safe_name(f"plurel_{config.name}_seed{seed}_{config.digest()}")


def output_path(out_dir: str | Path, name: str, layout: str) -> Path:
    return Path(out_dir) / (f"{name}.zip" if layout == "zip" else name)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder (sorted relative paths, sizes and contents)."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix().encode()
        h.update(rel + b"\0" + str(f.stat().st_size).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def path_size(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _check_replaceable(final: Path, layout: str) -> None:
    if layout != "zip" and final.exists() and not (final / "manifest.json").is_file():
        raise FileExistsError(f"{final} exists and is not a database folder; not replaced")


def stage_database(db, final: Path, layout: str, formats: tuple[str, ...] | None = None, *,
                   schema_ddl: str | None = None) -> Path:
    """Export ``db`` next to ``final`` under a temporary name and return that path.

    Nothing appears under the final name until :func:`commit_database` renames it there. A batch
    worker stages; the driver commits and records the seed in the index in one step that a stop
    request cannot split, so every file under a final name is complete and in the index.
    layout "zip": the ZIP file; "folder" / "parquet": the database folder (for "parquet" only the
    relbench Parquet files and the metadata go in).
    """
    from plurel_core import export

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _check_replaceable(final, layout)
    tmp = final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}"
    if layout == "parquet":
        formats = ("parquet",)
    kwargs: dict[str, Any] = {"schema_ddl": schema_ddl}
    if formats is not None:
        kwargs["formats"] = tuple(formats)
    try:
        if layout == "zip":
            export.export_zip(db, tmp, **kwargs)
            return tmp
        return Path(export.export_folder(db, tmp, **kwargs))  # writes tmp/<db name>/
    except BaseException:
        _remove(tmp)
        raise


def commit_database(staged: Path, final: Path, layout: str) -> Path:
    """Rename what :func:`stage_database` wrote into ``final``, replacing an older database."""
    staged, final = Path(staged), Path(final)
    root = staged.parent if staged.parent != final.parent else staged  # a folder is staged inside tmp/
    try:
        _check_replaceable(final, layout)
        if layout == "zip" or not final.exists():
            os.replace(staged, final)
        else:  # a folder cannot be replaced by rename: move the old one aside first
            old = final.parent / f"{TMP_PREFIX}old-{uuid.uuid4().hex[:12]}-{final.name}"
            os.replace(final, old)
            os.replace(staged, final)
            _remove(old)
    finally:
        if root.exists():
            _remove(root)
    return final


def write_database(db, final: Path, layout: str, formats: tuple[str, ...] | None = None, *,
                   schema_ddl: str | None = None) -> Path:
    """Export ``db`` to ``final`` atomically: stage under a temporary name, then rename into place."""
    return commit_database(stage_database(db, final, layout, formats, schema_ddl=schema_ddl),
                           final, layout)


def generate_one(task: Task) -> dict[str, Any]:
    """Generate and stage one seed; return a small summary row. Never raises for a bad seed.

    The row's "staged" entry is the temporary path; the driver commits it (see :func:`run_batch`).
    """
    t0 = time.perf_counter()
    row: dict[str, Any] = {"seed": task.seed, "status": "ok", "error": None,
                           "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        import plurel_core as pc
        from plurel_core.names import safe_name

        config = _config(task.config_json)
        row["name"] = database_name(config, task.seed)
        schema = _schema(task.ddl, task.dialect) if task.ddl is not None else None
        kwargs: dict[str, Any] = {"max_cells": task.max_cells, "max_bytes": task.max_bytes}
        if _generate_takes_threads():
            kwargs["threads"] = task.threads
        db = pc.generate(config, task.seed, schema, **kwargs)
        row["name"] = safe_name(db.name)
        final = output_path(task.out_dir, row["name"], task.layout)
        staged = stage_database(db, final, task.layout, task.formats, schema_ddl=task.ddl)
        row.update(tables=len(db.tables), rows=int(db.num_rows), cells=int(db.num_cells),
                   path=final.name, staged=str(staged), bytes=path_size(staged), sha256=file_sha256(staged))
    except Exception as err:  # recorded in the index; the batch goes on
        row.update(status="failed", error=f"{type(err).__name__}: {err}")
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row


_STOP = None  # in a pool worker: the driver's stop event (set on Ctrl-C / SIGTERM)


def _worker_init(stop=None) -> None:
    # Ctrl-C goes to the whole process group; the driver decides, workers finish their seed.
    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop
    _die_with_parent()


def _dask_task(fn: Callable[[Task], dict[str, Any]], task: Task, stop_name: str) -> dict[str, Any]:
    """On a Dask worker: run ``fn`` unless the driver set the batch's stop event meanwhile."""
    from distributed import Event

    if Event(stop_name).is_set():
        return {"seed": task.seed, "status": "skipped"}
    return fn(task)


def _pool_task(fn: Callable[[Task], dict[str, Any]], task: Task) -> dict[str, Any]:
    """Run ``fn`` unless the batch was stopped while this seed waited in the pool's queue."""
    if _STOP is not None and _STOP.is_set():
        return {"seed": task.seed, "status": "skipped"}
    return fn(task)


def _die_with_parent() -> None:
    """On Linux, ask the kernel to end this worker when the driver dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the worker ends when its task queue closes
        return
    if os.getppid() == 1:  # the driver died before prctl took effect
        os._exit(1)


# --- progress and summary ---------------------------------------------------------------------

@dataclasses.dataclass
class BatchProgress:
    """Passed to the ``progress`` callback after every finished seed (and once at the start)."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    cells: int = 0
    elapsed: float = 0.0
    last: dict[str, Any] | None = None
    draining: bool = False  # interrupted: waiting for running seeds, submitting no more

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.finished

    @property
    def rate(self) -> float:
        """Databases per second (finished seeds, ok or failed)."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return self.remaining / self.rate if self.rate > 0 else None

    def format(self) -> str:
        eta = "?" if self.eta is None else _duration(self.eta)
        parts = [f"{self.finished}/{self.total - self.skipped}", f"ok {self.done}", f"failed {self.failed}"]
        if self.skipped:
            parts.append(f"skipped {self.skipped}")
        parts += [f"{self.rate:.2f} db/s", f"ETA {eta}"]
        if self.draining:
            parts.append("interrupted: finishing running seeds (Ctrl-C again to abort)")
        return " | ".join(parts)


@dataclasses.dataclass
class BatchSummary:
    """What a batch did. ``failures`` lists (seed, error) of the failed seeds."""

    total: int
    done: int
    failed: int
    skipped: int
    seconds: float
    cells: int
    rows: int
    bytes: int
    out_dir: str
    index_path: str
    backend: str
    workers: int
    interrupted: bool = False
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def db_per_s(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def cells_per_s(self) -> float:
        return self.cells / self.seconds if self.seconds > 0 else 0.0

    @property
    def not_run(self) -> int:
        return self.total - self.done - self.failed - self.skipped

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(db_per_s=self.db_per_s, cells_per_s=self.cells_per_s, not_run=self.not_run)
        return d

    def format(self) -> str:
        head = "interrupted" if self.interrupted else "finished"
        lines = [
            f"batch {head}: {self.done} done, {self.failed} failed, {self.skipped} skipped"
            + (f", {self.not_run} not run" if self.not_run else "") + f" of {self.total} seeds",
            f"  {self.seconds:.1f} s, {self.db_per_s:.2f} db/s, {self.cells_per_s:,.0f} cells/s "
            f"({self.cells:,} cells, {self.rows:,} rows, {self.bytes / 1e6:.1f} MB) "
            f"on {self.backend} x{self.workers}",
            f"  index: {self.index_path}",
        ]
        for seed, err in self.failures[:10]:
            lines.append(f"  failed seed {seed}: {err}")
        if len(self.failures) > 10:
            lines.append(f"  ... and {len(self.failures) - 10} more failures (see the index)")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


# --- index ------------------------------------------------------------------------------------

def read_index(out_dir: str | Path, name: str = INDEX_NAME) -> dict[int, dict[str, Any]]:
    """Latest index entry per seed; a torn last line (crash while writing) is ignored."""
    path = Path(out_dir) / name
    latest: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return latest
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
                latest[int(row["seed"])] = row
            except (ValueError, KeyError, TypeError):
                continue
    return latest


class _IndexWriter:
    def __init__(self, path: Path):
        self.path = path
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        else:
            torn = False
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if torn:
            self.fh.write("\n")

    def write(self, row: dict[str, Any]) -> None:
        self.fh.write(json.dumps({k: row.get(k) for k in INDEX_FIELDS}, sort_keys=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self.fh.fileno())
        self.fh.close()


def write_index_parquet(out_dir: str | Path) -> Path:
    """Compact ``index.jsonl`` to ``index.parquet`` (latest entry per seed, sorted by seed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    latest = read_index(out_dir)
    rows = [latest[s] for s in sorted(latest)]
    columns = {k: [r.get(k) for r in rows] for k in INDEX_FIELDS}
    types = {"seed": pa.int64(), "tables": pa.int64(), "rows": pa.int64(), "cells": pa.int64(),
             "bytes": pa.int64(), "seconds": pa.float64()}
    table = pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in columns.items()})
    final = out_dir / INDEX_PARQUET
    tmp = out_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{INDEX_PARQUET}"
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return final


def _is_done(row: dict[str, Any] | None, out_dir: Path, digest: str, layout: str) -> bool:
    if not row or row.get("status") != "ok" or row.get("config") != digest or row.get("layout") != layout:
        return False
    path = out_dir / str(row.get("path") or "")
    if not row.get("path") or not path.exists():
        return False
    return row.get("bytes") is None or path_size(path) == row["bytes"]


def _check_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    path = out_dir / MANIFEST_NAME
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if isinstance(old, dict):
            for key in ("digest", "layout", "formats", "ddl_sha256"):
                if old.get(key) != manifest.get(key):
                    raise BatchError(
                        f"out_dir: {out_dir} holds a batch with another {_WHAT[key]} "
                        f"({old.get(key)!r}, this run: {manifest.get(key)!r}); use a new output directory")
    tmp = out_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{MANIFEST_NAME}"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _clean_stale_tmp(out_dir: Path) -> None:
    for p in out_dir.glob(f"{TMP_PREFIX}*"):
        _remove(p)


# --- backends ---------------------------------------------------------------------------------

class _State:
    """Stop requests: the first signal drains (no new seeds), the second aborts."""

    def __init__(self) -> None:
        self.interrupted = False
        self.aborted = False
        self._committing = False
        self._abort_pending = False

    def handler(self, signum, frame) -> None:
        if self.interrupted:
            self.aborted = True
            if self._committing:  # raised when the commit is whole (see committing)
                self._abort_pending = True
                return
            raise KeyboardInterrupt
        self.interrupted = True

    @contextlib.contextmanager
    def committing(self):
        """A step an abort must not split (rename a database into place and record it)."""
        self._committing = True
        try:
            yield
        finally:
            self._committing = False
        if self._abort_pending:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals(state: _State, enabled: bool):
    """Route SIGINT and SIGTERM to ``state`` while the batch runs (main thread only)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, state.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _sigint_ignored_by_children():
    """Processes started inside inherit SIGINT = ignored, so Ctrl-C in a terminal (sent to the
    whole process group) reaches only the driver, which lets running seeds finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _failed_row(task: Task, err: BaseException | str) -> dict[str, Any]:
    msg = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return {"seed": task.seed, "status": "failed", "error": msg, "seconds": None,
            "name": database_name(_config(task.config_json), task.seed)}


def _iter_inline(tasks: list[Task], fn: Callable, state: _State) -> Iterator[dict]:
    for task in tasks:
        if state.interrupted:
            return
        yield fn(task)


def _terminate_pool(executor: cf.ProcessPoolExecutor, timeout: float = 10.0) -> None:
    procs = list((getattr(executor, "_processes", None) or {}).values())
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:  # dead workers write no more temporary files, which the driver then removes
        with contextlib.suppress(Exception):
            proc.join(max(0.0, deadline - time.monotonic()))
    executor.shutdown(wait=False, cancel_futures=True)


def _commit(row: dict[str, Any], out: Path, layout: str) -> dict[str, Any]:
    """Rename a staged database into place; a failed rename fails its seed."""
    staged = row.pop("staged", None)
    if staged is None or row.get("status") != "ok":
        return row
    try:
        commit_database(Path(staged), out / row["path"], layout)
    except OSError as err:
        row.update(status="failed", error=f"{type(err).__name__}: {err}", path=None, bytes=None, sha256=None)
    return row


def _iter_local(tasks: list[Task], fn: Callable, workers: int, state: _State,
                start_method: str) -> Iterator[dict]:
    ctx = multiprocessing.get_context(start_method)
    stop = ctx.Event()

    def new_pool() -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                      initargs=(stop,))

    todo = list(reversed(tasks))  # pop() from the end keeps the seed order
    suspects: list[Task] = []  # in the pool when a worker died: retried alone to find the culprit
    window = max(2 * workers, workers + 1)
    executor = new_pool()
    pending: dict[cf.Future, Task] = {}
    results = crashes = 0  # crashes: consecutive seeds that killed their worker when run alone
    try:
        while True:
            if state.interrupted:  # drain: nothing new, drop what has not started
                stop.set()
                todo.clear()
                suspects.clear()
                for fut in [f for f in pending if f.cancel()]:
                    del pending[fut]
            elif suspects:
                if not pending:
                    task = suspects.pop()
                    pending[executor.submit(_pool_task, fn, task)] = task
            else:
                while todo and len(pending) < window:
                    task = todo.pop()
                    pending[executor.submit(_pool_task, fn, task)] = task
            if not pending:
                return
            done, _ = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
            broken = []
            for fut in done:
                task = pending.pop(fut)
                if fut.cancelled():
                    continue
                err = fut.exception()
                if err is None:
                    results += 1
                    crashes = 0
                    if fut.result().get("status") != "skipped":
                        yield fut.result()
                elif isinstance(err, cf.process.BrokenProcessPool):
                    broken.append(task)
                else:  # the task function failed outside its own guard (pickling, ...)
                    yield _failed_row(task, err)
            if broken and not state.interrupted:  # after a stop request the workers may be dying
                running = broken + list(pending.values())
                pending.clear()
                executor.shutdown(wait=False, cancel_futures=True)
                executor = new_pool()
                if len(running) == 1:  # alone in the pool: this seed killed its worker
                    crashes += 1
                    if crashes >= 3 and results == 0:
                        raise BatchError("workers: every worker process died before finishing a seed; "
                                         "can they import plurel_core (and the task function)?")
                    yield _failed_row(running[0], "worker process died while generating this seed")
                else:
                    suspects.extend(running)
            elif broken:
                pending.clear()
    except BaseException:
        state.aborted = True
        raise
    finally:
        if state.aborted:
            _terminate_pool(executor)
        else:
            executor.shutdown(wait=True, cancel_futures=True)


def _iter_dask(tasks: list[Task], fn: Callable, workers: int, scheduler: Any, state: _State) -> Iterator[dict]:
    from distributed import Client, Event, LocalCluster, as_completed

    cluster = None
    own_client = not isinstance(scheduler, Client)
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler:
        client = Client(scheduler)
    else:
        with _sigint_ignored_by_children():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    futures: dict[Any, Task] = {}
    checked = 0.0
    try:
        stop_name = f"plurel-stop-{uuid.uuid4().hex}"
        stop = Event(stop_name, client=client)
        slots = sum(client.nthreads().values()) or workers
        window = max(2 * slots, 4)
        todo = list(reversed(tasks))

        def submit(batch: list[Task]) -> list:
            keys = [f"plurel-{t.seed}-{uuid.uuid4().hex[:8]}" for t in batch]
            futs = client.map(_dask_task, [fn] * len(batch), batch, [stop_name] * len(batch),
                              key=keys, pure=False)
            futures.update(zip(futs, batch))
            return futs

        ac = as_completed(submit([todo.pop() for _ in range(min(window, len(todo)))]))
        draining = False
        while not ac.is_empty():
            if state.interrupted and not draining:  # drain: seeds not started yet return at once
                draining = True
                with contextlib.suppress(Exception):
                    stop.set()
            batch = ac.next_batch(block=False)
            if not batch:
                time.sleep(0.02)  # poll, so that a stop request is seen between results
                if state.interrupted and time.monotonic() - checked > 1.0:
                    checked = time.monotonic()
                    if not client.scheduler_info().get("workers"):  # the workers died with the signal
                        return
                continue
            for fut in batch:
                task = futures.pop(fut)
                if fut.status == "finished":
                    if fut.result().get("status") != "skipped":
                        yield fut.result()
                elif fut.status != "cancelled" and not state.interrupted:
                    yield _failed_row(task, fut.exception())  # KilledWorker: the worker died
                fut.release()
            if todo and not state.interrupted:
                ac.update(submit([todo.pop() for _ in range(min(window - ac.count(), len(todo)))]))
    except BaseException:
        state.aborted = True
        raise
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel(list(futures))
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


# --- the batch --------------------------------------------------------------------------------

def run_batch(
    config,
    seeds: Iterable[int],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    backend: str = "local",
    scheduler: Any = None,
    formats: Iterable[str] | None = None,
    layout: str = "zip",
    resume: bool = False,
    max_cells: int | None = None,
    max_bytes: int | None = None,
    ddl: str | None = None,
    dialect: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    threads: int | None = 1,
    handle_signals: bool = True,
    start_method: str = "spawn",
    task_fn: Callable[[Task], dict[str, Any]] = generate_one,
) -> BatchSummary:
    """Generate every seed with ``config`` into ``out_dir``; return a :class:`BatchSummary`.

    backend: "local" (a process pool of ``workers`` processes), "dask" (``scheduler`` is an
    address like "tcp://host:8786", a ``distributed.Client``, or None for a LocalCluster of
    ``workers`` single-threaded processes; workers must see ``out_dir``), or "inline" (this
    process, one seed after another: for debugging). layout: "zip" (one ZIP per database),
    "folder" (the exporter's folder), "parquet" (a folder of Parquet files only). ``formats`` is
    passed to the exporter. ``ddl`` (SQL text) and ``dialect`` fix the schema of every database.
    ``threads``: threads of each worker's generate() (the output does not depend on it);
    1 by default, as the workers already use the cores. ``max_bytes`` defaults, on the local
    backends, to 80% of this machine's memory shared among the workers, so that K concurrent
    databases fit together; a bigger one fails with ``SizeError`` and its estimate.
    ``task_fn`` is the function run per seed (top-level, picklable); it defaults to
    :func:`generate_one`.

    With ``handle_signals`` (and when called from the main thread), a first SIGINT (Ctrl-C) or
    SIGTERM stops submitting seeds and lets the running ones finish (``summary.interrupted``);
    a second one aborts at once. Either way the index holds every seed that was finished.
    """
    from plurel_core.config import Config

    if not isinstance(config, Config):
        raise BatchError(f"config: expected a plurel_core.Config, got {type(config).__name__}")
    if backend not in BACKENDS:
        raise BatchError(f"backend: {backend!r} is not one of {list(BACKENDS)}")
    if layout not in LAYOUTS:
        raise BatchError(f"layout: {layout!r} is not one of {list(LAYOUTS)}")
    if workers is None:
        workers = max(1, (os.cpu_count() or 1))
    if int(workers) < 1:
        raise BatchError(f"workers: {workers} must be at least 1")
    workers = int(workers)
    for name, value in (("max_cells", max_cells), ("max_bytes", max_bytes)):
        if value is not None and int(value) < 1:
            raise BatchError(f"{name}: {value} must be a positive integer")
    if scheduler is not None and backend != "dask":
        raise BatchError("scheduler: only used with backend='dask'")
    if threads is not None and int(threads) < 1:
        raise BatchError(f"threads: {threads} must be at least 1")
    seeds = _normalize_seeds(seeds)
    if max_bytes is None and backend != "dask":
        import psutil

        max_bytes = int(0.8 * psutil.virtual_memory().total / (1 if backend == "inline" else workers))
    formats_t = tuple(formats) if formats is not None else None
    if formats_t is not None:
        from plurel_core.export import ALL_FORMATS

        unknown = [f for f in formats_t if f not in ALL_FORMATS]
        if unknown or not formats_t:
            raise BatchError(f"formats: unknown {unknown or formats_t}; allowed: {list(ALL_FORMATS)}")
    if ddl is not None:
        _schema(ddl, dialect)  # a bad DDL fails here, once, before any worker starts

    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    digest = config.digest()
    config_json = config.to_json(indent=None)
    _check_manifest(out, {
        "config": config.to_dict(), "digest": digest, "layout": layout,
        "formats": list(formats_t) if formats_t is not None else None,
        "ddl_sha256": hashlib.sha256(ddl.encode()).hexdigest() if ddl is not None else None,
        "dialect": dialect,
    })
    _clean_stale_tmp(out)

    index = read_index(out) if resume else {}
    skip = {s for s in seeds if _is_done(index.get(s), out, digest, layout)}
    tasks = [Task(seed=s, config_json=config_json, out_dir=str(out), layout=layout, formats=formats_t,
                  max_cells=max_cells, max_bytes=max_bytes, ddl=ddl, dialect=dialect, threads=threads)
             for s in seeds if s not in skip]

    state = _State()
    prog = BatchProgress(total=len(seeds), skipped=len(skip))
    rows = nbytes = 0
    failures: list[tuple[int, str]] = []
    writer = _IndexWriter(out / INDEX_NAME)
    t0 = time.perf_counter()
    if progress is not None:
        progress(prog)
    if backend == "inline":
        results = _iter_inline(tasks, task_fn, state)
    elif backend == "local":
        results = _iter_local(tasks, task_fn, workers, state, start_method)
    else:
        results = _iter_dask(tasks, task_fn, workers, scheduler, state)
    with _stop_signals(state, handle_signals):
        try:
            for row in results:
                row = dict(row, config=digest, layout=layout,
                           finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
                with state.committing():
                    row = _commit(row, out, layout)
                    writer.write(row)
                if row["status"] == "ok":
                    prog.done += 1
                    prog.cells += int(row.get("cells") or 0)
                    rows += int(row.get("rows") or 0)
                    nbytes += int(row.get("bytes") or 0)
                else:
                    prog.failed += 1
                    failures.append((row["seed"], str(row.get("error"))))
                prog.elapsed = time.perf_counter() - t0
                prog.last = row
                prog.draining = state.interrupted
                if progress is not None:
                    progress(prog)
        except KeyboardInterrupt:  # a second stop request, or Ctrl-C without our handler
            state.interrupted = state.aborted = True
            results.close()
        finally:
            writer.close()
            seconds = time.perf_counter() - t0
            if state.aborted and backend != "dask":  # staged by seeds that were cut off
                _clean_stale_tmp(out)
            with contextlib.suppress(Exception):
                write_index_parquet(out)
    return BatchSummary(
        total=len(seeds), done=prog.done, failed=prog.failed, skipped=len(skip), seconds=seconds,
        cells=prog.cells, rows=rows, bytes=nbytes, out_dir=str(out), index_path=str(out / INDEX_NAME),
        backend=backend, workers=workers, interrupted=state.interrupted, failures=failures,
    )
