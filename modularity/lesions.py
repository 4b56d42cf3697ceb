"""Lesions of neuron groups and the statistics of Hod et al. (importance and coherence of clusters).

A lesion sets the chosen units' output to 0 — for a Linear or Conv2d layer the same as zeroing their incoming
weights and bias, so their pre-activation and ReLU output are 0. ``lesioned`` does it with forward hooks on any
module, as a context manager that leaves the model as it was; ``lesion_masks`` + ``forward_from`` do the same
for many unit sets of the package's ``MLP`` at once, recomputing only the layers after the lesion.

Statistics: empirical percentiles against random same-size sets from the same layer, Fisher's combination
per network, the Bates (Irwin–Hall mean) combination across networks, and Benjamini–Hochberg.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Sequence

import numpy as np
import torch
from scipy import stats

__all__ = ["bates_cdf", "benjamini_hochberg", "class_accuracies", "fisher", "forward_from", "hidden_activations",
           "lesion_masks", "lesioned", "percentile", "pre_activation", "pre_activations", "random_sets",
           "range_statistic"]


@contextmanager
def lesioned(modules: Sequence[torch.nn.Module], units: Sequence[Iterable[int]], dim: int | None = None):
    """Inside the block, the outputs ``units[i]`` of ``modules[i]`` are 0 (a forward hook); removed afterwards,
    also after an exception, leaving the model exactly as it was.

    Works on any module whose output is a tensor. The unit axis is ``dim``, by default 1 for convolutions
    (channels) and the last axis otherwise (features of a ``Linear``, of any leading shape). For a Linear or
    Conv2d this is the same as zeroing the units' incoming weights and bias: their pre-activation is 0, and so
    is their ReLU output.
    """
    if len(modules) != len(units):
        raise ValueError(f"{len(modules)} modules but {len(units)} unit lists: give one list of units per module")
    handles = []
    try:
        for module, chosen in zip(modules, units):
            handles.append(module.register_forward_hook(_zero_units(module, list(chosen), dim)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _zero_units(module: torch.nn.Module, units: list[int], dim: int | None):
    axis = dim if dim is not None else (1 if isinstance(module, torch.nn.modules.conv._ConvNd) else -1)

    def hook(_module, _inputs, output):
        if not torch.is_tensor(output):
            raise TypeError(f"{type(module).__name__} returns {type(output).__name__}, not a tensor: lesion the "
                            "module that computes the units (e.g. a Linear inside it)")
        size = output.shape[axis]
        outside = [u for u in units if not -size <= u < size]
        if outside:
            raise ValueError(f"{type(module).__name__} has {size} units on axis {axis}; cannot lesion {outside}")
        index = torch.as_tensor(units, dtype=torch.long, device=output.device)
        return output.index_fill(axis, index, 0)

    return hook


@torch.no_grad()
def class_accuracies(logits: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per-class accuracy (… × n_classes) of logits (… × N × classes) against labels (N)."""
    correct = (logits.argmax(dim=-1) == labels).to(torch.float64)
    onehot = torch.nn.functional.one_hot(labels, n_classes).to(torch.float64)
    return (correct @ onehot) / onehot.sum(dim=0).clamp_min(1)


@torch.no_grad()
def model_class_accuracies(model, x: torch.Tensor, y: torch.Tensor, n_classes: int, batch: int) -> np.ndarray:
    """Per-class accuracy of ``model`` on ``x`` (evaluated ``batch`` examples at a time) against labels ``y``."""
    logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    return class_accuracies(logits, y, n_classes).numpy()


