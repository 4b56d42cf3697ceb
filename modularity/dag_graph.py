"""Channel graphs of convolutional networks that are not chains: residual connections (ResNets), shared inputs.

Filan et al. (P1b §ImageNet; original code: ``get_conv_weight_connections`` in
``dfilan/clusterability_in_neural_networks``) build these graphs for ImageNet models. A *group* of nodes is a
tensor that some convolution reads, one node per channel; each convolution joins the group it reads to every
group its output reaches before the next convolution, through activations, pooling, residual additions and
batch normalisation (which scales each output channel by γ/√(σ²+ε)). An edge's weight is the induced 1-norm
of the kernel slice, as in ``clustering.cnn_graph``. The image's group is dropped (its three colour channels
say nothing about modules), and so are the dense layers: the last group is the channels that are flattened into
the first dense layer. On a chain (VGG) this is ``clustering.cnn_graph``.

Such a graph has edges that skip groups, so it is clustered as a general graph: ARPACK's top-k eigenvectors of
its normalised adjacency, then k-means (``spectral_clustering``), as scikit-learn's ``SpectralClustering``
does. The ``layer`` null model permutes every convolution's kernel norms (zeros too) and rebuilds the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import fx, nn

from modularity import clustering
from modularity.kmeans import kmeans

__all__ = ["ChannelDAG", "channel_dag", "clusterability", "spectral_clustering"]

FLATTENS = (torch.flatten, nn.Flatten)


@dataclass
class Block:
    """One convolution's edges from the group it reads to one group it reaches, with the per-output-channel
    scale of the batch normalisations on the way."""
    conv: int
    source: int
    target: int
    scale: np.ndarray


@dataclass
class ChannelDAG:
    groups: list[tuple[str, int]]  # (the traced node whose channels they are, channel count)
    kernels: list[np.ndarray]  # each convolution's (in × out) kernel norms
    blocks: list[Block]

    @property
    def n_nodes(self) -> int:
        return sum(size for _, size in self.groups)

    def adjacency(self, kernels: list[np.ndarray] | None = None) -> sp.csr_matrix:
        """Symmetric adjacency over every group's channels (groups in trace order)."""
        kernels = self.kernels if kernels is None else kernels
        offsets = np.cumsum([0] + [size for _, size in self.groups])
        rows, cols, values = [], [], []
        for block in self.blocks:
            w = kernels[block.conv] * block.scale[None, :]
            r, c = np.nonzero(w)
            rows.append(r + offsets[block.source])
            cols.append(c + offsets[block.target])
            values.append(w[r, c])
        n = self.n_nodes
        a = sp.coo_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        return (a + a.T).tocsr()

    def shuffled(self, seed: int) -> sp.csr_matrix:
        """The ``layer`` null: every convolution's kernel norms permuted (zeros too), the graph rebuilt."""
        rng = np.random.default_rng(seed)
        return self.adjacency([rng.permutation(k.ravel()).reshape(k.shape) for k in self.kernels])


def _kernel_norms(conv: nn.Conv2d) -> np.ndarray:
    k = conv.weight.detach().abs().double()  # (out, in / groups, kh, kw)
    if conv.groups != 1:
        raise ValueError(f"grouped convolution {conv} is not supported in a channel graph")
    return k.sum(dim=2).amax(dim=2).T.numpy()  # induced 1-norm of each slice, (in × out)


def _bn_scale(bn: nn.BatchNorm2d) -> np.ndarray:
    weight = bn.weight.detach() if bn.affine else torch.ones_like(bn.running_var)
    return (weight / torch.sqrt(bn.running_var + bn.eps)).abs().double().numpy()


def _passes_through(node: fx.Node, modules: dict) -> bool:
    if node.op == "call_module":
        return not isinstance(modules[node.target], (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.Flatten))
    if node.op == "call_function":
        return node.target not in FLATTENS and node.target is not torch.cat
    return node.op == "call_method" and node.target not in ("flatten", "view", "reshape")


