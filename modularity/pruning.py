"""Magnitude pruning with tfmot's polynomial schedule (Filan et al.): per layer, kernels only.

s(t) = s_f + (s_i − s_f)·(1 − t/T)³ from 50% at step 0 to 90% at step T. Every ``frequency`` steps the
``|w|``-smallest s(t) fraction of each kernel is masked; between updates the masks are held fixed, and
``apply`` after every optimizer step keeps pruned weights exactly zero. The final update, at step T,
reaches the final sparsity exactly.
"""

from __future__ import annotations

import math

import torch

__all__ = ["MagnitudePruner", "sparsity_at"]


def sparsity_at(step: int, end_step: int, initial: float = 0.5, final: float = 0.9, power: int = 3) -> float:
    progress = min(max(step / end_step, 0.0), 1.0) if end_step > 0 else 1.0
    return final + (initial - final) * (1 - progress) ** power


class MagnitudePruner:
    """Masks for the given weight tensors (e.g. every Linear/Conv2d ``weight``), updated on schedule."""

    def __init__(self, weights: list[torch.Tensor], end_step: int, initial: float = 0.5, final: float = 0.9,
                 frequency: int = 10, power: int = 3):
        if not 0 <= initial <= final < 1:
            raise ValueError(f"need 0 ≤ initial ≤ final < 1 sparsity, got {initial} → {final}")
        self.weights, self.end_step, self.frequency = weights, end_step, frequency
        self.initial, self.final, self.power = initial, final, power
        self.masks = [torch.ones_like(w, dtype=torch.bool) for w in weights]

    def sparsity(self, step: int) -> float:
        return sparsity_at(step, self.end_step, self.initial, self.final, self.power)

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Recompute the masks when the schedule says so (every ``frequency`` steps, and at the end)."""
        if step % self.frequency and step != self.end_step:
            return
        target = self.sparsity(step)
        for weight, mask in zip(self.weights, self.masks):
            n_pruned = math.floor(target * weight.numel())
            mask.fill_(True)
            if n_pruned:  # weights pruned before are 0 and so stay among the smallest
                smallest = torch.topk(weight.abs().flatten(), n_pruned, largest=False).indices
                mask.view(-1)[smallest] = False
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        for weight, mask in zip(self.weights, self.masks):
            weight.mul_(mask)

    def after_step(self, step: int) -> None:
        """Hook for the training loop: keep pruned weights at zero, then update on schedule."""
        self.apply()
        self.update(step + 1)
