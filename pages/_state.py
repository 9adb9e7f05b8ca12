"""App glue behind the Streamlit studio: config <-> URL encoding, widget values, live budget.

It lives beside the pages, outside plurel_core; nothing here imports Streamlit, so all of it is
unit-testable. The URL carries the preset name,
the seed and only the *diff* of the config from its preset, as compact base64url(zlib(JSON)).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import zlib
from typing import Any

from plurel_core.config import Config, ConfigError, PriorSpec, prior_specs

DEFAULT_LIVE_MAX_CELLS = 5_000_000
LIVE_MAX_CELLS_ENV = "PLUREL_LIVE_MAX_CELLS"
MAX_DDL_BYTES = 1_000_000
DIALECTS = ("auto", "sqlite", "postgres", "mysql")

STAGES: dict[str, tuple[str, str]] = {
    "schema": ("Stage 1 · schema", "Database-level draws and the DAG of tables."),
    "graphs": ("DAG generators", "Parameters of the seven DAG generators, shared by stage 1 (schema) "
               "and stage 3 (SCM graphs)."),
    "links": ("Stage 2 · foreign keys", "Hierarchical SBM linking child rows to parent rows."),
    "scm": ("Stage 3 · features / mechanisms", "One structural causal model per table."),
    "postprocess": ("Post-processing", "Transforms, missing values, binarization."),
}


def live_max_cells(environ: dict[str, str] | None = None) -> int:
    """Cell budget for live generation in the app (env var PLUREL_LIVE_MAX_CELLS)."""
    env = os.environ if environ is None else environ
    raw = env.get(LIVE_MAX_CELLS_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_LIVE_MAX_CELLS
    try:
        value = int(float(raw))
    except ValueError:
        return DEFAULT_LIVE_MAX_CELLS
    return value if value > 0 else DEFAULT_LIVE_MAX_CELLS


def base_config(cfg: Config) -> Config:
    """The preset a config started from (paper if its name is not a preset)."""
    return Config.preset(cfg.name) if cfg.name in Config.preset_names() else Config()


def _plain(value: Any) -> Any:
    """JSON-comparable form of a config value (ranges as [lo, hi], tuples as lists)."""
    if hasattr(value, "lo") and hasattr(value, "hi"):
        return [value.lo, value.hi]
    if isinstance(value, tuple):
        return list(value)
    return value


def config_diff(cfg: Config, base: Config | None = None) -> dict[str, Any]:
    """Dotted path -> JSON value for every prior where ``cfg`` differs from ``base`` (its preset)."""
    base = base_config(cfg) if base is None else base
    out = {}
    for spec in prior_specs():
        a, b = _plain(cfg.get(spec.path)), _plain(base.get(spec.path))
        if a != b:
            out[spec.path] = a
    return out


def encode_diff(diff: dict[str, Any]) -> str:
    """Compact URL-safe text for a config diff ('' for no diff)."""
    if not diff:
        return ""
    raw = json.dumps(diff, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode_diff(text: str) -> dict[str, Any]:
    """Inverse of :func:`encode_diff`; raises ConfigError("url", ...) on damaged text."""
    if not text:
        return {}
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        data = json.loads(raw)
    except (ValueError, zlib.error) as err:
        raise ConfigError("url", f"the config parameter in the URL is damaged ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError("url", "the config parameter in the URL is not an object")
    return data


def to_query_params(cfg: Config, seed: int) -> dict[str, str]:
    """Query parameters that reproduce (cfg, seed): preset, seed and the encoded diff."""
    params = {"preset": base_config(cfg).name, "seed": str(int(seed))}
    code = encode_diff(config_diff(cfg))
    if code:
        params["cfg"] = code
    return params


def from_query_params(params: dict[str, str]) -> tuple[Config, int]:
    """Config and seed from query parameters; raises ConfigError naming the bad field."""
    preset = params.get("preset") or "paper"
    cfg = Config.preset(preset)
    try:
        seed = int(params.get("seed") or 0)
    except ValueError:
        raise ConfigError("seed", f"{params.get('seed')!r} is not an integer") from None
    diff = decode_diff(params.get("cfg") or "")
    known = {s.path for s in prior_specs()}
    unknown = [p for p in diff if p not in known]
    if unknown:
        raise ConfigError(unknown[0], "unknown config field in the URL")
    return (cfg.replace(**diff) if diff else cfg), seed


def seed_and_values_from_query(params: dict[str, str]) -> tuple[str, int, dict[str, Any], list[str]]:
    """Lenient URL reading for the sidebar: preset, seed, per-path JSON values and problems.

    Values that a widget cannot hold (unknown field, out of bounds, unknown option) are dropped
    and reported; cross-field problems (val > test cut-off) are kept, so that the normal
    validation shows them next to the widgets.
    """
    problems = []
    preset = params.get("preset") or "paper"
    if preset not in Config.preset_names():
        problems.append(f"preset: unknown preset {preset!r} in the URL; using 'paper'")
        preset = "paper"
    try:
        seed = int(params.get("seed") or 0)
        if seed < 0:
            raise ValueError
    except ValueError:
        problems.append(f"seed: {params.get('seed')!r} is not a non-negative integer; using 0")
        seed = 0
    try:
        diff = decode_diff(params.get("cfg") or "")
    except ConfigError as err:
        problems.append(str(err))
        diff = {}
    specs = {s.path: s for s in prior_specs()}
    values = {}
    for path, value in diff.items():
        spec = specs.get(path)
        if spec is None:
            problems.append(f"{path}: unknown config field in the URL (ignored)")
            continue
        ok, why = value_fits(spec, value)
        if ok:
            values[path] = value
        else:
            problems.append(f"{path}: {why} (ignored)")
    return preset, seed, values, problems


def value_fits(spec: PriorSpec, value: Any) -> tuple[bool, str]:
    """Whether a JSON value can be shown by the widget of ``spec`` (bounds, options, type)."""
    try:
        if spec.kind in ("int_range", "float_range"):
            lo, hi = value
            cast = int if spec.kind == "int_range" else float
            if spec.kind == "int_range" and (float(lo) != int(lo) or float(hi) != int(hi)):
                return False, f"{value} is not a pair of integers"
            lo, hi = cast(lo), cast(hi)
            b0, b1 = spec.bounds
            if not (b0 <= lo <= b1 and b0 <= hi <= b1):
                return False, f"{value} is outside [{b0:g}, {b1:g}]"
        elif spec.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, f"{value!r} is not a number"
            b0, b1 = spec.bounds
            if not b0 <= value <= b1:
                return False, f"{value} is outside [{b0:g}, {b1:g}]"
        elif spec.kind == "choices":
            if not isinstance(value, list) or not value:
                return False, "expected a non-empty list"
            bad = [v for v in value if v not in spec.options]
            if bad:
                return False, f"unknown choice(s) {bad}"
        elif spec.kind == "bool":
            if not isinstance(value, bool):
                return False, f"{value!r} is not true/false"
        elif spec.kind == "date":
            dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False, f"{value!r} does not fit this field"
    return True, ""


def order_choices(selected: list[Any], spec: PriorSpec, preset_value: tuple) -> tuple:
    """A multiselect's picks as the config tuple: the preset's own order when the set is the
    same (so that an untouched widget leaves no diff), else the options' order."""
    if set(selected) == set(preset_value) and len(selected) == len(preset_value):
        return tuple(preset_value)
    rank = {v: i for i, v in enumerate(spec.options)}
    return tuple(sorted(dict.fromkeys(selected), key=lambda v: rank.get(v, len(rank))))


