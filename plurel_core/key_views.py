"""Views of the key structure: link models, nulls, duplicate and self keys, aggregates (pure functions).

A v2 database (``trace.priors["design_space"] == "v2"``) records per foreign key how its links were
drawn (``trace.priors["links"][key]``: model random / hsbm / tree, the laws, nulls, duplicate,
self-tree and aggregate flags) and every crossing edge between tables (``trace.priors["crossings"]``).
The functions here turn that trace into the tables, texts and small figures the Schema and Foreign
keys pages show; the schema graph (:func:`plurel_core.plots.schema_graph_html`) reads them for its
loops, parallel arrows and aggregate marks. A paper database has no v2 trace: the structural
functions (self and duplicate keys, parallel edges) work from ``db.foreign_keys`` alone and the
v2-only ones return empty results.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pandas as pd

from plurel_core import stats

CROSSING_KINDS = ("aggregate", "gather", "self_tree")
CROSSING_LABELS = {"aggregate": "aggregate (child → parent)", "gather": "gather (parent → child)",
                   "self_tree": "self-tree gather (tree parent → row)"}
MODEL_WORDS = {"random": "uniform random", "hsbm": "hierarchical SBM", "tree": "self-reference tree",
               "paper_hsbm": "the paper's hierarchical SBM"}


# --- what the trace holds ----------------------------------------------------------------------
def is_v2(db) -> bool:
    """Whether the database comes from the v2 design (its trace has the v2 link and crossing records)."""
    return (db.trace.priors or {}).get("design_space") == "v2"


def link_info(db, key: str) -> dict[str, Any]:
    """The v2 record of one key ("child.column"): model, link laws, nulls, flags. A paper database
    has one only for the keys of a paper + v2 mix (``links.link_models`` / ``links.v2_nullable_fks``:
    model "paper_hsbm", "random" or "hsbm"); else {}."""
    info = dict(((db.trace.priors or {}).get("links") or {}).get(key) or {})
    return info if is_v2(db) or "model" in info else {}


def crossings(db) -> list[dict[str, Any]]:
    """The v2 crossing edges (one per reader node and source); [] for a paper database."""
    return list((db.trace.priors or {}).get("crossings") or []) if is_v2(db) else []


def _key(child: str, col: str) -> str:
    return f"{child}.{col}"


# --- structure from the foreign keys -------------------------------------------------------------
def self_keys(db) -> list[str]:
    """Keys whose child table is its own parent (a self-reference, a tree inside one table)."""
    return [_key(c, col) for c, col, p in db.foreign_keys if c == p]


def duplicate_keys(db) -> list[str]:
    """Keys after the first one from the same child to the same parent (``t0_id2`` beside ``t0_id``)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c, col, p in db.foreign_keys:
        if (c, p) in seen:
            out.append(_key(c, col))
        seen.add((c, p))
    return out


def parallel_edges(db) -> list[dict[str, Any]]:
    """One drawable edge per foreign key: ``from`` (parent), ``to`` (child), ``key``, ``column``,
    ``rank`` (0 for the first key of a (child, parent) pair, 1, 2, ... for its duplicates) and
    ``self`` (from == to). Parallel keys keep their own edge so each can be drawn and hovered."""
    ranks: Counter = Counter()
    out = []
    for c, col, p in db.foreign_keys:
        out.append({"from": p, "to": c, "key": _key(c, col), "column": col, "rank": ranks[(c, p)], "self": c == p})
        ranks[(c, p)] += 1
    return out


# --- aggregates and crossings ---------------------------------------------------------------------
def _node_label(db, table: str, node: int) -> str:
    """``table.n3`` (with the columns it is observed as, when the SCM trace is there)."""
    scm = db.trace.scm.get(table)
    if scm is not None and node in scm.graph:
        d = scm.graph.nodes[node]
        name = d.get("name") or f"n{node}"
        cols = d.get("columns") or []
        return f"{table}.{name}" + (f" ({', '.join(cols)})" if cols else "")
    return f"{table}.n{node}"


