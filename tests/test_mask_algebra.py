"""Mask algebra on hand-made masks, with the values worked out by hand."""

import math

import pytest
import torch

from modularity.mask_algebra import Mask, iomin, iou, per_tensor, shared_fraction


@pytest.fixture
def masks():
    # tensor "a": A = {0, 1, 2}, B = {1, 2, 3}; tensor "b": A = {0}, B = {0, 1}
    a = Mask({"a": torch.tensor([1, 1, 1, 0, 0]), "b": torch.tensor([1, 0, 0])})
    b = Mask({"a": torch.tensor([0, 1, 1, 1, 0]), "b": torch.tensor([1, 1, 0])})
    return a, b


def test_and_or_not(masks):
    a, b = masks
    assert (a & b)["a"].tolist() == [False, True, True, False, False]
    assert (a | b)["b"].tolist() == [True, True, False]
    assert (~a)["a"].tolist() == [False, False, False, True, True]


def test_counts(masks):
    a, b = masks
    assert a.counts() == {"a": 3, "b": 1}
    assert a.total() == 4 and b.total() == 5
    assert a.sizes() == {"a": 5, "b": 3}
    assert a.density() == pytest.approx(4 / 8)


def test_overall_iou_is_ratio_of_sums_not_mean_of_ratios(masks):
    a, b = masks
    # ∩: a→2, b→1 (3); ∪: a→4, b→2 (6). Per-tensor IoUs are 0.5 and 0.5 here, so use IoMin to tell apart.
    assert iou(a, b) == pytest.approx(3 / 6)
    assert iomin(a, b) == pytest.approx(3 / min(4, 5))
    assert shared_fraction(a, b) == pytest.approx(3 / 4)
    assert shared_fraction(b, a) == pytest.approx(3 / 5)
    assert per_tensor(iomin, a, b) == {"a": pytest.approx(2 / 3), "b": pytest.approx(1.0)}


def test_empty_masks_give_nan_not_an_error():
    empty = Mask({"a": torch.zeros(3)})
    assert math.isnan(iou(empty, empty))


def test_mismatched_masks_are_refused(masks):
    a, _ = masks
    with pytest.raises(ValueError, match="different tensors"):
        iou(a, Mask({"a": torch.ones(5)}))


def test_subset_and_replace(masks):
    a, b = masks
    assert a.subset(["b"]).names == ["b"]
    mixed = a.replace(b, ["b"])
    assert torch.equal(mixed["a"], a["a"]) and torch.equal(mixed["b"], b["b"])
    with pytest.raises(KeyError):
        a.subset(["c"])


def test_save_load(tmp_path, masks):
    a, _ = masks
    a.save(tmp_path / "m.pt")
    assert Mask.load(tmp_path / "m.pt") == a
