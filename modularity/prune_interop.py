"""Masks to and from ``torch.nn.utils.prune``: the same boolean tensors, kept by torch as ``<name>_mask`` buffers.

``to_prune`` hands a mask to torch's pruning (``prune.custom_from_mask``), after which the model computes with
the masked weights until ``prune.remove`` makes it permanent; ``from_prune`` reads back the masks of any
pruning torch applied (``l1_unstructured``, ``global_unstructured``, ...) as a ``Mask`` keyed by the original
parameter names.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune

from modularity.mask_algebra import Mask
from modularity.masking import check_mask_fits

__all__ = ["from_prune", "to_prune"]


def to_prune(model: nn.Module, mask: Mask) -> nn.Module:
    """Apply ``mask`` through ``prune.custom_from_mask`` on each named parameter (in place; returns the model)."""
    check_mask_fits(model, mask)
    modules = dict(model.named_modules())
    for name, keep in mask.items():
        module_name, _, param_name = name.rpartition(".")
        module = modules[module_name]
        prune.custom_from_mask(module, param_name, keep.to(getattr(module, param_name).device))
    return model


def from_prune(model: nn.Module) -> Mask:
    """The masks torch's pruning holds on ``model`` (``<name>_mask`` buffers), keyed by parameter name."""
    tensors = {}
    for module_name, module in model.named_modules():
        for hook in module._forward_pre_hooks.values():
            if not isinstance(hook, prune.BasePruningMethod):  # a PruningContainer is one too: one combined mask
                continue
            full = f"{module_name}.{hook._tensor_name}" if module_name else hook._tensor_name
            tensors[full] = getattr(module, f"{hook._tensor_name}_mask").detach().cpu()
    if not tensors:
        raise ValueError(f"{type(model).__name__} has no pruned parameter (no torch.nn.utils.prune method applied)")
    return Mask(tensors)
