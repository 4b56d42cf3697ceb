"""A chapter's run beside another published run of it (a larger preset beside ``cpu``), as the book shows it."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from modularity.tables import format_number

__all__ = ["beside"]


def beside(runs: Mapping[str, Mapping[str, object]], rows: Mapping[str, str]):
    """Runs side by side: one row per ``label → metric key``, one column per ``run title → its metrics``
    (a dash where a run lacks the metric)."""
    frame = pd.DataFrame({"": list(rows)} | {title: [format_number(metrics[key]) if key in metrics else "—"
                                                     for key in rows.values()] for title, metrics in runs.items()})
    return frame.style.hide(axis="index").set_properties(subset=list(runs), **{"text-align": "right"})
