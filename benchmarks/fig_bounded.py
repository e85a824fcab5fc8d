"""Figure 9: bounded model checking over programs (:mod:`migration.check.bounded`).

9a explores every design at the default bound K (the bound ``decide`` uses) in this process,
and 9b the same tasks on all cores (Dask ``LocalCluster``, one worker process per core); the two
alternate in the same run (two pairs in the full configuration), so the speedup is a ratio
measured under the same load (the load average is in the notes).  On a machine others share,
9b's note also gives the CPU-time speedup (one-process CPU over all-core CPU per core), the
cluster's start and close times, and the critical-path bound (the largest task's share of the
work).  9c is the time of that full matrix on all cores.  9d compares the default bound K and
K+1 on one design (what one more event costs; ``quick`` mode compares 0 and 1).  9e is the peak
memory of the state store (tracemalloc, one design, one process).  9f (full mode) is the covering
bound, the smallest that takes in every §4 scenario (``2+10/0``), on one design against the default
bound, with each of its boxes on its own; 9g (full mode) what one more event in each box costs there
(``3/1`` and ``11/0``: the whole of ``3`` is beyond reach, see the note).  9h compares, in one run, the
default keys (branching points only; the event-boundary key at main's program choices) with the full
state key at every point on a box of foreground events (``3/0`` quick, ``5/0`` full); 9i actors keyed
by their suspended frames with actors keyed by their histories (K = 1 quick, K = 2 full; the frames side
is 9d's K + 1 exploration, not run again).  Issue 22's targets (full mode): 9f is judged on 10 s (its note
judges the ratio on 20x), 9j times the README's first command, ``qomsim decide``, in a process of its own,
and 9k (the whole matrix at the covering bound) is estimated from 9d, not run.  Notes give states and runs
per CPU second.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Target, judged, not_measured

__all__ = ["COVERING_TARGET", "DECIDE_TARGET", "MATRIX_TARGET", "SPEEDUP_TARGET", "measure_bounded"]

#: parallel time / serial time on all cores: <= 1/1.7 is a speedup of at least 1.7x
SPEEDUP_TARGET = Target(round(1 / 1.7, 3), on_ratio=True)
MATRIX_TARGET = Target(120, on_ratio=False, unit="s")
#: issue 22: the covering bound on qemu-10.0 in at most 10 s and at most 20x K = 1
COVERING_TARGET = Target(10, on_ratio=False, unit="s")
COVERING_RATIO = 20.0
#: issue 22: the README's first command in at most 150 s on 2 cores
DECIDE_TARGET = Target(150, on_ratio=False, unit="s")


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
    k = bound  # the bound decide uses: the full matrix a user waits for
    if config.mode == "tiny":
        ds, k = ds[:2], 0
    cores = os.cpu_count() or 1
    load_before = _load()
    pairs = 2 if config.mode == "full" else 1

    def timed(n: int) -> tuple[float, dict[str, Any], Any]:
        workers._CACHE.clear()
        stats = workers.RunStats()
        start = time.perf_counter()
        out = workers.explore_designs(ds, k, workers=n, stats=stats)
        return time.perf_counter() - start, out, stats

    # one process and all cores alternately, so that both see the same load
    runs = [(timed(1), timed(cores)) for _ in range(pairs)]
    serial = sum(s[0] for s, _p in runs)
    parallel = sum(p[0] for _s, p in runs)
    res = runs[0][0][1]
    one = runs[-1][0][2]  # where the time went, task by task
    cpu_one = sum(s[2].cpu_s for s, _p in runs)
    cpu_many = sum(p[2].cpu_s for _s, p in runs)
    many = runs[-1][1][2]
    programs = sum(b.programs for b in res.values())
    states = sum(b.states for b in res.values())
    each = serial / pairs
    rows = [judged("9a", f"bounded exploration, {len(ds)} designs at K = {k}, one process",
                   programs / each, "programs/s", target=None,
                   note=(f"{programs:,} programs, {states:,} distinct states ({states / each:,.0f} "
                         f"states/s), {sum(b.runs for b in res.values()):,} runs in {each:.3g} s "
                         f"(mean of {pairs}; {cpu_one / pairs:.3g} s CPU); {load_before}"))]
    same = all(r[0][1][d].to_json() == r[1][1][d].to_json() for r in runs for d in res)
    # on a machine others share, wall time understates the speedup: the CPU-time figure is what the same
    # work would take with the cores to itself, perfectly shared (serial CPU / (parallel CPU / cores))
    cpu_speedup = cpu_one / (cpu_many / cores)
    crit = one.critical_path()
    limit = min(cores, 1 / crit) if crit else cores
    pair_text = ", ".join(f"{s[0] / p[0]:.2f}x" for s, p in runs)
    where = (f"CPU time {cpu_many / pairs:.3g} s on all cores vs {cpu_one / pairs:.3g} s here: CPU-time "
             f"speedup {cpu_speedup:.2f}x; cluster start {many.start_s:.2g} s, close {many.close_s:.2g} s; "
             f"largest task {max(one.task_cpu):.2g} s of {sum(one.task_cpu):.3g} s ({len(one.task_cpu)} "
             f"tasks, largest first): speedup bound {limit:.2f}x")
    rows.append(judged(
        "9b", f"bounded exploration on all {cores} cores (Dask LocalCluster), speedup",
        programs / (parallel / pairs), "programs/s", target=SPEEDUP_TARGET, reference="one process",
        reference_value=programs / each, ratio=parallel / serial,
        note=(f"{parallel / pairs:.3g} s vs {each:.3g} s: speedup {serial / parallel:.2f}x (pairs run "
              f"alternately: {pair_text}); {where}; results identical to one process: {same}; {_load()}")))
    rows.append(judged("9c", f"full matrix at K = {k} on {cores} cores", parallel / pairs, "s",
                       target=MATRIX_TARGET,
                       note=f"{len(ds)} designs, every property read from one exploration per design"))
    d = ds[0] if config.mode == "tiny" else resolve_design("qemu-10.0")
    k = {"tiny": k, "quick": 0}.get(config.mode, bound)  # K + 1 = 2 costs minutes: full mode only
    t_k, cpu_k, at_k = _timed(explore_bounded, d, str(k))
    t_k1, cpu_k1, at_k1 = _timed(explore_bounded, d, str(k + 1))
    rows.append(judged(
        "9d", f"cost of K + 1 = {k + 1} on {d.name}", t_k1, "s", target=None, reference=f"K = {k}",
        reference_value=t_k, ratio=t_k1 / t_k, cpu_ratio=cpu_k1 / max(cpu_k, 1e-9),
        note=(f"K = {k}: {at_k.programs:,} programs, {at_k.states:,} states, {at_k.runs:,} runs, {t_k:.3g} s "
              f"({_rate(at_k, cpu_k)}); K = {k + 1}: {at_k1.programs:,} programs, {at_k1.states:,} states, "
              f"{at_k1.runs:,} runs, {t_k1:.3g} s ({_rate(at_k1, cpu_k1)}); {_load()}")))
    tracemalloc.start()
    explore_bounded(d, k)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(judged("9e", f"peak memory of the state store, {d.name} at K = {k}", peak / 2**20, "MiB",
                       target=None, note=f"tracemalloc peak over one exploration ({at_k.states:,} states)"))
    rows.append(_boundary(d, explore_bounded, {"tiny": "2/0", "quick": "3/0"}.get(config.mode, "5/0")))
    spec = {"tiny": "1", "quick": "1"}.get(config.mode, "2")
    rows.append(_frames(d, explore_bounded, spec, (t_k1, cpu_k1, at_k1) if spec == str(k + 1) else None))
    if config.mode == "full":
        rows += _covering(d, explore_bounded, at_k, t_k, k, (str(k + 1), t_k1, at_k1))
        rows.append(_matrix_at_covering(len(designs), cores, cpu_k1))
        rows.append(_decide(cores))
    return rows


def _rate(b: Any, cpu: float) -> str:
    """:return: an exploration's states and runs per CPU second, as the notes give them."""
    return f"{b.states / max(cpu, 1e-9):,.0f} states/s, {b.runs / max(cpu, 1e-9):,.0f} runs/s CPU"


