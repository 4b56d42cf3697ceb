"""Masks against spectral clusters on one trained network: the companion's own question, which none of the
three papers asks. A network is compared through what both methods see of it — the chain of its weight
matrices — plus a way to measure each task's accuracy while units are lesioned.

Three measurements, each with its null (see ``modularity.alignment``):
1. cluster membership against mask usage (adjusted mutual information, permutation null), and each cluster's
   internal weights kept by each mask against masks of the same per-tensor densities;
2. each mask's subgraph cut against random weight sets of the same per-tensor sizes;
3. per (cluster, task), the accuracy drop when the cluster's hidden units are lesioned against the share of
   the cluster's internal weights the task's mask keeps: Spearman's ρ, against the same ρ for random unit
   sets of the clusters' per-layer sizes.

Networks: planted ones (known circuits, built by hand here, masks trained on them), the +/* FNN and the +/+
FNN with its copy-weight control (trained by the add/mul and double-addition experiments' own code, stored
in their namespaces), the clusterability chapter's MNIST MLPs with one class-specific mask per class, and the
CIFAR-10 chapter's simple CNN with its class-removal masks, compared at channel level.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from modularity import alignment, clustering, lesions, masking, tracing
from modularity.data import arithmetic as ar
from modularity.experiments import addmul, cifar, doubleadd, networks, stages
from modularity.mask_algebra import Mask
from modularity.models.mlp import MLP
from modularity.train import set_determinism

PLANTED_TASKS = ("task0", "task1")


@dataclass
class Network:
    """What the comparison needs of one trained network. A CNN is compared at channel level: its layers'
    weights and masks are matrices between channels (``alignment.unit_matrix``, ``alignment.channel_level``)."""

    layers: list[torch.nn.Module]  # the chain of weight layers (Linear or Conv2d), in forward order
    names: list[str]  # the mask tensor name of each layer's weight
    masks: dict[str, Mask]  # task → its mask, between units (channels for a convolution)
    task_scores: Callable[[], dict[str, float]]  # task → accuracy (or R²) of the model as it is now

    @property
    def weights(self) -> list[np.ndarray]:
        return [alignment.unit_matrix(layer.weight) for layer in self.layers]


# --- planted networks -------------------------------------------------------------------------------------

@dataclass
class PlantedSettings:
    groups: tuple[int, ...] = (3, 6)  # inputs of each task's own circuit (unequal on purpose)
    shared: int = 0  # inputs of a circuit both tasks use (0: disjoint circuits)
    # std of random weights outside the circuits: 0, because masks keep such weights wherever the task loss's
    # noise on them outweighs the penalty (at 0.02, one to three hundred stray weights per mask), and one kept
    # weight makes a unit "used"
    leak: float = 0.0
    mask_steps: int = 600
    beta: float = 1e-2
    mask_lr: float = 0.01
    batch_size: int = 128
    n_examples: int = 4096


def planted_network(settings: PlantedSettings, seed: int) -> tuple[MLP, list[np.ndarray]]:
    """An MLP whose task t outputs the sum of its own input group (plus the shared group's). Each group is a
    circuit: input i feeds two units, relu(x_i) and relu(−x_i); every one of them feeds every second-layer unit
    of its circuit, which computes relu(±(group sum)) / group size; the output adds the "+" units and subtracts
    the "−" ones. Every circuit weight is needed; all other weights are ``leak`` noise. Returns the model and
    each unit's planted module per layer (inputs, two hidden layers, outputs; module t is task t's circuit,
    module T the shared one)."""
    groups = list(settings.groups) + ([settings.shared] if settings.shared else [])
    module_of_input = np.repeat(np.arange(len(groups)), groups)
    n_in, n_tasks = len(module_of_input), len(settings.groups)
    hidden = np.repeat(module_of_input, 2)
    sign = np.tile([1.0, -1.0], n_in)  # "+" and "−" units alternate
    model = MLP(n_in, [2 * n_in, 2 * n_in], n_tasks)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.copy_(settings.leak * torch.randn(layer.weight.shape, generator=generator))
            layer.bias.zero_()
        for i in range(n_in):
            model.layers[0].weight[2 * i, i], model.layers[0].weight[2 * i + 1, i] = 1.0, -1.0
        for module, size in enumerate(groups):
            units = np.flatnonzero(hidden == module)
            block = np.outer(sign[units], sign[units]) / size
            model.layers[1].weight[np.ix_(units, units)] = torch.tensor(block, dtype=torch.float32)
            for task in range(n_tasks):
                if module in (task, n_tasks):  # its own circuit, or the shared one
                    model.layers[2].weight[task, units] = torch.tensor(sign[units], dtype=torch.float32)
    return model, [module_of_input, hidden, hidden.copy(), np.arange(n_tasks)]


def planted_data(settings: PlantedSettings, n_inputs: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard normal inputs and every task's target, the sum of its own (and the shared) inputs."""
    x = torch.randn(settings.n_examples, n_inputs, generator=torch.Generator().manual_seed(seed))
    groups = list(settings.groups) + ([settings.shared] if settings.shared else [])
    module_of_input = torch.from_numpy(np.repeat(np.arange(len(groups)), groups))
    n_tasks = len(settings.groups)
    y = torch.stack([x[:, (module_of_input == t) | (module_of_input == n_tasks)].sum(1) for t in range(n_tasks)], 1)
    return x, y


