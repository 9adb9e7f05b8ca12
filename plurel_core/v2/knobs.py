"""The v2 design space as config knobs: which fields exist, their bounds, and how they map to priors.

Every range, choice and probability of :class:`SchemaPrior` and :class:`TablePrior` is one knob
(or, for a choice among laws, a few) of a ``v2_*`` config section, grouped by what it shapes.
The knobs are *generated* from the dataclasses' defaults (kind, scale and default value) and from
``schema_prior.KNOB_BOUNDS`` (bounds and group); this module adds only what the dataclasses do
not say: labels, help texts, the widget bounds of the table prior, and the option catalogs.

- A range keeps its law: ``LogIntegersRange`` / ``LogRange`` become an ``int_range`` /
  ``float_range`` knob with ``scale="log"``, the others ``scale="linear"``.
- A ``Choices`` of names becomes a ``weights`` knob, option -> non-negative weight: the default
  options first (their default weights), then the rest of the registry at weight 0. A weight of 0
  drops the option from the prior (``Choices`` keeps only the positive ones, in catalog order), so
  the default knobs give exactly the default priors.
- A ``Choices`` of layouts is a ``weights`` knob over a catalog of layouts (table and node
  layouts of the authors' defaults, both offered to both).
- A ``Choices`` of laws becomes ``<field>_laws`` (weights over law tags) plus one knob per
  parameter. ``hsbm_within`` / ``hsbm_between`` (affinities) offer ``constant``, ``range`` and
  ``lomax`` (knobs ``<field>_constant``, ``<field>_range``, ``<field>_lomax_alpha``,
  ``<field>_lomax_scale``); ``hsbm_cluster_weights`` / ``hsbm_popularity`` offer ``none`` and
  ``lomax`` (``<field>_lomax_alpha`` only: the scale of a share or popularity law cancels out).
  A law the authors' default does not offer starts at weight 0 with the parameters of
  :data:`LAW_DEFAULTS`.
- Warping: ``v2_warping.warp`` (on in the authors' design) and ``v2_warping.kappa``, the range of
  the concentration of :meth:`TablePrior.warp`.

:func:`priors_from_sections` and :func:`sections_from_priors` convert JSON-like section values
(ranges as ``{"lo", "hi"}``, weights as dicts) to ``(SchemaPrior, TablePrior)`` and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from plurel_core.v2.calendar import CALENDAR_NAMES
from plurel_core.v2.columns import BINNINGS, MARGINAL_NAMES
from plurel_core.v2.edges import FAMILY_NAMES, REDUCTIONS
from plurel_core.v2.layouts import LayoutSpec
from plurel_core.v2.links import Lomax
from plurel_core.v2.nodes import ROOT_NOISE_NAMES
from plurel_core.v2.ranges import (
    KAPPA,
    Choices,
    IntegersRange,
    LogIntegersRange,
    LogRange,
    Range,
    _RangeBase,
)
from plurel_core.v2.schema_prior import KNOB_BOUNDS, SchemaPrior, SchemaPriorError
from plurel_core.v2.table_prior import _SHARES, AGGREGATE_HOWS, NODE_LAYOUTS, PriorError, TablePrior

SECTION_TITLES: dict[str, tuple[str, str]] = {
    "v2_schema": ("v2 · schema", "The table DAG (layout drawn before the count), table count, static and event rows."),
    "v2_keys": ("v2 · keys", "Duplicate and nullable foreign keys, self-referencing tree keys."),
    "v2_links": ("v2 · links", "Which parent row a child row references: random links or a hierarchical SBM "
                               "with within / between laws, cluster shares, popularity and inactive parents."),
    "v2_crossings": ("v2 · crossings", "Aggregates child -> parent, gathers parent -> child, self-tree gathers."),
    "v2_mechanisms": ("v2 · mechanisms", "Each table's SCM: nodes, layouts, reductions, the eight edge families, "
                                         "root noises and time-series roots."),
    "v2_columns": ("v2 · columns", "Observed columns: count, marginals by rank mapping, binning, missingness."),
    "v2_time": ("v2 · time", "Calendars of event times and the val / test shares of the split."),
    "v2_warping": ("v2 · warping", "Per-table warp of every range and choice of the table prior (off = no warp)."),
}
SECTIONS = tuple(SECTION_TITLES)

# dataclass field -> (label, help); the group (section) of a SchemaPrior field comes from KNOB_BOUNDS
SCHEMA_META: dict[str, tuple[str, str]] = {
    "table_layouts": ("Table layouts", "Weights of the DAG layouts of the tables (0 = off)."),
    "table_count": ("Tables", "Number of tables, log-uniform."),
    "static_rows": ("Static table rows", "Rows of a referenced (static) table, log-uniform."),
    "event_rows": ("Event table rows", "Rows of an unreferenced (event) table, log-uniform; it gets a time column."),
    "fk_duplicate_prob": ("Duplicate FK probability", "Probability that a table holds a second key to the same parent."),
    "fk_nullable_prob": ("Nullable FK probability", "Probability that a foreign key may be null."),
    "fk_null_rate": ("Null rate of a nullable FK", "Share of null values of a nullable key, uniform."),
    "self_tree_prob": ("Self-tree probability", "Probability that a static table gets a parent_id tree key."),
    "self_tree_roots": ("Self-tree root share", "Share of rows that are roots (null parent_id), uniform."),
    "link_random_prob": ("Random link probability", "Probability of a uniform parent per row; else an HSBM."),
    "hsbm_levels": ("HSBM levels L", "Levels of the hierarchical SBM."),
    "hsbm_counts": ("HSBM clusters per level", "Parent and child clusters at each level."),
    "hsbm_within": ("HSBM within affinity", "Affinity of matched blocks."),
    "hsbm_between": ("HSBM between affinity", "Affinity of the other blocks."),
    "hsbm_cluster_weights": ("HSBM cluster shares", "Law of the base-cluster shares (equal, or Lomax draws)."),
    "hsbm_popularity": ("HSBM parent popularity", "Law of the parent weights (none = 1, or Lomax draws)."),
    "hsbm_inactive": ("Inactive parent share", "Share of parents that get no child, uniform."),
    "aggregate_share": ("Aggregate probability", "Probability that a key with a static child aggregates the "
                                                 "child's nodes into the parent."),
    "aggregate_sources": ("Aggregate sources", "Child nodes aggregated per key."),
    "gather_sources": ("Gather sources", "Parent nodes gathered into the child per key."),
    "self_tree_gather": ("Self-tree gather sources", "Root nodes gathered along a self-tree key."),
    "val_share": ("Validation share", "The val cut-off is the (1 - val - test) quantile of pooled times."),
    "test_share": ("Test share", "The test cut-off is the (1 - test) quantile of pooled times."),
}

# TablePrior field -> (section, label, help, widget bounds or None for probabilities / weights)
TABLE_META: dict[str, tuple[str, str, str, tuple[float, float] | None]] = {
    "node_count": ("v2_mechanisms", "Nodes per table SCM", "Node count, log-uniform.", (1, 64)),
    "node_layouts": ("v2_mechanisms", "Node graph layouts", "Weights of the DAG layouts of a table's nodes.", None),
    "node_width": ("v2_mechanisms", "Numeric node width", "Dimensions of a numeric node, log-uniform.", (1, 16)),
    "node_categorical_share": ("v2_mechanisms", "Categorical node probability", "Not warped.", None),
    "node_class_count": ("v2_mechanisms", "Classes per categorical node", "", (2, 50)),
    "node_nested_share": ("v2_mechanisms", "Nested categorical probability",
                          "Probability that a categorical node nests one categorical parent. Not warped.", None),
    "node_ops": ("v2_mechanisms", "Reductions", "Weights of the reductions of a numeric node with >= 2 parents.", None),
    "node_noise_std": ("v2_mechanisms", "Node noise σ", "Noise sd of a non-root numeric node, log-uniform.", (1e-4, 10.0)),
    "key_reader_share": ("v2_crossings", "Key reader share", "Share of the receiving table's nodes that read one "
                                                              "key's crossing sources.", (0.0, 1.0)),
    "edge_families": ("v2_mechanisms", "Edge families", "Weights of the eight edge families; unfit ones are "
                                                       "dropped per edge.", None),
    "root_noise": ("v2_mechanisms", "Root noise laws", "Weights of the laws of a numeric root's noise.", None),
    "root_series_share": ("v2_mechanisms", "Time-series root probability",
                          "Probability that a numeric root of an event table is a time series. Not warped.", None),
    "series_trend_alpha": ("v2_mechanisms", "Series trend exponent α", "", (0.0, 5.0)),
    "series_trend_scale": ("v2_mechanisms", "Series trend scale s", "", (-5.0, 5.0)),
    "series_cycle_periods": ("v2_mechanisms", "Series cycles P", "Periods over the rows, log-uniform.", (0.1, 100.0)),
    "series_cycle_scale": ("v2_mechanisms", "Series cycle amplitude a", "", (0.0, 5.0)),
    "series_rho": ("v2_mechanisms", "Series AR(1) ρ", "", (0.0, 0.99)),
    "series_noise_std": ("v2_mechanisms", "Series AR noise σ", "Log-uniform.", (1e-3, 10.0)),
    "mlp_hidden_width": ("v2_mechanisms", "MLP hidden width", "Log-uniform.", (1, 128)),
    "mlp_layer_count": ("v2_mechanisms", "MLP layers", "", (1, 8)),
    "mlp_weight_scale": ("v2_mechanisms", "MLP weight gain g", "Log-uniform.", (0.01, 10.0)),
    "tree_count": ("v2_mechanisms", "Trees per tree edge", "Oblivious trees, log-uniform.", (1, 64)),
    "tree_depth": ("v2_mechanisms", "Tree depth", "", (1, 8)),
    "fourier_frequency_count": ("v2_mechanisms", "Fourier features F", "Not warped.", (1, 256)),
    "column_count": ("v2_columns", "Feature columns per table", "", (0, 100)),
    "column_marginals": ("v2_columns", "Marginals", "Weights of the marginal a numeric column is rank-mapped to "
                                                    "(none = the raw latent).", None),
    "column_binned_share": ("v2_columns", "Binned column probability", "Not warped.", None),
    "column_bin_count": ("v2_columns", "Bins per binned column", "", (2, 50)),
    "column_binning": ("v2_columns", "Bin edges", "Weights of normal (Φ⁻¹ of the shares) and empirical (quantiles) edges.",
                       None),
    "column_missing_rate": ("v2_columns", "Missing rate", "Missing share of a column with missing values.", (0.0, 0.99)),
    "column_missing_share": ("v2_columns", "Missing column probability", "Not warped.", None),
    "column_missing_structured_share": ("v2_columns", "Structured missingness probability",
                                        "Probability that a column's missingness follows an indicator node. Not warped.",
                                        None),
    "time_calendars": ("v2_time", "Calendars", "Weights of the weekday x hour calendars of event times.", None),
    "aggregate_hows": ("v2_crossings", "Aggregate functions", "Weights of the functions of an aggregate source "
                                                             "(not warped).", None),
}

# the registry a Choices of names draws from (its options: the default ones first, then the rest)
NAME_REGISTRIES: dict[str, tuple[str, ...]] = {
    "node_ops": tuple(REDUCTIONS), "edge_families": FAMILY_NAMES, "root_noise": ROOT_NOISE_NAMES,
    "column_marginals": MARGINAL_NAMES, "column_binning": BINNINGS, "time_calendars": CALENDAR_NAMES,
    "aggregate_hows": AGGREGATE_HOWS,
}

# bounds of the parameters of a choice among laws; field -> tag -> bounds
LAW_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "hsbm_within": {"constant": (0.001, 1.0), "range": (0.001, 1.0)},
    "hsbm_between": {"constant": (1e-6, 1.0), "range": (1e-6, 1.0)},
}
# the law tags a choice among laws offers, by its KNOB_BOUNDS kind
LAW_TAGS = {"laws": ("constant", "range", "lomax"), "optional_lomax": ("none", "lomax")}
# parameters of the laws a default does not offer (weight 0 until turned on)
LAW_DEFAULTS: dict[str, dict[str, Any]] = {
    "hsbm_within": {"lomax": Lomax(1.0, 0.9)},
    "hsbm_between": {"constant": 0.0015},
}
LOMAX_ALPHA_BOUNDS = (0.01, 100.0)
LOMAX_SCALE_BOUNDS = (1e-4, 100.0)
KAPPA_BOUNDS = (1e-3, 1e6)


def layout_option(spec: LayoutSpec) -> str:
    """A layout's option name: ``RandomTree``, ``ErdosRenyi(p=0.4)``."""
    return spec.name if not spec.params else spec.label


