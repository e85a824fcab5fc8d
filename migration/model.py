"""Run one program under one design and one schedule.

:func:`run_program` builds a fresh universe and world, runs the main thread's events
with the scheduler, and returns a :class:`~migration.results.RunResult`.
"""

from __future__ import annotations

from collections.abc import Sequence

from migration.designs import Design
from migration.events import main_body
from migration.program import Program, program_to_json
from migration.qomtype import new_universe, register_migration
from migration.results import RunResult
from migration.runtime import ChooseFn, World, replay_choices, run_world

__all__ = ["DEFAULT_MAX_STEPS", "run_program", "start_world"]

DEFAULT_MAX_STEPS = 300


def start_world(design: Design, program: Program) -> World:
    """:param design: the design.
    :param program: the events.
    :return: a fresh world with the main actor spawned, not yet run.
    """
    world = World(design, new_universe(design))
    register_migration(world)
    world.spawn("main", main_body(program))
    return world


def result_of(world: World, program: Program, scenario: str | None, schedule: list[int]) -> RunResult:
    """:return: the run's result."""
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
    )


def run_program(design: Design, program: Program, schedule: Sequence[int] = (), *,
                scenario: str | None = None, choose: ChooseFn | None = None,
                max_steps: int = DEFAULT_MAX_STEPS) -> RunResult:
    """Run ``program`` under ``design`` following ``schedule``.

    :param design: the design.
    :param program: the events.
    :param schedule: scheduler choices (past its end: 0).
    :param scenario: the scenario id, for the result.
    :param choose: a chooser replacing ``schedule``.
    :param max_steps: the step bound (exceeding it is a HANG).
    :return: the result; ``result.schedule`` holds the choices actually made.
    """
    world = start_world(design, program)
    base = choose or replay_choices(schedule)
    taken: list[int] = []

    def recording(step: int, enabled: list[object], w: World) -> int:
        c = base(step, enabled, w)  # type: ignore[arg-type]
        taken.append(c)
        return c

    run_world(world, recording, max_steps)  # type: ignore[arg-type]
    return result_of(world, program, scenario, taken)
