"""The cluster-gradient regulariser of Filan et al.'s *Clusterability in Neural Networks* (its small-MLP
experiment; original code `dfilan/clusterability_in_neural_networks`, `src/train_nn.py` and
`src/spectral_cluster_model.py`).

A graph with k well-separated clusters has k normalised-Laplacian eigenvalues near 0 (exactly k zeros for k
disconnected parts), and the n-cut of the best k-way partition is small when they are. The regulariser adds
(strength / m) · (λ₂ + … + λ_{m+1}) — the 2nd to (m+1)th smallest eigenvalues of L = I − D^-1/2 A D^-1/2 of the
|W| graph — to the loss, so training is pushed towards m + 1 clusters. The eigenvalues' gradient is the
analytic one, vᵢᵀ (∂L) vᵢ, which torch's ``eigvalsh`` backward computes.

Scaling a ReLU unit's incoming weights and bias by 1/s and its outgoing weights by s leaves the network's
function unchanged but changes the graph, so the regulariser could lower the eigenvalues by rescaling alone.
As in the original, every hidden unit is rebalanced after each step (``balance_units_``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["balance_units_", "laplacian_eigenvalues", "penalty"]


def layered_adjacency(weights: list[torch.Tensor]) -> torch.Tensor:
    """The symmetric adjacency matrix |W| of a chain of layers (out × in matrices, forward order), differentiable."""
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + size)
    upper = weights[0].new_zeros(offsets[-1], offsets[-1])
    for i, w in enumerate(weights):
        upper = upper.index_put((torch.arange(offsets[i], offsets[i + 1])[:, None],
                                 torch.arange(offsets[i + 1], offsets[i + 2])[None, :]), w.abs().T)
    return upper + upper.T


def laplacian_eigenvalues(weights: list[torch.Tensor]) -> torch.Tensor:
    """All eigenvalues, ascending, of the normalised Laplacian of the |W| graph without its isolated nodes."""
    adjacency = layered_adjacency(weights)
    degree = adjacency.sum(1)
    alive = degree > 0
    adjacency, degree = adjacency[alive][:, alive], degree[alive]
    scale = degree.rsqrt()
    laplacian = torch.eye(len(degree), dtype=adjacency.dtype, device=adjacency.device) \
        - scale[:, None] * adjacency * scale[None, :]
    return torch.linalg.eigvalsh(laplacian)


def penalty(weights: list[torch.Tensor], strength: float = 0.1, n_eigenvalues: int = 3) -> torch.Tensor:
    """(strength / m) · Σ of the 2nd to (m+1)th smallest eigenvalues (m = ``n_eigenvalues``; the original: 0.1, 3)."""
    if n_eigenvalues < 1:
        raise ValueError(f"n_eigenvalues must be at least 1, got {n_eigenvalues}")
    return strength / n_eigenvalues * laplacian_eigenvalues(weights)[1:n_eigenvalues + 1].sum()


@torch.no_grad()
def balance_units_(linears: list[nn.Linear]) -> None:
    """Rescale every hidden unit (each output of ``linears[:-1]``) so that its incoming weights and bias have norm
    √2: divided by s = ‖(w_in, b)‖ / √2, with its outgoing weights multiplied by s. A ReLU network computes the
    same function afterwards; units with no incoming weight are left alone."""
    for layer, following in zip(linears[:-1], linears[1:]):
        incoming = torch.cat([layer.weight, layer.bias[:, None]], dim=1) if layer.bias is not None else layer.weight
        scale = incoming.norm(dim=1) / math.sqrt(2)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        layer.weight.div_(scale[:, None])
        if layer.bias is not None:
            layer.bias.div_(scale)
        following.weight.mul_(scale[None, :])
