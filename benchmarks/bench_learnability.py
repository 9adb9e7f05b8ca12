"""Learnability of a whole paper-preset database: seconds per database.

For each seed, generates ``pc.generate(pc.Config(), seed)`` (not timed) and times
``database_learnability`` over every table with the default ``max_rows``. Prints wall and CPU
seconds per seed, the table / column / fit counts and the median gain of (b) over (a). The
first call of the process (scikit-learn imports, warm-up) runs on a demo database before timing.

    .venv/bin/python benchmarks/bench_learnability.py [--seeds 0..2] [--max-rows N]

Target: <= 15 s per database on 2 cores. CPU seconds next to wall seconds show how much of the
wall time other processes on a shared machine took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plurel_core as pc  # noqa: E402
from plurel_core.learnability import (  # noqa: E402
    DEFAULT_MAX_ROWS,
    database_learnability,
    learnability_gain,
)

TARGET_SECONDS = 15.0


def seeds_arg(text: str) -> list[int]:
    if ".." in text:
        lo, hi = text.split("..")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0..2"), help="e.g. 0..2 or 0,5,7")
    ap.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS)
    args = ap.parse_args()

    database_learnability(pc.generate(pc.Config.preset("demo"), 0), max_rows=200)  # warm-up
    worst = 0.0
    for seed in args.seeds:
        db = pc.generate(pc.Config(), seed)
        wall, cpu = time.perf_counter(), time.process_time()
        df = database_learnability(db, max_rows=args.max_rows, seed=0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        worst = max(worst, wall)
        fits = int(df["row_only"].notna().sum() + (df["with_parents"].notna() & (df["parent_features"] > 0)).sum())
        print(f"seed {seed}: {wall:6.2f} s wall, {cpu:6.2f} s CPU  ({len(db.tables)} tables, {len(df)} columns, "
              f"~{fits} fits, {db.num_cells:,} cells, median gain {learnability_gain(df):+.3f})", flush=True)
    verdict = "ok" if worst <= TARGET_SECONDS else "OVER"
    print(f"max_rows {args.max_rows}: worst {worst:.2f} s wall (target <= {TARGET_SECONDS:.0f} s): {verdict}")
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
