"""Figures in one style; every function returns a matplotlib Figure (the notebook displays it)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
DPI = 160  # sharp when the book scales a figure to its column


def _sharp_inline_figures() -> None:
    """In a Jupyter kernel, figures are shown as PNG at ``DPI`` (the inline default is much coarser)."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png", dpi=DPI, bbox_inches="tight")


_sharp_inline_figures()


def grouped_bars(frame: pd.DataFrame, x: str, y: str, hue: str, *, ylabel: str, title: str = "",
                 percent: bool = True, order=None, hue_order=None, ax=None):
    """Bars of the mean of ``y`` over seeds with sample-std error bars, grouped by ``x`` and ``hue``."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    data = frame.assign(**{y: frame[y] * (100 if percent else 1)})
    sns.barplot(data=data, x=x, y=y, hue=hue, order=order, hue_order=hue_order, ax=ax,
                errorbar=("sd", 1), capsize=0.1, err_kws={"linewidth": 1})
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    ncols = min(4, data[hue].nunique())
    if title:  # room for the legend's rows between the title and the axes
        ax.set_title(title, pad=10 + 16 * -(-data[hue].nunique() // ncols))
    if percent:
        ax.set_ylim(0, 105)
    if max((len(t.get_text()) for t in ax.get_xticklabels()), default=0) * data[x].nunique() > 70:
        ax.tick_params(axis="x", labelrotation=20)  # long tensor names would overlap
    ax.legend(title=None, fontsize="small", ncols=ncols, loc="lower center",
              bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig or ax.figure


def heatmaps(matrices: dict[str, np.ndarray], *, rows, cols, title: str, fmt: str = ".1f", std=None,
             cmap: str = "viridis", vmin=0, vmax=100, ncols: int | None = None, cell: float = 0.0):
    """One annotated heat map per entry of ``matrices`` (values already in display units), ``ncols`` per
    row; ``cell`` > 0 sizes each map for its number of rows and columns (inches per cell)."""
    ncols = ncols or len(matrices)
    nrows = -(-len(matrices) // ncols)
    width, height = (3.4, 2.8) if not cell else (cell * len(cols) + 1.6, cell * len(rows) + 1.8)  # room for labels
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.ravel()[len(matrices):]:
        ax.set_visible(False)
    for ax, (name, matrix) in zip(axes.ravel(), matrices.items()):
        annot = np.vectorize(lambda v: f"{v:{fmt}}")(matrix)
        if std is not None and std.get(name) is not None:
            annot = np.vectorize(lambda v, s: f"{v:{fmt}}\n±{s:{fmt}}")(matrix, std[name])
        sns.heatmap(matrix, annot=annot, fmt="", xticklabels=cols, yticklabels=rows, cmap=cmap, vmin=vmin,
                    vmax=vmax, cbar=False, ax=ax)
        ax.set_title(name)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def scatter_panels(frame: pd.DataFrame, x: str, y: str, hue: str, panel: str, *, titles: dict, xlabel: str,
                   ylabel: str, title: str, ncols: int = 3):
    """One scatter of ``y`` against ``x`` per value of ``panel`` (titled by ``titles``), coloured by ``hue``."""
    panels = list(dict.fromkeys(frame[panel]))
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), panels):
        sns.scatterplot(data=frame[frame[panel] == name], x=x, y=y, hue=hue, ax=ax, s=30, alpha=0.8)
        ax.set_title(titles.get(name, name), fontsize="small")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="x-small", title=None)
    fig.suptitle(title)
    return fig


def annotated_heatmaps(values: dict[str, np.ndarray], notes: dict[str, np.ndarray], *, rows: dict[str, list],
                       cols: list, title: str, vmin: float = -1.0, vmax: float = 1.0, ncols: int = 3):
    """One heat map per entry (its own row labels), coloured by ``values`` on a diverging scale centred on 0
    and annotated with ``notes``."""
    ncols = min(ncols, len(values))
    nrows = -(-len(values) // ncols)
    height = max(len(r) for r in rows.values()) * 0.55 + 1.4
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * len(cols) * ncols + 1.6 * ncols, height * nrows),
                             squeeze=False, constrained_layout=True)
    for ax in axes.ravel()[len(values):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), values):
        sns.heatmap(values[name], annot=notes[name], fmt="", xticklabels=cols, yticklabels=rows[name], cmap="RdBu_r",
                    vmin=vmin, vmax=vmax, center=0, cbar=False, ax=ax, annot_kws={"fontsize": "small"})
        ax.set_title(name)
        ax.tick_params(axis="y", labelrotation=0)
    fig.suptitle(title)
    return fig
