"""What the Mechanisms and Columns views say about a table's SCM and column priors: words and tables.

Pure functions of a :class:`~plurel_core.database.Database`'s trace (no plotting, no Streamlit).
A v2 trace (``ScmTrace.mode == "v2"``) holds one mechanism family per edge, one reduction per node,
crossings from other tables' nodes and a prior per column (marginal, binning, missingness); a paper
trace holds MLP encoders and decoders. :func:`node_table` and :func:`edge_table` give each design
its own columns; :func:`crossing_table` and :func:`column_prior_table` are about v2 structure.

    >>> import plurel_core as pc
    >>> db = pc.generate(pc.Config.preset("v2"), 0)
    >>> t = next(iter(db.tables))
    >>> set(edge_table(db, t)["family"]) <= set(FAMILIES)
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from plurel_core import stats
from plurel_core.v2.edges import FAMILY_NAMES

FAMILIES: tuple[str, ...] = FAMILY_NAMES  # the v2 edge families, in registry order (legend order)
CROSSING_KINDS: dict[str, str] = {"gather": "gather", "aggregate": "aggregate", "self_tree": "self-tree gather"}
CROSSING_COLUMNS = ["kind", "FK", "from", "to", "function", "family", "d_in → d_out", "mechanism"]
MAX_LISTED = 6  # crossings / parents listed one by one in a node's description


def is_v2(db, table: str | None = None) -> bool:
    """Whether the SCM trace of ``table`` (default: the first traced table) is a v2 one."""
    scm = db.trace.scm
    if not scm:
        return False
    tr = scm[table] if table is not None else next(iter(scm.values()))
    return tr.mode == "v2"


def _num(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)


def _shares(p: Sequence[float], limit: int = 8) -> str:
    p = [float(x) for x in p]
    return " / ".join(f"{x:.2f}" for x in p[:limit]) + (" / …" if len(p) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else ("es" if word.endswith("s") else "s"))


def _int_columns(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Integer columns with gaps as pandas "Int64" (not floats with NaN)."""
    for c in cols:
        if c in frame:
            frame[c] = pd.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else int(v)
                                 for v in frame[c]], dtype="Int64")
    return frame


# --- edges ---------------------------------------------------------------------------------------
def _linear(p: Mapping) -> str:
    return f"linear({p['transform']}, w={float(p['weight']):.3g})"


def _lookup(p: Mapping) -> str:
    return f"lookup: {_plural(len(p['values']), 'level')}, shares {_shares(p['probabilities'])}"


def _matrix(p: Mapping) -> str:
    if p.get("nested"):
        mask = np.asarray(p["mask"])
        return f"matrix: nested mask, {int(mask.sum())} of {mask.size} (parent class, class) pairs allowed"
    return f"matrix: {p['d_in']} x {p['d_out']} Gaussian weights"


def _nearest(p: Mapping) -> str:
    return f"nearest: one-hot of the nearest of {p['d_out']} centers in {p['d_in']}-d"


def _mlp(p: Mapping) -> str:
    hidden = [int(w) for w in p["widths"][1:-1]]
    acts = list(p["activations"])
    if not hidden:
        return f"mlp: no hidden layer, gain {float(p['gain']):.3g}"
    sizes = f"x {hidden[0]}" if len(set(hidden)) == 1 else "(" + ", ".join(map(str, hidden)) + ")"
    act = acts[0] if len(set(acts)) == 1 else " → ".join(acts)
    return f"mlp: {_plural(len(acts), 'hidden layer')} {sizes}, {act}, gain {float(p['gain']):.3g}"


def _tree(p: Mapping) -> str:
    return f"tree: {_plural(int(p['trees']), 'tree')} depth {int(p['depth'])} (mean of leaves)"


def _fourier(p: Mapping) -> str:
    return f"fourier: {_plural(int(p['features']), 'cosine feature')}, frequency scale {float(p['scale']):.3g}"


def _quadratic(p: Mapping) -> str:
    d = int(p["d_in"]) + 1
    return f"quadratic: {_plural(int(p['d_out']), 'quadratic form')} of [x, 1] ({d} x {d})"


_FAMILY_WORDS = {"linear": _linear, "lookup": _lookup, "matrix": _matrix, "nearest": _nearest, "mlp": _mlp,
                 "tree": _tree, "fourier": _fourier, "quadratic": _quadratic}


