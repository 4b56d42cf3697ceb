# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Use it on your own model
#
# Everything the chapters do is a few calls into the `modularity` package, and they work on stock PyTorch
# modules. This page first trains a small network on two unrelated tasks, finds the weights each task needs with
# differentiable masks (Csordás et al. 2021), removes one task's weights, and asks whether the spectral clusters
# of the network's weight graph (Filan et al.) are the same modules as the masks. It then masks a stock model of
# each kind a user is likely to bring — convolutions with BatchNorm, `nn.LSTM`, `nn.GRU`, `nn.MultiheadAttention`,
# `nn.TransformerEncoderLayer`, tied weights — hands a mask to `torch.nn.utils.prune`, lesions units of a user's
# `nn.Sequential`, and shows what the weight-graph extraction refuses. It is executed and published like every
# chapter and runs in seconds at its default.
#
# Install the package with `pip install .` in a checkout (or use the project's environment); `modularity` is then
# importable and the `modularity` command runs the chapters.

# %% tags=["parameters"]
preset: str = ""  # in Jupyter, "smoke" takes every value below from that preset (seconds, not minutes)
base_steps: int = 1500  # training steps of the two-task network [at least 1]
mask_steps: int = 1500  # mask training steps per task [at least 1]
beta: float = 0.03  # mask regularisation β (large here: the tasks need few weights) [at least 0]
stock_steps: int = 300  # training and mask steps of each stock-module model [at least 1]
n_shuffles: int = 20  # shuffled networks for the clusterability null model [at least 1]

# %%
from modularity.parameters import check_notebook_parameters

check_notebook_parameters("tutorial", globals())  # papermill and Jupyter get the runner's checks

# %% [markdown]
# ## 1. Two tasks, two masks, two clusters
# Task A: is the sum of inputs 0–9 positive? Task B: the same for inputs 10–19. Batches are a function of the
# step, so the run is repeatable.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from modularity import clustering, lesions, mask_algebra, masking, plots, tables
from modularity.glue import glue
from modularity.prune_interop import from_prune, to_prune
from modularity.tracing import GraphTracingError
from modularity.train import BatchIndices, fit

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
x = torch.randn(8192, 20)
y = torch.stack([x[:, :10].sum(1) > 0, x[:, 10:].sum(1) > 0], dim=1).float()
draw = BatchIndices(len(x), 128, seed=0)


def task_loss(out, target, tasks=(0, 1)):
    return nn.functional.binary_cross_entropy_with_logits(out[:, list(tasks)], target[:, list(tasks)])


def batch(step):
    index = draw(step)
    return x[index], y[index]


fit(list(model.parameters()), lambda step: task_loss(model(batch(step)[0]), batch(step)[1]), base_steps, lr=3e-3,
    progress=False)


@torch.no_grad()
def accuracy(task):
    return ((model(x)[:, task] > 0) == y[:, task].bool()).float().mean().item()


print(f"trained: task A {accuracy(0):.1%}, task B {accuracy(1):.1%}")

# %% [markdown]
# A mask per task: one logit per weight, trained on the frozen network with a penalty that removes every weight
# the task does not need. `masked_parameter_names` picks the tensors by module type (weights of linear,
# convolution, recurrent and attention layers; no biases unless asked; `include=` / `exclude=` by name).

# %%
names = masking.masked_parameter_names(model)


def mask_for(task):
    logits = masking.MaskLogits.for_model(model, names)
    masking.train_mask(model, logits, batch, lambda out, target: task_loss(out, target, (task,)), n_steps=mask_steps,
                       beta=beta, penalty_batch_size=128, progress=False)
    return logits.binary()


mask_a, mask_b = mask_for(0), mask_for(1)
print(f"task A's mask keeps {mask_a.density():.1%} of the weights, task B's {mask_b.density():.1%}; "
      f"IoU {mask_algebra.iou(mask_a, mask_b):.2f}")

# %% [markdown]
# Keep only task A's weights, then remove them (the inverse mask). `masking.applied` changes the model only inside
# the block and restores it afterwards, also after an error.

# %%
with masking.applied(model, mask_a):
    only_a = accuracy(0), accuracy(1)
with masking.applied(model, mask_a, inverse=True):
    without_a = accuracy(0), accuracy(1)
print(f"with only task A's weights: task A {only_a[0]:.1%}, task B {only_a[1]:.1%}")
print(f"without task A's weights: task A {without_a[0]:.1%}, task B {without_a[1]:.1%}")

# %% [markdown]
# Spectral clusters of the weight graph (units as nodes, |w| as edges), against networks whose weights are
# shuffled within each layer. The graph follows the traced forward pass.

