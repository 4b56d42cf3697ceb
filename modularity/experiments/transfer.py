"""Sequential permuted-MNIST tasks with joint weight + mask training (Csordás et al. 2021).

There is no base training. For each task p = 0, 1, …: the weights used by an earlier task's mask (U, the
union of their masks, the first layer excluded) keep their values and are frozen; every other weight is
re-initialised; a fresh mask starts at ``mask_used_init`` on U and ``mask_new_init`` elsewhere; weights and
mask are then trained together on task p. The question is how much of each new mask lies in U: a network
that reuses what it learned would keep the upper layers (which a pixel permutation does not touch) for
every task.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from modularity import mask_algebra, masking
from modularity.mask_algebra import Mask
from modularity.models.mlp import MLP
from modularity.train import BatchIndices, fit, set_determinism

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
MASK_SEED = 1234


@dataclass
class Settings:
    hidden: list[int]
    n_tasks: int
    steps_per_task: int
    batch_size: int = 128
    lr: float = 0.01  # one Adam on the weights and the mask of the current task
    beta: float = 0.00128
    n_mask_samples: int = 8
    grad_clip: float = 1.0
    mask_used_init: float = 2.0
    mask_new_init: float = 2.0


@dataclass
class TaskData:
    """Flattened, normalised images of the train and hold-out parts, on one device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor


def task_data(images, device) -> TaskData:
    """MNIST's 60k training images split 80/20 as in the paper (the official test set is not used)."""
    from modularity.data.images import holdout_split

    train, valid = holdout_split(len(images.y_train))
    x = (images.x_train.float().flatten(1) / 255 - MNIST_MEAN) / MNIST_STD
    y = images.y_train
    return TaskData(x[train].to(device), y[train].to(device), x[valid].to(device), y[valid].to(device))


def permutation(task: int, n_pixels: int = 784) -> torch.Tensor:
    """Task 0 sees the pixels in order; task p ≥ 1 through ``RandomState(p).permutation``."""
    if task == 0:
        return torch.arange(n_pixels)
    return torch.from_numpy(np.random.RandomState(task).permutation(n_pixels))


def build_model(settings: Settings) -> MLP:
    return MLP(784, settings.hidden, 10)


def init_weights_(model: MLP, generator: torch.Generator) -> None:
    """Xavier-normal weights (ReLU gain for hidden layers, gain 1 for the output layer), zero biases."""
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            gain = 1.0 if i == len(model.layers) - 1 else nn.init.calculate_gain("relu")
            fan_out, fan_in = layer.weight.shape
            std = gain * math.sqrt(2.0 / (fan_in + fan_out))
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            layer.bias.zero_()


def first_layer_names(model: MLP) -> list[str]:
    return [f"layers.0.{n}" for n, _ in model.layers[0].named_parameters()]


def start_task(model: MLP, used: Mask | None, settings: Settings, seed: int, task: int) -> masking.MaskLogits:
    """Re-initialise every weight outside ``used`` (a fresh draw for this seed and task), and return the
    task's mask logits: ``mask_used_init`` on used weights, ``mask_new_init`` elsewhere."""
    names = masking.masked_parameter_names(model, mask_biases=True)
    fresh = build_model(settings)
    init_weights_(fresh, torch.Generator().manual_seed(seed * 1_000_003 + task))
    fresh_params, params = dict(fresh.named_parameters()), dict(model.named_parameters())
    logits = masking.MaskLogits.for_model(model, names, init=settings.mask_new_init)
    with torch.no_grad():
        for (name, logit) in logits.items():
            keep = used[name].to(logit.device) if used is not None else torch.zeros_like(logit, dtype=torch.bool)
            params[name].copy_(torch.where(keep, params[name], fresh_params[name].to(logit.device)))
            logit.copy_(torch.where(keep, torch.full_like(logit, settings.mask_used_init), logit))
    return logits


