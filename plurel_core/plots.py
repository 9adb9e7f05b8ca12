"""Plotly figures and the pyvis schema graph, built from a Database (pure functions).

Every figure has a title and labelled axes and shares one look (:data:`TEMPLATE`, colours
below). The schema graph is a self-contained HTML page: vis-network is inlined and no remote
URL is left in it, so the app works offline.
"""

from __future__ import annotations

import html as _html
import json
import math
import re

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from plurel_core import key_views, stats
from plurel_core import mechanism_views as mv

TEMPLATE = "plotly_white"
ENTITY_COLOR = "#4c6ef5"
ACTIVITY_COLOR = "#f08c00"
NUMERICAL_COLOR = "#4c6ef5"
CATEGORICAL_COLOR = "#2f9e44"
LATENT_COLOR = "#adb5bd"
ACCENT_COLOR = "#e03131"
PALETTE = ["#4c6ef5", "#f08c00", "#2f9e44", "#e03131", "#7048e8", "#1098ad", "#d6336c", "#5c940d"]
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


# JavaScript that reads the drawn schema graph inside its iframe: the database key, the node count
# and the canvas count (null before vis has drawn). The browser test and the app benchmark use it.
SCHEMA_GRAPH_PROBE = (
    "() => { const m = document.getElementById('plurel-db');"
    " if (!m || typeof network === 'undefined' || !network) return null;"
    " return {db: m.dataset.db, nodes: network.body.data.nodes.length,"
    " canvas: document.querySelectorAll('#mynetwork canvas').length}; }"
)


def _style(fig: go.Figure, title: str, x: str | None = None, y: str | None = None,
           height: int | None = None, legend: bool | None = None) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.0, xanchor="left", font=dict(size=16)),
                      font=FONT, colorway=PALETTE, margin=dict(l=60, r=20, t=60, b=55))
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    if height is not None:
        fig.update_layout(height=height)
    if legend is not None:
        fig.update_layout(showlegend=legend)
    return fig


# --- overview ---------------------------------------------------------------------------------
def timings_figure(db) -> go.Figure:
    t = stats.timings(db)
    stages = [k for k in ("stage1", "stage2", "stage3", "postprocess") if k in t]
    labels = {"stage1": "1 · schema", "stage2": "2 · foreign keys", "stage3": "3 · features",
              "postprocess": "post-processing"}
    fig = go.Figure(go.Bar(x=[t[s] for s in stages], y=[labels[s] for s in stages], orientation="h",
                           marker_color=PALETTE[: len(stages)],
                           text=[f"{t[s]:.3f} s" for s in stages], textposition="auto"))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"Seconds per stage (total {t.get('total', sum(t[s] for s in stages)):.2f} s)",
                  "seconds", "stage", height=260)


def timeline_figure(db) -> go.Figure:
    """The database's time span with the validation and test cut-offs, and activity tables."""
    tr = db.trace
    fig = go.Figure()
    spans = [("train", tr.min_timestamp, tr.val_timestamp, "#dbe4ff"),
             ("validation", tr.val_timestamp, tr.test_timestamp, "#fff3bf"),
             ("test", tr.test_timestamp, tr.max_timestamp, "#ffe3e3")]
    for name, a, b, color in spans:
        fig.add_trace(go.Bar(x=[(b - a).total_seconds() * 1000.0], y=["span"], base=[a], orientation="h",
                             name=name, marker_color=color, marker_line_color="#495057", marker_line_width=1,
                             hovertemplate=f"{name}: {a.date()} → {b.date()}<extra></extra>"))
    for name, t in db.tables.items():
        if t.time_col and len(t.df):
            col = t.df[t.time_col]
            fig.add_trace(go.Scatter(x=[col.min(), col.max()], y=[name, name], mode="lines+markers",
                                     line=dict(color=ACTIVITY_COLOR, width=4), showlegend=False,
                                     hovertemplate=f"{name}: %{{x}}<extra></extra>"))
    for label, ts, anchor in (("val", tr.val_timestamp, "right"), ("test", tr.test_timestamp, "left")):
        fig.add_vline(x=ts, line_dash="dash", line_color=ACCENT_COLOR)
        fig.add_annotation(x=ts, y=1.0, yref="paper", yanchor="bottom", text=f" {label} {ts.date()} ",
                           showarrow=False, font=dict(color=ACCENT_COLOR, size=11), xanchor=anchor)
    fig.update_xaxes(type="date")
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=-0.32, yanchor="top", x=0.0,
                                                     xanchor="left"))
    n_rows = 1 + sum(1 for t in db.tables.values() if t.time_col)
    _style(fig, f"Time span {tr.min_timestamp.date()} → {tr.max_timestamp.date()}", "time", "table",
           height=max(280, 170 + 28 * n_rows))
    fig.update_layout(margin=dict(t=90, b=110))
    return fig