def config_from_values(preset: str, values: dict[str, Any]) -> Config:
    """Validated config: the preset with dotted-path values replaced; raises ConfigError."""
    base = Config.preset(preset)
    changes = {p: v for p, v in values.items() if _plain(base.get(p)) != _plain(v)}
    return base.replace(**changes) if changes else base


def config_download(cfg: Config, seed: int) -> str:
    """The JSON a user downloads: the full config and its seed (Config.from_json reads it)."""
    return json.dumps({"config": cfg.to_dict(), "seed": int(seed)}, indent=2, sort_keys=True)


def config_upload(text: str | bytes) -> tuple[Config, int | None]:
    """Config and (if present) seed from an uploaded JSON; raises ConfigError."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError("config", f"the uploaded file is not valid JSON ({err})") from None
    seed = None
    if isinstance(data, dict) and "config" in data:
        raw_seed = data.get("seed")
        if raw_seed is not None:
            if isinstance(raw_seed, bool) or not isinstance(raw_seed, int) or raw_seed < 0:
                raise ConfigError("seed", f"{raw_seed!r} is not a non-negative integer")
            seed = raw_seed
        data = data["config"]
    return Config.from_dict(data), seed


def check_ddl_size(data: bytes | str) -> None:
    """Refuse SQL text over 1 MB before parsing it."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_DDL_BYTES:
        raise ValueError(f"the SQL file is {size / 1e6:.1f} MB; the limit is {MAX_DDL_BYTES / 1e6:.0f} MB. "
                         "Trim it to the CREATE TABLE statements.")


def cli_hint(cfg: Config, seed: int) -> str:
    """The command line that generates what the live budget refused."""
    return f"plurel generate --config config.json --seed {int(seed)} --out out/"


# --- widget plans ---------------------------------------------------------------------------
def _preset_numbers(spec: PriorSpec) -> list[float]:
    vals = []
    for name in Config.preset_names():
        v = _plain(Config.preset(name).get(spec.path))
        vals += list(v) if isinstance(v, list) else [v]
    return [float(v) for v in vals]


def float_step(spec: PriorSpec) -> float:
    """A slider/number step that is a power of ten and hits every preset's value exactly."""
    lo, hi = spec.bounds
    span = hi - lo
    step = 10.0 ** math.floor(math.log10(span / 100.0)) if span > 0 else 0.01
    values = _preset_numbers(spec) + [lo, hi]
    for _ in range(6):
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            break
        step /= 10.0
    return step


def step_format(step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"%.{decimals}f"


def widget_plan(spec: PriorSpec) -> str:
    """Which widget shows a prior: range_slider, range_pair, slider, number, multiselect,
    checkbox or date. Huge bounds (rows up to millions) get a pair of number inputs."""
    if spec.kind == "int_range":
        return "range_slider" if spec.bounds[1] - spec.bounds[0] <= 200 else "range_pair"
    if spec.kind == "float_range":
        lo, hi = spec.bounds
        wide = (hi - lo) > 10 or (lo > 0 and hi / lo > 1000)
        tiny = max(_preset_numbers(spec)) <= lo + 0.01 * (hi - lo)  # e.g. 0.001-0.002 on [0, 1]
        return "range_pair" if wide or tiny else "range_slider"
    if spec.kind == "int":
        return "slider" if spec.bounds[1] - spec.bounds[0] <= 100 else "number"
    if spec.kind == "float":
        return "slider" if spec.bounds[1] - spec.bounds[0] <= 10 else "number"
    return {"choices": "multiselect", "bool": "checkbox", "date": "date"}[spec.kind]