def aggregates_into(db) -> dict[str, list[dict[str, Any]]]:
    """Per table receiving aggregates: one entry per (key, child node, function) summarised into it,
    with ``fk``, ``source_table``, ``source`` (node id), ``source_label``, ``how`` (count / sum / mean /
    max / min) and ``readers`` (how many of the table's nodes read it). Tables in trace order."""
    groups: dict[tuple, dict[str, Any]] = {}
    for c in crossings(db):
        if c.get("kind") != "aggregate":
            continue
        k = (c["reader_table"], c["fk"], c["source_table"], int(c["source"]), c.get("how"))
        if k not in groups:
            groups[k] = {"fk": c["fk"], "source_table": c["source_table"], "source": int(c["source"]),
                         "source_label": _node_label(db, c["source_table"], int(c["source"])),
                         "how": c.get("how") or "?", "readers": 0}
        groups[k]["readers"] += 1
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (reader, *_), entry in groups.items():
        out[reader].append(entry)
    return dict(out)


def aggregate_lines(db, table: str) -> list[str]:
    """Short lines for a table's tooltip: which key brings which child column in by which function."""
    by_fk: dict[str, list[str]] = defaultdict(list)
    for e in aggregates_into(db).get(table, []):
        by_fk[e["fk"]].append(f"{e['how']}({e['source_label']})")
    return [f"via {fk}: {', '.join(items)}" for fk, items in by_fk.items()]


def crossing_table(db) -> pd.DataFrame:
    """One row per v2 foreign key: crossing edges carried by the key, by kind, and the aggregate
    functions used (``count ×2`` = two child nodes counted). Empty frame for a paper database."""
    if not is_v2(db):
        return pd.DataFrame()
    counts: dict[str, Counter] = defaultdict(Counter)
    hows: dict[str, Counter] = defaultdict(Counter)
    for c in crossings(db):
        counts[c["fk"]][c["kind"]] += 1
    for entries in aggregates_into(db).values():
        for e in entries:
            hows[e["fk"]][e["how"]] += 1
    rows = []
    for key in stats.fk_keys(db):
        link = db.trace.links[key]
        n = counts.get(key, Counter())
        rows.append({
            "foreign key": stats.fk_label(db, key), "model": link_info(db, key).get("model", ""),
            **{CROSSING_LABELS[k]: int(n.get(k, 0)) for k in CROSSING_KINDS},
            "total": int(sum(n.values())),
            "aggregate functions": ", ".join(h if m == 1 else f"{h} ×{m}" for h, m in hows[key].items()),
            "aggregated into": link.parent if n.get("aggregate") else "",
        })
    return pd.DataFrame(rows)


def structure_counts(db) -> dict[str, int]:
    """Counts for the Schema page's metrics: self references, duplicate, nullable and aggregated keys,
    tables receiving aggregates, crossing edges and links by model (the v2-only ones 0 for paper)."""
    infos = [link_info(db, k) for k in stats.fk_keys(db)]
    models = Counter(i.get("model") for i in infos)
    agg = aggregates_into(db)
    return {
        "self references": len(self_keys(db)),
        "duplicate keys": len(duplicate_keys(db)),
        "nullable keys": sum(bool(i.get("nullable")) for i in infos),
        "aggregated keys": len({e["fk"] for entries in agg.values() for e in entries}),
        "tables receiving aggregates": len(agg),
        "crossing edges": len(crossings(db)),
        **{f"{m} links": int(models.get(m, 0)) for m in MODEL_WORDS},
    }


# --- one key in words -----------------------------------------------------------------------------
def key_label(db, key: str) -> str:
    """The key's label, with its link model and flags for a v2 database (``t1.parent_id → t1 · tree, self``)."""
    label = stats.fk_label(db, key)
    info = link_info(db, key)
    if not info:
        return label
    flags = [str(info.get("model", "?"))]
    flags += [name for name, on in (("self", info.get("self_tree")), ("duplicate", info.get("duplicate")),
                                    ("nullable", info.get("nullable")), ("aggregated", info.get("aggregate"))) if on]
    return f"{label} · {', '.join(flags)}"


