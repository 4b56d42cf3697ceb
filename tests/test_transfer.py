"""Permuted-MNIST transfer bookkeeping: frozen used weights stay put, the rest is re-initialised and trains."""

import numpy as np
import torch

from modularity.data.images import holdout_split
from modularity.experiments import transfer
from modularity.mask_algebra import Mask


def tiny_setup(seed=0):
    settings = transfer.Settings(hidden=[6, 5], n_tasks=2, steps_per_task=15, batch_size=16, n_mask_samples=4)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 784, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)
    data = transfer.TaskData(x, y, x[:16], y[:16])
    model = transfer.build_model(settings)
    transfer.init_weights_(model, torch.Generator().manual_seed(seed))
    return settings, data, model


def half_used(model):
    """A mask that marks every other element of every tensor as used (first layer included on purpose)."""
    return Mask({n: (torch.arange(p.numel()) % 2 == 0).reshape(p.shape) for n, p in model.named_parameters()})


def test_used_weights_are_kept_and_frozen_and_the_rest_reinitialised_and_trained():
    settings, data, model = tiny_setup()
    used = half_used(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    logits = transfer.start_task(model, used, settings, seed=0, task=1)
    after_reinit = {n: p.detach().clone() for n, p in model.named_parameters()}
    hooks = transfer.freeze_used(model, used)
    transfer.train_task(model, logits, data, transfer.permutation(1), settings, "test", progress=False)
    for hook in hooks:
        hook.remove()
    for name, param in model.named_parameters():
        keep = used[name]
        assert torch.equal(after_reinit[name][keep], before[name][keep]), f"{name}: used weights were re-initialised"
        assert torch.equal(param.detach()[keep], before[name][keep]), f"{name}: frozen weights moved"
        assert (param.detach()[~keep] != after_reinit[name][~keep]).any(), f"{name}: free weights did not train"
        if name.endswith("weight"):
            assert (after_reinit[name][~keep] != before[name][~keep]).all(), f"{name}: free weights kept old values"
    for name, logit in logits.items():  # the new mask started at 2 on used weights, at mask_new_init elsewhere
        assert logit.shape == before[name].shape


def test_mask_starts_at_the_used_and_new_inits():
    settings, _, model = tiny_setup()
    settings.mask_new_init = -1.0
    used = half_used(model)
    logits = transfer.start_task(model, used, settings, seed=0, task=1)
    for name, logit in logits.items():
        assert torch.all(logit.detach()[used[name]] == 2.0) and torch.all(logit.detach()[~used[name]] == -1.0)


def test_union_of_masks_never_counts_the_first_layer():
    _, _, model = tiny_setup()
    first = half_used(model)
    second = Mask({n: ~t for n, t in first.items()})
    used = transfer.next_used(transfer.next_used(None, first, model), second, model)
    for name, t in used.items():
        assert (not t.any()) if name.startswith("layers.0.") else t.all()


def test_shared_proportion_by_hand():
    mask = Mask({"w": torch.tensor([True, True, True, False])})
    used = Mask({"w": torch.tensor([True, False, False, True])})
    assert transfer.shared_per_tensor(mask, used) == {"w": 1 / 3}
    assert transfer.shared_per_tensor(mask, None) == {"w": 0.0}


def test_permutations_and_holdout_split_follow_numpy():
    assert torch.equal(transfer.permutation(0), torch.arange(784))
    assert transfer.permutation(3).tolist() == np.random.RandomState(3).permutation(784).tolist()
    train, holdout = holdout_split(1000)
    draws = np.random.RandomState(0xC1CAFA52).rand(1000)
    assert train.tolist() == np.flatnonzero(draws > 0.2).tolist()
    assert sorted(train.tolist() + holdout.tolist()) == list(range(1000))


def test_a_seed_resumes_from_its_finished_tasks(data_root):
    from modularity import cache

    settings, data, _ = tiny_setup()
    store = cache.SeedStore("transfer_test", {"s": 1}, 0)
    first = transfer.run_seed(settings, 0, data, store, progress=False)
    again = transfer.run_seed(settings, 0, data, store, progress=False)  # every task loaded from the store
    assert [t["valid_acc"] for t in first["tasks"]] == [t["valid_acc"] for t in again["tasks"]]
    assert first["tasks"][1]["mask"] == again["tasks"][1]["mask"]
