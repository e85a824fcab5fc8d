"""Checking designs against the spec's properties (§5).

:func:`check_cell` decides one (design, property) cell: first by enumerating every
schedule of every scenario (:func:`migration.check.explore.explore_scenario`), then by
Hypothesis sampling of random programs with a fixed seed.  A verdict of "holds" has
evidence ``"exhaustive"`` when every schedule of every scenario was covered; a
failure carries a counterexample that :func:`replay` (and ``qomsim replay``) re-runs.

Every verdict comes from running the model; nothing here knows what a design should do::

    >>> from migration.check.cell import check_cell
    >>> cell = check_cell("qemu-10.0", "single-instance", max_examples=0)
    >>> cell.verdict, cell.outcome.value, cell.counterexample.scenario
    ('fails', 'SECOND_INSTANCE', 'S12-discover-globals')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from migration.check.bounded import Bound, Bounded, normal
from migration.check.explore import explore_scenario, sample
from migration.check.properties import PROPERTY_CHECKS, violation
from migration.check.registry import design_from_knobs, resolve, resolve_preset, source_of
from migration.check.workers import bounded_result
from migration.model.designs import Design
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.program import Event, program_from_json
from migration.model.results import CellResult, Counterexample, RunResult, ScenarioOutcomes
from migration.model.run import run_program
from migration.model.scenarios import SCENARIOS
from qom.fileio import read_file, write_file

__all__ = [
    "MAX_COUNTEREXAMPLE_SIZE",
    "PROPERTIES",
    "CellResult",
    "Counterexample",
    "Fault",
    "Outcome",
    "RunResult",
    "TraceStep",
    "check_cell",
    "load_counterexample",
    "relevant_scenarios",
    "replay",
    "resolve_design",
    "run_scenario",
    "save_counterexample",
    "scenario_outcomes",
]

#: spec §5 property ids, in spec order
PROPERTIES: tuple[str, ...] = tuple(PROPERTY_CHECKS)

DEFAULT_MAX_EXAMPLES = 25
#: the largest counterexample file read (a run of 100,000 steps, the model's limit, is about 25 MB)
MAX_COUNTEREXAMPLE_SIZE = 64 << 20


def resolve_design(design: str | Design) -> Design:
    """:param design: a preset id, ``FILE.py:NAME``, ``module:NAME`` or a :class:`Design`
        (see :func:`migration.check.registry.resolve`).
    :return: the design.
    :raise KeyError: when nothing usable is named (the message is one line).
    """
    try:
        return resolve(design)
    except ValueError as exc:
        raise KeyError(str(exc)) from None


def relevant_scenarios(property_id: str) -> tuple[str, ...]:
    """Every property is a predicate over any run, so every scenario is relevant to it.

    :param property_id: a §5 id.
    :return: the scenario ids to enumerate, in spec order.
    :raise KeyError: when the property id is unknown.
    """
    if property_id not in PROPERTY_CHECKS:
        raise KeyError(f"unknown property '{property_id}'")
    return tuple(SCENARIOS)


def run_scenario(design: str | Design, scenario_id: str, schedule: Sequence[int] | None = None) -> RunResult:
    """Run one scenario under one schedule (default: always the oldest runnable actor).

    :param design: a design id or design.
    :param scenario_id: a §4 scenario id.
    :param schedule: scheduler choices.
    :return: the run.
    :raise KeyError: when the design or scenario is unknown.
    """
    d = resolve_design(design)
    return run_program(d, SCENARIOS[scenario_id], schedule or (), scenario=scenario_id)


def scenario_outcomes(design: str | Design, scenario_id: str) -> ScenarioOutcomes:
    """How every schedule of one scenario ends (never one schedule standing for the scenario).

    :param design: a design id or design.
    :param scenario_id: a §4 scenario id.
    :return: each outcome with its number of schedules, and a shortest witness schedule per fault.
    :raise KeyError: when the design or scenario is unknown.
    """
    ex = explore_scenario(resolve_design(design), scenario_id)
    return ScenarioOutcomes(dict(ex.counts), {o: tuple(w) for o, w in ex.witnesses.items()}, ex.complete)


def replay(cx: Counterexample) -> RunResult:
    """Re-run a counterexample's program and schedule.

    :param cx: the counterexample.
    :return: the run (compare ``violation(cx.property, run)`` with ``cx.fault``).
    :raise KeyError: when it carries no knobs and its design is not a preset (a file or a module a
        counterexample names is never loaded: data does not run code).
    :raise ValueError: when its knobs are malformed.
    """
    if cx.knobs is not None:
        d = design_from_knobs(cx.design, cx.description, cx.knobs)
    else:
        try:
            d = resolve_preset(cx.design)
        except ValueError as exc:
            raise KeyError(str(exc)) from None
    return run_program(d, program_from_json(cx.program), cx.schedule, scenario=cx.scenario)


def _counterexample(design: Design, property_id: str, r: RunResult, fault: Fault) -> Counterexample:
    source = source_of(design)
    return Counterexample(design.name, property_id, r.scenario, r.program, r.schedule, fault, r.trace,
                          knobs=design.knobs(), description=design.description,
                          source=None if source == design.name else source)


def check_cell(design: str | Design, property_id: str, *, seed: int = 0, exhaustive: bool = True,
               max_examples: int = DEFAULT_MAX_EXAMPLES, scenarios: Sequence[str] | None = None,
               bound: int | Bound | None = None, workers: int = 1,
               scheduler: str | None = None, database: str | None = None, por: bool = False) -> CellResult:
    """Decide one (design, property) cell by running the model.

    :param design: a design id or design.
    :param property_id: a §5 id.
    :param seed: Hypothesis's seed.
    :param exhaustive: enumerate every schedule of every relevant scenario first.
    :param max_examples: Hypothesis examples after the enumeration (0: none).
    :param scenarios: restrict the enumeration to these scenarios.
    :param bound: also explore every program of up to this many events (or inside this
        :class:`~migration.check.bounded.Bound`), every schedule (:mod:`migration.check.bounded`);
        ``None``: scenarios and sampling only.
    :param workers: local worker processes for the bounded exploration.
    :param scheduler: a Dask scheduler's address for the bounded exploration.
    :param database: Hypothesis's example database directory (``None``: none).
    :param por: the bounded exploration adds sleep sets to state hashing.
    :return: the cell.
    :raise KeyError: when the design or property is unknown.
    """
    d = resolve_design(design)
    ids = tuple(scenarios) if scenarios is not None else relevant_scenarios(property_id)
    explored = 0
    complete = exhaustive
    b = None if bound is None else bounded_result(d, bound, workers=workers, scheduler=scheduler, por=por)
    if exhaustive:
        best: tuple[int, int, str, list[int]] | None = None
        for sid in ids:
            ex = explore_scenario(d, sid)
            explored += ex.schedules if ex.complete else ex.runs
            complete = complete and ex.complete
            if property_id in ex.violations:
                sched, _f = ex.violations[property_id]
                rank = (len(SCENARIOS[sid]), len(sched), sid, sched)
                if best is None or rank[:2] < best[:2]:
                    best = rank
        if best is not None:
            sid, sched = best[2], best[3]
            r = run_scenario(d, sid, sched)
            f = violation(property_id, r)
            if f is None:  # the explorer and a replay disagree: a bug in the model, never hidden
                raise RuntimeError(f"{d.name}/{property_id}: {sid} schedule {sched} did not replay")
            return CellResult(d.name, property_id, "fails", "exhaustive", f.outcome,
                              _counterexample(d, property_id, r, f), explored, 0, *_bound_fields(b))
    if b is not None and property_id in b.violations:
        prog, sched, _f = b.violations[property_id]
        r = run_program(d, prog, sched, scenario=_scenario_named(prog))
        f = violation(property_id, r)
        if f is None:  # the explorer and a replay disagree: a bug in the model, never hidden
            raise RuntimeError(f"{d.name}/{property_id}: bounded witness {sched} did not replay")
        return CellResult(d.name, property_id, "fails", "bounded", f.outcome,
                          _counterexample(d, property_id, r, f), explored, 0, *_bound_fields(b))
    r_sampled, n = (None, 0) if max_examples <= 0 else sample(d, property_id, seed_value=seed,
                                                            max_examples=max_examples, database=database)
    if r_sampled is not None:
        f = violation(property_id, r_sampled)
        if f is not None:
            return CellResult(d.name, property_id, "fails", "sampled", f.outcome,
                              _counterexample(d, property_id, r_sampled, f), explored, n, *_bound_fields(b))
    evidence: Literal["exhaustive", "bounded", "sampled"] = "exhaustive" if complete else "sampled"
    if complete and b is not None and b.complete:
        evidence = "bounded"
    return CellResult(d.name, property_id, "holds", evidence, Outcome.OK, None, explored, n,
                      *_bound_fields(b))


def _bound_fields(b: Bounded | None) -> tuple[int | None, int, int, str | None]:
    return (None, 0, 0, None) if b is None else (b.bound, b.programs, b.states, b.spec)


def _scenario_named(program: Sequence[Event]) -> str | None:
    """:return: the §4 scenario whose program this is, if any (a named witness inside the bound)."""
    for sid, prog in SCENARIOS.items():
        if tuple(map(normal, program)) == tuple(map(normal, prog)):
            return sid
    return None


def save_counterexample(cx: Counterexample, path: str | Path) -> None:
    """Write a counterexample as JSON (through :func:`qom.fileio.write_file`).

    :param cx: the counterexample.
    :param path: the file: a new one, or a regular file that is replaced.
    :raise qom.fileio.FileRefused: when ``path`` is a link, a device, a FIFO, a folder, ...
    """
    write_file(path, (json.dumps(cx.to_json(), indent=2) + "\n").encode("utf-8"))


def load_counterexample(path: str | Path) -> Counterexample:
    """:param path: a file written by :func:`save_counterexample` (or ``qomsim check --json``).
    :return: the counterexample.
    :raise OSError: when the file cannot be read, is not a regular file, or is larger than
        :data:`MAX_COUNTEREXAMPLE_SIZE` bytes.
    :raise ValueError: when it is not valid JSON.
    :raise KeyError: when a field is missing.
    """
    data = json.loads(read_file(path, MAX_COUNTEREXAMPLE_SIZE).decode("utf-8"))
    if "counterexample" in data:
        data = data["counterexample"]
    return Counterexample.from_json(data)


