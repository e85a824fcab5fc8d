"""Figure 9: bounded model checking over programs (:mod:`migration.check.bounded`).

9a explores every design at K = the default bound + 1 (every scenario but S7 and S13 inside) in
this process, then 9b the same tasks on all cores (Dask ``LocalCluster``, one worker process per
core); both in the same run, so the speedup is a ratio measured under the same load (the load
average is in the notes).  9c is the time of that full matrix on all cores.  9d compares the
default bound K and K+1 on one design (what one more event costs).  9e is the peak memory of the
state store (tracemalloc, one design, one process).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Target, judged

__all__ = ["MATRIX_TARGET", "SPEEDUP_TARGET", "measure_bounded"]

#: parallel time / serial time on all cores: <= 1/1.7 is a speedup of at least 1.7x
SPEEDUP_TARGET = Target(round(1 / 1.7, 3), on_ratio=True)
MATRIX_TARGET = Target(120, on_ratio=False, unit="s")


def _import() -> tuple[Any, Any, Any, Any]:
    try:
        from migration.check import workers
        from migration.check.bounded import DEFAULT_BOUND, explore_bounded
        from migration.check.cell import resolve_design
        from migration.model.designs import DESIGNS
    except ImportError as exc:
        raise NotMeasured(f"the bounded explorer has not landed ({exc})") from None
    return workers, (DEFAULT_BOUND, explore_bounded), resolve_design, DESIGNS


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def measure_bounded(config: Config) -> list[Row]:
    """Figure 9.

    :param config: ``tiny`` mode explores at bound 0 and two designs only.
    :return: rows 9a-9e.
    """
    workers, (bound, explore_bounded), resolve_design, designs = _import()
    ds = [resolve_design(d) for d in designs]
    k = bound + 1  # the bound that takes in every scenario but S7 and S13: enough work to share
    if config.mode == "tiny":
        ds, k = ds[:2], 0
    cores = os.cpu_count() or 1
    load_before = _load()

    def timed(n: int) -> tuple[float, dict[str, Any]]:
        workers._CACHE.clear()
        start = time.perf_counter()
        out = workers.explore_designs(ds, k, workers=n)
        return time.perf_counter() - start, out

    serial, res = timed(1)
    programs = sum(b.programs for b in res.values())
    states = sum(b.states for b in res.values())
    rows = [judged("9a", f"bounded exploration, {len(ds)} designs at K = {k}, one process",
                   programs / serial, "programs/s", target=None,
                   note=(f"{programs:,} programs, {states:,} distinct states ({states / serial:,.0f} "
                         f"states/s), {sum(b.runs for b in res.values()):,} runs in {serial:.3g} s; "
                         f"{load_before}"))]
    parallel, res2 = timed(cores)
    same = all(res[d].to_json() == res2[d].to_json() for d in res)
    rows.append(judged(
        "9b", f"bounded exploration on all {cores} cores (Dask LocalCluster), speedup", programs / parallel,
        "programs/s", target=SPEEDUP_TARGET, reference="one process", reference_value=programs / serial,
        ratio=parallel / serial,
        note=(f"{parallel:.3g} s vs {serial:.3g} s: speedup {serial / parallel:.2f}x "
              f"({states / parallel:,.0f} states/s); results identical to one process: {same}; {_load()}")))
    rows.append(judged("9c", f"full matrix at K = {k} on {cores} cores", parallel, "s", target=MATRIX_TARGET,
                       note=f"{len(ds)} designs, every property read from one exploration per design"))
    d = ds[0] if config.mode == "tiny" else resolve_design("qemu-10.0")
    k = bound if config.mode != "tiny" else k
    start = time.perf_counter()
    at_k = explore_bounded(d, k)
    t_k = time.perf_counter() - start
    start = time.perf_counter()
    at_k1 = explore_bounded(d, k + 1)
    t_k1 = time.perf_counter() - start
    rows.append(judged(
        "9d", f"cost of K + 1 = {k + 1} on {d.name}", t_k1, "s", target=None, reference=f"K = {k}",
        reference_value=t_k, ratio=t_k1 / t_k,
        note=(f"K = {k}: {at_k.programs:,} programs, {at_k.states:,} states, {t_k:.3g} s; K = {k + 1}: "
              f"{at_k1.programs:,} programs, {at_k1.states:,} states, {t_k1:.3g} s")))
    tracemalloc.start()
    explore_bounded(d, k)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(judged("9e", f"peak memory of the state store, {d.name} at K = {k}", peak / 2**20, "MiB",
                       target=None, note=f"tracemalloc peak over one exploration ({at_k.states:,} states)"))
    return rows
