"""``python -m modularity data download``: fetch the datasets from their official sources into the data root.

MNIST and Fashion-MNIST come from the mirrors torchvision uses and are accepted only if their decompressed
content has the known sha256 (the same check ``data prepare`` makes). CIFAR-10 comes as the official python
archive and each extracted batch must have its published md5 (what torchvision checks). Files are written
to a temporary name and moved into place only when verified, so an interrupted or corrupt download leaves
nothing behind that a loader could take for data. SCAN's split files come from the authors' repository
(brendenlake/SCAN), each accepted only with the sha256 of the official file; its loader reads them as they are
or the archive ``data prepare --from`` links from a local copy.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from modularity.data import scan
from modularity.data.images import verify_cifar10_pickles
from modularity.data.root import KNOWN_FILES, DataError, content_sha256, data_root

MIRRORS = {  # the mirrors torchvision.datasets uses, first tried first; SCAN's public repository
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
    "scan": [scan.REPOSITORY],
}
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
DOWNLOADABLE = tuple(MIRRORS)
__all__ = ["DOWNLOADABLE", "download", "safe_extract"]


def download(names: list[str] | None = None, mirror: str | None = None, progress=print) -> dict[str, str]:
    """Download each named dataset (default: all downloadable) unless already in place; name → what happened.

    ``mirror`` replaces the official mirrors with one base URL holding ``<dataset>/<file>`` (a local copy,
    a proxy, or the test suite's server)."""
    names = names or list(DOWNLOADABLE)
    unknown = [n for n in names if n not in DOWNLOADABLE]
    if unknown:
        raise DataError(f"cannot download {unknown}; downloadable: {', '.join(DOWNLOADABLE)}")
    root = data_root()
    report = {}
    for name in names:
        bases = [f"{mirror.rstrip('/')}/{name}/"] if mirror else MIRRORS[name]
        if name == "cifar10":
            report[name] = _cifar10(root, bases, progress)
        else:
            files = scan.OFFICIAL_FILES if name == "scan" else KNOWN_FILES[name]
            report[name] = _files(root / name, files, root, bases, progress)
    return report


def _files(folder: Path, files: dict[str, str], root: Path, bases: list[str], progress) -> str:
    """Each of ``files`` (path → content sha256) fetched into ``folder`` unless a good copy is there."""
    fetched = 0
    for file, expected in files.items():
        target = folder / file
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and content_sha256(target) == expected:
            continue
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            part = _fetch(bases, file, Path(tmp), progress)
            try:
                actual = content_sha256(part)
            except DataError:  # not even gzip
                actual = "unreadable"
            if actual != expected:
                raise DataError(f"{file} from {bases[0]} has content sha256 {actual[:12]}… ≠ expected "
                                f"{expected[:12]}…: not the official file; nothing was written")
            os.replace(part, target)
        fetched += 1
    return f"downloaded {fetched} file(s)" if fetched else "already in place"


def _cifar10(root: Path, bases: list[str], progress) -> str:
    pickles = root / "cifar10" / "cifar-10-batches-py"
    if pickles.is_dir():
        verify_cifar10_pickles(pickles)
        return "already in place"
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = _fetch(bases, CIFAR10_ARCHIVE, Path(tmp), progress)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                safe_extract(tar, Path(tmp) / "extracted")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{CIFAR10_ARCHIVE} from {bases[0]} is not a readable archive ({error}); nothing was "
                            "written") from error
        extracted = Path(tmp) / "extracted" / "cifar-10-batches-py"
        verify_cifar10_pickles(extracted)
        pickles.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(extracted), pickles)
    return "downloaded and verified"


def safe_extract(tar: tarfile.TarFile, folder: Path) -> None:
    """Extract regular files and folders only, none outside ``folder`` (tarfile's "data" filter where this
    Python has it — 3.11.4 and later — and the same check by hand before)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise DataError(f"the archive holds {member.name!r}, which is not a plain file inside it; nothing was "
                            "written")
    tar.extractall(folder)


def _fetch(bases: list[str], file: str, folder: Path, progress) -> Path:
    """``file`` from the first base URL that serves it, into ``folder``."""
    errors = []
    for base in bases:
        url = base + file
        try:
            progress(f"fetching {url}")
            target = folder / Path(file).name
            with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
            return target
        except OSError as error:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {error}")
    raise DataError(f"could not download {file}: {'; '.join(errors)}; check the network, or pass --mirror URL, or "
                    "prepare the data from a local copy with `python -m modularity data prepare --from DIR`")
