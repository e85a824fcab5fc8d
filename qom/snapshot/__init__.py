"""The tools that meet a real QEMU: capture its type universe, load it back, sweep introspection.

Layered above :mod:`qom.qmp` (they talk QMP) and the core:

* :mod:`qom.snapshot.format`: the snapshot file (raw answers, their reduction, reading, writing);
* :mod:`qom.snapshot.load`: :func:`load_universe`, a universe that emulates the captured QEMU;
* :mod:`qom.snapshot.capture`: ``qomsim capture``, the sweep over a real QEMU's QMP socket;
* :mod:`qom.snapshot.introspect`: the checks of QEMU's ``device-introspect-test``, in-process.

    >>> from qom.snapshot import load_universe, packaged_snapshot_path
    >>> from qom.qmp import execute
    >>> u = load_universe(packaged_snapshot_path())
    >>> execute("query-version", universe=u)["return"]["qemu"]
    {'micro': 22, 'minor': 2, 'major': 7}
    >>> u10 = load_universe(packaged_snapshot_path("10.0.2"))
    >>> execute("query-version", universe=u10)["return"]["qemu"]
    {'micro': 2, 'minor': 0, 'major': 10}
"""

from __future__ import annotations

from qom.snapshot.format import (
    PACKAGED_VERSIONS,
    RawCapture,
    SnapshotFormatError,
    dump_snapshot,
    packaged_snapshot_path,
    read_snapshot,
    snapshot_from_raw,
)
from qom.snapshot.introspect import IntrospectFailure, IntrospectReport, introspect_sweep
from qom.snapshot.load import LoadedUniverse, load_universe

__all__ = [  # noqa: RUF022 -- ordered by importance, not alphabetically
    "load_universe",
    "packaged_snapshot_path",
    "PACKAGED_VERSIONS",
    "LoadedUniverse",
    "read_snapshot",
    "dump_snapshot",
    "snapshot_from_raw",
    "RawCapture",
    "SnapshotFormatError",
    "introspect_sweep",
    "IntrospectReport",
    "IntrospectFailure",
]
