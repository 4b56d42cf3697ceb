"""Image loaders on small hand-made fixtures in each format, including broken files."""

import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from modularity.data import images
from modularity.data.root import DataError


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip_and_truncated_file(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    assert np.array_equal(images.read_idx(tmp_path / "x.gz"), array)
    with gzip.open(tmp_path / "bad.gz", "wb") as handle:
        handle.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\1\2\3")
    with pytest.raises(DataError, match="truncated"):
        images.read_idx(tmp_path / "bad.gz")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an unsigned-byte idx"):
        images.read_idx(tmp_path / "text")


def jpeg_bytes(value):
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


def test_jpeg_copy_rebuilds_the_official_training_order(tmp_path):
    labels = np.array([3, 0, 3, 0, 1], dtype=np.uint8)  # official order: cat, airplane, cat, airplane, automobile
    archive = tmp_path / "c.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        def add(name, value):
            data = jpeg_bytes(value)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        # the k-th image of a class is brightness 10·(label+1) + 100·k, so the order is readable
        for label, k in [(3, 0), (3, 1), (0, 0), (0, 1), (1, 0)]:
            add(f"train/{images.CIFAR10_CLASSES[label]}/{k:04d}.jpg", 10 * (label + 1) + 100 * k)
        add("test/bird/0000.jpg", 50)
        add("test/airplane/0000.jpg", 60)
    arrays = images.decode_cifar10_jpeg(archive, labels)
    brightness = arrays["x_train"].reshape(5, -1).mean(axis=1).round()
    assert brightness.tolist() == [40, 10, 140, 110, 20]
    assert arrays["y_test"].tolist() == [0, 2]  # class by class
    assert arrays["x_test"][0].mean().round() == 60


def test_a_corrupted_jpeg_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(DataError, match="cannot be read"):
        images.decode_cifar10_jpeg(archive, np.zeros(1, dtype=np.uint8))


def test_pickled_batches_are_preferred_and_checked(data_root, monkeypatch):
    folder = data_root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 10_000) for i in range(1, 6)), ("test_batch", 10_000)]:
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, n))}, handle)
    with pytest.raises(DataError, match="data_batch_1 is not the official CIFAR-10 batch"):
        images.load("cifar10")  # these random batches are not the published ones: refused, not used
    known = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in images.CIFAR10_PICKLE_MD5}
    monkeypatch.setattr(images, "CIFAR10_PICKLE_MD5", known)  # as if they were the published batches
    loaded = images.load("cifar10")
    assert loaded.source.startswith("original pixels") and loaded.x_train.shape == (50_000, 3, 32, 32)
    gray = images.load("cifar10_gray")
    assert gray.x_train.shape == (50_000, 1, 28, 28) and gray.x_train.dtype == torch.uint8
    (folder / "data_batch_3").write_bytes(bytes(len((folder / "data_batch_3").read_bytes())))  # all zeros
    with pytest.raises(DataError, match="data_batch_3 is not the official CIFAR-10 batch"):
        images.load("cifar10")


def test_damaged_decoded_arrays_are_moved_aside_and_decoded_again(tmp_path):
    cache = tmp_path / "decoded.npz"
    np.savez(cache, x=np.arange(3))
    cache.with_name(cache.name + ".sha256").write_text("0" * 64 + "\n")
    with pytest.warns(UserWarning, match="its checksum does not match"):
        assert images._load_decoded(cache) is None
    assert not cache.exists() and cache.with_name("decoded.npz.damaged").exists()


def test_greyscale_uses_luminance_weights():
    rgb = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    rgb[:, 1] = 200  # pure green
    gray = images.to_gray_28(images.ImageSet(rgb, torch.zeros(1), rgb, torch.zeros(1), "test"))
    assert gray.x_train.shape == (1, 1, 28, 28)
    assert torch.all(gray.x_train == round(0.7154 * 200))


def test_unknown_dataset_is_refused():
    with pytest.raises(DataError, match="unknown image dataset"):
        images.load("imagenet")