# %%
graph = clustering.mlp_graph(model)
labels, ncut = clustering.spectral_clustering(graph, k=2)
scores = clustering.clusterability(graph, k=2, n_shuffles=n_shuffles)
print(f"n-cut {ncut:.3f}; shuffled networks {scores['shuffle_mean']:.3f} ± {scores['shuffle_std']:.3f}; "
      f"below every shuffle: {scores['below_every_shuffle']} (p = {scores['p']:.3f})")

# %% [markdown]
# Are the clusters the masks' modules? A hidden unit belongs to task A's module when task A's mask keeps an
# incoming weight of it and task B's mask keeps none (and vice versa).

# %%
per_layer = graph.expand_labels(labels)
rows = []
for layer, name in ((1, "0.weight"), (2, "2.weight")):
    uses_a, uses_b = mask_a[name].any(dim=1).numpy(), mask_b[name].any(dim=1).numpy()
    only_a_units, only_b_units = uses_a & ~uses_b, uses_b & ~uses_a
    cluster = per_layer[layer]
    agree = max(np.mean(cluster[only_a_units] == 0) + np.mean(cluster[only_b_units] == 1),  # cluster ids are arbitrary
                np.mean(cluster[only_a_units] == 1) + np.mean(cluster[only_b_units] == 0)) / 2
    rows.append({"hidden layer": layer, "units only task A uses": int(only_a_units.sum()),
                 "units only task B uses": int(only_b_units.sum()), "clusters agree with that split": agree})
    glue(f"agree_layer{layer}", agree)
agreement = pd.DataFrame(rows)
agreement.style.hide(axis="index").format({"clusters agree with that split": "{:.0%}"})

# %% [markdown]
# The same in a picture: the weights between the two hidden layers with both layers' units sorted by their
# spectral cluster (left), and which of those weights each task's mask keeps (right). Two blocks on the
# diagonal on the left, each coloured by one task on the right, is what "the clusters are the masks' modules"
# looks like.

# %%
order_in, order_out = (np.argsort(per_layer[layer], kind="stable") for layer in (1, 2))
magnitude = model[2].weight.detach().abs().numpy()[order_out][:, order_in]
kept_by = (mask_a["2.weight"].numpy().astype(int) - mask_b["2.weight"].numpy().astype(int))[order_out][:, order_in]
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.8), constrained_layout=True)
left.imshow(magnitude, cmap="Greys")
left.set_title("|w|, hidden layer 1 → 2,\nunits sorted by cluster", fontsize=10)
right.imshow(kept_by, cmap="RdBu", vmin=-1, vmax=1)
right.set_title("kept by task A's mask (red), task B's (blue);\nwhite: by neither or both", fontsize=10)
for ax in (left, right):
    ax.grid(False)
    ax.set_xlabel("hidden layer 1 unit")
    ax.set_ylabel("hidden layer 2 unit")
plt.show()

# %% [markdown]
# ## 2. Masks on the stock modules you would bring
# Each model below is trained for a few steps on a toy task, then a mask is trained on it — nothing to set:
# where torch's `vmap` has no batching rule (`nn.LSTM`, `nn.GRU`) the mask samples go through the model one
# chunk at a time, and torch's fused attention path is off while masks are sampled. A mask whose logits are
# still mostly undecided after training raises an `UndecidedMaskWarning`; here few steps are the point, so it
# is silenced.

# %%
class LastStep(nn.Module):
    """A sequence block and a linear head on its last position."""

    def __init__(self, block, width, call):
        super().__init__()
        self.block, self.call, self.head = block, call, nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.call(self.block, x)[:, -1])


class TiedAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode, self.decode = nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False)
        self.decode.weight = self.encode.weight  # one tensor, two uses
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.relu(self.decode(torch.relu(self.encode(x)))))


def stock_models():
    torch.manual_seed(1)
    return {
        "Conv2d + BatchNorm": (nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                                             nn.Linear(8 * 6 * 6, 2)), lambda n: torch.randn(n, 1, 8, 8)),
        "nn.LSTM": (LastStep(nn.LSTM(4, 16, batch_first=True), 16, lambda m, x: m(x)[0]),
                    lambda n: torch.randn(n, 6, 4)),
        "nn.GRU": (LastStep(nn.GRU(4, 16, batch_first=True), 16, lambda m, x: m(x)[0]),
                   lambda n: torch.randn(n, 6, 4)),
        "nn.MultiheadAttention": (LastStep(nn.MultiheadAttention(4, 2, batch_first=True), 4,
                                           lambda m, x: m(x, x, x, need_weights=False)[0]),
                                  lambda n: torch.randn(n, 6, 4)),
        "nn.TransformerEncoderLayer": (LastStep(nn.TransformerEncoderLayer(4, 2, 16, dropout=0.0, batch_first=True),
                                                4, lambda m, x: m(x)), lambda n: torch.randn(n, 6, 4)),
        "tied weights": (TiedAutoencoder(), lambda n: torch.randn(n, 8)),
    }


