"""Feed-forward network with ReLU between Linear layers; parameters are ``layers.{i}.weight/bias``."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: list[int], out_features: int, dropout: float = 0.0):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = self.dropout(torch.relu(layer(x)))
        return self.layers[-1](x)


def name_for(hidden: list[int]) -> str:
    """``fnn_2000x4`` for uniform stacks, ``fnn_400_400_200`` otherwise."""
    if len(hidden) > 1 and len(set(hidden)) == 1:
        return f"fnn_{hidden[0]}x{len(hidden)}"
    return "fnn_" + "_".join(str(h) for h in hidden)


def parse_hidden(spec: str) -> list[int]:
    """The inverse of ``name_for`` without the prefix: ``"2000x4"`` → [2000]*4, ``"400_400_200"`` → [400, 400, 200]."""
    try:
        if "x" in spec:
            width, depth = spec.split("x")
            hidden = [int(width)] * int(depth)
        else:
            hidden = [int(part) for part in spec.split("_")]
    except ValueError:
        hidden = []
    if not hidden or min(hidden) < 1:
        raise ValueError(f"cannot read hidden sizes from {spec!r}; write e.g. '2000x4' or '400_400_200'")
    return hidden
