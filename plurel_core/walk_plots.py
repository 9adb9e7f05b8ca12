"""Plotly figures of the walkthrough steps (:mod:`plurel_core.walkthrough`), pure functions.

:func:`figures` returns the figures of any step, so the page only draws them. Figures are plain
plotly JSON (no remote resource): the app works offline. The look is the one of
:mod:`plurel_core.plots`.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from plurel_core import stats
from plurel_core.plots import (
    ACCENT_COLOR,
    ACTIVITY_COLOR,
    CATEGORICAL_COLOR,
    ENTITY_COLOR,
    FONT,
    LATENT_COLOR,
    NUMERICAL_COLOR,
    PALETTE,
    TEMPLATE,
)
from plurel_core.walkthrough import (
    BlocksStep,
    LinkStep,
    PostStep,
    SchemaStep,
    ScmStep,
    Step,
)
from plurel_core.walkthrough_v2 import (
    SHOWN_SLOTS,
    CrossingStep,
    CutoffStep,
    TimeStep,
    V2NodeStep,
    argmax_codes,
)

DONE_COLOR = "#495057"
PENDING_COLOR = "#dee2e6"
EDGE_COLOR = "#adb5bd"


def _style(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.0, xanchor="left", font=dict(size=16)),
                      font=FONT, colorway=PALETTE, margin=dict(l=50, r=20, t=90, b=50), height=height)
    return fig


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color=DONE_COLOR))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, 220)


def _arrows(fig: go.Figure, pos: dict, edges: list, color: str, width: float, row=None, col=None,
            px: tuple[float, float] = (100.0, 100.0), bow_long: bool = True) -> None:
    """Edges parent -> child with an arrowhead at 80% of their length. An edge that skips a
    generation bows upward (unless ``bow_long`` is False), so it does not hide behind the nodes in
    between; ``px`` is the approximate size of one data unit in pixels (x, y), for the arrowheads' angles."""
    if not edges:
        return
    xs, ys, hx, hy, angles = [], [], [], [], []
    t = np.linspace(0.0, 1.0, 21)
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        bow = 0.0 if abs(x1 - x0) <= 1 or not bow_long else 0.3 + 0.2 * (abs(x1 - x0) - 1)
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 + bow
        px_, py_ = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1, (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1
        xs += [*px_.tolist(), None]
        ys += [*py_.tolist(), None]
        hx.append(px_[16])
        hy.append(py_[16])
        dx, dy = (px_[17] - px_[15]) * px[0], (py_[17] - py_[15]) * px[1]
        angles.append(math.degrees(math.atan2(dx, dy)))
    kw = {} if row is None else dict(row=row, col=col)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=width), hoverinfo="skip",
                             showlegend=False), **kw)
    fig.add_trace(go.Scatter(x=hx, y=hy, mode="markers", hoverinfo="skip", showlegend=False,
                             marker=dict(symbol="arrow", angle=angles, size=11, color=color)), **kw)


def _bow_top(pos: dict, edges) -> float:
    """Highest y an edge reaches (bowed edges rise above their ends)."""
    top = max([p[1] for p in pos.values()] or [0.0])
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        if abs(x1 - x0) > 1:
            top = max(top, (y0 + y1) / 2.0 + (0.3 + 0.2 * (abs(x1 - x0) - 1)) / 2.0)
    return top


def _ranges(pos: dict, edges=()) -> tuple[list[float], list[float]]:
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    return [min(xs) - 0.5, max(xs) + 0.5], [min(ys) - 0.7, max(_bow_top(pos, edges), max(ys)) + 0.7]


def _pixels(xr: list[float], yr: list[float], width: float, height: float) -> tuple[float, float]:
    return width / max(xr[1] - xr[0], 1e-9), height / max(yr[1] - yr[0], 1e-9)


