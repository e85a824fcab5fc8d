"""The migration-object lifetime model (issue 4) and ``qomsim decide`` (issue 5).

Submodules, one concept each: :mod:`migration.options` (QEMU's 52 properties),
:mod:`migration.designs` (designs as knobs), :mod:`migration.scenarios` (spec §4
programs), :mod:`migration.runtime` (heap, locks, actors, scheduler),
:mod:`migration.properties` (spec §5 predicates), :mod:`migration.explore`
(exhaustive and Hypothesis exploration), :mod:`migration.check` (verdicts).
"""

from __future__ import annotations

from migration.outcomes import Fault, Outcome, TraceStep
from migration.results import CellResult, Counterexample, RunResult

__all__ = [
    "CellResult",
    "Counterexample",
    "Fault",
    "Outcome",
    "RunResult",
    "TraceStep",
]
