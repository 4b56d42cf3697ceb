"""Fill the data root from a local copy of the datasets, without ever damaging the copy or the root.

Each dataset found in the source is verified against its known checksums, then each file is linked into the
data root. A file of the root that already is (or resolves to) its source is left alone, a regular file is
never deleted, and links are replaced atomically, so a source that is the data root itself, or a dataset
folder of the root that links into the source, is safe. A source that holds none of the datasets, or holds
them in another layout, is an error that shows the layout expected.
"""

from __future__ import annotations

import os
from pathlib import Path

from modularity.data.root import ENV, KNOWN_FILES, DataError, content_sha256, data_root, verify

# where a torchvision-style root (what torchvision.datasets.MNIST(root, download=True) leaves) keeps each dataset
TORCHVISION_FOLDERS = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw"}
CIFAR10_PICKLES = "cifar-10-batches-py"


def expected_layout(names: list[str]) -> str:
    layouts = []
    for name in names:
        torchvision = TORCHVISION_FOLDERS.get(name)
        also = f" (or torchvision's {torchvision}/ with the same files)" if torchvision else ""
        layouts.append(f"{name}/{' + '.join(KNOWN_FILES[name])}{also}")
    return "; ".join(layouts) + f"; or CIFAR-10's python batches in {CIFAR10_PICKLES}/ (torchvision's layout)"


def dataset_folder(source: Path, name: str) -> Path | None:
    """The folder of ``source`` holding every file of the dataset, in the project's or torchvision's layout."""
    for folder in (source / name, source / TORCHVISION_FOLDERS.get(name, name)):
        if all((folder / f).exists() for f in KNOWN_FILES[name]):
            return folder
    return None


def prepare(source: Path, names: list[str] | None = None) -> dict[str, str]:
    """Link and verify each dataset found under ``source``; dataset → "linked" / "already in place"."""
    names = names or list(KNOWN_FILES)
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"source folder {source} does not exist or is not a folder")
    if os.environ.get(ENV):  # preparing is how a configured root comes to exist
        configured = Path(os.environ[ENV]).expanduser()
        if configured.exists() and not configured.is_dir():
            raise DataError(f"data root {configured} ({ENV}) is a file, not a folder")
        configured.mkdir(parents=True, exist_ok=True)
    root = data_root()
    found = {n: folder for n in names if (folder := dataset_folder(source, n)) is not None}
    pickles = next((p for p in (source / CIFAR10_PICKLES, source / "cifar10" / CIFAR10_PICKLES) if p.is_dir()), None)
    if not found and pickles is None:
        raise DataError(f"{source} holds none of the datasets in the expected layout: {expected_layout(names)}")
    from modularity.data.images import verify_cifar10_pickles

    for name, src in found.items():  # everything verified before anything is linked
        verify(name, src)
    if pickles is not None:
        verify_cifar10_pickles(pickles)
    report = {name: _link(name, src, root / name) for name, src in found.items()}
    if pickles is not None:
        report["cifar10"] = _link_pickles(pickles, root / "cifar10" / CIFAR10_PICKLES)
    return report


def _link_pickles(src: Path, dest: Path) -> str:
    """Link a (verified) folder of CIFAR-10 python batches."""
    from modularity.data.images import verify_cifar10_pickles

    if dest.exists() or dest.is_symlink():
        if dest.resolve() == src.resolve():
            return "already in place"
        if not dest.is_symlink():
            verify_cifar10_pickles(dest)
            return "already in place"  # a good copy of its own: never delete data
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(src.resolve(), target_is_directory=True)
    os.replace(tmp, dest)
    return "linked"


def _link(name: str, src: Path, dest: Path) -> str:
    if dest.exists() and dest.resolve() == src.resolve():
        return "already in place"  # the root's folder is the source (or links to it): nothing to do
    dest.mkdir(exist_ok=True)
    changed = False
    for file in KNOWN_FILES[name]:
        target, origin = dest / file, (src / file).resolve()
        if target.exists() and target.resolve() == origin:
            continue
        if target.exists() and not target.is_symlink():
            if content_sha256(target) == KNOWN_FILES[name][file]:
                continue  # a good copy of its own: never delete data
            raise DataError(f"{target} is a corrupt regular file; move it away, then prepare again")
        tmp = target.with_name(f".{file}.link{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(origin)
        os.replace(tmp, target)
        changed = True
    return "linked" if changed else "already in place"
