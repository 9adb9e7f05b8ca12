"""Every prior of the PluRel generator as validated data.

A prior is a uniform range (:class:`IntRange`, :class:`FloatRange`) or a set of choices (a tuple
of names or numbers). ``Config()`` is the "paper" preset of PLUREL_SPEC.md; other presets come by
name from :meth:`Config.preset`. ``Config.design`` picks the design space that ``generate`` samples:
"paper" (sections ``schema``, ``graphs``, ``links``, ``scm``, ``postprocess``) or "v2", the authors'
later design (PLUREL_V2_SPEC.md; sections ``v2_schema`` .. ``v2_warping``, generated from the v2
dataclasses by :mod:`plurel_core.v2.knobs`; :func:`v2_priors` maps them to ``SchemaPrior`` and
``TablePrior``). A paper config's JSON leaves out the v2 sections while they are at their defaults,
so it is the same text (and digest) as before the v2 design existed. Two paper knobs mix in v2's link
models and nullable keys (:data:`MIX_FIELDS`, left out of the JSON at their default). Validation names the field, the bad value and what is allowed,
and runs before any work starts. Fields carry metadata (bounds, allowed options, a label) so that
the app and the CLI build their widgets and flags from the model instead of repeating it.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    create_model,
    model_validator,
)

from plurel_core.graphs import DAG_LAYOUTS, EDGE_WEIGHT_LAWS, EXTENSION_LAYOUTS
from plurel_core.links import POPULARITY_LAWS
from plurel_core.postprocess import TRANSFORMS
from plurel_core.scm.activations import ACTIVATIONS
from plurel_core.scm.mlp import AGGREGATIONS, INITIALIZATIONS
from plurel_core.scm.sources import SOURCE_LAWS
from plurel_core.v2 import knobs as v2_knobs

PROPAGATION_MODES = ("type_eager", "type_lazy")
LINK_MODELS = ("paper_hsbm", "v2")  # links.link_models: the paper's HSBM, or v2's link draw (v2_links)
SOURCE_SCALES = (0.01, 0.1, 1.0, 10.0, 100.0)
TS_PERIOD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
WS_K_CHOICES = (2, 4, 6, 8)


class ConfigError(ValueError):
    """A config field is out of its allowed range; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    @classmethod
    def from_validation(cls, err: ValidationError) -> ConfigError:
        first = err.errors()[0]
        parts = [str(p) for p in first["loc"] if p not in ("__root__",)]
        msg = first["msg"].removeprefix("Value error, ")
        # Errors raised by our own validators carry their field name as "field: message".
        head = msg.split(": ", 1)[0]
        if ": " in msg and head.replace("_", "").isalnum() and len(parts) < 2:
            parts.append(head)
            msg = msg.split(": ", 1)[1]
        # The field is "section.field"; a deeper path (".lo", ".0") goes into the message.
        field = ".".join(parts[:2]) if parts else "config"
        if len(parts) > 2:
            msg = f"{'.'.join(parts[2:])}: {msg}"
        others = len(err.errors()) - 1
        if others:
            msg += f" (and {others} more error{'s' if others > 1 else ''})"
        return cls(field, msg)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IntRange(_Frozen):
    """Uniform integer prior U{lo..hi}, both ends included."""

    lo: int
    hi: int

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.lo > self.hi:
            raise ValueError(f"lo={self.lo} is greater than hi={self.hi}")
        return self

    def sample(self, rng) -> int:
        return int(rng.integers(self.lo, self.hi + 1))


class FloatRange(_Frozen):
    """Uniform float prior U[lo, hi]."""

    lo: float
    hi: float

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not (self.lo <= self.hi):
            raise ValueError(f"lo={self.lo} is greater than hi={self.hi}")
        return self

    def sample(self, rng) -> float:
        return float(rng.uniform(self.lo, self.hi)) if self.hi > self.lo else float(self.lo)


