"""Plotly figures of learnability results (pure functions of the DataFrame
:func:`plurel_core.learnability.learnability` returns), in the look of :mod:`plurel_core.plots`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from plurel_core.plots import ACCENT_COLOR, PALETTE, _style

METRIC_LABELS = {"r2": "R²", "auroc": "AUROC", "balanced_accuracy": "balanced acc."}
ROW_COLOR, PARENT_COLOR = PALETTE[0], PALETTE[1]
Y_FLOOR = -0.5  # R² below this is drawn at the floor (the hover keeps the real value)


def _label(row) -> str:
    return f"{row['column']} · {METRIC_LABELS.get(row['metric'], row['metric'])}"


def learnability_bars(df: pd.DataFrame, table: str | None = None) -> go.Figure:
    """Per feature column: (a) row only and (b) with parents side by side, the baseline marked.

    ``df`` holds the rows of one table (or is filtered to ``table``). Scores share one axis: R²
    for numerical columns, AUROC or balanced accuracy for the others (named under each bar pair).
    """
    d = df if table is None or "table" not in df else df[df["table"] == table]
    name = table if table is not None else (str(d["table"].iloc[0]) if "table" in d and len(d) else "table")
    labels = [_label(r) for _, r in d.iterrows()]
    fig = go.Figure()
    hover = "%{x}<br>%{customdata:.3f}<extra>%{fullData.name}</extra>"
    for col, title, color in (("row_only", "(a) row only", ROW_COLOR),
                              ("with_parents", "(b) with parents", PARENT_COLOR)):
        vals = d[col].to_numpy(dtype=np.float64)
        fig.add_bar(x=labels, y=np.maximum(vals, Y_FLOOR), name=title, marker_color=color,
                    customdata=vals, hovertemplate=hover)
    base = d["baseline"].to_numpy(dtype=np.float64)
    fig.add_scatter(x=labels, y=np.maximum(base, Y_FLOOR), mode="markers", name="baseline (mean / majority)",
                    customdata=base, hovertemplate=hover,
                    marker=dict(symbol="line-ew-open", size=28, color=ACCENT_COLOR, line=dict(width=3)))
    fig.update_layout(barmode="group", bargap=0.25, legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1,
                                                                   xanchor="right"))
    low = np.nanmin(np.concatenate([d["row_only"], d["with_parents"], base, [0.0]]).astype(np.float64))
    fig.update_yaxes(range=[max(low, Y_FLOOR) - 0.05, 1.05], zeroline=True)
    return _style(fig, f"Learnability of {name}", x="feature column · metric", y="score on the test rows",
                  height=380)


def gain_by_table(df: pd.DataFrame) -> go.Figure:
    """Median gain of (b) over (a) per table (tables with parent features only)."""
    d = df[df["parent_features"] > 0] if "parent_features" in df else df
    gain = (d["with_parents"] - d["row_only"]).groupby(d["table"], sort=False).median().dropna()
    fig = go.Figure()
    fig.add_bar(x=list(gain.index), y=gain.to_numpy(), marker_color=[PARENT_COLOR if g >= 0 else ACCENT_COLOR
                                                                    for g in gain.to_numpy()],
                hovertemplate="%{x}<br>median gain %{y:+.3f}<extra></extra>")
    return _style(fig, "Median gain of (b) with parents over (a) row only, per table", x="table",
                  y="median score gain", height=320, legend=False)
