"""Generation speed and memory: presets over seeds 0-9, and a row-scale series on one fixed schema.

    .venv/bin/python benchmarks/bench_generate.py [--seeds 10] [--scales 1,4,16] [--big-cells 20000000]

Each case runs in a fresh subprocess so that its peak RSS is its own. Targets (issue 2, this
2-core machine): paper median <= 0.5 s, demo median <= 0.1 s, a 20-million-cell database
<= 30 s and <= 4 GB peak RSS, time at most linear in rows; the v2 preset (issue 13) median
<= 0.5 s and no more seconds per million cells than the paper preset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

CASE = textwrap.dedent(
    """
    import json, resource, sys, time
    import plurel_core as pc
    from plurel_core import random as streams
    from plurel_core.schema import sample_schema

    spec = json.loads(sys.argv[1])
    cfg = pc.Config.preset(spec["preset"])
    schema = None
    if spec.get("scale"):
        schema = sample_schema(cfg, streams.stream(spec["schema_seed"], streams.SCHEMA))
        for t in schema.tables.values():
            t.n_rows = int(t.n_rows * spec["scale"])
    # The first database of a process also loads the compiled kernels and warms numpy and BLAS:
    # it is timed apart ("first"), on a small demo database, and every case runs after it.
    t0 = time.perf_counter()
    pc.generate(pc.Config.preset("demo"), 0)
    first = time.perf_counter() - t0
    if cfg.design != "paper":  # its own pipeline's imports and first calls, on a seed not timed below
        pc.generate(cfg, 10**6)
    out = []
    for seed in spec["seeds"]:
        t0 = time.perf_counter()
        db = pc.generate(cfg, seed, schema=schema)
        out.append({"seed": seed, "seconds": time.perf_counter() - t0, "cells": db.num_cells,
                    "rows": db.num_rows, "tables": len(db.tables), "stage3": db.trace.timings["stage3"]})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"runs": out, "peak_rss_mb": peak_mb, "first_seconds": first}))
    """
)


def run_case(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CASE, json.dumps(spec)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"case {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per preset (default 10)")
    ap.add_argument("--scales", default="1,4,16", help="row multipliers of the fixed schema (default 1,4,16)")
    ap.add_argument("--schema-seed", type=int, default=0, help="paper seed whose schema is scaled (default 0)")
    ap.add_argument("--big-cells", type=int, default=20_000_000, help="cells of the large database (0: skip)")
    args = ap.parse_args()

    print(f"{'case':<28}{'median s':>10}{'max s':>9}{'cells (median)':>16}{'cells/s':>12}{'peak RSS MB':>13}"
          f"{'s / M cells':>13}")
    for preset in ("paper", "demo", "v2"):
        res = run_case({"preset": preset, "seeds": list(range(args.seeds))})
        secs = [r["seconds"] for r in res["runs"]]
        cells = [r["cells"] for r in res["runs"]]
        rate = sum(cells) / sum(secs)
        print(f"{preset + ' seeds 0-' + str(args.seeds - 1):<28}{statistics.median(secs):>10.3f}{max(secs):>9.2f}"
              f"{statistics.median(cells):>16,.0f}{rate:>12,.0f}{res['peak_rss_mb']:>13.0f}{1e6 / rate:>13.3f}")
        if preset == "paper":
            first = res["first_seconds"]
    print(f"{'first database of a process':<28}{first:>10.3f}   (demo seed 0: kernels loaded, numpy warmed; not in the rows above)")

    base = None
    scales = [float(s) for s in args.scales.split(",") if s]
    cells_at_1 = None
    for scale in scales:
        res = run_case({"preset": "paper", "seeds": [0], "scale": scale, "schema_seed": args.schema_seed})
        r = res["runs"][0]
        if base is None:
            base, cells_at_1 = r["seconds"] / scale, r["cells"] / scale
        print(f"{'fixed schema rows x' + format(scale, 'g'):<28}{r['seconds']:>10.3f}{'':>9}{r['cells']:>16,}"
              f"{r['cells'] / r['seconds']:>12,.0f}{res['peak_rss_mb']:>13.0f}"
              f"   time / linear = {r['seconds'] / (base * scale):.2f}")
    if args.big_cells and cells_at_1:
        scale = args.big_cells / cells_at_1
        res = run_case({"preset": "paper", "seeds": [0], "scale": scale, "schema_seed": args.schema_seed})
        r = res["runs"][0]
        print(f"{'large: rows x' + format(scale, '.1f'):<28}{r['seconds']:>10.2f}{'':>9}{r['cells']:>16,}"
              f"{r['cells'] / r['seconds']:>12,.0f}{res['peak_rss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
