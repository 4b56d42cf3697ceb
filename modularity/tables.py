"""Tables as the book shows them: every row, numbers in plain decimals with four significant digits."""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

__all__ = ["format_number", "metrics_table"]


def format_number(value) -> str:
    """Integers with thousands separators; other numbers with four significant digits in plain decimals
    (0.0001, 0.8934, 12.35, 1,234), scientific notation only below 1e-6; text as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -6:
        return f"{value:.3e}"
    if magnitude >= 3:
        return f"{value:,.0f}"
    text = f"{value:.{max(0, 3 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def metrics_table(metrics: Mapping[str, object]):
    """All of a run's glued numbers as one table (a pandas Styler, so no row is cut)."""
    frame = pd.DataFrame({"metric": list(metrics), "value": [format_number(v) for v in metrics.values()]})
    return frame.style.hide(axis="index").set_properties(subset=["value"], **{"text-align": "right"})
