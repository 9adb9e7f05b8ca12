"""Stage 3: one structural causal model per table, propagated over all rows at once.

The SCM is a random DAG over the table's feature columns and latent nodes. Sources draw from a
source law; every other node is ``decoder(noise + aggregate_k(w_k * enc_k(parent_k)))`` where the
inputs also include every column of every parent table, reached through the row's foreign key.
Parent-table inputs are the same for every node of a table, so their aggregate is computed once
per aggregation mode at parent-row level and gathered through the FK: same result, a fraction of
the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numba
import numpy as np

from plurel_core import samplers
from plurel_core.database import ScmTrace
from plurel_core.graphs import sample_dag
from plurel_core.random import pick
from plurel_core.scm import kernels
from plurel_core.scm.mlp import aggregate, draw_embeddings, draw_mlps
from plurel_core.scm.sources import categorical_source, numerical_source

# Rows per chunk of SCM propagation: the unit of noise streams and of the work threads share (each
# chunk goes through the whole SCM). A table of SPLIT_FROM_ROWS rows or more has at least two, so
# that both cores work on it.
CHUNK_ROWS = 8192
SPLIT_FROM_ROWS = 256
NOISE_STREAM = 1 << 32  # node noise: the streams [node_seed, node, NOISE_STREAM] (sources: [node_seed, node])

_IDENTITY = {"sum": 0.0, "max": -np.inf, "product": 1.0, "logsumexp": -np.inf}


@dataclass
class ScmColumn:
    """A feature column the SCM must produce: numerical, or categorical with ``k`` classes."""

    name: str
    kind: str  # "numerical" or "categorical"
    k: int | None = None


@dataclass
class ForeignInput:
    """A parent table as seen by the child: its raw column values and the child's parent row."""

    table: str
    parent_index: np.ndarray  # one parent row per child row, -1 for a null reference
    columns: list[tuple[str, np.ndarray, str, int | None]]  # (name, values, kind, k)


@dataclass(frozen=True)
class Coder:
    """An encoder or decoder of an SCM: MLP ``mlp`` of the SCM's pack and, for categorical
    values, the embedding table (K x emb) that a decoder scores its output against. A
    categorical encoder holds its table already encoded (``encoded``, K x emb): labels look
    their rows up in it."""

    mlp: int
    table: np.ndarray | None = None
    encoded: np.ndarray | None = None