# --- stage 1 -----------------------------------------------------------------------------------
def schema_figure(step: SchemaStep) -> go.Figure:
    """The schema DAG with the tables made so far; new ones highlighted, or coloured by kind."""
    g = step.graph
    pos = stats.generation_positions(g, generation_attr="generation")
    shown = set(step.shown)
    fig = go.Figure()
    old_edges = [(a, b) for a, b in g.edges if a in shown and b in shown and b not in step.new]
    new_edges = [(a, b) for a, b in g.edges if b in step.new]
    xr, yr = _ranges(pos, g.edges)
    px = _pixels(xr, yr, 800.0, 300.0)
    _arrows(fig, pos, old_edges, EDGE_COLOR, 1.5, px=px)
    _arrows(fig, pos, new_edges, ACCENT_COLOR, 2.5, px=px)
    if step.kinds_shown:
        groups = [(step.labels[0], [n for n in step.shown if g.nodes[n]["kind"] != "activity"], ENTITY_COLOR),
                  (step.labels[1], [n for n in step.shown if g.nodes[n]["kind"] == "activity"], ACTIVITY_COLOR)]
    else:
        groups = [("made in earlier generations", [n for n in step.shown if n not in step.new], DONE_COLOR),
                  (f"generation {step.generation}", list(step.new), ACCENT_COLOR)]
    for label, nodes, color in groups:
        if not nodes:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", name=label,
            text=[(f"{n}<br>{g.nodes[n]['rows']} rows" if step.kinds_shown else n)
                  + (" ↺" if n in step.self_trees else "") for n in nodes],
            textposition="top center", marker=dict(size=26, color=color, line=dict(width=1, color="#212529"),
                                                   symbol=["square" if g.nodes[n]["kind"] == "activity" else "circle"
                                                           for n in nodes]),
            hovertext=[f"{n}: {g.nodes[n]['kind']}, {g.nodes[n]['rows']} rows, generation {g.nodes[n]['generation']}"
                       for n in nodes], hoverinfo="text"))
    fig.update_xaxes(range=xr, dtick=1, showgrid=False, zeroline=False, title_text="topological generation")
    fig.update_yaxes(range=yr, showgrid=False, zeroline=False, showticklabels=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.18))
    title = (f"Schema DAG: {step.labels[0]}s and {step.labels[1]}s" if step.kinds_shown
             else f"Schema DAG after generation {step.generation} ({len(shown)} of {g.number_of_nodes()} tables)")
    return _style(fig, title, 460)


# --- stage 2 -----------------------------------------------------------------------------------
def _side_positions(blocks: np.ndarray, gap: float = 1.2) -> np.ndarray:
    """y of each row (top to bottom by row index), with a gap between consecutive blocks."""
    blocks = np.asarray(blocks)
    if len(blocks) == 0:
        return np.zeros(0)
    breaks = np.concatenate([[0], np.cumsum(blocks[1:] != blocks[:-1])])
    return -(np.arange(len(blocks)) + gap * breaks)


def _side(fig: go.Figure, x: float, y: np.ndarray, blocks: np.ndarray, label: str, row: int, col: int) -> None:
    colors = [PALETTE[int(b) % len(PALETTE)] for b in blocks]
    fig.add_trace(go.Scatter(x=np.full(len(y), x), y=y, mode="markers", name=label, showlegend=False,
                             marker=dict(size=9, color=colors, line=dict(width=0.5, color="#212529")),
                             hovertext=[f"{label} row {i} · block {int(b)}" for i, b in enumerate(blocks)],
                             hoverinfo="text"), row=row, col=col)


def _bipartite_axes(fig: go.Figure, parent: str, child: str, row: int, col: int) -> None:
    fig.update_xaxes(range=[-0.35, 1.35], tickvals=[0, 1], ticktext=[f"parent rows<br>{parent}",
                                                                     f"child rows<br>{child}"],
                     showgrid=False, zeroline=False, row=row, col=col)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, row=row, col=col)


