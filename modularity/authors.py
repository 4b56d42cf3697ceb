"""The authors' own numbers, transcribed with their source, for the book to show beside ours.

Clusterability (Filan et al., *Clusterability in Neural Networks*): means over the networks of each row of the
result files committed with the original code, `dfilan/clusterability_in_neural_networks` under `results/`
(k = 12, 50 `layer` shuffles; "below every shuffle" is the share of networks with p = 1/51). ``None`` marks a
number the transcription does not give: it is shown as missing, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["P1", "P1B", "P1B_CNN", "P1B_IMAGENET", "P1B_VGG", "P1bRow", "RANDOM_INIT", "RANDOM_INIT_SOURCE", "p1_row",
           "p1b_row"]

MLP_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_mlp.csv"
CLUSTER_GRAD_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_clust_grad.csv"
CNN_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_cnn.csv"
VGG_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_cnn_vgg.csv"
RANDOM_INIT_SOURCE = "dfilan/clusterability_in_neural_networks, notebooks/random_init_ncuts.ipynb"
IMAGENET_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_imagenet.csv"
# kind → (mean, sd) of the n-cut at k = 12 of 100 untrained networks with Glorot-uniform weights
RANDOM_INIT = {"mlp": (10.295, 0.032), "cnn": (10.923, 0.007), "vgg": (8.520, 0.029)}


@dataclass(frozen=True)
class P1bRow:
    ncut: float | None
    shuffle_mean: float | None
    z: float | None
    below_every_shuffle: float | None  # share of the networks
    test_acc: float | None
    source: str


def _mlp(ncut, shuffled, z, below, test_acc=None) -> P1bRow:
    return P1bRow(ncut, shuffled, z, below, test_acc, MLP_SOURCE)


# (dataset, setting) → the authors' means; settings named as in ``experiments.networks.SETTINGS``
P1B: dict[tuple[str, str], P1bRow] = {
    ("mnist", "plain"): _mlp(10.02, 10.17, -4.5, 1.0),
    ("mnist", "dropout"): _mlp(9.97, 10.30, -3.0, 1.0),
    ("mnist", "l1"): _mlp(9.06, 6.51, 18.0, 0.0),
    ("mnist", "l2"): _mlp(9.64, 9.39, 4.0, 0.2),
    ("mnist", "clusterable_init"): _mlp(8.72, 10.07, -43.8, 1.0),
    ("mnist", "pruned"): _mlp(8.88, 9.18, -9.7, 1.0),
    ("mnist", "pruned_dropout"): _mlp(8.35, 9.25, -24.0, 1.0),
    ("mnist", "pruned_l1"): _mlp(10.06, 2.72, 22.3, 0.0),
    ("mnist", "pruned_l2"): _mlp(8.34, 8.60, -6.0, 0.6),
    ("mnist", "pruned_clusterable_init"): _mlp(5.75, 9.20, -92.0, 1.0),
    ("mnist", "halves_same"): _mlp(10.04, 10.10, -2.6, 0.4),
    ("mnist", "halves_diff"): _mlp(9.87, 10.31, -7.2, 1.0, 0.93),
    ("mnist", "pruned_halves_diff"): _mlp(None, None, None, None, 0.94),
    ("fashion_mnist", "plain"): _mlp(9.89, 10.08, -5.4, 1.0),
    ("fashion_mnist", "dropout"): _mlp(9.70, 10.05, -10.7, 1.0),
    ("fashion_mnist", "l1"): _mlp(8.41, 7.21, 11.5, 0.0),
    ("fashion_mnist", "l2"): _mlp(9.47, 9.19, 4.3, 0.0),
    ("fashion_mnist", "clusterable_init"): _mlp(8.75, 10.02, -34.0, 1.0),
    ("fashion_mnist", "pruned"): _mlp(8.69, 9.03, -10.4, 1.0),
    ("fashion_mnist", "pruned_dropout"): _mlp(8.11, 9.13, -24.7, 1.0),
    ("fashion_mnist", "pruned_l1"): _mlp(9.94, 4.59, 23.8, 0.0),
    ("fashion_mnist", "pruned_l2"): _mlp(8.52, 8.75, -3.9, 0.6),
    ("fashion_mnist", "pruned_clusterable_init"): _mlp(6.27, 9.07, -81.1, 1.0),
    ("fashion_mnist", "halves_same"): _mlp(9.78, 9.92, -4.4, 0.8),
    ("fashion_mnist", "halves_diff"): _mlp(9.88, 10.25, -18.9, 1.0, 0.72),
    ("poly", "plain"): _mlp(9.81, 10.19, -25.5, 1.0),
    ("poly", "l1"): _mlp(9.21, 9.28, None, 0.6),
    ("poly", "l2"): _mlp(8.30, 9.87, -130.0, None),
    ("mnist_7x7", "plain"): P1bRow(10.02, None, None, None, 0.957, CLUSTER_GRAD_SOURCE),
    ("mnist_7x7", "cluster_grad"): P1bRow(8.93, None, None, None, 0.959, CLUSTER_GRAD_SOURCE),
    ("mnist_7x7", "pruned"): P1bRow(7.11, None, -2.7, 0.4, 0.934, CLUSTER_GRAD_SOURCE),
    ("mnist_7x7", "pruned_cluster_grad"): P1bRow(5.51, None, -5.3, 0.7, 0.896, CLUSTER_GRAD_SOURCE),
}


def _cnn(ncut, shuffled, z, below) -> P1bRow:
    return P1bRow(ncut, shuffled, z, below, None, CNN_SOURCE)


# the small CNN's channel graph, k = 12; rows the transcription gives without naming their dataset are left out
P1B_CNN: dict[tuple[str, str], P1bRow] = {
    ("mnist", "plain"): _cnn(10.69, 10.67, None, 0.0),
    ("fashion_mnist", "plain"): _cnn(10.64, 10.67, None, 0.2),
    ("mnist", "l2"): _cnn(8.05, 10.25, -70.7, None),
    ("fashion_mnist", "l2"): _cnn(9.30, 10.58, None, None),
    ("mnist", "clusterable_init"): _cnn(None, None, None, 1.0),
    ("fashion_mnist", "clusterable_init"): _cnn(None, None, None, 1.0),
    ("mnist", "pruned"): _cnn(10.46, 10.03, 11.0, None),
}


def _vgg(ncut, shuffled, z, below, test_acc) -> P1bRow:
    return P1bRow(ncut, shuffled, z, below, test_acc, VGG_SOURCE)


# the CIFAR-10 VGG's channel graph, k = 12: means over the file's 5 networks per setting ("below every
# shuffle": percentile 1/51)
P1B_VGG: dict[tuple[str, str], P1bRow] = {
    ("cifar10", "plain"): _vgg(8.19, 3.82, 18.8, 0.0, 0.882),
    ("cifar10", "l1"): _vgg(5.29, 2.07, 92.0, 0.0, 0.871),
    ("cifar10", "l2"): _vgg(8.55, 2.10, 33.4, 0.0, 0.899),
    ("cifar10", "dropout"): _vgg(8.84, 8.28, 5.2, 0.0, 0.896),
    ("cifar10", "dropout_l2"): _vgg(8.35, 8.25, 1.2, 0.2, 0.898),
    ("cifar10", "clusterable_init"): _vgg(8.21, 3.90, 19.7, 0.0, 0.898),
    ("cifar10", "pruned"): _vgg(8.13, 3.60, 21.1, 0.0, 0.909),
    ("cifar10", "pruned_l1"): _vgg(4.70, 0.74, 104.7, 0.0, 0.881),
    ("cifar10", "pruned_l2"): _vgg(8.70, 1.73, 31.3, 0.0, 0.908),
    ("cifar10", "pruned_dropout"): _vgg(6.34, 7.98, -8.2, 1.0, 0.905),
    ("cifar10", "pruned_dropout_l2"): _vgg(6.14, 7.99, -11.4, 0.8, 0.902),
    ("cifar10", "pruned_clusterable_init"): _vgg(8.21, 3.58, 20.2, 0.0, 0.902),
}


def p1b_row(dataset: str, setting: str, kind: str = "mlp") -> P1bRow | None:
    """The authors' row for a (dataset, setting) of an MLP, the small CNN or the CIFAR-10 VGG, or None where they
    published none."""
    return {"cnn": P1B_CNN, "vgg": P1B_VGG}.get(kind, P1B).get((dataset, setting))


# torchvision-named ImageNet models, k = 12, 100 shuffles, one pretrained network each (Keras weights of
# qubvel's classification_models in the original): n-cut, shuffle mean, z, below every shuffle (p = 1/101)
P1B_IMAGENET: dict[str, P1bRow] = {
    "vgg16": P1bRow(7.800, 8.213, -22.1, 1.0, None, IMAGENET_SOURCE),
    "resnet18": P1bRow(7.905, 8.508, -2.2, 1.0, None, IMAGENET_SOURCE),
}


def p1_source(k: int) -> str:
    return ("dfilan/clusterability_in_neural_networks, "
            f"notebooks/mlp-clustering-stability-different-n_clusters-K={k}.ipynb (cell 12)")


def _p1(k, ncut, shuffled, z, below, test_acc) -> P1bRow:
    return P1bRow(ncut, shuffled, z, below, test_acc, p1_source(k))


P1_SHUFFLES = 320  # P1's shuffles per network and null model: "below every shuffle" is p = 1/321 there


# Filan et al.'s first paper (*Pruned Neural Networks are Surprisingly Modular*): pruned 784-256×4-10 MLPs, 10 per
# row, 320 shuffles per null model. Means over the 10 networks of the per-network table saved in each notebook's
# cell 12 (n-cut, shuffle mean, z-score, is_sig = below every shuffle, test accuracy). Greyscale CIFAR-10 trained
# 20 + 40 epochs there (100 + 40 with dropout 0.2). (k, dataset, setting, null model) → the authors' means
P1: dict[tuple[int, str, str, str], P1bRow] = {
    (10, "mnist", "pruned", "layer"): _p1(10, 7.137, 7.397, -8.05, 1.0, 0.984),
    (10, "mnist", "pruned", "layer_nonzero"): _p1(10, 7.137, 7.293, -2.46, 0.9, 0.984),
    (10, "mnist", "pruned_dropout", "layer"): _p1(10, 6.688, 7.421, -24.31, 1.0, 0.979),
    (10, "mnist", "pruned_dropout", "layer_nonzero"): _p1(10, 6.688, 6.881, -8.02, 1.0, 0.979),
    (10, "fashion_mnist", "pruned", "layer"): _p1(10, 6.975, 7.257, -9.55, 0.9, 0.893),
    (10, "fashion_mnist", "pruned", "layer_nonzero"): _p1(10, 6.975, 7.051, -0.50, 0.1, 0.893),
    (10, "fashion_mnist", "pruned_dropout", "layer"): _p1(10, 6.460, 7.339, -28.15, 1.0, 0.869),
    (10, "fashion_mnist", "pruned_dropout", "layer_nonzero"): _p1(10, 6.460, 6.732, -3.52, 1.0, 0.869),
    (10, "cifar10_gray", "pruned", "layer"): _p1(10, 7.331, 7.303, 1.05, 0.2, 0.415),
    (10, "cifar10_gray", "pruned", "layer_nonzero"): _p1(10, 7.331, 7.312, -0.36, 0.1, 0.415),
    (10, "cifar10_gray", "pruned_dropout", "layer"): _p1(10, 6.973, 7.298, -16.10, 1.0, 0.422),
    (10, "cifar10_gray", "pruned_dropout", "layer_nonzero"): _p1(10, 6.973, 7.153, -1.28, 0.2, 0.422),
    (7, "mnist", "pruned", "layer"): _p1(7, 4.556, 4.710, -6.52, 1.0, 0.984),
    (7, "mnist", "pruned", "layer_nonzero"): _p1(7, 4.556, 4.653, -2.07, 0.6, 0.984),
    (7, "mnist", "pruned_dropout", "layer"): _p1(7, 4.222, 4.712, -21.88, 1.0, 0.979),
    (7, "mnist", "pruned_dropout", "layer_nonzero"): _p1(7, 4.222, 4.344, -7.75, 1.0, 0.979),
    (7, "fashion_mnist", "pruned", "layer"): _p1(7, 4.351, 4.613, -10.44, 1.0, 0.893),
    (7, "fashion_mnist", "pruned", "layer_nonzero"): _p1(7, 4.351, 4.457, -0.93, 0.0, 0.893),
    (7, "fashion_mnist", "pruned_dropout", "layer"): _p1(7, 4.079, 4.663, -21.84, 1.0, 0.869),
    (7, "fashion_mnist", "pruned_dropout", "layer_nonzero"): _p1(7, 4.079, 4.239, -2.62, 0.5, 0.869),
    (7, "cifar10_gray", "pruned", "layer"): _p1(7, 4.707, 4.647, 2.48, 0.1, 0.415),
    (7, "cifar10_gray", "pruned", "layer_nonzero"): _p1(7, 4.707, 4.633, 0.66, 0.0, 0.415),
    (7, "cifar10_gray", "pruned_dropout", "layer"): _p1(7, 4.373, 4.618, -15.12, 0.9, 0.422),
    (7, "cifar10_gray", "pruned_dropout", "layer_nonzero"): _p1(7, 4.373, 4.465, -0.91, 0.2, 0.422),
    (2, "mnist", "pruned", "layer"): _p1(2, 0.333, 0.330, 1.12, 0.0, 0.984),
    (2, "mnist", "pruned", "layer_nonzero"): _p1(2, 0.333, 0.332, 1.39, 0.0, 0.984),
    (2, "mnist", "pruned_dropout", "layer"): _p1(2, 0.332, 0.323, 3.91, 0.0, 0.979),
    (2, "mnist", "pruned_dropout", "layer_nonzero"): _p1(2, 0.332, 0.331, 1.47, 0.0, 0.979),
    (2, "fashion_mnist", "pruned", "layer"): _p1(2, 0.319, 0.313, 3.17, 0.0, 0.893),
    (2, "fashion_mnist", "pruned", "layer_nonzero"): _p1(2, 0.319, 0.318, 1.80, 0.0, 0.893),
    (2, "fashion_mnist", "pruned_dropout", "layer"): _p1(2, 0.312, 0.312, -0.47, 0.0, 0.869),
    (2, "fashion_mnist", "pruned_dropout", "layer_nonzero"): _p1(2, 0.312, 0.312, 0.05, 0.0, 0.869),
    (2, "cifar10_gray", "pruned", "layer"): _p1(2, 0.306, 0.313, -5.50, 0.9, 0.415),
    (2, "cifar10_gray", "pruned", "layer_nonzero"): _p1(2, 0.306, 0.297, 17.25, 0.0, 0.415),
    (2, "cifar10_gray", "pruned_dropout", "layer"): _p1(2, 0.290, 0.308, -20.83, 0.9, 0.422),
    (2, "cifar10_gray", "pruned_dropout", "layer_nonzero"): _p1(2, 0.290, 0.257, 29.05, 0.0, 0.422),
}


def p1_row(k: int, dataset: str, setting: str, method: str) -> P1bRow | None:
    """P1's means for pruned MLPs at (k, dataset, setting, null model), or None where P1 has no such row."""
    return P1.get((k, dataset, setting, method))
