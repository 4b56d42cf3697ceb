"""The one training loop: Adam on a list of tensors, a loss per step, clipping, progress, checkpoints.

Base training passes the model's parameters and a task loss; mask training passes the mask logits and the
task loss of the masked network plus the logit penalty. Batches are a function of (seed, step), so a run
resumed from a checkpoint sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

__all__ = ["BatchIndices", "EpochBatches", "choose_device", "fit", "set_determinism"]


def choose_device(preference: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; ``cpu`` / ``cuda`` force one."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no GPU is visible to torch")
    return torch.device(preference)


def set_determinism(seed: int, deterministic: bool = False) -> None:
    """Seed every generator; with ``deterministic`` also ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def step_seed(rng_key: str, step: int) -> int:
    """The seed of one training step's randomness: a function of the stage's key and the step alone."""
    return int.from_bytes(hashlib.sha256(f"{rng_key}:{step}".encode()).digest()[:8], "little") >> 1


def seed_generators(seed: int) -> None:
    """What ``torch.manual_seed`` does for the devices in use. On a machine whose CUDA is not initialised,
    ``torch.manual_seed`` records a stack trace for a deferred CUDA seeding on every call, which costs more than
    a whole mask step of a small model; the CPU stream is the same either way."""
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)
    if torch.backends.mps.is_available():
        torch.mps.manual_seed(seed)


class EpochBatches:
    """Indices of a batch from a fresh permutation each epoch (the last batch of an epoch may be short),
    reproducible from (seed, step) like ``BatchIndices``."""

    def __init__(self, n_items: int, batch_size: int, seed: int, device=None):
        if n_items <= 0:
            raise ValueError("cannot draw batches from an empty dataset")
        self.n_items, self.batch_size, self.seed, self.device = n_items, batch_size, seed, device
        self.steps_per_epoch = math.ceil(n_items / batch_size)
        self._epoch, self._order = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n_items, generator=generator)
        index = self._order[position * self.batch_size:(position + 1) * self.batch_size]
        return index.to(self.device) if self.device is not None else index


class BatchIndices:
    """Indices of a batch drawn i.i.d. with replacement, reproducible from (seed, step)."""

    def __init__(self, n_items: int, batch_size: int, seed: int, device=None):
        if n_items <= 0:
            raise ValueError("cannot draw batches from an empty dataset")
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.device = device
        self._generator = torch.Generator()

    def __call__(self, step: int) -> torch.Tensor:
        self._generator.manual_seed(self.seed * 1_000_003 + step)
        index = torch.randint(self.n_items, (self.batch_size,), generator=self._generator)
        return index.to(self.device) if self.device is not None else index


def fit(
    tensors: Sequence[torch.Tensor],
    loss_at_step: Callable[[int], torch.Tensor],
    n_steps: int,
    *,
    lr: float,
    clip: float | Callable[[list[torch.Tensor]], None] | None = 1.0,
    adam: dict | None = None,
    sgd: dict | None = None,
    lr_milestones: Sequence[int] = (),
    warmup_steps: int = 0,
    desc: str = "train",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1000,
    progress: bool = True,
    after_step: Callable[[int], None] | None = None,
    checkpoint_extra: Sequence[torch.Tensor] = (),
    rng_key: str | None = None,
) -> list[float]:
    """Minimise ``loss_at_step(step)`` over ``tensors`` with a fresh Adam for ``n_steps`` updates.

    With ``checkpoint`` set, the tensors, optimizer state and losses are saved every ``checkpoint_every``
    steps and a run finding the file resumes from it; the file is removed when the loop finishes.
    ``clip`` is a global gradient-norm bound, or a function that clips the gradients in place. ``sgd``
    (e.g. ``{"momentum": 0.9, "weight_decay": 1e-4}``) uses SGD instead of Adam; the learning rate is
    multiplied by 0.1 at each step in ``lr_milestones`` and ramps up linearly over the first
    ``warmup_steps``. ``checkpoint_extra`` tensors (BatchNorm running
    statistics, say) are saved and restored with the checkpoint.
    ``after_step(step)`` runs after each optimizer step (e.g. to keep pruned weights at zero).
    Every step first seeds torch's generators from ``(rng_key, step)`` (``rng_key`` defaults to ``desc``,
    which names the seed and the stage), so dropout and mask noise depend on neither what ran before nor
    whether the run was resumed from a checkpoint.
    Returns the loss of every step.
    """
    from modularity import cache

    cache.note_training()
    tensors = list(tensors)
    options = dict(adam or {})
    if all(t.dtype == torch.float32 for t in tensors) and "foreach" not in options:
        options.setdefault("fused", True)  # one kernel per step instead of a dozen passes per tensor
    if sgd is not None:
        optimizer = torch.optim.SGD(tensors, lr=lr, **sgd)
    else:
        optimizer = torch.optim.Adam(tensors, lr=lr, **options)
    extra = list(checkpoint_extra)
    losses: list[float] = []
    start = 0
    checkpoint = Path(checkpoint) if checkpoint else None
    if checkpoint and checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        with torch.no_grad():
            for t, saved in zip(tensors + extra, state["tensors"] + state.get("extra", [])):
                t.copy_(saved)
        optimizer.load_state_dict(state["optimizer"])
        start, losses = state["step"], state["losses"]
    progress = progress and os.environ.get("MODULARITY_PROGRESS", "1") != "0"
    bar = tqdm(range(start, n_steps), desc=desc, initial=start, total=n_steps, disable=not progress,
               mininterval=2.0, leave=False)
    pending = []
    rng_key = desc if rng_key is None else rng_key
    for step in bar:
        seed_generators(step_seed(rng_key, step))
        for group in optimizer.param_groups:
            decay = 0.1 ** sum(step >= m for m in lr_milestones)
            group["lr"] = lr * decay * min(1.0, (step + 1) / max(1, warmup_steps))
        optimizer.zero_grad(set_to_none=True)
        loss = loss_at_step(step)
        loss.backward()
        if callable(clip):
            clip(tensors)
        elif clip is not None:
            torch.nn.utils.clip_grad_norm_(tensors, clip)
        optimizer.step()
        if after_step is not None:
            after_step(step)
        pending.append(loss.detach())
        if len(pending) == 100 or step == n_steps - 1:
            losses.extend(torch.stack(pending).tolist())
            pending = []
            bar.set_postfix(loss=f"{losses[-1]:.3g}")
        if checkpoint and (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
            _save_checkpoint(checkpoint, tensors, optimizer, step + 1, losses + [p.item() for p in pending], extra)
    if checkpoint and checkpoint.exists():
        checkpoint.unlink()
    return losses


def _save_checkpoint(path: Path, tensors, optimizer, step: int, losses: list[float], extra=()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        torch.save({"tensors": [t.detach().cpu() for t in tensors], "optimizer": optimizer.state_dict(),
                    "step": step, "losses": losses, "extra": [t.detach().cpu() for t in extra]}, tmp)
    except (OSError, RuntimeError) as error:  # a full disk surfaces as a RuntimeError from torch's writer
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write the checkpoint {path} ({str(error).splitlines()[0]}); free some disk space "
                      "or set MODULARITY_DATA to a folder with room, then rerun: finished stages are kept") from error
    os.replace(tmp, path)
