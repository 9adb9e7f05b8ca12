"""What one explorer task costs a worker process: generating a database and its figures.

    .venv/bin/python benchmarks/bench_figures.py [--preset paper] [--seeds 0..99]

Runs :func:`plurel_core.stats.seed_figures` (what the studio's worker processes run per seed) on
each seed in this process, one thread, and prints the median and mean CPU seconds of generation
and of :func:`plurel_core.stats.database_figures`, and their sum over all seeds divided by the
cores: the shortest a prior-explorer run of those seeds can take with every core busy, before any
cost of the server, the browser or the final drawing (the issue 11 target: K = 100 paper seeds in
<= 40 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import plurel_core as pc
from plurel_core import stats


def seeds_arg(text: str) -> list[int]:
    lo, _, hi = text.partition("..")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0..99"), help="a range lo..hi")
    args = ap.parse_args()
    cfg = pc.Config.preset(args.preset)
    stats.warm_up()  # the compiled kernels and the figures' rank pass, as a worker's start does
    gen, figs = [], []
    for seed in args.seeds:
        c0 = time.process_time()
        db = pc.generate(cfg, seed, threads=1)
        c1 = time.process_time()
        stats.database_figures(db)
        gen.append(c1 - c0)
        figs.append(time.process_time() - c1)
    cores = os.cpu_count() or 1
    total = sum(gen) + sum(figs)
    print(f"{args.preset} preset, seeds {args.seeds[0]}..{args.seeds[-1]} ({len(args.seeds)} databases), one thread")
    print(f"generate: median {statistics.median(gen):.3f} s, mean {statistics.mean(gen):.3f} s CPU per database")
    print(f"figures:  median {statistics.median(figs):.4f} s, mean {statistics.mean(figs):.4f} s CPU per database")
    print(f"all seeds: {total:.1f} s of CPU, so >= {total / cores:.1f} s on {cores} cores for an explorer run "
          "(target for K = 100 paper seeds: <= 40 s from Run to the last figure)")


if __name__ == "__main__":
    main()
