"""Figure 7: memory.  Peak RSS growth over many create/destroy cycles, and the size of the
universe loaded from the packaged real-QEMU snapshot.

Both run in a fresh child interpreter (``python -m benchmarks.fig_memory``), so the peak RSS
(``VmHWM``) measured is not the one an earlier figure left behind.  The cycle count is the
configuration's; the peak is read after a warm-up of 1,000 cycles, so the growth measured is
what the cycles add, not the first-use allocations (class caches, code objects).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Target, judged, not_measured
from benchmarks.snapshot import load_packaged_universe, require_snapshot

__all__ = ["RSS_TARGET", "child_main", "measure_memory"]

RSS_TARGET = Target(5, on_ratio=False, unit="MiB")
WARMUP_CYCLES = 1000
ROOT = Path(__file__).resolve().parent.parent


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise NotMeasured(f"/proc/self/status has no {field}")


def _cycles(cycles: int) -> dict[str, Any]:
    import qom
    from benchmarks.fig_objects import make_universe

    universe = make_universe()
    with qom.use_universe(universe):
        new, unref = qom.object_new, qom.object_unref
        for _ in range(WARMUP_CYCLES):
            unref(new("bench-leaf"))
        before = _status_kib("VmHWM")
        for _ in range(cycles):
            unref(new("bench-leaf"))
        after = _status_kib("VmHWM")
        return {"hwm_before_kib": before, "hwm_after_kib": after, "live": universe.live_instances(),
                "tracked": len(universe.objects)}


def _universe_size(path: str | None) -> dict[str, Any]:
    import qom
    import qom.snapshot  # imported before tracing: code objects are not the universe's size

    tracemalloc.start()
    universe = load_packaged_universe(path)
    current, peak = tracemalloc.get_traced_memory()
    with qom.use_universe(universe):
        classes = len(qom.object_class_get_list(None, True))
    initialized, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"current": current, "peak": peak, "initialized": initialized, "classes": classes,
            "types": len(universe.types)}


def child_main(argv: list[str]) -> int:
    """The child's entry point: print one JSON object on stdout.

    :param argv: ``["cycles", N]`` or ``["universe", PATH]``.
    :return: the exit status.
    """
    try:
        result = _cycles(int(argv[1])) if argv[0] == "cycles" else _universe_size(argv[1])
    except NotMeasured as exc:
        result = {"not_measured": exc.reason}
    print(json.dumps(result))
    return 0


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.fig_memory", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    data: dict[str, Any] = json.loads(proc.stdout)
    if "not_measured" in data:
        raise NotMeasured(str(data["not_measured"]))
    return data


def measure_memory(config: Config) -> list[Row]:
    """Figure 7.

    :param config: the number of cycles.
    :return: the RSS-growth row and the universe-size row.
    """
    cycles = config.memory_cycles
    data = _child("cycles", str(cycles))
    growth_mib = (data["hwm_after_kib"] - data["hwm_before_kib"]) / 1024
    scaled = "" if cycles >= 1_000_000 else f"{config.mode} mode: {cycles:,} cycles, not 1,000,000; "
    rows = [judged(
        "7a", f"peak RSS growth over {cycles:,} object_new/object_unref cycles", growth_mib, "MiB",
        target=RSS_TARGET,
        note=(f"{scaled}VmHWM of a fresh interpreter after {WARMUP_CYCLES:,} warm-up cycles: "
              f"{data['hwm_before_kib']:,} KiB, after: {data['hwm_after_kib']:,} KiB; "
              f"{data['live']} live instances, {data['tracked']} objects tracked by the universe"))]
    try:
        path = require_snapshot(config.snapshot)
        size = _child("universe", str(path))
    except NotMeasured as exc:
        rows.append(not_measured("7b", "universe size after loading the real snapshot", exc.reason))
        return rows
    file_mib = path.stat().st_size / 2**20
    current = size["current"] / 2**20
    rows.append(judged(
        "7b", f"universe loaded from the snapshot ({size['types']} types)", current, "MiB",
        target=None, reference=f"snapshot file: {file_mib:.2f} MiB", reference_value=file_mib,
        ratio=current / file_mib if file_mib else None,
        note=(f"tracemalloc, in a fresh interpreter, qom already imported: {current:.2f} MiB held"
              f" after load_universe ({size['peak'] / 2**20:.2f} MiB peak),"
              f" {size['initialized'] / 2**20:.2f} MiB once all {size['classes']} classes are initialized")))
    return rows


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
