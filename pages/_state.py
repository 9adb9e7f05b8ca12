"""App glue behind the Streamlit studio: config <-> URL encoding, widget values, live budget.

It lives beside the pages, outside plurel_core; nothing here imports Streamlit, so all of it is
unit-testable. It also holds the mappings behind the sidebar's headline knobs: one DAG-density
position <-> the edge-density field of each table layout, and activation families <-> activations. The URL carries the preset name,
the seed and only the *diff* of the config from its preset, as compact base64url(zlib(JSON)).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import zlib
from dataclasses import dataclass
from typing import Any

from plurel_core.config import DESIGNS, WS_K_CHOICES, Config, ConfigError, PriorSpec, prior_specs
from plurel_core.scm.activations import ACTIVATIONS
from plurel_core.v2.knobs import SECTION_TITLES as V2_STAGES

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
DESIGN_LABELS = {"paper": "paper (PluRel paper)", "v2": "v2 (the authors' later design)"}


def stages_for(design: str) -> dict[str, tuple[str, str]]:
    """The sidebar's expanders (section -> title, caption) of a design space."""
    return dict(V2_STAGES) if design == "v2" else dict(STAGES)


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
    if isinstance(value, tuple) and value and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                                                  for p in value):
        return {o: w for o, w in value}  # weights: option -> weight
    if isinstance(value, tuple):
        return list(value)
    return value