# --- schema graph (pyvis) ---------------------------------------------------------------------
def _table_tooltip(db, name: str) -> str:
    """Columns with PK / FK / time marks; for v2 also each key's link model and null share, the
    self-reference trees and the aggregates the table receives (which key, which function)."""
    t = db.tables[name]
    lines = [f"{name} ({t.kind}, {len(t.df):,} rows)"]
    received = key_views.aggregate_lines(db, name)
    if received:
        lines += ["Σ receives aggregates of child columns:"] + [f"  {x}" for x in received]
    for key in key_views.self_keys(db):
        if key.split(".", 1)[0] == name:
            info = key_views.link_info(db, key)
            extra = f" ({int(info['roots']):,} roots, depth {int(info['depth'])})" if "roots" in info else ""
            lines.append(f"⟲ self-reference {key.split('.', 1)[1]}{extra}")
    for col, meta in t.columns.items():
        mark = ""
        if meta.kind == "pkey" or col == t.pkey_col:
            mark = " [PK]"
        elif meta.kind == "fkey" or col in t.fkey_col_to_pkey_table:
            mark = f" [FK → {t.fkey_col_to_pkey_table.get(col, '?')}]"
            if col in t.composite_key:
                mark += " [PK part]"
            info = key_views.link_info(db, f"{name}.{col}")
            if info:
                mark += f" {info.get('model', '?')}, null share {float(info.get('null_share', 0.0)):.1%}"
                mark += "".join(f" [{flag}]" for flag, on in (("duplicate", info.get("duplicate")),
                                                              ("nullable", info.get("nullable"))) if on)
        elif col == t.time_col:
            mark = " [time]"
        detail = meta.kind
        if meta.kind == "categorical" and meta.categories is not None:
            detail += f", {len(meta.categories)} cat."
        if meta.transform and meta.transform != "identity":
            detail += f", {meta.transform}"
        lines.append(f"  {col}{mark}" if mark and meta.kind in ("pkey", "fkey", "time") else f"  {col}: {detail}{mark}")
    if len(lines) > 42:
        lines = lines[:41] + [f"  … {len(lines) - 41} more columns"]
    return "\n".join(lines)


def _strip_remote(html: str) -> str:
    """Remove remote <link>/<script src> tags and neutralise https:// text in inlined code."""
    html = re.sub(r"<link[^>]*href=\"https?://[^>]*>", "", html, flags=re.S)
    html = re.sub(r"<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", "", html, flags=re.S)
    # Remaining https:// strings are licence comments and an error message in vis-network.
    return html.replace("https://", "")


AGGREGATE_COLOR = "#2f9e44"  # ring of a table receiving aggregates of child columns
SELF_KEY_COLOR = "#7048e8"  # loop of a self-reference key


def _legend_extras(db, edges: list[dict], received: dict) -> str:
    """Legend entries for the v2 structure, only for what the graph shows (none for a paper DB)."""
    items = []
    if any(e["self"] for e in edges):
        items.append(f"<span style='color:{SELF_KEY_COLOR};font-size:15px'>⟲</span> self-reference (tree)")
    if any(e["rank"] and not e["self"] for e in edges):
        items.append("⇉ parallel arrows: duplicate keys to one parent")
    if any(key_views.link_info(db, e["key"]).get("nullable") and not e["self"] for e in edges):
        items.append("⇢ dashed: nullable key")
    if received:
        items.append(f"<span style='color:{AGGREGATE_COLOR};font-size:15px'>◯ Σ</span> receives aggregates of "
                     "child columns (hover: key, function)")
    return "".join(f"<br>{x}" if i == 0 else f" &nbsp; {x}" for i, x in enumerate(items))


