"""myst-nb compatible ``glue`` that needs only IPython, and that records each scalar's exact value.

The output has the same shape as ``myst_nb.glue`` (display data with ``scrapbook`` metadata), so the book's
``{glue:text}`` roles find it; the runner reads the ``modularity`` metadata to put every glued scalar into
the run's manifest under its glue name.
"""

from __future__ import annotations

import math
import numbers

GLUE_PREFIX = "application/papermill.record/"


def _plain(value):
    """A JSON-ready scalar, or None when the value is not a scalar metric."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, str):
        return value
    return None


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book; scalars also become manifest metrics."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata = dict(metadata, scrapbook={"name": name, "mime_prefix": prefix})
    if value is None or _plain(value) is not None:
        metadata["modularity"] = {"value": _plain(value)}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def glued_values(notebook) -> dict:
    """Every scalar glued in an executed notebook (nbformat node or dict), by glue name."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {})
            if "scrapbook" in meta and "modularity" in meta:
                values[meta["scrapbook"]["name"]] = meta["modularity"]["value"]
    return values
