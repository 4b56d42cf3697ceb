"""Summaries over seeds: mean and sample standard deviation (ddof = 1; None for a single seed)."""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np


def mean_std(values: Iterable[float]) -> tuple[float, float | None]:
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        raise ValueError("no values to summarise")
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return float(values.mean()), std


def summarise(per_seed: Iterable[Mapping[str, float]]) -> dict[str, float | None]:
    """``{key: mean, key_std: std}`` for every key the per-seed dicts share."""
    per_seed = list(per_seed)
    out: dict[str, float | None] = {}
    for key in per_seed[0]:
        mean, std = mean_std(row[key] for row in per_seed)
        out[key], out[f"{key}_std"] = mean, std
    return out


def format_mean_std(mean: float, std: float | None, scale: float = 100.0, digits: int = 1) -> str:
    """``97.3 ± 1.2`` (percent by default); just the mean when there is one seed."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"