def r_squared(prediction: torch.Tensor, target: torch.Tensor) -> float:
    return float(1 - ((prediction - target) ** 2).mean() / target.var(unbiased=False))


def planted_case(settings: PlantedSettings, seed: int) -> tuple[Network, list[np.ndarray]]:
    """The planted network with one mask per task trained on it (on that task's output only)."""
    model, modules = planted_network(settings, seed)
    x, y = planted_data(settings, model.layers[0].in_features, seed)
    names = masking.masked_parameter_names(model, mask_biases=False)
    masks = {}
    for t, task in enumerate(PLANTED_TASKS[:len(settings.groups)]):
        draw = torch.Generator().manual_seed(seed * 1000 + t)
        order = torch.randint(0, len(x), (settings.mask_steps, settings.batch_size), generator=draw)
        logits = masking.MaskLogits.for_model(model, names)
        masking.train_mask(model, logits, lambda step, order=order, t=t: (x[order[step]], y[order[step], t]),
                           lambda out, target, t=t: torch.nn.functional.mse_loss(out[:, t], target),
                           n_steps=settings.mask_steps, beta=settings.beta, penalty_batch_size=settings.batch_size,
                           lr=settings.mask_lr, progress=False, rng_key=f"planted seed {seed} mask {task}")
        masks[task] = logits.binary()

    @torch.no_grad()
    def scores() -> dict[str, float]:
        out = model(x)
        return {task: r_squared(out[:, t], y[:, t]) for t, task in enumerate(masks)}

    return Network(list(model.layers), names, masks, scores), modules


# --- the networks of the weight-mask chapters ------------------------------------------------------------

def addmul_case(settings: addmul.Settings, seed: int, device: torch.device, progress: bool = True) -> Network:
    """The +/* FNN with its add and mul masks (stored in the add/mul namespace, shared with its chapters)."""
    base_store, store = stages.stores("add_mul", settings, device.type, seed)
    model, train, valid = addmul.prepare(settings, seed, device, base_store, progress)
    done = addmul.train_masks(model, settings, train, ("add", "mul"), f"fnn seed {seed}", store, progress)
    masks = {op: Mask.from_logits(d["logits"]) for op, d in done.items()}
    return Network(list(model.layers), masking.masked_parameter_names(model, mask_biases=False), masks,
                   lambda: {op: addmul.accuracy(model, valid.only(op)) for op in ar.OPS})