def blocks_figure(step: BlocksStep) -> go.Figure:
    """Parent and child rows as two columns of dots, grouped and coloured by block at the level,
    and the level's block matrix."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12,
                        subplot_titles=(f"rows by block at level {step.level + 1}",
                                        f"block matrix M_{step.level + 1}"))
    yp, yc = _side_positions(step.parent_block), _side_positions(step.child_block)
    _side(fig, 0.0, yp, step.parent_block, step.parent, 1, 1)
    _side(fig, 1.0, yc, step.child_block, step.child, 1, 1)
    _bipartite_axes(fig, step.parent, step.child, 1, 1)
    m = step.matrix
    fig.add_trace(go.Heatmap(z=m, x=[f"child {j}" for j in range(m.shape[1])],
                             y=[f"parent {i}" for i in range(m.shape[0])], colorscale="Blues", showscale=False,
                             text=[[f"{v:.3g}" for v in r] for r in m], texttemplate="%{text}",
                             hovertemplate="parent cluster %{y}, child cluster %{x}: %{z:.4f}<extra></extra>"),
                  row=1, col=2)
    fig.update_yaxes(autorange="reversed", title_text="parent cluster", row=1, col=2)
    fig.update_xaxes(title_text="child cluster", row=1, col=2)
    rows = max(len(yp), len(yc))
    return _style(fig, f"{step.fk}: HSBM level {step.level + 1}", max(420, 14 * rows + 160))


def links_figure(step: LinkStep) -> go.Figure:
    """One line per child row to its parent row (rows grouped by block), and children per parent."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12,
                        subplot_titles=(f"each child's parent (colour: block at level {step.level + 1})"
                                        if step.model == "hsbm" else f"each child's parent ({step.model} link)",
                                        "children per parent"))
    yp, yc = _side_positions(step.parent_block), _side_positions(step.child_block)
    for b in np.unique(step.child_block):
        rows = np.nonzero((step.child_block == b) & (step.parent_index >= 0))[0]
        xs, ys = [], []
        for r in rows:
            xs += [1.0, 0.0, None]
            ys += [yc[r], yp[step.parent_index[r]], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False, opacity=0.55,
                                 line=dict(width=1.2, color=PALETTE[int(b) % len(PALETTE)])), row=1, col=1)
    _side(fig, 0.0, yp, step.parent_block, step.parent, 1, 1)
    _side(fig, 1.0, yc, step.child_block, step.child, 1, 1)
    nulls = np.flatnonzero(step.parent_index < 0)
    marks = [(1.0, yc[nulls], "null reference", [f"{step.child} row {int(r)}: null" for r in nulls]),
             (0.0, yp[np.asarray(step.inactive, dtype=np.int64)], "inactive parent (weight 0)",
              [f"{step.parent} row {int(r)}: inactive" for r in step.inactive])]
    for x, ys, label, hover in marks:
        if len(ys):
            fig.add_trace(go.Scatter(x=np.full(len(ys), x), y=ys, mode="markers", name=label, hovertext=hover,
                                     hoverinfo="text", marker=dict(symbol="x-thin-open", size=13, color=ACCENT_COLOR,
                                                                   line=dict(width=2, color=ACCENT_COLOR))),
                          row=1, col=1)
    _bipartite_axes(fig, step.parent, step.child, 1, 1)
    hist = np.bincount(step.children_per_parent)
    fig.add_trace(go.Bar(x=np.arange(len(hist)), y=hist, marker_color=NUMERICAL_COLOR, showlegend=False,
                         hovertemplate="%{y} parents with %{x} children<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="children of a parent row", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text="parent rows", row=1, col=2)
    rows = max(len(yp), len(yc))
    fig.update_layout(legend=dict(orientation="h", y=-0.12))
    null = f" ({len(nulls)} null)" if len(nulls) else ""
    return _style(fig, f"{step.fk}: one foreign-key value per child row{null}", max(420, 14 * rows + 160))


# --- stage 3 -----------------------------------------------------------------------------------
def _node_text(d: dict, n: int) -> str:
    """A node's label: its column (or "node n") in the paper design, its name and columns in v2."""
    if "name" not in d:
        return d.get("column") or f"node {n}"
    cols = [c for c in d.get("columns") or [] if c != d["name"]]
    return d["name"] + (f"<br>{', '.join(cols)}" if cols else "")


def _scm_graph(fig: go.Figure, step: ScmStep, row: int, col: int) -> None:
    g: nx.DiGraph = step.graph
    pos = stats.generation_positions(g)
    done = set(step.done)
    current = step.node
    into = [(p, current) for p in g.predecessors(current)] if current is not None else []
    xr, yr = _ranges(pos, g.edges)
    px = _pixels(xr, yr, 800.0 * (1.0 if current is None else 0.6), 330.0)
    _arrows(fig, pos, [e for e in g.edges if e not in into], EDGE_COLOR, 1.2, row, col, px)
    _arrows(fig, pos, into, ACCENT_COLOR, 2.5, row, col, px)
    evaluated = set(step.order)
    overview = current is None

    def color(n):
        d = g.nodes[n]
        if n not in evaluated:
            return "#f1f3f5"
        if not overview and n not in done and n != current:
            return PENDING_COLOR
        if d.get("role") == "column":
            return CATEGORICAL_COLOR if d.get("type") == "categorical" else NUMERICAL_COLOR
        return LATENT_COLOR

    nodes = list(g.nodes)
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", showlegend=False,
        text=[_node_text(g.nodes[n], n) for n in nodes], textposition="top center",
        textfont=dict(size=11),
        marker=dict(size=[30 if n == current else 20 for n in nodes], color=[color(n) for n in nodes],
                    symbol=["circle" if g.nodes[n].get("role") == "column" else "square" for n in nodes],
                    line=dict(width=[4 if n == current else 1 for n in nodes],
                              color=[ACCENT_COLOR if n == current else "#343a40" for n in nodes])),
        hovertext=[f"node {n} · {g.nodes[n].get('role')} · {g.nodes[n].get('type')}"
                   + ("" if n in evaluated else " · not evaluated: feeds no column") for n in nodes],
        hoverinfo="text"), row=row, col=col)
    fig.update_xaxes(range=xr, dtick=1, showgrid=False, zeroline=False, title_text="topological generation",
                     row=row, col=col)
    fig.update_yaxes(range=yr, showgrid=False, zeroline=False, showticklabels=False, row=row, col=col)