def _range_coerce(value: Any) -> Any:
    """Accept ``(lo, hi)`` lists/tuples and plain numbers where a range is expected."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return {"lo": value[0], "hi": value[1]}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"lo": value, "hi": value}
    return value


def _weights_json(pairs) -> dict[str, float]:
    return {str(o): float(w) for o, w in pairs}


# A weighted choice, option -> non-negative weight: held as (option, weight) pairs in the options'
# order (hashable, like every config value), written to JSON as an object.
Weights = Annotated[tuple[tuple[str, float], ...], PlainSerializer(_weights_json, return_type=dict)]


def _weights_coerce(name: str, value: Any, options: list[str]) -> Any:
    """``{option: weight}`` (or (option, weight) pairs) as pairs in ``options`` order, absent = 0."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        items = [tuple(p) for p in value]
    else:
        raise ValueError(f"{name}: expected an object of option -> weight, got {value!r}")
    unknown = [o for o, _ in items if o not in options]
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; allowed: {options}")
    seen = [o for o, _ in items]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{name}: an option is given twice in {seen}")
    for o, w in items:
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ValueError(f"{name}: the weight of {o} must be a number, got {w!r}")
    given = dict(items)
    return tuple((o, float(given.get(o, 0.0))) for o in options)


def irange(lo: int, hi: int, *, bounds: tuple[int, int], label: str, help: str = "") -> Any:
    return Field(
        default=IntRange(lo=lo, hi=hi),
        description=help or label,
        json_schema_extra={"kind": "int_range", "bounds": list(bounds), "label": label},
    )


def frange(lo: float, hi: float, *, bounds: tuple[float, float], label: str, help: str = "") -> Any:
    return Field(
        default=FloatRange(lo=lo, hi=hi),
        description=help or label,
        json_schema_extra={"kind": "float_range", "bounds": list(bounds), "label": label},
    )


def choices(default: tuple, options: tuple, *, label: str, help: str = "") -> Any:
    return Field(
        default=tuple(default),
        description=help or label,
        json_schema_extra={"kind": "choices", "options": list(options), "label": label},
    )


def number(default: float, *, bounds: tuple[float, float], label: str, help: str = "", integer=False) -> Any:
    return Field(
        default=default,
        description=help or label,
        json_schema_extra={"kind": "int" if integer else "float", "bounds": list(bounds), "label": label},
    )


def flag(default: bool, *, label: str, help: str = "") -> Any:
    return Field(default=default, description=help or label, json_schema_extra={"kind": "bool", "label": label})