def schema_graph_html(db, height: int = 560, key: str = "") -> str:
    """The table DAG as a self-contained pyvis page (vis-network inlined, no remote URL).

    Entity tables are blue dots, activity tables orange diamonds, sizes grow with rows, arrows
    point parent -> child, x = topological generation; nodes can be dragged; hover lists columns.
    Every foreign key is its own arrow: duplicate keys (several from a child to one parent) are
    parallel arrows of growing curvature, a self-reference is a loop (one per key), a nullable v2
    key is dashed; tables receiving aggregates of child columns get a green ring and a Σ.
    """
    from pyvis.network import Network

    g = db.trace.schema_graph
    names = [n for n in db.tables if n in g] + [n for n in g if n not in db.tables]
    n_gen = 1 + max((int(d.get("generation", 0)) for _, d in g.nodes(data=True)), default=0)
    spacing_x = max(95.0, min(220.0, 1000.0 / max(1, n_gen - 1)))  # fit ~1000 px before vis zooms out
    pos = stats.generation_positions(g, spacing_x=spacing_x, spacing_y=110.0, generation_attr="generation")
    max_rows = max([len(t.df) for t in db.tables.values()] + [1])
    received = key_views.aggregates_into(db)
    net = Network(height=f"{height}px", width="100%", directed=True, cdn_resources="in_line", bgcolor="#ffffff")
    for name in names:
        t = db.tables.get(name)
        rows = len(t.df) if t is not None else int(g.nodes[name].get("rows", 0))
        kind = t.kind if t is not None else g.nodes[name].get("kind", "entity")
        color = ACTIVITY_COLOR if kind == "activity" else ENTITY_COLOR
        x, y = pos.get(name, (0.0, 0.0))
        extra = {}
        if name in received:  # a green ring and a Σ: child columns are aggregated into this table
            extra = dict(borderWidth=4, aggregated=len(received[name]))
        border = AGGREGATE_COLOR if name in received else "#343a40"
        net.add_node(name, label=f"{name}\n{rows:,} rows" + (" · Σ" if name in received else ""),
                     title=_table_tooltip(db, name) if t is not None else name,
                     color={"background": color, "border": border,
                            "highlight": {"background": color, "border": "#000000"},
                            "hover": {"background": color, "border": "#000000"}},
                     shape="diamond" if kind == "activity" else "dot",
                     size=float(12 + 26 * math.sqrt(rows / max_rows)), x=float(x), y=float(y),
                     font={"size": 14, "face": "system-ui, sans-serif", "color": "#212529"},
                     kind=kind, rows=int(rows), **extra)
    edges = [e for e in key_views.parallel_edges(db) if e["from"] in g and e["to"] in g]
    for e in edges:
        title = key_views.edge_title(db, e["key"])
        k = e["rank"]
        if e["self"]:  # a loop per self-reference key, each a little larger and turned
            net.add_edge(e["from"], e["to"], title=title, color=SELF_KEY_COLOR, arrows="to", width=1.5,
                         selfReference={"size": 16 + 8 * k, "angle": math.pi / 4 + k * math.pi / 3},
                         column=e["column"])
            continue
        opts = {}
        if k:  # a duplicate key: the other side, more curved the further it is from the first key
            opts = dict(smooth={"type": "curvedCCW" if k % 2 else "curvedCW", "roundness": 0.08 + 0.22 * k},
                        column=e["column"], duplicate=True)
        if key_views.link_info(db, e["key"]).get("nullable"):
            opts["dashes"] = True
        net.add_edge(e["from"], e["to"], title=title, color="#868e96", arrows="to", width=1.5,
                     **{"smooth": {"type": "curvedCW", "roundness": 0.08}, **opts})
    options = {
        "physics": {"enabled": False},
        "interaction": {"hover": True, "dragNodes": True, "dragView": True, "zoomView": True,
                        "tooltipDelay": 80, "navigationButtons": False},
        "nodes": {"borderWidth": 1.5},
        "edges": {"arrows": {"to": {"enabled": True, "scaleFactor": 0.8}}},
    }
    net.set_options(json.dumps(options))
    page = net.generate_html(notebook=False)
    page = _strip_remote(page)
    legend = (
        "<div id='plurel-legend' style='position:absolute;top:8px;left:10px;z-index:5;"
        "background:rgba(255,255,255,.92);border:1px solid #dee2e6;border-radius:6px;"
        "padding:6px 10px;font:12px system-ui,sans-serif;color:#343a40'>"
        f"<span style='color:{ENTITY_COLOR};font-size:15px'>●</span> entity table &nbsp; "
        f"<span style='color:{ACTIVITY_COLOR};font-size:15px'>◆</span> activity table &nbsp; "
        "→ parent to child (FK) &nbsp; size ∝ √rows · x = generation"
        + _legend_extras(db, edges, received) + "</div>"
        f"<div id='plurel-db' data-db='{_html.escape(key or db.name)}' data-nodes='{len(names)}' "
        "style='display:none'></div>"
    )
    style = ("<style>body{margin:0;font-family:system-ui,sans-serif} .card{border:0!important}"
             "#mynetwork{border:1px solid #e9ecef!important;border-radius:8px;float:none!important}"
             "div.vis-tooltip{white-space:pre;font:12px ui-monospace,Menlo,Consolas,monospace;"
             "background:#fff;border:1px solid #ced4da;border-radius:6px;padding:6px 8px;"
             "box-shadow:0 2px 8px rgba(0,0,0,.12)}</style>")
    page = page.replace("<body>", "<body><div style='position:relative'>" + legend, 1)
    page = page.replace("</body>", "</div></body>", 1)
    page = page.replace("</head>", style + "</head>", 1)
    return page


# --- foreign keys -------------------------------------------------------------------------------
def _fk_counts(db, key: str | None) -> list[tuple[str, np.ndarray]]:
    keys = stats.fk_keys(db) if key is None else [key]
    return [(stats.fk_label(db, k), stats.fk_degrees(db, k)) for k in keys]


def degree_histogram(db, key: str | None = None) -> go.Figure:
    """Children per parent row: bars for one FK; for all FKs (key=None) the share of parents
    with k children, one line per FK (legend shown for up to 8 FKs, names on hover)."""
    fig = go.Figure()
    series = _fk_counts(db, key)
    if len(series) == 1:
        label, counts = series[0]
        freq = np.bincount(counts) if counts.size else np.zeros(1, dtype=np.int64)
        fig.add_trace(go.Bar(x=np.arange(freq.size), y=freq, name=label, marker_color=NUMERICAL_COLOR,
                             hovertemplate="%{x} children: %{y} parent rows<extra></extra>"))
        fig.update_layout(bargap=0.08)
    else:
        for i, (label, counts) in enumerate(series):
            freq = np.bincount(counts) / max(1, counts.size) if counts.size else np.zeros(1)
            fig.add_trace(go.Scatter(x=np.arange(freq.size), y=freq, mode="lines+markers", name=label,
                                     line=dict(color=PALETTE[i % len(PALETTE)], width=1.5), marker=dict(size=4),
                                     hovertemplate=f"{label}<br>%{{x}} children: %{{y:.1%}} of parents<extra></extra>"))
        fig.update_layout(showlegend=len(series) <= 8, legend=dict(orientation="h", y=-0.25, yanchor="top"))
    title = "Children per parent row" + ("<br><sup>all foreign keys</sup>" if key is None
                                         else f"<br><sup>{series[0][0]}</sup>" if series else "")
    return _style(fig, title, "children per parent row",
                  "share of parent rows" if len(series) > 1 else "parent rows", height=420)


def degree_ccdf(db, key: str | None = None) -> go.Figure:
    """P(children >= k) against k on log-log axes (k >= 1)."""
    fig = go.Figure()
    for i, (label, counts) in enumerate(_fk_counts(db, key)):
        ks, p = stats.ccdf(counts)
        keep = ks >= 1
        fig.add_trace(go.Scatter(x=ks[keep], y=p[keep], mode="lines+markers", name=label,
                                 hovertemplate=f"{label}<br>P(children ≥ %{{x}}) = %{{y:.3g}}<extra></extra>",
                                 line=dict(shape="hv", color=PALETTE[i % len(PALETTE)]), marker=dict(size=4)))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    fig.update_layout(showlegend=1 < len(fig.data) <= 8, legend=dict(orientation="h", y=-0.25, yanchor="top"))
    return _style(fig, "CCDF of children per parent<br><sup>P(children ≥ k), log-log</sup>", "children k",
                  "P(children ≥ k)", height=420)