def freeze_used(model: MLP, used: Mask | None) -> list:
    """Zero the gradient of every used weight (a fresh Adam then never moves it); returns the hook handles."""
    if used is None:
        return []
    params = dict(model.named_parameters())
    trainable = {name: ~keep.to(params[name].device) for name, keep in used.items()}
    return [params[name].register_hook(lambda grad, free=free: grad * free) for name, free in trainable.items()]


def next_used(used: Mask | None, mask: Mask, model: MLP) -> Mask:
    """U ∪ M_p, with the first layer never counted as used (it is re-initialised for every task)."""
    union = mask if used is None else used | mask
    first = set(first_layer_names(model))
    return Mask({n: (torch.zeros_like(t) if n in first else t) for n, t in union.items()})


def shared_per_tensor(mask: Mask, used: Mask | None) -> dict[str, float]:
    """|M_p ∧ U| / |M_p| per tensor (0 for the first task, which has nothing to share with)."""
    if used is None:
        return {n: 0.0 for n in mask.names}
    return mask_algebra.per_tensor(mask_algebra.shared_fraction, mask, used)


@torch.no_grad()
def accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor, batch: int = 10_000) -> float:
    correct = sum((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item() for i in range(0, len(y), batch))
    return correct / len(y)


def train_task(model: MLP, logits: masking.MaskLogits, data: TaskData, order: torch.Tensor, settings: Settings,
               desc: str, checkpoint=None, progress: bool = True) -> list[float]:
    """Weights and mask trained together on one permuted task (K mask samples per step, biases masked)."""
    draw = BatchIndices(len(data.y_train), settings.batch_size, MASK_SEED, device=data.x_train.device)
    scale = settings.beta / settings.batch_size
    order = order.to(data.x_train.device)

    def loss_at_step(step: int) -> torch.Tensor:
        index = draw(step)
        out = masking.forward_with_samples(model, logits, data.x_train[index][:, order], settings.n_mask_samples)
        return nn.functional.cross_entropy(out, data.y_train[index]) + scale * logits.penalty()

    tensors = [*model.parameters(), *logits.logits]
    return fit(tensors, loss_at_step, settings.steps_per_task, lr=settings.lr, clip=settings.grad_clip, desc=desc,
               checkpoint=checkpoint, progress=progress)


def run_seed(settings: Settings, seed: int, data: TaskData, store=None, progress: bool = True) -> dict:
    """All tasks of one seed. With a ``cache.SeedStore`` every finished task is kept and the running one
    checkpointed, so an interrupted seed resumes at the task (and step) where it stopped."""
    set_determinism(seed)
    device = data.x_train.device
    model = build_model(settings).to(device)
    init_weights_(model, torch.Generator().manual_seed(seed))
    used, tasks, started = None, [], time.time()
    for task in range(settings.n_tasks):
        done = store.load(f"task{task}") if store else None
        if done is None:
            logits = start_task(model, used, settings, seed, task)
            hooks = freeze_used(model, used)
            try:
                losses = train_task(model, logits, data, permutation(task), settings, f"seed {seed} task {task}",
                                    store.checkpoint(f"task{task}") if store else None, progress)
            finally:
                for hook in hooks:
                    hook.remove()
            mask = logits.binary()
            order = permutation(task).to(device)
            with masking.applied(model, mask):
                valid_acc = accuracy(model, data.x_valid[:, order], data.y_valid)
            done = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "mask": mask,
                    "valid_acc": valid_acc, "final_loss": float(np.mean(losses[-100:]))}
            if store:
                store.save(f"task{task}", done)
            print(f"seed {seed} task {task}: accuracy {valid_acc:.3f} with its mask "
                  f"({time.time() - started:.0f} s)", flush=True)
        model.load_state_dict(done["state"])
        tasks.append({"mask": done["mask"], "valid_acc": done["valid_acc"], "final_loss": done["final_loss"],
                      "shared": shared_per_tensor(done["mask"], used),
                      "used_density": {n: (used[n].float().mean().item() if used is not None else 0.0)
                                       for n in done["mask"].names}})
        used = next_used(used, done["mask"], model)
    return {"tasks": tasks}