def doubleadd_case(settings: doubleadd.Settings, seed: int, device: torch.device, progress: bool = True) -> Network:
    """The +/+ FNN (or its copy-weight control) with its pair 1 and pair 2 masks."""
    base_store, store = stages.stores("double_add", settings, device.type, seed,
                                      **({"model": "fnn"} if settings.model == "fnn_copyweight" else {}))
    model, train, valid = doubleadd.prepare(settings, seed, device, base_store, progress)
    done = doubleadd.train_masks(model, settings, train, ("pair1", "pair2"), f"{settings.model} seed {seed}", store,
                                 progress)
    masks = {pair: Mask.from_logits(d["logits"]) for pair, d in done.items()}
    return Network(list(model.net.layers), masking.masked_parameter_names(model, mask_biases=False), masks,
                   lambda: doubleadd.pair_accuracy(model, valid))


# --- MNIST MLPs of the clusterability chapter, one mask per removed class ---------------------------------

@dataclass
class ClassMaskSettings:
    mask_steps: int = 2000
    beta: float = 1e-4
    mask_lr: float = 1e-2
    batch_size: int = 128
    n_mask_samples: int = 4


MNIST_SETTINGS = {"mnist_mlp": ("none", "unpruned"), "mnist_mlp_pruned_dropout": ("dropout", "pruned")}
CLASS_NETWORKS = (*MNIST_SETTINGS, "cifar_cnn")  # one mask per class: clustered into ``class_k`` clusters


def class_masks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, settings: ClassMaskSettings,
                seed: int, progress: bool = True) -> dict[str, Mask]:
    """Class c's mask: the weights a control mask (all classes) keeps that the mask trained without class c
    drops — what the network needs for c and not for the other classes, as in the CIFAR class-removal chapter."""
    names = masking.masked_parameter_names(model, mask_biases=False)

    def trained(keep: torch.Tensor, key: str) -> Mask:
        pool = torch.nonzero(keep).flatten()
        draw = torch.Generator().manual_seed(seed * 1000 + zlib.crc32(key.encode()))
        order = pool[torch.randint(0, len(pool), (settings.mask_steps, settings.batch_size), generator=draw)]
        logits = masking.MaskLogits.for_model(model, names)
        masking.train_mask(model, logits, lambda step: (x[order[step]], y[order[step]]),
                           torch.nn.functional.cross_entropy, n_steps=settings.mask_steps, beta=settings.beta,
                           penalty_batch_size=settings.batch_size, lr=settings.mask_lr,
                           n_samples=settings.n_mask_samples, desc=f"seed {seed} mask {key}", progress=progress,
                           rng_key=f"seed {seed} mask {key}")
        return logits.binary()

    control = trained(torch.ones_like(y, dtype=torch.bool), "control")
    return class_specific(control, {str(c): trained(y != c, f"without {c}") for c in range(10)})


def class_specific(control: Mask, without: dict[str, Mask]) -> dict[str, Mask]:
    """Class → the weights the control mask keeps and the mask trained without that class does not."""
    return {c: control & ~mask for c, mask in without.items()}


def mnist_case(name: str, mlp_settings, mask_settings: ClassMaskSettings, seed: int, device: torch.device,
               progress: bool = True) -> Network:
    """The clusterability chapter's MNIST MLP (trained and, for ``mnist_mlp_pruned_dropout``, pruned there) with one
    class-specific mask per class; the score of a class is its test accuracy."""
    regulariser, stage = MNIST_SETTINGS[name]
    data = networks.load_dataset("mnist", mlp_settings.train_subset, mlp_settings.test_subset, device)
    state = networks.trained_states("mlp", "mnist", regulariser, seed, mlp_settings, data, device)[stage]
    model = networks.trained_model("mlp", "mnist", regulariser, state, mlp_settings).to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    masks = class_masks(model, data[0], data[1], mask_settings, seed, progress)
    x_test, y_test = data[2], data[3]

    @torch.no_grad()
    def scores() -> dict[str, float]:
        per_class = lesions.class_accuracies(model(x_test), y_test, 10)
        return {str(c): float(per_class[c]) for c in range(10)}

    return Network(list(model.layers), masking.masked_parameter_names(model, mask_biases=False), masks, scores)


