"""CIFAR-10 class removal and mask stability: the split, the frozen output layer, the drop statistics, and
the ResNet's base-training path, on tiny hand-made data."""

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from modularity.data import images
from modularity.experiments import cifar


def tiny_data(n=40, augment=False, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    y = torch.arange(n) % 10
    return cifar.CifarData(x, y, x[:20], y[:20], torch.full((3,), 0.5), torch.full((3,), 0.25), augment, "test",
                           "test")


def add_jpeg(tar, name, image):
    buffer = io.BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=100)
    info = tarfile.TarInfo(name)
    info.size = len(buffer.getvalue())
    tar.addfile(info, io.BytesIO(buffer.getvalue()))


def test_the_split_selects_the_same_images_from_pickles_and_from_the_jpeg_copy(tmp_path):
    n = 40
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    flat = np.stack([np.full((3, 32, 32), 5 * i, dtype=np.uint8) for i in range(n)])  # image i has brightness 5i
    with open(tmp_path / "batch", "wb") as handle:  # the pickle layout: rows of 3072 bytes in official order
        pickle.dump({b"data": flat.reshape(n, -1), b"labels": labels.tolist()}, handle)
    with open(tmp_path / "batch", "rb") as handle:
        from_pickle = np.asarray(pickle.load(handle, encoding="bytes")[b"data"]).reshape(n, 3, 32, 32)
    archive = tmp_path / "c.tar.gz"
    seen = np.zeros(10, dtype=int)
    with tarfile.open(archive, "w:gz") as tar:
        for i, label in enumerate(labels):
            add_jpeg(tar, f"train/{images.CIFAR10_CLASSES[label]}/{seen[label]:04d}.jpg", flat[i])
            seen[label] += 1
        add_jpeg(tar, "test/cat/0000.jpg", flat[0])
    from_jpeg = images.decode_cifar10_jpeg(archive, labels)["x_train"]
    train, holdout = images.holdout_split(n)
    assert 0 < len(holdout) < len(train)
    for part in (train, holdout):
        assert np.abs(from_jpeg[part].astype(int) - from_pickle[part].astype(int)).max() <= 2


def test_removal_masks_keep_the_control_output_layer_frozen():
    torch.manual_seed(0)
    data = tiny_data()
    settings = cifar.Settings("cnn", base_steps=2, mask_steps=6, width=0.125, batch_size=8, mask_batch_size=8,
                              mask_lr=0.5)
    model = cifar.prepare(settings, 0, data, progress=False)
    control = {n: torch.randn(p.shape) * 3 for n, p in model.named_parameters()}
    pools = [cifar.class_pool(data, [k for k in range(10) if k != c]) for c in (0, 1)]
    stages = cifar.train_staged_masks(model, settings, data, "test", pools, [1, 1], control, progress=False)
    for logits in stages:
        for name in cifar.OUTPUT_NAMES:
            assert torch.equal(logits[name], control[name])  # copied and never trained
        assert not torch.allclose(logits["conv1.weight"], torch.full_like(logits["conv1.weight"], 2.0))


def test_class_pools_and_their_batches():
    data = tiny_data()
    pool = cifar.class_pool(data, [k for k in range(10) if k != 3])
    assert 3 not in data.y_train[pool].tolist() and len(pool) == 36
    x, y = cifar.staged_batches(data, [pool, cifar.class_pool(data, [3])], 4, [1, 2])(0)
    assert x.shape == (8, 3, 32, 32) and 3 not in y[:4].tolist() and y[4:].tolist() == [3] * 4


def test_drop_statistics_by_hand():
    reference = np.diag([0.8, 0.5, 0.4]) + 0.0
    removed = np.diag([0.2, 0.45, 0.4])
    drops = cifar.removal_drops(reference, removed, 0)
    assert drops["rel_drop"] == pytest.approx(0.75)  # (0.8 − 0.2) / 0.8
    assert drops["other_ratio"] == pytest.approx(0.1 / 0.75)  # class 1 fell 10%, class 0 75%
    no_other = cifar.removal_drops(reference, np.diag([0.2, 0.6, 0.4]), 0)
    assert no_other["other_ratio"] == 0.0  # no other class dropped


def test_confusion_rows_are_conditional_probabilities():
    torch.manual_seed(0)
    data = tiny_data()
    model = cifar.build_model(cifar.Settings("cnn", 1, 1, width=0.125)).eval()
    matrix = cifar.confusion(model, data)
    assert matrix.shape == (10, 10) and np.allclose(matrix.sum(1), 1.0)


def test_random_crops_are_windows_of_the_padded_image():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).reshape(2, 3, 32, 32) % 251 + 1
    out = cifar.random_crop_and_flip(x.to(torch.uint8), torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(2):
        windows = [padded[i, :, r:r + 32, c:c + 32] for r in range(9) for c in range(9)]
        assert any(torch.equal(out[i].long(), w) or torch.equal(out[i].long(), w.flip(2)) for w in windows)


def test_resnet_base_training_path_runs_with_sgd_augmentation_and_batchnorm(data_root):
    from modularity import cache

    data = tiny_data(augment=True)
    settings = cifar.Settings("resnet", base_steps=3, mask_steps=1, depth=8, batch_size=4, lr=0.1)
    store = cache.SeedStore("resnet_test", {"x": 1}, 0)
    model = cifar.prepare(settings, 0, data, store, progress=False)
    assert not model.training
    assert any(b.abs().sum() > 0 for n, b in model.named_buffers() if "running_mean" in n)  # BN statistics moved
    again = cifar.prepare(settings, 0, data, store, progress=False)  # loaded from the store
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_stability_pairs_are_ordered_distinct_and_reproducible():
    pairs = cifar.stability_pairs(3, 10)
    assert pairs == cifar.stability_pairs(3, 10) and all(a != b for a, b in pairs)