def _boundary(d: Any, explore_bounded: Any, spec: str) -> Row:
    """Row 9h: the keys of the default explorer (branching points only, the event-boundary key at main's
    program choices) against the full state key at every point, on a box of foreground events, where
    they merge the most.

    :param spec: the bound.
    """
    t_full, cpu_full, full = _timed(explore_bounded, d, spec, boundary=False, every_point=True, frames=False)
    t_fast, cpu_fast, fast = _timed(explore_bounded, d, spec, frames=False)
    return judged(
        "9h", f"the event-boundary key at branching points on {d.name} at {spec}", t_fast, "s", target=None,
        reference="the full key at every point", reference_value=t_full, ratio=t_fast / t_full,
        note=(f"full key at every point: {full.runs:,} runs, {full.states:,} states, {t_full:.3g} s "
              f"({cpu_full:.3g} s CPU, {_rate(full, cpu_full)}); event-boundary "
              f"key at branching points: {fast.runs:,} runs, {fast.states:,} states, {t_fast:.3g} s "
              f"({cpu_fast:.3g} s CPU); same paths, outcomes, violations and shortest programs: "
              f"{_same(full, fast)}; {_load()}"))


def _timed(explore_bounded: Any, d: Any, spec: str, **options: bool) -> tuple[float, float, Any]:
    """:return: one exploration's wall time, CPU time and result."""
    from migration.check.bounded import Bound

    start, cpu = time.perf_counter(), time.process_time()
    out = explore_bounded(d, Bound.parse(spec), **options)
    return time.perf_counter() - start, time.process_time() - cpu, out


