"""The data root: one writable folder where loaders look, caches live, and prepared datasets are linked.

``MODULARITY_DATA`` names it (default ``~/.cache/modularity``); ``modularity.data.prepare`` fills it from a
local copy. Checksums are of the decompressed content, so a re-compressed ``.gz`` of the same bytes is
accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

ENV = "MODULARITY_DATA"
DEFAULT = Path.home() / ".cache" / "modularity"

# dataset → file (relative to the dataset folder) → sha256 of the decompressed content
KNOWN_FILES: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    "cifar10_jpeg": {
        "cifar10_jpeg.tar.gz": "839edf26db454edb390deb2877774f3fa7d48f515e4a854e684aa60f148efbb8",
        "train_labels_official_order.npy": "fad921ba16b0efeebb54393d1351545d1fe1a357f6f81324c821e3e11b956c70",
    },
    "scan": {
        "scan_official_splits.tar.gz": "4f44e93636c871303b8259e7585b02267bc08cefc4891f4a5758ef9f5c6a8efa",
    },
}


class DataError(RuntimeError):
    """A dataset or the data root is missing or corrupt; the message says how to fix it."""


def data_root(create: bool = True) -> Path:
    """The data root. An explicitly configured root must exist; the default one is created on demand."""
    configured = os.environ.get(ENV)
    root = Path(configured).expanduser().resolve() if configured else DEFAULT
    if root.exists() and not root.is_dir():
        raise DataError(f"data root {root} ({ENV}) is a file, not a folder: point {ENV} at a folder")
    if configured and not root.is_dir():
        raise DataError(
            f"data root {root} ({ENV}) does not exist: create it, or run "
            f"`python -m modularity data prepare --from DIR` to create and fill it"
        )
    if create:
        root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise DataError(f"data root {root} is not writable; set {ENV} to a writable folder")
    return root


def content_sha256(path: Path) -> str:
    """sha256 of the file's content, decompressed first when it is gzip."""
    digest = hashlib.sha256()
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError) as error:  # truncated or damaged gzip, unreadable file
        raise DataError(f"{path} cannot be read ({type(error).__name__}: {error}); it is truncated or damaged: "
                        "replace it with a good copy and run `python -m modularity data prepare --from DIR`") from None
    return digest.hexdigest()


def dataset_dir(name: str) -> Path:
    """The verified folder of a prepared dataset, or a DataError saying how to prepare it."""
    if name not in KNOWN_FILES:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(KNOWN_FILES)}")
    folder = data_root() / name
    missing = [f for f in KNOWN_FILES[name] if not (folder / f).exists()]
    if missing:
        raise DataError(
            f"dataset {name!r} is missing {missing} in {folder}; run "
            f"`python -m modularity data prepare --from DIR` with DIR holding {name}/"
        )
    return folder


def verify(name: str, folder: Path | None = None) -> dict[str, str]:
    """Check every file of a dataset against its known checksum; returns the checksums."""
    folder = folder or dataset_dir(name)
    sums = {}
    for file, expected in KNOWN_FILES[name].items():
        actual = content_sha256(folder / file)
        if actual != expected:
            raise DataError(f"{folder / file} is corrupt: content sha256 {actual[:12]}… ≠ expected {expected[:12]}…")
        sums[file] = actual
    return sums
