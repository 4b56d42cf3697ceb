"""CIFAR-10 class removal and mask stability (Csordás et al. 2021), one seed at a time.

Base training of the simple CNN (or the CIFAR ResNet), then a control mask on all classes and one mask per
removed class, each with the output layer copied from the control mask and frozen. The removal masks share
the frozen weights, so they are trained together in one batched pass (``StagedMaskLogits``); the
reference of every comparison is the control-masked network, not the unmasked one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from modularity import mask_algebra, masking
from modularity.data import images
from modularity.models.cnn import CifarCNN
from modularity.models.resnet import CifarResNet
from modularity.train import BatchIndices, fit, set_determinism

MODELS = ("cnn", "cnn_nodropout", "resnet")
OUTPUT_NAMES = ["output.weight", "output.bias"]
MASK_SEED = 1234
RESNET_MEAN, RESNET_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


@dataclass
class Settings:
    model: str  # "cnn", "cnn_nodropout" or "resnet"
    base_steps: int
    mask_steps: int
    width: float = 1.0  # channel multiplier of the simple CNN
    depth: int = 110  # ResNet depth 6n + 2
    batch_size: int = 128  # base batch size B (the logit penalty is β/B)
    mask_batch_size: int = 128  # batch per mask stage
    lr: float = 1e-3  # Adam for the CNN; SGD (momentum 0.9, weight decay 1e-4) for the ResNet
    mask_lr: float = 1e-3
    beta: float = 3e-4
    n_mask_samples: int = 4
    grad_clip: float = 1.0


def build_model(settings: Settings) -> nn.Module:
    if settings.model in ("cnn", "cnn_nodropout"):
        return CifarCNN(width=settings.width, dropout=settings.model == "cnn")
    if settings.model == "resnet":
        return CifarResNet(settings.depth)
    raise ValueError(f"unknown model {settings.model!r}; choose from {MODELS}")


@dataclass
class CifarData:
    """uint8 images on one device, normalised batch by batch; ``augment`` adds random crops and flips."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    augment: bool
    source: str
    eval_set: str

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255 - self.mean.view(1, 3, 1, 1)) / self.std.view(1, 3, 1, 1)

    def train_batch(self, index: torch.Tensor, seed: int, step: int) -> torch.Tensor:
        x = self.x_train[index]
        if self.augment:
            x = random_crop_and_flip(x, torch.Generator().manual_seed(seed * 1_000_003 + step))
        return self.normalise(x)


def load_data(model: str, device) -> CifarData:
    """The simple CNN's data: the 80/20 split of the 50k training images (the 20% is the evaluation set),
    per-channel statistics of all 50k. The ResNet's: all 50k with augmentation, the official test set."""
    data = images.load("cifar10")
    if model == "resnet":
        mean, std = torch.tensor(RESNET_MEAN), torch.tensor(RESNET_STD)
        return CifarData(data.x_train.to(device), data.y_train.to(device), data.x_test.to(device),
                         data.y_test.to(device), mean.to(device), std.to(device), True, data.source,
                         "official test set (10,000 images)")
    pixels = data.x_train.float() / 255
    mean, std = pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))
    train, holdout = images.holdout_split(len(data.y_train))
    return CifarData(data.x_train[train].to(device), data.y_train[train].to(device),
                     data.x_train[holdout].to(device), data.y_train[holdout].to(device), mean.to(device),
                     std.to(device), False, data.source, f"20% hold-out of the training images ({len(holdout):,})")


