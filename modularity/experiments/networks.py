"""The networks the clusterability, importance and masks-vs-clusters experiments measure: Filan et al.'s
MLPs, small CNNs and CIFAR-10 VGGs, their factors (regularisers, initialisations, changed data), settings,
datasets and training, and the per-seed store of trained weights.

The store is keyed by this module's code closure, which holds no measurement code: an edit to the clustering,
lesion or importance code keeps every trained network (a ``paper`` run trains hundreds).

Datasets beyond the image sets: LINES and RANDOM (generated images), POLY (regression: 512 linear outputs,
mean squared error, test MSE instead of accuracy) and ``mnist_7x7``, the small MNIST of the cluster-gradient
experiment (its MLP, 49-64-64-64-10, comes from the caller's ``Settings.hidden``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from modularity import cluster_gradient
from modularity.cache import SeedStore
from modularity.clusterable_init import clusterable_init_
from modularity.data import augment, generated, images
from modularity.models.cnn import SmallCNN
from modularity.models.mlp import MLP
from modularity.models.vgg import CifarVGG
from modularity.pruning import MagnitudePruner
from modularity.train import EpochBatches, fit

# P1b's factors: a regulariser (or an initialisation, or a change of data) and whether the network is pruned
FACTORS = ("dropout", "l1", "l2", "clusterable_init", "halves_same", "halves_diff", "cluster_grad", "dropout_l2")
SETTINGS = ("plain", "pruned") + FACTORS + tuple(f"pruned_{factor}" for factor in FACTORS)
HALVES = ("halves_same", "halves_diff")  # factors that change the data: each image is two half-width images
CNN_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # the small CNN sees CIFAR-10 in colour, 32 × 32
CNN_FACTORS = ("none", "dropout", "l1", "l2", "clusterable_init")
VGG_FACTORS = CNN_FACTORS + ("dropout_l2",)  # dropout + L2: the VGG of Hod et al.'s main results
REGRESSION = ("poly",)  # 512 linear outputs and mean squared error; its networks report test MSE, not accuracy
INPUTS, OUTPUTS = {"poly": 2, "mnist_7x7": 7 * 7}, {"poly": 512}  # otherwise 28 × 28 pixels and 10 classes
CLUSTER_GRAD_STRENGTH, CLUSTER_GRAD_EIGENVALUES = 0.1, 3  # the original's small-MLP configuration
KERAS_ADAM = {"eps": 1e-7}
MEASUREMENT_FIELDS = {"ks", "n_shuffles", "shuffle_methods", "test_subset"}  # the original trained with Keras defaults


# The factors each MLP dataset is trained with, as the authors' scripts do: P1b's MLPs (``shells/train_mlps.sh``)
# on MNIST and Fashion-MNIST with every factor, POLY plain and with L1 or L2; P1's greyscale CIFAR-10 (plain,
# dropout) and its generated controls LINES and RANDOM (plain, then pruned); the cluster-gradient experiment's
# 7 × 7 MNIST (plain against the regulariser).
MLP_FACTORS = {"cifar10_gray": ("none", "dropout"), "lines": ("none",), "random": ("none",),
               "poly": ("none", "l1", "l2"), "mnist_7x7": ("none", "cluster_grad")}


def applies(dataset: str, regulariser: str, kind: str = "mlp") -> bool:
    """Whether the papers train this factor on this dataset (``MLP_FACTORS``; MNIST and Fashion-MNIST MLPs take
    every MLP factor but the cluster-gradient one, HALVES being made of their images); the small CNN trains on
    MNIST, Fashion-MNIST and colour CIFAR-10 with the regularisers and initialisations (not on HALVES); the VGG
    on colour CIFAR-10 also with dropout and L2 together."""
    if kind == "cnn":
        return dataset in CNN_DATASETS and regulariser in CNN_FACTORS
    if kind == "vgg":
        return dataset == "cifar10" and regulariser in VGG_FACTORS
    if dataset in MLP_FACTORS:
        return regulariser in MLP_FACTORS[dataset]
    return dataset in ("mnist", "fashion_mnist") and regulariser not in ("cluster_grad", "dropout_l2")


def regulariser_of(setting: str) -> str:
    """The factor a setting trains with ("none" for plain and pruned): pruning is a later stage of the same
    network, so ``dropout`` and ``pruned_dropout`` share their training."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; known: {', '.join(SETTINGS)}")
    factor = setting.removeprefix("pruned").removeprefix("_")
    return "none" if factor in ("", "plain") else factor