def scm_figure(step: ScmStep) -> go.Figure:
    """The SCM graph (evaluated nodes coloured, the current one ringed, its input edges red) and,
    for a node step, the histogram of the node's values."""
    if step.node is None:
        fig = make_subplots(rows=1, cols=1)
        _scm_graph(fig, step, 1, 1)
        fig.add_annotation(text="circle: column node (blue numerical, green categorical) · square: latent · "
                                "pale: not evaluated (feeds no column)", x=0, y=-0.16, xref="paper", yref="paper",
                           showarrow=False, xanchor="left", font=dict(size=11, color=DONE_COLOR))
        return _style(fig, f"SCM of {step.table}: {step.graph.number_of_nodes()} nodes, "
                           f"{step.graph.number_of_edges()} edges", 480)
    d = step.graph.nodes[step.node]
    name = d.get("column") or f"latent node {step.node}"
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                        subplot_titles=(f"evaluated: {len(step.done) + 1} of {len(step.order)} nodes",
                                        f"values of {name} ({len(step.values)} rows)"))
    _scm_graph(fig, step, 1, 1)
    values = np.asarray(step.values)
    if step.categorical:
        k = int(d.get("num_categories") or (values.max() + 1 if len(values) else 1))
        counts = np.bincount(values.astype(np.int64), minlength=k)
        fig.add_trace(go.Bar(x=np.arange(len(counts)), y=counts, marker_color=CATEGORICAL_COLOR, showlegend=False,
                             hovertemplate="label %{x}: %{y} rows<extra></extra>"), row=1, col=2)
        fig.update_xaxes(title_text="label", dtick=1, row=1, col=2)
    else:
        fig.add_trace(go.Histogram(x=values.astype(np.float64), nbinsx=15, marker_color=NUMERICAL_COLOR,
                                   showlegend=False), row=1, col=2)
        fig.update_xaxes(title_text="value", row=1, col=2)
    fig.update_yaxes(title_text="rows", row=1, col=2)
    return _style(fig, f"SCM of {step.table}: {name}", 480)


def components_figure(step: ScmStep) -> go.Figure:
    """Trend, cycle and AR(1) noise of a ts source, and the signal (their mean) the node takes."""
    comps = step.components or {}
    names = [k for k in ("trend", "cycle", "noise", "signal") if k in comps]
    titles = ({"trend": "trend s·t^α, t = row / (n - 1)", "cycle": "cycle a·sin(2πPt + φ)",
               "noise": "AR(1) noise (slot 0)", "signal": "value = trend + cycle + noise (+ crossings), slot 0"}
              if isinstance(step, V2NodeStep) else
              {"trend": "trend s_T·(t/n)^a + lo (capped at hi)", "cycle": "cycle s_C·sin(π t / f) (clipped)",
               "noise": "AR(1) noise (clipped)", "signal": "signal = (trend + cycle + noise) / 3"})
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[titles[k] for k in names])
    colors = {"trend": PALETTE[0], "cycle": PALETTE[2], "noise": LATENT_COLOR, "signal": PALETTE[1]}
    for i, name in enumerate(names, start=1):
        fig.add_trace(go.Scatter(y=np.asarray(comps[name], dtype=np.float64), mode="lines+markers", name=name,
                                 marker=dict(size=4), line=dict(width=1.5, color=colors[name]), showlegend=False),
                      row=i, col=1)
    fig.update_xaxes(title_text="row index t", row=len(names), col=1)
    label = (step.label if isinstance(step, V2NodeStep)
             else step.graph.nodes[step.node].get("column") or f"latent node {step.node}")
    return _style(fig, f"Time-series source {label}: its parts", 130 * len(names) + 110)


