"""Figure 10: what each reduction of the bounded explorer saves (:mod:`migration.check.bounded`).

10a compares the naive enumeration (every program, every schedule, one run each) with state
hashing at the default bound on ``join-at-shutdown`` (the design with the fewest schedules: the
naive enumeration of ``qemu-10.0`` at K = 1 is 288,811 runs); 10b compares state hashing alone with
state hashing plus sleep sets (``por=True``) at the default bound on ``qemu-10.0``.  Both
measured alternately in the same run (the median of the per-repetition ratios); the notes give
runs, distinct states and the schedules each search stands for, which are exact counts.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, judged

__all__ = ["measure_reductions"]


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _pair(config: Config, subject: Any, reference: Any) -> tuple[float, float, float, Any, Any]:
    """Time ``subject`` and ``reference`` alternately; :return: (subject s, reference s, ratio, results)."""
    repeats = 3 if config.mode == "full" else 1
    subj, ref, ratios = [], [], []
    out_s = out_r = None
    for _ in range(repeats):
        t_r, out_r = _timed(reference)
        t_s, out_s = _timed(subject)
        subj.append(t_s)
        ref.append(t_r)
        ratios.append(t_s / t_r)
    return statistics.median(subj), statistics.median(ref), statistics.median(ratios), out_s, out_r


def measure_reductions(config: Config) -> list[Row]:
    """Figure 10.

    :param config: ``tiny`` mode uses bound 0 for both rows.
    :return: rows 10a and 10b.
    """
    try:
        from migration.check.bounded import DEFAULT_BOUND, explore_bounded
        from migration.check.registry import resolve
    except ImportError as exc:
        raise NotMeasured(f"the bounded explorer has not landed ({exc})") from None
    d = resolve("join-at-shutdown")
    k = 0 if config.mode == "tiny" else DEFAULT_BOUND
    t_h, t_n, ratio, hashed, naive = _pair(config, lambda: explore_bounded(d, k),
                                           lambda: explore_bounded(d, k, reduce=False))
    same = set(hashed.outcomes) == set(naive.outcomes) and list(hashed.violations) == list(naive.violations)
    rows = [judged(
        "10a", f"state hashing vs the naive enumeration, {d.name} at K = {k}", t_h, "s", target=None,
        reference="naive enumeration", reference_value=t_n, ratio=ratio,
        note=(f"naive: {naive.runs:,} runs; hashing: {hashed.runs:,} runs, {hashed.states:,} states; both "
              f"stand for {naive.paths:,} (program, schedule) pairs; same outcomes and violated properties: "
              f"{same}"))]
    d = resolve("qemu-10.0")
    t_p, t_h, ratio, por, hashed = _pair(config, lambda: explore_bounded(d, k, por=True),
                                         lambda: explore_bounded(d, k))
    same = set(por.outcomes) == set(hashed.outcomes) and list(por.violations) == list(hashed.violations)
    rows.append(judged(
        "10b", f"sleep sets on top of state hashing, {d.name} at K = {k}", t_p, "s", target=None,
        reference="state hashing alone", reference_value=t_h, ratio=ratio,
        note=(f"hashing: {hashed.runs:,} runs, {hashed.states:,} states, {hashed.paths:,} schedules stood "
              f"for; with sleep sets: {por.runs:,} runs, {por.states:,} states, {por.paths:,} schedules; "
              f"same outcomes and violated properties: {same}")))
    return rows
