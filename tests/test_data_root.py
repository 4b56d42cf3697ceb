"""The data root: prepare links and verifies a local copy; corrupt or missing files get clear errors."""

import gzip

import pytest

from modularity.data import root
from modularity.data.prepare import prepare


@pytest.fixture
def tiny_source(tmp_path, monkeypatch):
    """A source folder with one fake dataset whose checksum the test registers."""
    source = tmp_path / "source" / "toy"
    source.mkdir(parents=True)
    with gzip.open(source / "a.gz", "wb") as handle:
        handle.write(b"hello")
    monkeypatch.setitem(root.KNOWN_FILES, "toy", {
        "a.gz": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"})  # sha256("hello")
    return source.parent


def test_prepare_links_and_verifies(tiny_source, data_root):
    report = prepare(tiny_source, ["toy"])
    assert report == {"toy": "linked"}
    assert (data_root / "toy" / "a.gz").is_symlink()
    assert root.verify("toy")["a.gz"].startswith("2cf24dba")


def test_checksum_is_of_the_decompressed_content(tiny_source, data_root):
    with gzip.open(tiny_source / "toy" / "a.gz", "wb", compresslevel=1) as handle:  # other wrapper bytes
        handle.write(b"hello")
    assert prepare(tiny_source, ["toy"]) == {"toy": "linked"}


def test_corrupt_file_is_refused(tiny_source, data_root):
    with gzip.open(tiny_source / "toy" / "a.gz", "wb") as handle:
        handle.write(b"hellO")
    with pytest.raises(root.DataError, match="corrupt"):
        prepare(tiny_source, ["toy"])


def test_missing_dataset_says_how_to_prepare(data_root, monkeypatch):
    monkeypatch.setitem(root.KNOWN_FILES, "toy", {"a.gz": "0" * 64})
    with pytest.raises(root.DataError, match="data prepare"):
        root.dataset_dir("toy")


def test_prepare_creates_a_configured_root(tiny_source, tmp_path, monkeypatch):
    monkeypatch.setenv("MODULARITY_DATA", str(tmp_path / "new_root"))
    assert prepare(tiny_source, ["toy"]) == {"toy": "linked"}
    assert (tmp_path / "new_root" / "toy" / "a.gz").exists()


def test_a_source_without_any_dataset_is_an_error_that_shows_the_layout(tmp_path, data_root):  # row 13
    (tmp_path / "empty").mkdir()
    with pytest.raises(root.DataError, match=r"none of the datasets in the expected layout: mnist/train-images"):
        prepare(tmp_path / "empty", ["mnist"])
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "train-images-idx3-ubyte.gz").write_bytes(b"")  # files without their dataset folder
    with pytest.raises(root.DataError, match="expected layout"):
        prepare(tmp_path / "flat", ["mnist"])


def test_a_data_root_that_is_a_file_is_named(tmp_path, monkeypatch):  # row 13
    (tmp_path / "root").write_text("not a folder")
    monkeypatch.setenv("MODULARITY_DATA", str(tmp_path / "root"))
    with pytest.raises(root.DataError, match="is a file"):
        root.data_root()


def test_preparing_from_the_data_root_itself_loses_nothing(tiny_source, tmp_path, monkeypatch):  # row 1
    monkeypatch.setenv("MODULARITY_DATA", str(tiny_source))  # the data root IS the source
    before = (tiny_source / "toy" / "a.gz").read_bytes()
    assert prepare(tiny_source, ["toy"]) == {"toy": "already in place"}
    assert (tiny_source / "toy" / "a.gz").read_bytes() == before and not (tiny_source / "toy" / "a.gz").is_symlink()


def test_a_root_folder_linking_into_the_source_loses_nothing(tiny_source, data_root):  # row 1
    (data_root / "toy").symlink_to(tiny_source / "toy", target_is_directory=True)
    before = (tiny_source / "toy" / "a.gz").read_bytes()
    assert prepare(tiny_source, ["toy"]) == {"toy": "already in place"}
    assert (tiny_source / "toy" / "a.gz").read_bytes() == before and not (tiny_source / "toy" / "a.gz").is_symlink()


def test_a_good_regular_copy_in_the_root_is_never_deleted(tiny_source, data_root):  # row 1
    (data_root / "toy").mkdir()
    (data_root / "toy" / "a.gz").write_bytes((tiny_source / "toy" / "a.gz").read_bytes())
    assert prepare(tiny_source, ["toy"]) == {"toy": "already in place"}
    assert not (data_root / "toy" / "a.gz").is_symlink()


def test_a_truncated_gzip_is_named_with_what_to_do(tiny_source, data_root):  # row 8
    path = tiny_source / "toy" / "a.gz"
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(root.DataError, match=r"a.gz cannot be read .*truncated or damaged"):
        prepare(tiny_source, ["toy"])


def test_a_checked_file_round_trips_and_a_damaged_one_is_moved_aside(tmp_path):
    from modularity.checked_files import read_checked, write_checked

    path = tmp_path / "sub" / "blob.bin"
    write_checked(path, b"payload")
    assert read_checked(path, "blob", "recomputing") == b"payload"
    path.write_bytes(b"paylo4d")
    with pytest.warns(UserWarning, match=r"blob .*blob.bin: its checksum does not match; moved to blob.bin.damaged"):
        assert read_checked(path, "blob", "recomputing") is None
    assert not path.exists() and (tmp_path / "sub" / "blob.bin.damaged").exists()
    assert read_checked(path, "blob", "recomputing") is None  # absent: no warning, nothing to do


def test_a_torchvision_style_root_is_accepted(tmp_path, data_root, monkeypatch):
    import hashlib

    from modularity.data import images
    from modularity.data import prepare as prepare_module

    source = tmp_path / "torchvision"
    (source / "MNIST" / "raw").mkdir(parents=True)
    for file in root.KNOWN_FILES["mnist"]:
        with gzip.open(source / "MNIST" / "raw" / file, "wb") as handle:
            handle.write(file.encode())
    monkeypatch.setitem(root.KNOWN_FILES, "mnist", {f: hashlib.sha256(f.encode()).hexdigest()
                                                    for f in root.KNOWN_FILES["mnist"]})
    pickles = source / "cifar-10-batches-py"
    pickles.mkdir()
    for name in images.CIFAR10_PICKLE_MD5:
        (pickles / name).write_bytes(name.encode())
    with pytest.raises(root.DataError, match="data_batch_1 is not the official CIFAR-10 batch"):
        prepare(source, ["mnist"])
    monkeypatch.setattr(images, "CIFAR10_PICKLE_MD5", {n: hashlib.md5(n.encode()).hexdigest()
                                                       for n in images.CIFAR10_PICKLE_MD5})
    assert prepare(source, ["mnist"]) == {"mnist": "linked", "cifar10": "linked"}
    assert root.verify("mnist")
    assert (data_root / "cifar10" / prepare_module.CIFAR10_PICKLES / "test_batch").read_bytes() == b"test_batch"
    assert prepare(source, ["mnist"]) == {"mnist": "already in place", "cifar10": "already in place"}
