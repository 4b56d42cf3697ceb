"""How a number judged by a rule of ``modularity.verdicts`` is written beside its label.

Two decimals are enough for reading, but not beside a label: an excess of 0.4996 is *partial* (strong from
0.5), and "0.50: partial" reads like a contradiction. ``shown_against`` keeps more decimals exactly where
rounding would carry a number onto or across a threshold it was judged against.
"""

from __future__ import annotations

import math
from typing import Iterable

from modularity import verdicts

OVERLAP_THRESHOLDS = (verdicts.PARTIAL_AT, verdicts.STRONG_AT)  # what an overlap's excess is judged against


def _side(x: float, threshold: float) -> int:
    return (x > threshold) - (x < threshold)


def shown_against(value: float | None, thresholds: Iterable[float], digits: int = 2, max_digits: int = 12) -> str:
    """``value`` with ``digits`` decimals, or with more where the rounded number would sit on another side of a
    threshold than the value does. A rounded number sits on a threshold only when the value does, so this holds
    for rules that include the threshold on either side (≥ and ≤ alike)."""
    if value is None or math.isnan(value):
        return "nan"
    value, thresholds = float(value), [float(t) for t in thresholds]  # numpy scalars compare to numpy booleans
    for places in range(digits, max_digits + 1):
        text = f"{value:.{places}f}"
        if all(_side(float(text), t) == _side(value, t) for t in thresholds):
            return text
    return repr(float(value))


def shown_excess(value: float | None) -> str:
    """An overlap's excess over chance, as written beside its ``verdicts.overlap_level``."""
    return shown_against(value, OVERLAP_THRESHOLDS)
