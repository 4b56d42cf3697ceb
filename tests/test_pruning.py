"""Magnitude pruning schedule and bookkeeping; epoch-permutation batches."""

import pytest
import torch

from modularity.pruning import MagnitudePruner, sparsity_at
from modularity.train import EpochBatches, fit


def test_polynomial_schedule_by_hand():
    assert sparsity_at(0, 100) == pytest.approx(0.5)
    assert sparsity_at(50, 100) == pytest.approx(0.9 - 0.4 * 0.5**3)
    assert sparsity_at(100, 100) == pytest.approx(0.9)
    assert sparsity_at(150, 100) == pytest.approx(0.9)


def test_pruned_weights_stay_zero_and_masks_change_only_on_schedule():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 5))
    weights = [model[0].weight, model[2].weight]
    biases = [model[0].bias.detach().clone(), model[2].bias.detach().clone()]
    n_steps = 45
    pruner = MagnitudePruner(weights, end_step=n_steps)
    pruner.update(0)
    assert all((w == 0).float().mean() == pytest.approx(0.5, abs=0.01) for w in weights)
    x, y = torch.randn(64, 20), torch.randint(0, 5, (64,))
    history = [(0, [m.clone() for m in pruner.masks])]

    def after(step):
        pruner.after_step(step)  # applies the masks, then updates them for step + 1 when scheduled
        history.append((step + 1, [m.clone() for m in pruner.masks]))
        assert all(torch.all(w[~m] == 0) for w, m in zip(weights, pruner.masks))

    fit(list(model.parameters()), lambda step: torch.nn.functional.cross_entropy(model(x), y), n_steps,
        lr=1e-2, after_step=after, progress=False)
    for (_, before), (step, masks) in zip(history[:-1], history[1:]):
        if any(not torch.equal(a, b) for a, b in zip(before, masks)):
            assert step % 10 == 0 or step == n_steps, f"masks moved at step {step}"
    for weight in weights:
        assert (weight == 0).float().mean() == pytest.approx(0.9, abs=1 / weight.numel())
    assert not torch.equal(model[0].bias, biases[0])  # biases are trained, never pruned
    assert (model[0].bias != 0).all()


def test_pruning_keeps_the_largest_weights():
    w = torch.tensor([[0.1, -3.0], [2.0, -0.2]], requires_grad=True)
    pruner = MagnitudePruner([w], end_step=0, initial=0.5, final=0.5)
    pruner.update(0)
    assert w.detach().tolist() == [[0.0, -3.0], [2.0, 0.0]]
    with pytest.raises(ValueError, match="sparsity"):
        MagnitudePruner([w], end_step=10, initial=0.9, final=0.5)


def test_epoch_batches_visit_every_item_once_per_epoch():
    batches = EpochBatches(10, 4, seed=3)
    assert batches.steps_per_epoch == 3
    epoch0 = torch.cat([batches(s) for s in range(3)])
    epoch1 = torch.cat([batches(s) for s in range(3, 6)])
    assert sorted(epoch0.tolist()) == list(range(10)) == sorted(epoch1.tolist())
    assert not torch.equal(epoch0, epoch1)
    assert torch.equal(EpochBatches(10, 4, seed=3)(4), batches(4))  # reproducible from (seed, step)
