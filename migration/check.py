"""Checking designs against the spec's properties (§5).

This module is the face ``migration.decide`` uses: :data:`PROPERTIES`, the result
types (re-exported from :mod:`migration.results`), and the check functions.
"""

from __future__ import annotations

from migration.outcomes import Fault, Outcome, TraceStep
from migration.results import CellResult, Counterexample, RunResult

__all__ = [
    "PROPERTIES",
    "CellResult",
    "Counterexample",
    "Fault",
    "Outcome",
    "RunResult",
    "TraceStep",
]

#: spec §5 property ids, in spec order
PROPERTIES: tuple[str, ...] = (
    "single-instance",
    "introspection-works",
    "introspection-pure",
    "no-use-after-free",
    "no-null-deref",
    "helpers-whole-lifecycle",
    "no-deadlock",
    "creation-paths-safe",
)
