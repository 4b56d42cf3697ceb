"""Weight graphs of networks, spectral clustering, n-cut and the shuffle null models (Filan et al.).

A network's graph is *layered*: nodes are the units (MLP) or channels (CNN) of consecutive layers, and
edges join only neighbouring layers, with weight ``|w|`` (MLP) or a norm of the kernel slice (CNN). Such a
graph is bipartite (even layers vs odd layers), A = [[0, B], [Bᵀ, 0]], so the eigenvectors of the
normalised adjacency D^-1/2 A D^-1/2 with the k largest eigenvalues — the k smallest of the normalised
Laplacian, which spectral clustering needs — are the top-k singular vectors of the normalised block
D_E^-1/2 B D_O^-1/2. Those come from the eigendecomposition of a Gram matrix the size of the *smaller*
side (522 × 522 for the 1818-node MLP), batched over all shuffles of one network at once. This is exact,
not an approximation; the tests compare it with scikit-learn's ``SpectralClustering``.

Isolated nodes (degree 0) are labelled −1 and take no part in clustering or n-cut, as in the original.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components

from modularity import tracing
from modularity.kmeans import kmeans

__all__ = ["FewShufflesWarning", "LayeredGraph", "clusterability", "clusterability_ks", "cnn_graph",
           "layered_graph", "mlp_graph", "ncut", "null_model_scores", "shuffled_weights", "spectral_clustering"]

SHUFFLE_METHODS = ("layer", "layer_nonzero")
CHUNK = 8  # graphs per batched eigendecomposition: bounds memory, does not change results
# Above this many nodes k-means restarts 100 times instead of 25 (the original's rule), and those restarts of one
# graph fill a batch by themselves: batching more graphs only spills the caches (a CIFAR-10 VGG's 4,224-node
# graphs cluster about 1.3× faster one at a time than four at a time on one thread).
LARGE_GRAPH = 2000


def default_n_init(n_nodes: int) -> int:
    """k-means restarts for a graph of ``n_nodes``: 25, or 100 above ``LARGE_GRAPH`` nodes (the original's)."""
    return 100 if n_nodes > LARGE_GRAPH else 25


def graphs_per_batch(n_nodes: int) -> int:
    """How many shuffles of a graph of ``n_nodes`` to cluster in one batch."""
    return CHUNK if n_nodes <= LARGE_GRAPH else 1


@dataclass
class LayeredGraph:
    """``weights[i]`` (n_i × n_{i+1}, ≥ 0) joins layer i to layer i+1; ``keep[i]`` marks which of the
    network's original nodes of layer i are still present (isolated ones removed)."""

    weights: list[np.ndarray]
    keep: list[np.ndarray]

    @property
    def layer_sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def n_nodes(self) -> int:
        return sum(self.layer_sizes)

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric adjacency A = U + Uᵀ over all nodes, layers in order."""
        offsets = np.cumsum([0] + self.layer_sizes)
        blocks = []
        for i, w in enumerate(self.weights):
            block = sp.coo_matrix(w)
            blocks.append(sp.coo_matrix((block.data, (block.row + offsets[i], block.col + offsets[i + 1])),
                                        shape=(self.n_nodes, self.n_nodes)))
        upper = sum(blocks[1:], blocks[0]).tocsr()
        return (upper + upper.T).tocsr()

    def n_components(self) -> int:
        return connected_components(self.adjacency(), directed=False)[0]

    def expand_labels(self, labels: np.ndarray) -> list[np.ndarray]:
        """Per original layer, the label of each node (−1 for removed nodes)."""
        out, start = [], 0
        for keep in self.keep:
            layer = np.full(keep.shape[0], -1, dtype=np.int64)
            n = int(keep.sum())
            layer[keep] = labels[start:start + n]
            out.append(layer)
            start += n
        return out


def layered_graph(weights: list[np.ndarray | torch.Tensor]) -> LayeredGraph:
    """The graph of non-negative layer matrices (in × out each), with isolated nodes removed."""
    mats = [np.abs(np.asarray(w.detach().cpu() if torch.is_tensor(w) else w, dtype=np.float64)) for w in weights]
    for a, b in zip(mats[:-1], mats[1:]):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"layer matrices do not chain: {a.shape} then {b.shape}")
    full = LayeredGraph(mats, [np.ones(n, dtype=bool) for n in [mats[0].shape[0]] + [m.shape[1] for m in mats]])
    return remove_isolated(full)


def remove_isolated(graph: LayeredGraph) -> LayeredGraph:
    """Drop nodes with no edge (only singletons: larger disconnected components stay, as in the original)."""
    sizes = graph.layer_sizes
    degree = [np.zeros(n) for n in sizes]
    for i, w in enumerate(graph.weights):
        degree[i] += w.sum(axis=1)
        degree[i + 1] += w.sum(axis=0)
    alive = [d > 0 for d in degree]
    weights = [w[alive[i]][:, alive[i + 1]] for i, w in enumerate(graph.weights)]
    keep = []
    for old, live in zip(graph.keep, alive):
        new = old.copy()
        new[np.flatnonzero(old)] = live
        keep.append(new)
    return LayeredGraph(weights, keep)


def mlp_graph(model: torch.nn.Module) -> LayeredGraph:
    """Units of every layer (inputs and logits included) joined by ``|w|``; biases are ignored.

    The ``nn.Linear`` layers are found by tracing the forward pass, in the order it uses them; a model whose
    linear layers do not form a chain (a skip connection, a layer used twice, a convolution or LSTM in between)
    raises ``tracing.GraphTracingError`` naming the module."""
    linears = tracing.weighted_chain(model, (torch.nn.Linear,))
    return layered_graph([m.weight.detach().T for m in linears])


def cnn_graph(model: torch.nn.Module, norm: str = "induced_1") -> LayeredGraph:
    """One node per channel of every conv layer; the image→conv1 block and dense layers are left out.

    The ``nn.Conv2d`` layers are found by tracing the forward pass up to the first ``nn.Linear``; they must form a
    chain (pooling, normalisation and activations in between are fine; a residual connection is refused).

    The edge between input channel a and output channel b is a norm of ``|K[b, a]|`` (kh × kw):
    ``induced_1`` is the max column sum, what ``numpy.linalg.norm(slice, 1)`` computes in the original
    code and so what every published number used; ``entrywise_1`` is Σ|k|, what "L1 norm" usually means.
    """
    convs = tracing.weighted_chain(model, (torch.nn.Conv2d,), stop_at=(torch.nn.Linear,))
    if len(convs) < 2:
        raise ValueError("a channel graph needs at least two conv layers")
    mats = []
    for conv in convs[1:]:
        k = conv.weight.detach().abs().double()  # (out, in, kh, kw)
        if norm == "induced_1":
            mats.append(k.sum(dim=2).amax(dim=2).T)  # column sums over kernel rows, max over columns
        elif norm == "entrywise_1":
            mats.append(k.sum(dim=(2, 3)).T)
        else:
            raise ValueError(f"unknown kernel norm {norm!r}; use 'induced_1' or 'entrywise_1'")
    return layered_graph(mats)


# --- the bipartite form --------------------------------------------------------------------------------

def _block_rectangles(sizes: list[int]) -> list[tuple[int, int, int, int]]:
    """Where each layer matrix sits in B: (first row, end row, first column, end column), in layer order. The
    rest of B is zero (edges join neighbouring layers only)."""
    even = [i for i in range(len(sizes)) if i % 2 == 0]
    odd = [i for i in range(len(sizes)) if i % 2 == 1]
    row0 = {i: sum(sizes[m] for m in even if m < i) for i in even}
    col0 = {i: sum(sizes[m] for m in odd if m < i) for i in odd}
    rectangles = []
    for i in range(len(sizes) - 1):
        row_layer, col_layer = (i, i + 1) if i % 2 == 0 else (i + 1, i)
        rectangles.append((row0[row_layer], row0[row_layer] + sizes[row_layer],
                           col0[col_layer], col0[col_layer] + sizes[col_layer]))
    return rectangles


def _bipartite_blocks(weights: list[torch.Tensor]) -> torch.Tensor:
    """B (batch × even-layer nodes × odd-layer nodes) from batched layer matrices (batch × n_i × n_{i+1})."""
    sizes = [weights[0].shape[1]] + [w.shape[2] for w in weights]
    rectangles = _block_rectangles(sizes)
    b = weights[0].new_zeros(weights[0].shape[0], sum(sizes[0::2]), sum(sizes[1::2]))
    for i, (w, (r0, r1, c0, c1)) in enumerate(zip(weights, rectangles)):
        b[:, r0:r1, c0:c1] = w if i % 2 == 0 else w.transpose(1, 2)  # an odd layer i is a column layer
    return b


def _node_order(n_layers: int, sizes: list[int]) -> np.ndarray:
    """Position in layer order of each node in (even layers, then odd layers) order."""
    offsets = np.cumsum([0] + sizes)
    parts = [np.arange(offsets[i], offsets[i + 1]) for i in range(n_layers) if i % 2 == 0]
    parts += [np.arange(offsets[i], offsets[i + 1]) for i in range(n_layers) if i % 2 == 1]
    return np.concatenate(parts)


# Above this many nodes on the bipartite graph's smaller side (VGG channel graphs: about 2,000), ARPACK finds the
# top k eigenpairs of NᵀN instead of a full eigendecomposition, from products with N and Nᵀ one layer matrix at a
# time: forming NᵀN densely (a cubic product over mostly zero blocks) cost more than ARPACK itself, and dense
# per-layer products run ≈ 3.5× faster than one sparse (CSR) product over all of N, with no conversion to build.
LARGE_SIDE = 1000


def _top_gram_eigenpairs(normalised: torch.Tensor, ks: list[int], rectangles=None) -> dict:
    """``{k: (the k largest eigenvalues (descending), their eigenvectors)}`` of NᵀN for each N in the batch;
    ``rectangles`` (see ``_block_rectangles``) say where N can be non-zero (default: anywhere). Below
    ``LARGE_SIDE`` one full eigendecomposition serves every k (each k's pairs are exactly those it would get
    alone); ARPACK finds each k's pairs by itself."""
    if normalised.shape[-1] <= LARGE_SIDE:
        values, vectors = torch.linalg.eigh(normalised.transpose(1, 2) @ normalised)  # ascending
        return {k: (values[:, -k:].flip(1), vectors[:, :, -k:].flip(2)) for k in ks}
    return {k: _arpack_gram_eigenpairs(normalised, k, rectangles) for k in ks}


def _arpack_gram_eigenpairs(normalised: torch.Tensor, k: int, rectangles=None) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.sparse.linalg import LinearOperator, eigsh

    rows, side = normalised.shape[1:]
    rectangles = rectangles or [(0, rows, 0, side)]
    start = np.random.RandomState(0).uniform(-1, 1, side)  # ARPACK's own start is random: fix it
    pairs = []
    for n in normalised.cpu().numpy():
        blocks = [(r0, r1, c0, c1, np.ascontiguousarray(n[r0:r1, c0:c1])) for r0, r1, c0, c1 in rectangles]

        def gram_times(v, blocks=blocks):  # Nᵀ(N v), one dense product per layer matrix
            u, out = np.zeros(rows), np.zeros(side)
            for r0, r1, c0, c1, block in blocks:
                u[r0:r1] += block @ v[c0:c1]
            for r0, r1, c0, c1, block in blocks:
                out[c0:c1] += u[r0:r1] @ block
            return out

        pairs.append(eigsh(LinearOperator((side, side), matvec=gram_times, dtype=n.dtype), k=k, which="LA", v0=start))
    order = [np.argsort(-values) for values, _ in pairs]
    values = torch.as_tensor(np.stack([vals[o] for (vals, _), o in zip(pairs, order)]), dtype=normalised.dtype)
    vectors = torch.as_tensor(np.stack([vecs[:, o] for (_, vecs), o in zip(pairs, order)]), dtype=normalised.dtype)
    return values.to(normalised.device), vectors.to(normalised.device)


def _bipartite_embedding(b: torch.Tensor, k: int, rectangles=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spectral embedding D^-1/2 [v_1..v_k] of each graph in the batch; also degrees and validity."""
    return _bipartite_embeddings(b, [k], rectangles)[k]


def _bipartite_embeddings(b: torch.Tensor, ks: list[int], rectangles=None) -> dict:
    """``{k: _bipartite_embedding(b, k)}``, normalising and eigendecomposing once for every k."""
    d_rows, d_cols = b.sum(dim=2), b.sum(dim=1)
    inv_rows = torch.where(d_rows > 0, d_rows.clamp_min(1e-300).rsqrt(), torch.zeros_like(d_rows))
    inv_cols = torch.where(d_cols > 0, d_cols.clamp_min(1e-300).rsqrt(), torch.zeros_like(d_cols))
    normalised = inv_rows[:, :, None] * b * inv_cols[:, None, :]
    transpose = normalised.shape[1] < normalised.shape[2]
    if transpose:  # eigendecompose the Gram matrix of the smaller side
        normalised = normalised.transpose(1, 2)
        inv_rows, inv_cols = inv_cols, inv_rows
        rectangles = rectangles and [(c0, c1, r0, r1) for r0, r1, c0, c1 in rectangles]
    if max(ks) > normalised.shape[2]:
        raise ValueError(f"k={max(ks)} exceeds the smaller side of the bipartite graph ({normalised.shape[2]} nodes)")
    degree = torch.cat([d_rows, d_cols], dim=1)
    embeddings = {}
    for k, (values, v) in _top_gram_eigenpairs(normalised, ks, rectangles).items():
        sigma = values.clamp_min(0).sqrt()
        u = (normalised @ v) / sigma.clamp_min(1e-12)[:, None, :]
        # Each unit eigenvector of the full normalised adjacency is (u; v)/√2; the common factor is kept so
        # the embedding has exactly the scale scikit-learn's has (k-means does not care).
        emb_rows = inv_rows[:, :, None] * u / math.sqrt(2)
        emb_cols = inv_cols[:, :, None] * v / math.sqrt(2)
        if transpose:
            emb_rows, emb_cols = emb_cols, emb_rows
        embeddings[k] = torch.cat([emb_rows, emb_cols], dim=1), degree, degree > 0
    return embeddings


def _bipartite_ncut(b: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """n-cut = Σ_i cut(A_i) / (vol(A_i) + 1e-8) per graph; labels in (even, odd) node order, −1 ignored."""
    n_rows = b.shape[1]
    onehot = torch.nn.functional.one_hot(labels.clamp_min(0), k).to(b.dtype) * (labels >= 0)[..., None]
    h_rows, h_cols = onehot[:, :n_rows], onehot[:, n_rows:]
    degree = torch.cat([b.sum(dim=2), b.sum(dim=1)], dim=1)
    volume = (onehot * degree[..., None]).sum(dim=1)
    inside = 2 * torch.einsum("sek,seo,sok->sk", h_rows, b, h_cols)
    return ((volume - inside) / (volume + 1e-8)).sum(dim=1)


def cluster_layer_matrices(weights: list[torch.Tensor], k: int, seeds: list[int], n_init: int | None = None):
    """Spectral clustering and n-cut of a batch of layered graphs given as batched layer matrices.

    Returns (labels in layer order with −1 for isolated nodes, n-cuts), both with one row per graph.
    """
    return cluster_layer_matrices_ks(weights, [k], seeds, n_init)[k]


def cluster_layer_matrices_ks(weights: list[torch.Tensor], ks: list[int], seeds: list[int],
                              n_init: int | None = None) -> dict:
    """``{k: cluster_layer_matrices(weights, k, …)}``, building the graphs and their spectra once for every k."""
    sizes = [weights[0].shape[1]] + [w.shape[2] for w in weights]
    b = _bipartite_blocks(weights)
    n_init = n_init or default_n_init(sum(sizes))
    order = torch.as_tensor(_node_order(len(sizes), sizes))
    out = {}
    for k, (embedding, _, valid) in _bipartite_embeddings(b, ks, _block_rectangles(sizes)).items():
        labels = kmeans(embedding, valid, k, n_init=n_init, seeds=seeds)
        ncuts = _bipartite_ncut(b, labels, k)
        in_layer_order = torch.empty_like(labels)
        in_layer_order[:, order] = labels
        out[k] = in_layer_order, ncuts
    return out


def spectral_clustering(graph: LayeredGraph, k: int, seed: int = 0, n_init: int | None = None):
    """Labels (over the graph's nodes, layer order) and n-cut of one layered graph."""
    labels, ncuts = cluster_layer_matrices([torch.as_tensor(w)[None] for w in graph.weights], k, [seed], n_init)
    return labels[0].numpy(), float(ncuts[0])


# --- general graphs (e.g. activation correlations) -------------------------------------------------------

def spectral_clustering_dense(adjacency: np.ndarray | torch.Tensor, k: int, seed: int = 0,
                              n_init: int | None = None) -> tuple[np.ndarray, float]:
    """The same clustering for any symmetric non-negative adjacency (dense eigendecomposition)."""
    a = torch.as_tensor(np.asarray(adjacency), dtype=torch.float64)
    degree = a.sum(dim=1)
    valid = degree > 0
    inv = torch.where(valid, degree.clamp_min(1e-300).rsqrt(), torch.zeros_like(degree))
    values, vectors = torch.linalg.eigh(inv[:, None] * a * inv[None, :])
    embedding = inv[:, None] * vectors[:, -k:].flip(1)
    n_init = n_init or default_n_init(a.shape[0])
    labels = kmeans(embedding[None], valid[None], k, n_init=n_init, seeds=[seed])[0]
    return labels.numpy(), ncut(a.numpy(), labels.numpy())


def ncut(adjacency, labels: np.ndarray) -> float:
    """Σ_i cut(A_i) / (vol(A_i) + 1e-8) with no ½ factor; nodes labelled −1 are left out."""
    a = sp.csr_matrix(adjacency)
    labels = np.asarray(labels)
    degree = np.asarray(a.sum(axis=1)).ravel()
    total = 0.0
    for c in np.unique(labels[labels >= 0]):
        inside = labels == c
        volume = degree[inside].sum()
        within = a[inside][:, inside].sum()
        total += (volume - within) / (volume + 1e-8)
    return float(total)


# --- null models ------------------------------------------------------------------------------------------

def shuffled_weights(graph: LayeredGraph, method: str, seeds: list[int]) -> list[torch.Tensor]:
    """Batched layer matrices of the shuffles of ``graph``, one per seed.

    ``layer`` permutes every entry of each matrix (zeros too: same weights and sparsity level, random
    pattern); ``layer_nonzero`` permutes only the non-zero values among the non-zero positions.
    """
    if method not in SHUFFLE_METHODS:
        raise ValueError(f"unknown shuffle method {method!r}; use one of {SHUFFLE_METHODS}")
    out = []
    for layer, w in enumerate(graph.weights):
        flat = torch.as_tensor(w).reshape(-1)
        positions = torch.arange(flat.numel()) if method == "layer" else torch.nonzero(flat).ravel()
        batch = flat.repeat(len(seeds), 1)
        for row, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(seed * 1_000_003 + layer)
            perm = positions[torch.randperm(positions.numel(), generator=generator)]
            batch[row, positions] = flat[perm]
        out.append(batch.reshape(len(seeds), *w.shape))
    return out


SHUFFLES_FOR_5_PERCENT = 19  # 1/(19 + 1) = 0.05


class FewShufflesWarning(UserWarning):
    """Too few shuffles for 'below every shuffle' to be a test at the 5% level."""


def clusterability(graph: LayeredGraph, k: int, n_shuffles: int, method: str = "layer", seed: int = 0,
                   progress=None) -> dict:
    """n-cut of the graph against ``n_shuffles`` shuffles of it: percentile p, z-score, below every shuffle.

    p = (1 + #{shuffled n-cut < n-cut}) / (n + 1) (left tail); z uses the population std of the shuffled
    n-cuts, as in the original. ``below_every_shuffle`` is true when p = 1/(n+1), the smallest p that n
    shuffles can give: a test at level 1/(n+1), so it means p < 0.05 only from n = 19 shuffles on (the papers
    use 50 or 320), and fewer shuffles raise a ``FewShufflesWarning``.
    """
    return clusterability_ks(graph, [k], n_shuffles, method, seed, progress)[k]


def clusterability_ks(graph: LayeredGraph, ks: list[int], n_shuffles: int, method: str = "layer", seed: int = 0,
                      progress=None) -> dict:
    """``{k: clusterability(graph, k, …)}`` for several k: each shuffle is drawn, built and eigendecomposed
    once for all of them (P1 clusters 320 shuffles at k = 10, 7 and 2), with results identical to one k at a
    time."""
    if n_shuffles < SHUFFLES_FOR_5_PERCENT:
        warnings.warn(f"with {n_shuffles} shuffles the smallest possible p is 1/{n_shuffles + 1} = "
                      f"{1 / (n_shuffles + 1):.3f}: 'below every shuffle' then does not mean p < 0.05; "
                      f"use at least {SHUFFLES_FOR_5_PERCENT} shuffles", FewShufflesWarning, stacklevel=3)
    network = cluster_layer_matrices_ks([torch.as_tensor(w)[None] for w in graph.weights], ks, [seed])
    shuffles, batch = {k: [] for k in ks}, graphs_per_batch(graph.n_nodes)
    for start in range(0, n_shuffles, batch):
        seeds = [seed * 100_003 + 1 + i for i in range(start, min(start + batch, n_shuffles))]
        for k, (_, ncuts) in cluster_layer_matrices_ks(shuffled_weights(graph, method, seeds), ks, seeds).items():
            shuffles[k].extend(ncuts.tolist())
        if progress is not None:
            progress.update(len(seeds) * len(ks))
    n_components = graph.n_components()
    return {k: null_model_scores(float(network[k][1][0]), np.array(shuffles[k])) | {"n_components": n_components}
            for k in ks}


def null_model_scores(value: float, null: np.ndarray) -> dict:
    null = np.asarray(null, dtype=np.float64)
    n = len(null)
    p = (1 + int((null < value).sum())) / (n + 1)
    std = float(null.std()) if n else float("nan")
    return {"ncut": float(value), "shuffle_ncuts": null, "shuffle_mean": float(null.mean()) if n else float("nan"),
            "shuffle_std": std, "z": (value - float(null.mean())) / std if n and std > 0 else float("nan"),
            "p": p, "below_every_shuffle": bool(n and math.isclose(p, 1 / (n + 1)))}
