"""Figures 5 and 6: how fast the migration model finds counterexamples and exhausts schedules.

Figure 5 times :func:`migration.check.explore.sample` (Hypothesis with its default examples,
:data:`migration.check.sampling.DEFAULT_EXAMPLES`, generate, target and shrink phases, fixed seeds)
on every failing design x property cell.  A cell is failing when the exhaustive enumeration of the
spec's scenarios finds a violation (``check_cell(..., max_examples=0)``) or when sampling with seed 0
does.  The time counted is Hypothesis's whole search, shrinking included, until it returns the
shrunk counterexample; a seed that finds none counts as infinitely slow.  Targets (issue 13): the
worst cell within 5 s, the median cell within 0.5 s (row 5m), no cell missed.

Figure 6 times :func:`migration.check.explore.explore` (state-hashing enumeration) on every scenario,
bypassing ``explore_scenario``'s memo so each repetition really runs.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Status, Target, judged, not_measured

__all__ = ["CELL_TARGET", "EXHAUST_TARGET", "MEDIAN_CELL_TARGET", "measure_counterexamples",
           "measure_exploration"]

CELL_TARGET = Target(5, on_ratio=False, unit="s")
MEDIAN_CELL_TARGET = Target(0.5, on_ratio=False, unit="s")
EXHAUST_TARGET = Target(60, on_ratio=False, unit="s")


def _import_model() -> tuple[Any, Any, Any, Any]:
    try:
        from migration.check.cell import PROPERTIES, check_cell
        from migration.check.explore import explore, sample
        from migration.model.designs import DESIGNS
        from migration.model.scenarios import SCENARIOS
    except ImportError as exc:
        raise NotMeasured(f"the migration model has not landed ({exc})") from None
    return (PROPERTIES, DESIGNS, SCENARIOS, {"check_cell": check_cell, "explore": explore, "sample": sample})


class _Clock:
    def __init__(self, budget_s: float | None) -> None:
        self.deadline = None if budget_s is None else time.monotonic() + budget_s

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


@dataclass(frozen=True)
class _CellRun:
    seconds: float  # inf when no counterexample
    events: int
    choices: int


def _sample_cell(sample: Callable[..., Any], design: Any, prop: str, seed: int) -> _CellRun:
    start = time.perf_counter_ns()
    result, _examples = sample(design, prop, seed_value=seed)
    seconds = (time.perf_counter_ns() - start) / 1e9
    if result is None:
        return _CellRun(math.inf, 0, 0)
    return _CellRun(seconds, len(result.program), len(result.schedule))


def measure_counterexamples(config: Config) -> list[Row]:
    """Figure 5: time to the first (shrunk) counterexample, per failing cell.

    :param config: seeds per cell (``cell_repeats``), cell limit and budget.
    :return: a summary row, then one detail row per failing cell.
    """
    properties, designs, _scenarios, fns = _import_model()
    clock = _Clock(config.budget_s)
    details: list[Row] = []
    worst: tuple[float, str] | None = None
    medians: list[float] = []
    stopped = ""
    seeds = list(range(config.cell_repeats))
    cells = [(design_id, design, prop) for design_id, design in designs.items() for prop in properties]
    for design_id, design, prop in cells:
        if config.cells_limit is not None and len(details) >= config.cells_limit:
            stopped = f"{config.mode} mode: first {config.cells_limit} failing cells only"
            break
        if clock.expired():
            stopped = f"time budget used up after {len(details)} failing cells"
            break
        exhaustive = fns["check_cell"](design, prop, max_examples=0).verdict
        first = _sample_cell(fns["sample"], design, prop, seeds[0])
        if exhaustive != "fails" and math.isinf(first.seconds):
            continue
        runs = [first, *(_sample_cell(fns["sample"], design, prop, s) for s in seeds[1:])]
        med = statistics.median(r.seconds for r in runs)
        found = [r for r in runs if not math.isinf(r.seconds)]
        medians.append(med)
        cell = f"{design_id} × {prop}"
        if worst is None or med > worst[0]:
            worst = (med, cell)
        shrunk = (f"shrunk to {statistics.median(r.events for r in found):g} events and "
                  f"{statistics.median(r.choices for r in found):g} scheduler choices (median)"
                  if found else "no counterexample from Hypothesis")
        details.append(judged(
            f"5.{len(details) + 1}", cell, med, "s", target=CELL_TARGET,
            note=(f"found at {len(found)}/{len(runs)} seeds; {shrunk}; "
                  f"exhaustive enumeration: {exhaustive}")))
    if worst is None:
        return [not_measured("5", "time to first counterexample, every failing cell",
                             stopped or "no failing cell found", CELL_TARGET)]
    missed = [r for r in details if r.value is not None and math.isinf(r.value)]
    examples = _default_examples()
    summary = judged(
        "5", "time to first counterexample, worst failing cell", worst[0], "s", target=CELL_TARGET,
        note=(f"{len(details)} failing cells, {len(seeds)} seed(s) each, at most {examples} Hypothesis"
              f" examples with shrinking; worst: {worst[1]};"
              f" median over cells {statistics.median(medians):.3g} s;"
              f" {sum(1 for r in details if r.status is Status.MET)} cells within target,"
              f" {len(missed)} where Hypothesis found none at the median seed"
              f" ({sum(1 for r in missed if r.note.endswith('exhaustive enumeration: fails'))} of them"
              f" found by the exhaustive enumeration)"
              + (f"; {stopped}" if stopped else "")))
    median = judged(
        "5m", "time to first counterexample, median failing cell", statistics.median(medians), "s",
        target=MEDIAN_CELL_TARGET, note=f"median over the {len(details)} failing cells of each cell's median")
    return [summary, median, *(_as_detail(r) for r in details)]


def _default_examples() -> int:
    from migration.check.sampling import DEFAULT_EXAMPLES

    return DEFAULT_EXAMPLES


def _as_detail(row: Row) -> Row:
    return dataclasses.replace(row, detail=True)


def _proposed(designs: dict[str, Any]) -> tuple[Any, str] | None:
    try:
        from migration.check.search import proposed_designs
    except ImportError:
        return None
    found = list(proposed_designs())
    if not found:
        return None
    design = found[0]
    return design, str(design.name)


def _alternatives() -> list[tuple[Any, str]]:
    try:
        from migration.check.search import alternative_designs
    except ImportError:
        return []
    return [(d, str(d.name)) for d in alternative_designs()]


def _exhaust(explore: Callable[..., Any], design: Any, scenarios: dict[str, Any], ids: list[str],
             repeats: int) -> tuple[float, float, int, int, list[str]]:
    total = cpu_total = 0.0
    schedules = runs = 0
    incomplete: list[str] = []
    for sid in ids:
        times: list[float] = []
        cpu: list[float] = []
        ex: Any = None
        for _ in range(repeats):
            cpu_start = time.process_time_ns()
            start = time.perf_counter_ns()
            ex = explore(design, scenarios[sid])
            times.append((time.perf_counter_ns() - start) / 1e9)
            cpu.append((time.process_time_ns() - cpu_start) / 1e9)
        total += statistics.median(times)
        cpu_total += statistics.median(cpu)
        schedules += ex.schedules
        runs += ex.runs
        if not ex.complete:
            incomplete.append(sid)
    return total, cpu_total, schedules, runs, incomplete


def measure_exploration(config: Config) -> list[Row]:
    """Figure 6: exhaustive exploration speed, and time to exhaust every scenario.

    :param config: repetitions, scenario limit and budget.
    :return: rows 6a (proposed design: schedules per second), 6b (proposed design: time to
        exhaust every scenario), 6c.N (the same for each alternative proposal), 6d (every named
        design).
    """
    _properties, designs, scenarios, fns = _import_model()
    ids = list(scenarios)
    scope = ""
    if config.scenarios_limit is not None and config.scenarios_limit < len(ids):
        ids = ids[: config.scenarios_limit]
        scope = f"{config.mode} mode: first {len(ids)} of {len(scenarios)} scenarios only; "
    repeats = max(1, min(config.repeats, 5))
    rows: list[Row] = []
    proposed = _proposed(designs)
    if proposed is None:
        reason = "migration.check.search (the proposed design) has not landed"
        rows += [not_measured("6a", "exhaustive exploration speed, proposed design", reason),
                 not_measured("6b", "time to exhaust every scenario, proposed design", reason,
                              EXHAUST_TARGET)]
    else:
        design, name = proposed
        total, cpu, schedules, runs, incomplete = _exhaust(fns["explore"], design, scenarios, ids, repeats)
        tail = f"; run budget hit in {', '.join(incomplete)}" if incomplete else "; every scenario complete"
        rows.append(judged(
            "6a", f"exhaustive exploration speed, proposed design '{name}'", schedules / total, "schedules/s",
            target=None,
            note=(f"{scope}{schedules:,} distinct schedules covered by {runs:,} runs (state hashing) in"
                  f" {total:.3g} s: {runs / total:,.0f} runs/s; median of {repeats} per scenario{tail}")))
        rows.append(judged(
            "6b", f"time to exhaust every scenario, proposed design '{name}'", total, "s",
            target=EXHAUST_TARGET,
            note=(f"{scope}sum over {len(ids)} scenarios of the median of {repeats} runs"
                  f" ({cpu:.3g} s CPU)")))
    for i, (design, name) in enumerate(_alternatives(), 1):
        total, cpu, _s, _r, incomplete = _exhaust(fns["explore"], design, scenarios, ids, repeats)
        tail = f"; run budget hit in {', '.join(incomplete)}" if incomplete else ""
        rows.append(judged(
            f"6c.{i}", f"time to exhaust every scenario, alternative proposal '{name}'", total, "s",
            target=EXHAUST_TARGET,
            note=(f"{scope}sum over {len(ids)} scenarios of the median of {repeats} runs"
                  f" ({cpu:.3g} s CPU){tail}")))
    clock = _Clock(config.budget_s)
    total_all = 0.0
    sched_all = runs_all = 0
    done = 0
    for design in designs.values():
        if clock.expired():
            break
        t, _cpu, s, r, _inc = _exhaust(fns["explore"], design, scenarios, ids, 1)
        total_all, sched_all, runs_all, done = total_all + t, sched_all + s, runs_all + r, done + 1
    if done:
        rows.append(judged(
            "6d", f"exhaustive exploration speed, all {done} designs × {len(ids)} scenarios",
            sched_all / total_all, "schedules/s", target=None,
            note=(f"{scope}{sched_all:,} schedules by {runs_all:,} runs in {total_all:.3g} s"
                  f" ({runs_all / total_all:,.0f} runs/s), one run each")))
    return rows