def _combine(a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    return aggregate([a, b], mode)


def row_chunks(n: int) -> list[slice]:
    """Equal chunks of at most ``CHUNK_ROWS`` rows, as few as that allows but an even number
    from two on, and two from ``SPLIT_FROM_ROWS`` rows on (one for n = 0); they depend on ``n``
    alone. Equal sizes and an even count let two threads sharing a table's chunks finish together."""
    count = max(math.ceil(n / CHUNK_ROWS), 2 if n >= SPLIT_FROM_ROWS else 1)
    count += count % 2 if count > 1 else 0
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def relevant_nodes(g: nx.DiGraph, column_nodes) -> set[int]:
    """The column nodes and every node a column node descends from."""
    return set(column_nodes).union(*(nx.ancestors(g, node) for node in column_nodes))


def encode_once(pack: kernels.MlpPack, mlp: int, x: np.ndarray) -> np.ndarray:
    """MLP ``mlp`` of ``pack`` on the rows of x (categories' embeddings, or distinct values as a
    column): the table a gather parent's rows are looked up in."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out_dim = int(pack.layers[pack.first[mlp + 1] - 1, 2])
    out = np.empty((len(x), out_dim), dtype=np.float32)
    kernels.mlp_apply(mlp, x, pack.weights, pack.layers, pack.clamps, pack.params, pack.first, out)
    return out


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted distinct values, each value's index among them) when at most half the values are
    distinct and at most ``kernels.ENCODE_ONCE_MAX``, else None (see ``kernels.distinct_chunk``)."""
    x = np.ascontiguousarray(values, dtype=np.float32)
    uniq = np.empty(max(len(x), 1), np.float32)
    inverse = np.empty(len(x), np.int32)
    k = kernels.distinct_chunk(x, uniq, inverse)
    return (uniq[:k], inverse) if k else None


def _foreign_aggregates(
    foreign: list[ForeignInput], encoders: list[list[Coder]], pack: kernels.MlpPack, modes: set[str], emb: int,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Aggregate per mode of all parent-table columns, per child row (n x emb).

    Per parent table and mode, the kernel aggregates the encoded columns at parent-row level
    (each scaled by 1 / columns for "sum", clamped to ±1e4); the child rows gather that through
    their foreign key, and several parent tables combine as one more aggregation.
    """
    out: dict[str, np.ndarray] = {}
    names: list[str] = []
    for fi, fi_encoders in zip(foreign, encoders):
        if not fi.columns:
            continue
        n_parent = len(fi.columns[0][1])
        values = np.zeros((len(fi.columns), n_parent), dtype=np.float32)
        labels = np.zeros((len(fi.columns), n_parent), dtype=np.int32)
        mlp_columns, mlp_ids, gather_rows, tables = [], [], [], []
        for i, ((name, column, _, _), enc) in enumerate(zip(fi.columns, fi_encoders)):
            names.append(f"{fi.table}.{name}")
            found = None if enc.encoded is not None else distinct_values(column)
            if enc.encoded is not None:  # the K table rows, encoded when the SCM was built
                labels[i] = column
                tables.append(enc.encoded)
                gather_rows.append(i)
            elif found is not None:  # each distinct value encoded once
                labels[i] = found[1]
                tables.append(encode_once(pack, enc.mlp, found[0][:, None]))
                gather_rows.append(i)
            else:
                values[i] = column
                mlp_columns.append(i)
                mlp_ids.append(enc.mlp)
        count = len(fi.columns)
        gather_at = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.int64)
        valid = fi.parent_index >= 0
        idx = np.where(valid, fi.parent_index, 0)
        ordered = sorted(modes)
        scales = np.array([1.0 / count if mode == "sum" else 1.0 for mode in ordered], dtype=np.float32)
        at_parent = np.empty((len(ordered), n_parent, emb), dtype=np.float32)
        kernels.aggregate_block(0, n_parent, np.array([kernels.MODES[m] for m in ordered], dtype=np.int64), scales,
                                values, labels, np.array(mlp_columns, dtype=np.int64),
                                np.array(mlp_ids, dtype=np.int64), np.array(gather_rows, dtype=np.int64),
                                gather_at, np.concatenate(tables) if tables else np.zeros((0, emb), np.float32),
                                pack.weights, pack.layers, pack.clamps, pack.params, pack.first, at_parent)
        for mode, aggregated in zip(ordered, at_parent):
            gathered = np.take(aggregated, idx, axis=0)
            if not valid.all():
                gathered[~valid] = _IDENTITY[mode]
            out[mode] = gathered if mode not in out else _combine(out[mode], gathered, mode)
    return out, names


@dataclass
class BuiltScm:
    """Everything an SCM draws before it sees any value: its graph, node roles and all MLPs.

    Building needs only the table's stream and the kinds of its parent tables' columns, so the
    pipeline builds the next tables on a background thread while this one propagates.
    """

    table: str
    columns: list[ScmColumn]
    activity: bool
    graph: nx.DiGraph
    dag_params: dict
    layout: str
    mode: str
    column_node_share: float
    node_col: dict[int, ScmColumn]
    pack: kernels.MlpPack  # every MLP of the SCM
    foreign_encoders: list[list[Coder]]  # per parent table, per column
    plan: ScmPlan
    rng: np.random.Generator  # continues after building (lazy quantization)


def run_scm(
    table: str,
    columns: list[ScmColumn],
    n: int,
    activity: bool,
    foreign: list[ForeignInput],
    cfg,
    rng: np.random.Generator,
    threads: int = 1,
) -> tuple[dict[str, np.ndarray], ScmTrace]:
    """Values of every feature column (float64 or int64 labels) and the trace of the SCM.

    With ``threads`` >= 2, numba's worker threads share each node's row chunks (from
    ``SPLIT_FROM_ROWS`` rows on). The values do not depend on it.
    """
    kinds = [[(kind, k) for _, _, kind, k in fi.columns] for fi in foreign]
    return propagate_scm(build_scm(table, columns, activity, kinds, cfg, rng), n, foreign, cfg, threads)


def build_scm(
    table: str,
    columns: list[ScmColumn],
    activity: bool,
    foreign_kinds: list[list[tuple[str, int | None]]],
    cfg,
    rng: np.random.Generator,
) -> BuiltScm:
    """Draw the SCM of a table; ``foreign_kinds`` lists (kind, k) of each parent table's columns."""
    sp = cfg.scm
    mode = str(pick(rng, sp.propagation_modes))
    lazy = mode == "type_lazy"
    layout = str(pick(rng, sp.scm_layouts))
    m = len(columns)
    q = sp.column_node_share.sample(rng)
    num_nodes = m + math.ceil(m / q) + 3
    dag = sample_dag(layout, num_nodes, cfg.graphs, rng)
    g = dag.graph
    col_nodes = rng.choice(num_nodes, size=m, replace=False) if m else np.array([], dtype=np.int64)
    node_col = {int(node): col for node, col in zip(col_nodes, columns)}

    for node in range(num_nodes):
        attrs = g.nodes[node]
        if node in node_col:
            col = node_col[node]
            attrs.update(role="column", column=col.name, type=col.kind, num_categories=col.k)
        else:
            cat = rng.random() < cfg.schema.categorical_share
            k = cfg.schema.num_categories.sample(rng) if cat else None
            attrs.update(role="latent", column=None, type="categorical" if cat else "numerical", num_categories=k)
        attrs["noise"] = (sp.noise_alpha.sample(rng), sp.noise_beta.sample(rng))
        attrs["aggregation"] = str(pick(rng, sp.aggregations))
        prop_kind = "numerical" if lazy else attrs["type"]
        attrs["prop_type"] = prop_kind
        attrs["is_source"] = g.in_degree(node) == 0
        attrs["source"] = None  # a source's law and parameters, once drawn
        attrs["decoder_activations"] = []
    # A non-source node that no column node descends from cannot change any column: it gets no
    # MLPs and is not evaluated. The MLPs that are drawn are i.i.d. all the same, so the law of
    # the columns is unchanged; each node has its own streams, so the others draw the same noise.
    # Sources are always drawn: they are cheap and the views show their laws.
    relevant = relevant_nodes(g, node_col)
    for node in range(num_nodes):
        g.nodes[node]["evaluated"] = g.nodes[node]["is_source"] or node in relevant
    # Each node draws its source values and noise from its own streams (see propagate_scm).
    node_seed = int(rng.integers(2**63))
    inner = [node for node in range(num_nodes) if not g.nodes[node]["is_source"] and g.nodes[node]["evaluated"]]
    edges = sorted((u, v) for u, v in g.edges if g.nodes[v]["evaluated"])
    # Every MLP of the SCM is drawn into one pack: the decoders of the inner nodes, the encoders
    # of the edges into them (w_e * enc_e(x): the edge weight folded into the last matrix), then
    # the encoders of the parent tables' columns. Categorical ones get an embedding table each.
    kinds = [(g.nodes[v]["prop_type"], g.nodes[v]["num_categories"]) for v in inner]
    kinds += [(g.nodes[u]["prop_type"], g.nodes[u]["num_categories"]) for u, _ in edges]
    kinds += [("numerical" if lazy else kind, k) for fk in foreign_kinds for kind, k in fk]
    categorical = [kind == "categorical" for kind, _ in kinds]
    n_dec = len(inner)
    emb = sp.emb
    in_dims = [emb if i < n_dec or cat else 1 for i, cat in enumerate(categorical)]
    out_dims = [emb if cat or i >= n_dec else 1 for i, cat in enumerate(categorical)]
    factors = [1.0] * n_dec + [g.edges[e]["weight"] for e in edges] + [1.0] * (len(kinds) - n_dec - len(edges))
    pack = draw_mlps(sp, in_dims, out_dims, rng, factors)
    cat_at = [i for i, cat in enumerate(categorical) if cat]
    tables = dict(zip(cat_at, draw_embeddings(sp, [kinds[i][1] for i in cat_at], rng)))
    # Decoders keep their table; categorical encoders keep theirs encoded (it needs no values).
    coders = [Coder(i, tables[i]) if i < n_dec and i in tables else
              Coder(i, None, encode_once(pack, i, tables[i]) if i in tables else None) for i in range(len(kinds))]
    for node, dec in zip(inner, coders):
        g.nodes[node]["decoder_activations"] = pack.activation_names(dec.mlp)
    for e in g.edges:
        g.edges[e]["encoder_activations"] = []
    for e, enc in zip(edges, coders[n_dec:]):
        g.edges[e]["encoder_activations"] = pack.activation_names(enc.mlp)
    foreign_encoders, at = [], n_dec + len(edges)
    for fk in foreign_kinds:
        foreign_encoders.append(coders[at:at + len(fk)])
        at += len(fk)
    plan = _plan(g, node_seed, dict(zip(inner, coders)), dict(zip(edges, coders[n_dec:])), emb)
    return BuiltScm(table, columns, activity, g, dag.params, layout, mode, q, node_col, pack,
                    foreign_encoders, plan, rng)


@dataclass
class ScmPlan:
    """A built SCM as the table kernel reads it (``kernels.table_chunks``; row r is node order[r])."""

    order: list[int]  # the evaluated nodes in topological order
    rngs: list[np.random.Generator]  # per row: a source's stream, or the node's noise stream
    inner: np.ndarray  # bool per row: computed (else a source)
    modes: np.ndarray
    decoders: np.ndarray
    dec_at: np.ndarray
    dec_len: np.ndarray
    dec_tables: np.ndarray
    noise_a: np.ndarray
    noise_b: np.ndarray
    env_at: np.ndarray
    envelopes: tuple  # kind, start, width, top, low (pieces of all rows), shift and slots per row
    par_at: np.ndarray
    par_row: np.ndarray
    par_mlp: np.ndarray
    par_tab_at: np.ndarray
    par_tab_len: np.ndarray
    tables: np.ndarray
    repeats: np.ndarray


def _plan(g: nx.DiGraph, node_seed: int, decoders: dict[int, Coder], encoders: dict, emb: int) -> ScmPlan:
    """The flat arrays of a built SCM's evaluation, made on the build thread."""
    order = [node for generation in nx.topological_generations(g) for node in sorted(generation)]
    order = [node for node in order if g.nodes[node]["evaluated"]]
    row_of = {node: r for r, node in enumerate(order)}
    count = len(order)
    inner = np.array([not g.nodes[v]["is_source"] for v in order], dtype=np.bool_)
    # Each node's own stream (a source's values, or the node noise), seeded here: 9 us each.
    rngs = [np.random.default_rng([node_seed, v] if g.nodes[v]["is_source"] else [node_seed, v, NOISE_STREAM])
            for v in order]
    modes = np.zeros(count, np.int64)
    dec_mlp = np.zeros(count, np.int64)
    dec_len = np.zeros(count, np.int64)
    noise = np.ones((count, 2))
    dec_tables, pieces, piece_count, shifts = [], [], np.zeros(count, np.int64), np.zeros(count)
    slots = np.zeros((count, samplers.BETA_SLOTS), np.int16)
    par_at, par_row, par_mlp, par_tab_len, tables = [0], [], [], [], []
    for r, v in enumerate(order):
        attrs = g.nodes[v]
        if inner[r]:
            dec = decoders[v]
            modes[r], dec_mlp[r], noise[r] = kernels.MODES[attrs["aggregation"]], dec.mlp, attrs["noise"]
            if dec.table is not None:
                dec_tables.append(dec.table)
                dec_len[r] = len(dec.table)
            kind, start, width, top, low, shifts[r], slots[r] = samplers.beta_envelope(*attrs["noise"])
            pieces.append((kind, start, width, top, low))
            piece_count[r] = len(kind)
            for p in sorted(g.predecessors(v)):
                enc = encoders[p, v]
                par_row.append(row_of[p])
                par_mlp.append(enc.mlp)
                par_tab_len.append(0 if enc.encoded is None else len(enc.encoded))
                if enc.encoded is not None:
                    tables.append(enc.encoded)
        par_at.append(len(par_row))
    env_at = np.concatenate([[0], np.cumsum(piece_count)]).astype(np.int64)
    flat = [np.concatenate([piece[i] for piece in pieces]) if pieces else np.zeros(0, dtype)
            for i, dtype in enumerate((np.int64, np.float64, np.float64, np.float64, np.float64))]
    par_tab_len = np.array(par_tab_len, np.int64)
    repeats = np.array([g.nodes[v]["prop_type"] == "numerical" and g.out_degree(v) > 0 for v in order], np.bool_)
    no_rows = np.zeros((0, emb), np.float32)
    return ScmPlan(
        order=order, rngs=rngs, inner=inner, modes=modes, decoders=dec_mlp, dec_at=np.cumsum(dec_len) - dec_len,
        dec_len=dec_len, dec_tables=np.concatenate(dec_tables) if dec_tables else no_rows,
        noise_a=noise[:, 0].copy(), noise_b=noise[:, 1].copy(), env_at=env_at, envelopes=(*flat, shifts, slots),
        par_at=np.array(par_at, np.int64), par_row=np.array(par_row, np.int64), par_mlp=np.array(par_mlp, np.int64),
        par_tab_at=np.cumsum(par_tab_len) - par_tab_len, par_tab_len=par_tab_len,
        tables=np.concatenate(tables) if tables else no_rows, repeats=repeats,
    )


def propagate_scm(
    built: BuiltScm, n: int, foreign: list[ForeignInput], cfg, threads: int = 1, *, keep_values: bool = False,
) -> tuple[dict[str, np.ndarray], ScmTrace]:
    """Propagate a built SCM over ``n`` rows: the values of its columns, and its trace.

    ``foreign`` holds the parent tables' values, in the order of ``build_scm``'s kinds.
    ``keep_values`` copies every evaluated node's row of the value matrices into
    ``ScmTrace.node_values`` (no draw is made for it: the columns are the same either way).
    """
    sp = cfg.scm
    g, activity, plan = built.graph, built.activity, built.plan
    lazy = built.mode == "type_lazy"
    order = plan.order
    # Rows are processed in chunks (their number depends on n alone), each through the whole SCM
    # with its own noise streams, so threads share a table's chunks.
    chunks = row_chunks(n)
    bounds = np.array([c.start for c in chunks] + [chunks[-1].stop], dtype=np.int64)
    # Node values in two matrices the kernel reads and writes: float32 values, and int32 gather
    # indices (a categorical node's labels, or a repeating column's distinct-value index).
    row_of = {node: r for r, node in enumerate(order)}
    values = np.empty((len(order), n), dtype=np.float32)
    labels = np.zeros((len(order), n), dtype=np.int32)
    emb = sp.emb
    modes = {g.nodes[v]["aggregation"] for r, v in enumerate(order) if plan.inner[r]}
    foreign_agg, foreign_names = _foreign_aggregates(foreign, built.foreign_encoders, built.pack, modes, emb)
    foreign_modes = sorted(foreign_agg)
    foreign_stack = (np.stack([foreign_agg[m] for m in foreign_modes]) if foreign_modes
                     else np.zeros((0, n, emb), np.float32))
    foreign_of = np.array([foreign_modes.index(g.nodes[v]["aggregation"])
                           if plan.inner[r] and g.nodes[v]["aggregation"] in foreign_agg else -1
                           for r, v in enumerate(order)], dtype=np.int64)
    components: dict[int, dict[str, np.ndarray]] = {}
    noise_states = np.zeros((len(order), len(chunks), 4), dtype=np.uint64)
    for r, node in enumerate(order):
        attrs, node_rng = g.nodes[node], plan.rngs[r]
        if plan.inner[r]:
            noise_states[r] = samplers.stream_states(node_rng, len(chunks))
            continue
        law = str(pick(node_rng, sp.source_laws))  # a source: its values now, from its own stream
        if attrs["prop_type"] == "categorical":
            draw = categorical_source(sp, law, n, attrs["num_categories"], activity, node_rng)
            labels[r] = draw.values
        else:
            draw = numerical_source(sp, law, n, activity, node_rng)
            values[r] = draw.values
        attrs["source"] = draw.params
        if draw.components:
            components[node] = {k: v.astype(np.float32) for k, v in draw.components.items()}

    pack = built.pack
    previous_threads = numba.get_num_threads()  # numba's setting is per calling thread
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        kernels.table_chunks(bounds, values, labels, plan.inner, plan.modes, plan.decoders, plan.dec_at, plan.dec_len,
                             plan.dec_tables, foreign_of, foreign_stack, plan.noise_a, plan.noise_b, plan.env_at,
                             *plan.envelopes, noise_states, plan.par_at, plan.par_row, plan.par_mlp, plan.par_tab_at,
                             plan.par_tab_len, plan.tables, plan.repeats, pack.weights, pack.layers, pack.clamps,
                             pack.params, pack.first)
    finally:
        numba.set_num_threads(previous_threads)

    result: dict[str, np.ndarray] = {}
    for node, col in built.node_col.items():
        if col.kind == "categorical" and lazy:
            result[col.name] = _quantize(values[row_of[node]], col.k, sp, built.rng)
            g.nodes[node]["quantized"] = True
        elif col.kind == "categorical":
            result[col.name] = labels[row_of[node]].astype(np.int64)
        else:
            result[col.name] = values[row_of[node]].astype(np.float64)

    node_values: dict[int, np.ndarray] = {}
    if keep_values:
        node_values = {node: labels[r].astype(np.int64) if g.nodes[node]["prop_type"] == "categorical"
                       else values[r].copy() for r, node in enumerate(order)}
    trace = ScmTrace(
        table=built.table, graph=g, layout=built.layout, layout_params=built.dag_params, mode=built.mode,
        column_node_share=built.column_node_share, foreign_inputs=foreign_names, source_components=components,
        node_values=node_values,
    )
    return {c.name: result[c.name] for c in built.columns}, trace


def _quantize(values: np.ndarray, k: int, sp, rng: np.random.Generator) -> np.ndarray:
    """Lazy mode: classes from k-1 boundaries drawn from the column's own values, then shuffled."""
    values = values.astype(np.float64)
    boundaries = values[rng.integers(0, len(values), size=k - 1)]
    classes = (values[:, None] > boundaries[None, :]).sum(axis=1).astype(np.int64)
    if rng.random() < sp.lazy_permute_prob.sample(rng):
        classes = rng.permutation(k)[classes]
    if rng.random() < sp.lazy_reverse_prob.sample(rng):
        classes = k - 1 - classes
    return classes