@dataclass
class Settings:
    hidden: list[int] = field(default_factory=lambda: [256] * 4)
    epochs: int = 20
    prune_epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    dropout: float = 0.5
    cifar_dropout: float = 0.2
    l1: float = 5e-5
    train_subset: int = 0  # 0: all training images
    test_subset: int = 0  # 0: all test images
    ks: list[int] = field(default_factory=lambda: [12])
    n_shuffles: int = 50
    shuffle_methods: list[str] = field(default_factory=lambda: ["layer"])


@dataclass
class VGGSettings(Settings):
    """The CIFAR-10 VGG's training (P1b §VGG: Adam, batch 128, 200 + 50 epochs, L1/L2 rate 5e-4, augmented
    images); ``width`` scales every channel count, so that a CPU can train a narrower copy."""
    width: float = 1.0
    epochs: int = 200
    prune_epochs: int = 50
    l1: float = 5e-4
    augment: bool = True


def glorot_(model: torch.nn.Module) -> torch.nn.Module:
    """Keras defaults: Glorot-uniform kernels, zero biases."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.xavier_uniform_(module.weight)
            torch.nn.init.zeros_(module.bias)
    return model


def kernels(model: torch.nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


def load_dataset(name: str, train_subset: int, test_subset: int, device) -> tuple[torch.Tensor, ...]:
    if name == "lines":
        loaded = generated.lines()
    elif name == "random":
        loaded = generated.random_images()
    elif name == "poly":
        loaded = generated.poly()
    elif name == "mnist_7x7":
        loaded = images.resized(images.load("mnist"), 7)
    else:
        loaded = images.load(name)
    return _subset(loaded.as_float(device), train_subset, test_subset)


def _subset(data: tuple[torch.Tensor, ...], train_subset: int, test_subset: int) -> tuple[torch.Tensor, ...]:
    x_train, y_train, x_test, y_test = data
    if train_subset:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    if test_subset:
        x_test, y_test = x_test[:test_subset], y_test[:test_subset]
    return x_train, y_train, x_test, y_test


@torch.no_grad()
def mean_squared_error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    error = float(torch.nn.functional.mse_loss(model(x), y))
    model.train(was_training)
    return error


def task_loss(dataset: str):
    return torch.nn.functional.mse_loss if dataset in REGRESSION else torch.nn.functional.cross_entropy


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> float:
    was_training = model.training
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    model.train(was_training)
    return correct / len(x)


def _train(model, data, settings: Settings, regulariser: str, seed: int, epochs: int, pruner_end: bool,
           desc: str, checkpoint=None, loss_fn=torch.nn.functional.cross_entropy) -> MagnitudePruner | None:
    x_train, y_train = data[0], data[1]
    batches = EpochBatches(len(x_train), settings.batch_size, seed, device=x_train.device)
    n_steps = batches.steps_per_epoch * epochs
    pruner = MagnitudePruner(kernels(model), end_step=n_steps) if pruner_end else None
    if pruner:
        pruner.update(0)

    def loss_at(step):
        index = batches(step)
        x = x_train[index]
        if getattr(settings, "augment", False):
            x = augment.rotate_shift_flip(x, torch.Generator(device=x.device).manual_seed(seed * 1_000_003 + step))
        loss = loss_fn(model(x), y_train[index])
        if regulariser == "l1":
            loss = loss + settings.l1 * sum(w.abs().sum() for w in kernels(model))
        elif regulariser in ("l2", "dropout_l2"):
            loss = loss + l2_penalty(kernels(model), settings.l1)
        elif regulariser == "cluster_grad":
            loss = loss + cluster_gradient.penalty(kernels(model), CLUSTER_GRAD_STRENGTH, CLUSTER_GRAD_EIGENVALUES)
        return loss

    after_step = pruner.after_step if pruner else None
    if regulariser == "cluster_grad":  # rebalance every hidden unit after each step, as the original does
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

        def after_step(step, prune=after_step):
            if prune:
                prune(step)
            cluster_gradient.balance_units_(linears)

    fit(list(model.parameters()), loss_at, n_steps, lr=settings.lr, clip=None, adam=KERAS_ADAM, desc=desc,
        after_step=after_step, checkpoint=checkpoint)
    return pruner


def l2_penalty(weights: list[torch.Tensor], rate: float) -> torch.Tensor:
    """The authors' L2 setting: rate·Σw² on every kernel but the first, which keeps an L1 term rate·Σ|w| (a quirk
    of dfilan/clusterability_in_neural_networks ``src/train_nn.py``, reproduced as the published numbers used it).
    The papers use one rate, 5e-5, for L1 and L2 alike: ``Settings.l1`` serves both."""
    return rate * weights[0].abs().sum() + rate * sum(w.square().sum() for w in weights[1:])


def build(kind: str, dataset: str, settings: Settings, regulariser: str, seed: int = 0) -> torch.nn.Module:
    dropout = (settings.cifar_dropout if dataset.startswith("cifar") else settings.dropout) \
        if regulariser == "dropout" else 0.0
    if kind == "mlp":
        model = glorot_(MLP(INPUTS.get(dataset, 28 * 28), settings.hidden, OUTPUTS.get(dataset, 10), dropout=dropout))
    elif kind == "vgg":
        model = glorot_(CifarVGG(width=settings.width, dropout=regulariser in ("dropout", "dropout_l2")))
    else:
        colour = dataset == "cifar10"
        model = glorot_(SmallCNN(in_channels=3 if colour else 1, side=32 if colour else 28,
                                 dropout=regulariser == "dropout"))
    if regulariser == "clusterable_init":  # P1b: 10 planted modules; MLP down 0.6, CNN 0.8 on its convolutions
        layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear if kind == "mlp" else torch.nn.Conv2d)]
        clusterable_init_(layers, n_modules=10, down=0.6 if kind == "mlp" else 0.8,
                          generator=torch.Generator().manual_seed(seed), last_is_output=kind == "mlp")
    return model


def data_for(dataset: str, regulariser: str, train_subset: int, test_subset: int, device) -> tuple[torch.Tensor, ...]:
    """The data a network of this factor trains on: the dataset, or its HALVES version."""
    if regulariser not in HALVES:
        return load_dataset(dataset, train_subset, test_subset, device)
    pairs = generated.halves(images.load(dataset), same=regulariser == "halves_same")
    return _subset(pairs.as_float(device), train_subset, test_subset)


def trained_states(kind: str, dataset: str, regulariser: str, seed: int, settings: Settings, data,
                   device, prune: bool = True) -> dict[str, dict]:
    """State dicts of one network after training ("unpruned") and, with ``prune``, after pruning ("pruned"),
    cached."""
    params = {"kind": kind, "dataset": dataset, "regulariser": regulariser, **asdict(settings)}
    training = {key: value for key, value in params.items() if key not in MEASUREMENT_FIELDS}
    # keyed by this module's code alone: a new k, null model or measurement, and the importance chapter, reuse it
    store = SeedStore(f"clusterability_{kind}", training, seed, scope=__name__)

    def stage(name: str, prune: bool, start_from: dict | None):
        done = store.load(name)
        if done is not None:
            return done
        torch.manual_seed(seed)
        model = build(kind, dataset, settings, regulariser, seed).to(device)
        if start_from is not None:
            model.load_state_dict(start_from)
        epochs = settings.prune_epochs if prune else settings.epochs
        _train(model, data, settings, regulariser, seed + (7919 if prune else 0), epochs, prune,
               desc=f"{dataset} {regulariser} seed {seed} {'prune' if prune else 'train'}",
               checkpoint=None if prune else store.checkpoint(name),  # pruning masks are not checkpointed
               loss_fn=task_loss(dataset))
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        store.save(name, state)
        return state

    base = stage("base", prune=False, start_from=None)
    return {"unpruned": base, "pruned": stage("pruned", prune=True, start_from=base)} if prune else {"unpruned": base}


def trained_model(kind: str, dataset: str, regulariser: str, state: dict, settings: Settings) -> torch.nn.Module:
    model = build(kind, dataset, settings, regulariser)
    model.load_state_dict(state)
    return model.eval()