@torch.no_grad()
def hidden_activations(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Post-ReLU activations of every hidden layer of an ``MLP`` (evaluation mode: no dropout)."""
    h, out = x.flatten(1), []
    for layer in model.layers[:-1]:
        h = torch.relu(layer(h))
        out.append(h)
    return out


@torch.no_grad()
def pre_activations(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Pre-activations (before ReLU) of every hidden layer of an ``MLP``."""
    h, out = x.flatten(1), []
    for layer in model.layers[:-1]:
        z = layer(h)
        out.append(z)
        h = torch.relu(z)
    return out


def pre_activation(model, x: torch.Tensor, layer: int) -> torch.Tensor:
    """Pre-activation of hidden layer ``layer`` (0-based) of an ``MLP``, differentiable in ``x``."""
    h = x.flatten(1)
    for index, linear in enumerate(model.layers):
        z = linear(h)
        if index == layer:
            return z
        h = torch.relu(z)
    raise ValueError(f"the model has no hidden layer {layer}")


@torch.no_grad()
def forward_from(model, layer: int, hidden: torch.Tensor, keep: torch.Tensor,
                 later: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Logits when units of hidden layer ``layer`` (0-based) are lesioned, for many unit sets at once.

    hidden: that layer's post-ReLU activations (N × units); keep: sets × units (0 at lesioned units); later:
    the same for later hidden layers, one row per set. Zeroing a unit's incoming weights and bias makes its
    ReLU output 0, which is what ``keep`` does.
    """
    h = hidden[None] * keep[:, None, :].to(hidden.dtype)
    for index, next_layer in enumerate(model.layers[layer + 1:-1], start=layer + 1):
        h = torch.relu(next_layer(h))
        if later and index in later:
            h = h * later[index][:, None, :].to(h.dtype)
    return model.layers[-1](h)


def mlp_lesion_scorer(model, x: torch.Tensor, y: torch.Tensor, n_classes: int, chunk: int = 16):
    """A ``double_lesion.Scorer`` for an ``MLP``: the mean per-class accuracy on (x, y) under each lesion
    (hidden layer, 0-based → units), ``chunk`` lesions per batched pass from the earliest lesioned layer."""
    hidden = hidden_activations(model, x)
    widths = [h.shape[1] for h in hidden]

    def score(lesion_list: list[dict[int, set[int]]]) -> list[float]:
        out = []
        for start in range(0, len(lesion_list), chunk):
            group = lesion_list[start:start + chunk]
            first = min(layer for lesion in group for layer, units in lesion.items() if units)
            keeps = {layer: torch.ones(len(group), widths[layer]) for layer in range(first, len(widths))}
            for row, lesion in enumerate(group):
                for layer, units in lesion.items():
                    keeps[layer][row, sorted(units)] = 0.0
            logits = forward_from(model, first, hidden[first], keeps.pop(first), keeps)
            out.extend(class_accuracies(logits, y, n_classes).mean(-1).tolist())
        return out

    return score


def lesion_masks(n_units: int, unit_sets: Sequence[np.ndarray]) -> torch.Tensor:
    keep = torch.ones(len(unit_sets), n_units)
    for row, units in enumerate(unit_sets):
        keep[row, torch.as_tensor(np.asarray(units), dtype=torch.long)] = 0
    return keep


def random_sets(layer_labels: np.ndarray, label: int, n_sets: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random sets of the size of cluster ``label``, from the same layer's non-isolated units (labels ≠ −1):
    permute the labels among those units and take the positions now carrying ``label``."""
    valid = np.flatnonzero(layer_labels >= 0)
    size = int((layer_labels == label).sum())
    return [np.sort(rng.choice(valid, size, replace=False)) for _ in range(n_sets)]


def percentile(true_value: float, random_values: np.ndarray, tail: str) -> float:
    """Empirical p of the true value among random ones: (1 + #more extreme + ½·#ties) / (n + 1).

    ``tail="lower"`` counts random values below the true one. Counting ties as half keeps the chance of
    the minimum p = 1/(n+1) at or below 1/(n+1) when nothing distinguishes the true set.
    """
    random_values = np.asarray(random_values, dtype=np.float64)
    if tail not in ("lower", "upper"):
        raise ValueError("tail must be 'lower' or 'upper'")
    # a value within 1e-12 of the true one is a tie, never also "more extreme" (near-zero entropies differ by
    # rounding alone; counting them twice gave p > 1)
    ties = np.isclose(random_values, true_value, rtol=0, atol=1e-12)
    beyond = ((random_values < true_value) if tail == "lower" else (random_values > true_value)) & ~ties
    return float((1 + beyond.sum() + 0.5 * ties.sum()) / (len(random_values) + 1))


def is_minimal(p: float, n_random: int) -> bool:
    """The true set is more extreme than every random set (the only p a single cluster can be called
    significant at, with n_random sets)."""
    return math.isclose(p, 1 / (n_random + 1))


def range_statistic(lesioned_acc: np.ndarray, base_acc: np.ndarray) -> float:
    """P2's class specificity: the range of the per-class accuracy changes normalised by their mean,
    ``(max Δ − min Δ) / |mean Δ|``. A lesion that changes nothing scores 0 (the original gets 0/0 there);
    one whose changes cancel out on average scores ∞."""
    change = np.asarray(lesioned_acc, dtype=np.float64) - np.asarray(base_acc, dtype=np.float64)
    spread, mean = change.max() - change.min(), abs(change.mean())
    if spread == 0:
        return 0.0
    return math.inf if mean == 0 else float(spread / mean)


def midrank(p: float, n_random: int) -> float:
    """Shift an empirical percentile to its mid-rank, p − 1/(2(n+1)), before combining."""
    return p - 1 / (2 * (n_random + 1))


def fisher(ps: Sequence[float]) -> float:
    """Fisher's combined p (X = −2 Σ ln p ~ χ²(2m)), by ``scipy.stats.combine_pvalues``."""
    if len(ps) == 0:
        return float("nan")
    return float(stats.combine_pvalues(np.asarray(ps, dtype=np.float64), method="fisher").pvalue)


def bates_cdf(mean: float, n: int) -> float:
    """P(mean of n i.i.d. U(0,1) ≤ mean): the Irwin–Hall CDF at n·mean, by ``scipy.stats.irwinhall`` (exact)."""
    return float(stats.irwinhall(n).cdf(n * mean))


def benjamini_hochberg(ps: Sequence[float], q: float = 0.05) -> tuple[np.ndarray, float]:
    """Which hypotheses BH rejects at FDR q (``scipy.stats.false_discovery_control`` adjusted p ≤ q), and the
    critical p (the largest rejected p; 0 if none)."""
    ps = np.asarray(ps, dtype=np.float64)
    reject = stats.false_discovery_control(ps, method="bh") <= q
    return reject, float(ps[reject].max()) if reject.any() else 0.0


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) along the last axis."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=-1)
