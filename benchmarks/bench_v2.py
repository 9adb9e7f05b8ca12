"""Speed of the v2 pipeline: seconds per default v2 database over seeds 0-9, and per million cells.

    .venv/bin/python benchmarks/bench_v2.py [--seeds 10] [--no-paper]

Default priors (``SchemaPrior()``, ``TablePrior()``), one process, one warm-up database first
(imports and first calls are not timed). Prints the median and max seconds per database, the
seconds per million cells (sum of seconds / sum of cells), the median seconds of each stage and,
for reference, the paper preset's seconds per million cells over the same seeds.

Target (issue 13, this 2-core machine): median <= 0.5 s per default v2 database (the authors say
"about a second or less"), and no more seconds per million cells than the paper preset. The
figures move with whatever else runs on the machine's two cores.
"""

from __future__ import annotations

import argparse
import statistics
import time

import plurel_core as pc
from plurel_core.v2.pipeline import generate_v2
from plurel_core.v2.ranges import LogIntegersRange
from plurel_core.v2.schema_prior import SchemaPrior
from plurel_core.v2.table_prior import TablePrior

STAGES = ("schema", "warp", "build", "crossings", "links", "propagate", "observe", "time_order", "split", "traces")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    ap.add_argument("--no-paper", action="store_true", help="skip the paper preset's reference figure")
    args = ap.parse_args()

    sp, tp = SchemaPrior(), TablePrior()
    generate_v2(sp.replace(table_count=LogIntegersRange(3, 3)), tp, 0)  # warm-up, not timed
    runs = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        db = generate_v2(sp, tp, seed)
        runs.append({"seed": seed, "seconds": time.perf_counter() - t0, "cells": db.num_cells,
                     "tables": len(db.tables), "timings": db.trace.timings})
    secs = [r["seconds"] for r in runs]
    cells = [r["cells"] for r in runs]
    print(f"v2 default priors, seeds 0-{args.seeds - 1}")
    print(f"{'seed':>4}{'tables':>8}{'cells':>12}{'seconds':>10}")
    for r in runs:
        print(f"{r['seed']:>4}{r['tables']:>8}{r['cells']:>12,}{r['seconds']:>10.3f}")
    print(f"median {statistics.median(secs):.3f} s, max {max(secs):.3f} s per database; "
          f"{sum(secs) / sum(cells) * 1e6:.3f} s per million cells ({sum(cells):,} cells in {sum(secs):.2f} s)")
    print("median seconds per stage: " + ", ".join(
        f"{s} {statistics.median(r['timings'].get(s, 0.0) for r in runs):.3f}" for s in STAGES))
    if not args.no_paper:
        cfg = pc.Config()
        pc.generate(pc.Config.preset("demo"), 0)  # warm-up of the paper kernels, not timed
        psecs, pcells = [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            db = pc.generate(cfg, seed)
            psecs.append(time.perf_counter() - t0)
            pcells.append(db.num_cells)
        print(f"paper preset (reference), seeds 0-{args.seeds - 1}: median {statistics.median(psecs):.3f} s, "
              f"{sum(psecs) / sum(pcells) * 1e6:.3f} s per million cells")


if __name__ == "__main__":
    main()
