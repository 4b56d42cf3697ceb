"""The CIFAR-10 VGG of Filan et al. and Hod et al. (after geifmany/cifar-vgg; original code
`dfilan/clusterability_in_neural_networks`, `CNN_VGG_MODEL_PARAMS`).

Thirteen 3×3 'same' convolutions, 64-64-M-128-128-M-256-256-256-M-512-512-512-M-512-512-512-M, each block
conv → ReLU → [max-pool] → batch norm → [dropout]; dropout 0.3 after the first conv, 0.4 after every other
conv that is not followed by pooling, 0.5 after the last pooled one. Head: dense 512, ReLU, batch norm,
dropout 0.5, dense 512, ReLU, dense 10. ``width`` scales every channel count (and the head), so a CPU can
train a narrower copy of the same architecture.
"""

from __future__ import annotations

import torch
from torch import nn

PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class CifarVGG(nn.Module):
    def __init__(self, width: float = 1.0, dropout: bool = True, n_classes: int = 10):
        super().__init__()
        layers, channels = [], 3
        entries = list(PLAN)
        for index, entry in enumerate(entries):
            if entry == "M":
                continue
            out = max(1, round(entry * width))
            pooled = index + 1 < len(entries) and entries[index + 1] == "M"
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
            if pooled:
                layers.append(nn.MaxPool2d(2))
            layers.append(nn.BatchNorm2d(out))
            if dropout:
                rate = 0.3 if index == 0 else 0.5 if index == len(entries) - 2 else 0.0 if pooled else 0.4
                if rate:
                    layers.append(nn.Dropout(rate))
            channels = out
        self.features = nn.Sequential(*layers)
        hidden = max(1, round(512 * width))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.BatchNorm1d(hidden),
                                  nn.Dropout(0.5 if dropout else 0.0), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
