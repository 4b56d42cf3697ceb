"""Each training step draws its randomness from (stage key, step) alone: an interrupted-and-resumed stage is
bit-identical to an uninterrupted one, the thread count does not change mask noise, and a stage's result
does not depend on what ran before it."""

import pytest
import torch
from torch import nn

from modularity import fast_random, masking
from modularity.train import fit


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def batch_at(step):
    generator = torch.Generator().manual_seed(step)
    x = torch.randn(16, 8, generator=generator)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def train(model, checkpoint=None, interrupt_at=None):
    """Mask training (the package's loop, checkpointing every 5 steps); raises KeyboardInterrupt at
    ``interrupt_at``. Returns the losses and the final logits."""
    logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))

    def loss(step):
        if step == interrupt_at:
            raise KeyboardInterrupt
        x, y = batch_at(step)
        out = masking.forward_with_samples(model, logits, x, 4)
        return nn.functional.cross_entropy(out, y) + 1e-3 / 16 * logits.penalty()

    restore = masking.frozen_weights(model)
    model.eval()
    try:
        losses = fit([t for _, t in logits.items()], loss, 30, lr=0.05, checkpoint=checkpoint, checkpoint_every=5,
                     progress=False, rng_key="seed 0 mask test")
    finally:
        restore()
    return losses, {n: t.detach().clone() for n, t in logits.items()}


def test_resumed_equals_uninterrupted(tmp_path):
    model = make_model()
    straight_losses, straight = train(model)
    checkpoint = tmp_path / "mask.ckpt"
    torch.manual_seed(123)  # whatever ran before must not matter
    with pytest.raises(KeyboardInterrupt):
        train(model, checkpoint, interrupt_at=17)
    assert checkpoint.exists()  # saved after step 15
    torch.manual_seed(999)
    resumed_losses, resumed = train(model, checkpoint)
    assert resumed_losses == straight_losses
    for name in straight:
        assert torch.equal(resumed[name], straight[name])


def test_stage_does_not_depend_on_what_ran_before():
    model = make_model()
    torch.manual_seed(1)
    first = train(model)[1]
    torch.rand(1000)
    torch.manual_seed(2)
    second = train(model)[1]
    assert all(torch.equal(first[n], second[n]) for n in first)


def test_mask_noise_does_not_depend_on_thread_count():
    shape = (4, 512, 600)  # above the parallel threshold: filled in chunks by a thread pool
    assert torch.Size(shape).numel() >= fast_random.PARALLEL_MIN_ELEMENTS
    threads = torch.get_num_threads()
    try:
        values = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            torch.manual_seed(7)
            values.append(fast_random.uniform(shape))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(values[0], values[1]) and torch.equal(values[0], values[2])
    assert 0.49 < values[0].mean().item() < 0.51


def test_mask_training_gives_the_same_logits_on_one_and_two_threads():
    """Large enough that mask noise is filled in parallel chunks (the path that used to depend on threads)."""
    def run(threads):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(600, 512), nn.ReLU(), nn.Linear(512, 10))
        logits = masking.MaskLogits.for_model(model, masking.masked_parameter_names(model))

        def draw(step):
            x = torch.randn(64, 600, generator=torch.Generator().manual_seed(step))
            return x, (x[:, 0] > 0).long()

        masking.train_mask(model, logits, draw, nn.functional.cross_entropy, n_steps=10, beta=1e-3,
                           penalty_batch_size=64, lr=0.05, n_samples=4, progress=False, rng_key="seed 0 mask t")
        return {n: t.detach().clone() for n, t in logits.items()}

    threads = torch.get_num_threads()
    try:
        one, two = run(1), run(2)
    finally:
        torch.set_num_threads(threads)
    assert 4 * 600 * 512 >= fast_random.PARALLEL_MIN_ELEMENTS
    assert all(torch.equal(one[n], two[n]) for n in one)


def test_masks_do_not_depend_on_whether_the_base_network_came_from_the_cache(data_root):
    from modularity.cache import SeedStore
    from modularity.experiments import addmul

    settings = addmul.Settings("fnn", [16, 16], base_steps=30, mask_steps=15, batch_size=32)
    base = SeedStore("test/base", {"s": 1}, 0)
    torch.manual_seed(5)
    trained_here = addmul.run_seed(settings, 0, torch.device("cpu"), SeedStore("test/a", {"s": 1}, 0), progress=False,
                                   base_store=base)
    torch.manual_seed(6)  # and a different global state: the base network now comes from the store
    from_cache = addmul.run_seed(settings, 0, torch.device("cpu"), SeedStore("test/b", {"s": 1}, 0), progress=False,
                                 base_store=base)
    for stage in addmul.STAGES:
        assert trained_here["masks"][stage] == from_cache["masks"][stage], stage