def config_diff(cfg: Config, base: Config | None = None) -> dict[str, Any]:
    """Dotted path -> JSON value for every prior where ``cfg`` differs from ``base`` (its preset);
    ``design`` too when it is not the preset's."""
    base = base_config(cfg) if base is None else base
    out = {}
    if cfg.design != base.design:
        out["design"] = cfg.design
    for spec in prior_specs(None):
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
    known = {s.path for s in prior_specs(None)} | {"design"}
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
    specs = {s.path: s for s in prior_specs(None)}
    values = {}
    for path, value in diff.items():
        if path == "design":
            if value in DESIGNS:
                values[path] = value
            else:
                problems.append(f"design: unknown design {value!r} in the URL; allowed: {list(DESIGNS)} (ignored)")
            continue
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
        elif spec.kind in ("int", "float", "prob"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, f"{value!r} is not a number"
            b0, b1 = spec.bounds
            if not b0 <= value <= b1:
                return False, f"{value} is outside [{b0:g}, {b1:g}]"
        elif spec.kind == "weights":
            if not isinstance(value, dict):
                return False, "expected an object of option -> weight"
            bad = [o for o in value if o not in spec.options]
            if bad:
                return False, f"unknown option(s) {bad}"
            if any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0 for w in value.values()):
                return False, "weights must be non-negative numbers"
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
    weights (a number input per option), checkbox or date. Huge bounds (rows up to millions) and
    log-uniform ranges get a pair of number inputs; a probability a slider on [0, 1]."""
    if spec.kind in ("int_range", "float_range") and spec.scale == "log":
        return "range_pair"
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
    if spec.kind == "prob":
        return "slider"
    return {"choices": "multiselect", "weights": "weights", "bool": "checkbox", "date": "date"}[spec.kind]


def widget_keys(spec: PriorSpec) -> list[str]:
    """The session-state keys of the widget(s) of ``spec``: ``w:<path>``, ``w:<path>:lo`` /
    ``:hi`` for a pair of number inputs, ``w:<path>:<option>`` per option of weights."""
    plan = widget_plan(spec)
    if plan == "range_pair":
        return [f"w:{spec.path}:lo", f"w:{spec.path}:hi"]
    if plan == "weights":
        return [f"w:{spec.path}:{o}" for o in spec.options]
    return [f"w:{spec.path}"]


# --- headline knobs: DAG density --------------------------------------------------------------
# One slider position d in [0, 1] moves the edge-density parameter of every selected *table*
# layout. Each parameter is a piecewise-linear interpolation through three anchors: d = 0 the
# sparsest value the field allows, d = DENSITY_PAPER the paper's value, d = 1 the densest.
# The generators' parameters are shared by stage 1 and stage 3 (one ``graphs.er_p`` etc.), so SCM
# graphs drawn with the same layouts follow; the fields of layouts not selected for tables are
# left alone. Trees, Chain and Hub have a fixed edge count and RandomCauchy no density parameter.
DENSITY_PAPER = 0.5
DENSITY_STEP = 0.05
DENSITY_POSITIONS: tuple[float, ...] = tuple(round(i * DENSITY_STEP, 2) for i in range(round(1 / DENSITY_STEP) + 1))
DENSITY_FIELDS: dict[str, str] = {  # table layout -> the config field holding its edge density
    "ErdosRenyi": "graphs.er_p",
    "BarabasiAlbert": "graphs.ba_m",
    "WattsStrogatz": "graphs.ws_k",
    "Layered": "graphs.layered_edge_dropout",
}
TREE_LAYOUTS = ("RandomTree", "ReverseRandomTree")
_ER_LO, _ER_HI = (0.0, 0.3, 1.0), (0.0, 0.8, 1.0)  # (sparse, paper, dense) ends of the p range
_BA_M = (1, 2, 10)
_LAYERED_DROPOUT = (1.0, 0.1, 0.0)  # dropping every edge leaves only the repair edges
# WattsStrogatz k is a set of choices: a ladder of sets from {2} to {8}, the paper's {2, 4} second.
_WS_K_LADDER: tuple[tuple[int, ...], ...] = tuple(
    step for i, k in enumerate(WS_K_CHOICES)
    for step in ([(k,)] + ([(k, WS_K_CHOICES[i + 1])] if i + 1 < len(WS_K_CHOICES) else [])))
_WS_K_PAPER = 1


def _piecewise(d: float, sparse: float, paper: float, dense: float) -> float:
    if d <= DENSITY_PAPER:
        return sparse + (paper - sparse) * d / DENSITY_PAPER
    return paper + (dense - paper) * (d - DENSITY_PAPER) / (1.0 - DENSITY_PAPER)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def density_paths(layouts) -> tuple[str, ...]:
    """Config fields the density slider moves for these table layouts (in DENSITY_FIELDS order)."""
    chosen = set(layouts)
    return tuple(path for layout, path in DENSITY_FIELDS.items() if layout in chosen)


def density_values(density: float, layouts=None) -> dict[str, Any]:
    """Dotted path -> JSON value of each edge-density field at slider position ``density``.

    ``layouts`` (the table layouts) limits the result to their fields; None gives all four.
    Floats are rounded to 0.01, the step of their sidebar widgets.
    """
    d = min(max(float(density), 0.0), 1.0)
    ws = _WS_K_LADDER[_round_half_up(_piecewise(d, 0, _WS_K_PAPER, len(_WS_K_LADDER) - 1))]
    values = {
        "graphs.er_p": [round(_piecewise(d, *_ER_LO), 2), round(_piecewise(d, *_ER_HI), 2)],
        "graphs.ba_m": _round_half_up(_piecewise(d, *_BA_M)),
        "graphs.ws_k": list(ws),
        "graphs.layered_edge_dropout": round(_piecewise(d, *_LAYERED_DROPOUT), 2),
    }
    wanted = DENSITY_FIELDS.values() if layouts is None else density_paths(layouts)
    return {p: values[p] for p in wanted}


def _ws_distance(ks, target) -> float:
    """Mismatch of two k sets: their mean k apart, and never 0 for different sets."""
    a, b = sorted(int(k) for k in ks), sorted(int(k) for k in target)
    if a == b:
        return 0.0
    span = WS_K_CHOICES[-1] - WS_K_CHOICES[0]
    mean_gap = abs(sum(a) / max(len(a), 1) - sum(b) / len(b)) / span
    return max(mean_gap, 0.01 * len(set(a) ^ set(b)))


def _field_distance(path: str, value: Any, target: Any) -> float:
    """Mismatch of a field's value from the value at a slider position, on a 0..1 scale."""
    if path == "graphs.er_p":
        return (abs(float(value[0]) - target[0]) + abs(float(value[1]) - target[1])) / 2
    if path == "graphs.ba_m":
        return abs(float(value) - target) / (_BA_M[2] - _BA_M[0])
    if path == "graphs.ws_k":
        return _ws_distance(value, target)
    return abs(float(value) - target)


@dataclass(frozen=True)
class DensityReading:
    """The slider position that shows a config's density fields.

    ``position`` is None when no selected table layout has a density field; ``exact`` says
    whether the fields equal :func:`density_values` at that position; ``disagree`` names the
    fields that differ from it (set elsewhere, off the slider's path).
    """

    position: float | None
    exact: bool
    fields: tuple[str, ...]
    disagree: tuple[str, ...]


