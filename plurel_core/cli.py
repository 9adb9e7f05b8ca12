"""The ``plurel`` command line: one database, or thousands in batch on local processes or Dask.

    plurel generate --preset demo --seed 0 --out demo0.zip
    plurel batch --preset paper --seeds 0..9999 --out runs/paper --workers 8
    plurel batch --config tuned.json --count 1000 --out runs/tuned --backend dask --scheduler tcp://head:8786
    plurel presets | plurel priors [--json] | plurel estimate --preset paper --seed 3
    plurel ddl shop.sql --seed 0 --out shop0.zip
    plurel stats runs/paper [--json figures.json] | plurel compare runs/paper runs/tuned

Exit codes: 0 success; 1 some seeds of a batch failed (see the index); 2 bad input (an unknown
or out-of-range config field, a budget the database would exceed, a bad DDL file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CLIError(Exception):
    """Bad command-line input; printed as ``plurel: error: ...`` with exit code 2."""


# --- config from flags ------------------------------------------------------------------------

def _number(text: str, kind: type, path: str, what: str):
    try:
        return kind(text)
    except ValueError:
        from plurel_core.config import ConfigError

        raise ConfigError(path, f"expected {what}, got {text!r}") from None


def _split_items(raw: str) -> list[str]:
    """Comma-separated items, a comma inside parentheses kept: ``Layered(depth=3, dropout=0.1):2,RandomTree``."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(raw[start:i])
            start = i + 1
    items.append(raw[start:])
    return [s.strip() for s in items if s.strip()]


def _parse_weights(spec, raw: str) -> dict[str, float]:
    """``opt:w,opt:w`` (an option alone has weight 1; options left out get 0) -> {option: weight}."""
    from plurel_core.config import ConfigError

    options = list(spec.options or ())
    folded = {str(o).casefold().replace(" ", ""): o for o in options}
    out: dict[str, float] = {}
    for item in _split_items(raw):
        name, sep, weight = item.rpartition(":") if ":" in item else (item, "", "")
        if not sep:
            name, weight = item, "1"
        option = folded.get(name.strip().casefold().replace(" ", ""))
        if option is None:
            raise ConfigError(spec.path, f"unknown option {name.strip()!r}; allowed: {options}")
        out[option] = _number(weight.strip(), float, spec.path, f"a weight (a number) after '{name.strip()}:'")
    if not out:
        raise ConfigError(spec.path, f"give option:weight pairs, e.g. {options[0]}:1 (allowed: {options})")
    return out


WEIGHTS_SYNTAX = ("weights as option:weight pairs (v2_columns.column_marginals=none:3,normal:1; an option "
                  "alone weighs 1, options left out weigh 0 = off)")


def parse_set_value(spec, raw: str) -> Any:
    """Turn the text of ``--set path=value`` into the value ``Config.replace`` takes for ``spec``."""
    from plurel_core.config import ConfigError

    raw = raw.strip()
    path, kind = spec.path, spec.kind
    if kind in ("int_range", "float_range"):
        num = int if kind == "int_range" else float
        what = "an integer" if num is int else "a number"
        lo, sep, hi = raw.partition("..")
        if not sep:
            v = _number(raw, num, path, f"{what} or a range lo..hi")
            return (v, v)
        return (_number(lo, num, path, f"{what} before '..'"), _number(hi, num, path, f"{what} after '..'"))
    if kind == "choices":
        items = [s.strip() for s in raw.split(",") if s.strip()]
        if not items:
            raise ConfigError(path, f"choose at least one of {list(spec.options or ())}")
        options = list(spec.options or ())
        if options and all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options):
            out = []
            for item in items:
                v = _number(item, float, path, f"numbers from {options}")
                match = [o for o in options if float(o) == v]
                out.append(match[0] if match else v)
            return tuple(out)
        folded = {str(o).casefold(): o for o in options}
        return tuple(folded.get(item.casefold(), item) for item in items)
    if kind == "weights":
        return _parse_weights(spec, raw)
    if kind == "prob":
        return _number(raw, float, path, "a probability (a number in [0, 1])")
    if kind == "int":
        return _number(raw, int, path, "an integer")
    if kind == "float":
        return _number(raw, float, path, "a number")
    if kind == "bool":
        low = raw.casefold()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ConfigError(path, f"expected true or false, got {raw!r}")
    return raw  # date: validated by the config


