"""Padded pairs of token sequences (source, target) with their lengths, for the encoder–decoder models."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def lengths(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor([len(r) for r in rows])


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


@dataclass
class SeqSet:
    """Padded source and target index tensors with their lengths (EOS included)."""

    src: torch.Tensor
    src_len: torch.Tensor
    tgt: torch.Tensor
    tgt_len: torch.Tensor

    def __len__(self) -> int:
        return len(self.src_len)

    def to(self, device) -> "SeqSet":
        return SeqSet(*(t.to(device) for t in (self.src, self.src_len, self.tgt, self.tgt_len)))

    def batch(self, index: torch.Tensor) -> "SeqSet":
        """The selected rows, trimmed to their longest sequences."""
        src_len, tgt_len = self.src_len[index], self.tgt_len[index]
        return SeqSet(self.src[index, :int(src_len.max())], src_len, self.tgt[index, :int(tgt_len.max())], tgt_len)

    def subset(self, n: int, seed: int = 1234) -> "SeqSet":
        """``n`` sequences drawn at random (seeded), in their original order; all when ``n`` ≤ 0. Never the first
        ``n``: official test files can be sorted (SCAN's length split is sorted by output length)."""
        if n <= 0 or n >= len(self):
            return self
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return self.batch(index.to(self.src.device))