def edge_family_label(attrs: Mapping) -> str:
    """An edge's mechanism in words, from the edge attrs of a v2 SCM graph (or a crossing dict, or an
    edge's ``params`` itself): "mlp: 2 hidden layers x 16, relu, gain 0.8", "tree: 3 trees depth 4
    (mean of leaves)", "linear(sin, w=-1.01)". A paper edge gives its encoder MLP and weight; a family
    without words here gives its name and scalar parameters."""
    params = attrs.get("params")
    params = params if isinstance(params, Mapping) else attrs
    family = attrs.get("family") or params.get("family")
    if family is None and "encoder_activations" in attrs:
        acts = " → ".join(map(str, attrs.get("encoder_activations") or [])) or "identity"
        return f"encoder MLP ({acts}), weight {float(attrs.get('weight', float('nan'))):.3g}"
    words = _FAMILY_WORDS.get(str(family))
    if words is not None:
        return words({"d_in": attrs.get("d_in"), "d_out": attrs.get("d_out"), **params})
    scalars = [f"{k}={_num(v)}" for k, v in params.items()
               if k not in ("family", "d_in", "d_out") and isinstance(v, (int, float, str, np.number))]
    return f"{family}: " + ", ".join(scalars) if scalars else str(family)


# --- nodes ---------------------------------------------------------------------------------------
def node_name(g: nx.DiGraph, n) -> str:
    """A node's name in the trace (``n3``, ``m2``, ``time``), else ``node <id>``."""
    return str(g.nodes[n].get("name") or f"node {n}") if n in g else f"node {n}"


def node_text(g: nx.DiGraph, n) -> str:
    """A v2 node's label in the graph: its name and first column (``n0 · col0 +2``), or its name."""
    cols = g.nodes[n].get("columns") or []
    if not cols:
        return node_name(g, n)
    if cols == [node_name(g, n)]:  # the time node
        return cols[0]
    return f"{node_name(g, n)} · {cols[0]}" + (f" +{len(cols) - 1}" if len(cols) > 1 else "")


def source_name(db, c: Mapping) -> str:
    tr = db.trace.scm.get(c["source_table"])
    name = node_name(tr.graph, c["source"]) if tr is not None else f"n{c['source']}"
    return f"{c['source_table']}.{name}"


def crossing_label(db, c: Mapping) -> str:
    """One crossing into a node in words: "aggregate max of t1.n1 via t1.t0_id · tree: 1 tree depth 4"."""
    how = f" {c['how']}" if c.get("how") else ""
    return (f"{CROSSING_KINDS.get(c['kind'], c['kind'])}{how} of {source_name(db, c)} via {c['fk']}"
            f" · {edge_family_label(c)}")


def _source_text(src: Mapping | None) -> str:
    if not src:
        return ""
    law = str(src.get("law", "?"))
    extra = [f"{k}={_num(v)}" for k, v in src.items() if k not in ("law", "bias") and not isinstance(v, (list, dict))]
    return law + (f" ({', '.join(extra)})" if extra else "")


def _nested_parent(g: nx.DiGraph, n) -> Any:
    return next((a for a, _, d in g.in_edges(n, data=True) if d.get("nested")), None)


