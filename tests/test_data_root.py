"""The data root: prepare links and verifies a local copy; corrupt or missing files get clear errors."""

import gzip

import pytest

from modularity.data import root


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
    report = root.prepare(tiny_source, ["toy"])
    assert report == {"toy": "linked"}
    assert (data_root / "toy" / "a.gz").is_symlink()
    assert root.verify("toy")["a.gz"].startswith("2cf24dba")


def test_checksum_is_of_the_decompressed_content(tiny_source, data_root):
    with gzip.open(tiny_source / "toy" / "a.gz", "wb", compresslevel=1) as handle:  # other wrapper bytes
        handle.write(b"hello")
    assert root.prepare(tiny_source, ["toy"]) == {"toy": "linked"}


def test_corrupt_file_is_refused(tiny_source, data_root):
    with gzip.open(tiny_source / "toy" / "a.gz", "wb") as handle:
        handle.write(b"hellO")
    with pytest.raises(root.DataError, match="corrupt"):
        root.prepare(tiny_source, ["toy"])


def test_missing_dataset_says_how_to_prepare(data_root, monkeypatch):
    monkeypatch.setitem(root.KNOWN_FILES, "toy", {"a.gz": "0" * 64})
    with pytest.raises(root.DataError, match="data prepare"):
        root.dataset_dir("toy")


def test_prepare_creates_a_configured_root(tiny_source, tmp_path, monkeypatch):
    monkeypatch.setenv("MODULARITY_DATA", str(tmp_path / "new_root"))
    assert root.prepare(tiny_source, ["toy"]) == {"toy": "linked"}
    assert (tmp_path / "new_root" / "toy" / "a.gz").exists()


def test_source_without_the_dataset_is_reported(tmp_path, data_root):
    (tmp_path / "empty").mkdir()
    assert root.prepare(tmp_path / "empty", ["mnist"]) == {"mnist": "not in source"}
