"""Running the matrix: every design against every property, every scenario replayed, then the chosen
options explored again at a larger bound (``qomsim decide --confirm``)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from migration.check.bounded import Bound
from migration.check.workers import ProgressFn
from migration.model.results import CellResult, ScenarioOutcomes
from migration.report import notes
from migration.report.progress import LongStep, Reporter
from migration.report.summary import cell_brief

__all__ = [
    "BoundedCheckFn", "CheckFn", "ScenarioFn", "StepFn", "confirm_chosen", "design_diffs", "run_matrix",
]


class CheckFn(Protocol):
    """The signature of :func:`migration.check.check_cell` as :func:`run_matrix` calls it."""

    def __call__(
        self,
        design: str,
        property_id: str,
        *,
        seed: int,
        exhaustive: bool,
        scenarios: Sequence[str] | None,
    ) -> CellResult:
        """:return: the cell's result."""
        ...


#: makes the display of a long step's progress, given its title
StepFn = Callable[[str], LongStep]

#: replays one scenario on one design: ``(design, scenario) -> outcome``
ScenarioFn = Callable[[str, str], ScenarioOutcomes]


class _BudgetSpent(Exception):
    """Raised inside :func:`run_matrix` when the time budget is spent; caught there."""


def run_matrix(
    designs: Sequence[str],
    properties: Sequence[str],
    scenarios: Sequence[str],
    *,
    seed: int,
    exhaustive: bool,
    budget_s: float | None = None,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
    check: CheckFn | None = None,
    scenario: ScenarioFn | None = None,
    all_scenarios: bool = True,
    bound: int | Bound | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    database: str | None = None,
    por: bool = False,
    confirm: Bound | None = None,
    chosen: Callable[[notes.Matrix], Sequence[str]] | None = None,
    say: Callable[[str], None] | None = None,
    step: StepFn | None = None,
) -> notes.Matrix:
    """Decide every cell and replay every scenario, design by design.

    :param designs: design ids.
    :param properties: property ids.
    :param scenarios: scenario ids: those replayed, and those enumerated for every cell.
    :param seed: the Hypothesis seed of every cell.
    :param exhaustive: whether to confirm exhaustively.
    :param budget_s: a time budget in seconds; cells not started before it is spent are left out of the
        matrix (reported as not reached), never guessed.
    :param reporter: receives progress.
    :param clock: a monotonic clock (injectable for tests).
    :param check: decides one cell (default: :func:`migration.check.check_cell`).
    :param scenario: enumerates one scenario's schedules and returns their outcomes (default:
        :func:`migration.check.cell.scenario_outcomes`, every schedule).
    :param all_scenarios: ``scenarios`` are all of the spec's (cells then enumerate the model's default
        set, every scenario); False restricts the enumeration to ``scenarios``.
    :param bound: with the default ``check``, also explore every program of up to this many events and every
        schedule, every design at once, before the cells (``None``: no bounded exploration).
    :param workers: local worker processes for the bounded exploration.
    :param scheduler: a Dask scheduler's address for the bounded exploration.
    :param database: Hypothesis's example database directory for the default ``check`` (``None``: none).
    :param por: the bounded exploration adds sleep sets to state hashing.
    :param confirm: with ``chosen`` and a bounded run, explore the options ``chosen`` picks again at this
        bound joined with ``bound`` (:func:`confirm_chosen`).
    :param chosen: the options the notes would choose from a matrix (one per question).
    :param say: receives a line before and after each of those explorations (they can take minutes).
    :param step: shows a long exploration's progress, given its title (``None``: nothing shown).
    :return: the matrix (``.complete`` is False when the budget ran out; ``.confirm_interrupted`` is True
        when a signal stopped the confirmation: the matrix is then the one at the run's bound).
    :raise KeyboardInterrupt: when interrupted before the matrix was complete.
    """
    deadline = None if budget_s is None else clock() + budget_s
    bound = bound if exhaustive else None  # sampling only: no enumeration of any kind
    check_is_bounded = check is None and bound is not None
    if check is None or scenario is None:
        from migration.check import cell as model

        if check is None:
            if bound is not None and (deadline is None or deadline - clock() > 0):
                from migration.check.workers import explore_designs

                title = f"decide: exploring {len(designs)} designs at bound {Bound.of(bound)}"
                with _shown(step, title) as show:
                    explore_designs([model.resolve_design(d) for d in designs], bound, workers=workers,
                                    scheduler=scheduler, por=por, progress=show)
            check = functools.partial(model.check_cell, bound=bound, workers=workers, scheduler=scheduler,
                                      database=database, por=por)
        scenario = scenario or model.scenario_outcomes

    cells: dict[tuple[str, str], CellResult] = {}
    scen: dict[tuple[str, str], ScenarioOutcomes] = {}
    if reporter is not None:
        reporter.start(designs, len(properties) + len(scenarios))
    try:
        for d in designs:
            for p in properties:
                if deadline is not None and deadline - clock() <= 0:
                    raise _BudgetSpent
                c = check(
                    d,
                    p,
                    seed=seed,
                    exhaustive=exhaustive,
                    scenarios=None if all_scenarios else tuple(scenarios),
                )
                cells[(d, p)] = c
                if reporter is not None:
                    reporter.done(d, p, cell_brief(c), c.verdict)
            for s in scenarios:
                if deadline is not None and deadline - clock() <= 0:
                    raise _BudgetSpent
                o = scenario(d, s)
                scen[(d, s)] = o
                if reporter is not None:
                    reporter.done(d, s, str(o), None)
    except _BudgetSpent:
        pass
    finally:
        if reporter is not None:
            reporter.stop()
    matrix = notes.Matrix(
        seed=seed,
        exhaustive=exhaustive,
        designs=tuple(designs),
        properties=tuple(properties),
        scenarios=tuple(scenarios),
        all_scenarios=all_scenarios,
        cells=cells,
        scenario_outcomes=scen,
        bound=Bound.of(bound).events if check_is_bounded and bound is not None else None,
        bound_spec=str(Bound.of(bound)) if check_is_bounded and bound is not None else None,
    )
    if not (check_is_bounded and bound is not None and confirm is not None and chosen is not None
            and matrix.complete):
        return matrix
    wider = functools.partial(check, seed=seed, exhaustive=exhaustive,
                              scenarios=None if all_scenarios else tuple(scenarios))

    def explore(d: str, bnd: Bound) -> None:
        from migration.check import cell as model
        from migration.check.workers import explore_designs

        with _shown(step, f"decide: exploring {d} again at {bnd}") as show:
            explore_designs([model.resolve_design(d)], bnd, workers=workers, scheduler=scheduler, por=por,
                            progress=show)

    larger = Bound.of(bound).union(confirm)
    try:
        return confirm_chosen(matrix, larger, chosen, lambda d, p, bnd: wider(d, p, bound=bnd),
                              deadline=deadline, clock=clock, say=say, explore=explore)
    except KeyboardInterrupt:  # the matrix at the run's bound is finished: keep it, marked as not confirmed
        return dataclasses.replace(matrix, confirm_spec=str(larger), confirm_interrupted=True)