def edge_title(db, key: str) -> str:
    """Hover text of a key's arrow in the schema graph: the FK column, and for v2 its link model,
    null share and flags."""
    child, col = key.split(".", 1)
    parent = dict(((c, k), p) for c, k, p in db.foreign_keys).get((child, col), "?")
    title = f"{child}.{col} → {parent}"
    info = link_info(db, key)
    if not info:
        return title
    parts = [f"{info.get('model', '?')} link", f"null share {float(info.get('null_share', 0.0)):.1%}"]
    if info.get("self_tree"):
        parts.append(f"self-reference tree: {int(info.get('roots', 0)):,} roots, depth {int(info.get('depth', 0))}")
    if info.get("duplicate"):
        parts.append("duplicate key (a second key to the same parent)")
    hows = sorted({e["how"] for entries in aggregates_into(db).values() for e in entries if e["fk"] == key})
    if hows:
        parts.append(f"aggregated into {parent}: {', '.join(hows)}")
    return title + "\n" + "\n".join(parts)


def null_summary(db, key: str) -> dict[str, Any]:
    """Nulls of a key: ``nullable``, ``null_rate`` (drawn), ``null_rows`` and ``null_share`` (realised,
    from parent_index), ``rows``."""
    pidx = stats.fk_parent_index(db, key)
    info = link_info(db, key)
    nulls = int((pidx < 0).sum())
    return {"nullable": bool(info.get("nullable", nulls > 0)), "null_rate": float(info.get("null_rate", 0.0)),
            "null_rows": nulls, "rows": int(pidx.size), "null_share": nulls / pidx.size if pidx.size else 0.0}


def tree_depths(db, key: str) -> np.ndarray:
    """Depth of every row of a self-reference tree (0 = a root, a row with a null parent)."""
    from plurel_core.v2.links import tree_depth

    link = db.trace.links[key]
    if link.child != link.parent:
        raise ValueError(f"{key} is not a self-reference: {link.child} → {link.parent}")
    return tree_depth(stats.fk_parent_index(db, key))


def depth_histogram(db, key: str) -> pd.DataFrame:
    """Rows per depth of a self-reference tree (every depth from 0 to the deepest, zeros kept)."""
    depth = tree_depths(db, key)
    counts = np.bincount(depth) if depth.size else np.zeros(0, np.int64)
    return pd.DataFrame({"depth": np.arange(counts.size, dtype=np.int64), "rows": counts.astype(np.int64)})


def tree_summary(db, key: str) -> dict[str, Any]:
    """A self-reference tree: ``roots`` (rows with a null parent), ``roots_share`` (realised),
    ``roots_prob`` (the drawn root probability, None without a v2 trace), ``depth`` (deepest row),
    ``mean_depth``, ``rows``."""
    depth = tree_depths(db, key)
    roots = int((stats.fk_parent_index(db, key) < 0).sum())
    info = link_info(db, key)
    prob = info.get("roots_share", (info.get("link") or {}).get("roots"))
    return {"rows": int(depth.size), "roots": roots, "roots_share": roots / depth.size if depth.size else 0.0,
            "roots_prob": None if prob is None else float(prob), "depth": int(depth.max()) if depth.size else 0,
            "mean_depth": float(depth.mean()) if depth.size else 0.0}


def inactive_summary(db, key: str) -> dict[str, Any]:
    """Inactive parents of an HSBM key: ``share`` (drawn), ``inactive`` (parent rows given weight 0),
    ``parents``, ``childless`` (parent rows with no child at all), ``childless_inactive`` (of those,
    the inactive ones) and ``inactive_with_child`` (0 unless a weight-0 parent was picked)."""
    info = link_info(db, key)
    deg = stats.fk_degrees(db, key)
    inactive = np.asarray(info.get("inactive_parents") or [], dtype=np.int64)
    inactive = inactive[(inactive >= 0) & (inactive < deg.size)]
    childless = deg == 0
    return {"share": float(info.get("inactive_share", 0.0)), "inactive": int(inactive.size), "parents": int(deg.size),
            "childless": int(childless.sum()), "childless_inactive": int(childless[inactive].sum()),
            "inactive_with_child": int((~childless[inactive]).sum())}


def _sizes(sizes: list[int]) -> str:
    if not sizes:
        return "none"
    lo, hi = min(sizes), max(sizes)
    return f"{len(sizes)} of {lo:,} rows" if lo == hi else f"{len(sizes)} of {lo:,}–{hi:,} rows"