def random_crop_and_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random 32×32 crops of the zero-padded images and horizontal flips with probability ½."""
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    dy, dx = (torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    crops = padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(x.shape[1], device=x.device)
                   [None, :, None, None], rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)


def prepare(settings: Settings, seed: int, data: CifarData, base_store=None, progress: bool = True) -> nn.Module:
    """The base-trained network in eval mode (trained now, or loaded from ``base_store``)."""
    set_determinism(seed)
    device = data.x_train.device
    model = build_model(settings).to(device)
    done = base_store.load("base") if base_store else None
    if done is None:
        draw = BatchIndices(len(data.y_train), settings.batch_size, seed, device=device)

        def loss_at_step(step: int) -> torch.Tensor:
            index = draw(step)
            return nn.functional.cross_entropy(model(data.train_batch(index, seed, step)), data.y_train[index])

        resnet = settings.model == "resnet"
        started = time.time()
        model.train()
        losses = fit(
            list(model.parameters()), loss_at_step, settings.base_steps, lr=settings.lr,
            clip=None if resnet else settings.grad_clip,
            sgd={"momentum": 0.9, "weight_decay": 1e-4} if resnet else None,
            lr_milestones=(settings.base_steps // 2, settings.base_steps * 3 // 4) if resnet else (),
            desc=f"{settings.model} seed {seed} base", checkpoint=base_store.checkpoint("base") if base_store else None,
            checkpoint_extra=list(model.buffers()), progress=progress)
        done = {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "losses": losses}
        if base_store:
            base_store.save("base", done)
        print(f"{settings.model} seed {seed}: base network trained ({time.time() - started:.0f} s)", flush=True)
    model.load_state_dict(done["state"])
    model.eval()
    return model


def mask_names(model: nn.Module) -> list[str]:
    """Everything is masked in the CIFAR networks: conv and BatchNorm parameters, output weight and bias."""
    return masking.masked_parameter_names(model, mask_biases=True)


def class_pool(data: CifarData, classes) -> torch.Tensor:
    """Indices of the training images whose label is in ``classes``."""
    keep = torch.isin(data.y_train, torch.as_tensor(list(classes), device=data.y_train.device))
    return torch.nonzero(keep).ravel()


def staged_batches(data: CifarData, pools: list[torch.Tensor], batch_size: int, seeds: list[int]):
    """One batch block per stage, each from its own pool of images with its own data-order seed."""
    draws = [BatchIndices(len(pool), batch_size, seed, device=pool.device) for pool, seed in zip(pools, seeds)]

    def batch(step: int):
        index = torch.cat([pool[draw(step)] for pool, draw in zip(pools, draws)])
        return data.normalise(data.x_train[index]), data.y_train[index]

    return batch


def stagewise_cross_entropy(n_stages: int):
    """Σ over stages of each stage's mean cross-entropy: each stage's logits get its own loss's gradient."""
    def loss(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, targets, reduction="none").view(n_stages, -1).mean(1).sum()

    return loss


def train_staged_masks(model: nn.Module, settings: Settings, data: CifarData, name: str, pools: list[torch.Tensor],
                       seeds: list[int], frozen_from: dict[str, torch.Tensor] | None, store=None,
                       progress: bool = True) -> list[dict[str, torch.Tensor]]:
    """One mask per pool, trained together; with ``frozen_from`` the output layer of every mask is copied
    from it and not trained. Returns each stage's logits (CPU), loaded from ``store`` when finished."""
    done = store.load(name) if store else None
    if done is None:
        logits = masking.StagedMaskLogits.for_model(model, mask_names(model), len(pools))
        if frozen_from is not None:
            logits.fill_every_stage(frozen_from, OUTPUT_NAMES)
        started = time.time()
        losses = masking.train_mask(
            model, logits, staged_batches(data, pools, settings.mask_batch_size, seeds),
            stagewise_cross_entropy(len(pools)), n_steps=settings.mask_steps, beta=settings.beta,
            penalty_batch_size=settings.batch_size, lr=settings.mask_lr, n_samples=settings.n_mask_samples,
            clip=settings.grad_clip, frozen=OUTPUT_NAMES if frozen_from is not None else (), desc=name,
            checkpoint=store.checkpoint(name) if store else None, progress=progress)
        done = {"stages": [logits.stage(s) for s in range(len(pools))], "losses": losses,
                "seconds": time.time() - started}
        if store:
            store.save(name, done)
        print(f"{name}: {len(pools)} masks trained together ({done['seconds']:.0f} s)", flush=True)
    return done["stages"]


