"""Image classification datasets through the data root: MNIST, Fashion-MNIST, CIFAR-10, greyscale CIFAR-10.

MNIST and Fashion-MNIST are read from the standard idx files (gzipped or not). CIFAR-10 comes from the
original python pickles when a user has them (``<root>/cifar10/cifar-10-batches-py``, the layout
``torchvision.datasets.CIFAR10(download=True)`` leaves) and otherwise from the offline JPEG copy, whose
official training order is rebuilt from the label file; decoded JPEGs are cached in the data root. Every
load records which source was used in the run's provenance.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modularity.checked_files import read_checked, write_checked
from modularity.data import registry
from modularity.data.root import DataError, data_root, dataset_dir, verify

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar10_gray")


@dataclass
class ImageSet:
    """uint8 images (N × C × H × W) and int64 labels; ``source`` says where the pixels came from."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str

    def as_float(self, device=None) -> tuple[torch.Tensor, ...]:
        """Pixels scaled to [0, 1] (no mean/std normalisation, as in the papers), on ``device``."""
        return tuple(t.to(device) for t in (self.x_train.float() / 255, self.y_train, self.x_test.float() / 255,
                                            self.y_test))


HOLDOUT_SEED = 0xC1CAFA52


def holdout_split(n: int, seed: int = HOLDOUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, holdout)`` of the weight-mask paper's 80/20 split of a training set:
    item i trains when ``RandomState(seed).rand(n)[i] > 0.2``. Index-based, so every
    source of the same images in the same order selects the same ones."""
    trains = np.random.RandomState(seed).rand(n) > 0.2
    return torch.from_numpy(np.flatnonzero(trains)), torch.from_numpy(np.flatnonzero(~trains))


def load(name: str) -> ImageSet:
    if name in ("mnist", "fashion_mnist"):
        return _load_idx(name)
    if name == "cifar10":
        return load_cifar10()
    if name == "cifar10_gray":
        return to_gray_28(load_cifar10())
    raise DataError(f"unknown image dataset {name!r}; known: {NAMES}")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (images or labels), gzipped or not, checked against the shape its header declares."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8:
        raise DataError(f"{path} is not an unsigned-byte idx file")
    n_dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(n_dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: header says {shape}, found {body.size} bytes of data")
    return body.reshape(shape)


def _load_idx(name: str) -> ImageSet:
    folder = dataset_dir(name)
    checksums = verify(name, folder)
    registry.record(name, "idx files", checksums)
    arrays = {part: read_idx(folder / file) for part, file in {
        "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}.items()}
    pixels = {k: torch.from_numpy(arrays[k].copy())[:, None] for k in ("x_train", "x_test")}
    labels = {k: torch.from_numpy(arrays[k].astype(np.int64)) for k in ("y_train", "y_test")}
    return ImageSet(pixels["x_train"], labels["y_train"], pixels["x_test"], labels["y_test"], source="idx files")


# --- CIFAR-10 ---------------------------------------------------------------------------------------------

def load_cifar10() -> ImageSet:
    pickles = data_root() / "cifar10" / "cifar-10-batches-py"
    if pickles.is_dir():
        return _load_cifar10_pickles(pickles)
    return _load_cifar10_jpeg()


# md5 of the official python batches, as published with the dataset and checked by torchvision
CIFAR10_PICKLE_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f",
                      "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                      "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                      "data_batch_4": "634d18415352ddfa80567beed471001a",
                      "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
                      "test_batch": "40351d587109b95175f43aff81a1287e"}


def verify_cifar10_pickles(folder: Path) -> dict[str, str]:
    """md5 of every batch against the published values; a DataError names the first bad file."""
    sums = {}
    for file, expected in CIFAR10_PICKLE_MD5.items():
        path = folder / file
        if not path.exists():
            raise DataError(f"{path} is missing; the torchvision CIFAR-10 layout has data_batch_1..5 and test_batch")
        actual = hashlib.md5(path.read_bytes()).hexdigest()
        if actual != expected:
            raise DataError(f"{path} is not the official CIFAR-10 batch (md5 {actual[:12]}… ≠ {expected[:12]}…): "
                            f"download it again, or remove {folder} to use the offline JPEG copy")
        sums[file] = actual
    return sums


def _load_cifar10_pickles(folder: Path) -> ImageSet:
    checksums = verify_cifar10_pickles(folder)

    def batch(file: str):
        path = folder / file
        try:
            with open(path, "rb") as handle:
                content = pickle.load(handle, encoding="bytes")
            x = np.asarray(content[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(content[b"labels"], dtype=np.int64)
        except Exception as error:  # a truncated or foreign file: say which one
            raise DataError(f"{path} is not a CIFAR-10 python batch ({error})") from error
        return x, y

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
    if x_train.shape[0] != 50_000 or x_test.shape[0] != 10_000:
        raise DataError(f"{folder}: expected 50,000 + 10,000 images, found {x_train.shape[0]} + {x_test.shape[0]}")
    registry.record("cifar10", "original pixels (python pickles, md5-verified)", checksums)
    return ImageSet(torch.from_numpy(x_train), torch.from_numpy(y_train), torch.from_numpy(x_test),
                    torch.from_numpy(y_test), source="original pixels (python pickles)")


def _load_cifar10_jpeg() -> ImageSet:
    folder = dataset_dir("cifar10_jpeg")
    checksums = verify("cifar10_jpeg", folder)
    cache = data_root() / "cache" / "decoded" / f"cifar10_jpeg-{checksums['cifar10_jpeg.tar.gz'][:12]}.npz"
    arrays = _load_decoded(cache)
    if arrays is None:
        arrays = decode_cifar10_jpeg(folder / "cifar10_jpeg.tar.gz",
                                     np.load(folder / "train_labels_official_order.npy"))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_checked(cache, buffer.getvalue())
    registry.record("cifar10_jpeg", "JPEG copy (lossy pixels, quality 75)", checksums)
    return ImageSet(*(torch.from_numpy(arrays[k].astype(np.int64) if k.startswith("y") else arrays[k])
                      for k in ("x_train", "y_train", "x_test", "y_test")), source="JPEG copy (lossy pixels)")


def _load_decoded(cache: Path) -> dict[str, np.ndarray] | None:
    """The decoded arrays, or None when absent or damaged (a damaged file is moved aside with a warning)."""
    data = read_checked(cache, "decoded CIFAR-10 arrays", "decoding again")
    if data is None:
        return None
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k] for k in arrays.files}


def decode_cifar10_jpeg(archive: Path, train_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Decode ``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``; training images in official order
    (image i is the k-th file of class labels[i], k counting earlier images of that class), test images
    class by class (the official test order is not recoverable from this copy)."""
    from PIL import Image

    files: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".jpg"):
                    files[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{archive} cannot be read ({error}); prepare the data root again") from error

    def decode(name: str) -> np.ndarray:
        if name not in files:
            raise DataError(f"{archive} lacks {name}")
        return np.asarray(Image.open(io.BytesIO(files[name])).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)

    seen = np.zeros(10, dtype=np.int64)
    x_train = np.empty((len(train_labels), 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(train_labels):
        x_train[i] = decode(f"train/{CIFAR10_CLASSES[label]}/{seen[label]:04d}.jpg")
        seen[label] += 1
    test_names = sorted(n for n in files if n.startswith("test/"))
    by_class = [[n for n in test_names if n.split("/")[1] == c] for c in CIFAR10_CLASSES]
    x_test = np.stack([decode(n) for names in by_class for n in names])
    y_test = np.concatenate([np.full(len(names), c, dtype=np.uint8) for c, names in enumerate(by_class)])
    return {"x_train": x_train, "y_train": train_labels.astype(np.uint8), "x_test": x_test, "y_test": y_test}


def to_gray_28(images: ImageSet) -> ImageSet:
    """Greyscale 28 × 28 CIFAR for the MLPs of Filan et al.: antialiased resize, then the luminance weights
    of skimage's rgb2gray (0.2125, 0.7154, 0.0721); pixel values stay in 0..255."""
    def convert(x: torch.Tensor) -> torch.Tensor:
        small = torch.nn.functional.interpolate(x.float(), size=(28, 28), mode="bilinear", antialias=True,
                                                align_corners=False)
        gray = (small * torch.tensor([0.2125, 0.7154, 0.0721])[None, :, None, None]).sum(dim=1, keepdim=True)
        return gray.round().clamp(0, 255).to(torch.uint8)

    return ImageSet(convert(images.x_train), images.y_train, convert(images.x_test), images.y_test,
                    source=images.source + ", greyscale 28×28")




def resized(images: ImageSet, side: int) -> ImageSet:
    """Square images shrunk to ``side`` × ``side`` with an antialiased resize (the small MNIST, 7 × 7, of Filan et
    al.'s cluster-gradient experiment); pixel values stay in 0..255."""
    def convert(x: torch.Tensor) -> torch.Tensor:
        small = torch.nn.functional.interpolate(x.float(), size=(side, side), mode="bilinear", antialias=True,
                                                align_corners=False)
        return small.round().clamp(0, 255).to(torch.uint8)

    return ImageSet(convert(images.x_train), images.y_train, convert(images.x_test), images.y_test,
                    source=images.source + f", resized to {side}×{side}")
