"""Lesions restore the model exactly; the batched lesion path equals the context manager; statistics
against scipy and hand computations; a planted one-class cluster is found important and class-specific."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from modularity import lesions
from modularity.models.mlp import MLP


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return MLP(6, [5, 4], 3)


def test_lesion_zeroes_the_units_and_leaves_the_model_as_it_was():
    model = small_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(7, 6)
    with lesions.lesioned([model.layers[0]], [[1, 3]]):
        assert torch.all(lesions.hidden_activations(model, x)[0][:, [1, 3]] == 0)
        lesioned_output = model(x)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.layers[0]._forward_hooks
    with torch.no_grad():  # the same as zeroing the units' incoming weights and bias
        model.layers[0].weight[[1, 3]] = 0
        model.layers[0].bias[[1, 3]] = 0
    torch.testing.assert_close(lesioned_output, model(x))


def test_lesions_work_on_a_user_sequential_and_conv_channels():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 4 * 4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.randn(6, 2, 6, 6)
    seen = {}
    model[1].register_forward_hook(lambda m, i, out: seen.update(conv=out))
    model[4].register_forward_hook(lambda m, i, out: seen.update(dense=out))
    with lesions.lesioned([model[0], model[3]], [[2], [0, 4]]):
        model(x)
    assert torch.all(seen["conv"][:, 2] == 0) and seen["conv"][:, [0, 1, 3]].abs().sum() > 0
    assert torch.all(seen["dense"][:, [0, 4]] == 0) and seen["dense"][:, 1:4].abs().sum() > 0
    with pytest.raises(ValueError, match="has 5 units on axis -1; cannot lesion \\[7\\]"):
        with lesions.lesioned([model[3]], [[7]]):
            model(x)
    assert not model[3]._forward_hooks


def test_lesion_restores_after_an_exception():
    model = small_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with lesions.lesioned([model.layers[0], model.layers[1]], [[0], [2, 3]]):
            raise RuntimeError("boom")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batched_lesions_equal_the_context_manager():
    model = small_mlp(1).eval()
    x = torch.randn(20, 6)
    sets = [np.array([0, 2]), np.array([4]), np.array([1, 2, 3])]
    hidden = lesions.hidden_activations(model, x)[0]
    batched = lesions.forward_from(model, 0, hidden, lesions.lesion_masks(5, sets))
    for row, units in enumerate(sets):
        with lesions.lesioned([model.layers[0]], [units]):
            assert torch.allclose(batched[row], model(x), atol=1e-6)


def test_class_accuracies_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert lesions.class_accuracies(logits, labels, 2).tolist() == [0.5, 0.5]
    model = torch.nn.Identity()  # the logits are the inputs: the same accuracies, whatever the batch size
    for batch in (1, 3, 4):
        assert lesions.model_class_accuracies(model, logits, labels, 2, batch).tolist() == [0.5, 0.5]


def test_random_sets_come_from_the_same_layers_valid_units():
    labels = np.array([0, 0, 1, -1, 1, 1, 2, -1])
    rng = np.random.default_rng(0)
    for chosen in lesions.random_sets(labels, 1, 50, rng):
        assert len(chosen) == 3 and not np.isin(chosen, [3, 7]).any()


def test_percentile_and_minimum_by_hand():
    assert lesions.percentile(0.1, [0.2, 0.3, 0.4], "lower") == pytest.approx(1 / 4)
    assert lesions.is_minimal(1 / 4, 3)
    assert lesions.percentile(0.3, [0.2, 0.3, 0.4], "lower") == pytest.approx((1 + 1 + 0.5) / 4)
    assert lesions.percentile(0.5, [0.2, 0.3, 0.4], "upper") == pytest.approx(1 / 4)
    assert lesions.midrank(1 / 20, 19) == pytest.approx(1 / 40)


def test_range_statistic_by_hand():
    # changes −0.2, 0, −0.1 → mean −0.1 → normalised 2, 0, 1 → range 2
    assert lesions.range_statistic([0.7, 0.9, 0.8], [0.9, 0.9, 0.9]) == pytest.approx(2.0)
    assert lesions.range_statistic([0.9, 0.9], [0.9, 0.9]) == 0.0  # nothing changed: not specific
    assert lesions.range_statistic([1.0, 0.8], [0.9, 0.9]) == math.inf  # changes cancel out


def test_fisher_by_hand():
    assert lesions.fisher([0.05]) == pytest.approx(0.05)  # one p: its own combination
    # two p's: X/2 = −ln(p1 p2) and P(χ²₄ ≥ X) = e^{−X/2}(1 + X/2)
    half = -math.log(0.01 * 0.5)
    assert lesions.fisher([0.01, 0.5]) == pytest.approx(math.exp(-half) * (1 + half), rel=1e-12)
    assert math.isnan(lesions.fisher([]))


def test_bates_by_hand():
    assert lesions.bates_cdf(0.3, 1) == pytest.approx(0.3)  # one uniform
    assert lesions.bates_cdf(0.5, 7) == pytest.approx(0.5)  # symmetric about 1/2
    assert lesions.bates_cdf(0.25, 2) == pytest.approx(0.125)  # Irwin–Hall(2) at 0.5: x²/2
    assert lesions.bates_cdf(0.45, 40) == pytest.approx(1 - lesions.bates_cdf(0.55, 40), abs=1e-12)  # no approximation


def test_benjamini_hochberg_by_hand_and_on_a_mixture():
    # sorted p: 0.01 ≤ 0.05·1/4, 0.02 ≤ 0.05·2/4, 0.04 > 0.05·3/4 = 0.0375, 0.3: the first two are rejected
    reject, critical = lesions.benjamini_hochberg([0.04, 0.01, 0.3, 0.02], 0.05)
    assert reject.tolist() == [False, True, False, True] and critical == 0.02
    rng = np.random.default_rng(1)
    ps = np.concatenate([rng.uniform(0, 0.001, 5), rng.uniform(0, 1, 30)])
    reject, critical = lesions.benjamini_hochberg(ps, 0.05)
    assert np.array_equal(reject, stats.false_discovery_control(ps) <= 0.05)
    assert reject.sum() >= 5 and critical == ps[reject].max()
    assert lesions.benjamini_hochberg([0.5, 0.9])[1] == 0.0


def test_a_near_tie_is_a_tie_and_never_also_more_extreme():
    # entropies of confident predictions differ by rounding alone: each such value counts half, once
    true, randoms = 1e-13, np.array([0.0, 5e-13, -1e-14, 0.7])
    assert lesions.percentile(true, randoms, "lower") == pytest.approx((1 + 0.5 * 3) / 5)
    assert lesions.percentile(true, randoms, "upper") == pytest.approx((1 + 1 + 0.5 * 3) / 5)
    assert lesions.percentile(0.0, np.full(19, -1e-15), "lower") == pytest.approx((1 + 0.5 * 19) / 20)  # was 1.475