def cifar_case(settings: cifar.Settings, seed: int, device: torch.device, progress: bool = True,
               score_images: int = 0) -> Network:
    """The CIFAR-10 class-removal chapter's simple CNN and masks (its store, so its chapter and this one train
    them once), one class-specific mask per class, at channel level: the chain runs from the image's colour
    channels through every conv layer's channels (global average pooling keeps one value per channel) to
    the logits. The score of a class is its accuracy on the chapter's evaluation set, or on its first
    ``score_images`` images (0: all): the lesion null scores every cluster and random set on them."""
    data = cifar.load_data(settings.model, device)
    base_store, store = stages.stores("cifar", settings, device.type, seed)
    model, control, removed = cifar.class_removal_masks(settings, seed, data, range(10), base_store, store, progress)
    layers = tracing.weighted_chain(model, (torch.nn.Conv2d, torch.nn.Linear))
    module_names = {module: name for name, module in model.named_modules()}
    names = [f"{module_names[layer]}.weight" for layer in layers]
    without = {str(c): Mask.from_logits(logits) for c, logits in zip(range(10), removed)}
    masks = {c: alignment.channel_level(m.subset(names))
             for c, m in class_specific(Mask.from_logits(control), without).items()}
    scored = replace(data, x_eval=data.x_eval[:score_images], y_eval=data.y_eval[:score_images]) if score_images \
        else data

    def scores() -> dict[str, float]:
        return {str(c): float(accuracy) for c, accuracy in enumerate(np.diag(cifar.confusion(model, scored)))}

    return Network(layers, names, masks, scores)


# --- the comparison ----------------------------------------------------------------------------------------

@dataclass
class CompareSettings:
    k: int = 4  # clusters: as many as the usage patterns two masks can make (none, one, the other, both)
    n_permutations: int = 1000  # permutations of the AMI null
    n_random_sets: int = 100  # random weight sets of the subgraph-cut null
    n_lesion_null: int = 50  # random unit sets of the lesion-vs-mask null


def cluster_labels(network: Network, k: int, seed: int) -> tuple[list[np.ndarray], float]:
    """Per layer (inputs, hidden layers, outputs) each unit's spectral cluster (−1: no edge), and the n-cut."""
    graph = clustering.layered_graph([w.T for w in network.weights])
    labels, ncut = clustering.spectral_clustering(graph, k, seed=seed)
    return graph.expand_labels(labels), float(ncut)


def lesion_drops(network: Network, labels: list[np.ndarray], base: dict[str, float]) -> dict[int, dict[str, float]]:
    """cluster → task → score lost when the cluster's hidden units are zeroed (clusters with none are left out)."""
    hidden = range(1, len(labels) - 1)
    drops = {}
    for cluster in sorted(set(np.concatenate([labels[i] for i in hidden]).tolist()) - {-1}):
        units = [np.flatnonzero(labels[i] == cluster).tolist() for i in hidden]
        with lesions.lesioned(network.layers[:-1], units):
            lesioned = network.task_scores()
        drops[cluster] = {task: base[task] - lesioned[task] for task in network.masks}
    return drops


def lesion_mask_points(network: Network, labels: list[np.ndarray], base: dict[str, float]) -> list[dict]:
    """One point per (cluster, task): the task's score lost when the cluster's hidden units are lesioned, and
    the share of the cluster's internal weights the task's mask keeps."""
    drops = lesion_drops(network, labels, base)
    kept = {task: alignment.kept_by_cluster(mask, network.names, labels) for task, mask in network.masks.items()}
    return [{"cluster": c, "task": task, "score_lost": drops[c][task], "kept": kept[task][c]["kept"]}
            for c in drops for task in network.masks if c in kept[task]]


def _rho(points: list[dict]) -> float:
    return alignment.rank_correlation([p["score_lost"] for p in points], [p["kept"] for p in points])


