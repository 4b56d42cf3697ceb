"""A chapter's run beside another published run of it (a larger preset beside ``cpu``), as the book shows it."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from modularity.tables import format_number

__all__ = ["beside", "nothing_beside"]


def beside(runs: Mapping[str, Mapping[str, object]], rows: Mapping[str, str]):
    """Runs side by side: one row per ``label → metric key``, one column per ``run title → its metrics``
    (a dash where a run lacks the metric)."""
    frame = pd.DataFrame({"": list(rows)} | {title: [format_number(metrics[key]) if key in metrics else "—"
                                                     for key in rows.values()] for title, metrics in runs.items()})
    return frame.style.hide(axis="index").set_properties(subset=list(runs), **{"text-align": "right"})


def nothing_beside(cpu_run: Mapping[str, object] | None, larger: str) -> str:
    """The sentence a chapter shows where no `cpu` run stands beside this one: none is published (or this run is
    it), or this run is not ``larger`` than it, a phrase that follows "a run" ("with more mask steps")."""
    if cpu_run is None:
        return (f"This is the chapter's `cpu` run, or none is published; a run {larger}, where published, shows "
                "this one beside its own.")
    return f"The published `cpu` run stands only beside a run {larger}; this run is not one."
