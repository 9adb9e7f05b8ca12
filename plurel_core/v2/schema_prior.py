"""The v2 ``SchemaPrior``: the database-level knobs of PLUREL_V2_SPEC §2 (never warped).

Every field is a :mod:`plurel_core.v2.ranges` prior (a range or a :class:`Choices`) or a fixed
probability. ``SchemaPrior()`` is the authors' default; :data:`KNOB_BOUNDS` gives the values each
knob may take (the config layer builds its widgets from it), and construction validates every
field against it, naming the field. ``to_dict()`` / ``from_dict()`` round-trip through JSON types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from plurel_core.v2.layouts import LayoutSpec, layout_choices_problem
from plurel_core.v2.links import Lomax, decode_law, encode_law
from plurel_core.v2.ranges import (
    Choices,
    IntegersRange,
    LogIntegersRange,
    LogRange,
    Range,
)

DEFAULT_TABLE_LAYOUTS = Choices((
    LayoutSpec.of("BarabasiAlbert", m=2, sink_dropout=0.4),
    LayoutSpec.of("ReverseRandomTree"),
    LayoutSpec.of("RandomTree"),
    LayoutSpec.of("WattsStrogatz", k=2, rewire=0.2),
    LayoutSpec.of("Layered", depth=3, dropout=0.1),
    LayoutSpec.of("ErdosRenyi", p=0.4),
))


class SchemaPriorError(ValueError):
    """A knob of :class:`SchemaPrior` out of its bounds; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class SchemaPrior:
    """Database-level priors of v2 (spec §2); the defaults are the authors' ``SchemaPrior()``."""

    # schema
    table_layouts: Choices = DEFAULT_TABLE_LAYOUTS
    table_count: LogIntegersRange = LogIntegersRange(2, 20)
    static_rows: LogIntegersRange = LogIntegersRange(500, 1000)
    event_rows: LogIntegersRange = LogIntegersRange(10_000, 30_000)
    # keys
    fk_duplicate_prob: float = 0.15
    fk_nullable_prob: float = 0.3
    fk_null_rate: Range = Range(0.01, 0.3)
    self_tree_prob: float = 0.3
    self_tree_roots: Range = Range(0.05, 0.5)
    # links
    link_random_prob: float = 0.2
    hsbm_levels: IntegersRange = IntegersRange(1, 5)
    hsbm_counts: IntegersRange = IntegersRange(1, 3)
    hsbm_within: Choices = Choices((0.9, Range(0.4, 0.95)))
    hsbm_between: Choices = Choices((Range(0.001, 0.002), Lomax(1.0, 0.01)))
    hsbm_cluster_weights: Choices = Choices((None, Lomax(1.5)))
    hsbm_popularity: Choices = Choices((None, Lomax(2.5)))
    hsbm_inactive: Range = Range(0.0, 0.7)
    # crossings
    aggregate_share: float = 0.5
    aggregate_sources: IntegersRange = IntegersRange(1, 2)
    gather_sources: IntegersRange = IntegersRange(0, 3)
    self_tree_gather: IntegersRange = IntegersRange(0, 3)
    # time split
    val_share: float = 0.1
    test_share: float = 0.1

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SchemaPrior:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SchemaPriorError(unknown[0], f"not a SchemaPrior knob; known: {sorted(known)}")
        return cls(**{k: _decode(v) for k, v in d.items()})

    def replace(self, **changes: Any) -> SchemaPrior:
        """A validated copy with some knobs changed."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return SchemaPrior(**d)


# Knob -> (kind, group, bounds). Ranges must lie inside the bounds; probabilities are in them.
KNOB_BOUNDS: dict[str, tuple[str, str, tuple[float, float]]] = {
    "table_layouts": ("layouts", "schema", (0, 0)),
    "table_count": ("int_range", "schema", (1, 60)),
    "static_rows": ("int_range", "schema", (1, 1_000_000)),
    "event_rows": ("int_range", "schema", (1, 10_000_000)),
    "fk_duplicate_prob": ("prob", "keys", (0.0, 1.0)),
    "fk_nullable_prob": ("prob", "keys", (0.0, 1.0)),
    "fk_null_rate": ("float_range", "keys", (0.0, 1.0)),
    "self_tree_prob": ("prob", "keys", (0.0, 1.0)),
    "self_tree_roots": ("float_range", "keys", (0.0, 1.0)),
    "link_random_prob": ("prob", "links", (0.0, 1.0)),
    "hsbm_levels": ("int_range", "links", (1, 6)),
    "hsbm_counts": ("int_range", "links", (1, 4)),
    "hsbm_within": ("laws", "links", (0.0, math.inf)),
    "hsbm_between": ("laws", "links", (0.0, math.inf)),
    "hsbm_cluster_weights": ("optional_lomax", "links", (0.0, math.inf)),
    "hsbm_popularity": ("optional_lomax", "links", (0.0, math.inf)),
    "hsbm_inactive": ("float_range", "links", (0.0, 0.99)),
    "aggregate_share": ("prob", "crossings", (0.0, 1.0)),
    "aggregate_sources": ("int_range", "crossings", (0, 20)),
    "gather_sources": ("int_range", "crossings", (0, 20)),
    "self_tree_gather": ("int_range", "crossings", (0, 20)),
    "val_share": ("share", "time", (0.0, 1.0)),
    "test_share": ("share", "time", (0.0, 1.0)),
}
_INT_RANGES = (IntegersRange, LogIntegersRange)
_FLOAT_RANGES = (Range, LogRange)


def _check_range(name: str, value: Any, kinds: tuple, bounds: tuple[float, float]) -> None:
    if not isinstance(value, kinds):
        raise SchemaPriorError(name, f"expected one of {[k.__name__ for k in kinds]}, got {value!r}")
    lo, hi = bounds
    if not (lo <= value.lo <= value.hi <= hi):
        raise SchemaPriorError(name, f"range ({value.lo}, {value.hi}) must lie within [{lo}, {hi}]")
    if kinds is _INT_RANGES and (value.lo != int(value.lo) or value.hi != int(value.hi)):
        raise SchemaPriorError(name, f"integer range expected, got ({value.lo}, {value.hi})")


def _check_law(name: str, law: Any) -> None:
    if isinstance(law, Lomax):
        return
    if isinstance(law, _FLOAT_RANGES):
        if not law.lo > 0:
            raise SchemaPriorError(name, f"affinity range must be positive, got ({law.lo}, {law.hi})")
        return
    if isinstance(law, (int, float)) and not isinstance(law, bool) and 0 < float(law) < math.inf:
        return
    raise SchemaPriorError(name, f"option {law!r} must be a positive number, a positive Range or a Lomax law")


def validate(prior: SchemaPrior) -> None:
    """Raise :class:`SchemaPriorError` naming the first knob outside :data:`KNOB_BOUNDS`."""
    for name, (kind, _group, bounds) in KNOB_BOUNDS.items():
        value = getattr(prior, name)
        if kind == "int_range":
            _check_range(name, value, _INT_RANGES, bounds)
        elif kind == "float_range":
            _check_range(name, value, _FLOAT_RANGES, bounds)
        elif kind in ("prob", "share"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
                raise SchemaPriorError(name, f"{value!r} must be a number in [{bounds[0]}, {bounds[1]}]")
        elif kind == "layouts":
            if not isinstance(value, Choices):
                raise SchemaPriorError(name, f"expected Choices of LayoutSpec, got {value!r}")
            problem = layout_choices_problem(value.options)
            if problem:
                raise SchemaPriorError(name, problem)
        elif kind == "laws":
            if not isinstance(value, Choices):
                raise SchemaPriorError(name, f"expected Choices of laws, got {value!r}")
            for opt in value.options:
                _check_law(name, opt)
        elif kind == "optional_lomax":
            if not isinstance(value, Choices) or not all(o is None or isinstance(o, Lomax) for o in value.options):
                raise SchemaPriorError(name, f"expected Choices of None / Lomax, got {value!r}")
    for name in ("val_share", "test_share"):
        if not getattr(prior, name) > 0:
            raise SchemaPriorError(name, f"{getattr(prior, name)} must be > 0")
    if not prior.val_share + prior.test_share < 1:  # the sum is blamed on test_share (checked last)
        raise SchemaPriorError("test_share", f"val_share={prior.val_share} + test_share={prior.test_share} "
                                             "must sum to < 1")


def _encode(v: Any) -> Any:
    if isinstance(v, Choices):
        return {"type": "Choices", "options": [_encode(o) for o in v.options], "weights": list(v.weights)}
    if isinstance(v, LayoutSpec):
        return {"type": "Layout", **v.to_dict()}
    return encode_law(v)


def _decode(v: Any) -> Any:
    if isinstance(v, dict) and v.get("type") == "Choices":
        return Choices(tuple(_decode(o) for o in v["options"]), tuple(v.get("weights", ())))
    if isinstance(v, dict) and v.get("type") == "Layout":
        return LayoutSpec.from_dict(v)
    return decode_law(v)