def lesion_agreement(network: Network, labels: list[np.ndarray], base: dict[str, float], n_null: int,
                     seed: int) -> dict:
    """Spearman's ρ of lesion loss against mask-kept share over (cluster, task), beside the same ρ for random
    unit sets of the clusters' per-layer sizes; p = (1 + #{null ≥ ρ}) / (n + 1) (agreement is a positive ρ).
    ``base``: each task's score without a lesion."""
    points = lesion_mask_points(network, labels, base)
    rho = _rho(points)
    rng = np.random.default_rng(seed)
    null = np.array([_rho(lesion_mask_points(network, alignment.shuffled_within_layers(labels, rng), base))
                     for _ in range(n_null)])
    finite = null[np.isfinite(null)]
    return {"rho": rho, "points": points, "null": null,
            "null_mean": float(finite.mean()) if finite.size else float("nan"),
            "p": float((1 + (finite >= rho).sum()) / (finite.size + 1)) if np.isfinite(rho) else float("nan")}


def compare(network: Network, settings: CompareSettings, seed: int) -> dict:
    """Every statistic of the chapter for one network (plain floats and arrays: cached and published)."""
    labels, ncut = cluster_labels(network, settings.k, seed)
    hidden = list(range(1, len(labels) - 1))
    tasks = list(network.masks)
    patterns = alignment.usage_patterns([network.masks[t] for t in tasks], network.names)
    weights, scores = network.weights, network.task_scores()
    return {
        "tasks": tasks, "labels": labels, "ncut": ncut, "patterns": patterns,
        "task_scores": scores,
        "usage": alignment.usage_alignment(labels, patterns, hidden, settings.n_permutations, seed),
        "kept": {t: alignment.kept_by_cluster(network.masks[t], network.names, labels) for t in tasks},
        "mask_cut": {t: alignment.mask_ncut(weights, network.masks[t], network.names, settings.n_random_sets, seed)
                     for t in tasks},
        "lesion": lesion_agreement(network, labels, scores, settings.n_lesion_null, seed),
        "mask_density": {t: network.masks[t].total() / sum(network.masks[t].sizes().values()) for t in tasks},
    }


def planted_recovery(result: dict, planted: list[np.ndarray]) -> dict[str, list[bool]]:
    """Which planted modules the masks (units grouped by which masks use them) and the clusters recover."""
    hidden = list(range(1, len(planted) - 1))
    used = [np.where(p > 0, p, -1) for p in result["patterns"]]
    return {"masks": alignment.recovered_modules(planted, used, hidden),
            "clusters": alignment.recovered_modules(planted, result["labels"], hidden)}


def run_planted(settings: PlantedSettings, compare_settings: CompareSettings, seed: int) -> dict:
    """The planted case end to end; spectral clustering asks for as many clusters as modules were planted."""
    set_determinism(seed)
    network, planted = planted_case(settings, seed)
    n_modules = len(settings.groups) + bool(settings.shared)
    result = compare(network, replace(compare_settings, k=n_modules), seed)
    return result | {"planted": planted, "recovered": planted_recovery(result, planted)}


def run(name: str, settings, compare_settings: CompareSettings, seed: int, device: torch.device,
        class_k: int = 12) -> dict:
    """One seed of the named network (``planted``, ``planted_shared``: ``PlantedSettings``; ``addmul_fnn``:
    ``addmul.Settings``; ``doubleadd_fnn``, ``doubleadd_fnn_copyweight``: ``doubleadd.Settings``; ``mnist_mlp``,
    ``mnist_mlp_pruned_dropout``: the clusterability chapter's ``Settings`` and a ``ClassMaskSettings``;
    ``cifar_cnn``: ``cifar.Settings`` and how many evaluation images score it, 0 for all). Networks with a mask
    per class are clustered into ``class_k`` clusters (the clusterability chapter's k), the others into
    ``compare_settings.k``."""
    if name.startswith("planted"):
        return run_planted(settings, compare_settings, seed)
    per_class = replace(compare_settings, k=class_k)
    if name in MNIST_SETTINGS:
        mlp_settings, mask_settings = settings
        set_determinism(seed)
        return compare(mnist_case(name, mlp_settings, mask_settings, seed, device), per_class, seed)
    if name == "cifar_cnn":
        cifar_settings, score_images = settings
        return compare(cifar_case(cifar_settings, seed, device, score_images=score_images), per_class, seed)
    case = addmul_case if name == "addmul_fnn" else doubleadd_case
    return compare(case(settings, seed, device), compare_settings, seed)
