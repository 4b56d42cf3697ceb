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


def expected_layout(names: list[str]) -> str:
    return "; ".join(f"{name}/{' + '.join(KNOWN_FILES[name])}" for name in names)


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
    found = [n for n in names if all((source / n / f).exists() for f in KNOWN_FILES[n])]
    if not found:
        raise DataError(f"{source} holds none of the datasets in the expected layout: {expected_layout(names)}")
    report = {}
    for name in found:
        src = source / name
        verify(name, src)
        report[name] = _link(name, src, root / name)
    return report


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