@contextlib.contextmanager
def _shown(step: StepFn | None, title: str) -> Iterator[ProgressFn | None]:
    """:return: the progress callback of ``step``'s display for ``title`` (``None`` without one)."""
    if step is None:
        yield None
        return
    with step(title) as shown:
        yield shown.update


#: decides one cell at a bound: ``(design, property, bound) -> result``
BoundedCheckFn = Callable[[str, str, Bound], CellResult]


def confirm_chosen(
    matrix: notes.Matrix,
    bound: Bound,
    chosen: Callable[[notes.Matrix], Sequence[str]],
    check: BoundedCheckFn,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] | None = None,
    explore: Callable[[str, Bound], None] | None = None,
) -> notes.Matrix:
    """Explore the options the notes choose again at a larger bound, until every chosen option was.

    Each chosen option's cells are replaced by its results at ``bound`` (every property from one
    exploration).  When a property that held at the matrix's bound fails there, the option ranks lower
    and the notes may choose another: that one is explored in turn.  The other options keep their
    results at the matrix's bound.  ``bound`` holds every program the matrix's bound holds, so it can only
    add faults to them: none of them could rank above a chosen option there (the rule,
    :data:`migration.report.choose.CHOICE_RULE`, never ranks an option higher for a fault more).

    :param matrix: a complete matrix of a bounded run.
    :param bound: the larger bound (it must take in the matrix's).
    :param chosen: the options the notes would choose from a matrix.
    :param check: decides one cell at a bound.
    :param deadline: when the budget is spent (``clock`` time; ``None``: no budget); once it is, the
        matrix comes back with ``confirm_pending`` set.
    :param clock: a monotonic clock.
    :param say: receives a line before and after each exploration.
    :param explore: explores one option at ``bound`` before its cells are checked (with progress shown).
    :return: the matrix, with ``confirm_spec`` and ``confirmed`` set.
    """
    cells = dict(matrix.cells)
    done: list[str] = []
    spec = str(bound)
    while True:
        m = dataclasses.replace(matrix, cells=dict(cells), confirm_spec=spec, confirmed=tuple(done))
        todo = [d for d in dict.fromkeys(chosen(m)) if d not in done]
        if not todo:
            return m
        for d in todo:
            if deadline is not None and deadline - clock() <= 0:
                return dataclasses.replace(m, confirm_pending=True)
            if say is not None:
                say(f"decide: exploring {d}, a chosen option, again at {spec} ({bound.every()})")
            start = clock()
            before = [p for p in matrix.properties if cells[d, p].verdict == "holds"]
            if explore is not None:
                explore(d, bound)
            for p in matrix.properties:
                cells[d, p] = check(d, p, bound)
            now_fail = [p for p in before if cells[d, p].verdict == "fails"]
            if say is not None:
                c = cells[d, matrix.properties[0]]
                say(f"decide: {d} at {spec}: {c.programs:,} programs, {c.states:,} states, "
                    f"{clock() - start:.0f} s; " + ("every verdict the same" if not now_fail else
                                                   "now fails " + ", ".join(now_fail)))
            done.append(d)


def design_diffs(designs: Mapping[str, Any]) -> dict[str, list[str]]:
    """The knobs in which each design differs from :data:`migration.report.notes.BASELINE` (its cost).

    :param designs: ``id -> Design`` (anything with ``differs_from(other) -> list[str]``).
    :return: ``id -> knob names``; designs that cannot be compared are left out.
    """
    base = designs.get(notes.BASELINE)
    if base is None:
        return {}
    out: dict[str, list[str]] = {}
    for d, design in designs.items():
        differs = getattr(design, "differs_from", None)
        if callable(differs):
            out[d] = [str(k) for k in differs(base)]
    return out
