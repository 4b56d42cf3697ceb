"""Double addition, the "+/+" task: two independent pairs per example, each
to be added modulo 100 — the same function applied to two different inputs.

Input (80-d): one-hot(10) at [pair, operand, digit] (digits little-endian), index
40·pair + 20·operand + 10·digit + value. Output (40 logits): [pair, digit, 10].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

INPUT_SIZE = 80
OUTPUT_SIZE = 40
PAIR_INPUTS = 40  # input entries per pair
PAIR_OUTPUTS = 20  # output logits per pair
TRAIN_SEED = 0x12345678
VALID_SEED = 0x12345678 + 2


@dataclass
class PairSet:
    """Operands ``a`` and ``b``, each ``[n, 2]`` (one column per pair)."""

    a: torch.Tensor
    b: torch.Tensor

    def __len__(self) -> int:
        return len(self.a)

    def targets(self) -> torch.Tensor:
        """``[n, 2 pairs, 2 digits]`` little-endian digits of (a + b) mod 100."""
        total = (self.a + self.b) % 100
        return torch.stack([total % 10, total // 10], dim=2)

    def encode(self, index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = (self.a, self.b) if index is None else (self.a[index], self.b[index])
        n = len(a)
        # [n, pair, operand, digit] values, then their one-hot positions
        values = torch.stack([torch.stack([a % 10, a // 10], dim=2), torch.stack([b % 10, b // 10], dim=2)], dim=2)
        offsets = torch.arange(8, device=a.device).reshape(2, 2, 2) * 10
        x = torch.zeros(n, INPUT_SIZE, device=a.device)
        x.scatter_(1, (values + offsets).reshape(n, 8), 1.0)
        total = (a + b) % 100
        return x, torch.stack([total % 10, total // 10], dim=2)

    def to(self, device) -> "PairSet":
        return PairSet(self.a.to(device), self.b.to(device))

    def checksum(self) -> str:
        h = hashlib.sha256()
        for t in (self.a, self.b):
            h.update(t.cpu().numpy().astype(np.int64).tobytes())
        return h.hexdigest()


def only_pair(x: torch.Tensor, pair: int) -> torch.Tensor:
    """The input with the other pair's entries zeroed."""
    keep = torch.zeros(INPUT_SIZE, device=x.device)
    keep[pair * PAIR_INPUTS:(pair + 1) * PAIR_INPUTS] = 1
    return x * keep


def generate(n: int, seed: int) -> PairSet:
    """``n`` examples, a and b ~ U{0..99} for both pairs, from numpy RandomState(seed)."""
    rng = np.random.RandomState(seed)
    a = rng.randint(0, 100, size=(n, 2))
    b = rng.randint(0, 100, size=(n, 2))
    return PairSet(torch.from_numpy(a.astype(np.int64)), torch.from_numpy(b.astype(np.int64)))


def train_set(n: int = 1_000_000) -> PairSet:
    return generate(n, TRAIN_SEED)


def valid_set(n: int = 10_000) -> PairSet:
    return generate(n, VALID_SEED)


def pair_loss(logits: torch.Tensor, targets: torch.Tensor, pairs: tuple[int, ...] = (0, 1)) -> torch.Tensor:
    """Cross-entropy over the digits of the given pairs; logits ``[n, 40]``, targets ``[n, 2, 2]``."""
    logits = logits.reshape(len(logits), 2, 2, 10)[:, list(pairs)]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 10), targets[:, list(pairs)].reshape(-1))


def pair_correct(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``[n, 2]``: both digits of each pair right."""
    digits = logits.reshape(len(logits), 2, 2, 10).argmax(-1)
    return (digits == targets).all(dim=2)


def load(n_train: int = 1_000_000, n_valid: int = 10_000) -> tuple[PairSet, PairSet]:
    """The generated sets, recorded in the run's provenance."""
    from modularity.data import registry

    train, valid = train_set(n_train), valid_set(n_valid)
    registry.record("pair_arithmetic", f"generated (numpy RandomState {TRAIN_SEED:#x} / {VALID_SEED:#x})",
                    {"train": train.checksum(), "valid": valid.checksum()})
    return train, valid


def checksums(n_train: int = 1_000_000, n_valid: int = 10_000) -> dict[str, str]:
    return {"train": train_set(n_train).checksum(), "valid": valid_set(n_valid).checksum()}
