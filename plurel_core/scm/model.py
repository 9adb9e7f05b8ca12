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
from plurel_core.scm.mlp import (
    ENCODE_ONCE_MAX,
    aggregate,
    distinct_values,
    draw_embeddings,
    draw_mlps,
)
from plurel_core.scm.sources import categorical_source, numerical_source

# Rows per chunk of SCM propagation: the unit of noise streams and of the work two threads share.
# A table of SPLIT_FROM_ROWS rows or more has at least two, so that both cores work on it.
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


def beta_noise(a: float, b: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Beta(a, b) / emb per cell (float32), from the compiled sampler (see plurel_core.samplers)."""
    return samplers.beta(a, b, rng, shape, scale=1.0 / shape[1])


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
            elif found is not None and len(found[0]) <= ENCODE_ONCE_MAX:  # each distinct value encoded once
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
    # Each node's own streams, made here on the build thread (a Generator costs 9 us to seed).
    for node in range(num_nodes):
        if g.nodes[node]["is_source"]:
            g.nodes[node]["_rng"] = np.random.default_rng([node_seed, node])
        elif g.nodes[node]["evaluated"]:
            g.nodes[node]["_rng"] = np.random.default_rng([node_seed, node, NOISE_STREAM])
    for node, dec in zip(inner, coders):
        g.nodes[node]["_decoder"] = dec
        g.nodes[node]["decoder_activations"] = pack.activation_names(dec.mlp)
        g.nodes[node]["_envelope"] = samplers.beta_envelope(*g.nodes[node]["noise"])  # of the node noise
    for e in g.edges:
        g.edges[e]["encoder_activations"] = []
    for e, enc in zip(edges, coders[n_dec:]):
        g.edges[e]["_encoder"] = enc
        g.edges[e]["encoder_activations"] = pack.activation_names(enc.mlp)
    foreign_encoders, at = [], n_dec + len(edges)
    for fk in foreign_kinds:
        foreign_encoders.append(coders[at:at + len(fk)])
        at += len(fk)
    return BuiltScm(table, columns, activity, g, dag.params, layout, mode, q, node_col, pack,
                    foreign_encoders, rng)


def propagate_scm(
    built: BuiltScm, n: int, foreign: list[ForeignInput], cfg, threads: int = 1,
) -> tuple[dict[str, np.ndarray], ScmTrace]:
    """Propagate a built SCM over ``n`` rows: the values of its columns, and its trace.

    ``foreign`` holds the parent tables' values, in the order of ``build_scm``'s kinds.
    """
    sp = cfg.scm
    g, activity = built.graph, built.activity
    lazy = built.mode == "type_lazy"
    order = [node for generation in nx.topological_generations(g) for node in sorted(generation)]
    order = [node for node in order if g.nodes[node]["evaluated"]]
    inner = [node for node in order if not g.nodes[node]["is_source"]]
    # Rows are processed in chunks (their number depends on n alone); each (node, chunk) draws its
    # noise inside the kernel from its own stream, so threads can share a node's chunks.
    chunks = row_chunks(n)
    bounds = np.array([c.start for c in chunks] + [chunks[-1].stop], dtype=np.int64)
    # Node values in two matrices the kernel reads and writes: float32 values, and int32 gather
    # indices (a categorical node's labels, or a repeating column's distinct-value index).
    row_of = {node: i for i, node in enumerate(order)}
    values = np.empty((len(order), n), dtype=np.float32)
    labels = np.zeros((len(order), n), dtype=np.int32)
    distinct: dict[int, np.ndarray | None] = {}  # per numerical node: its distinct values, if few
    emb = sp.emb
    no_rows = np.zeros((0, emb), dtype=np.float32)
    modes = {g.nodes[v]["aggregation"] for v in inner}
    pack = built.pack
    foreign_agg, foreign_names = _foreign_aggregates(foreign, built.foreign_encoders, pack, modes, emb)
    components: dict[int, dict[str, np.ndarray]] = {}

    def source(node: int) -> None:
        attrs = g.nodes[node]
        node_rng = attrs["_rng"]
        law = str(pick(node_rng, sp.source_laws))
        if attrs["prop_type"] == "categorical":
            draw = categorical_source(sp, law, n, attrs["num_categories"], activity, node_rng)
            labels[row_of[node]] = draw.values
        else:
            draw = numerical_source(sp, law, n, activity, node_rng)
            values[row_of[node]] = draw.values
        attrs["source"] = draw.params
        if draw.components:
            components[node] = {k: v.astype(np.float32) for k, v in draw.components.items()}

    def inputs(node: int):
        """The kernel's view of a node's parents: MLPs to run per row, or tables to gather from."""
        mlp_rows, mlp_ids, gather_rows, gather_at, tables, at = [], [], [], [], [], 0
        for p in sorted(g.predecessors(node)):
            enc = g.edges[p, node]["_encoder"]
            if enc.encoded is not None:  # the K table rows, encoded when the SCM was built
                table = enc.encoded
            elif distinct[p] is not None:  # a repeating column: each distinct value encoded once
                table = encode_once(pack, enc.mlp, distinct[p][:, None])
            else:
                mlp_rows.append(row_of[p])
                mlp_ids.append(enc.mlp)
                continue
            gather_rows.append(row_of[p])
            gather_at.append(at)
            tables.append(table)  # the kernel clamps each looked-up row to ±1e4, as an encoded one
            at += len(table)
        ints = [np.array(a, dtype=np.int64) for a in (mlp_rows, mlp_ids, gather_rows, gather_at)]
        return (*ints, np.concatenate(tables) if tables else no_rows)

    def compute(node: int) -> None:
        attrs = g.nodes[node]
        agg_mode = attrs["aggregation"]
        decoder = attrs["_decoder"]
        mlp_rows, mlp_ids, gather_rows, gather_at, tables = inputs(node)
        table = decoder.table if decoder.table is not None else no_rows
        fagg = np.ascontiguousarray(foreign_agg.get(agg_mode, no_rows), dtype=np.float32)
        mode = kernels.MODES[agg_mode]
        a, b = attrs["noise"]
        envelope = attrs["_envelope"]
        states = samplers.stream_states(attrs["_rng"], len(chunks))

        kernels.node_chunks(bounds, mode, values, labels, mlp_rows, mlp_ids, gather_rows, gather_at, tables, fagg,
                            float(a), float(b), envelope, states, pack.weights, pack.layers, pack.clamps,
                            pack.params, pack.first, decoder.mlp, table, row_of[node])

    previous_threads = numba.get_num_threads()  # numba's setting is per calling thread
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        for node in order:
            if g.nodes[node]["is_source"]:
                source(node)
            else:
                compute(node)
            # Once per node, not per out-edge: do its values repeat enough to encode each once?
            if g.nodes[node]["prop_type"] == "numerical" and g.out_degree(node):
                found = distinct_values(values[row_of[node]])
                if found is not None and len(found[0]) <= ENCODE_ONCE_MAX:
                    distinct[node] = found[0]
                    labels[row_of[node]] = found[1]
                else:
                    distinct[node] = None
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

    for node in g.nodes:  # keep the trace light and picklable
        g.nodes[node].pop("_decoder", None)
        g.nodes[node].pop("_rng", None)
        g.nodes[node].pop("_envelope", None)
    for u, v in g.edges:
        g.edges[u, v].pop("_encoder", None)
    trace = ScmTrace(
        table=built.table, graph=g, layout=built.layout, layout_params=built.dag_params, mode=built.mode,
        column_node_share=built.column_node_share, foreign_inputs=foreign_names, source_components=components,
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