# --- post-processing -----------------------------------------------------------------------------
def transform_figure(step: PostStep) -> go.Figure:
    if not step.columns:
        return _empty("Transforms", "no numerical column in this toy database")
    fig = make_subplots(rows=1, cols=len(step.columns), horizontal_spacing=0.08,
                        subplot_titles=[f"{c.column}: {c.detail}" for c in step.columns])
    for i, c in enumerate(step.columns, start=1):
        before = np.asarray(c.before, dtype=np.float64)
        keep = ~np.isnan(c.after)
        fig.add_trace(go.Scatter(x=before[keep], y=c.after[keep], mode="markers", showlegend=False,
                                 marker=dict(size=7, color=NUMERICAL_COLOR),
                                 hovertemplate="SCM %{x:.4g} → table %{y:.4g}<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text="SCM node value", row=1, col=i)
    fig.update_yaxes(title_text="value in the table", row=1, col=1)
    return _style(fig, "Numerical columns before and after their transform", 380)


def _missing_heatmap(step: PostStep, x_title: str) -> tuple[go.Figure, int]:
    """Rows x columns of a post-processing step, missing cells in red; and their count."""
    cols = list(step.missing)
    z = np.stack([step.missing[c] for c in cols], axis=1).astype(np.int64)
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=np.arange(len(z)), colorscale=[[0, "#e9ecef"], [1, ACCENT_COLOR]],
                               zmin=0, zmax=1, showscale=False, xgap=2, ygap=1,
                               hovertemplate="row %{y}, %{x}: %{z}<extra>1 = missing</extra>"))
    fig.update_yaxes(autorange="reversed", title_text="row")
    fig.update_xaxes(title_text=x_title)
    return fig, int(z.sum())


def missing_figure(step: PostStep) -> go.Figure:
    if not step.missing:
        return _empty(f"{step.table}: missing cells", "no numerical column: no cell is set to missing")
    fig, missing = _missing_heatmap(step, "numerical column")
    return _style(fig, f"{step.table}: missing cells (red), {missing} in all", 420)


def binarize_figure(step: PostStep) -> go.Figure:
    if not step.columns:
        return _empty("Binarization", "no categorical column left in this toy database")
    fig = make_subplots(rows=1, cols=len(step.columns), horizontal_spacing=0.08,
                        subplot_titles=[f"{c.column}: {c.detail}" for c in step.columns])
    legend: set[str] = set()
    for i, c in enumerate(step.columns, start=1):
        after = np.asarray(c.after).astype(np.int64)
        before = np.asarray(c.before)
        if before.dtype.kind in "iu":  # labels: rows per label, coloured by the value kept
            for value in np.unique(after):
                pick = after == value
                labels, counts = np.unique(before[pick], return_counts=True)
                shown = str(bool(value)) if np.asarray(c.after).dtype == bool else str(value)
                fig.add_trace(go.Bar(x=labels, y=counts, name=f"in the table: {shown}", showlegend=shown not in legend,
                                     marker_color=PALETTE[int(value) % len(PALETTE)], legendgroup=shown),
                              row=1, col=i)
                legend.add(shown)
            fig.update_xaxes(title_text="SCM label", dtick=1, row=1, col=i)
            fig.update_yaxes(title_text="rows", row=1, col=i)
        else:  # lazy mode: the float value the classes were cut from
            jitter = ((np.arange(len(after)) % 7) - 3) * 0.03
            fig.add_trace(go.Scatter(x=before.astype(np.float64), y=after + jitter, mode="markers",
                                     showlegend=False, marker=dict(size=7, color=CATEGORICAL_COLOR)), row=1, col=i)
            fig.update_xaxes(title_text="SCM node value (lazy)", row=1, col=i)
            fig.update_yaxes(title_text="value in the table", row=1, col=i)
    fig.update_layout(barmode="stack", legend=dict(orientation="h", y=-0.25))
    return _style(fig, "Categorical columns before and after binarization", 400)


