"""What the model predicts for a design, and paths it calls safe, as programs to drive.

:func:`predictions` runs every scenario of the spec under the design (every schedule) and returns one
:class:`Prediction` per scenario and fault: its shortest witness as a counterexample.  :data:`SAFE_PATHS`
are programs :func:`safe_paths` keeps only where the model finds no use-after-free in any schedule.
:func:`preset_for` names the preset that follows a binary's release.
"""

from __future__ import annotations

from dataclasses import dataclass

from migration.check.cell import resolve_design, run_scenario
from migration.check.explore import explore, explore_scenario
from migration.check.properties import violation
from migration.check.registry import all_designs
from migration.model.designs import Design
from migration.model.program import Program, ev
from migration.model.results import Counterexample
from migration.model.scenarios import SCENARIOS
from migration.reproduce.triggers import Version

__all__ = ["SAFE_PATHS", "Prediction", "predictions", "preset_for", "safe_paths"]

_INIT = ev("object_init")
_SHUT = ev("migration_shutdown")
_VM = ev("vm_shutdown", vm="running", vfio="none")
_MON = ev("monitor_cleanup")

#: paths the model calls safe for QEMU's releases (no use-after-free in any schedule), each with what it
#: stands for
SAFE_PATHS: dict[str, tuple[str, Program]] = {
    "query-migrate-then-quit": (
        "an in-band query-migrate answered, then quit",
        (_INIT, ev("query_migrate"), _SHUT, _VM, _MON)),
    "introspect-then-quit": (
        "qom-list-properties and device-list-properties of typename=migration answered, then quit",
        (_INIT, ev("introspect", command="qom-list-properties"),
         ev("introspect", command="device-list-properties"), _SHUT, _VM, _MON)),
    "migrate-blocked-peer-then-quit": (
        "a migration to a peer that never reads, cancelled by quit (migration_cancel shuts the socket)",
        (_INIT, ev("migrate", peer="blocked"), _SHUT, _VM, _MON)),
    "incoming-then-quit": (
        "migrate-incoming waiting for its peer, then quit (the incoming side's reference, from 10.0)",
        (_INIT, ev("migrate_incoming"), ev("poll"), _SHUT, _MON)),
    "blocker-at-start": (
        "a read-write vvfat node adds a migration blocker before migration_object_init(), then quit",
        (ev("add_blocker"), _INIT, _SHUT, _VM, _MON)),
}

#: the faults the model reports, by property, that are one prediction (a scenario's UAF breaks two)
_ORDER = ("no-use-after-free", "helpers-whole-lifecycle", "no-null-deref", "no-deadlock", "freed-by-exit",
          "single-instance", "introspection-works", "introspection-pure", "creation-paths-safe")


@dataclass(frozen=True)
class Prediction:
    """One thing the model says about a program.

    :ivar name: the scenario id, or the safe path's name.
    :ivar meaning: one line.
    :ivar program: the program.
    :ivar properties: the properties its fault breaks (empty for a safe path).
    :ivar counterexample: the shortest witness (``None`` for a safe path).
    :ivar model: what the model says, one line.
    """

    name: str
    meaning: str
    program: Program
    properties: tuple[str, ...] = ()
    counterexample: Counterexample | None = None
    model: str = ""


def predictions(design: str | Design) -> list[Prediction]:
    """:param design: a design.
    :return: one prediction per scenario and distinct fault outcome, in the spec's order.
    """
    from migration.model.scenarios import SCENARIO_TEXT

    d = resolve_design(design)
    out: list[Prediction] = []
    for sid in SCENARIOS:
        ex = explore_scenario(d, sid)
        by_outcome: dict[str, list[str]] = {}
        for prop in sorted(ex.violations, key=_ORDER.index):
            by_outcome.setdefault(ex.violations[prop][1].outcome.value, []).append(prop)
        for props in by_outcome.values():
            sched = ex.violations[props[0]][0]
            r = run_scenario(d, sid, sched)
            f = violation(props[0], r)
            if f is None:  # the explorer and a replay disagree: a bug in the model, never hidden
                raise RuntimeError(f"{d.name}/{sid}: schedule {sched} did not replay")
            cx = Counterexample(d.name, props[0], sid, r.program, r.schedule, f, r.trace, knobs=d.knobs(),
                                description=d.description)
            out.append(Prediction(sid, SCENARIO_TEXT[sid], SCENARIOS[sid], tuple(props), cx, str(f)))
    return out


def safe_paths(design: str | Design) -> list[Prediction]:
    """:param design: a design.
    :return: the :data:`SAFE_PATHS` where the model finds no use-after-free in any schedule.
    """
    d = resolve_design(design)
    out: list[Prediction] = []
    for name, (meaning, program) in SAFE_PATHS.items():
        ex = explore(d, program)
        if ex.complete and "no-use-after-free" not in ex.violations:
            out.append(Prediction(name, meaning, program,
                                  model=f"no use-after-free in any of {ex.schedules:,} schedules"))
    return out


def preset_for(version: Version) -> str | None:
    """:param version: a QEMU release.
    :return: the preset that follows it (``qemu-10.0`` for 10.0.2), or ``None``.
    """
    tag = f"{version[0]}.{version[1]}"
    for name, design in all_designs().items():
        if name.startswith("qemu-") and getattr(design, "tag", None) == tag:
            return name
    return None