def block_heatmap(db, key: str) -> go.Figure:
    """Child rows by child block x parent block of the parent they picked."""
    tab = stats.block_crosstab(db, key)
    fig = go.Figure(go.Heatmap(z=tab.to_numpy(), x=[f"P{c}" for c in tab.columns], y=[f"C{r}" for r in tab.index],
                               colorscale="Blues", colorbar=dict(title="child rows"),
                               hovertemplate="child block %{y}, parent block %{x}: %{z} rows<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _style(fig, f"HSBM block structure — {stats.fk_label(db, key)}", "parent block (finest level)",
                  "child block (finest level)", height=420)


# --- columns -----------------------------------------------------------------------------------
def column_figure(db, table: str, col: str) -> go.Figure:
    """Histogram (numerical, time) or bar chart (categorical, text, boolean) of one column."""
    t = db.tables[table]
    meta = t.columns[col]
    s = t.df[col]
    miss = stats.missing_share(s)
    kind = meta.kind
    how = ([f"transform {meta.transform}"] if meta.transform else []) + (["binarized"] if meta.binarized else [])
    lines = [f"{stats.feature_kind(t, col)} ({s.dtype}) · {miss:.1%} missing"] + ([" · ".join(how)] if how else [])
    # one short line each: a third of the page's width holds about 45 characters of subtitle
    title = col + "".join(f"<br><sup style='color:#868e96'>{line}</sup>" for line in lines)
    if kind in ("categorical", "text", "boolean") or (s.dtype == object):
        labels, counts = category_counts(s)
        fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=CATEGORICAL_COLOR))
        fig.update_xaxes(type="category")
        return _style(fig, title, "value", "rows", height=320).update_layout(margin=dict(t=60 + 15 * len(lines)))
    fig = go.Figure(go.Histogram(x=s.dropna(), nbinsx=40, marker_color=NUMERICAL_COLOR))
    return _style(fig, title, "value" if kind != "time" else "time", "rows",
                  height=320).update_layout(margin=dict(t=60 + 15 * len(lines)))