class _Section(_Frozen):
    """A group of priors; validates bounds and option sets declared in field metadata."""

    @model_validator(mode="before")
    @classmethod
    def _coerce_ranges(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra or {}
            if name in out and extra.get("kind") in ("int_range", "float_range"):
                out[name] = _range_coerce(out[name])
            if name in out and extra.get("kind") == "choices" and isinstance(out[name], list):
                out[name] = tuple(out[name])
            if name in out and extra.get("kind") == "weights":
                out[name] = _weights_coerce(name, out[name], extra["options"])
        return out

    @model_validator(mode="after")
    def _check_declared(self):
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra or {}
            kind = extra.get("kind")
            value = getattr(self, name)
            if kind in ("int_range", "float_range", "int", "float", "prob"):
                lo_b, hi_b = extra["bounds"]
                vals = (value.lo, value.hi) if kind.endswith("range") else (value,)
                for v in vals:
                    if not (lo_b <= v <= hi_b):
                        raise ValueError(f"{name}: value {v} is outside the allowed range [{lo_b}, {hi_b}]")
            elif kind == "choices":
                options = extra["options"]
                if len(value) == 0:
                    raise ValueError(f"{name}: choose at least one of {options}")
                unknown = [v for v in value if v not in options]
                if unknown:
                    raise ValueError(f"{name}: unknown choice(s) {unknown}; allowed: {options}")
                if len(set(value)) != len(value):
                    raise ValueError(f"{name}: duplicate choices in {list(value)}")
            elif kind == "weights":
                for option, w in value:
                    if not (math.isfinite(w) and w >= 0):
                        raise ValueError(f"{name}: the weight of {option} is {w:g}; weights must be "
                                         "non-negative finite numbers")
                if not any(w > 0 for _, w in value):
                    raise ValueError(f"{name}: at least one weight must be positive (0 = option off)")
        return self


_EARLIEST_DAY, _LATEST_DAY = "1678-01-01", "2261-12-31"  # pandas' nanosecond timestamps


def _iso_day(field: str, value: str):
    import datetime as dt
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{field}: {value!r} is not an ISO date written YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: {value!r} is not a valid ISO calendar date (YYYY-MM-DD)") from None
    if not (_EARLIEST_DAY <= value <= _LATEST_DAY):
        raise ValueError(f"{field}: {value} is outside the allowed range [{_EARLIEST_DAY}, {_LATEST_DAY}]")
    return day


class SchemaPriors(_Section):
    """Stage 0 and 1: database-level draws and the schema DAG of tables."""

    num_tables: IntRange = irange(3, 20, bounds=(1, 100), label="Tables")
    table_layouts: tuple[str, ...] = choices(
        ("BarabasiAlbert", "ReverseRandomTree", "WattsStrogatz"), DAG_LAYOUTS + EXTENSION_LAYOUTS,
        label="Table layouts (schema DAG generators)",
        help="Chain and Hub are extensions beyond the paper's seven generators.")
    entity_rows: IntRange = irange(500, 1000, bounds=(1, 20_000_000), label="Entity table rows")
    activity_rows: IntRange = irange(2000, 5000, bounds=(1, 50_000_000), label="Activity table rows")
    feature_columns: IntRange = irange(3, 40, bounds=(1, 500), label="Feature columns per table")
    feature_columns_exponent: float = number(1.0, bounds=(0.0, 5.0), label="Feature-count power law exponent",
                                             help="P(k) ∝ k^-exponent over the feature-column range (paper: 1)")
    categorical_share: float = number(0.5, bounds=(0.0, 1.0), label="Categorical column share")
    num_categories: IntRange = irange(2, 10, bounds=(2, 1000), label="Categories per categorical column")
    text_categories: IntRange = irange(5, 50, bounds=(2, 100_000), label="Distinct labels per text column (SQL schemas)")
    start_date: str = Field(default="1990-01-01", description="Earliest possible day of the time span",
                            json_schema_extra={"kind": "date", "label": "Time span from"})
    end_date: str = Field(default="2025-01-01", description="Latest possible day of the time span",
                          json_schema_extra={"kind": "date", "label": "Time span to"})
    val_fraction: float = number(0.8, bounds=(0.0, 1.0), label="Validation cut-off (share of span)")
    test_fraction: float = number(0.9, bounds=(0.0, 1.0), label="Test cut-off (share of span)")

    @model_validator(mode="after")
    def _dates(self) -> SchemaPriors:
        a = _iso_day("start_date", self.start_date)
        b = _iso_day("end_date", self.end_date)
        if (b - a).days < 1:
            raise ValueError(f"end_date: {self.end_date} must be at least one day after start_date {self.start_date}")
        if self.val_fraction > self.test_fraction:
            raise ValueError(f"val_fraction: {self.val_fraction} is greater than test_fraction {self.test_fraction}")
        return self


class GraphPriors(_Section):
    """Parameters of the DAG generators, shared by stage 1 (schema) and stage 3 (SCM graphs)."""

    edge_weight_laws: tuple[str, ...] = choices(EDGE_WEIGHT_LAWS, EDGE_WEIGHT_LAWS, label="Edge weight laws")
    er_p: FloatRange = frange(0.3, 0.8, bounds=(0.0, 1.0), label="ErdosRenyi arc probability p")
    ba_m: int = number(2, bounds=(1, 10), label="BarabasiAlbert edges per new node m", integer=True)
    ba_sink_edge_dropout: float = number(0.4, bounds=(0.0, 1.0), label="BarabasiAlbert sink-edge dropout")
    ba_leaf_flip: float = number(0.0, bounds=(0.0, 1.0), label="BarabasiAlbert leaf-edge flip probability")
    ws_k: tuple[int, ...] = choices((2, 4), WS_K_CHOICES, label="WattsStrogatz neighbours k")
    ws_rewire: FloatRange = frange(0.1, 0.3, bounds=(0.0, 1.0), label="WattsStrogatz rewiring p")
    layered_depth: IntRange = irange(2, 8, bounds=(1, 50), label="Layered depth")
    layered_edge_dropout: float = number(0.1, bounds=(0.0, 1.0), label="Layered edge dropout")


class LinkPriors(_Section):
    """Stage 2: hierarchical SBM for every foreign key, plus the parent-popularity extension, and the
    paper + v2 mix (``link_models``, ``v2_nullable_fks``: off by default; their parameters are the
    ``v2_links`` and ``v2_keys`` nullable knobs, see docs/CONTRACT.md "Design spaces")."""

    hsbm_levels: IntRange = irange(1, 5, bounds=(1, 10), label="HSBM levels L")
    hsbm_clusters: IntRange = irange(1, 3, bounds=(1, 20), label="Clusters per level and side")
    hsbm_diagonal: float = number(0.9, bounds=(0.0, 1.0), label="Block matrix diagonal value")
    hsbm_off_diagonal: FloatRange = frange(0.001, 0.002, bounds=(0.0, 1.0), label="Block matrix off-diagonal values")
    popularity_laws: tuple[str, ...] = choices(("constant",), POPULARITY_LAWS, label="Parent popularity law",
                                               help="constant = the paper; lognormal and zipf weight parents (degree-corrected SBM)")
    popularity_sigma: FloatRange = frange(1.0, 1.0, bounds=(0.0, 5.0), label="Lognormal popularity σ")
    popularity_alpha: FloatRange = frange(1.0, 1.0, bounds=(0.0, 5.0), label="Zipf popularity exponent α")
    null_fk_share: FloatRange = frange(0.05, 0.2, bounds=(0.0, 1.0), label="Missing share of nullable FKs (SQL schemas)")
    # The paper + v2 mix (issue 13): off by default; their parameters are the v2 sections' knobs.
    link_models: tuple[str, ...] = choices(
        ("paper_hsbm",), LINK_MODELS, label="Link model per FK (paper + v2 mix)",
        help="Each foreign key picks one of these, uniformly. paper_hsbm = the paper's HSBM (the knobs above). "
             "v2 = the v2 design's link draw with the v2_links knobs: a uniform random parent with probability "
             "v2_links.link_random_prob, else a v2 HSBM (v2_links levels, clusters, within / between / "
             "cluster-share / popularity laws and inactive parent share). Tables with a composite key (SQL "
             "association tables) keep paper_hsbm on every key.")
    v2_nullable_fks: bool = flag(
        False, label="v2 nullable FKs (paper + v2 mix)",
        help="On: each foreign key is nullable with probability v2_keys.fk_nullable_prob, and then NULL in a share "
             "of rows drawn from v2_keys.fk_null_rate (v2's draw); the column is pandas Int64. A child row with a "
             "NULL parent gets no input from that parent table in its SCM (each node's aggregation skips it). "
             "Random schemas only: in a SQL schema the DDL says which keys may be NULL.")


class ScmPriors(_Section):
    """Stage 3: one structural causal model per table."""

    scm_layouts: tuple[str, ...] = choices(DAG_LAYOUTS, DAG_LAYOUTS + EXTENSION_LAYOUTS, label="SCM graph layouts")
    column_node_share: FloatRange = frange(0.3, 0.9, bounds=(0.01, 1.0), label="Column-node share q")
    emb: int = number(32, bounds=(2, 256), label="Embedding width", integer=True)
    mlp_layers: IntRange = irange(2, 4, bounds=(1, 8), label="MLP layers")
    weight_density: FloatRange = frange(0.3, 1.0, bounds=(0.01, 1.0), label="Weight mask density")
    initializations: tuple[str, ...] = choices(INITIALIZATIONS, INITIALIZATIONS, label="Weight initialisations")
    activations: tuple[str, ...] = choices(ACTIVATIONS, ACTIVATIONS, label="Activations")
    activation_log_scale: FloatRange = frange(-1.0, 1.0, bounds=(-5.0, 5.0), label="Activation log-scale")
    noise_alpha: FloatRange = frange(0.5, 5.0, bounds=(0.01, 100.0), label="Node noise Beta α")
    noise_beta: FloatRange = frange(0.5, 5.0, bounds=(0.01, 100.0), label="Node noise Beta β")
    aggregations: tuple[str, ...] = choices(AGGREGATIONS, AGGREGATIONS, label="Aggregations")
    propagation_modes: tuple[str, ...] = choices(PROPAGATION_MODES, PROPAGATION_MODES, label="Propagation modes")
    lazy_permute_prob: FloatRange = frange(0.3, 1.0, bounds=(0.0, 1.0), label="Lazy: label permutation probability")
    lazy_reverse_prob: FloatRange = frange(0.2, 0.8, bounds=(0.0, 1.0), label="Lazy: label reversal probability")
    source_laws: tuple[str, ...] = choices(SOURCE_LAWS, SOURCE_LAWS, label="Source laws")
    source_scales: tuple[float, ...] = choices(SOURCE_SCALES, SOURCE_SCALES, label="Source value scales")
    source_beta_ab: FloatRange = frange(0.5, 5.0, bounds=(0.01, 100.0), label="Beta source α, β")
    ts_trend_exponent: FloatRange = frange(0.0, 2.0, bounds=(0.0, 10.0), label="Trend exponent a")
    ts_ar_rho: FloatRange = frange(0.0, 0.9, bounds=(0.0, 0.99), label="AR(1) ρ")
    ts_period_fractions: tuple[float, ...] = choices(TS_PERIOD_FRACTIONS, TS_PERIOD_FRACTIONS, label="Cycle period (share of rows)")
    ts_activity_noise: float = number(0.05, bounds=(0.0, 100.0), label="AR noise σ (activity tables)")
    ts_entity_noise: float = number(1.0, bounds=(0.0, 100.0), label="AR noise σ (entity tables)")


class PostprocessPriors(_Section):
    """Post-processing applied per table after stage 3."""

    transforms: tuple[str, ...] = choices(TRANSFORMS, TRANSFORMS, label="Numerical column transforms")
    missing_rate: FloatRange = frange(0.01, 0.1, bounds=(0.0, 0.95), label="Missing-value rate r")
    binarize: bool = flag(True, label="Binarize integer categoricals (label > 0)",
                          help="The paper's pretraining target was binary; a column left constant is dropped.")


def _v2_field(knob: v2_knobs.Knob) -> tuple[Any, Any]:
    """(annotation, Field) of a v2 knob: its default, kind, bounds, options and scale as metadata."""
    extra: dict[str, Any] = {"kind": knob.kind, "label": knob.label, "scale": knob.scale}
    if knob.bounds is not None:
        extra["bounds"] = list(knob.bounds)
    if knob.options is not None:
        extra["options"] = list(knob.options)
    d = knob.default
    if knob.kind == "int_range":
        return IntRange, Field(default=IntRange(**d), description=knob.help or knob.label, json_schema_extra=extra)
    if knob.kind == "float_range":
        return FloatRange, Field(default=FloatRange(**d), description=knob.help or knob.label,
                                 json_schema_extra=extra)
    if knob.kind == "weights":
        return Weights, Field(default=tuple(d.items()), description=knob.help or knob.label, json_schema_extra=extra)
    annotation = {"prob": float, "float": float, "int": int, "bool": bool}[knob.kind]
    return annotation, Field(default=d, description=knob.help or knob.label, json_schema_extra=extra)


def _v2_section(section: str) -> type[_Section]:
    title, about = v2_knobs.SECTION_TITLES[section]
    name = "V2" + "".join(part.title() for part in section.split("_")[1:]) + "Priors"
    model = create_model(name, __base__=_Section, __module__=__name__,
                         **{k.field: _v2_field(k) for k in v2_knobs.KNOBS if k.section == section})
    model.__doc__ = f"{title}: {about}"
    return model


V2_SECTION_MODELS: dict[str, type[_Section]] = {s: _v2_section(s) for s in v2_knobs.SECTIONS}
V2SchemaPriors = V2_SECTION_MODELS["v2_schema"]
V2KeysPriors = V2_SECTION_MODELS["v2_keys"]
V2LinksPriors = V2_SECTION_MODELS["v2_links"]
V2CrossingsPriors = V2_SECTION_MODELS["v2_crossings"]
V2MechanismsPriors = V2_SECTION_MODELS["v2_mechanisms"]
V2ColumnsPriors = V2_SECTION_MODELS["v2_columns"]
V2TimePriors = V2_SECTION_MODELS["v2_time"]
V2WarpingPriors = V2_SECTION_MODELS["v2_warping"]
_V2_DEFAULTS = {s: m() for s, m in V2_SECTION_MODELS.items()}

DESIGNS = ("paper", "v2")
# Paper-section fields that mix in parts of the v2 design (links.link_models, links.v2_nullable_fks).
# They came after the paper presets' JSON was fixed, so to_dict() leaves them out at their default:
# every config that does not use them keeps its JSON and digest.
MIX_FIELDS: dict[str, tuple[str, ...]] = {"links": ("link_models", "v2_nullable_fks")}
# The v2 knobs each mix field makes the paper design read (its widgets show beside the paper's).
MIX_READS: dict[str, tuple[str, ...]] = {
    "links.link_models": ("v2_links.*",),  # with "v2" among the models: v2's whole link draw
    "links.v2_nullable_fks": ("v2_keys.fk_nullable_prob", "v2_keys.fk_null_rate"),
}
PAPER_SECTIONS = ("schema", "graphs", "links", "scm", "postprocess")
V2_SECTIONS = tuple(V2_SECTION_MODELS)
SECTIONS = PAPER_SECTIONS + V2_SECTIONS


class Config(_Frozen):
    """All priors of the generator. ``Config()`` is the paper preset."""

    name: str = Field(default="paper", description="Preset this config started from", max_length=64)
    schema_: SchemaPriors = Field(default_factory=SchemaPriors, alias="schema")
    graphs: GraphPriors = Field(default_factory=GraphPriors)
    links: LinkPriors = Field(default_factory=LinkPriors)
    scm: ScmPriors = Field(default_factory=ScmPriors)
    postprocess: PostprocessPriors = Field(default_factory=PostprocessPriors)
    design: Literal["paper", "v2"] = Field(
        default="paper", description="Design space generate() samples: the paper's priors or the authors' v2")
    v2_schema: V2SchemaPriors = Field(default=_V2_DEFAULTS["v2_schema"])
    v2_keys: V2KeysPriors = Field(default=_V2_DEFAULTS["v2_keys"])
    v2_links: V2LinksPriors = Field(default=_V2_DEFAULTS["v2_links"])
    v2_crossings: V2CrossingsPriors = Field(default=_V2_DEFAULTS["v2_crossings"])
    v2_mechanisms: V2MechanismsPriors = Field(default=_V2_DEFAULTS["v2_mechanisms"])
    v2_columns: V2ColumnsPriors = Field(default=_V2_DEFAULTS["v2_columns"])
    v2_time: V2TimePriors = Field(default=_V2_DEFAULTS["v2_time"])
    v2_warping: V2WarpingPriors = Field(default=_V2_DEFAULTS["v2_warping"])

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError.from_validation(err) from None
        if any(getattr(self, s) is not _V2_DEFAULTS[s] and getattr(self, s) != _V2_DEFAULTS[s] for s in V2_SECTIONS):
            v2_priors(self)  # the v2 dataclasses' own checks (e.g. val_share + test_share < 1), named by field

    @property
    def schema(self) -> SchemaPriors:  # noqa: D401 - reads like a field
        return self.schema_

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """JSON-like dict. A paper config leaves out ``design`` and every v2 section still at its
        default (so its JSON is byte for byte what it was before the v2 design existed); a v2
        config has every section. Either leaves out the paper + v2 mix fields (:data:`MIX_FIELDS`)
        while they are at their default. ``full=True``: every section and field, always."""
        data = self.model_dump(mode="json", by_alias=True)
        if full:
            return data
        for section, names in MIX_FIELDS.items():  # added after the JSON was fixed: only when moved
            values = getattr(self, section)
            for name in names:
                if getattr(values, name) == type(values).model_fields[name].default:
                    del data[section][name]
        if self.design != "paper":
            return data
        del data["design"]
        for section in V2_SECTIONS:
            if getattr(self, section) == _V2_DEFAULTS[section]:
                del data[section]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected a JSON object, got {type(data).__name__}")
        return cls(**data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Config:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError("config", f"not valid JSON ({err.msg} at line {err.lineno})") from None
        if isinstance(data, dict) and "config" in data and "seed" in data:
            data = data["config"]  # the ZIP's config.json wraps the config with its seed
        return cls.from_dict(data)

    def digest(self, length: int = 8) -> str:
        """Short stable hash of the config, for names of files and folders."""
        return hashlib.sha256(self.to_json(indent=None).encode()).hexdigest()[:length]

    # --- editing -------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        if path in ("name", "design"):
            return getattr(self, path)
        section, field = _split_path(path)
        return getattr(self.schema_ if section == "schema" else getattr(self, section), field)

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with dotted-path changes: ``cfg.replace(**{"schema.num_tables": (3, 5)})``.

        ``name`` and ``design`` are set by their names: ``cfg.replace(design="v2")``."""
        data = self.to_dict()  # a section it leaves out is at its default
        for path, value in changes.items():
            if path in ("name", "design"):
                data[path] = value
                continue
            section, field = _split_path(path)
            if section not in data:
                data[section] = getattr(self, section).model_dump(mode="json")
            if isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            data[section][field] = value
        return Config.from_dict(data)

    # --- presets -------------------------------------------------------------------------
    @classmethod
    def preset_names(cls) -> list[str]:
        return list(PRESETS)

    @classmethod
    def preset(cls, name: str) -> Config:
        if name not in PRESETS:
            raise ConfigError("preset", f"unknown preset {name!r}; available: {list(PRESETS)}")
        cached = _PRESET_CACHE.get(name)
        if cached is None:  # a Config is frozen, so one instance per preset serves every caller
            description, changes = PRESETS[name]
            cached = _PRESET_CACHE[name] = Config().replace(name=name, **changes)
        return cached

    @classmethod
    def preset_description(cls, name: str) -> str:
        return PRESETS[name][0]


_PRESET_CACHE: dict[str, Config] = {}  # preset name -> its Config, built on first use


def mixed_v2_paths(link_models, v2_nullable_fks: bool) -> list[str]:
    """The v2 knobs (dotted paths) a paper-design config reads through the paper + v2 mix:
    every ``v2_links`` field when ``link_models`` holds "v2", and the ``v2_keys`` nullable knobs
    when ``v2_nullable_fks`` is on; empty with the mix off (the paper reads no v2 knob)."""
    on = {"links.link_models": "v2" in tuple(link_models), "links.v2_nullable_fks": bool(v2_nullable_fks)}
    paths: list[str] = []
    for mix_field, reads in MIX_READS.items():
        if on[mix_field]:
            for path in reads:
                section, field = path.split(".")
                paths += [f"{section}.{f}" for f in V2_SECTION_MODELS[section].model_fields] if field == "*" else [path]
    return paths


def _split_path(path: str) -> tuple[str, str]:
    parts = path.split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ConfigError(path, f"unknown config field; use 'section.field' with section in {list(SECTIONS)}")
    section_cls = SECTION_MODELS[parts[0]]
    if parts[1] not in section_cls.model_fields:
        raise ConfigError(path, f"unknown field; {parts[0]} has {list(section_cls.model_fields)}")
    return parts[0], parts[1]


SECTION_MODELS: dict[str, type[_Section]] = {
    "schema": SchemaPriors,
    "graphs": GraphPriors,
    "links": LinkPriors,
    "scm": ScmPriors,
    "postprocess": PostprocessPriors,
    **V2_SECTION_MODELS,
}
SECTION_DESIGN: dict[str, str] = {s: ("v2" if s in V2_SECTIONS else "paper") for s in SECTIONS}


class PriorSpec(BaseModel):
    """Description of one knob, for building widgets and CLI flags.

    Kinds: int_range | float_range (``scale`` "linear" = uniform, "log" = log-uniform; the scale
    belongs to the field), choices (a tuple of ``options``), weights (``options`` -> non-negative
    weight, at least one positive; 0 = option off), prob (a probability in ``bounds`` [0, 1]),
    int | float (in ``bounds``), bool, date. ``design``: the design space the knob belongs to.
    """

    path: str
    section: str
    field: str
    kind: Literal["int_range", "float_range", "choices", "weights", "prob", "int", "float", "bool", "date"]
    label: str
    help: str
    bounds: tuple[float, float] | None = None
    options: tuple[Any, ...] | None = None
    scale: Literal["linear", "log"] = "linear"
    design: Literal["paper", "v2"] = "paper"


def prior_specs(design: str | None = "paper") -> list[PriorSpec]:
    """Every knob of a design space ("paper", the default, or "v2"; None: both, paper first),
    section by section, in declaration order."""
    if design is not None and design not in DESIGNS:
        raise ConfigError("design", f"unknown design {design!r}; allowed: {list(DESIGNS)}")
    specs = []
    for section, model in SECTION_MODELS.items():
        if design is not None and SECTION_DESIGN[section] != design:
            continue
        for field, info in model.model_fields.items():
            extra = info.json_schema_extra or {}
            specs.append(PriorSpec(
                path=f"{section}.{field}", section=section, field=field, kind=extra["kind"],
                label=extra.get("label", field), help=info.description or "",
                bounds=tuple(extra["bounds"]) if "bounds" in extra else None,
                options=tuple(extra["options"]) if "options" in extra else None,
                scale=extra.get("scale", "linear"), design=SECTION_DESIGN[section],
            ))
    return specs


# --- the v2 design: config sections -> the v2 dataclasses -------------------------------------
def v2_sections(cfg: Config) -> dict[str, dict[str, Any]]:
    """The ``v2_*`` sections of ``cfg`` as JSON-like values."""
    return {s: getattr(cfg, s).model_dump(mode="json") for s in V2_SECTIONS}


def v2_priors(cfg: Config):
    """``(SchemaPrior, TablePrior)`` of the config's v2 sections; ``Config.preset("v2")`` gives
    exactly ``(SchemaPrior(), TablePrior())``. A check of the dataclasses raises ConfigError
    naming the config field (e.g. "v2_time.test_share")."""
    from plurel_core.v2.schema_prior import SchemaPriorError
    from plurel_core.v2.table_prior import PriorError

    try:
        return v2_knobs.priors_from_sections(v2_sections(cfg))
    except (SchemaPriorError, PriorError) as err:
        prior = "schema" if isinstance(err, SchemaPriorError) else "table"
        raise ConfigError(v2_knobs.source_path(prior, err.field), str(err).split(": ", 1)[-1]) from None


def v2_warp(cfg: Config) -> tuple[float, float] | None:
    """The kappa range of the per-table warp (``TablePrior.warp(rng, kappa)``), or None when the
    config turns warping off (every table then samples the plain TablePrior)."""
    w = cfg.v2_warping
    return (float(w.kappa.lo), float(w.kappa.hi)) if w.warp else None


def v2_config(schema_prior=None, table_prior=None, *, warp: bool = True, kappa: tuple[float, float] | None = None,
              name: str = "v2") -> Config:
    """The v2 config whose :func:`v2_priors` are ``schema_prior`` / ``table_prior`` (defaults:
    the authors' ``SchemaPrior()`` / ``TablePrior()``); the inverse of :func:`v2_priors`.
    Raises ConfigError naming the field a prior's value cannot be held by (e.g. a layout outside
    the catalog of ``v2_schema.table_layouts``)."""
    from plurel_core.v2.ranges import KAPPA
    from plurel_core.v2.schema_prior import SchemaPrior, SchemaPriorError
    from plurel_core.v2.table_prior import PriorError, TablePrior

    sp = SchemaPrior() if schema_prior is None else schema_prior
    tp = TablePrior() if table_prior is None else table_prior
    try:
        sections = v2_knobs.sections_from_priors(sp, tp)
    except (SchemaPriorError, PriorError) as err:
        prior = "schema" if isinstance(err, SchemaPriorError) else "table"
        raise ConfigError(v2_knobs.source_path(prior, err.field), str(err).split(": ", 1)[-1]) from None
    lo, hi = KAPPA if kappa is None else kappa
    sections["v2_warping"] = {"warp": bool(warp), "kappa": {"lo": float(lo), "hi": float(hi)}}
    return Config(name=name, design="v2", **sections)


PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("The priors of the PluRel paper (arXiv 2602.04029): 3-20 tables, 500-5000 rows per table.", {}),
    "demo": (
        "A small database for teaching: 3-6 tables of a few hundred rows, few columns.",
        {
            "schema.num_tables": (3, 6),
            "schema.entity_rows": (100, 200),
            "schema.activity_rows": (200, 400),
            "schema.feature_columns": (3, 8),
        },
    ),
    "chain": (
        "Long foreign-key chains (extension layout Chain): each table refers to the one before it.",
        {
            "schema.num_tables": (8, 15),
            "schema.table_layouts": ("Chain",),
            "schema.entity_rows": (300, 600),
            "schema.activity_rows": (1000, 2000),
            "schema.feature_columns": (3, 12),
        },
    ),
    "hub": (
        "One hub entity table referenced by many activity tables (extension layout Hub), "
        "with heavy-tailed Zipf parent popularity.",
        {
            "schema.num_tables": (5, 12),
            "schema.table_layouts": ("Hub",),
            "schema.entity_rows": (500, 1000),
            "schema.activity_rows": (2000, 5000),
            "schema.feature_columns": (3, 12),
            "links.popularity_laws": ("zipf",),
            "links.popularity_alpha": (1.0, 1.5),
            "links.hsbm_levels": (1, 2),
        },
    ),
    "v2": (
        "The authors' later design space (PLUREL_V2_SPEC.md): 2-20 tables, static tables of 500-1000 "
        "and event tables of 10k-30k rows, nullable, duplicate and self-referencing keys, random or "
        "HSBM links, eight edge families, crossings between tables, calendars and per-table warping.",
        {"design": "v2"},
    ),
}
