"""Where the packaged real-QEMU snapshot is, and how to load it, for the figures that need it."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from benchmarks.model import NotMeasured

__all__ = ["SNAPSHOT_PATH", "load_packaged_universe", "require_snapshot"]

SNAPSHOT_PATH = Path(__file__).resolve().parent.parent / "qom" / "data" / "qemu-system-x86_64.json"


def require_snapshot() -> Path:
    """:return: the packaged snapshot's path.
    :raise NotMeasured: when the loader or the packaged file has not landed."""
    if importlib.util.find_spec("qom.snapshot") is None:
        raise NotMeasured("qom.snapshot (the snapshot loader) has not landed")
    if not SNAPSHOT_PATH.is_file():
        raise NotMeasured(f"the packaged snapshot {SNAPSHOT_PATH.name} has not landed")
    return SNAPSHOT_PATH


def load_packaged_universe() -> Any:
    """:return: a universe loaded from the packaged snapshot (``Any``: ``qom`` is imported lazily).
    :raise NotMeasured: when the loader or the file is missing."""
    path = require_snapshot()
    loader = importlib.import_module("qom.snapshot")
    return loader.load_universe(path)
