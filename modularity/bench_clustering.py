"""Speed of the shuffle null model: this project's batched spectral clustering against scikit-learn's
``SpectralClustering`` pipeline (the original's call: affinity="precomputed", eigen_solver="arpack",
assign_labels="kmeans", n_init=25, or 100 above 2,000 nodes, as ours) on the same shuffled graphs, timed in the
same run.

Graphs are shuffles (``layer``) of a 784-256×4-10 MLP with Glorot-uniform weights, dense and 90%
magnitude-pruned per layer, i.e. the graphs the clusterability chapter clusters by the hundred, and of the
channel graph of a freshly initialised CIFAR-10 VGG (P1b's, 4,224 channels: the largest graph of the papers).
"""

from __future__ import annotations

import json
import math
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from modularity import clustering

SIZES = (784, 256, 256, 256, 256, 10)


def glorot_layers(seed: int, sparsity: float = 0.0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mats = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        limit = math.sqrt(6 / (a + b))
        w = (torch.rand(a, b, generator=generator, dtype=torch.float64) * 2 - 1) * limit
        if sparsity:
            n_pruned = math.floor(sparsity * w.numel())
            w.view(-1)[torch.topk(w.abs().flatten(), n_pruned, largest=False).indices] = 0
        mats.append(w)
    return mats


def _graphs(network: clustering.LayeredGraph, n_graphs: int) -> list[list[torch.Tensor]]:
    """Shuffles of the network, as chunks of batched layer matrices (the clusterability code's layout)."""
    seeds, batch = list(range(1, n_graphs + 1)), clustering.graphs_per_batch(network.n_nodes)
    return [clustering.shuffled_weights(network, "layer", seeds[i:i + batch]) for i in range(0, n_graphs, batch)]


def _ours(chunks, k: int) -> tuple[float, list[float]]:
    start, ncuts, seed = time.perf_counter(), [], 0
    for chunk in chunks:
        seeds = list(range(seed, seed + chunk[0].shape[0]))
        seed += len(seeds)
        ncuts += clustering.cluster_layer_matrices(chunk, k, seeds)[1].tolist()
    return time.perf_counter() - start, ncuts


def vgg_channel_graph(seed: int = 0) -> clustering.LayeredGraph:
    """The channel graph (the induced 1-norm of each kernel slice, as the clusterability chapter builds it) of a
    freshly initialised CIFAR-10 VGG at width 1."""
    from modularity.experiments import clusterability

    model = clusterability.build("vgg", "cifar10", clusterability.VGGSettings(), "none", seed)
    return clusterability.graph_of(model, "vgg")


def _scikit_learn(chunks, k: int) -> tuple[float, list[float]]:
    from sklearn.cluster import SpectralClustering

    start, ncuts, seed = time.perf_counter(), [], 0
    for chunk in chunks:
        for i in range(chunk[0].shape[0]):
            sizes = [chunk[0].shape[1]] + [w.shape[2] for w in chunk]
            graph = clustering.remove_isolated(clustering.LayeredGraph(
                [w[i].numpy() for w in chunk], [np.ones(n, bool) for n in sizes]))
            adjacency = graph.adjacency()
            n_init = clustering.default_n_init(graph.n_nodes)  # the original's call: more restarts on large graphs
            labels = SpectralClustering(k, affinity="precomputed", eigen_solver="arpack", assign_labels="kmeans",
                                        n_init=n_init, random_state=seed).fit(adjacency).labels_
            ncuts.append(clustering.ncut(adjacency, labels))
            seed += 1
    return time.perf_counter() - start, ncuts


NETWORKS = ("dense", "pruned 90%", "vgg channels")


def _network(name: str) -> clustering.LayeredGraph:
    if name == "vgg channels":
        return vgg_channel_graph()
    return clustering.layered_graph(glorot_layers(0, 0.9 if name.startswith("pruned") else 0.0))


def benchmark(n_graphs: int = 16, k: int = 12, threads: int = 2, networks: tuple[str, ...] = NETWORKS) -> dict:
    """Graphs per second of both pipelines for each network, their ratio, and how well the n-cuts they
    find agree."""
    torch.set_num_threads(threads)
    rows = []
    with threadpool_limits(threads):
        for name in networks:
            network = _network(name)
            chunks = _graphs(network, n_graphs)
            _ours(chunks[:1], k)  # warm-up: first-call allocations
            ours_s, ours_ncuts = _ours(chunks, k)
            sk_s, sk_ncuts = _scikit_learn(chunks, k)
            difference = np.array(ours_ncuts) - np.array(sk_ncuts)
            rows.append({"network": name, "graphs": n_graphs, "nodes": network.n_nodes, "k": k,
                         "ours_graphs_per_s": n_graphs / ours_s, "sklearn_graphs_per_s": n_graphs / sk_s,
                         "speedup": sk_s / ours_s, "ncut_mean_abs_diff": float(np.abs(difference).mean()),
                         "ncut_mean_diff": float(difference.mean()), "ncut_mean": float(np.mean(sk_ncuts))})
    return {"environment": {"torch": torch.__version__, "threads": threads, "machine": platform.machine(),
                            "processor": platform.processor()}, "results": rows}


def keeps_pace(speedup_large: float, speedup_mlp: float) -> str:
    """The verdict on a large graph: is the pipeline as far ahead of scikit-learn there as on the MLP graphs
    (measured in the same run)?"""
    return ("as far ahead as on the MLP graphs" if speedup_large >= speedup_mlp
            else "less far ahead than on the MLP graphs")


def format_table(report: dict) -> str:
    lines = [f"{'network':<12}{'nodes':>7}{'ours graphs/s':>15}{'sklearn graphs/s':>18}{'speed-up':>10}"
             f"{'|Δ n-cut|':>11}"]
    for r in report["results"]:
        lines.append(f"{r['network']:<12}{r['nodes']:>7}{r['ours_graphs_per_s']:>15.2f}"
                     f"{r['sklearn_graphs_per_s']:>18.2f}{r['speedup']:>9.1f}×{r['ncut_mean_abs_diff']:>11.4f}")
    return "\n".join(lines)


def main(n_graphs: int, threads: int, output: str | None) -> int:
    report = benchmark(n_graphs=n_graphs, threads=threads)
    print(format_table(report))
    if output:
        with open(output, "w") as handle:
            json.dump(report, handle, indent=1)
    return 0
