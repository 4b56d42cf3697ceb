"""The authors' own numbers, transcribed with their source, for the book to show beside ours.

Clusterability (Filan et al., *Clusterability in Neural Networks*): means over the networks of each row of the
result files committed with the original code, `dfilan/clusterability_in_neural_networks` under `results/`
(k = 12, 50 `layer` shuffles; "below every shuffle" is the share of networks with p = 1/51), computed from the
files' per-network rows. ``None`` marks a number the files do not give: it is shown as missing, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["P1", "P1B", "P1B_CNN", "P1B_IMAGENET", "P1B_VGG", "P1bRow", "RANDOM_INIT", "RANDOM_INIT_SOURCE", "p1_row",
           "p1b_row"]

MLP_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_mlp.csv"
CLUSTER_GRAD_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_clust_grad.csv"
CNN_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_cnn.csv"
VGG_SOURCE = "dfilan/clusterability_in_neural_networks, results/clustering_factors_cnn_vgg.csv"
LINES_SOURCE = ("dfilan/clusterability_in_neural_networks, "
                "results/mlp-clustering-stability-two-shuffling-methods-statistics-k12-n50.csv")
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
    z_range: tuple[float, float] | None = None  # the lowest and highest z of the row's networks, where known


def _rows_from(source: str):
    """A row maker for one result file: the numbers, then this file as their source."""
    def row(ncut, shuffled, z, below, test_acc, z_range=None) -> P1bRow:
        return P1bRow(ncut, shuffled, z, below, test_acc, source, z_range)
    return row


_mlp, _cluster_grad, _cnn, _vgg = map(_rows_from, (MLP_SOURCE, CLUSTER_GRAD_SOURCE, CNN_SOURCE, VGG_SOURCE))


# (dataset, setting) → the authors' means over each row's networks (5; 10 for the 7 × 7 MNIST's cluster-gradient
# rows); settings named as in ``experiments.networks.SETTINGS``. POLY is a regression: no test accuracy.
P1B: dict[tuple[str, str], P1bRow] = {
    ("mnist", "plain"): _mlp(10.024, 10.165, -4.47, 1.0, 0.980, (-5.6, -2.7)),
    ("mnist", "dropout"): _mlp(9.971, 10.295, -2.98, 1.0, 0.980, (-3.5, -2.3)),
    ("mnist", "l1"): _mlp(9.062, 6.505, 18.02, 0.0, 0.979, (16.2, 20.8)),
    ("mnist", "l2"): _mlp(9.639, 9.387, 4.02, 0.2, 0.980, (-3.4, 8.3)),
    ("mnist", "clusterable_init"): _mlp(8.718, 10.065, -43.75, 1.0, 0.979, (-49.7, -39.4)),
    ("mnist", "halves_same"): _mlp(10.041, 10.104, -2.56, 0.4, 0.993, (-4.3, -0.8)),
    ("mnist", "halves_diff"): _mlp(9.874, 10.312, -7.21, 1.0, 0.926, (-19.9, -3.5)),
    ("fashion_mnist", "plain"): _mlp(9.885, 10.080, -5.37, 1.0, 0.891, (-6.1, -5.0)),
    ("fashion_mnist", "dropout"): _mlp(9.698, 10.052, -10.68, 1.0, 0.872, (-14.9, -8.6)),
    ("fashion_mnist", "l1"): _mlp(8.407, 7.214, 11.47, 0.0, 0.880, (10.3, 12.0)),
    ("fashion_mnist", "l2"): _mlp(9.468, 9.185, 4.27, 0.0, 0.879, (2.2, 6.2)),
    ("fashion_mnist", "clusterable_init"): _mlp(8.746, 10.022, -34.02, 1.0, 0.892, (-37.6, -29.4)),
    ("fashion_mnist", "halves_same"): _mlp(9.782, 9.919, -4.35, 0.8, 0.940, (-6.1, -1.5)),
    ("fashion_mnist", "halves_diff"): _mlp(9.881, 10.246, -18.87, 1.0, 0.716, (-34.3, -11.1)),
    ("poly", "plain"): _mlp(9.810, 10.186, -25.46, 1.0, None, (-28.6, -18.7)),
    ("poly", "l1"): _mlp(9.209, 9.277, -2.14, 0.6, None, (-4.1, 0.1)),
    ("poly", "l2"): _mlp(8.300, 9.869, -130.36, 1.0, None, (-216.2, -29.7)),
    ("mnist", "pruned"): _mlp(8.880, 9.183, -9.67, 1.0, 0.984, (-11.0, -7.9)),
    ("mnist", "pruned_dropout"): _mlp(8.350, 9.247, -23.96, 1.0, 0.979, (-29.2, -18.7)),
    ("mnist", "pruned_l1"): _mlp(10.064, 2.717, 22.28, 0.0, 0.981, (18.6, 24.6)),
    ("mnist", "pruned_l2"): _mlp(8.335, 8.599, -5.99, 0.6, 0.982, (-48.8, 19.8)),
    ("mnist", "pruned_clusterable_init"): _mlp(5.750, 9.200, -91.96, 1.0, 0.983, (-112.1, -76.6)),
    ("mnist", "pruned_halves_same"): _mlp(8.923, 9.036, -3.01, 0.6, 0.995, (-6.8, 0.9)),
    ("mnist", "pruned_halves_diff"): _mlp(8.460, 9.181, -22.52, 1.0, 0.940, (-29.9, -20.2)),
    ("fashion_mnist", "pruned"): _mlp(8.687, 9.032, -10.35, 1.0, 0.894, (-16.4, -6.0)),
    ("fashion_mnist", "pruned_dropout"): _mlp(8.110, 9.131, -24.69, 1.0, 0.867, (-26.8, -22.2)),
    ("fashion_mnist", "pruned_l1"): _mlp(9.943, 4.591, 23.78, 0.0, 0.887, (19.3, 27.1)),
    ("fashion_mnist", "pruned_l2"): _mlp(8.524, 8.746, -3.89, 0.6, 0.892, (-21.7, 12.2)),
    ("fashion_mnist", "pruned_clusterable_init"): _mlp(6.265, 9.065, -81.05, 1.0, 0.893, (-99.2, -63.0)),
    ("fashion_mnist", "pruned_halves_same"): _mlp(8.447, 8.800, -9.51, 0.8, 0.947, (-12.8, -0.4)),
    ("fashion_mnist", "pruned_halves_diff"): _mlp(8.637, 9.046, -14.62, 1.0, 0.724, (-22.6, -3.1)),
    ("mnist_7x7", "plain"): _cluster_grad(10.020, 10.035, -0.49, 0.2, 0.957, (-2.5, 1.8)),
    ("mnist_7x7", "cluster_grad"): _cluster_grad(8.928, 8.144, 2.71, 0.1, 0.959, (-2.2, 8.5)),
    ("mnist_7x7", "pruned"): _cluster_grad(7.114, 7.426, -2.67, 0.4, 0.934, (-7.1, -1.0)),
    ("mnist_7x7", "pruned_cluster_grad"): _cluster_grad(5.514, 6.310, -5.31, 0.7, 0.896, (-11.0, 0.8)),
    ("lines", "pruned"): _rows_from(LINES_SOURCE)(7.361, 7.743, -3.87, 1.0, 1.000, (-7.3, -2.1)),
}


# the small CNN's channel graph, k = 12 (the file's STACKED rows are a dataset this package does not build)
P1B_CNN: dict[tuple[str, str], P1bRow] = {
    ("mnist", "plain"): _cnn(10.687, 10.673, 0.77, 0.0, 0.992, (-0.2, 1.9)),
    ("mnist", "dropout"): _cnn(10.688, 10.698, -0.66, 0.0, 0.994, (-2.1, 0.6)),
    ("mnist", "l1"): _cnn(10.313, 5.302, 27.50, 0.0, 0.991, (25.1, 30.6)),
    ("mnist", "l2"): _cnn(8.050, 10.252, -70.72, 1.0, 0.991, (-93.4, -36.1)),
    ("mnist", "clusterable_init"): _cnn(10.528, 10.658, -7.41, 1.0, 0.991, (-11.0, -5.2)),
    ("fashion_mnist", "plain"): _cnn(10.643, 10.671, -1.53, 0.2, 0.922, (-3.4, -0.7)),
    ("fashion_mnist", "dropout"): _cnn(10.615, 10.646, -1.62, 0.4, 0.925, (-2.9, 0.1)),
    ("fashion_mnist", "l1"): _cnn(9.982, 7.488, 23.94, 0.0, 0.913, (19.9, 27.2)),
    ("fashion_mnist", "l2"): _cnn(9.303, 10.578, -53.87, 1.0, 0.923, (-75.0, -34.5)),
    ("fashion_mnist", "clusterable_init"): _cnn(10.574, 10.662, -4.87, 1.0, 0.921, (-5.8, -3.8)),
    ("mnist", "pruned"): _cnn(10.462, 10.034, 11.02, 0.0, 0.993, (9.2, 13.7)),
    ("mnist", "pruned_dropout"): _cnn(10.267, 10.073, 5.16, 0.0, 0.993, (1.0, 11.1)),
    ("mnist", "pruned_l1"): _cnn(9.313, 3.049, 22.76, 0.0, 0.991, (16.1, 30.0)),
    ("mnist", "pruned_l2"): _cnn(10.754, 9.764, 16.97, 0.0, 0.992, (15.1, 19.5)),
    ("mnist", "pruned_clusterable_init"): _cnn(10.148, 10.001, 3.80, 0.0, 0.993, (2.3, 6.1)),
    ("fashion_mnist", "pruned"): _cnn(10.377, 10.060, 8.05, 0.0, 0.922, (3.1, 10.8)),
    ("fashion_mnist", "pruned_dropout"): _cnn(9.974, 9.951, 0.43, 0.0, 0.905, (-2.4, 3.3)),
    ("fashion_mnist", "pruned_l1"): _cnn(10.282, 8.619, 12.83, 0.0, 0.919, (9.4, 15.7)),
    ("fashion_mnist", "pruned_l2"): _cnn(10.445, 9.976, 11.07, 0.0, 0.923, (7.5, 15.0)),
    ("fashion_mnist", "pruned_clusterable_init"): _cnn(10.357, 10.034, 8.22, 0.0, 0.923, (2.6, 14.6)),
}


# the CIFAR-10 VGG's channel graph, k = 12
P1B_VGG: dict[tuple[str, str], P1bRow] = {
    ("cifar10", "plain"): _vgg(8.189, 3.819, 18.82, 0.0, 0.882, (15.4, 23.5)),
    ("cifar10", "l1"): _vgg(5.294, 2.074, 91.95, 0.0, 0.871, (76.7, 111.3)),
    ("cifar10", "l2"): _vgg(8.548, 2.104, 33.36, 0.0, 0.899, (25.6, 38.6)),
    ("cifar10", "dropout"): _vgg(8.844, 8.283, 5.15, 0.0, 0.896, (2.4, 7.5)),
    ("cifar10", "dropout_l2"): _vgg(8.355, 8.246, 1.16, 0.2, 0.898, (-2.5, 6.8)),
    ("cifar10", "clusterable_init"): _vgg(8.213, 3.905, 19.75, 0.0, 0.898, (13.1, 23.6)),
    ("cifar10", "pruned"): _vgg(8.133, 3.603, 21.14, 0.0, 0.909, (16.8, 24.6)),
    ("cifar10", "pruned_l1"): _vgg(4.701, 0.741, 104.68, 0.0, 0.881, (29.2, 226.3)),
    ("cifar10", "pruned_l2"): _vgg(8.701, 1.730, 31.30, 0.0, 0.908, (29.4, 33.7)),
    ("cifar10", "pruned_dropout"): _vgg(6.341, 7.977, -8.21, 1.0, 0.905, (-10.7, -3.7)),
    ("cifar10", "pruned_dropout_l2"): _vgg(6.135, 7.994, -11.44, 0.8, 0.902, (-21.2, -2.0)),
    ("cifar10", "pruned_clusterable_init"): _vgg(8.212, 3.582, 20.24, 0.0, 0.902, (15.7, 25.3)),
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
    return _rows_from(p1_source(k))(ncut, shuffled, z, below, test_acc)


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
