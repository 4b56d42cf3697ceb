"""What a notebook run touched (device, datasets), written to a file the runner reads back.

The runner sets ``MODULARITY_PROVENANCE`` for the kernel; outside a runner call, recording does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "MODULARITY_PROVENANCE"


def record(section: str, key: str, value) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {})[key] = value
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def current(section: str) -> dict:
    """What the current run has recorded so far in ``section`` (empty outside a runner call)."""
    return read(os.environ.get(ENV, "")).get(section, {})


def read(path: str | Path) -> dict:
    if not path:
        return {}
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}