def toy_task(inputs):
    """Label: is the mean of the first half of the input's features positive?"""
    flat = inputs.flatten(1)
    return (flat[:, : flat.shape[1] // 2].mean(1) > 0).long()


# torch warns that attention under vmap falls back to a slower path; the numbers are the same
warnings.filterwarnings("ignore", message="There is a performance drop")
rows = []
for kind, (stock, make_inputs) in stock_models().items():
    inputs = make_inputs(1024)
    targets = toy_task(inputs)
    stock_draw = BatchIndices(len(inputs), 64, seed=0)
    fit(list(stock.parameters()), lambda step: nn.functional.cross_entropy(stock(inputs[stock_draw(step)]),
                                                                           targets[stock_draw(step)]),
        stock_steps, lr=1e-2, progress=False)
    stock.eval()
    with torch.no_grad():
        trained = (stock(inputs).argmax(1) == targets).float().mean().item()
    stock_names = masking.masked_parameter_names(stock)
    logits = masking.MaskLogits.for_model(stock, stock_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", masking.UndecidedMaskWarning)
        masking.train_mask(stock, logits, lambda step: (inputs[stock_draw(step)], targets[stock_draw(step)]),
                           nn.functional.cross_entropy, n_steps=stock_steps, beta=1e-3, penalty_batch_size=64, lr=0.05,
                           progress=False)
    mask = logits.binary()
    with torch.no_grad(), masking.applied(stock, mask):
        masked = (stock(inputs).argmax(1) == targets).float().mean().item()
    rows.append({"model": kind, "masked tensors": len(stock_names),
                 "vmapped samples": masking.uses_vmap(stock, inputs.device),
                 "accuracy": trained, "with its mask": masked, "weights kept": mask.density(),
                 "undecided logits": masking.undecided_share(logits.logits)})
stock_table = pd.DataFrame(rows)
glue("stock_models_masked", len(stock_table))
stock_table.style.hide(axis="index").format({c: "{:.1%}" for c in ("accuracy", "with its mask", "weights kept",
                                                                    "undecided logits")})

# %% [markdown]
# "vmapped samples" says whether the K mask samples went through the model in one vmapped call (True) or one
# chunk at a time (False, where torch has no batching rule). The weights a mask removes in {glue:text}`stock_models_masked`
# kinds of model after only a few hundred steps are what the toy task does not need; the chapters train far
# longer.
#
# ## 3. Interoperating with `torch.nn.utils.prune`, lesions and graphs
# A mask goes to torch's pruning as `<name>_mask` buffers, and any torch pruning comes back as a mask.

# %%
sequential = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
sequential.load_state_dict(model.state_dict())
to_prune(sequential, mask_a)
print("round trip through torch.nn.utils.prune keeps the mask:", from_prune(sequential) == mask_a)

# %% [markdown]
# A lesion sets chosen units' outputs to zero with forward hooks on any module, only inside the block:
# here the hidden units that only task A's mask uses.

# %%
units = np.flatnonzero(mask_a["0.weight"].any(dim=1).numpy() & ~mask_b["0.weight"].any(dim=1).numpy())
with lesions.lesioned([model[0]], [units.tolist()]):
    lesioned_acc = accuracy(0), accuracy(1)
print(f"lesioning the {len(units)} units of hidden layer 1 only task A uses: task A {lesioned_acc[0]:.1%}, "
      f"task B {lesioned_acc[1]:.1%}")

# %% [markdown]
# The weight graph is read from the traced forward pass. A network it cannot represent as a layered graph — here a
# skip connection — is refused with the module's name instead of giving a wrong graph.

# %%
class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner, self.middle, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.inner(x))
        return self.out(torch.relu(self.middle(h)) + h)


try:
    clustering.mlp_graph(Residual())
except GraphTracingError as error:
    print("refused:", error)

# %% [markdown]
# ## What to take from it
# `masking.train_mask` and `masking.applied` are all a weight-mask experiment needs, `mask_algebra` compares
# masks, `clustering` measures how clusterable the weights are against shuffled networks, and `lesions`,
# `prune_interop` and `tracing` connect them to the rest of PyTorch. The chapters compose exactly these calls
# (with `modularity.cache` to resume long runs, and `modularity.experiments` for each paper's experiment);
# `python -m modularity run NOTEBOOK --preset smoke` shows any chapter on a tiny scale. The
# [API reference](../api.md) lists every public function.

# %%
metrics = {"task_a_acc": accuracy(0), "task_b_acc": accuracy(1), "mask_a_density": mask_a.density(),
           "mask_b_density": mask_b.density(), "iou": mask_algebra.iou(mask_a, mask_b), "ncut": ncut,
           "shuffle_ncut_mean": scores["shuffle_mean"], "without_a_task_a": without_a[0],
           "without_a_task_b": without_a[1]}
for name, value in metrics.items():
    glue(name, value)
tables.metrics_table(metrics)