def _same(a: Any, b: Any) -> bool:
    """:return: whether two explorations found the same paths, outcomes, violations and shortest programs."""
    return (a.paths, a.outcomes, a.violating) == (b.paths, b.outcomes, b.violating) and \
        {p: v[:2] for p, v in a.violations.items()} == {p: v[:2] for p, v in b.violations.items()}


def _frames(d: Any, explore_bounded: Any, spec: str, default: tuple[float, float, Any] | None = None) -> Row:
    """Row 9i: each actor keyed by its suspended frames (``frames=True``) against its history, where
    actors interleave: fewer states, each dearer to key.

    :param spec: the bound.
    :param default: the default explorer's exploration at ``spec`` when 9d already ran it in this run (wall
        time, CPU time, result): it is not run again.
    """
    t_hist, cpu_hist, hist = _timed(explore_bounded, d, spec, frames=False)
    t_fr, cpu_fr, fr = default or _timed(explore_bounded, d, spec, frames=True)
    return judged(
        "9i", f"actors keyed by their frames on {d.name} at {spec}", t_fr, "s", target=None,
        reference="keyed by their histories", reference_value=t_hist, ratio=t_fr / t_hist,
        note=(f"histories: {hist.runs:,} runs, {hist.states:,} states, {cpu_hist:.3g} s CPU "
              f"({_rate(hist, cpu_hist)}); frames: {fr.runs:,} runs, "
              f"{fr.states:,} states, {cpu_fr:.3g} s CPU ({_rate(fr, cpu_fr)}); "
              f"same paths, outcomes, violations and shortest programs: {_same(hist, fr)}; {_load()}"))