def channel_dag(model: nn.Module) -> ChannelDAG:
    """The channel graph of ``model`` (traced with ``torch.fx``; see the module docstring)."""
    traced = fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    convs = [n for n in traced.graph.nodes if n.op == "call_module" and isinstance(modules[n.target], nn.Conv2d)]
    if len(convs) < 2:
        raise ValueError("a channel graph needs at least two convolutions")
    group_of: dict[fx.Node, int] = {}
    groups: list[tuple[str, int]] = []

    def group(node: fx.Node, size: int) -> int:
        if node not in group_of:
            group_of[node] = len(groups)
            groups.append((node.name, size))
        return group_of[node]

    kernels, blocks = [], []
    for index, node in enumerate(convs):
        conv = modules[node.target]
        kernels.append(_kernel_norms(conv))
        source = node.args[0]
        if source.op == "placeholder":
            continue  # the image's channels: dropped, as in the original
        source_group = group(source, conv.in_channels)
        stack = [(node, np.ones(conv.out_channels))]
        while stack:
            current, scale = stack.pop()
            for user in current.users:
                module = modules.get(user.target) if user.op == "call_module" else None
                if isinstance(module, nn.Conv2d):
                    blocks.append(Block(index, source_group, group(current, conv.out_channels), scale))
                elif isinstance(module, nn.BatchNorm2d):
                    stack.append((user, scale * _bn_scale(module)))
                elif (isinstance(module, nn.Flatten) or (user.op == "call_function" and user.target in FLATTENS)
                      or (user.op == "call_method" and user.target in ("flatten", "view", "reshape"))):
                    blocks.append(Block(index, source_group, group(user, conv.out_channels), scale))
                elif user.op == "call_function" and user.target is torch.cat:
                    raise ValueError(f"{user.name} concatenates channels: not supported in a channel graph yet")
                elif isinstance(module, nn.Linear):  # the channels that go into the first dense layer
                    blocks.append(Block(index, source_group, group(current, conv.out_channels), scale))
                elif user.op == "output":
                    continue
                elif _passes_through(user, modules):  # activations, pooling, residual additions
                    stack.append((user, scale))
    # a group can be reached by several paths: each block stays, the adjacency sums them
    return ChannelDAG(groups, kernels, blocks)


def spectral_clustering(adjacency: sp.csr_matrix, k: int, seed: int = 0, n_init: int | None = None
                        ) -> tuple[np.ndarray, float]:
    """Labels (−1 for isolated nodes) and n-cut: the top-k eigenvectors of D^-1/2 A D^-1/2 by ARPACK (fixed
    start), each row scaled by D^-1/2, then k-means with ``n_init`` restarts (100 above 2,000 nodes)."""
    from scipy.sparse.linalg import eigsh

    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    alive = degree > 0
    a = adjacency[alive][:, alive]
    inv = 1 / np.sqrt(degree[alive])
    normalised = sp.diags(inv) @ a @ sp.diags(inv)
    start = np.random.RandomState(0).uniform(-1, 1, a.shape[0])
    _, vectors = eigsh(normalised, k=k, which="LA", v0=start)
    embedding = torch.as_tensor(vectors * inv[:, None])[None]
    n_init = n_init or clustering.default_n_init(a.shape[0])
    found = kmeans(embedding, torch.ones(1, a.shape[0], dtype=torch.bool), k, n_init=n_init, seeds=[seed])[0].numpy()
    labels = np.full(adjacency.shape[0], -1)
    labels[alive] = found
    return labels, clustering.ncut(adjacency, labels)


def clusterability(graph: ChannelDAG, k: int, n_shuffles: int, seed: int = 0) -> dict:
    """The graph's n-cut against ``n_shuffles`` ``layer`` shuffles (``clustering.null_model_scores``)."""
    _, value = spectral_clustering(graph.adjacency(), k, seed)
    null = np.array([spectral_clustering(graph.shuffled(seed + 1 + i), k, seed + 1 + i)[1]
                     for i in range(n_shuffles)])
    return {"ncut": value, "null": null} | clustering.null_model_scores(value, null)
