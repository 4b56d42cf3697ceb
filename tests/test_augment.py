"""The VGG's augmentation: identity when switched off, flips only when only flips are on, and the same batch
for the same generator seed."""

import torch

from modularity.data.augment import rotate_shift_flip


def test_without_rotation_shift_or_flip_the_images_are_unchanged():
    x = torch.rand(4, 3, 8, 8)
    same = rotate_shift_flip(x, torch.Generator().manual_seed(0), degrees=0, shift=0, flip=False)
    torch.testing.assert_close(same, x)


def test_flips_alone_mirror_some_images_and_leave_the_others():
    x = torch.rand(64, 1, 6, 6)
    out = rotate_shift_flip(x, torch.Generator().manual_seed(1), degrees=0, shift=0)
    flipped = torch.tensor([torch.allclose(o, i.flip(-1), atol=1e-6) for o, i in zip(out, x)])
    kept = torch.tensor([torch.allclose(o, i, atol=1e-6) for o, i in zip(out, x)])
    assert bool((flipped ^ kept).all()) and 16 < int(flipped.sum()) < 48


def test_rotations_and_shifts_are_drawn_from_the_generator():
    x = torch.rand(8, 3, 16, 16)
    a = rotate_shift_flip(x, torch.Generator().manual_seed(5))
    b = rotate_shift_flip(x, torch.Generator().manual_seed(5))
    c = rotate_shift_flip(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.allclose(a, c) and a.shape == x.shape
    assert float(a.min()) >= float(x.min()) - 1e-6 and float(a.max()) <= float(x.max()) + 1e-6  # edge fill, no zeros
