"""The v2 per-table prior, ``TablePrior``, with the authors' defaults (PLUREL_V2_SPEC §3, §4).

Every field is a :mod:`plurel_core.v2.ranges` prior (a range or a :class:`Choices`) or a fixed
number. Fields are declared in the authors' order (their ``plurel/prior.py``), because
:meth:`TablePrior.warp` warps every range and choice in declaration order, once per table,
before anything of the table is built; fixed probabilities are not warped. The warped prior
then serves every draw of that table, including the crossing edges it receives.

    >>> rng = np.random.default_rng(0)
    >>> p = TablePrior().warp(rng)
    >>> 3 <= p.node_count.sample(rng) <= 16
    True
    >>> TablePrior.from_dict(p.to_dict()).node_count.warp == p.node_count.warp
    True
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from plurel_core.v2.calendar import CALENDAR_NAMES
from plurel_core.v2.columns import BINNINGS, MARGINAL_NAMES, MARGINAL_WEIGHTS
from plurel_core.v2.edges import EDGE_FAMILIES, FAMILY_NAMES, FITS, REDUCTIONS
from plurel_core.v2.layouts import LayoutSpec, layout_choices_problem
from plurel_core.v2.nodes import ROOT_NOISE_NAMES
from plurel_core.v2.ranges import (
    KAPPA,
    Choices,
    IntegersRange,
    LogIntegersRange,
    LogRange,
    Prior,
    Range,
    _RangeBase,
    _Warp,
)

# the node-graph layouts (spec §3 item 2), as the schema layer's LayoutSpec so that
# ``plurel_core.v2.layouts.sample_layout(spec, n, rng)`` draws them
NODE_LAYOUTS = (
    LayoutSpec.of("RandomCauchy", offset=0.0),
    LayoutSpec.of("RandomCauchy", offset=2.0),
    LayoutSpec.of("BarabasiAlbert", m=2, sink_dropout=0.4),  # the authors' BarabasiAlbert(2): dropout .4 by default
    LayoutSpec.of("Layered", depth=3, dropout=0.2),
    LayoutSpec.of("ErdosRenyi", p=0.3),
    LayoutSpec.of("ErdosRenyi", p=0.6),
    LayoutSpec.of("Layered", depth=6, dropout=0.1),
    LayoutSpec.of("RandomTree"),
    LayoutSpec.of("ReverseRandomTree"),
    LayoutSpec.of("WattsStrogatz", k=2, rewire=0.2),  # the authors' WattsStrogatz(2): rewire .2 by default
)
NODE_OPS = ("sum", "product", "max", "min", "logsumexp", "concat")
NODE_OP_WEIGHTS = (6.0, 1.0, 1.0, 1.0, 1.0, 2.0)
AGGREGATE_HOWS = ("count", "sum", "mean", "max", "min")
# UNSURE: the authors keep the aggregate functions on their SchemaPrior, unwarped; we carry them on
# the TablePrior (last field, so the other fields' warps are unchanged) and leave them unwarped.
NOT_WARPED = frozenset({"aggregate_hows"})

# integer ranges and the smallest value each may take; float ranges and their allowed interval
_INT_MIN = {"node_count": 1, "node_width": 1, "node_class_count": 2, "mlp_hidden_width": 1, "mlp_layer_count": 1,
            "tree_count": 1, "tree_depth": 1, "column_count": 0, "column_bin_count": 2}
_FLOAT_BOUNDS = {"node_noise_std": (0.0, np.inf), "key_reader_share": (0.0, 1.0), "series_trend_alpha": (0.0, np.inf),
                 "series_trend_scale": (-np.inf, np.inf), "series_cycle_periods": (0.0, np.inf),
                 "series_cycle_scale": (-np.inf, np.inf), "series_rho": (0.0, 0.999999),
                 "series_noise_std": (0.0, np.inf), "mlp_weight_scale": (0.0, np.inf), "column_missing_rate": (0.0, 0.999999)}
_SHARES = ("node_categorical_share", "node_nested_share", "root_series_share", "column_binned_share",
           "column_missing_share", "column_missing_structured_share")
_CHOICES = {"node_layouts": None, "node_ops": tuple(REDUCTIONS), "edge_families": FAMILY_NAMES,
            "root_noise": ROOT_NOISE_NAMES, "column_marginals": MARGINAL_NAMES, "column_binning": BINNINGS,
            "time_calendars": CALENDAR_NAMES, "aggregate_hows": AGGREGATE_HOWS}
_RANGE_TYPES = {cls.__name__: cls for cls in (Range, LogRange, IntegersRange, LogIntegersRange)}


class PriorError(ValueError):
    """A prior field is invalid; ``field`` names it (e.g. "node_count")."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TablePrior:
    """The prior of one table's SCM and columns (spec §3), before (or after) its warp.

    Nodes: count, layout, width, categorical share, classes, nested share, ops, noise sd.
    Crossings: ``key_reader_share`` (share of the receiving table's nodes reading one key).
    Edges: families (weights), MLP layers / widths / gain, tree count / depth, Fourier features.
    Roots: noise laws, time-series share and its trend / cycle / AR ranges.
    Columns: count, marginals, binned share / bins / edges, missing share / rate / structured share.
    Time: calendars. Aggregates: the functions a summary edge draws from (not warped).
    """

    node_count: Prior = LogIntegersRange(3, 16)
    node_layouts: Choices = Choices(NODE_LAYOUTS)
    node_width: Prior = LogIntegersRange(1, 4)
    node_categorical_share: float = 0.3
    node_class_count: Prior = IntegersRange(2, 10)
    node_nested_share: float = 0.5
    node_ops: Choices = Choices(NODE_OPS, NODE_OP_WEIGHTS)
    node_noise_std: Prior = LogRange(0.001, 0.5)
    key_reader_share: Prior = Range(0.1, 1.0)
    # uniform over the eight families: the authors' default (Choices(FAMILIES), no weights)
    edge_families: Choices = Choices(FAMILY_NAMES)
    root_noise: Choices = Choices(ROOT_NOISE_NAMES)
    root_series_share: float = 0.3
    series_trend_alpha: Prior = Range(0.0, 2.0)
    series_trend_scale: Prior = Range(-1.5, 1.5)
    series_cycle_periods: Prior = LogRange(1.0, 12.0)
    series_cycle_scale: Prior = Range(0.0, 1.0)
    series_rho: Prior = Range(0.0, 0.9)
    series_noise_std: Prior = LogRange(0.1, 1.0)
    mlp_hidden_width: Prior = LogIntegersRange(2, 16)
    mlp_layer_count: Prior = IntegersRange(1, 3)
    mlp_weight_scale: Prior = LogRange(0.1, 3.0)
    tree_count: Prior = LogIntegersRange(1, 8)
    tree_depth: Prior = IntegersRange(1, 4)
    fourier_frequency_count: int = 16
    column_count: Prior = IntegersRange(3, 12)
    column_marginals: Choices = Choices(MARGINAL_NAMES, MARGINAL_WEIGHTS)
    column_binned_share: float = 0.2
    column_bin_count: Prior = IntegersRange(2, 10)
    column_binning: Choices = Choices(BINNINGS)
    column_missing_rate: Prior = Range(0.01, 0.1)
    column_missing_share: float = 0.3
    column_missing_structured_share: float = 0.5
    time_calendars: Choices = Choices(CALENDAR_NAMES)
    aggregate_hows: Choices = Choices(AGGREGATE_HOWS)

    def __post_init__(self) -> None:
        for name, lo in _INT_MIN.items():
            v = getattr(self, name)
            if not isinstance(v, (IntegersRange, LogIntegersRange)):
                raise PriorError(name, f"expected an IntegersRange or LogIntegersRange, got {v!r}")
            if v.lo < lo:
                raise PriorError(name, f"lo={v.lo} must be at least {lo}")
        for name, (lo, hi) in _FLOAT_BOUNDS.items():
            v = getattr(self, name)
            if not isinstance(v, _RangeBase):
                raise PriorError(name, f"expected a range, got {v!r}")
            if v.lo < lo or v.hi > hi:
                raise PriorError(name, f"[{v.lo}, {v.hi}] must lie inside [{lo}, {hi}]")
        for name in _SHARES:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise PriorError(name, f"expected a probability in [0, 1], got {v!r}")
        f = self.fourier_frequency_count
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 1:
            raise PriorError("fourier_frequency_count", f"expected an integer >= 1, got {f!r}")
        for name, allowed in _CHOICES.items():
            v = getattr(self, name)
            if not isinstance(v, Choices):
                raise PriorError(name, f"expected Choices, got {v!r}")
            if allowed is None:  # layouts
                problem = layout_choices_problem(v.options)
                if problem:
                    raise PriorError(name, problem)
                continue
            bad = [o for o in v.options if o not in allowed]
            if bad:
                raise PriorError(name, f"unknown options {bad}; allowed: {list(allowed)}")
        general = [f for f, w in zip(self.edge_families.options, self.edge_families.weights) if f not in FITS and w > 0]
        if not general:
            raise PriorError("edge_families", f"needs a family that fits any widths (one of "
                             f"{[f for f in EDGE_FAMILIES if f not in FITS]}) with a positive weight")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def warped_fields(cls) -> tuple[str, ...]:
        """The fields :meth:`warp` redraws, in order: every range and choice but :data:`NOT_WARPED`."""
        default = cls()
        return tuple(n for n in cls.field_names() if isinstance(getattr(default, n), Prior) and n not in NOT_WARPED)

    def warp(self, rng: np.random.Generator, kappa: tuple[float, float] = KAPPA) -> TablePrior:
        """This prior as one table sees it (spec §4): each range gets a Beta(m kappa, (1 - m) kappa)
        in place of U(0, 1) and each choice's weights are multiplied by Dir(kappa 1), field by field
        in declaration order; fixed numbers and :data:`NOT_WARPED` are kept."""
        changes = {}
        for name in self.field_names():
            v = getattr(self, name)
            if isinstance(v, Prior) and name not in NOT_WARPED:
                changes[name] = v.warped(rng, kappa)
        return replace(self, **changes)

    # --- serialisation: plain JSON-able dicts
    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able data (ranges and choices as tagged dicts, warps included)."""
        return {name: _encode(getattr(self, name)) for name in self.field_names()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TablePrior:
        """The prior from :meth:`to_dict` output; missing fields keep their defaults."""
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise PriorError(unknown[0], f"unknown TablePrior field; known: {sorted(known)}")
        values = {}
        for name, v in data.items():
            try:
                values[name] = _decode(v)
            except (KeyError, TypeError, ValueError) as err:
                raise PriorError(name, f"cannot read {v!r}: {err}") from err
        return cls(**values)


def _encode_option(o: Any) -> Any:
    return o.to_dict() if isinstance(o, LayoutSpec) else o


def _decode_option(o: Any) -> Any:
    if isinstance(o, dict):
        return LayoutSpec.from_dict(o)
    if isinstance(o, list):
        raise TypeError(f"an option is a name or a layout dict, got {o!r}")
    return o


def _encode(v: Any) -> Any:
    if isinstance(v, _RangeBase):
        out = {"type": type(v).__name__, "lo": v.lo, "hi": v.hi}
        if v.warp is not None:
            out["warp"] = {"m": v.warp.m, "kappa": v.warp.kappa}
        return out
    if isinstance(v, Choices):
        return {"type": "Choices", "options": [_encode_option(o) for o in v.options], "weights": list(v.weights)}
    return v.item() if isinstance(v, np.generic) else v


def _decode(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    kind = v["type"]
    if kind == "Choices":
        return Choices(tuple(_decode_option(o) for o in v["options"]), tuple(v.get("weights") or ()))
    if kind not in _RANGE_TYPES:
        raise ValueError(f"unknown prior type {kind!r}; known: {sorted(_RANGE_TYPES)} and 'Choices'")
    warp = v.get("warp")
    w = None if warp is None else _Warp(m=float(warp["m"]), kappa=float(warp["kappa"]))
    return _RANGE_TYPES[kind](v["lo"], v["hi"], w)