def category_counts(s: pd.Series, limit: int = 30) -> tuple[list[str], np.ndarray]:
    """Labels and row counts of a bar chart: a boolean column as false / true, a categorical in
    its category order with unused categories at 0, other columns by count; at most ``limit``
    bars (the most frequent, kept in that order)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        vc = s.dropna().astype(bool).value_counts().reindex([False, True], fill_value=0)
    elif isinstance(s.dtype, pd.CategoricalDtype):
        vc = s.value_counts(sort=False, dropna=True)
    else:
        vc = s.astype("object").where(s.notna(), None).dropna().astype(str).value_counts()
    if len(vc) > limit:
        keep = set(vc.sort_values(ascending=False, kind="stable").index[:limit])
        vc = vc[[v in keep for v in vc.index]]
    return [str(v).lower() if isinstance(v, (bool, np.bool_)) else str(v) for v in vc.index], vc.to_numpy()


def columns_over_time(db, table: str, cols: list[str] | None = None, max_points: int = 4000) -> go.Figure:
    """Feature columns of an activity table against its timestamp (one panel per column)."""
    t = db.tables[table]
    if t.time_col is None:
        raise ValueError(f"{table} has no time column")
    cols = [c for c in (t.feature_cols if cols is None else cols) if c != t.time_col][:12]
    step = max(1, len(t.df) // max_points)
    df = t.df.iloc[::step]
    n = max(1, len(cols))
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=min(0.04, 0.3 / n),
                        subplot_titles=cols or ["(no feature columns)"])
    num = stats.numeric_frame(t, cols).iloc[::step] if cols else pd.DataFrame()
    for i, col in enumerate(cols, start=1):
        kind = t.columns[col].kind
        fig.add_trace(go.Scattergl(x=df[t.time_col], y=num[col], mode="markers",
                                   marker=dict(size=3, color=CATEGORICAL_COLOR if kind != "numerical" else NUMERICAL_COLOR),
                                   name=col, showlegend=False), row=i, col=1)
        fig.update_yaxes(title_text="code" if kind != "numerical" else "value", row=i, col=1)
    fig.update_xaxes(title_text=t.time_col, row=n, col=1)
    fig.update_annotations(font_size=12)
    _style(fig, f"{table}: columns over {t.time_col}", height=max(300, 130 * n + 80))
    fig.update_xaxes(title_text=t.time_col)
    return fig


def correlation_heatmap(db, table: str) -> go.Figure:
    t = db.tables[table]
    corr = stats.correlation(t)
    fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=list(corr.columns), y=list(corr.index), zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True, colorbar=dict(title="r"),
                               hovertemplate="%{y} × %{x}: r = %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    side = max(360, min(800, 26 * len(corr) + 160))
    return _style(fig, f"{table}: correlation of feature columns (categoricals as codes)", "column", "column",
                  height=side)


def join_figure(db, child: str, fkey_col: str, child_col: str, parent_col: str, max_points: int = 5000) -> go.Figure:
    """A child column against a parent column through the FK join."""
    ct = db.tables[child]
    parent = ct.fkey_col_to_pkey_table[fkey_col]
    j = stats.joined(db, child, fkey_col, child_col, parent_col)
    if len(j) > max_points:
        j = j.iloc[:: max(1, len(j) // max_points)]
    ckind, pkind = ct.columns[child_col].kind, db.tables[parent].columns[parent_col].kind
    cat = ("categorical", "text", "boolean")
    if pkind in cat and ckind not in cat:
        fig = go.Figure(go.Box(x=j["parent"].astype(str), y=j["child"], marker_color=NUMERICAL_COLOR, boxpoints=False))
    elif ckind in cat and pkind not in cat:
        fig = go.Figure(go.Box(y=j["child"].astype(str), x=j["parent"], orientation="h", marker_color=NUMERICAL_COLOR,
                               boxpoints=False))
    elif pkind in cat and ckind in cat:
        tab = pd.crosstab(j["child"].astype(str), j["parent"].astype(str))
        fig = go.Figure(go.Heatmap(z=tab.to_numpy(), x=list(tab.columns), y=list(tab.index), colorscale="Greens",
                                   colorbar=dict(title="rows")))
    else:
        fig = go.Figure(go.Scattergl(x=j["parent"], y=j["child"], mode="markers",
                                     marker=dict(size=4, opacity=0.5, color=NUMERICAL_COLOR)))
    return _style(fig, f"{child}.{child_col} against {parent}.{parent_col} (via {fkey_col})",
                  f"{parent}.{parent_col} (parent)", f"{child}.{child_col} (child)", height=420)


# --- mechanisms (SCM) ----------------------------------------------------------------------------
def _scm_hover(node, d: dict, g: nx.DiGraph, lines: list[str] | None = None) -> str:
    """A node's hover text: the paper node's attrs, or (v2) the description lines of
    :func:`plurel_core.mechanism_views.node_lines`, the first in bold."""
    if lines:
        head, *rest = [_html.escape(x, quote=False) for x in lines]
        return "<br>".join([f"<b>{head}</b>", *rest])
    lines = [f"<b>node {node}</b> ({d.get('role', '?')})"]
    if not d.get("evaluated", True):
        lines.append("not evaluated: no column descends from it")
    if d.get("column"):
        lines.append(f"column: {d['column']}")
    typ = d.get("type", "?")
    if d.get("prop_type") and d.get("prop_type") != d.get("type"):
        typ += f" (propagated as {d['prop_type']})"
    if d.get("num_categories"):
        typ += f", {d['num_categories']} categories"
    lines.append(f"type: {typ}")
    if d.get("is_source") or g.in_degree(node) == 0:
        src = d.get("source") or {}
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in src.items() if k != "law")
        lines.append(f"source: {src.get('law', '?')}" + (f" ({params})" if params else ""))
    else:
        lines.append(f"aggregation: {d.get('aggregation', '?')}")
        if d.get("noise") is not None:
            lines.append(f"noise Beta(α, β) = {_fmt(d['noise'])}")
        acts = d.get("decoder_activations") or []
        if acts:
            lines.append("decoder: " + " → ".join(map(str, acts)))
        lines.append(f"parents: {g.in_degree(node)}")
    return "<br>".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        v = list(v)
        return "[" + ", ".join(_fmt(x) for x in v[:6]) + (", …" if len(v) > 6 else "") + "]"
    return str(v)


SKIPPED_OPACITY = 0.3  # SCM nodes no column descends from (not evaluated)
# v2 SCM graphs: one colour per edge family (legend order = mechanism_views.FAMILIES), crossing kinds
EDGE_FAMILY_COLORS = {"linear": "#1c7ed6", "lookup": "#0ca678", "matrix": "#868e96", "nearest": "#f59f00",
                      "mlp": "#e03131", "tree": "#37b24d", "fourier": "#ae3ec9", "quadratic": "#f76707"}
OTHER_FAMILY_COLOR = "#495057"
CROSSING_STYLE = {"gather": ("#0b7285", "triangle-right"), "aggregate": ("#a61e4d", "star"),
                  "self_tree": ("#364fc7", "diamond")}
INDICATOR_COLOR = "#fab005"
TIME_COLOR = "#495057"


def family_color(family: str) -> str:
    """The colour of a v2 edge family in the SCM graph."""
    return EDGE_FAMILY_COLORS.get(family, OTHER_FAMILY_COLOR)


def _scm_edge_hover(g: nx.DiGraph, a, b, d: dict) -> str:
    head = f"<b>{mv.node_name(g, a)} → {mv.node_name(g, b)}</b> · {d.get('family', '?')}"
    lines = [head, _html.escape(mv.edge_family_label(d), quote=False), f"{d.get('d_in')} → {d.get('d_out')} dims"]
    if d.get("nested"):
        lines.append("nested: the parent's class masks this node's classes")
    return "<br>".join(lines)


def _scm_family_edges(fig: go.Figure, g: nx.DiGraph, pos: dict) -> None:
    """v2 edges: one line trace per family (legend entry) and invisible midpoint markers that
    carry each edge's mechanism in words on hover."""
    by_family: dict[str, list] = {}
    for a, b, d in g.edges(data=True):
        by_family.setdefault(str(d.get("family", "?")), []).append((a, b, d))
    order = [f for f in mv.FAMILIES if f in by_family] + sorted(set(by_family) - set(mv.FAMILIES))
    for family in order:
        edges = by_family[family]
        ex, ey, mx, my = [], [], [], []
        for a, b, _ in edges:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ex += [x0, x1, None]
            ey += [y0, y1, None]
            mx.append(x0 + 0.45 * (x1 - x0))
            my.append(y0 + 0.45 * (y1 - y0))
        color = family_color(family)
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color=color, width=1.6), hoverinfo="skip",
                                 name=f"edge · {family} ({len(edges)})", legendgroup=f"family:{family}"))
        fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", marker=dict(size=12, color=color, opacity=0),
                                 hovertext=[_scm_edge_hover(g, a, b, d) for a, b, d in edges], hoverinfo="text",
                                 showlegend=False, name=f"edge · {family}", legendgroup=f"family:{family}"))


