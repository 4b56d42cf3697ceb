"""The two resumable stages every weight-mask experiment runs: base training, then one mask per stage on
the frozen weights. Each is loaded from the seed's store when finished, checkpointed while it runs.

The base network is stored apart from the masks, keyed only by what shapes it: every notebook (and every
β or mask length) that needs the same network at the same base settings trains it once per seed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable

import torch

from modularity import masking
from modularity.cache import SeedStore
from modularity.train import fit

MASK_FIELDS = ("mask_steps", "mask_lr", "beta", "n_mask_samples")


def stores(namespace: str, settings, device: str, seed: int, **base_as) -> tuple[SeedStore, SeedStore]:
    """``(base store, mask store)`` of one seed. ``base_as`` overrides base-key fields, e.g. a positive
    control that masks a copy of another model's base network names that model. Both are keyed by the code
    of the experiment that defines ``settings`` (not by all a notebook loads), so every chapter that trains
    the same network and masks with the same settings shares them."""
    params = dict(asdict(settings), device=device)
    base = {k: v for k, v in params.items() if k not in MASK_FIELDS} | base_as
    scope = type(settings).__module__
    return SeedStore(f"{namespace}/base", base, seed, scope), SeedStore(namespace, params, seed, scope)


def base_stage(model: torch.nn.Module, loss_at_step: Callable[[int], torch.Tensor], settings, desc: str,
               store=None, progress: bool = True) -> tuple[dict, bool]:
    """``{"state", "losses"}`` of base training with Adam (``settings``: base_steps, lr, grad_clip); also
    whether it was trained now."""
    done = store.load("base") if store else None
    if done is not None:
        return done, False
    losses = fit(list(model.parameters()), loss_at_step, settings.base_steps, lr=settings.lr,
                 clip=settings.grad_clip, desc=f"{desc} base",
                 checkpoint=store.checkpoint("base") if store else None, progress=progress,
                 rng_key=f"seed {store.seed} base" if store else None)
    done = {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "losses": losses}
    if store:
        store.save("base", done)
    return done, True


def mask_stage(model: torch.nn.Module, names: list[str], stage: str, batch_at_step, task_loss, settings,
               desc: str, store=None, progress: bool = True) -> tuple[dict, bool]:
    """``{"logits", "losses"}`` of one freshly initialised mask trained on the frozen model (``settings``:
    mask_steps, beta, batch_size, mask_lr, n_mask_samples, grad_clip); also whether it was trained now."""
    done = store.load(stage) if store else None
    if done is not None:
        return done, False
    logits = masking.MaskLogits.for_model(model, names)
    losses = masking.train_mask(
        model, logits, batch_at_step, task_loss, n_steps=settings.mask_steps, beta=settings.beta,
        penalty_batch_size=settings.batch_size, lr=settings.mask_lr, n_samples=settings.n_mask_samples,
        clip=settings.grad_clip, desc=f"{desc} mask {stage}",
        checkpoint=store.checkpoint(stage) if store else None, progress=progress,
        rng_key=f"seed {store.seed} mask {stage}" if store else None)
    done = {"logits": {n: t.detach().cpu() for n, t in logits.items()}, "losses": losses}
    if store:
        store.save(stage, done)
    return done, True


def probability_histogram(logits: dict[str, torch.Tensor], bins: int = 500) -> torch.Tensor:
    """Counts of σ(logit) over all of a stage's tensors in ``bins`` equal bins of [0, 1], as the paper's
    mask-value histograms count them."""
    values = torch.cat([torch.sigmoid(t.float()).flatten() for t in logits.values()])
    return torch.histogram(values, bins=bins, range=(0.0, 1.0))[0]