def link_lines(db, key: str) -> list[str]:
    """Markdown bullets saying how a v2 key's links were drawn; [] for a paper database."""
    info = link_info(db, key)
    if not info:
        return []
    link = db.trace.links[key]
    model = info.get("model")
    lines = [f"link model **{model}** ({MODEL_WORDS.get(model, model)})"]
    if model == "random":
        lines.append("every child row picks a parent row uniformly at random (no block structure)")
    elif model == "paper_hsbm":
        lines.append(f"**{link.levels} levels**, parent clusters per level **{' × '.join(map(str, link.h_parent))}**, "
                     f"child clusters per level **{' × '.join(map(str, link.h_child))}**, popularity law "
                     f"**{link.popularity_law}**" + ("" if link.popularity_param is None
                                                     else f" ({float(link.popularity_param):.3g})"))
    elif model == "hsbm":
        spec = info.get("link") or {}
        pc_, cc = list(spec.get("parent_counts", link.h_parent)), list(spec.get("child_counts", link.h_child))
        lines.append(f"**{int(info.get('levels', len(pc_)))} levels**: parent clusters per level "
                     f"**{' × '.join(map(str, pc_))}** ({int(np.prod(pc_))} base clusters), child clusters per level "
                     f"**{' × '.join(map(str, cc))}** ({int(np.prod(cc))} base clusters)")
        lines.append(f"affinity law within matched blocks **{info.get('within')}**, between the others "
                     f"**{info.get('between')}**")
        cw = info.get("cluster_weights")
        shares = "equal cluster shares" if cw in (None, "None") else f"cluster shares drawn from **{cw}**"
        lines.append(f"{shares}: parent base clusters {_sizes(info.get('parent_cluster_sizes') or [])}, "
                     f"child base clusters {_sizes(info.get('child_cluster_sizes') or [])}")
        pop = info.get("popularity")
        lines.append("parent popularity **none** (every active parent weighs 1)" if pop in (None, "None")
                     else f"parent popularity **{pop}** (one weight per parent row)")
        ina = inactive_summary(db, key)
        lines.append(f"inactive parent share **{ina['share']:.1%}**: {ina['inactive']:,} of {ina['parents']:,} "
                     f"parent rows made inactive (weight 0); of the {ina['childless']:,} parent rows that got no "
                     f"child, **{ina['childless_inactive']:,} are inactive** and "
                     f"{ina['childless'] - ina['childless_inactive']:,} drew none")
    elif model == "tree":
        t = tree_summary(db, key)
        prob = "" if t["roots_prob"] is None else f" (root probability drawn **{t['roots_prob']:.1%}**)"
        lines.append("row i's parent is an earlier row ⌊U·i⌋ of the same table, or none (a root)" + prob
                     + "; row 0 is always a root")
        lines.append(f"**{t['roots']:,} roots** ({t['roots_share']:.1%} of {t['rows']:,} rows), tree depth "
                     f"**{t['depth']}** (mean {t['mean_depth']:.2f})")
    n = null_summary(db, key)
    if model == "tree":
        lines.append(f"nullable (a root's parent is null): null share **{n['null_share']:.1%}** "
                     f"({n['null_rows']:,} of {n['rows']:,} rows)")
    elif n["nullable"]:
        lines.append(f"**nullable**: null rate drawn **{n['null_rate']:.1%}**, null share realised "
                     f"**{n['null_share']:.1%}** ({n['null_rows']:,} of {n['rows']:,} rows)")
    else:
        lines.append("**not nullable**: every child row has a parent (null share 0.0%)")
    if info.get("duplicate"):
        first = [k for k in stats.fk_keys(db) if k != key and db.trace.links[k].child == link.child
                 and db.trace.links[k].parent == link.parent]
        lines.append("**duplicate key**: a further key from the same child to the same parent"
                     + (f" (beside {', '.join(first)})" if first else ""))
    if info.get("self_tree"):
        lines.append("**self-tree**: the table references itself")
    agg = [e for entries in aggregates_into(db).values() for e in entries if e["fk"] == key]
    if agg:
        items = ", ".join(f"{e['how']}({e['source_label']})" for e in agg)
        lines.append(f"**aggregated**: child columns summarised into {link.parent} through this key: {items}")
    elif info.get("aggregate"):
        lines.append("**aggregated** (drawn), with no crossing edge in the trace")
    if link.deferred:
        lines.append("deferred (closes a reference cycle)")
    return lines


