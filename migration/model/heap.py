"""The model heap: migration objects, their fields and their locks.

Every ``MigrationState`` the model creates gets a :class:`HeapObj` here, made by the
type's ``instance_init`` and retired by its ``instance_finalize``.  Touching freed memory,
or locking a lock that finalize destroyed, raises :class:`Crash` with a
:class:`~migration.model.outcomes.Fault`: nothing is silently allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from typeguard import typeguard_ignore

from migration.model.outcomes import Fault, Outcome

__all__ = ["Crash", "HeapObj", "Lock", "LockState", "MemState", "MigStatus"]


class Crash(BaseException):
    """The modelled QEMU process died (``abort``, ``g_assert``, SIGSEGV on freed memory).

    A ``BaseException`` so that it passes through QOM and QMP code that catches
    ``Exception``; the scheduler turns it into the run's fatal fault.
    """

    @typeguard_ignore
    def __init__(self, fault: Fault) -> None:
        super().__init__(str(fault))
        self.fault = fault


class MemState(Enum):
    """The memory of a heap object."""

    LIVE = "live"
    FINALIZED = "finalized"  #: finalize ran, memory kept until an RCU grace period ends
    FREED = "freed"


class LockState(Enum):
    """A QemuMutex/QemuSemaphore's lifecycle."""

    FREE = "free"
    HELD = "held"
    DESTROYED = "destroyed"


class MigStatus(Enum):
    """``MigrationStatus`` values the model uses."""

    NONE = "none"
    ACTIVE = "active"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


@dataclass
class Lock:
    """A lock: the BQL, the pointer mutex, or one of an object's mutexes."""

    name: str
    state: LockState = LockState.FREE
    owner: str | None = None

    @typeguard_ignore
    def __str__(self) -> str:
        who = f" by {self.owner}" if self.owner else ""
        return f"Lock({self.name}: {self.state.value}{who})"


#: the locks migration's instance_init creates (a subset of QEMU's, the ones the model uses)
OBJECT_LOCKS: tuple[str, ...] = ("qemu_file_lock", "error_mutex", "rp_sem")


@dataclass
class HeapObj:
    """One ``MigrationState`` in the model heap."""

    label: str
    mem: MemState = MemState.LIVE
    status: MigStatus = MigStatus.NONE
    to_dst_file: bool = False
    error: str | None = None
    thread: str | None = None
    #: ``s->capabilities[MIGRATION_CAPABILITY_DIRTY_LIMIT]`` (the ``dirty_limit`` event's ``cap=True``)
    dirty_limit: bool = False
    locks: dict[str, Lock] = field(default_factory=dict)

    @typeguard_ignore
    def __str__(self) -> str:
        return f"{self.label}<{self.mem.value},{self.status.value}>"

    @typeguard_ignore
    def key(self) -> tuple[object, ...]:
        """:return: a hashable summary of the object's state (for state hashing)."""
        return (self.label, self.mem, self.status, self.to_dst_file, self.error, self.thread,
                self.dirty_limit, tuple((n, lk.state, lk.owner) for n, lk in sorted(self.locks.items())))

    @typeguard_ignore
    def check_access(self, what: str, step: int, actor: str) -> None:
        """Check that reading or writing a field is allowed.

        :param what: the field, for the fault's detail.
        :param step: the current trace step.
        :param actor: who touches the object.
        :raise Crash: when the memory was freed.
        """
        if self.mem is MemState.FREED:
            raise Crash(Fault(Outcome.UAF, step, actor, self.label, f"{what} of freed {self.label}"))
