"""Where the packaged real-QEMU snapshot is, and how to load it, for the figures that need it."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from benchmarks.model import NotMeasured

__all__ = ["SNAPSHOT_PATH", "load_packaged_universe", "require_snapshot", "snapshot_crashes"]

_TOP = Path(__file__).resolve().parent.parent
SNAPSHOT_PATH = _TOP.joinpath("qom", "snapshot", "data", "qemu-system-x86_64-7.2.22.json")


def require_snapshot(path: str | None = None) -> Path:
    """:param path: a snapshot file (None: the packaged one).
    :return: the snapshot's path.
    :raise NotMeasured: when the loader or the file has not landed."""
    if importlib.util.find_spec("qom.snapshot") is None:
        raise NotMeasured("qom.snapshot (the snapshot loader) has not landed")
    chosen = SNAPSHOT_PATH if path is None else Path(path)
    if not chosen.is_file():
        what = "the packaged snapshot" if path is None else "the snapshot"
        raise NotMeasured(f"{what} {chosen.name} has not landed")
    return chosen


def load_packaged_universe(path: str | None = None) -> Any:
    """:param path: a snapshot file (None: the packaged one).
    :return: a universe loaded from it (``Any``: ``qom`` is imported lazily).
    :raise NotMeasured: when the loader or the file is missing."""
    loader = importlib.import_module("qom.snapshot")
    return loader.load_universe(require_snapshot(path))


def snapshot_crashes(universe: Any, command: str) -> frozenset[str]:
    """:param universe: a universe loaded from a snapshot.
    :param command: a QMP command name.
    :return: the types the snapshot records as crashing the real QEMU on ``command``."""
    crashes = universe.snapshot_data.get("crashes", [])
    return frozenset(str(c["typename"]) for c in crashes if c.get("command") == command)
