"""Run one program under one design and one schedule.

:func:`run_program` builds a fresh universe and world, runs the main thread's events
with the scheduler, and returns a :class:`~migration.model.results.RunResult`.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

from typeguard import typeguard_ignore

from migration.model.designs import Design
from migration.model.events import main_body
from migration.model.heap import MemState
from migration.model.outcomes import Fault, Outcome
from migration.model.program import Event, Program, program_to_json
from migration.model.qomtype import MigrationUniverse
from migration.model.results import RunResult
from migration.model.runtime import Actor, ChooseFn, Pending, World, replay_choices, run_world

__all__ = ["DEFAULT_MAX_STEPS", "UniversePool", "exit_leaks", "result_of", "run_program", "start_world"]

DEFAULT_MAX_STEPS = 300


class UniversePool:
    """Reusable :class:`~migration.model.qomtype.MigrationUniverse` objects, one idle per design.

    Explicit and owned by its caller (an exploration, a check), never global.
    """

    def __init__(self) -> None:
        self.idle: dict[Design, MigrationUniverse] = {}
        self.built = 0

    def __repr__(self) -> str:
        return f"UniversePool(idle={len(self.idle)}, built={self.built})"

    def acquire(self, design: Design) -> MigrationUniverse:
        """:param design: the design.
        :return: an idle universe for it, or a new one.
        """
        mu = self.idle.pop(design, None)
        if mu is None:
            self.built += 1
            mu = MigrationUniverse(design)
        return mu

    def release(self, mu: MigrationUniverse) -> None:
        """Reset ``mu`` and keep it if it is back to its baseline.

        :param mu: a universe acquired from this pool.
        """
        if mu.reset():
            self.idle[mu.design] = mu


def start_world(design: Design, program: Program, mu: MigrationUniverse | None = None, *,
                traced: bool = True) -> World:
    """:param design: the design.
    :param program: the events.
    :param mu: a universe to use (default: a new one).
    :param traced: keep the run's trace (:class:`~migration.model.runtime.World`).
    :return: a world with the main actor spawned, not yet run.
    """
    mu = mu or MigrationUniverse(design)
    world = World(design, mu.universe, traced=traced)
    mu.bind(world)
    world.spawn("main", main_body(program))
    return world


class DrivenRun(Protocol):
    """A run whose main thread picks its events as it goes (the checkers' bounded and sampled runs).

    ``program`` and ``schedule`` are filled while the world runs.
    """

    program: list[Event]
    schedule: list[int]

    def body(self, w: World, a: Actor) -> Generator[Pending, None, None]: ...

    def choose(self, step: int, enabled: list[Actor], w: World) -> int: ...

    def replayed(self, w: World) -> Actor | None:
        """:return: the actor of the next step when the run replays a step taken before (see
            :func:`~migration.model.runtime.run_world`), or ``None``."""


@typeguard_ignore  # called once per explored run; mypy checks it
def run_driven(design: Design, run: DrivenRun, pool: UniversePool, max_steps: int, *,
               traced: bool = True) -> RunResult:
    """Run ``run``'s main thread on a pooled universe of ``design``.

    :param design: the design.
    :param run: the main thread's body and the scheduler's choices.
    :param pool: where the universe comes from and goes back to.
    :param max_steps: the step bound.
    :param traced: keep the run's trace (``False``: the result's ``trace`` is empty, see
        :class:`~migration.model.runtime.World`).
    :return: the run's result, with the program and schedule it took.
    """
    mu = pool.acquire(design)
    try:
        world = World(design, mu.universe, traced=traced)
        mu.bind(world)
        world.spawn("main", run.body)
        run_world(world, run.choose, max_steps, run.replayed)
        return result_of(world, tuple(run.program), None, list(run.schedule))
    finally:
        pool.release(mu)


def exit_leaks(world: World) -> list[Fault]:
    """:param world: a world whose run is over.
    :return: one ``LEAK`` per migration object not finalized although the main thread ran
        ``migration_shutdown()`` and reached the end of ``qemu_cleanup()`` (empty when the run stopped
        earlier, a crash or a stall, or never shut down)."""
    main = world.actor_named("main")
    if main is None or not main.done or not world.shutdown:
        return []
    return [
        Fault(Outcome.LEAK, world.steps, "main", label,
              f"{label} is not finalized by the end of qemu_cleanup() (refcount {world.refcount(label)})")
        for label, h in sorted(world.heap.items())
        if h.mem is MemState.LIVE
    ]


def result_of(world: World, program: Program, scenario: str | None, schedule: list[int]) -> RunResult:
    """:return: the run's result; an object left alive at exit adds a ``LEAK`` fault."""
    leaks = exit_leaks(world)
    world.faults.extend(leaks)
    return RunResult(
        design=world.design.name,
        scenario=scenario,
        program=program_to_json(program),
        schedule=schedule,
        fault=world.faults[0] if world.faults else None,
        faults=list(world.faults),
        trace=list(world.trace),
        introspection=list(world.introspection),
        impure=list(world.impure),
        creation_faults=list(world.creation_faults),
        helper_faults=list(world.helper_faults),
        exit_leaks=leaks,
        tag=world.design.tag,
    )


def run_program(design: Design, program: Program, schedule: Sequence[int] = (), *,
                scenario: str | None = None, choose: ChooseFn | None = None,
                max_steps: int = DEFAULT_MAX_STEPS, pool: UniversePool | None = None,
                traced: bool = True) -> RunResult:
    """Run ``program`` under ``design`` following ``schedule``.

    :param design: the design.
    :param program: the events.
    :param schedule: scheduler choices (past its end: 0).
    :param scenario: the scenario id, for the result.
    :param choose: a chooser replacing ``schedule``.
    :param max_steps: the step bound (exceeding it is a HANG).
    :param pool: reuse universes from this pool (default: a fresh universe).
    :param traced: keep the trace (``False``: ``result.trace`` is empty; the faults are the same, with the
        same step numbers).
    :return: the result; ``result.schedule`` holds the choices actually made.
    """
    mu = pool.acquire(design) if pool is not None else MigrationUniverse(design)
    world = start_world(design, program, mu, traced=traced)
    base = choose or replay_choices(schedule)
    taken: list[int] = []

    @typeguard_ignore  # called at every step; mypy checks it
    def recording(step: int, enabled: list[object], w: World) -> int:
        c = base(step, enabled, w)  # type: ignore[arg-type]
        taken.append(c)
        return c

    try:
        run_world(world, recording, max_steps)  # type: ignore[arg-type]
        return result_of(world, program, scenario, taken)
    finally:
        if pool is not None:
            pool.release(mu)
