"""Batch throughput: databases/s and cells/s on local processes and a Dask LocalCluster.

    .venv/bin/python benchmarks/bench_batch.py                  # 200 demo + 40 paper databases
    .venv/bin/python benchmarks/bench_batch.py --demo 50 --paper 10 --json bench.json

For each preset it runs the same seeds with the local backend on 1 and 2 worker processes and
on a Dask LocalCluster of 2 single-threaded worker processes, each into a fresh directory, and
prints seconds (wall clock, including starting the workers), databases/s, cells/s and the
speed-up over one local worker. It also checks that every seed gave byte-identical output on
every run (same sha256), which is the batch's determinism guarantee.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plurel_core as pc  # noqa: E402
from plurel_core.batch import read_index, run_batch  # noqa: E402

RUNS = (("local", 1), ("local", 2), ("dask", 2))


def bench_preset(preset: str, count: int, root: Path, runs=RUNS) -> list[dict]:
    config = pc.Config.preset(preset)
    seeds = list(range(count))
    results, shas = [], []
    for backend, workers in runs:
        out = root / f"{preset}-{backend}-{workers}"
        summary = run_batch(config, seeds, out, workers=workers, backend=backend)
        if summary.failed or summary.done != count:
            raise SystemExit(f"{preset} {backend} x{workers}: {summary.failed} failed: {summary.failures[:3]}")
        shas.append({s: r["sha256"] for s, r in read_index(out).items()})
        results.append({
            "preset": preset, "backend": backend, "workers": workers, "databases": summary.done,
            "seconds": summary.seconds, "db_per_s": summary.db_per_s, "cells": summary.cells,
            "cells_per_s": summary.cells_per_s, "megabytes": summary.bytes / 1e6,
        })
        print(f"  {preset:<6} {backend:<5} x{workers}: {summary.seconds:7.1f} s  "
              f"{summary.db_per_s:7.2f} db/s  {summary.cells_per_s:12,.0f} cells/s", flush=True)
    identical = all(s == shas[0] for s in shas[1:])
    base = results[0]["seconds"]
    for r in results:
        r["speedup"] = base / r["seconds"] if r["seconds"] else float("nan")
        r["identical_bytes"] = identical
    if not identical:
        differ = sorted(s for s in seeds if len({run.get(s) for run in shas}) > 1)
        print(f"  WARNING {preset}: {len(differ)} seeds differ between runs, e.g. {differ[:5]} "
              "(determinism broken, or the generator's code changed during the benchmark)", flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=int, default=200, help="demo databases per run")
    parser.add_argument("--paper", type=int, default=40, help="paper databases per run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    print(f"bench_batch: {os.cpu_count()} CPUs, python {sys.version.split()[0]}", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="plurel-bench-") as tmp:
        for preset, count in (("demo", args.demo), ("paper", args.paper)):
            if count > 0:
                rows += bench_preset(preset, count, Path(tmp))
    print()
    print(f"{'preset':<7}{'backend':<8}{'workers':>7}{'dbs':>6}{'seconds':>9}{'db/s':>8}"
          f"{'cells/s':>12}{'MB':>8}{'speed-up':>9}")
    for r in rows:
        print(f"{r['preset']:<7}{r['backend']:<8}{r['workers']:>7}{r['databases']:>6}{r['seconds']:>9.1f}"
              f"{r['db_per_s']:>8.2f}{r['cells_per_s']:>12,.0f}{r['megabytes']:>8.1f}{r['speedup']:>8.2f}x")
    identical = all(r["identical_bytes"] for r in rows)
    print("byte-identical outputs across runs:", identical)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