@torch.no_grad()
def confusion(model: nn.Module, data: CifarData, mask=None, batch: int = 1000) -> np.ndarray:
    """C[true, predicted] = P(predicted | true) on the evaluation set, with ``mask`` applied if given."""
    counts = torch.zeros(10, 10, dtype=torch.long, device=data.y_eval.device)
    with masking.applied(model, mask) if mask is not None else contextlib.nullcontext():
        for i in range(0, len(data.y_eval), batch):
            predicted = model(data.normalise(data.x_eval[i:i + batch])).argmax(1)
            counts.index_put_((data.y_eval[i:i + batch], predicted), torch.ones_like(predicted), accumulate=True)
    counts = counts.cpu().numpy().astype(float)
    return counts / counts.sum(1, keepdims=True)


def removal_drops(reference: np.ndarray, removed: np.ndarray, target: int) -> dict[str, float]:
    """Spec §2.5: the removed class's relative drop 100·(−D[c,c])/C₀[c,c] (as a fraction here), and the
    largest other class's relative drop as a fraction of it: min(min_{j≠c} r_j, 0) / r_c with
    r_j = D[j,j]/C₀[j,j]."""
    relative = (np.diag(removed) - np.diag(reference)) / np.diag(reference)
    others = np.delete(relative, target)
    return {"rel_drop": float(-relative[target]),
            "other_ratio": float(min(others.min(), 0.0) / relative[target]) if relative[target] < 0 else float("nan"),
            "relative_change": relative}


def kept_of_control(mask: mask_algebra.Mask, control: mask_algebra.Mask) -> dict[str, float]:
    """|M_c ∧ M₀| / |M₀| per tensor: how much of the control mask a class-removal mask keeps."""
    return mask_algebra.per_tensor(lambda a, b: mask_algebra.shared_fraction(b, a), mask, control)


def time_stage_training(model: nn.Module, settings: Settings, data: CifarData, pools: list[torch.Tensor],
                        control: dict[str, torch.Tensor], n_steps: int) -> dict[str, float]:
    """Seconds per mask-stage step when the stages train together vs one after another (same steps, same
    batches per stage); the masks trained here are thrown away."""
    def run(group: list[torch.Tensor]) -> float:
        logits = masking.StagedMaskLogits.for_model(model, mask_names(model), len(group))
        logits.fill_every_stage(control, OUTPUT_NAMES)
        started = time.perf_counter()
        draw = staged_batches(data, group, settings.mask_batch_size, [MASK_SEED] * len(group))
        masking.train_mask(model, logits, draw,
                           stagewise_cross_entropy(len(group)), n_steps=n_steps, beta=settings.beta,
                           penalty_batch_size=settings.batch_size, lr=settings.mask_lr,
                           n_samples=settings.n_mask_samples, clip=settings.grad_clip, frozen=OUTPUT_NAMES,
                           progress=False)
        return time.perf_counter() - started

    run(pools[:1])  # warm-up (kernel selection, caches)
    together = run(pools)
    alone = sum(run([pool]) for pool in pools)
    per_stage_step = n_steps * len(pools)
    return {"together_s_per_stage_step": together / per_stage_step, "alone_s_per_stage_step": alone / per_stage_step,
            "speedup": alone / together}


def time_class_masks(settings: Settings, data: CifarData, classes: list[int], n_steps: int, base_store=None) -> dict:
    """``time_stage_training`` of the class-removal masks on seed 0's network (its output layer frozen at the
    initial logits, as the class masks freeze the control mask's)."""
    model = prepare(settings, 0, data, base_store)
    pools = [class_pool(data, [k for k in range(10) if k != c]) for c in classes]
    frozen_output = {n: torch.full_like(p, masking.MASK_INIT) for n, p in model.named_parameters() if n in OUTPUT_NAMES}
    return time_stage_training(model, settings, data, pools, frozen_output, n_steps)


def class_removal_masks(settings: Settings, seed: int, data: CifarData, classes, base_store=None, store=None,
                        progress: bool = True) -> tuple[nn.Module, dict, list[dict]]:
    """The base network, its control mask's logits and one removal mask's logits per class in ``classes``
    (trained together, the output layer copied from the control mask)."""
    model = prepare(settings, seed, data, base_store, progress)
    everything = class_pool(data, range(10))
    control = train_staged_masks(model, settings, data, f"seed {seed} control mask", [everything], [MASK_SEED], None,
                                 store, progress)[0]
    pools = [class_pool(data, [k for k in range(10) if k != c]) for c in classes]
    removed = train_staged_masks(model, settings, data, f"seed {seed} class-removal masks", pools,
                                 [MASK_SEED] * len(pools), control, store, progress)
    return model, control, removed