def apply_sets(config, assignments: list[str]):
    """Apply ``--set section.field=value`` assignments (validated together) to ``config``."""
    from plurel_core.config import ConfigError, prior_specs

    specs = {s.path: s for s in prior_specs(None)}
    changes: dict[str, Any] = {}
    for item in assignments:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(path or item, f"--set expects section.field=value, got {item!r}")
        if path in ("name", "design"):
            changes[path] = raw.strip()
            continue
        if path not in specs:
            near = difflib.get_close_matches(path, list(specs), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else "; list the knobs with `plurel priors`"
            raise ConfigError(path, f"unknown config field{hint}")
        changes[path] = parse_set_value(specs[path], raw)
    return config.replace(**changes) if changes else config


def load_config(args) -> Any:
    """The config selected by --preset / --config and modified by --set."""
    from plurel_core.config import Config

    if getattr(args, "config", None):
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as err:
            raise CLIError(f"--config: cannot read {args.config}: {err.strerror or err}") from None
        config = Config.from_json(text)
    else:
        config = Config.preset(args.preset or "paper")
    return apply_sets(config, args.set or [])


def _formats(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    from plurel_core.export import ALL_FORMATS

    unknown = [f for f in items if f not in ALL_FORMATS]
    if unknown or not items:
        raise CLIError(f"--formats: unknown {unknown or 'empty list'}; allowed: {','.join(ALL_FORMATS)}")
    return items


def _seeds(args) -> list[int]:
    from plurel_core.batch import parse_seeds

    if args.seeds is not None and args.count is not None:
        raise CLIError("give either --seeds or --count/--start, not both")
    if args.seeds is not None:
        return parse_seeds(args.seeds)
    if args.count is None:
        raise CLIError("give the seeds: --seeds 0..999, or --count N [--start S]")
    if args.count < 1 or args.start < 0:
        raise CLIError("--count must be at least 1 and --start non-negative")
    return list(range(args.start, args.start + args.count))


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# --- commands ---------------------------------------------------------------------------------

def _target(out: str, name: str, layout: str) -> Path:
    path = Path(out).expanduser()
    if path.is_dir() and (layout == "zip" or not (path / "manifest.json").is_file()) \
            or out.endswith(("/", os.sep)):
        return path / (f"{name}.zip" if layout == "zip" else name)
    return path


def _generate_and_write(args, schema=None, ddl_source: str | None = None,
                        ddl_text: str | None = None) -> int:
    import plurel_core as pc
    from plurel_core.batch import file_sha256, path_size, write_database

    config = load_config(args)
    layout = args.format
    t0 = time.perf_counter()
    db = pc.generate(config, args.seed, schema, max_cells=args.max_cells, max_bytes=args.max_bytes)
    t_gen = time.perf_counter() - t0
    target = _target(args.out, db.name, layout)
    write_database(db, target.resolve(), layout, _formats(args.formats), schema_ddl=ddl_text)
    seconds = time.perf_counter() - t0
    info = {"path": str(target), "name": db.name, "seed": args.seed, "tables": len(db.tables),
            "rows": int(db.num_rows), "cells": int(db.num_cells), "bytes": path_size(target),
            "sha256": file_sha256(target), "generate_seconds": round(t_gen, 3),
            "seconds": round(seconds, 3)}
    if ddl_source:
        info["ddl"] = ddl_source
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"wrote {info['path']}: {info['tables']} tables, {info['rows']:,} rows, "
              f"{info['cells']:,} cells, {_human_bytes(info['bytes'])} in {seconds:.2f} s "
              f"(generate {t_gen:.2f} s)")
        print(f"sha256 {info['sha256']}")
    return EXIT_OK


def cmd_generate(args) -> int:
    """One database; a config.json from an export that holds its DDL regenerates on that schema."""
    if getattr(args, "config", None):
        try:
            wrapped = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            wrapped = None  # load_config reports the problem with the field named
        ddl = wrapped.get("schema_ddl") if isinstance(wrapped, dict) else None
        if ddl:
            from plurel_core import schema_from_ddl

            return _generate_and_write(args, schema=schema_from_ddl(ddl), ddl_source=f"{args.config} (schema_ddl)",
                                       ddl_text=ddl)
    return _generate_and_write(args)


def cmd_ddl(args) -> int:
    from plurel_core import schema_from_ddl

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as err:
        raise CLIError(f"cannot read {args.file}: {err.strerror or err}") from None
    schema = schema_from_ddl(text, dialect=args.dialect)
    return _generate_and_write(args, schema=schema, ddl_source=args.file, ddl_text=text)


class _ProgressPrinter:
    """Progress lines on stderr: rewritten in place on a terminal, throttled lines in a log."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = 0.2 if self.tty else 2.0
        self.last = 0.0
        self.wrote = False

    def __call__(self, prog) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = prog.remaining == 0
        if not final and now - self.last < self.every:
            return
        self.last = now
        line = prog.format()
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.wrote = True
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.wrote and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def cmd_batch(args) -> int:
    from plurel_core.batch import run_batch

    config = load_config(args)
    seeds = _seeds(args)
    ddl_text = None
    if args.ddl:
        try:
            ddl_text = Path(args.ddl).read_text(encoding="utf-8")
        except OSError as err:
            raise CLIError(f"--ddl: cannot read {args.ddl}: {err.strerror or err}") from None
    if args.scheduler and args.backend != "dask":
        raise CLIError("--scheduler needs --backend dask")
    printer = _ProgressPrinter(quiet=args.quiet)
    if not args.quiet:
        where = args.scheduler or (f"{args.workers} worker(s)" if args.workers else "all cores")
        print(f"plurel batch: {len(seeds)} seeds of config {config.name!r} ({config.digest()}) "
              f"-> {args.out} [{args.format}] on {args.backend} ({where})", file=sys.stderr)
    try:
        summary = run_batch(
            config, seeds, args.out, workers=args.workers, backend=args.backend,
            scheduler=args.scheduler, formats=_formats(args.formats), layout=args.format,
            resume=args.resume, max_cells=args.max_cells, max_bytes=args.max_bytes,
            ddl=ddl_text, dialect=args.dialect, progress=printer, threads=args.threads,
        )
    finally:
        printer.close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.format())
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.failed else EXIT_OK


def cmd_presets(args) -> int:
    from plurel_core.config import Config

    rows = [{"name": n, "description": Config.preset_description(n), "digest": Config.preset(n).digest()}
            for n in Config.preset_names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['description']}")
    return EXIT_OK


def _show(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"lo", "hi"}:
        return f"{value['lo']}..{value['hi']}"
    if isinstance(value, dict):  # weights: the options on, as --set takes them
        return ",".join(f"{o}:{w:g}" for o, w in value.items() if w > 0)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def cmd_priors(args) -> int:
    from plurel_core.config import prior_specs

    config = load_config(args)
    data = config.to_dict(full=True)
    design = args.design or config.design
    rows = []
    for spec in prior_specs(None if design == "all" else design):
        value = data[spec.section][spec.field]
        rows.append({"path": spec.path, "kind": spec.kind, "label": spec.label, "help": spec.help,
                     "value": value, "design": spec.design, "scale": spec.scale,
                     "bounds": list(spec.bounds) if spec.bounds is not None else None,
                     "options": list(spec.options) if spec.options is not None else None})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    shown = "both design spaces" if design == "all" else f"the {design} design space"
    print(f"# priors of config {config.name!r} ({config.digest()}, design {config.design}): the knobs of {shown}; "
          "change one with --set PATH=VALUE")
    print("# ranges lo..hi or one number, choices a comma list, " + WEIGHTS_SYNTAX
          + ", probabilities and numbers plain, bools true|false")
    width = max(len(r["path"]) for r in rows)
    for r in rows:
        if r["kind"] == "weights":
            allowed = "weights >= 0 (one > 0) over " + ",".join(str(o) for o in r["options"])
        elif r["options"] is not None:
            allowed = "options " + ",".join(str(o) for o in r["options"])
        elif r["bounds"] is not None:
            allowed = f"bounds [{r['bounds'][0]:g}, {r['bounds'][1]:g}]"
        elif r["kind"] == "bool":
            allowed = "true|false"
        else:
            allowed = "YYYY-MM-DD" if r["kind"] == "date" else ""
        if r["scale"] == "log":
            allowed = f"log-uniform; {allowed}"
        print(f"{r['path']:<{width}}  {r['kind']:<11}  = {_show(r['value'])}")
        print(f"{'':<{width}}  {r['label']}; {allowed}")
    return EXIT_OK


def cmd_estimate(args) -> int:
    import plurel_core as pc
    from plurel_core.batch import parse_seeds

    config = load_config(args)
    schema = None
    if args.ddl:
        from plurel_core import schema_from_ddl

        try:
            schema = schema_from_ddl(Path(args.ddl).read_text(encoding="utf-8"), dialect=args.dialect)
        except OSError as err:
            raise CLIError(f"--ddl: cannot read {args.ddl}: {err.strerror or err}") from None
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [args.seed]
    rows = [{"seed": s, "cells": int(pc.estimate_cells(config, s, schema)),
             "bytes": int(pc.estimate_bytes(config, s, schema))} for s in seeds]
    total = {"seeds": len(rows), "cells": sum(r["cells"] for r in rows), "bytes": sum(r["bytes"] for r in rows)}
    if args.json:
        print(json.dumps({"config": config.name, "digest": config.digest(), "estimates": rows,
                          "total": total}, indent=2))
        return EXIT_OK
    for r in rows:
        print(f"seed {r['seed']}: {r['cells']:,} cells, {r['bytes']:,} bytes ({_human_bytes(r['bytes'])})")
    if len(rows) > 1:
        print(f"total over {total['seeds']} seeds: {total['cells']:,} cells, "
              f"{total['bytes']:,} bytes ({_human_bytes(total['bytes'])})")
    return EXIT_OK


def _batch_databases(folder: str) -> list[tuple[Path, dict[str, Any] | None]]:
    """The databases of a ``plurel batch`` output folder: (path, index entry) of every seed whose
    index entry is ok and whose output is present; a folder without an index: its ZIP files and
    database folders (index entry None)."""
    from plurel_core.batch import read_index

    root = Path(folder).expanduser()
    if not root.exists():
        raise CLIError(f"{folder}: no such folder")
    if not root.is_dir():
        raise CLIError(f"{folder}: not a folder (give the --out folder of `plurel batch`)")
    index = read_index(root)
    if index:
        found = [(root / row["path"], row) for _, row in sorted(index.items())
                 if row.get("status") == "ok" and row.get("path") and (root / row["path"]).exists()]
    else:
        found = [(p, None) for p in sorted(root.iterdir())
                 if (p.is_file() and p.suffix == ".zip") or (p.is_dir() and (p / "metadata.json").is_file())]
    if not found:
        raise CLIError(f"{folder}: no databases found (expected the output folder of `plurel batch`: "
                       "an index.jsonl with finished seeds, or ZIP files / database folders)")
    return found


def batch_figures(folder: str):
    """One row per database of a batch folder: seed, name, path and every figure of
    :func:`plurel_core.stats.database_figures`. A loaded database has no stage timings, so its
    seconds come from the batch index (generation and export of that seed)."""
    import zipfile

    import pandas as pd

    import plurel_core as pc
    from plurel_core import stats

    rows = []
    for path, entry in _batch_databases(folder):
        try:
            db = pc.load_database(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise CLIError(f"{path}: cannot load the database: {err}") from None
        seconds = None
        if not float(db.trace.timings.get("total", 0.0) or 0.0) > 0 and entry and entry.get("seconds") is not None:
            seconds = float(entry["seconds"])
        rows.append({"seed": db.seed, "name": db.name, "path": str(path),
                     **stats.database_figures(db, seconds=seconds)})
    return pd.DataFrame(rows)


def _number_text(v: float) -> str:
    return "-" if v != v else f"{v:.4g}"  # NaN: no finite value


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if hasattr(v, "item"):  # numpy scalars
        return _json_safe(v.item())
    return v


def _print_table(frame, columns: list[str]) -> None:
    text = [[str(r[c]) if isinstance(r[c], str) else _number_text(float(r[c])) for c in columns]
            for _, r in frame.iterrows()]
    widths = [max(len(c), *(len(row[i]) for row in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths))))
    for row in text:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


def cmd_stats(args) -> int:
    from plurel_core import stats

    frame = batch_figures(args.dir)
    summary = stats.figure_summary(frame)
    if args.json:
        payload = {"folder": str(args.dir),
                   "databases": [{k: _json_safe(v) for k, v in row.items()} for row in frame.to_dict("records")],
                   "summary": {r["figure"]: {k: _json_safe(r[k]) for k in ("n", "median", "p10", "p90")}
                               for r in summary.to_dict("records")}}
        try:
            Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            raise CLIError(f"--json: cannot write {args.json}: {err.strerror or err}") from None
    print(f"# {len(frame)} databases in {args.dir}: median, p10 and p90 per figure (n: finite values)")
    _print_table(summary, ["figure", "median", "p10", "p90", "n"])
    if args.json:
        print(f"# figures per database written to {args.json}")
    return EXIT_OK


def cmd_compare(args) -> int:
    from plurel_core import stats

    a, b = batch_figures(args.dir_a), batch_figures(args.dir_b)
    table = stats.ks_table(a, b)
    if args.json:
        print(json.dumps([{k: _json_safe(v) for k, v in row.items()} for row in table.to_dict("records")], indent=2))
        return EXIT_OK
    print(f"# A = {args.dir_a} ({len(a)} databases), B = {args.dir_b} ({len(b)} databases): two-sample "
          "Kolmogorov-Smirnov per figure, largest distance first")
    _print_table(table, list(table.columns))
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------

class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; shows a default only where there is one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" not in text and not any(action.default is v for v in (None, False, argparse.SUPPRESS)) \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("config")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--preset", default=None, metavar="NAME",
                     help="start from a named preset (see `plurel presets`); default: paper")
    src.add_argument("--config", metavar="FILE",
                     help="start from a config JSON (a ZIP's config.json works too)")
    g.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="change one prior, repeatable: ranges lo..hi or one number "
                        "(schema.num_tables=3..5), choices as a comma list (scm.activations=relu,tanh), "
                        "bools true/false, probabilities 0..1 (v2_keys.fk_nullable_prob=0.5), "
                        + WEIGHTS_SYNTAX.replace("%", "%%") + "; design=paper|v2 switches the design "
                        "space; see `plurel priors`")


def _output_args(p: argparse.ArgumentParser, *, batch: bool) -> None:
    layouts = ["zip", "folder", "parquet"]
    p.add_argument("--format", choices=layouts, default="zip",
                   help="zip: one ZIP per database; folder: the exporter's folder layout; "
                        "parquet: a compact folder of Parquet files only")
    p.add_argument("--formats", metavar="LIST",
                   help="what goes into a ZIP or folder, comma list of csv,parquet,sqlite,sql "
                        "(default: the exporter's default)")
    p.add_argument("--max-cells", type=int, metavar="N",
                   help="refuse a database estimated above N cells (SizeError, before any work)"
                        + ("; recorded as a failed seed" if batch else ""))
    p.add_argument("--max-bytes", type=int, metavar="N", help="refuse a database estimated above N bytes")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plurel", description=__doc__, formatter_class=_Formatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("generate", help="generate one database", formatter_class=_Formatter,
                       description="Generate one database and write it as a ZIP or a folder.",
                       epilog="examples:\n"
                              "  plurel generate --preset demo --seed 0 --out demo0.zip\n"
                              "  plurel generate --seed 7 --set schema.num_tables=3..5 "
                              "--set scm.activations=relu,tanh --out out/ --formats parquet,sqlite\n"
                              "  plurel generate --config tuned.json --seed 1 --format folder --out db1")
    _config_args(p)
    p.add_argument("--seed", type=int, required=True, help="the seed (non-negative integer)")
    p.add_argument("--out", required=True, metavar="PATH",
                   help="ZIP file, folder, or an existing directory (the ZIP is named after the database)")
    _output_args(p, batch=False)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("batch", help="generate many seeds, on local processes or Dask", formatter_class=_Formatter,
                       description="Generate every seed into DIR, with an index (DIR/index.jsonl, and\n"
                                   "DIR/index.parquet at the end) of seed, name, tables, rows, cells, seconds,\n"
                                   "path, bytes, sha256, status and error. Outputs are written atomically; a\n"
                                   "failed seed is recorded and the batch goes on; Ctrl-C (or SIGTERM) lets the\n"
                                   "running seeds finish and prints a summary, a second Ctrl-C aborts;\n"
                                   "--resume skips the seeds already done.",
                       epilog="examples:\n"
                              "  plurel batch --preset paper --seeds 0..9999 --out runs/paper --workers 8\n"
                              "  plurel batch --preset demo --count 100 --start 1000 --out runs/demo --resume\n"
                              "  plurel batch --config tuned.json --seeds 0..999 --out /shared/tuned "
                              "--backend dask --scheduler tcp://head:8786\n"
                              "exit code 1 when some seeds failed, 130 when interrupted")
    _config_args(p)
    s = p.add_argument_group("seeds")
    s.add_argument("--seeds", metavar="SPEC", help="seeds as lo..hi (inclusive), a comma list, or both: 0..9,20")
    s.add_argument("--count", type=int, metavar="N", help="N consecutive seeds from --start")
    s.add_argument("--start", type=int, default=0, metavar="S", help="first seed with --count")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (shared by all workers)")
    r = p.add_argument_group("execution")
    r.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="K",
                   help="worker processes (local, or a Dask LocalCluster)")
    r.add_argument("--backend", choices=["local", "dask", "inline"], default="local",
                   help="local: a process pool; dask: a Dask cluster; inline: this process, one by one")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler, e.g. tcp://host:8786 (default: start a LocalCluster)")
    r.add_argument("--threads", type=int, default=1, metavar="T",
                   help="threads per worker for one database (output does not depend on it)")
    r.add_argument("--resume", action="store_true",
                   help="skip seeds whose index entry is ok and whose output is present")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--ddl", metavar="FILE.sql", help="generate every seed on this SQL schema")
    p.add_argument("--dialect", help="SQL dialect of --ddl (sqlglot name, e.g. postgres, mysql)")
    _output_args(p, batch=True)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("presets", help="list the presets", formatter_class=_Formatter,
                       description="List the named presets with their descriptions.")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("priors", help="list every knob with its value, bounds or options",
                       formatter_class=_Formatter,
                       description="List every prior of a config (default: the paper preset): its dotted "
                                   "path for --set, kind, current value, and allowed bounds or options.\n"
                                   "The knobs of the config's design space are listed (paper: schema.* .. "
                                   "postprocess.*; v2: v2_schema.* .. v2_warping.*); --design picks another.\n"
                                   "Weights are set as option:weight pairs: "
                                   "--set v2_columns.column_marginals=none:3,normal:1 (options left out: 0).",
                       epilog="examples:\n  plurel priors\n  plurel priors --preset demo --json\n"
                              "  plurel priors --preset v2\n  plurel priors --design all")
    _config_args(p)
    p.add_argument("--design", choices=["paper", "v2", "all"],
                   help="list the knobs of this design space (default: the config's)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_priors)

    p = sub.add_parser("estimate", help="estimated cells and bytes of a database (cheap: stage 1 only)",
                       formatter_class=_Formatter,
                       description="Estimate the cells and bytes of the database for a seed without generating it.",
                       epilog="examples:\n  plurel estimate --preset paper --seed 3\n"
                              "  plurel estimate --preset paper --seeds 0..99")
    _config_args(p)
    p.add_argument("--seed", type=int, default=0, help="the seed")
    p.add_argument("--seeds", metavar="SPEC", help="several seeds (lo..hi, comma list); prints a total")
    p.add_argument("--ddl", metavar="FILE.sql", help="estimate on this SQL schema")
    p.add_argument("--dialect", help="SQL dialect of --ddl")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("ddl", help="generate one database on a SQL schema (CREATE TABLE ...)",
                       formatter_class=_Formatter,
                       description="Parse FILE.sql (never executed) into a schema and generate a database on it.",
                       epilog="examples:\n  plurel ddl shop.sql --seed 0 --out shop0.zip\n"
                              "  plurel ddl shop.sql --dialect postgres --seed 3 --format folder --out shop3")
    p.add_argument("file", metavar="FILE.sql", help="SQL DDL file")
    p.add_argument("--dialect", help="SQL dialect (sqlglot name, e.g. postgres, mysql, sqlite)")
    _config_args(p)
    p.add_argument("--seed", type=int, required=True, help="the seed")
    p.add_argument("--out", required=True, metavar="PATH", help="ZIP file, folder, or an existing directory")
    _output_args(p, batch=False)
    p.set_defaults(func=cmd_ddl)

    p = sub.add_parser("stats", help="database-level figures over a batch output folder", formatter_class=_Formatter,
                       description="Load every database of a `plurel batch` output folder and print the\n"
                                   "median, p10 and p90 of each database-level figure (the figures of the\n"
                                   "studio's prior explorer).",
                       epilog="examples:\n  plurel stats runs/paper\n  plurel stats runs/paper --json figures.json")
    p.add_argument("dir", metavar="DIR", help="output folder of `plurel batch`")
    p.add_argument("--json", metavar="FILE", help="also write the figures of every database to FILE")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("compare", help="Kolmogorov-Smirnov distance per figure between two batch folders",
                       formatter_class=_Formatter,
                       description="Two-sample Kolmogorov-Smirnov statistic and p-value per database-level\n"
                                   "figure between the databases of two `plurel batch` output folders.",
                       epilog="examples:\n  plurel compare runs/paper runs/tuned\n"
                              "  plurel compare runs/paper runs/tuned --json")
    p.add_argument("dir_a", metavar="DIR_A", help="output folder of `plurel batch` (A)")
    p.add_argument("dir_b", metavar="DIR_B", help="output folder of `plurel batch` (B)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_compare)
    return parser


def _input_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input. DDLError only if the DDL parser was loaded (it raised it)."""
    import plurel_core as pc
    from plurel_core.batch import BatchError

    errors: list[type[BaseException]] = [CLIError, pc.ConfigError, pc.SizeError, BatchError]
    ddl = sys.modules.get("plurel_core.ddl")
    if ddl is not None and hasattr(ddl, "DDLError"):
        errors.append(ddl.DDLError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``plurel``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "seed", None) is not None and args.seed < 0:
        parser.error("--seed must be a non-negative integer")
    try:
        return args.func(args)
    except Exception as err:
        if not isinstance(err, _input_errors()):
            raise
        print(f"plurel: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("plurel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `plurel priors | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
