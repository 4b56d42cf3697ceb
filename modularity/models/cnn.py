"""The small CNN of Filan et al. (P1b, P2): three 3×3 'same' convs of 64 channels, two max-pools, a
128-unit dense layer; with dropout 0.25 after each conv block (after pooling where present) and 0.5
after the dense layer."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 1, side: int = 28, n_classes: int = 10, dropout: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.dense = nn.Linear(64 * (side // 4) ** 2, 128)
        self.output = nn.Linear(128, n_classes)
        self.drop_conv = nn.Dropout(0.25) if dropout else nn.Identity()
        self.drop_dense = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_conv(torch.relu(self.conv1(x)))
        x = self.drop_conv(torch.max_pool2d(torch.relu(self.conv2(x)), 2))
        x = self.drop_conv(torch.max_pool2d(torch.relu(self.conv3(x)), 2))
        x = self.drop_dense(torch.relu(self.dense(x.flatten(1))))
        return self.output(x)


class CifarCNN(nn.Module):
    """The simple CNN of Csordás et al. (CIFAR-10 experiments): four 3×3 convs (32, 64, 128, 256
    channels × ``width``), max-pools after the first three, dropout 0.25 after the third conv and 0.5
    after the fourth (``dropout=False`` removes both), global average pooling, a Linear output layer."""

    vmap_mask_samples = "gpu"  # on a CPU a grouped convolution per mask sample is slower than a loop

    def __init__(self, n_classes: int = 10, width: float = 1.0, dropout: bool = True):
        super().__init__()
        c1, c2, c3, c4 = (max(1, round(c * width)) for c in (32, 64, 128, 256))
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1)
        self.output = nn.Linear(c4, n_classes)
        self.drop3 = nn.Dropout(0.25) if dropout else nn.Identity()
        self.drop4 = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.drop3(self.conv3(x))), 2)
        x = self.drop4(torch.relu(self.conv4(x)))
        return self.output(x.mean(dim=(2, 3)))
