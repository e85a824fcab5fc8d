"""The migration-object lifetime model, its checkers and its reports.

Three layers, imports pointing down only (``tests/test_layers.py`` reads the import graph):

* :mod:`migration.model`: the model: the heap, the scheduler and its actors, the events
  ("the C code"), programs and the spec's scenarios, the designs as knobs, the ``migration``
  QOM type and its class properties;
* :mod:`migration.check`: the checkers: exhaustive and Hypothesis exploration, the spec's
  properties, verdicts per cell, and the search for designs of the model's own;
* :mod:`migration.report`: what people read: ``qomsim check``, ``qomsim decide`` (MADR notes
  with evidence) and ``qomsim replay``.

A design of your own in a few lines (``qomsim designs qemu-10.0`` lists the knobs, their values and
what each means; every name a design file needs is importable from here)::

    >>> from migration import DESIGNS, PointerClear, check_cell, derive
    >>> mine = derive(DESIGNS["qemu-10.0"], "my-design", "clear the pointer in finalize if it is ours",
    ...               pointer_clear=PointerClear.FINALIZE_IF_SELF)
    >>> check_cell(mine, "no-null-deref").verdict in ("holds", "fails")
    True
"""

from __future__ import annotations

from migration.check.cell import (
    PROPERTIES,
    check_cell,
    load_counterexample,
    replay,
    run_scenario,
    save_counterexample,
)
from migration.model.designs import (
    ALL_HELPERS,
    DESIGNS,
    TAGS,
    Design,
    PointerClear,
    PointerSet,
    Protection,
    ThreadCleanup,
    ThreadRef,
    derive,
)
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.results import CellResult, Counterexample, RunResult
from migration.model.scenarios import SCENARIOS
from qom.universe import IntrospectionMode, SingletonPolicy

__all__ = [  # noqa: RUF022 -- ordered by importance, not alphabetically
    # designs: everything a design file needs (``qomsim designs NAME`` lists the knobs)
    "DESIGNS",
    "Design",
    "derive",
    "ALL_HELPERS",
    "TAGS",
    # the knobs' enums
    "PointerSet",
    "PointerClear",
    "Protection",
    "ThreadRef",
    "ThreadCleanup",
    "SingletonPolicy",
    "IntrospectionMode",
    # checking
    "check_cell",
    "run_scenario",
    "replay",
    "PROPERTIES",
    "SCENARIOS",
    # results
    "CellResult",
    "Counterexample",
    "RunResult",
    "Fault",
    "Outcome",
    "TraceStep",
    "save_counterexample",
    "load_counterexample",
]
