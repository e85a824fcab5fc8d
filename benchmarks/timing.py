"""Measurement primitives: medians of repeated, warmed-up runs with the collector controlled.

Every timed repetition starts from a collected heap with the cyclic garbage collector
disabled (it is re-enabled afterwards), so a collection triggered by earlier work is not
billed to the code under test.  Comparisons alternate subject and reference (ABAB...), so
that load from other processes on a shared machine hits both sides alike; the ratio
reported is the median of the per-repetition ratios.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Pair", "gc_quiet", "measure", "measure_pair", "time_once"]


@contextmanager
def gc_quiet() -> Iterator[None]:
    """Collect, then disable the cyclic collector for the block; restore its previous state."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_once(fn: Callable[[], object]) -> float:
    """Time one call.

    :param fn: the code to time.
    :return: the elapsed time in seconds.
    """
    with gc_quiet():
        start = time.perf_counter_ns()
        fn()
        stop = time.perf_counter_ns()
    return (stop - start) / 1e9


def _per_op_ns(fn: Callable[[int], object], loops: int) -> float:
    return _per_op_both(fn, loops)[0]


def _per_op_both(fn: Callable[[int], object], loops: int) -> tuple[float, float]:
    with gc_quiet():
        cpu = time.process_time_ns()
        start = time.perf_counter_ns()
        fn(loops)
        stop = time.perf_counter_ns()
        cpu_stop = time.process_time_ns()
    return (stop - start) / loops, (cpu_stop - cpu) / loops


def measure(fn: Callable[[int], object], *, loops: int, repeats: int, warmup: int) -> float:
    """Median time of one operation.

    :param fn: runs the operation ``n`` times when called as ``fn(n)``.
    :param loops: operations per repetition.
    :param repeats: timed repetitions.
    :param warmup: untimed repetitions first.
    :return: the median, in nanoseconds per operation.
    :raise ValueError: when ``loops`` or ``repeats`` is below 1.
    """
    if loops < 1 or repeats < 1:
        raise ValueError("loops and repeats must be at least 1")
    for _ in range(warmup):
        fn(loops)
    return statistics.median(_per_op_ns(fn, loops) for _ in range(repeats))


@dataclass(frozen=True)
class Pair:
    """A subject measured against a reference in the same run.

    :param subject_ns: median nanoseconds per operation of the subject.
    :param reference_ns: median nanoseconds per operation of the reference.
    :param ratio: median of the per-repetition ratios subject / reference (wall clock).
    :param cpu_ratio: the same ratio in process CPU time, a cross-check on a loaded machine
        (time spent waiting for a CPU is not counted).
    """

    subject_ns: float
    reference_ns: float
    ratio: float
    cpu_ratio: float


def measure_pair(
    subject: Callable[[int], object],
    reference: Callable[[int], object],
    *,
    loops: int,
    repeats: int,
    warmup: int,
    reference_loops: int | None = None,
) -> Pair:
    """Measure ``subject`` against ``reference``, alternating them.

    :param subject: runs the subject ``n`` times as ``subject(n)``.
    :param reference: runs the reference ``n`` times as ``reference(n)``.
    :param loops: subject operations per repetition.
    :param repeats: timed repetitions of each.
    :param warmup: untimed repetitions of each first.
    :param reference_loops: reference operations per repetition (default: ``loops``); a cheap
        reference may need more to rise above the clock's resolution.
    :return: both medians and the median ratio.
    :raise ValueError: when ``loops`` or ``repeats`` is below 1.
    """
    ref_loops = loops if reference_loops is None else reference_loops
    if loops < 1 or repeats < 1 or ref_loops < 1:
        raise ValueError("loops and repeats must be at least 1")
    for _ in range(warmup):
        subject(loops)
        reference(ref_loops)
    subj: list[tuple[float, float]] = []
    ref: list[tuple[float, float]] = []
    for _ in range(repeats):
        subj.append(_per_op_both(subject, loops))
        ref.append(_per_op_both(reference, ref_loops))

    def median_ratio(i: int) -> float:
        ratios = [s[i] / r[i] for s, r in zip(subj, ref, strict=True) if r[i] > 0]
        return statistics.median(ratios) if ratios else float("inf")

    return Pair(statistics.median(s[0] for s in subj), statistics.median(r[0] for r in ref), median_ratio(0),
                median_ratio(1))