def run_class_removal(settings: Settings, seed: int, data: CifarData, classes: list[int], base_store=None, store=None,
                      progress: bool = True) -> dict:
    """Base network, control mask, one mask per removed class (trained together), and their confusions."""
    model, control, removed = class_removal_masks(settings, seed, data, classes, base_store, store, progress)
    control_mask = mask_algebra.Mask.from_logits(control)
    reference = confusion(model, data, control_mask)
    per_class = {}
    for c, logits in zip(classes, removed):
        mask = mask_algebra.Mask.from_logits(logits)
        matrix = confusion(model, data, mask)
        per_class[c] = {"confusion": matrix, **removal_drops(reference, matrix, c),
                        "kept_of_control": kept_of_control(mask, control_mask), "density": mask.density(),
                        "counts": mask.counts()}
    return {"unmasked_confusion": confusion(model, data), "control_confusion": reference,
            "control_density": control_mask.density(), "control_counts": control_mask.counts(), "per_class": per_class,
            "sizes": control_mask.sizes()}


def stability_pairs(seed: int, n_pairs: int) -> list[tuple[int, int]]:
    """``n_pairs`` random ordered class pairs (a ≠ b), drawn from RandomState(seed)."""
    rng = np.random.RandomState(seed)
    return [tuple(int(c) for c in rng.choice(10, 2, replace=False)) for _ in range(n_pairs)]


def run_stability(settings: Settings, seed: int, data: CifarData, n_pairs: int, copy_first_output: bool = True,
                  base_store=None, store=None, progress: bool = True) -> dict:
    """Two masks per random class pair, differing only in data order; their IoU.

    With ``copy_first_output`` (the original's ``keep_last_layer`` quirk) every mask after the very first
    copies and freezes the output layer of that first mask; the IoU is also reported without the output
    layer, which the quirk does not touch.
    """
    model = prepare(settings, seed, data, base_store, progress)
    pairs = stability_pairs(seed, n_pairs)
    pools = [class_pool(data, pair) for pair in pairs for _ in range(2)]
    orders = [MASK_SEED + member for _ in pairs for member in range(2)]
    first = train_staged_masks(model, settings, data, f"seed {seed} first stability mask", pools[:1], orders[:1],
                               None, store, progress)[0]
    rest = train_staged_masks(model, settings, data, f"seed {seed} stability masks", pools[1:], orders[1:],
                              first if copy_first_output else None, store, progress)
    masks = [mask_algebra.Mask.from_logits(logits) for logits in [first, *rest]]
    hidden = [n for n in masks[0].names if n not in OUTPUT_NAMES]
    results = []
    for i, pair in enumerate(pairs):
        a, b = masks[2 * i], masks[2 * i + 1]
        on_pair = torch.isin(data.y_eval, torch.tensor(pair, device=data.y_eval.device))
        accuracy = [pair_accuracy(model, data, mask, on_pair) for mask in (a, b)]
        results.append({"pair": pair, "iou": mask_algebra.iou(a, b),
                        "iou_without_output": mask_algebra.iou(a.subset(hidden), b.subset(hidden)),
                        "accuracy": accuracy, "density": [a.density(), b.density()],
                        "counts": [a.counts(), b.counts()]})
    return {"pairs": results, "sizes": masks[0].sizes(), "output_names": list(OUTPUT_NAMES)}


@torch.no_grad()
def pair_accuracy(model: nn.Module, data: CifarData, mask, rows: torch.Tensor) -> float:
    """Accuracy (10-way prediction) with ``mask`` on the evaluation images selected by ``rows``."""
    x, y = data.x_eval[rows], data.y_eval[rows]
    with masking.applied(model, mask):
        correct = sum((model(data.normalise(x[i:i + 1000])).argmax(1) == y[i:i + 1000]).sum().item()
                      for i in range(0, len(y), 1000))
    return correct / max(1, len(y))
