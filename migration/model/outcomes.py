"""Outcome vocabulary of a model run (spec ``migration-designs.md`` §6).

A run ends as :attr:`Outcome.OK` or with the first fault it hit.  Every fault names
the step, the actor and the object where it happened, so that a counterexample can
be replayed and read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Fault", "Outcome", "TraceStep"]


class Outcome(Enum):
    """How a run ended; ``.value`` is the spec's name."""

    OK = "OK"
    UAF = "UAF"
    NULL_DEREF = "NULL_DEREF"
    ASSERT = "ASSERT"
    DEADLOCK = "DEADLOCK"
    HANG = "HANG"
    STALE_ANSWER = "STALE_ANSWER"
    LOST_ERROR = "LOST_ERROR"
    SECOND_INSTANCE = "SECOND_INSTANCE"
    INTROSPECTION_REFUSED = "INTROSPECTION_REFUSED"
    PROPS_DIFFER = "PROPS_DIFFER"
    LEAK = "LEAK"


@dataclass(frozen=True)
class Fault:
    """One fault: what happened, at which trace step, on which actor and object."""

    outcome: Outcome
    step: int
    actor: str
    obj: str
    detail: str

    def __str__(self) -> str:
        return f"{self.outcome.value} at step {self.step} on {self.actor} ({self.obj}): {self.detail}"


@dataclass(slots=True, unsafe_hash=True)
class TraceStep:
    """One atomic step of a run, as recorded in its trace.

    Nothing changes a step once made, but the class is not frozen: the model makes one at every step,
    and a frozen dataclass takes four times as long to make (its ``__init__`` sets each field through
    ``object.__setattr__``).
    """

    index: int
    actor: str
    action: str
    obj: str
    refcount: int | None
    note: str
    function: str = ""  #: the QEMU function the step stands for at the design's tag (``file:function``)

    def __str__(self) -> str:
        ref = "-" if self.refcount is None else str(self.refcount)
        note = f"  # {self.note}" if self.note else ""
        fn = f"  [{self.function}]" if self.function else ""
        return f"{self.index:3d} {self.actor:<14} {self.action:<28} {self.obj:<10} ref={ref}{note}{fn}"
