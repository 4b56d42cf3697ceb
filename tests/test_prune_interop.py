"""Masks round-trip through torch.nn.utils.prune, and torch's own pruning reads back as a Mask."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from modularity import masking
from modularity.mask_algebra import Mask
from modularity.prune_interop import from_prune, to_prune


def model_and_mask():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    mask = Mask({name: torch.rand(p.shape) > 0.5 for name, p in model.named_parameters() if "weight" in name})
    return model, mask


def test_a_mask_round_trips_and_computes_what_applied_computes():
    model, mask = model_and_mask()
    x = torch.randn(4, 5)
    with torch.no_grad(), masking.applied(model, mask):
        expected = model(x)
    to_prune(model, mask)
    assert from_prune(model) == mask
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_torch_pruning_reads_back_with_the_original_names():
    model, _ = model_and_mask()
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    prune.l1_unstructured(model[0], "weight", amount=0.5)  # a second pass: one combined mask
    mask = from_prune(model)
    assert mask.names == ["0.weight"] and mask.density() == pytest.approx(0.25, abs=1 / 30)


def test_a_model_without_pruning_and_a_mismatched_mask_are_refused():
    model, mask = model_and_mask()
    with pytest.raises(ValueError, match="no pruned parameter"):
        from_prune(model)
    with pytest.raises(ValueError, match="'2.weight' has shape"):
        to_prune(model, Mask({"2.weight": torch.ones(2, 2, dtype=torch.bool)}))
