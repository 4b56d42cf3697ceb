"""Binary masks keyed by parameter name, and the comparisons the papers report."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Mapping

import torch

__all__ = ["Mask", "iomin", "iou", "per_tensor", "shared_fraction"]


class Mask:
    """An immutable set of boolean tensors keyed by fully-qualified parameter name."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]):
        for name, t in tensors.items():
            if t.dtype != torch.bool and not ((t == 0) | (t == 1)).all():
                odd = t[(t != 0) & (t != 1)].flatten()[0].item()
                raise ValueError(f"mask tensor {name!r} holds {odd!r}: a mask is boolean (or 0/1); threshold "
                                 "probabilities or logits yourself, e.g. Mask.from_logits(logits)")
        self._tensors = {name: t.detach().to(torch.bool) for name, t in tensors.items()}

    @classmethod
    def from_logits(cls, logits: Mapping[str, torch.Tensor]) -> "Mask":
        """The final deterministic mask of trained logits: logit > 0."""
        return cls({name: logit.detach().cpu() > 0 for name, logit in logits.items()})

    @property
    def names(self) -> list[str]:
        return list(self._tensors)

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self._tensors.items())

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._tensors[name]

    def __len__(self) -> int:
        return len(self._tensors)

    def _zip(self, other: "Mask") -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        if set(self.names) != set(other.names):
            raise ValueError(f"masks cover different tensors: {sorted(set(self.names) ^ set(other.names))}")
        return ((name, t, other[name]) for name, t in self.items())

    def __and__(self, other: "Mask") -> "Mask":
        return Mask({n: a & b for n, a, b in self._zip(other)})

    def __or__(self, other: "Mask") -> "Mask":
        return Mask({n: a | b for n, a, b in self._zip(other)})

    def __invert__(self) -> "Mask":
        return Mask({n: ~t for n, t in self.items()})

    def subset(self, names: Iterable[str]) -> "Mask":
        """Only the named tensors (a partial mask: the others are left unmasked when applied)."""
        names = list(names)
        missing = [n for n in names if n not in self._tensors]
        if missing:
            raise KeyError(f"mask has no tensor(s) {missing}")
        return Mask({n: self._tensors[n] for n in names})

    def replace(self, other: "Mask", names: Iterable[str]) -> "Mask":
        """This mask with the named tensors taken from ``other`` (e.g. I/O layers kept from the control)."""
        names = set(names)
        return Mask({n: (other[n] if n in names else t) for n, t in self.items()})

    def counts(self) -> dict[str, int]:
        """Number of kept weights per tensor."""
        return {n: int(t.sum()) for n, t in self.items()}

    def total(self) -> int:
        return sum(self.counts().values())

    def sizes(self) -> dict[str, int]:
        return {n: t.numel() for n, t in self.items()}

    def density(self) -> float:
        return self.total() / max(1, sum(self.sizes().values()))

    def save(self, path: str | Path) -> None:
        torch.save(dict(self._tensors), path)

    @classmethod
    def load(cls, path: str | Path) -> "Mask":
        return cls(torch.load(path, map_location="cpu", weights_only=True))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Mask)
            and set(self.names) == set(other.names)
            and all(torch.equal(t, other[n]) for n, t in self.items())
        )

    def __repr__(self) -> str:
        return f"Mask({len(self)} tensors, {self.total()}/{sum(self.sizes().values())} kept)"


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def iou(a: Mask, b: Mask) -> float:
    """Overall IoU Σ|A∧B| / Σ|A∨B| over all tensors (not the mean of per-tensor IoUs)."""
    return _ratio((a & b).total(), (a | b).total())


def iomin(a: Mask, b: Mask) -> float:
    """Σ|A∧B| / min(Σ|A|, Σ|B|)."""
    return _ratio((a & b).total(), min(a.total(), b.total()))


def shared_fraction(a: Mask, b: Mask) -> float:
    """``|A∧B| / |A|``: the fraction of A's weights that B keeps too."""
    return _ratio((a & b).total(), a.total())


def per_tensor(metric, a: Mask, b: Mask) -> dict[str, float]:
    """``metric`` evaluated on each tensor separately (for the per-layer IoU / IoMin bars)."""
    return {n: metric(a.subset([n]), b.subset([n])) for n in a.names}
