"""Elementwise kernels of the hard-concrete mask sample, fused with ``torch.compile`` where it pays off.

For a uniform u and logit l the hard sample is 1[u > σ(−l)] and the straight-through slope is
s(1−s) with s = u·σ(l) / (u·σ(l) + (1−u)·σ(−l)). In eager PyTorch each step of those formulas is a pass over
the K×N sampled elements; on a CPU the fused kernels do the forward in one pass and the backward in one
pass, which is most of a mask step for wide networks. Small tensors stay eager (compiling them costs
seconds and saves nothing). ``MODULARITY_COMPILE=0`` turns compilation off, ``=1`` forces it on.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

COMPILE_MIN_ELEMENTS = 1 << 18  # K × numel above which a fused kernel is used


def masked_weight(weight: torch.Tensor, logit: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """``weight · 1[u > σ(−l)]`` for every sample."""
    return weight * (uniform > torch.sigmoid(-logit))


def logit_gradient(grad: torch.Tensor, uniform: torch.Tensor, logit: torch.Tensor,
                   weight: torch.Tensor) -> torch.Tensor:
    """Σ_k grad_k · w · s_k(1 − s_k): the straight-through gradient of the logits."""
    up = uniform * torch.sigmoid(logit)
    vq = (1 - uniform) * torch.sigmoid(-logit)
    return (grad * (up * vq / (up + vq).square().clamp_min(1e-30))).sum(0) * weight


@functools.lru_cache(maxsize=None)
def _compiled(name: str):
    return torch.compile({"forward": masked_weight, "backward": logit_gradient}[name], dynamic=False)


_compile_failed = False


def _use_compiled(n_elements: int) -> bool:
    setting = os.environ.get("MODULARITY_COMPILE", "auto")
    if setting == "0" or _compile_failed:
        return False
    return setting == "1" or n_elements >= COMPILE_MIN_ELEMENTS


def run(name: str, *args: torch.Tensor) -> torch.Tensor:
    """Run kernel ``name`` ("forward" or "backward"), fused when large enough and a compiler works."""
    global _compile_failed
    eager = masked_weight if name == "forward" else logit_gradient
    if _use_compiled(args[0].numel() if name == "backward" else args[2].numel()):
        try:
            return _compiled(name)(*args)
        except Exception as error:  # no C++ compiler, unsupported platform: fall back, say so once
            _compile_failed = True
            warnings.warn(f"torch.compile unavailable, mask kernels run eagerly: {error}", stacklevel=2)
    return eager(*args)