# --- v2 ------------------------------------------------------------------------------------------
CROSSING_COLORS = {"aggregate": ACTIVITY_COLOR, "gather": NUMERICAL_COLOR, "self_tree": CATEGORICAL_COLOR}
CROSSING_LABELS = {"aggregate": "aggregate (child → parent)", "gather": "gather (parent → child)",
                   "self_tree": "self-tree gather"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def dependency_positions(graph: nx.DiGraph) -> tuple[dict, dict[str, float]]:
    """Positions of the nodes of :func:`plurel_core.walkthrough_v2.dependency_graph`: each table's
    node graph laid out by generation in its own band, bands left to right in table order; and
    the x centre of each table's band."""
    tables: dict[str, list] = {}
    for n, d in graph.nodes(data=True):
        tables.setdefault(d["table"], []).append(n)
    pos, centres, offset = {}, {}, 0.0
    for table, nodes in tables.items():
        local = graph.subgraph(nodes).copy()
        local.remove_edges_from([(a, b) for a, b, k in graph.subgraph(nodes).edges(data="kind") if k != "local"])
        inner = stats.generation_positions(local)
        width = max((p[0] for p in inner.values()), default=0.0)
        for n, (x, y) in inner.items():
            pos[n] = (offset + x, y)
        centres[table] = offset + width / 2.0
        offset += width + 1.6
    return pos, centres


def crossing_figure(step: CrossingStep) -> go.Figure:
    """Every table's nodes in their own band, local edges grey, this pass's crossing edges in its
    colour (earlier passes thinner) and the tainted nodes ringed."""
    g = step.graph
    pos, centres = dependency_positions(g)
    fig = go.Figure()
    xr, yr = _ranges(pos)
    px = _pixels(xr, yr, 900.0, 380.0)
    local = [(a, b) for a, b, k in g.edges(data="kind") if k == "local"]
    _arrows(fig, pos, local, EDGE_COLOR, 1.0, px=px)

    label_of = {(d["table"], d["node"]): n for n, d in g.nodes(data=True)}

    def edges(crossings):
        return [(label_of[c["source_table"], c["source"]], label_of[c["reader_table"], c["reader"]]) for c in crossings]

    for kind in CROSSING_COLORS:
        before = [c for c in step.earlier if c["kind"] == kind]
        if before:
            _arrows(fig, pos, edges(before), CROSSING_COLORS[kind], 1.2, px=px, bow_long=False)
    if step.crossings:
        _arrows(fig, pos, edges(step.crossings), CROSSING_COLORS[step.kind], 2.6, px=px, bow_long=False)
    readers = {e[1] for e in edges(step.crossings)}
    tainted = set(step.tainted)
    nodes = list(g.nodes)

    def color(n):
        d = g.nodes[n]
        if d["role"] == "column":
            return CATEGORICAL_COLOR if d["type"] == "categorical" else NUMERICAL_COLOR
        return LATENT_COLOR

    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", showlegend=False,
        text=[g.nodes[n]["name"] for n in nodes], textposition="top center", textfont=dict(size=10),
        marker=dict(size=[22 if n in readers else 16 for n in nodes], color=[color(n) for n in nodes],
                    symbol=["circle" if g.nodes[n]["role"] == "column" else "square" for n in nodes],
                    line=dict(width=[3 if n in tainted else 1 for n in nodes],
                              color=[ACCENT_COLOR if n in tainted else "#343a40" for n in nodes])),
        hovertext=[n + (" · tainted" if n in tainted else "") for n in nodes], hoverinfo="text"))
    for kind in CROSSING_COLORS:  # legend entries
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=CROSSING_LABELS[kind],
                                 line=dict(color=CROSSING_COLORS[kind], width=2.6 if kind == step.kind else 1.2)))
    for table, x in centres.items():
        fig.add_annotation(text=f"<b>{table}</b>", x=x, y=yr[1], showarrow=False, yanchor="bottom",
                           font=dict(size=12, color=DONE_COLOR))
    fig.update_xaxes(range=xr, showgrid=False, zeroline=False, showticklabels=False)
    fig.update_yaxes(range=[yr[0], yr[1] + 0.5], showgrid=False, zeroline=False, showticklabels=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.08))
    label = CROSSING_LABELS[step.kind]
    return _style(fig, f"Crossings: {len(step.crossings)} {label} edge(s), {len(tainted)} tainted node(s)", 520)


