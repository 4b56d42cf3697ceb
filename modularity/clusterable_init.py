"""Clusterable initialisation (Filan et al., P1b): plant modules in a freshly initialised network.

Every input and hidden unit (channel, for a CNN) is assigned to one of ``n_modules`` modules at random; output
unit c belongs to module c. In every layer but the first, a weight between two units of the same module is
multiplied by ``up`` = 1 + (1 − ``down``)·(``n_modules`` − 1) and every other weight by ``down`` (0.6 for MLPs,
0.8 for CNNs in the authors' code, dfilan/clusterability_in_neural_networks ``src/train_nn.py``), which keeps
a layer's mean weight magnitude about the same for n_modules equal modules.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["clusterable_init_", "module_assignment"]


def module_assignment(layer_sizes: Sequence[int], n_modules: int, generator: torch.Generator,
                      last_is_output: bool = True) -> list[torch.Tensor]:
    """Module of every unit of every layer: random for inputs and hidden units, c for output unit c (when the
    last layer is the network's output; a CNN's last conv layer is not)."""
    modules = [torch.randint(0, n_modules, (size,), generator=generator) for size in layer_sizes[:-1]]
    out = layer_sizes[-1]
    modules.append(torch.arange(out) % n_modules if last_is_output
                   else torch.randint(0, n_modules, (out,), generator=generator))
    return modules


@torch.no_grad()
def clusterable_init_(layers: Sequence[nn.Module], n_modules: int = 10, down: float = 0.6,
                      generator: torch.Generator | None = None, last_is_output: bool = True) -> list[torch.Tensor]:
    """Scale the weights of ``layers`` (a chain of ``nn.Linear`` or ``nn.Conv2d``, in forward order) in place;
    returns the module of every unit, layer by layer (inputs first). For a CNN pass its conv layers,
    ``down=0.8`` and ``last_is_output=False``."""
    if not 0 < down <= 1:
        raise ValueError(f"down is {down}: it scales the weights between modules, so 0 < down ≤ 1")
    sizes = [layers[0].weight.shape[1]] + [layer.weight.shape[0] for layer in layers]
    for previous, layer in zip(layers[:-1], layers[1:]):
        if layer.weight.shape[1] != previous.weight.shape[0]:
            raise ValueError(f"layers do not chain: {tuple(previous.weight.shape)} then {tuple(layer.weight.shape)}")
    modules = module_assignment(sizes, n_modules, generator or torch.Generator().manual_seed(0), last_is_output)
    up = 1 + (1 - down) * (n_modules - 1)
    for index, layer in enumerate(layers[1:], start=1):
        same = modules[index + 1][:, None] == modules[index][None, :]  # out × in
        scale = torch.where(same, up, down).to(layer.weight.dtype)
        layer.weight.mul_(scale.view(*scale.shape, *([1] * (layer.weight.dim() - 2))))
    return modules