def _scm_crossing_stubs(fig: go.Figure, db, table: str, g: nx.DiGraph, pos: dict) -> None:
    """v2 crossings: a dotted stub into the reader node per crossing, fanned out above its left (where
    local edges rarely run), with a marker (one symbol per kind) whose hover names the source
    table.node, kind, function and family."""
    by_kind: dict[str, list] = {}
    per_reader: dict = {}
    for c in mv.table_crossings(db, table):
        per_reader.setdefault(c["reader"], []).append(c)
    for reader, cs in per_reader.items():
        if reader not in pos:
            continue
        x, y = pos[reader]
        spread = min(0.1, 0.3 / max(len(cs) - 1, 1))
        for i, c in enumerate(cs):
            by_kind.setdefault(c["kind"], []).append((x - 0.3, y + 0.12 + spread * i, x, y, c))
    for kind in [k for k in CROSSING_STYLE if k in by_kind] + sorted(set(by_kind) - set(CROSSING_STYLE)):
        stubs = by_kind[kind]
        color, symbol = CROSSING_STYLE.get(kind, (OTHER_FAMILY_COLOR, "circle"))
        label = mv.CROSSING_KINDS.get(kind, kind)
        ex, ey = [], []
        for x0, y0, x1, y1, _ in stubs:
            ex += [x0, x1, None]
            ey += [y0, y1, None]
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color=color, width=1.2, dash="dot"),
                                 hoverinfo="skip", showlegend=False, legendgroup=f"crossing:{kind}"))
        hover = [f"<b>{label}</b> {_html.escape(mv.source_name(db, c))} → {_html.escape(mv.node_name(g, c['reader']))}"
                 f"<br>via {c['fk']}" + (f"<br>function: {c['how']}" if c.get("how") else "")
                 + f"<br>{_html.escape(mv.edge_family_label(c), quote=False)}<br>{c['d_in']} → {c['d_out']} dims"
                 for *_, c in stubs]
        fig.add_trace(go.Scatter(x=[s[0] for s in stubs], y=[s[1] for s in stubs], mode="markers",
                                 marker=dict(symbol=symbol, size=9, color=color, line=dict(width=0.5, color="#343a40")),
                                 hovertext=hover, hoverinfo="text", name=f"crossing · {label} ({len(stubs)})",
                                 legendgroup=f"crossing:{kind}"))


