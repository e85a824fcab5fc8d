"""The migration-object lifetime model (issue 4) and ``qomsim decide`` (issue 5).

Submodules, one concept each: :mod:`migration.model.options` (QEMU's 52 properties),
:mod:`migration.model.designs` (designs as knobs), :mod:`migration.model.scenarios` (spec §4
programs), :mod:`migration.model.runtime` (heap, locks, actors, scheduler),
:mod:`migration.check.properties` (spec §5 predicates), :mod:`migration.check.explore`
(exhaustive and Hypothesis exploration), :mod:`migration.check.cell` (verdicts).
"""

from __future__ import annotations

from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.results import CellResult, Counterexample, RunResult

__all__ = [
    "CellResult",
    "Counterexample",
    "Fault",
    "Outcome",
    "RunResult",
    "TraceStep",
]
