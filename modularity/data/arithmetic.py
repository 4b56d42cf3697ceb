"""Two-digit addition / multiplication modulo 100 (Csordás et al. 2021, "+/*").

Inputs are 42-d: one-hot(10) of the little-endian digits [a₀, a₁, b₀, b₁] followed by one-hot(op).
Targets are the two little-endian digits of (a+b) mod 100 or (a·b) mod 100.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

N_DIGITS = 2
INPUT_SIZE = 4 * 10 + 2
OUTPUT_DIGITS = 2
OPS = ("add", "mul")
TRAIN_SEED = 0x12345678
VALID_SEED = 0x12345678 + 2


@dataclass
class ArithmeticSet:
    """Operands and operation codes of a set of problems (op 0 = add, 1 = mul)."""

    a: torch.Tensor
    b: torch.Tensor
    op: torch.Tensor

    def __len__(self) -> int:
        return len(self.op)

    def where(self, keep: torch.Tensor) -> "ArithmeticSet":
        return ArithmeticSet(self.a[keep], self.b[keep], self.op[keep])

    def only(self, op_name: str) -> "ArithmeticSet":
        """The problems of one operation ("add" or "mul")."""
        return self.where(self.op == OPS.index(op_name))

    def results(self, op_code: int | torch.Tensor) -> torch.Tensor:
        """(a+b) mod 100 where op_code is 0, (a·b) mod 100 where it is 1."""
        return torch.where(torch.as_tensor(op_code) == 0, self.a + self.b, self.a * self.b) % 100

    def encode(self, index: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``[n, 42]`` (float) and target digits ``[n, 2]`` (long) for the selected problems."""
        a, b, op = (self.a, self.b, self.op) if index is None else (self.a[index], self.b[index], self.op[index])
        digits = torch.stack([a % 10, a // 10, b % 10, b // 10], dim=1)
        x = torch.zeros(len(op), INPUT_SIZE, device=op.device)
        x.scatter_(1, digits + torch.arange(0, 40, 10, device=op.device), 1.0)
        x[torch.arange(len(op), device=op.device), 40 + op] = 1.0
        result = torch.where(op == 0, a + b, a * b) % 100
        return x, torch.stack([result % 10, result // 10], dim=1)

    def to(self, device) -> "ArithmeticSet":
        return ArithmeticSet(self.a.to(device), self.b.to(device), self.op.to(device))

    def checksum(self) -> str:
        h = hashlib.sha256()
        for t in (self.a, self.b, self.op):
            h.update(t.cpu().numpy().astype(np.int64).tobytes())
        return h.hexdigest()


def generate(n: int, seed: int) -> ArithmeticSet:
    """``n`` problems with a, b ~ U{0..99} and op ~ U{add, mul} from numpy RandomState(seed)."""
    rng = np.random.RandomState(seed)
    a = rng.randint(0, 100, size=n)
    b = rng.randint(0, 100, size=n)
    op = rng.randint(0, 2, size=n)
    return ArithmeticSet(*(torch.from_numpy(v.astype(np.int64)) for v in (a, b, op)))


def train_set(n: int = 1_000_000) -> ArithmeticSet:
    return generate(n, TRAIN_SEED)


def valid_set(n: int = 10_000) -> ArithmeticSet:
    return generate(n, VALID_SEED)


def digit_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over digits and batch; ``logits`` is ``[n, digits·10]``."""
    return torch.nn.functional.cross_entropy(logits.reshape(-1, 10), targets.reshape(-1))


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Predicted numbers (little-endian digits → integer) from ``[n, 20]`` logits."""
    digits = logits.reshape(len(logits), OUTPUT_DIGITS, 10).argmax(-1)
    return digits[:, 0] + 10 * digits[:, 1]


def checksums(n_train: int = 1_000_000, n_valid: int = 10_000) -> dict[str, str]:
    return {"train": train_set(n_train).checksum(), "valid": valid_set(n_valid).checksum()}


def load(n_train: int = 1_000_000, n_valid: int = 10_000) -> tuple[ArithmeticSet, ArithmeticSet]:
    """The generated train and validation sets, recorded in the run's provenance."""
    from modularity.data import registry

    train, valid = train_set(n_train), valid_set(n_valid)
    registry.record("arithmetic", f"generated (numpy RandomState {TRAIN_SEED:#x} / {VALID_SEED:#x})",
                    {"train": train.checksum(), "valid": valid.checksum()})
    return train, valid
