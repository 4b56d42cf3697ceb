"""Batched k-means (greedy k-means++ seeding, Lloyd iterations, best of ``n_init`` restarts).

Clusters many point sets at once — every shuffle of a network, times every restart — as one tensor
problem. The algorithm is scikit-learn's (same seeding rule with 2 + ⌊ln k⌋ local trials, same tolerance
rule: stop when the squared centre shift is below tol × mean per-feature variance); the random draws are
torch's, so labels match scikit-learn's in quality, not bit for bit.
"""

from __future__ import annotations

import math

import torch


def kmeans(points: torch.Tensor, valid: torch.Tensor, k: int, *, n_init: int, seeds: list[int],
           max_iter: int = 300, tol: float = 1e-4) -> torch.Tensor:
    """Labels (batch × n, −1 where ``valid`` is False) of the best of ``n_init`` runs per point set.

    points: batch × n × dims; valid: batch × n booleans; seeds: one per point set, so each set's result
    does not depend on what it was batched with.
    """
    batch, n, _ = points.shape
    if len(seeds) != batch:
        raise ValueError("give one seed per point set")
    if int(valid.sum(dim=1).min()) < k:
        raise ValueError(f"a point set has fewer than k={k} valid points")
    points = points.float()  # single precision: k-means needs no more, and it halves the memory traffic
    weight = valid.to(points.dtype)
    x = points * weight[..., None]
    x = x.repeat_interleave(n_init, dim=0)  # (batch·n_init) × n × dims, restarts of one set adjacent
    w = weight.repeat_interleave(n_init, dim=0)
    centres = _kmeans_plus_plus(x, w, k, seeds, n_init)
    count = w.sum(dim=1)
    mean = (x * w[..., None]).sum(dim=1) / count[:, None]
    variance = (((x - mean[:, None]) ** 2) * w[..., None]).sum(dim=1) / count[:, None]
    threshold = tol * variance.mean(dim=1)
    sq_norms = (x * x).sum(dim=2)
    # Runs still moving; converged ones are set aside (x is already zero at invalid points, w is 0/1).
    active, xa, wa, ca, limit = torch.arange(x.shape[0]), x, w, centres.clone(), threshold
    for _ in range(max_iter):
        labels = _nearest_label(xa, ca)
        sizes = torch.zeros_like(ca[..., 0]).scatter_add_(1, labels, wa)
        sums = torch.zeros_like(ca).scatter_add_(1, labels[..., None].expand_as(xa), xa)
        new = torch.where(sizes[..., None] > 0, sums / sizes.clamp_min(1)[..., None], ca)
        moving = ((new - ca) ** 2).sum(dim=(1, 2)) > limit
        centres[active] = new
        if not bool(moving.any()):
            break
        if not bool(moving.all()):
            active, xa, wa, limit = active[moving], xa[moving], wa[moving], limit[moving]
            new = new[moving]
        ca = new
    distance, labels = _nearest(x, sq_norms, centres)
    inertia = (distance * w).sum(dim=1).reshape(batch, n_init)
    best = inertia.argmin(dim=1)
    labels = labels.reshape(batch, n_init, n)[torch.arange(batch), best]
    return torch.where(valid, labels, torch.full_like(labels, -1))


def _nearest_label(x, centres):
    """Index of the nearest centre (|x|² is the same for every centre, so it is left out)."""
    return torch.baddbmm((centres * centres).sum(dim=2)[:, None], x, centres.transpose(1, 2), alpha=-2).argmin(dim=2)


def _nearest(x, sq_norms, centres):
    distance = sq_norms[..., None] - 2 * x @ centres.transpose(1, 2) + (centres * centres).sum(dim=2)[:, None]
    distance, labels = distance.clamp_min(0).min(dim=2)
    return distance, labels


def _kmeans_plus_plus(x: torch.Tensor, w: torch.Tensor, k: int, seeds: list[int], n_init: int) -> torch.Tensor:
    """Greedy k-means++: each new centre is the best of 2 + ⌊ln k⌋ candidates drawn ∝ squared distance."""
    runs, n, dims = x.shape
    trials = 2 + int(math.log(k))
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    rows = torch.arange(runs)

    def draw(probabilities: torch.Tensor, count: int) -> torch.Tensor:
        picks = []
        for r in range(runs):  # one generator per point set: results independent of the batching
            picks.append(torch.multinomial(probabilities[r], count, replacement=True,
                                           generator=generators[r // n_init]))
        return torch.stack(picks)

    centres = x.new_zeros(runs, k, dims)
    first = draw(w, 1)[:, 0]
    centres[:, 0] = x[rows, first]
    sq_norms = (x * x).sum(dim=2)
    closest = _nearest(x, sq_norms, centres[:, :1])[0] * w
    for c in range(1, k):
        total = closest.sum(dim=1, keepdim=True)
        probabilities = torch.where(total > 0, closest / total.clamp_min(1e-300), w)
        candidates = draw(probabilities, trials)  # runs × trials
        cand_points = x[rows[:, None], candidates]  # runs × trials × dims
        cand_dist = (sq_norms[:, None] - 2 * cand_points @ x.transpose(1, 2)
                     + (cand_points * cand_points).sum(dim=2)[..., None]).clamp_min(0) * w[:, None]  # runs × trials × n
        potential = torch.minimum(closest[:, None], cand_dist).sum(dim=2)
        best = potential.argmin(dim=1)
        centres[:, c] = cand_points[rows, best]
        closest = torch.minimum(closest, cand_dist[rows, best])
    return centres