def _catalog(*groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(layout_option(s) for group in groups for s in group))


# Both layout knobs offer the table and the node defaults: their own defaults first (so the
# defaults keep their order), then the other's at weight 0.
_TABLE_DEFAULTS = SchemaPrior().table_layouts.options
LAYOUT_CATALOG: dict[str, LayoutSpec] = {layout_option(s): s for s in (*_TABLE_DEFAULTS, *NODE_LAYOUTS)}
LAYOUT_OPTIONS: dict[str, tuple[str, ...]] = {
    "table_layouts": _catalog(_TABLE_DEFAULTS, NODE_LAYOUTS),
    "node_layouts": _catalog(NODE_LAYOUTS, _TABLE_DEFAULTS),
}


@dataclass(frozen=True)
class Knob:
    """One v2 config field: its section, name, kind, JSON default, label, help, bounds, options.

    ``prior`` / ``source``: the dataclass ("schema" or "table") and field it feeds (None for the
    warping knobs); ``law``: for a parameter of a choice among laws, its tag.
    """

    section: str
    field: str
    kind: str  # int_range | float_range | prob | int | float | bool | weights
    default: Any
    label: str
    help: str
    bounds: tuple[float, float] | None = None
    options: tuple[str, ...] | None = None
    scale: str = "linear"
    prior: str | None = None
    source: str | None = None
    law: str | None = None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.field}"