def node_lines(db, table: str, n) -> list[str]:
    """A v2 node described line by line (the SCM graph's hover): name, kind and width, columns, source,
    reduction over its inputs, noise, nested parent, the columns it masks, its parents and crossings."""
    g = db.trace.scm[table].graph
    d = g.nodes[n]
    dim = f"dim {d.get('dim')}" + (f" (capped from {d['capped_from']})" if d.get("capped_from") else "")
    lines = [f"{node_name(g, n)} (node {n}) · {d.get('kind')}, {dim}"]
    cols = d.get("columns") or []
    if cols:
        lines.append("columns: " + ", ".join(cols))
    elif not d.get("masks"):
        lines.append("latent: no column reads it")
    if d.get("source"):
        lines.append("source: " + _source_text(d["source"]))
    parents = list(g.predecessors(n))
    crossings = d.get("crossings") or []
    if parents or crossings:
        lines.append(f"reduction: {d.get('op')} over {_plural(len(parents) + len(crossings), 'input')}")
    if d.get("noise_law"):
        sd = d.get("noise_sd")
        lines.append(f"noise: {d['noise_law']}" + (f", sd {sd:.3g}" if sd is not None else ""))
    if d.get("bias") is not None:
        lines.append("bias: " + _shares(d["bias"], limit=6).replace(" / ", ", "))
    nested = _nested_parent(g, n)
    if nested is not None:
        lines.append(f"nested in the classes of {node_name(g, nested)}")
    if d.get("masks"):
        lines.append("missingness indicator of " + ", ".join(d["masks"]))
    if d.get("tainted"):
        lines.append("tainted: reads a child aggregate (so no child gathers it)")
    if parents:
        shown = ", ".join(node_name(g, p) for p in parents[:MAX_LISTED])
        lines.append(f"parents: {shown}" + (f" and {len(parents) - MAX_LISTED} more" if len(parents) > MAX_LISTED else ""))
    for c in crossings[:MAX_LISTED]:
        lines.append("crossing: " + crossing_label(db, c))
    if len(crossings) > MAX_LISTED:
        lines.append(f"… and {len(crossings) - MAX_LISTED} more crossings")
    return lines


def node_table(db, table: str) -> pd.DataFrame:
    """One row per SCM node. v2: name, kind, width, columns, reduction, source law, noise law and sd,
    nested parent, local parents, crossings, masked columns; paper: role, column, type, categories,
    source law, aggregation, decoder activations, parents, whether it is evaluated."""
    tr = db.trace.scm[table]
    g = tr.graph
    rows = []
    for n, d in g.nodes(data=True):
        if tr.mode == "v2":
            nested = _nested_parent(g, n)
            rows.append({
                "node": n, "name": node_name(g, n), "kind": d.get("kind"), "dim": d.get("dim"),
                "columns": ", ".join(d.get("columns") or []),
                "reduction": d.get("op") or "", "source law": _source_text(d.get("source")),
                "noise law": d.get("noise_law") or "", "noise sd": d.get("noise_sd"),
                "nested parent": "" if nested is None else node_name(g, nested),
                "parents": g.in_degree(n), "crossings": len(d.get("crossings") or []),
                "masks": ", ".join(d.get("masks") or []), "capped from": d.get("capped_from"),
                "tainted": bool(d.get("tainted")),
            })
        else:
            src = d.get("source") or {}
            rows.append({
                "node": n, "role": d.get("role"), "column": d.get("column") or "", "type": d.get("type"),
                "categories": d.get("num_categories"), "source law": src.get("law", ""),
                "aggregation": "" if d.get("is_source") else d.get("aggregation"),
                "decoder activations": " → ".join(map(str, d.get("decoder_activations") or [])),
                "parents": g.in_degree(n),
                "evaluated": "yes" if d.get("evaluated", True) else "no: no column depends on it"})
    out = pd.DataFrame(rows)
    return _int_columns(out, ["capped from"] if tr.mode == "v2" else [])


def edge_table(db, table: str) -> pd.DataFrame:
    """One row per local SCM edge. v2: from, to, family, widths, nested, the mechanism in words;
    paper: from, to, weight, encoder activations."""
    tr = db.trace.scm[table]
    g = tr.graph
    if tr.mode != "v2":
        return pd.DataFrame([{"from": a, "to": b, "weight": d.get("weight"),
                              "encoder activations": " → ".join(map(str, d.get("encoder_activations") or []))}
                             for a, b, d in g.edges(data=True)], columns=["from", "to", "weight", "encoder activations"])
    rows = [{"from": node_name(g, a), "to": node_name(g, b), "family": d.get("family"),
             "d_in → d_out": f"{d.get('d_in')} → {d.get('d_out')}", "nested": bool(d.get("nested")),
             "mechanism": edge_family_label(d)} for a, b, d in g.edges(data=True)]
    return pd.DataFrame(rows, columns=["from", "to", "family", "d_in → d_out", "nested", "mechanism"])


# --- crossings -----------------------------------------------------------------------------------
_SUMMARY_KEYS = ("kind", "fk", "source_table", "source", "reader_table", "reader", "how", "d_in", "d_out", "family")


