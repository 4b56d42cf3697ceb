"""`data download` against a local HTTP server: the offline copies of MNIST, Fashion-MNIST and SCAN's split files
served as if they were the official sources, and a CIFAR-10 python archive (synthetic batches, whose md5s the
test declares official: the offline copy of CIFAR-10 is JPEG, not the python archive)."""

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest
from conftest import dataset_source

from modularity.__main__ import main
from modularity.data import download as dl
from modularity.data import images
from modularity.data.root import KNOWN_FILES, DataError, verify


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on localhost; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_mnist_and_fashion_mnist_download_verify_and_skip_when_in_place(served, data_root, capsys):
    source = dataset_source()
    if source is None:
        pytest.skip("no offline copy of the datasets to serve")
    folder, url = served
    for name in ("mnist", "fashion_mnist"):
        (folder / name).mkdir()
        for file in KNOWN_FILES[name]:
            (folder / name / file).write_bytes((source / name / file).read_bytes())
    assert main(["data", "download", "mnist", "fashion_mnist", "--mirror", url]) == 0
    assert "mnist            downloaded 4 file(s)" in capsys.readouterr().out
    for name in ("mnist", "fashion_mnist"):
        verify(name, data_root / name)
    assert dl.download(["mnist"], mirror=url, progress=lambda _: None) == {"mnist": "already in place"}


def test_a_wrong_file_is_refused_and_nothing_is_left(served, data_root):
    folder, url = served
    (folder / "mnist").mkdir()
    for file in KNOWN_FILES["mnist"]:
        (folder / "mnist" / file).write_bytes(b"not mnist")
    with pytest.raises(DataError, match="not the official file; nothing was written"):
        dl.download(["mnist"], mirror=url, progress=lambda _: None)
    assert not any((data_root / "mnist").iterdir())
    assert [p.name for p in data_root.iterdir()] == ["mnist"]  # no temporary folder left behind


def test_an_unreachable_mirror_says_what_to_do(data_root):
    with pytest.raises(DataError, match="--mirror URL, or prepare the data from a local copy"):
        dl.download(["fashion_mnist"], mirror="http://127.0.0.1:9", progress=lambda _: None)


def test_cifar10_archive_is_extracted_verified_and_loaded(served, data_root, monkeypatch):
    folder, url = served
    rng = np.random.default_rng(0)
    buffer, md5 = io.BytesIO(), {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in images.CIFAR10_PICKLE_MD5:
            content = pickle.dumps({b"data": rng.integers(0, 256, (10_000, 3072), dtype=np.uint8),
                                    b"labels": list(rng.integers(0, 10, 10_000))})
            md5[name] = hashlib.md5(content).hexdigest()
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    (folder / "cifar10").mkdir()
    (folder / "cifar10" / dl.CIFAR10_ARCHIVE).write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="is not the official CIFAR-10 batch"):
        dl.download(["cifar10"], mirror=url, progress=lambda _: None)  # not the published md5s
    assert not (data_root / "cifar10" / "cifar-10-batches-py").exists()
    monkeypatch.setattr(images, "CIFAR10_PICKLE_MD5", md5)
    assert dl.download(["cifar10"], mirror=url, progress=lambda _: None) == {"cifar10": "downloaded and verified"}
    assert images.load("cifar10").x_train.shape == (50_000, 3, 32, 32)


def test_scan_files_download_verify_and_load_like_the_archive(served, tmp_path, data_root):
    import tarfile as tar_module

    from modularity.data import scan

    source = dataset_source()
    if source is None:
        pytest.skip("no offline copy of SCAN to serve")
    folder, url = served
    with tar_module.open(source / "scan" / "scan_official_splits.tar.gz") as archive:
        dl.safe_extract(archive, folder / "scan")
    assert dl.download(["scan"], mirror=url, progress=lambda _: None) == {"scan": "downloaded 9 file(s)"}
    downloaded = scan.load_split("jump")
    for file in scan.OFFICIAL_FILES:
        (data_root / "scan" / file).unlink()
    from modularity.data.prepare import prepare

    prepare(source, ["scan"])
    assert scan.load_split("jump") == downloaded  # the same examples as from the offline archive


def test_a_changed_downloaded_scan_file_is_refused(data_root):
    from modularity.data import scan

    for file in scan.SPLITS["jump"]:
        (data_root / "scan" / file).parent.mkdir(parents=True, exist_ok=True)
        (data_root / "scan" / file).write_text("IN: jump OUT: I_JUMP\n")
    with pytest.raises(DataError, match="is not the official file"):
        scan.load_split("jump")


def test_unknown_names_are_refused(data_root, capsys):
    assert main(["data", "download", "imagenet"]) == 2
    assert "downloadable: mnist, fashion_mnist, cifar10, scan" in capsys.readouterr().err


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path, monkeypatch):
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buffer.seek(0)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # the check this Python may lack
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar, pytest.raises(DataError, match="not a plain file"):
        dl.safe_extract(tar, tmp_path / "inside")
    assert not (tmp_path / "escape.txt").exists()