def v2_node_figure(step: V2NodeStep) -> go.Figure:
    """The table's node graph (the current node ringed, its local inputs red) and the node's
    values: slots of a numeric node, the classes of a one-hot node, or the event times."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                        subplot_titles=(f"{step.table}: evaluated {len(step.done) + 1} of {len(step.order)} nodes",
                                        f"values of {step.label} ({len(step.values)} rows, width {step.dim})"))
    _scm_graph(fig, step, 1, 1)
    values = np.asarray(step.values)
    if step.kind == "time":
        fig.add_trace(go.Histogram(x=values.astype("datetime64[ns]"), nbinsx=20, marker_color=ACTIVITY_COLOR,
                                   showlegend=False), row=1, col=2)
        fig.update_xaxes(title_text="event time", row=1, col=2)
    elif step.categorical:
        codes = argmax_codes(values)
        counts = np.bincount(codes[codes >= 0], minlength=step.dim)
        fig.add_trace(go.Bar(x=[f"c{j}" for j in range(len(counts))], y=counts, marker_color=CATEGORICAL_COLOR,
                             showlegend=False, hovertemplate="class %{x}: %{y} rows<extra></extra>"), row=1, col=2)
        fig.update_xaxes(title_text="class", row=1, col=2)
    else:
        slots = min(step.dim, SHOWN_SLOTS)
        for j in range(slots):
            fig.add_trace(go.Histogram(x=values[:, j], nbinsx=15, name=f"slot {j}", opacity=0.6,
                                       marker_color=PALETTE[j % len(PALETTE)], showlegend=step.dim > 1),
                          row=1, col=2)
        fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=-0.18))
        more = f" (first {slots} of {step.dim} slots)" if step.dim > slots else ""
        fig.update_xaxes(title_text="value" + more, row=1, col=2)
    fig.update_yaxes(title_text="rows", row=1, col=2)
    return _style(fig, f"{step.label}: a {step.kind} node", 480)


def _column_panels(title: str, step: PostStep, ylabel: str) -> go.Figure:
    """One scatter per column: latent (x) against the table's value (y), missing cells left out."""
    fig = make_subplots(rows=1, cols=len(step.columns), horizontal_spacing=0.08,
                        subplot_titles=[f"{c.column}: {c.detail}" for c in step.columns])
    for i, c in enumerate(step.columns, start=1):
        before = np.asarray(c.before, dtype=np.float64)
        after = np.asarray(c.after, dtype=np.float64)
        keep = ~np.isnan(after) & (after >= 0 if step.kind == "binning" else True)
        if step.kind == "binning" and np.asarray(c.before).dtype.kind in "iu":  # a class: rows per (class, label)
            keep &= before >= 0
            pairs, counts = np.unique(np.stack([before[keep], after[keep]], 1), axis=0, return_counts=True)
            fig.add_trace(go.Scatter(x=pairs[:, 0] if len(pairs) else [], y=pairs[:, 1] if len(pairs) else [],
                                     mode="markers", showlegend=False, text=counts,
                                     marker=dict(size=8 + 2 * np.sqrt(counts), color=CATEGORICAL_COLOR),
                                     hovertemplate="class %{x} → label %{y}: %{text} rows<extra></extra>"),
                          row=1, col=i)
            fig.update_xaxes(title_text="node class", dtick=1, row=1, col=i)
        else:
            fig.add_trace(go.Scatter(x=before[keep], y=after[keep], mode="markers", showlegend=False,
                                     marker=dict(size=7, color=NUMERICAL_COLOR),
                                     hovertemplate="latent %{x:.4g} → %{y:.4g}<extra></extra>"), row=1, col=i)
            fig.update_xaxes(title_text="latent slot", row=1, col=i)
    fig.update_yaxes(title_text=ylabel, row=1, col=1)
    return _style(fig, title, 380)


def marginal_figure(step: PostStep) -> go.Figure:
    if not step.columns:
        return _empty("Marginals", "no numeric column in this toy database")
    return _column_panels("Numeric columns: latent slot against the column (rank mapping)", step, "value in the table")


def bins_figure(step: PostStep) -> go.Figure:
    if not step.columns:
        return _empty("Bins and classes", "no binned or categorical column in this toy database")
    return _column_panels("Binned and categorical columns: latent or class against the label", step,
                          "label code in the table")