def table_crossings(db, table: str) -> list[dict]:
    """The crossings read by ``table``'s nodes, in ``trace.priors["crossings"]`` order, each the
    trace's summary plus its edge ``params`` (from the reader node's attrs)."""
    tr = db.trace.scm.get(table)
    if tr is None or tr.mode != "v2":
        return []
    g = tr.graph
    pending: dict[Any, list[dict]] = {n: list(d.get("crossings") or []) for n, d in g.nodes(data=True)}
    out = []
    for c in db.trace.priors.get("crossings", []):
        if c["reader_table"] != table:
            continue
        queue = pending.get(c["reader"], [])
        k = next((i for i, full in enumerate(queue) if all(full.get(key) == c.get(key) for key in _SUMMARY_KEYS)), None)
        out.append({**c, **(queue.pop(k) if k is not None else {})})
    return out


def crossing_table(db, table: str) -> pd.DataFrame:
    """One row per crossing into ``table``: kind, FK, from (table.node), to (node), function (the
    aggregate's), family, widths and the mechanism in words. Empty (same columns) for a paper trace."""
    tr = db.trace.scm.get(table)
    g = tr.graph if tr is not None else nx.DiGraph()
    rows = [{"kind": CROSSING_KINDS.get(c["kind"], c["kind"]), "FK": c["fk"], "from": source_name(db, c),
             "to": node_name(g, c["reader"]), "function": c.get("how") or "", "family": c["family"],
             "d_in → d_out": f"{c['d_in']} → {c['d_out']}", "mechanism": edge_family_label(c)}
            for c in table_crossings(db, table)]
    return pd.DataFrame(rows, columns=CROSSING_COLUMNS)


# --- columns -------------------------------------------------------------------------------------
def _marginal(cp: Mapping) -> tuple[str, str]:
    kind = cp.get("kind")
    if kind == "binned":
        b = cp.get("binning") or {}
        return "binned", f"{_plural(int(b.get('k', cp.get('k', 0))), 'bin')}, {b.get('method', '?')} edges"
    if kind == "categorical":
        return "categorical node", f"argmax of {_plural(int(cp.get('k', 0)), 'class')}"
    return str(cp.get("marginal", "")), str(cp.get("marginal_law", ""))


def column_prior_table(db, table: str) -> pd.DataFrame:
    """One row per feature column of a v2 table: type, the SCM node (and slot) it reads, the marginal
    (name and law), binning (bins, shares, edges), classes, the missingness kind, the drawn missing
    rate next to the realised NaN share, and for structured missingness the indicator node and the
    node(s) it reads. Raises ValueError for a table without a v2 trace (the paper has no such priors)."""
    if not is_v2(db, table):
        raise ValueError(f"column_prior_table: table {table!r} has no v2 trace (design {db.config.design!r})")
    t = db.tables[table]
    g = db.trace.scm[table].graph
    priors = db.trace.priors["tables"][table]["columns"]
    rows = []
    for col in t.feature_cols:
        cp = priors.get(col, {})
        s = t.df[col]
        node = cp.get("node", t.columns[col].node)
        slot = cp.get("slot")
        marginal, law = _marginal(cp)
        binning = cp.get("binning") or {}
        ind = cp.get("indicator_node")
        rows.append({
            "column": col, "type": stats.feature_kind(t, col),
            "SCM node": (node_name(g, node) if node is not None else "") + (f" · slot {slot}" if slot is not None else ""),
            "marginal": marginal, "marginal law": law,
            "bins": int(binning["k"]) if binning else None,
            "bin shares": _shares(binning["probabilities"]) if binning else "",
            "classes": int(cp["k"]) if cp.get("kind") == "categorical" else None,
            "missingness": cp.get("missing", "none"),
            "missing rate drawn": float(cp.get("missing_rate", 0.0)),
            "missing rate realised": stats.missing_share(s),
            "indicator": f"{node_name(g, ind)} (node {ind})" if ind is not None else "",
            "indicator parents": ", ".join(node_name(g, p) for p in g.predecessors(ind)) if ind in g else "",
            "distinct": int(s.nunique(dropna=True)),
        })
    return _int_columns(pd.DataFrame(rows, columns=[
        "column", "type", "SCM node", "marginal", "marginal law", "bins", "bin shares", "classes", "missingness",
        "missing rate drawn", "missing rate realised", "indicator", "indicator parents", "distinct"]),
        ["bins", "classes"])
