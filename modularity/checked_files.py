"""Files written with a sha256 beside them and checked on every read, so a damaged file is never used.

A read that finds the file missing returns None; one that finds it damaged (or without its checksum) moves it
aside as ``<file>.damaged``, warns with its path, and also returns None, so the caller computes it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path


def write_checked(path: Path, data: bytes) -> None:
    """Write ``data`` atomically with ``<file>.sha256`` beside it; no partial file is left on failure."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
        path.with_name(path.name + ".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def read_checked(path: Path, what: str, redo: str) -> bytes | None:
    """The file's bytes, or None when it is absent or damaged; ``what`` names it and ``redo`` says what happens
    next in the warning about a damaged one."""
    if not path.exists():
        return None
    sidecar = path.with_name(path.name + ".sha256")
    data = path.read_bytes()
    if not sidecar.exists() or sidecar.read_text().strip() != hashlib.sha256(data).hexdigest():
        aside = path.with_name(path.name + ".damaged")
        os.replace(path, aside)
        sidecar.unlink(missing_ok=True)
        warnings.warn(f"{what} {path}: its checksum does not match; moved to {aside.name}, {redo}", stacklevel=3)
        return None
    return data
