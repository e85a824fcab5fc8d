"""The effects a model function is written with.

A model function (:mod:`migration.model.functions`) is a generator: each ``yield from`` of an
effect below is one atomic step, and between two steps any other actor may run.  The world ``w``
is passed in, as QEMU's globals are there in C; a model function touches it only through these
effects, so that what it does is what a trace shows.  Objects are named by their heap label
(``mig#1``), as a ``MigrationState *`` would be held in C.

========================  ==================================================================
effect                    QEMU
========================  ==================================================================
``load``, ``store``       ``qatomic_read``/``qatomic_rcu_read`` and stores of a global pointer
``read``, ``write``       a field access through ``s`` (a use after free when ``s`` was freed)
``lock``, ``unlock``      ``qemu_mutex_lock``/``unlock`` of a named lock (:func:`bql`,
                          :func:`pointer_mutex`, :func:`object_lock`)
``bql_unlock``/``lock``   ``bql_unlock()``/``bql_lock()`` on the main thread (a window)
``rcu_read_lock``/...     ``rcu_read_lock()``/``rcu_read_unlock()``
``call_rcu_unref``        ``call_rcu``: ``object_unref(s)`` on the RCU thread after a grace period
``ref``, ``unref``        ``object_ref``/``object_unref`` (the last unref finalizes, here)
``join``                  ``qemu_thread_join``: wait until that actor has finished
``step``                  a step with no effect but the trace (a comment that can be scheduled)
``qemu``                  a call of another QEMU function of the table (the design's entry)
``shutdown_done``         ``migration_shutdown()`` has dealt with the object (exit leaks count)
========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from typeguard import typeguard_ignore

from migration.model.functions import qemu
from migration.model.heap import HeapObj, Lock
from migration.model.helpers import ref, unref
from migration.model.runtime import Actor, Block, Pending, World

__all__ = [
    "bql",
    "bql_lock",
    "bql_unlock",
    "call_rcu_unref",
    "join",
    "load",
    "lock",
    "object_lock",
    "pointer_mutex",
    "qemu",
    "rcu_read_lock",
    "rcu_read_unlock",
    "read",
    "ref",
    "shutdown_done",
    "started",
    "step",
    "store",
    "unlock",
    "unref",
    "write",
]

Steps = Generator[Pending, None, None]


@typeguard_ignore
def _never() -> None:
    return None


@typeguard_ignore  # model code: at every step (mypy checks it)
def load(w: World, pointer: str) -> Generator[Pending, None, str | None]:
    """One step: load a global pointer (``current_migration``, ``global_migration``).

    :return: the label it points to, or ``None``.
    """
    return (yield from w.load(pointer))


@typeguard_ignore  # model code: at every step (mypy checks it)
def store(w: World, pointer: str, label: str | None, why: str = "") -> Steps:
    """One step: store ``label`` (``None``: NULL) into a global pointer."""
    yield Pending(f"store {pointer}", _never)
    w.store(pointer, label, why)


@typeguard_ignore  # model code: at every step (mypy checks it)
def read(w: World, s: str | None, what: str) -> Generator[Pending, None, HeapObj]:
    """One step: read field ``what`` through ``s``.

    :raise Crash: NULL_DEREF when ``s`` is ``None``, UAF when it was freed.
    """
    return (yield from w.read(s, what))


@typeguard_ignore  # model code: at every step (mypy checks it)
def write(w: World, s: str, what: str, fn: Callable[[HeapObj], None]) -> Steps:
    """One step: write through ``s`` (``fn`` changes the object's fields).

    :raise Crash: UAF when ``s`` was freed.
    """
    yield from w.write(s, what, fn)


@typeguard_ignore  # model code: at every step (mypy checks it)
def bql(w: World) -> Lock:
    """:return: the BQL."""
    return w.bql


@typeguard_ignore  # model code: at every step (mypy checks it)
def pointer_mutex(w: World) -> Lock:
    """:return: the designs' pointer mutex (``migration_ptr_mutex``)."""
    return w.ptr_mutex


@typeguard_ignore  # model code: at every step (mypy checks it)
def object_lock(w: World, s: str, name: str) -> Lock:
    """:param name: ``qemu_file_lock``, ``error_mutex`` or ``rp_sem``.
    :return: that lock of object ``s`` (destroyed by its finalize).
    """
    return w.heap[s].locks[name]


@typeguard_ignore  # model code: at every step (mypy checks it)
def lock(w: World, lk: Lock, obj: str = "") -> Steps:
    """Take ``lk``; blocks while another thread holds it.

    :raise Crash: UAF when finalize destroyed it.
    """
    yield from w.lock(lk, obj)


@typeguard_ignore  # model code: at every step (mypy checks it)
def unlock(w: World, lk: Lock, obj: str = "") -> Steps:
    """Release ``lk``."""
    yield from w.unlock(lk, obj)


@typeguard_ignore  # model code: at every step (mypy checks it)
def bql_unlock(w: World) -> Steps:
    """The main thread releases the BQL (other threads may take it until :func:`bql_lock`)."""
    yield from w.unlock(w.bql)


@typeguard_ignore  # model code: at every step (mypy checks it)
def bql_lock(w: World) -> Steps:
    """The main thread takes the BQL back; blocks while another thread holds it."""
    yield from w.lock(w.bql)


@typeguard_ignore  # model code: at every step (mypy checks it)
def rcu_read_lock(w: World) -> Steps:
    """Enter an RCU read section."""
    yield from w.rcu_read_lock()


@typeguard_ignore  # model code: at every step (mypy checks it)
def rcu_read_unlock(w: World) -> Steps:
    """Leave an RCU read section."""
    yield from w.rcu_read_unlock()


@typeguard_ignore  # model code: at every step (mypy checks it)
def call_rcu_unref(w: World, s: str) -> Steps:
    """One step: ``call_rcu`` of ``object_unref(s)``.

    The callback runs on the RCU thread (an actor named ``call_rcu``) once every reader that was
    inside a read section at this step has left it; readers that enter later do not delay it.  A
    callback that has not run when the process exits never runs.
    """
    yield Pending("call_rcu(object_unref)", _never)
    name = w.unique_name("call_rcu")
    w.rcu_waiting[name] = frozenset(w.rcu_readers)
    w.record("call_rcu(object_unref)", s, note=f"waits for {', '.join(sorted(w.rcu_readers)) or 'no reader'}")

    @typeguard_ignore
    def body(w: World, a: Actor) -> Steps:
        def grace() -> Block | None:
            left = w.rcu_waiting.get(a.name, frozenset())
            return Block(f"grace period: waits for {', '.join(sorted(left))}", min(left)) if left else None

        yield Pending("rcu: grace period over", grace)
        del w.rcu_waiting[a.name]
        w.record("rcu: grace period over", s)
        yield from unref(w, s)

    w.spawn(name, body)


@typeguard_ignore  # model code: at every step (mypy checks it)
def join(w: World, actor: str, what: str = "") -> Steps:
    """``qemu_thread_join``: wait until ``actor`` has finished (at once when it never started)."""
    yield from w.wait_for(actor, what or f"qemu_thread_join({actor})")


@typeguard_ignore  # model code: at every step (mypy checks it)
def started(w: World, actor: str) -> bool:
    """:param actor: an actor's base name (``T_mig``, ``call_rcu``...).
    :return: whether an actor of that name was created (a thread to join).
    """
    return any(a.name.partition("#")[0] == actor for a in w.actors)


@typeguard_ignore  # model code: at every step (mypy checks it)
def step(w: World, action: str, obj: str = "", note: str = "") -> Steps:
    """One step with no effect but the trace."""
    yield from w.step(action, obj, note)


@typeguard_ignore  # model code: at every step (mypy checks it)
def shutdown_done(w: World) -> None:
    """Say that ``migration_shutdown()`` has dealt with the object (no step): from here, an object not
    finalized by the end of ``qemu_cleanup()`` is an exit leak (``freed-by-exit``)."""
    w.shutdown = True

