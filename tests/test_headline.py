"""The pure mappings behind the sidebar's headline knobs (pages/_state.py)."""

from __future__ import annotations

import itertools

import pytest

import plurel_core as pc
from pages import _state as aps
from plurel_core.scm.activations import ACTIVATIONS

LAYOUTS = tuple(aps.DENSITY_FIELDS)
SPECS = {s.path: s for s in pc.prior_specs()}


def _paper_values() -> dict:
    cfg = pc.Config()
    return {p: aps._plain(cfg.get(p)) for p in aps.DENSITY_FIELDS.values()}


def _subsets(items):
    for r in range(1, len(items) + 1):
        yield from itertools.combinations(items, r)


# --- density -> fields ------------------------------------------------------------------------
def test_paper_position_gives_the_paper_values():
    assert aps.density_values(aps.DENSITY_PAPER) == _paper_values()
    assert aps.DENSITY_PAPER in aps.DENSITY_POSITIONS


def test_ends_are_the_sparsest_and_densest_values():
    assert aps.density_values(0.0) == {"graphs.er_p": [0.0, 0.0], "graphs.ba_m": 1, "graphs.ws_k": [2],
                                       "graphs.layered_edge_dropout": 1.0}
    dense = aps.density_values(1.0)
    assert dense == {"graphs.er_p": [1.0, 1.0], "graphs.ba_m": int(SPECS["graphs.ba_m"].bounds[1]),
                     "graphs.ws_k": [max(SPECS["graphs.ws_k"].options)], "graphs.layered_edge_dropout": 0.0}
    assert aps.density_values(-3) == aps.density_values(0.0) and aps.density_values(7) == dense


def test_every_field_moves_monotonically_towards_more_edges():
    rows = [aps.density_values(d) for d in aps.DENSITY_POSITIONS]
    for a, b in zip(rows, rows[1:]):
        assert a["graphs.er_p"][0] < b["graphs.er_p"][0] and a["graphs.er_p"][1] <= b["graphs.er_p"][1]
        assert a["graphs.ba_m"] <= b["graphs.ba_m"]
        assert sum(a["graphs.ws_k"]) / len(a["graphs.ws_k"]) <= sum(b["graphs.ws_k"]) / len(b["graphs.ws_k"])
        assert a["graphs.layered_edge_dropout"] > b["graphs.layered_edge_dropout"]
    # the integer and set fields reach every value between their ends
    assert {r["graphs.ba_m"] for r in rows} == set(range(1, 11))
    assert {tuple(r["graphs.ws_k"]) for r in rows} == {(2,), (2, 4), (4,), (4, 6), (6,), (6, 8), (8,)}


def test_every_position_is_a_valid_config_on_the_widgets_steps():
    for d in aps.DENSITY_POSITIONS:
        values = aps.density_values(d)
        cfg = pc.Config().replace(**values)  # validates bounds and options
        assert aps._plain(cfg.get("graphs.ws_k")) == values["graphs.ws_k"]
        for path in ("graphs.er_p", "graphs.layered_edge_dropout"):
            step = aps.float_step(SPECS[path])
            v = values[path]
            for x in v if isinstance(v, list) else [v]:
                assert abs(x / step - round(x / step)) < 1e-6, (d, path, x)
            assert aps.value_fits(SPECS[path], v)[0]


def test_only_the_selected_table_layouts_fields_move():
    assert set(aps.density_values(0.8, ["BarabasiAlbert", "ReverseRandomTree"])) == {"graphs.ba_m"}
    assert set(aps.density_values(0.8, ["Layered", "ErdosRenyi"])) == {"graphs.er_p", "graphs.layered_edge_dropout"}
    assert aps.density_paths(["RandomTree", "ReverseRandomTree", "RandomCauchy", "Chain", "Hub"]) == ()
    assert aps.density_values(0.8, ["RandomTree"]) == {}


# --- fields -> density ------------------------------------------------------------------------
def test_inverse_of_every_position_and_layout_subset():
    for layouts in _subsets(LAYOUTS):
        for d in aps.DENSITY_POSITIONS:
            values = {**_paper_values(), **aps.density_values(d, layouts)}
            reading = aps.density_reading(values, layouts, current=d)
            assert reading.exact and reading.position == d and not reading.disagree, (layouts, d)
            # without the slider's position: a position with exactly the same fields
            blind = aps.density_reading(values, layouts)
            assert blind.exact and aps.density_values(blind.position, layouts) == aps.density_values(d, layouts)
            if {"ErdosRenyi", "Layered"} & set(layouts):  # continuous fields: one position only
                assert blind.position == d


def test_paper_config_reads_as_the_paper_position():
    cfg = pc.Config()
    values = {p: aps._plain(cfg.get(p)) for p in aps.DENSITY_FIELDS.values()}
    reading = aps.density_reading(values, cfg.schema.table_layouts)
    assert reading == aps.DensityReading(aps.DENSITY_PAPER, True, ("graphs.ba_m", "graphs.ws_k"), ())


