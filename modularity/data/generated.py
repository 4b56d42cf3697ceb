"""The generated datasets of Filan et al. (P1, P1b), made from a seed (the authors' generator uses seed 42).

- LINES: black 28×28 images with n ∈ {1, …, 10} distinct full-height vertical lines (value 255) at random
  columns; label n − 1.
- POLY: x ∈ R² drawn from N(0, I); 512 regression targets, one per coefficient vector c ∈ {0, 1}⁹ over the nine
  monomials x₁ᵃx₂ᵇ (a, b ∈ {0, 1, 2}): target_c = Σ_t c_t · monomial_t(x).
- HALVES: two MNIST (or Fashion-MNIST) images, each shrunk to 28×14, side by side; ``diff`` pairs two random
  images and labels them (y₁ + y₂) mod 10, ``same`` pairs two images of one class, labelled by that class.
- RANDOM: uniform random pixels and labels, the control that has nothing to learn.

Reference: dfilan/clusterability_in_neural_networks, ``src/generate_datasets.py``. How the authors shrank an
image to half its width is not recorded here: ``halves`` averages each pair of neighbouring columns.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from modularity.data.images import ImageSet

__all__ = ["RegressionSet", "halves", "lines", "poly", "random_images", "POLY_MONOMIALS"]

SEED = 42
SIDE = 28
POLY_MONOMIALS = [(a, b) for a in range(3) for b in range(3)]  # x1^a · x2^b, a, b ∈ {0, 1, 2}


@dataclass
class RegressionSet:
    """float32 inputs (N × d) and targets (N × m)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str

    def as_float(self, device=None) -> tuple[torch.Tensor, ...]:
        """The four tensors on ``device`` (already float: the same call as ``ImageSet.as_float``)."""
        return tuple(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test))


def _split(n_train: int, n_test: int, make) -> tuple:
    x, y = make(n_train + n_test)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def lines(n_train: int = 60_000, n_test: int = 10_000, seed: int = SEED) -> ImageSet:
    rng = np.random.RandomState(seed)

    def make(n):
        counts = rng.randint(1, 11, size=n)
        images = np.zeros((n, 1, SIDE, SIDE), dtype=np.uint8)
        for i, count in enumerate(counts):
            images[i, 0, :, rng.choice(SIDE, size=count, replace=False)] = 255
        return torch.from_numpy(images), torch.from_numpy(counts - 1).long()

    return ImageSet(*_split(n_train, n_test, make), source=f"generated LINES (seed {seed})")


def poly_targets(x: np.ndarray) -> np.ndarray:
    """The 512 targets of POLY for inputs x (N × 2): column j uses the coefficient bits of j."""
    monomials = np.stack([x[:, 0] ** a * x[:, 1] ** b for a, b in POLY_MONOMIALS], axis=1)  # N × 9
    coefficients = np.array(list(itertools.product((0, 1), repeat=len(POLY_MONOMIALS))), dtype=np.float64)  # 512 × 9
    return monomials @ coefficients.T


def poly(n_train: int = 60_000, n_test: int = 10_000, seed: int = SEED) -> RegressionSet:
    rng = np.random.RandomState(seed)

    def make(n):
        x = rng.randn(n, 2)
        return torch.from_numpy(x).float(), torch.from_numpy(poly_targets(x)).float()

    return RegressionSet(*_split(n_train, n_test, make), source=f"generated POLY (seed {seed})")


def _half_width(images: torch.Tensor) -> torch.Tensor:
    """N × 1 × 28 × 28 uint8 → N × 1 × 28 × 14, each pair of neighbouring columns averaged (rounded)."""
    pairs = images.float().reshape(*images.shape[:-1], SIDE // 2, 2)
    return pairs.mean(-1).round().to(torch.uint8)


def halves(base: ImageSet, same: bool, seed: int = SEED) -> ImageSet:
    """HALVES of ``base`` (MNIST or Fashion-MNIST): as many pairs as ``base`` has images, per split."""
    rng = np.random.RandomState(seed)

    def pair(x: torch.Tensor, y: torch.Tensor):
        n = len(y)
        left = rng.randint(0, n, size=n)
        if same:
            labels = y.numpy()
            by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
            right = np.array([rng.choice(by_class[labels[i]]) for i in left])
            target = y[left]
        else:
            right = rng.randint(0, n, size=n)
            target = (y[left] + y[right]) % 10
        images = torch.cat([_half_width(x[left]), _half_width(x[right])], dim=-1)
        return images, target.long()

    x_train, y_train = pair(base.x_train, base.y_train)
    x_test, y_test = pair(base.x_test, base.y_test)
    kind = "same" if same else "diff"
    return ImageSet(x_train, y_train, x_test, y_test, source=f"HALVES-{kind} of {base.source} (seed {seed})")


def random_images(n_train: int = 60_000, n_test: int = 10_000, seed: int = SEED) -> ImageSet:
    rng = np.random.RandomState(seed)

    def make(n):
        pixels = rng.randint(0, 256, size=(n, 1, SIDE, SIDE)).astype(np.uint8)
        return torch.from_numpy(pixels), torch.from_numpy(rng.randint(0, 10, size=n)).long()

    return ImageSet(*_split(n_train, n_test, make), source=f"generated RANDOM (seed {seed})")