def density_reading(values: dict[str, Any], layouts, current: float | None = None) -> DensityReading:
    """Inverse of :func:`density_values` on the slider's positions.

    Among the positions whose values equal the config's fields, the one nearest ``current``
    (the slider's present position, else the paper's) is taken, so that a slider whose values
    several positions share stays where it was moved. When none matches, the position with the
    smallest summed mismatch is taken and the differing fields are reported.
    """
    paths = density_paths(layouts)
    if not paths:
        return DensityReading(None, False, (), ())
    anchor = DENSITY_PAPER if current is None else float(current)
    scored = []
    for pos in DENSITY_POSITIONS:
        target = density_values(pos, layouts)
        dists = {p: _field_distance(p, values[p], target[p]) for p in paths}
        scored.append((round(sum(dists.values()), 9), abs(pos - anchor), pos, dists))
    total, _, pos, dists = min(scored)
    disagree = tuple(p for p in paths if dists[p] > 1e-9)
    return DensityReading(pos, total <= 1e-9, paths, disagree)


# --- headline knobs: activation families ------------------------------------------------------
def _activation_families() -> dict[str, tuple[str, ...]]:
    named = {
        "ReLU-like": ("relu", "leaky_relu", "rrelu", "elu", "celu", "selu", "gelu", "silu", "mish", "softplus",
                      "hardswish"),
        "sigmoid-like": ("sigmoid", "tanh", "softsign", "hardsigmoid", "hardtanh", "logsigmoid", "clamp", "sign"),
        "periodic": ("sin", "cos", "sine_sum"),
    }
    taken = {a for members in named.values() for a in members}
    unknown = taken - set(ACTIVATIONS)
    if unknown:
        raise RuntimeError(f"activation families name unknown activations {sorted(unknown)}")
    ordered = {name: tuple(a for a in ACTIVATIONS if a in members) for name, members in named.items()}
    ordered["other"] = tuple(a for a in ACTIVATIONS if a not in taken)  # a new activation lands here
    return ordered


# ReLU-like: rectifiers and their smooth variants (unbounded above, ~0 or small slope below).
# sigmoid-like: bounded, saturating S-curves and steps. periodic: sines. other: shrinkage,
# identity, |x|, signed log and the smooth square root.
ACTIVATION_FAMILIES: dict[str, tuple[str, ...]] = _activation_families()
FAMILY_OF: dict[str, str] = {a: f for f, members in ACTIVATION_FAMILIES.items() for a in members}


def families_of(activations) -> list[str]:
    """The families all of whose activations are selected (a family shows selected only then)."""
    chosen = set(activations)
    return [f for f, members in ACTIVATION_FAMILIES.items() if set(members) <= chosen]


def activations_for_families(families, activations) -> tuple[str, ...]:
    """New activation set after the family selection became ``families``.

    A family newly selected adds all its activations; a family that was fully selected and is
    no longer removes all of its activations; the picks inside families not toggled (partly
    selected ones) stay as they were. Returned in ACTIVATIONS order.
    """
    before = set(families_of(activations))
    after = set(families)
    unknown = after - set(ACTIVATION_FAMILIES)
    if unknown:
        raise ValueError(f"unknown activation families {sorted(unknown)}; allowed: {list(ACTIVATION_FAMILIES)}")
    chosen = set(activations)
    for f in before - after:
        chosen -= set(ACTIVATION_FAMILIES[f])
    for f in after - before:
        chosen |= set(ACTIVATION_FAMILIES[f])
    return tuple(a for a in ACTIVATIONS if a in chosen)


def family_counts(activations) -> dict[str, tuple[int, int]]:
    """Family -> (selected, total) activations, for showing partly selected families."""
    chosen = set(activations)
    return {f: (sum(a in chosen for a in members), len(members)) for f, members in ACTIVATION_FAMILIES.items()}


def density_summary(values: dict[str, Any], layouts) -> str:
    """The density fields of the selected table layouts as text, e.g. 'BarabasiAlbert m = 2'."""
    parts = []
    for path in density_paths(layouts):
        v = values[path]
        if path == "graphs.er_p":
            parts.append(f"ErdosRenyi p ∈ [{float(v[0]):.2f}, {float(v[1]):.2f}]")
        elif path == "graphs.ba_m":
            parts.append(f"BarabasiAlbert m = {int(v)}")
        elif path == "graphs.ws_k":
            parts.append("WattsStrogatz k ∈ {" + ", ".join(str(int(k)) for k in sorted(v)) + "}")
        else:
            parts.append(f"Layered edge dropout {float(v):.2f}")
    return " · ".join(parts)
