"""The parallel CPU uniform generator: right distribution, seeded by torch, fresh on every call."""

import numpy as np
import pytest
import torch

from modularity import fast_random


def test_large_requests_are_uniform_on_0_1():
    torch.manual_seed(0)
    u = fast_random.uniform((4, 1 << 19))
    assert u.dtype == torch.float32 and u.shape == (4, 1 << 19)
    assert u.min() >= 0 and u.max() < 1
    grid = torch.linspace(0.05, 0.95, 19)
    empirical = (u.flatten()[:, None] <= grid).float().mean(0)
    assert (empirical - grid).abs().max() < 2e-3  # KS distance; 2M samples give ≈ 1e-3 at most by chance
    assert abs(u.mean().item() - 0.5) < 1e-3


def test_seeded_by_torch_and_fresh_per_call():
    torch.manual_seed(1)
    a, b = fast_random.uniform((1 << 21,)), fast_random.uniform((1 << 21,))
    torch.manual_seed(1)
    assert torch.equal(fast_random.uniform((1 << 21,)), a)
    assert not torch.equal(a, b)


def test_small_requests_use_torch_rand():
    torch.manual_seed(2)
    expected = torch.rand(10)
    torch.manual_seed(2)
    assert torch.equal(fast_random.uniform((10,)), expected)


@pytest.mark.parametrize("size", [fast_random.CHUNK_ELEMENTS, fast_random.CHUNK_ELEMENTS - 1, 1, 1000003])
def test_a_chunk_holds_exactly_the_numbers_numpys_generator_gives(size):
    seed = np.random.SeedSequence(12345).spawn(3)[2]
    expected = np.random.Generator(np.random.SFC64(seed)).random(size, dtype=np.float32)
    chunk = np.full(size, np.nan, dtype=np.float32)
    fast_random._fill(chunk, seed)
    assert np.array_equal(chunk, expected)
