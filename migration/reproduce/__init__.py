"""The model's predictions against a real QEMU binary, under valgrind.

Layers inside: :mod:`~migration.reproduce.triggers` (what makes QEMU run each model event),
:mod:`~migration.reproduce.plan` (a program as a command line and QMP steps),
:mod:`~migration.reproduce.driver` (one run), :mod:`~migration.reproduce.valgrind` (the report, read),
:mod:`~migration.reproduce.run` (attempts and the classification).
"""

from migration.reproduce.plan import NotDrivable, Plan, Step, build_plan
from migration.reproduce.run import Expectation, Result, Status, binary_version, reproduce, reproduce_program
from migration.reproduce.triggers import TRIGGERS, Trigger, TriggerKind, trigger_of
from migration.reproduce.valgrind import ValgrindError, errors, matching

__all__ = [
    "TRIGGERS",
    "Expectation",
    "NotDrivable",
    "Plan",
    "Result",
    "Status",
    "Step",
    "Trigger",
    "TriggerKind",
    "ValgrindError",
    "binary_version",
    "build_plan",
    "errors",
    "matching",
    "reproduce",
    "reproduce_program",
    "trigger_of",
]