def _scale(r: _RangeBase) -> str:
    return "log" if isinstance(r, (LogRange, LogIntegersRange)) else "linear"


def _range_json(r: _RangeBase) -> dict[str, Any]:
    ints = isinstance(r, (IntegersRange, LogIntegersRange))
    return {"lo": int(r.lo) if ints else float(r.lo), "hi": int(r.hi) if ints else float(r.hi)}


def _range_knob(section, name, value, label, help, bounds, prior, source, law=None) -> Knob:
    kind = "int_range" if isinstance(value, (IntegersRange, LogIntegersRange)) else "float_range"
    return Knob(section, name, kind, _range_json(value), label, help, tuple(bounds), scale=_scale(value),
                prior=prior, source=source, law=law)


def _law_tag(option: Any) -> str:
    if option is None:
        return "none"
    if isinstance(option, Lomax):
        return "lomax"
    if isinstance(option, _RangeBase):
        return "range"
    return "constant"


def _weights_json(options: tuple[str, ...], chosen: dict[str, float]) -> dict[str, float]:
    return {o: float(chosen.get(o, 0.0)) for o in options}


def _name_options(default: Choices, registry: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(default.options) + tuple(o for o in registry if o not in default.options)


def _law_knobs(section: str, name: str, kind: str, default: Choices, label: str, help: str) -> list[Knob]:
    own = tuple(_law_tag(o) for o in default.options)
    if len(set(own)) != len(own) or not set(own) <= set(LAW_TAGS[kind]):
        raise RuntimeError(f"{name}: one option per law tag of {LAW_TAGS[kind]} expected, got {own}")
    tags = own + tuple(t for t in LAW_TAGS[kind] if t not in own)
    options = dict(zip(own, default.options)) | {t: LAW_DEFAULTS[name][t] for t in tags if t not in own}
    out = [Knob(section, f"{name}_laws", "weights", _weights_json(tags, dict(zip(own, default.weights))),
                f"{label}: laws", f"{help} Weights of the laws ({', '.join(tags)}).", options=tags,
                prior="schema", source=name)]
    bounds = LAW_BOUNDS.get(name, {})
    for tag in tags:
        option = options[tag]
        if tag == "constant":
            out.append(Knob(section, f"{name}_constant", "float", float(option), f"{label}: constant",
                            "The value of the constant law.", bounds.get("constant", (1e-6, 1.0)),
                            prior="schema", source=name, law=tag))
        elif tag == "range":
            out.append(_range_knob(section, f"{name}_range", option, f"{label}: range",
                                   "The range of the uniform law.", bounds.get("range", (1e-6, 1.0)), "schema",
                                   name, law=tag))
        elif tag == "lomax":
            out.append(Knob(section, f"{name}_lomax_alpha", "float", float(option.alpha), f"{label}: Lomax α",
                            "Shape of the Lomax law (scale x rng.pareto(α)).", LOMAX_ALPHA_BOUNDS,
                            prior="schema", source=name, law=tag))
            if kind == "laws":
                out.append(Knob(section, f"{name}_lomax_scale", "float", float(option.scale),
                                f"{label}: Lomax scale", "Scale of the Lomax law.", LOMAX_SCALE_BOUNDS,
                                prior="schema", source=name, law=tag))
    return out


def _build_knobs() -> tuple[Knob, ...]:
    by_section: dict[str, list[Knob]] = {s: [] for s in SECTIONS}
    sp = SchemaPrior()
    for f in fields(SchemaPrior):
        name, value = f.name, getattr(sp, f.name)
        kind, group, bounds = KNOB_BOUNDS[name]
        section = f"v2_{group}"
        label, help = SCHEMA_META[name]
        if kind in ("int_range", "float_range"):
            by_section[section].append(_range_knob(section, name, value, label, help, bounds, "schema", name))
        elif kind in ("prob", "share"):
            by_section[section].append(Knob(section, name, "prob", float(value), label, help, tuple(bounds),
                                            prior="schema", source=name))
        elif kind == "layouts":
            chosen = {layout_option(o): w for o, w in zip(value.options, value.weights)}
            options = LAYOUT_OPTIONS[name]
            by_section[section].append(Knob(section, name, "weights", _weights_json(options, chosen),
                                            label, help, options=options, prior="schema", source=name))
        elif kind in ("laws", "optional_lomax"):
            by_section[section].extend(_law_knobs(section, name, kind, value, label, help))
        else:
            raise RuntimeError(f"SchemaPrior.{name}: no config knob for kind {kind!r}")
    tp = TablePrior()
    for f in fields(TablePrior):
        name, value = f.name, getattr(tp, f.name)
        section, label, help, bounds = TABLE_META[name]
        if isinstance(value, _RangeBase):
            knob = _range_knob(section, name, value, label, help, bounds, "table", name)
        elif isinstance(value, Choices):
            if name == "node_layouts":
                options = LAYOUT_OPTIONS[name]
                chosen = {layout_option(o): w for o, w in zip(value.options, value.weights)}
            else:
                options = _name_options(value, NAME_REGISTRIES[name])
                chosen = dict(zip(value.options, value.weights))
            knob = Knob(section, name, "weights", _weights_json(options, chosen), label, help, options=options,
                        prior="table", source=name)
        elif name in _SHARES:
            knob = Knob(section, name, "prob", float(value), label, help, (0.0, 1.0), prior="table", source=name)
        elif isinstance(value, int) and not isinstance(value, bool):
            knob = Knob(section, name, "int", int(value), label, help, bounds, prior="table", source=name)
        else:
            raise RuntimeError(f"TablePrior.{name}: no config knob for {value!r}")
        by_section[section].append(knob)
    by_section["v2_warping"] += [
        Knob("v2_warping", "warp", "bool", True, "Warp the table prior per table",
             "On (the authors' design): every table draws each range through a Beta(m κ, (1 - m) κ) and "
             "multiplies each choice's weights by a Dirichlet(κ) draw, once, before it is built. Off: every "
             "table samples the plain prior."),
        Knob("v2_warping", "kappa", "float_range", {"lo": float(KAPPA[0]), "hi": float(KAPPA[1])},
             "Warp concentration κ", "κ is drawn log-uniformly from this range, once per prior of a table: "
             "large κ concentrates a table's draws near its own random centre, small κ spreads them.",
             KAPPA_BOUNDS, scale="log"),
    ]
    return tuple(k for s in SECTIONS for k in by_section[s])


KNOBS: tuple[Knob, ...] = _build_knobs()
KNOB_BY_PATH: dict[str, Knob] = {k.path: k for k in KNOBS}


def source_path(prior: str, source: str) -> str:
    """The config path that stands for a dataclass field in error messages (a law choice: its weights)."""
    for k in KNOBS:
        if k.prior == prior and k.source == source and k.law is None:
            return k.path
    raise KeyError(f"{prior}.{source}")


# --- JSON-like section values <-> priors --------------------------------------------------------
def _to_range(knob: Knob, value: dict[str, Any]) -> _RangeBase:
    lo, hi = value["lo"], value["hi"]
    if knob.kind == "int_range":
        return (LogIntegersRange if knob.scale == "log" else IntegersRange)(int(lo), int(hi))
    return (LogRange if knob.scale == "log" else Range)(float(lo), float(hi))


def _positive(knob: Knob, weights: dict[str, float]) -> list[tuple[str, float]]:
    kept = [(o, float(weights.get(o, 0.0))) for o in knob.options]
    kept = [(o, w) for o, w in kept if w > 0]
    if not kept:
        raise PriorError(knob.source, "at least one weight must be positive")
    return kept


def _law(tag: str, params: dict[str, Any], knobs: dict[str, Knob]) -> Any:
    if tag == "none":
        return None
    if tag == "constant":
        return float(params["constant"])
    if tag == "range":
        return _to_range(knobs["range"], params["range"])
    scale = float(params["lomax_scale"]) if "lomax_scale" in params else 1.0
    return Lomax(float(params["lomax_alpha"]), scale)


def priors_from_sections(sections: dict[str, dict[str, Any]]) -> tuple[SchemaPrior, TablePrior]:
    """``(SchemaPrior, TablePrior)`` of JSON-like ``v2_*`` section values (missing ones: defaults).

    Raises :class:`SchemaPriorError` / :class:`PriorError` naming the dataclass field.
    """
    values: dict[str, dict[str, Any]] = {"schema": {}, "table": {}}
    laws: dict[str, dict[str, Any]] = {}
    law_knobs: dict[str, dict[str, Knob]] = {}
    for knob in KNOBS:
        if knob.prior is None:
            continue
        v = sections.get(knob.section, {}).get(knob.field, knob.default)
        if knob.law is not None:
            laws.setdefault(knob.source, {})[knob.field.removeprefix(f"{knob.source}_")] = v
            law_knobs.setdefault(knob.source, {})[knob.law] = knob
        elif knob.kind in ("int_range", "float_range"):
            values[knob.prior][knob.source] = _to_range(knob, v)
        elif knob.kind == "weights":
            kept = _positive(knob, v)
            if knob.source in ("table_layouts", "node_layouts"):
                values[knob.prior][knob.source] = Choices(tuple(LAYOUT_CATALOG[o] for o, _ in kept),
                                                          tuple(w for _, w in kept))
            elif knob.field.endswith("_laws"):
                values[knob.prior][knob.source] = kept  # resolved below, once the parameters are read
            else:
                values[knob.prior][knob.source] = Choices(tuple(o for o, _ in kept), tuple(w for _, w in kept))
        elif knob.kind == "prob":
            values[knob.prior][knob.source] = float(v)
        elif knob.kind == "int":
            values[knob.prior][knob.source] = int(v)
    for source, params in laws.items():
        kept = values["schema"][source]
        values["schema"][source] = Choices(tuple(_law(tag, params, law_knobs[source]) for tag, _ in kept),
                                           tuple(w for _, w in kept))
    return SchemaPrior(**values["schema"]), TablePrior(**values["table"])


def _unwarped(name: str, r: Any) -> Any:
    if isinstance(r, _RangeBase) and r.warp is not None:
        raise PriorError(name, "a warped prior is one table's draw, not a config value; give the unwarped prior")
    return r


def _range_value(knob: Knob, r: Any) -> dict[str, Any]:
    _unwarped(knob.source, r)
    want = _to_range(knob, {"lo": 1, "hi": 1})
    if type(r) is not type(want):
        raise PriorError(knob.source, f"the config holds a {type(want).__name__} here, got {r!r}")
    return _range_json(r)


def sections_from_priors(schema_prior: SchemaPrior, table_prior: TablePrior) -> dict[str, dict[str, Any]]:
    """JSON-like ``v2_*`` section values (without ``v2_warping``) of two priors; the inverse of
    :func:`priors_from_sections`. Raises :class:`PriorError` / :class:`SchemaPriorError` naming a
    field whose value the knobs cannot hold (an option outside the catalog, another range law)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS if s != "v2_warping"}
    priors = {"schema": schema_prior, "table": table_prior}
    for knob in KNOBS:
        if knob.prior is None:
            continue
        value = getattr(priors[knob.prior], knob.source)
        err = SchemaPriorError if knob.prior == "schema" else PriorError
        if knob.law is not None:
            option = next((o for o in value.options if _law_tag(o) == knob.law), None)
            if option is None:
                out[knob.section][knob.field] = knob.default  # law not offered: its parameter stays at default
            elif knob.field.endswith("_constant"):
                out[knob.section][knob.field] = float(option)
            elif knob.field.endswith("_range"):
                out[knob.section][knob.field] = _range_value(knob, option)
            elif knob.field.endswith("_lomax_alpha"):
                out[knob.section][knob.field] = float(option.alpha)
            else:
                out[knob.section][knob.field] = float(option.scale)
        elif knob.kind in ("int_range", "float_range"):
            out[knob.section][knob.field] = _range_value(knob, value)
        elif knob.kind == "weights":
            if knob.source in ("table_layouts", "node_layouts"):
                names = [layout_option(o) for o in value.options]
            elif knob.field.endswith("_laws"):
                names = [_law_tag(o) for o in value.options]
                _check_law_params(knob, value)
            else:
                names = list(value.options)
            unknown = [n for n in names if n not in knob.options]
            if unknown or len(set(names)) != len(names):
                raise err(knob.source, f"options {names} must be distinct ones of {list(knob.options)}")
            out[knob.section][knob.field] = _weights_json(knob.options, dict(zip(names, value.weights)))
        elif knob.kind == "prob":
            out[knob.section][knob.field] = float(value)
        elif knob.kind == "int":
            out[knob.section][knob.field] = int(value)
    return out


def _check_law_params(knob: Knob, value: Choices) -> None:
    has_scale = any(k.field == f"{knob.source}_lomax_scale" for k in KNOBS)
    for o in value.options:
        if isinstance(o, Lomax) and not has_scale and not math.isclose(o.scale, 1.0):
            raise SchemaPriorError(knob.source, f"the config holds Lomax laws of scale 1 here, got {o!r}")