def _covering(d: Any, explore_bounded: Any, at_k: Any, t_k: float, k: int,
              next_k: tuple[str, float, Any]) -> list[Row]:
    """Rows 9f and 9g: the covering bound on one design, and one more event in each of its boxes.

    :param next_k: 9d's K + 1 exploration (the covering bound's first box when K = 1), not run again.
    """
    from migration.check.bounded import COVERING_BOUND, Bound, scenarios_outside

    def timed(spec: str) -> tuple[float, Any]:
        start = time.perf_counter()
        out = explore_bounded(d, Bound.parse(spec))
        return time.perf_counter() - start, out

    t_cov, cov = timed(COVERING_BOUND)
    boxes = [next_k if spec == next_k[0] else (spec, *timed(spec)) for spec in COVERING_BOUND.split("+")]
    box_text = "; ".join(f"{spec} alone: {b.states:,} states, {b.runs:,} runs, {t:.3g} s"
                         for spec, t, b in boxes)
    rows = [judged(
        "9f", f"the covering bound {COVERING_BOUND} on {d.name} (every §4 scenario inside)", t_cov, "s",
        target=COVERING_TARGET, reference=f"K = {k}", reference_value=t_k, ratio=t_cov / t_k,
        note=(f"the ratio's target (issue 22) is {COVERING_RATIO:g}x: "
              f"{'met' if t_cov / t_k <= COVERING_RATIO else 'missed'}; "
              f"{cov.programs:,} programs, {cov.states:,} states, {cov.runs:,} runs; scenarios outside: "
              f"{len(scenarios_outside(Bound.parse(COVERING_BOUND)))} (at K = {k}: "
              f"{len(scenarios_outside(k))}); {box_text}; violated properties: same as K = {k}: "
              f"{list(cov.violations) == list(at_k.violations)}; {_load()}"))]
    more = [(spec, *timed(spec)) for spec in ("3/1", "11/0")]
    t_more = sum(t for _s, t, _b in more)
    rows.append(judged(
        "9g", f"one more event in each box of {COVERING_BOUND} on {d.name}", t_more, "s",
        target=None, reference=COVERING_BOUND, reference_value=t_cov, ratio=t_more / t_cov,
        note=("; ".join(f"{spec}: {b.programs:,} programs, {b.states:,} states, {b.runs:,} runs, {t:.3g} s"
                        for spec, t, b in more)
              + "; the whole of K = 3 (any number of background events) is about "
              + _k3_estimate(at_k, boxes))))
    return rows


def _matrix_at_covering(designs: int, cores: int, cpu_k2: float) -> Row:
    """Row 9k: every preset at the covering bound, estimated from 9d, not run: its first box alone, ``2``,
    costs each design about what it costs qemu-10.0.

    :param designs: the presets.
    :param cores: the cores a run would spread over.
    :param cpu_k2: qemu-10.0's CPU time at K = 2 (9d).
    """
    return not_measured(
        "9k", f"the whole matrix ({designs} presets x every property) at the covering bound on {cores} cores",
        f"not run: the box 2 of 2+10/0 alone took {cpu_k2:,.0f} s CPU on qemu-10.0 (9d), so the matrix would "
        f"take about {designs * cpu_k2 / cores:,.0f} s on {cores} cores", MATRIX_TARGET)


def _decide(cores: int) -> Row:
    """Row 9j: the README's first command, ``qomsim decide`` on the built-in defaults, in a process of its
    own, its notes written to a temporary folder.

    :param cores: the cores it runs on (its default worker count).
    """
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "qom.cli", "decide", "--out", out, "--no-database",
                               "--date", "2000-01-01"], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    if done.returncode != 0:  # the other rows stand: this one says why it has no figure
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return not_measured("9j", f"qomsim decide on the built-in defaults, {cores} cores",
                            f"qomsim decide failed with exit status {done.returncode}: {last}", DECIDE_TARGET)
    return judged("9j", f"qomsim decide on the built-in defaults, {cores} cores", wall, "s",
                  target=DECIDE_TARGET,
                  note=("every preset at the default bound, the options the notes choose confirmed at the "
                        f"covering bound; {_load()}"))


def _k3_estimate(at_k: Any, boxes: list[tuple[str, float, Any]]) -> str:
    """:return: K = 3 extrapolated from the growth K = 1 -> 2 of the covering bound's first box."""
    k2 = next((b for spec, _t, b in boxes if spec == "2"), None)
    if k2 is None or not at_k.states:
        return "not estimated"
    growth = k2.states / at_k.states
    return f"{k2.states * growth:,.0f} states ({growth:.0f}x per event, K = 1 -> 2), not run"