def v2_missing_figure(step: PostStep) -> go.Figure:
    """Missing cells of a table's columns (red), with the rows an indicator fires on outlined."""
    if not step.missing:
        return _empty(f"{step.table}: missing cells", "this table has no feature column")
    fig, missing = _missing_heatmap(step, "column")
    for c, fired in step.indicators.items():
        rows = np.flatnonzero(fired)
        fig.add_trace(go.Scatter(x=[c] * len(rows), y=rows, mode="markers", name=f"indicator of {c} fires",
                                 showlegend=True,
                                 marker=dict(symbol="circle-open", size=10, color="#212529", line=dict(width=1.5))))
    fig.update_layout(legend=dict(orientation="h", y=-0.18))
    return _style(fig, f"{step.table}: missing cells (red), {missing} in all", 420)


def time_figure(step: TimeStep) -> go.Figure:
    """Rows per weekday and per hour, with the counts the calendar's weights expect."""
    seconds = np.asarray(step.times, dtype="datetime64[s]").astype(np.int64)
    days = seconds // 86_400
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    hour = (seconds - days * 86_400) // 3_600
    n = len(seconds)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], horizontal_spacing=0.08,
                        subplot_titles=("rows per weekday", "rows per hour of the day"))
    for col, (values, weights, labels) in enumerate(
            ((weekday, step.weekday_weights, list(WEEKDAYS)), (hour, step.hour_weights, list(range(24)))), start=1):
        counts = np.bincount(values, minlength=len(weights))
        w = np.asarray(weights, dtype=np.float64)
        fig.add_trace(go.Bar(x=labels, y=counts, marker_color=ACTIVITY_COLOR, showlegend=False,
                             hovertemplate="%{x}: %{y} rows<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=labels, y=n * w / w.sum(), mode="lines+markers", name="expected by the calendar",
                                 showlegend=col == 1, line=dict(color="#212529", width=1.5)), row=1, col=col)
    fig.update_yaxes(title_text="rows", row=1, col=1)
    fig.update_xaxes(title_text="hour", dtick=2, row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return _style(fig, f"{step.table}: {n} event times, {step.calendar} calendar", 400)


def cutoff_figure(step: CutoffStep) -> go.Figure:
    """The pooled event times per table, and the validation and test cut-offs."""
    fig = go.Figure()
    for i, (table, times) in enumerate(step.times.items()):
        fig.add_trace(go.Histogram(x=np.asarray(times, dtype="datetime64[ns]"), name=table, nbinsx=30,
                                   marker_color=PALETTE[i % len(PALETTE)]))
    for stamp, label in ((step.val_timestamp, "validation cut-off"), (step.test_timestamp, "test cut-off")):
        x = stamp.to_datetime64()
        fig.add_trace(go.Scatter(x=[x, x], y=[0, 1], yaxis="y2", mode="lines", name=label,
                                 line=dict(color=ACCENT_COLOR, width=2, dash="dash" if label[0] == "t" else "solid")))
    fig.update_layout(barmode="stack", yaxis2=dict(overlaying="y", range=[0, 1], visible=False),
                      legend=dict(orientation="h", y=-0.2))
    fig.update_xaxes(title_text="event time")
    fig.update_yaxes(title_text="rows")
    return _style(fig, "Pooled event times and the cut-offs", 400)


POST_FIGURES = {"transform": transform_figure, "missing": missing_figure, "binarize": binarize_figure,
                "marginal": marginal_figure, "binning": bins_figure, "v2_missing": v2_missing_figure}


def figures(step: Step) -> list[go.Figure]:
    """The figures of a step, in the order the page shows them."""
    if isinstance(step, SchemaStep):
        return [schema_figure(step)]
    if isinstance(step, BlocksStep):
        return [blocks_figure(step)]
    if isinstance(step, LinkStep):
        return [links_figure(step)]
    if isinstance(step, CrossingStep):
        return [crossing_figure(step)]
    if isinstance(step, V2NodeStep):
        return [v2_node_figure(step)] + ([components_figure(step)] if step.components else [])
    if isinstance(step, ScmStep):
        return [scm_figure(step)] + ([components_figure(step)] if step.components else [])
    if isinstance(step, PostStep):
        return [POST_FIGURES[step.kind](step)]
    if isinstance(step, TimeStep):
        return [time_figure(step)]
    if isinstance(step, CutoffStep):
        return [cutoff_figure(step)]
    return [_empty(step.title, step.caption.split(". ")[-1])]
