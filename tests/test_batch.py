"""Batch generation: identical bytes on every backend, a correct index, resume, failures, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import plurel_core as pc
from plurel_core import batch
from plurel_core.batch import BatchError, Task, generate_one, parse_seeds, read_index, run_batch

DEMO = pc.Config.preset("demo")
SEEDS = list(range(12))
ROOT = Path(__file__).resolve().parents[1]


def _sha_by_seed(out: Path) -> dict[int, str]:
    return {s: r["sha256"] for s, r in read_index(out).items() if r["status"] == "ok"}


@pytest.fixture(scope="module")
def local2(tmp_path_factory) -> tuple[Path, batch.BatchSummary]:
    out = tmp_path_factory.mktemp("local2")
    return out, run_batch(DEMO, SEEDS, out, workers=2, backend="local")


def test_same_bytes_whatever_backend_worker_count_or_order(local2, tmp_path):
    out2, summary2 = local2
    assert (summary2.done, summary2.failed, summary2.skipped) == (12, 0, 0)
    one = run_batch(DEMO, list(reversed(SEEDS)), tmp_path / "local1", workers=1, backend="local")
    dask = run_batch(DEMO, SEEDS, tmp_path / "dask", workers=2, backend="dask")
    assert one.done == dask.done == 12
    sha2, sha1, shad = _sha_by_seed(out2), _sha_by_seed(tmp_path / "local1"), _sha_by_seed(tmp_path / "dask")
    assert sorted(sha2) == SEEDS
    assert sha1 == sha2 == shad
    assert len(set(sha2.values())) == 12  # different seeds, different databases
    workers = {r["worker"] for r in read_index(tmp_path / "dask").values()}
    assert len(workers) >= 1 and all(":" in w for w in workers)
    # ... and identical to generating and exporting in this process
    db = pc.generate(DEMO, 5)
    buf = io.BytesIO()
    pc.export_zip(db, buf)
    import hashlib

    assert hashlib.sha256(buf.getvalue()).hexdigest() == sha2[5]


def test_index_rows_describe_the_files(local2):
    out, summary = local2
    index = read_index(out)
    assert sorted(index) == SEEDS
    for seed in (0, 7):
        row = index[seed]
        db = pc.generate(DEMO, seed)
        path = out / row["path"]
        assert row["status"] == "ok" and row["error"] is None
        assert row["name"] == db.name and path.name == f"{db.name}.zip"
        assert (row["tables"], row["rows"], row["cells"]) == (len(db.tables), db.num_rows, db.num_cells)
        assert row["bytes"] == path.stat().st_size
        assert row["sha256"] == batch.file_sha256(path)
        assert row["config"] == DEMO.digest() and row["layout"] == "zip"
        assert row["seconds"] > 0
        loaded = pc.load_database(path)
        for name, t in db.tables.items():
            pd.testing.assert_frame_equal(loaded.tables[name].df, t.df)
    assert summary.cells == sum(r["cells"] for r in index.values())
    assert summary.rows == sum(r["rows"] for r in index.values())
    assert summary.db_per_s > 0 and summary.cells_per_s > 0
    compact = pd.read_parquet(out / "index.parquet")
    assert compact["seed"].tolist() == SEEDS
    assert compact["sha256"].tolist() == [index[s]["sha256"] for s in SEEDS]
    manifest = json.loads((out / "batch.json").read_text())
    assert manifest["digest"] == DEMO.digest() and pc.Config.from_dict(manifest["config"]) == DEMO
    assert not list(out.glob(".plurel-tmp-*"))


def test_resume_skips_done_seeds_and_redoes_missing_ones(tmp_path, monkeypatch):
    calls: list[int] = []
    real = pc.generate

    def counting(config, seed, *args, **kwargs):
        calls.append(seed)
        return real(config, seed, *args, **kwargs)

    monkeypatch.setattr(pc, "generate", counting)
    out = tmp_path / "run"
    first = run_batch(DEMO, range(6), out, backend="inline")
    assert first.done == 6 and sorted(calls) == list(range(6))
    index = read_index(out)
    mtimes = {s: (out / index[s]["path"]).stat().st_mtime_ns for s in range(6)}
    (out / index[2]["path"]).unlink()  # a lost file is made again

    calls.clear()
    second = run_batch(DEMO, range(9), out, backend="inline", resume=True)
    assert sorted(calls) == [2, 6, 7, 8]
    assert (second.done, second.skipped, second.failed) == (4, 5, 0)
    for s in (0, 1, 3, 4, 5):
        assert (out / index[s]["path"]).stat().st_mtime_ns == mtimes[s]
    lines = (out / "index.jsonl").read_text().splitlines()
    assert len(lines) == 6 + 4
    assert read_index(out)[2]["sha256"] == index[2]["sha256"]  # same bytes as the first time

    calls.clear()
    third = run_batch(DEMO, range(9), out, backend="inline", resume=True)
    assert calls == [] and third.skipped == 9 and third.done == 0


def test_resume_on_processes_leaves_done_files_untouched(local2, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(local2[0], out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.zip")}
    summary = run_batch(DEMO, range(14), out, workers=2, backend="local", resume=True)
    assert (summary.skipped, summary.done) == (12, 2)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.zip")}
    assert {k: after[k] for k in before} == before and len(after) == 14


def test_failed_seeds_are_recorded_and_the_batch_goes_on(tmp_path):
    estimates = {s: pc.estimate_cells(DEMO, s) for s in SEEDS}
    budget = sorted(estimates.values())[len(SEEDS) // 2]
    too_big = {s for s, c in estimates.items() if c > budget}
    assert 0 < len(too_big) < len(SEEDS)
    out = tmp_path / "budget"
    summary = run_batch(DEMO, SEEDS, out, workers=2, max_cells=budget)
    assert summary.failed == len(too_big) and summary.done == len(SEEDS) - len(too_big)
    index = read_index(out)
    assert sorted(index) == SEEDS
    for s, row in index.items():
        if s in too_big:
            assert row["status"] == "failed" and row["error"].startswith("SizeError")
            assert f"{estimates[s]:,}" in row["error"] and row["path"] is None
        else:
            assert row["status"] == "ok" and (out / row["path"]).exists()
    assert {s for s, _ in summary.failures} == too_big
    assert len(list(out.glob("*.zip"))) == len(SEEDS) - len(too_big)
    # resume retries failed seeds (here under a bigger budget) and skips the others
    again = run_batch(DEMO, SEEDS, out, workers=1, backend="inline", resume=True)
    assert again.done == len(too_big) and again.skipped == len(SEEDS) - len(too_big)


def crash_on_seed_3(task: Task) -> dict:
    """A task that kills its worker process for seed 3 (a segfault or the OOM killer)."""
    if task.seed == 3:
        os._exit(17)
    return generate_one(task)


def test_a_worker_that_dies_fails_only_its_seed(tmp_path):
    out = tmp_path / "crash"
    summary = run_batch(DEMO, range(8), out, workers=2, backend="local", task_fn=crash_on_seed_3)
    index = read_index(out)
    assert sorted(index) == list(range(8))
    assert index[3]["status"] == "failed" and "worker process died" in index[3]["error"]
    assert all(index[s]["status"] == "ok" for s in range(8) if s != 3)
    assert (summary.done, summary.failed) == (7, 1)


def crash_always(task: Task) -> dict:
    os._exit(3)


def test_workers_that_cannot_run_at_all_stop_the_batch_with_a_clear_error(tmp_path):
    with pytest.raises(BatchError, match="every worker process died"):
        run_batch(DEMO, range(50), tmp_path, workers=2, backend="local", task_fn=crash_always)
    assert len(read_index(tmp_path)) <= 3  # it gave up after a few seeds, not after 50


def test_threads_inside_workers_do_not_change_the_bytes(local2, tmp_path):
    summary = run_batch(DEMO, SEEDS[:4], tmp_path, workers=1, threads=3)
    assert summary.done == 4
    assert _sha_by_seed(tmp_path) == {s: h for s, h in _sha_by_seed(local2[0]).items() if s < 4}


def test_bad_input_is_refused_before_any_work(tmp_path):
    with pytest.raises(BatchError, match="backend"):
        run_batch(DEMO, [0], tmp_path, backend="spark")
    with pytest.raises(BatchError, match="layout"):
        run_batch(DEMO, [0], tmp_path, layout="tar")
    with pytest.raises(BatchError, match="formats"):
        run_batch(DEMO, [0], tmp_path, formats=["xlsx"])
    with pytest.raises(BatchError, match="negative"):
        run_batch(DEMO, [-1], tmp_path)
    with pytest.raises(BatchError, match="workers"):
        run_batch(DEMO, [0], tmp_path, workers=0)
    with pytest.raises(BatchError, match="threads"):
        run_batch(DEMO, [0], tmp_path, threads=0)
    run_batch(DEMO, [0], tmp_path / "a", backend="inline")
    with pytest.raises(BatchError, match="another config"):
        run_batch(pc.Config.preset("paper"), [0], tmp_path / "a", backend="inline")
    with pytest.raises(BatchError, match="another layout"):
        run_batch(DEMO, [0], tmp_path / "a", backend="inline", layout="folder")


def test_stale_temporaries_are_cleaned_and_torn_index_lines_ignored(tmp_path):
    out = tmp_path / "run"
    run_batch(DEMO, [0, 1], out, backend="inline")
    (out / ".plurel-tmp-deadbeef-x.zip.partial").write_bytes(b"half a zip")
    with open(out / "index.jsonl", "a") as fh:
        fh.write('{"seed": 1, "status": "fa')  # the driver died mid-line
    summary = run_batch(DEMO, [0, 1, 2], out, backend="inline", resume=True)
    assert (summary.skipped, summary.done) == (2, 1)
    assert not list(out.glob(".plurel-tmp-*"))
    assert sorted(read_index(out)) == [0, 1, 2]


def test_folder_and_parquet_layouts(tmp_path):
    folder = run_batch(DEMO, [0, 1], tmp_path / "f", backend="inline", layout="folder", formats=["csv", "sql"])
    parquet = run_batch(DEMO, [0, 1], tmp_path / "p", workers=2, layout="parquet")
    assert folder.done == parquet.done == 2
    for out, present, absent in ((tmp_path / "f", "schema.sql", "db"), (tmp_path / "p", "db", "schema.sql")):
        for row in read_index(out).values():
            root = out / row["path"]
            assert root.is_dir() and (root / present).exists() and not (root / absent).exists()
            assert row["sha256"] == batch.file_sha256(root)
    db = pc.load_database(tmp_path / "p" / read_index(tmp_path / "p")[1]["path"])
    for name, t in pc.generate(DEMO, 1).tables.items():
        pd.testing.assert_frame_equal(db.tables[name].df, t.df)


def test_parse_seeds():
    assert parse_seeds("0..4") == [0, 1, 2, 3, 4]
    assert parse_seeds("7") == [7]
    assert parse_seeds("0..2,10, 12..13") == [0, 1, 2, 10, 12, 13]
    for bad in ("", "5..2", "a", "-1", "1..x"):
        with pytest.raises(BatchError, match="seeds"):
            parse_seeds(bad)


def test_progress_reports_counts_rate_and_eta(tmp_path):
    seen: list[tuple[int, int, float | None]] = []
    run_batch(DEMO, range(4), tmp_path, backend="inline",
              progress=lambda p: seen.append((p.finished, p.remaining, p.eta)))
    assert [f for f, _, _ in seen] == [0, 1, 2, 3, 4]
    assert seen[-1][1] == 0 and seen[-1][2] == 0
    assert seen[0][2] is None


def _interrupt(tmp_path: Path, backend: str, preset: str, signals: int,
               min_rows: int = 3) -> tuple[subprocess.Popen, str, str, Path]:
    out = tmp_path / f"interrupted-{backend}"
    cmd = [sys.executable, "-m", "plurel_core.cli", "batch", "--preset", preset, "--seeds", "0..400",
           "--workers", "2", "--backend", backend, "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        index = out / "index.jsonl"
        while time.monotonic() < deadline:
            if index.exists() and len(index.read_text().splitlines()) >= min_rows:
                break
            time.sleep(0.05)
        for _ in range(signals):
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc, stdout, stderr, out


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_ctrl_c_finishes_running_seeds_and_exits_cleanly(tmp_path, backend):
    proc, stdout, stderr, out = _interrupt(tmp_path, backend, "demo", signals=1)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "batch interrupted" in stdout and "not run of 401 seeds" in stdout
    index = read_index(out)
    assert 3 <= len(index) < 401
    for row in index.values():  # every seed that was running was finished and recorded
        assert row["status"] == "ok" and row["sha256"] == batch.file_sha256(out / row["path"])
    assert len(list(out.glob("*.zip"))) == len(index)
    assert not list(out.glob(".plurel-tmp-*"))
    again = run_batch(DEMO, range(len(index) + 2), out, workers=1, backend="inline", resume=True)
    assert again.skipped == len(index) and again.done == 2


def test_second_ctrl_c_aborts_at_once_and_keeps_what_was_made(tmp_path):
    proc, stdout, stderr, out = _interrupt(tmp_path, "local", "paper", signals=2, min_rows=1)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "batch interrupted" in stdout
    index = read_index(out)
    assert len(index) >= 1
    for row in index.values():
        assert row["status"] == "ok" and row["sha256"] == batch.file_sha256(out / row["path"])
    assert {p.name for p in out.glob("*.zip")} == {r["path"] for r in index.values()}
    assert not list(out.glob(".plurel-tmp-*"))  # what the cut-off seeds had staged is gone


def test_an_abort_during_a_commit_waits_until_the_seed_is_renamed_and_recorded():
    state = batch._State()
    state.handler(signal.SIGINT, None)  # first request: drain
    assert state.interrupted and not state.aborted
    steps = []
    with pytest.raises(KeyboardInterrupt), state.committing():
        steps.append("renamed")
        state.handler(signal.SIGINT, None)  # second request arrives between rename and index write
        steps.append("recorded")
    assert steps == ["renamed", "recorded"] and state.aborted
    with pytest.raises(KeyboardInterrupt):  # outside a commit the abort is immediate
        state.handler(signal.SIGINT, None)