def scm_graph_figure(db, table: str) -> go.Figure:
    """The SCM graph of a table: columns vs latent nodes, types, sources; x = generation. A v2 graph
    also colours its edges by mechanism family (hover an edge's midpoint for its parameters), names
    each node's reduction, kind and width on hover, and draws crossings as dotted incoming stubs."""
    tr = db.trace.scm[table]
    g = tr.graph
    v2 = tr.mode == "v2"
    pos = stats.generation_positions(g, spacing_x=1.0, spacing_y=1.0)
    fig = go.Figure()
    if v2:
        _scm_family_edges(fig, g, pos)
    else:
        ex, ey = [], []
        for a, b in g.edges:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ex += [x0, x1, None]
            ey += [y0, y1, None]
        fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#ced4da", width=1), hoverinfo="skip",
                                 showlegend=False, name="edges"))
    layers = max(1, len({p[0] for p in pos.values()}))
    tallest = max([sum(1 for p in pos.values() if p[0] == x) for x in {p[0] for p in pos.values()}] + [1])
    xr = (-0.5 if v2 else -0.4, layers - 0.6)
    yr = (-(tallest - 1) / 2 - 0.6, (tallest - 1) / 2 + 0.6)
    if 0 < g.number_of_edges() <= 1500:
        # one marker trace of arrowheads (annotations cost ~30 ms each); angles in screen space
        px_x = 1000.0 / (xr[1] - xr[0])
        px_y = (max(460, min(1000, 22 * tallest + 220)) - 120.0) / (yr[1] - yr[0])
        ax_, ay_, ang = [], [], []
        for a, b in g.edges:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            ax_.append(x0 + 0.8 * (x1 - x0))
            ay_.append(y0 + 0.8 * (y1 - y0))
            ang.append(math.degrees(math.atan2((x1 - x0) * px_x, (y1 - y0) * px_y)))
        arrow = [family_color(str(d.get("family"))) for *_, d in g.edges(data=True)] if v2 else "#868e96"
        fig.add_trace(go.Scatter(x=ax_, y=ay_, mode="markers", hoverinfo="skip", showlegend=False, name="direction",
                                 marker=dict(symbol="arrow", angle=ang, size=8, color=arrow)))
    if v2:
        _scm_crossing_stubs(fig, db, table, g, pos)

    def plain(d: dict) -> bool:  # v2 indicator and time nodes have their own groups
        return d.get("kind") not in ("indicator", "time")

    groups = [
        ("column · numerical", lambda d: plain(d) and d.get("role") == "column" and d.get("type") != "categorical",
         NUMERICAL_COLOR, "circle"),
        ("column · categorical", lambda d: plain(d) and d.get("role") == "column" and d.get("type") == "categorical",
         CATEGORICAL_COLOR, "circle"),
        ("latent · numerical", lambda d: plain(d) and d.get("role") != "column" and d.get("type") != "categorical",
         LATENT_COLOR, "square"),
        ("latent · categorical", lambda d: plain(d) and d.get("role") != "column" and d.get("type") == "categorical",
         "#8ce99a", "square"),
        ("missingness indicator", lambda d: d.get("kind") == "indicator", INDICATOR_COLOR, "diamond"),
        ("time", lambda d: d.get("kind") == "time", TIME_COLOR, "triangle-up"),
    ]
    crowded = g.number_of_nodes() > 40  # then only column nodes are labelled (ids on hover)
    for name, pred, color, symbol in groups:
        nodes = [n for n, d in g.nodes(data=True) if pred(d)]
        if not nodes:
            continue
        src = [bool(g.nodes[n].get("is_source")) or g.in_degree(n) == 0 for n in nodes]
        if v2:
            text = [mv.node_text(g, n) if g.nodes[n].get("columns") or not crowded else "" for n in nodes]
            hover = [_scm_hover(n, g.nodes[n], g, mv.node_lines(db, table, n)) for n in nodes]
        else:
            text = [g.nodes[n].get("column") or ("" if crowded else str(n)) for n in nodes]
            hover = [_scm_hover(n, g.nodes[n], g) for n in nodes]
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text", name=name,
            text=text, textposition="top center",
            textfont=dict(size=10), hovertext=hover, hoverinfo="text",
            marker=dict(size=[17 if s else 13 for s in src], color=color, symbol=symbol,
                        opacity=[1.0 if g.nodes[n].get("evaluated", True) else SKIPPED_OPACITY for n in nodes],
                        line=dict(width=[3 if s else 1 for s in src], color=[ACCENT_COLOR if s else "#343a40" for s in src]))))
    fig.update_xaxes(showgrid=False, zeroline=False, dtick=1, range=list(xr))
    fig.update_yaxes(showgrid=False, zeroline=False, showticklabels=False, range=list(yr))
    height = int(max(460, min(1000, 22 * tallest + 220)))
    if v2:  # up to 17 legend entries: a taller figure with the legend below the axis title
        height += 90
        fig.update_layout(legend=dict(orientation="h", y=-0.2, yanchor="top"), hoverlabel=dict(align="left"))
    else:
        fig.update_layout(legend=dict(orientation="h", y=-0.12), hoverlabel=dict(align="left"))
    n_layers = layers
    skipped = sum(not d.get("evaluated", True) for _, d in g.nodes(data=True))
    crossings = f", {len(mv.table_crossings(db, table))} crossings" if v2 else ""
    title = (f"SCM of {table}: {g.number_of_nodes()} nodes" + (f" ({skipped} faded: not evaluated)" if skipped else "")
             + f", {g.number_of_edges()} edges{crossings} · {tr.layout} · {tr.mode}")
    fig = _style(fig, title, f"topological generation 0..{n_layers - 1} (edges point left → right)",
                 "nodes of the generation", height=height)
    if v2:
        fig.update_layout(margin=dict(b=150))
    return fig


def source_components_figure(db, table: str, node: int) -> go.Figure:
    """Trend, cycle and AR noise of a ts source node, and the signal they make."""
    comps = db.trace.scm[table].source_components[node]
    names = [k for k in ("trend", "cycle", "noise", "signal") if k in comps]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=names)
    colors = {"trend": PALETTE[0], "cycle": PALETTE[2], "noise": LATENT_COLOR, "signal": PALETTE[1]}
    for i, name in enumerate(names, start=1):
        arr = np.asarray(comps[name], dtype=np.float64)
        if arr.ndim > 1:  # categorical ts source: one signal per category
            for c in range(arr.shape[-1] if arr.shape[0] != len(db.tables[table].df) else arr.shape[1]):
                series = arr[:, c] if arr.shape[0] == len(db.tables[table].df) else arr[c]
                fig.add_trace(go.Scattergl(y=series, mode="lines", line=dict(width=1), name=f"{name} {c}",
                                           showlegend=False), row=i, col=1)
        else:
            fig.add_trace(go.Scattergl(y=arr, mode="lines", line=dict(width=1.2, color=colors.get(name)), name=name,
                                       showlegend=False), row=i, col=1)
        fig.update_yaxes(title_text="value", row=i, col=1)
    fig.update_xaxes(title_text="row index t", row=len(names), col=1)
    d = db.trace.scm[table].graph.nodes[node]
    label = d.get("column") or f"latent node {node}"
    _style(fig, f"ts source {label} of {table}: components", height=150 * len(names) + 90)
    fig.update_xaxes(title_text="row index t")
    return fig