def test_shared_positions_prefer_the_current_one():
    # BA m = 1 and WS k = {2} hold at every position below 0.25
    values = {**_paper_values(), "graphs.ba_m": 1, "graphs.ws_k": [2]}
    layouts = ("BarabasiAlbert", "WattsStrogatz")
    assert aps.density_reading(values, layouts, current=0.1).position == 0.1
    assert aps.density_reading(values, layouts, current=0.0).position == 0.0
    assert aps.density_reading(values, layouts).position == 0.2  # nearest to the paper's 0.5


def test_fields_set_elsewhere_are_reported():
    values = {**_paper_values(), "graphs.er_p": [0.3, 0.9]}
    reading = aps.density_reading(values, ["ErdosRenyi"])
    assert not reading.exact and reading.position == 0.5 and reading.disagree == ("graphs.er_p",)
    # BA says densest, WS says sparsest: no single position; the report names what differs there
    values = {**_paper_values(), "graphs.ba_m": 10, "graphs.ws_k": [2]}
    reading = aps.density_reading(values, ["BarabasiAlbert", "WattsStrogatz"])
    assert not reading.exact and reading.disagree
    at = aps.density_values(reading.position)
    assert set(reading.disagree) == {p for p in ("graphs.ba_m", "graphs.ws_k") if at[p] != values[p]}
    # a k set off the ladder (k = 2 or 8) reads without error and is reported
    values = {**_paper_values(), "graphs.ws_k": [2, 8]}
    reading = aps.density_reading(values, ["WattsStrogatz"])
    assert not reading.exact and reading.disagree == ("graphs.ws_k",)


def test_no_density_layout_has_no_position():
    reading = aps.density_reading(_paper_values(), ["RandomTree", "Hub"])
    assert reading.position is None and reading.fields == () and not reading.exact


def test_density_summary_names_the_selected_fields():
    values = {**_paper_values(), **aps.density_values(0.8)}
    assert aps.density_summary(values, pc.Config().schema.table_layouts) == "BarabasiAlbert m = 7 · WattsStrogatz k ∈ {6}"
    assert aps.density_summary(values, ["ErdosRenyi", "Layered"]) == \
        "ErdosRenyi p ∈ [0.72, 0.92] · Layered edge dropout 0.04"


# --- activation families ----------------------------------------------------------------------
def test_families_partition_the_29_activations():
    fams = aps.ACTIVATION_FAMILIES
    assert list(fams) == ["ReLU-like", "sigmoid-like", "periodic", "other"]
    assert len(ACTIVATIONS) == 29
    members = [a for m in fams.values() for a in m]
    assert sorted(members) == sorted(ACTIVATIONS) and len(members) == len(set(members))
    assert all(fams.values())
    assert {"relu", "leaky_relu", "gelu", "silu", "softplus"} <= set(fams["ReLU-like"])
    assert {"sigmoid", "tanh", "hardtanh", "softsign"} <= set(fams["sigmoid-like"])
    assert set(fams["periodic"]) == {"sin", "cos", "sine_sum"}
    assert {"identity", "abs", "signed_log1p"} <= set(fams["other"])
    assert all(aps.FAMILY_OF[a] == f for f, m in fams.items() for a in m)


def test_a_family_shows_selected_only_when_complete():
    assert aps.families_of(ACTIVATIONS) == list(aps.ACTIVATION_FAMILIES)
    assert aps.families_of([a for a in ACTIVATIONS if a != "gelu"]) == ["sigmoid-like", "periodic", "other"]
    assert aps.families_of(["sin", "cos"]) == []
    assert aps.families_of([]) == []


def test_toggling_families_maps_to_activations():
    periodic = aps.ACTIVATION_FAMILIES["periodic"]
    out = aps.activations_for_families(["ReLU-like", "sigmoid-like", "other"], ACTIVATIONS)
    assert set(out) == set(ACTIVATIONS) - set(periodic)
    assert list(out) == [a for a in ACTIVATIONS if a in out]  # ACTIVATIONS order
    assert aps.activations_for_families(["periodic"], []) == periodic
    assert aps.activations_for_families([], ACTIVATIONS) == ()


def test_partly_selected_families_keep_their_picks():
    relu = aps.ACTIVATION_FAMILIES["ReLU-like"]
    start = [a for a in relu if a != "gelu"] + ["sin", "identity"]
    out = aps.activations_for_families(["periodic"], start)  # select periodic: ReLU-like picks stay
    assert set(out) == set(start) | set(aps.ACTIVATION_FAMILIES["periodic"])
    out2 = aps.activations_for_families([], out)  # deselect periodic: all three sines go, the rest stays
    assert set(out2) == set(start) - {"sin"}
    assert aps.family_counts(out2) == {"ReLU-like": (10, 11), "sigmoid-like": (0, 8), "periodic": (0, 3),
                                       "other": (1, 7)}


def test_family_round_trip_for_every_subset():
    for start in (ACTIVATIONS, (), ("relu", "sin", "tanh")):
        for fams in itertools.chain([()], _subsets(list(aps.ACTIVATION_FAMILIES))):
            acts = aps.activations_for_families(list(fams), start)
            assert aps.families_of(acts) == list(fams), (start, fams)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown activation families"):
        aps.activations_for_families(["wavy"], ACTIVATIONS)