def depth_figure(db, key: str):
    """Bar chart of rows per depth of a self-reference tree."""
    import plotly.graph_objects as go

    from plurel_core import plots

    h = depth_histogram(db, key)
    t = tree_summary(db, key)
    fig = go.Figure(go.Bar(x=h["depth"], y=h["rows"], marker_color=plots.ENTITY_COLOR,
                           hovertemplate="depth %{x}: %{y:,} rows<extra></extra>"))
    fig.update_xaxes(dtick=1 if len(h) <= 25 else None)
    return plots._style(fig, f"Tree depth per row — {stats.fk_label(db, key)} ({t['roots']:,} roots, depth "
                        f"{t['depth']})", "depth (0 = root)", "rows", height=360)


def has_block_structure(db, key: str) -> bool:
    """Whether a block heatmap means something: an HSBM key (every paper key) with more than one
    block on a side; a uniform random or a tree link has one block only."""
    info = link_info(db, key)
    if not info or info.get("model") == "paper_hsbm":
        return True  # a paper key: always an HSBM, its panel stays as it is
    if info.get("model") != "hsbm":
        return False
    link = db.trace.links[key]
    return int(np.prod(link.h_parent)) > 1 or int(np.prod(link.h_child)) > 1


# --- database-level priors -------------------------------------------------------------------------
def law_text(v: Any) -> str:
    """A prior value in words: U(lo, hi), log-U(lo, hi), int{lo..hi}, log-int{lo..hi}, Lomax(α, scale s),
    a layout with its parameters, a weighted choice ``a (1) | b (2)``, a number."""
    if isinstance(v, dict):
        kind = v.get("type")
        if kind == "Range":
            return f"U({v['lo']:g}, {v['hi']:g})"
        if kind == "LogRange":
            return f"log-U({v['lo']:g}, {v['hi']:g})"
        if kind == "IntegersRange":
            return f"int{{{v['lo']}..{v['hi']}}}"
        if kind == "LogIntegersRange":
            return f"log-int{{{v['lo']:,}..{v['hi']:,}}}"
        if kind == "Lomax":
            return f"Lomax({v['alpha']:g})" if float(v.get("scale", 1.0)) == 1.0 else \
                f"Lomax({v['alpha']:g}, scale {v['scale']:g})"
        if kind == "Choices":
            ws = v.get("weights") or [1.0] * len(v.get("options", []))
            return " | ".join(f"{law_text(o)} ({w:g})" for o, w in zip(v.get("options", []), ws))
        if "layout" in v:
            params = ", ".join(f"{k}={p}" for k, p in (v.get("params") or {}).items())
            return f"{v['layout']}({params})"
        return ", ".join(f"{k}={law_text(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(law_text(x) for x in v)
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def database_priors(db, *, table_prior: bool = False) -> pd.DataFrame:
    """The sampled database-level priors as (group, prior, value) rows. For v2: what the database drew
    (tables, layout, static / event tables, ...), then the schema prior by group (schema, keys, links,
    crossings, time split) in words, and with ``table_prior`` the table prior before warping. For a paper
    database: ``trace.priors["database"]`` as it is (group "sampled")."""
    sampled = dict((db.trace.priors or {}).get("database") or {})
    if not is_v2(db):
        return pd.DataFrame({"group": "sampled", "prior": list(sampled), "value": [str(v) for v in sampled.values()]})
    from plurel_core.v2.schema_prior import KNOB_BOUNDS

    schema_prior = sampled.pop("schema_prior", {}) or {}
    tprior = sampled.pop("table_prior", {}) or {}
    rows = [("drawn for this database", k, law_text(v)) for k, v in sampled.items()]
    rows += [(f"schema prior · {KNOB_BOUNDS.get(k, ('', 'other'))[1]}", k, law_text(v)) for k, v in schema_prior.items()]
    if table_prior:
        rows += [("table prior (before warping)", k, law_text(v)) for k, v in tprior.items()]
    return pd.DataFrame(rows, columns=["group", "prior", "value"])