# --- compare priors --------------------------------------------------------------------------------
def compare_figure(samples: pd.DataFrame, metrics: list[str] | None = None) -> go.Figure:
    """Distributions of database-level figures per config (column "config"), one panel each."""
    metrics = [m for m in (metrics or [c for c in samples.columns if c not in ("config", "seed")])]
    ncols = 3
    nrows = max(1, math.ceil(len(metrics) / ncols))
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=metrics, vertical_spacing=0.12, horizontal_spacing=0.08)
    configs = list(dict.fromkeys(samples["config"]))
    for j, cfg in enumerate(configs):
        sub = samples[samples["config"] == cfg]
        for i, m in enumerate(metrics):
            r, c = divmod(i, ncols)
            fig.add_trace(go.Box(y=sub[m], name=cfg, marker_color=PALETTE[j % len(PALETTE)], boxpoints="all",
                                 jitter=0.4, pointpos=0, legendgroup=cfg, showlegend=(i == 0),
                                 hovertext=[f"seed {s}" for s in sub["seed"]] if "seed" in sub else None),
                          row=r + 1, col=c + 1)
            fig.update_yaxes(title_text=m, row=r + 1, col=c + 1)
            fig.update_xaxes(title_text="config", row=r + 1, col=c + 1)
    n = samples.groupby("config").size()
    title = "Database-level figures over samples (" + ", ".join(f"{k}: {v} seeds" for k, v in n.items()) + ")"
    fig.update_annotations(font_size=12)
    fig.update_layout(legend=dict(orientation="h", y=1.08, x=1, xanchor="right"))
    return _style(fig, title, height=300 * nrows + 80)



# --- prior explorer and A/B comparison ---------------------------------------------------------------
def _finite(frame: pd.DataFrame, name: str) -> np.ndarray:
    v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64) if name in frame \
        else np.array([])
    return v[np.isfinite(v)]


def _grid(figures: list[str], ncols: int = 3) -> tuple[go.Figure, int]:
    nrows = max(1, math.ceil(len(figures) / ncols))
    specs = [[{} if r * ncols + c < max(1, len(figures)) else None for c in range(ncols)] for r in range(nrows)]
    fig = make_subplots(rows=nrows, cols=ncols, specs=specs, subplot_titles=figures,
                        vertical_spacing=min(0.3 / nrows, 0.12), horizontal_spacing=0.07)
    fig.update_annotations(font_size=12)
    return fig, nrows


def figure_histograms(frame: pd.DataFrame, figures: list[str] | None = None, title: str | None = None) -> go.Figure:
    """One histogram per database-level figure (finite values of ``frame``, one row per database)."""
    figures = list(figures or stats.present_figures(frame))
    fig, nrows = _grid(figures)
    for i, name in enumerate(figures):
        r, c = divmod(i, 3)
        v = _finite(frame, name)
        fig.add_trace(go.Histogram(x=v, nbinsx=min(40, max(5, int(np.sqrt(max(v.size, 1))) * 2)),
                                   marker_color=PALETTE[0], name=name, showlegend=False,
                                   hovertemplate=f"{name} %{{x}}<br>%{{y}} databases<extra></extra>"),
                      row=r + 1, col=c + 1)
        fig.update_xaxes(title_text=name if v.size else f"{name} (no finite value)", row=r + 1, col=c + 1)
        fig.update_yaxes(title_text="databases", row=r + 1, col=c + 1)
    n = len(frame)
    return _style(fig, title or f"Database-level figures over {n} databases", height=250 * nrows + 90, legend=False)


def ecdf_figure(samples: dict[str, pd.DataFrame], figures: list[str] | None = None,
                title: str | None = None) -> go.Figure:
    """Overlaid empirical CDFs per figure, one step line per labelled sample of databases."""
    if figures is None:
        figures = stats.present_figures(*samples.values()) if samples else []
    figures = list(figures)
    fig, nrows = _grid(figures)
    for j, (label, frame) in enumerate(samples.items()):
        color = PALETTE[j % len(PALETTE)]
        for i, name in enumerate(figures):
            r, c = divmod(i, 3)
            v = np.sort(_finite(frame, name))
            y = np.arange(1, v.size + 1) / max(v.size, 1)
            fig.add_trace(go.Scatter(x=v, y=y, mode="lines", line=dict(shape="hv", color=color, width=1.8),
                                     name=label, legendgroup=label, showlegend=(i == 0),
                                     hovertemplate=f"{label}<br>{name} %{{x}}<br>F = %{{y:.2f}}<extra></extra>"),
                          row=r + 1, col=c + 1)
            fig.update_xaxes(title_text=name, row=r + 1, col=c + 1)
            fig.update_yaxes(title_text="share ≤ x", range=[0, 1.02], row=r + 1, col=c + 1)
    sizes = ", ".join(f"{k}: {len(v)}" for k, v in samples.items())
    fig.update_layout(legend=dict(orientation="h", y=1.0 + 40 / (250 * nrows + 90), x=1, xanchor="right"))
    return _style(fig, title or f"Empirical CDF per figure ({sizes} databases)", height=250 * nrows + 110)


def scatter_figure(frame: pd.DataFrame, x: str, y: str, title: str | None = None) -> go.Figure:
    """One point per database (figure ``x`` against ``y``), its seed in ``customdata`` (plain
    lists, so the browser sends ``[seed]`` back with a picked point): a point picked in the app
    opens that seed. Databases with a non-finite value are left out."""
    vx = pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=np.float64)
    vy = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(vx) & np.isfinite(vy)
    seeds = frame["seed"].to_numpy()[ok] if "seed" in frame else np.flatnonzero(ok)
    fig = go.Figure(go.Scatter(x=vx[ok], y=vy[ok], mode="markers", customdata=[[int(s)] for s in seeds],
                               marker=dict(color=PALETTE[0], size=8, opacity=0.75, line=dict(width=0.5, color="white")),
                               hovertemplate=f"seed %{{customdata[0]}}<br>{x} %{{x}}<br>{y} %{{y}}<extra></extra>",
                               name="databases"))
    left = int((~ok).sum())
    note = f" ({left} without both values)" if left else ""
    return _style(fig, title or f"{y} against {x}: {int(ok.sum())} databases{note}", x, y, height=460, legend=False)
