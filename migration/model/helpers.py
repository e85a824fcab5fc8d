"""References, the internal accessor and the exported helpers: the model's shared "C code".

Every function here is a generator of atomic steps (see :mod:`migration.model.runtime`) and
follows the design's knobs; none of them knows a verdict.  QEMU names are kept
(``migrate_get_current``, ``migration_is_running``, ``migration_file_set_error``...,
``migration/migration.c`` and ``include/migration/misc.h`` at the design's tag).

:func:`call` brackets a QEMU function: the steps inside it are recorded with that
function's ``file:function`` at the design's tag (:mod:`migration.model.sources`).

Like :mod:`migration.model.runtime`, these run at every step, so typeguard skips them
(``@typeguard_ignore``); mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from typeguard import typeguard_ignore

from migration.model.alphabet import HELPER_NAMES
from migration.model.designs import EXPORTED_HELPERS, TAGS, PointerClear, Protection
from migration.model.functions import qemu, qemu_function, recorded
from migration.model.heap import Crash, HeapObj, MigStatus
from migration.model.outcomes import Outcome
from migration.model.runtime import Pending, World
from migration.model.sources import source
from qom.errors import QOMFatal
from qom.object import object_ref, object_unref
from qom.universe import use_universe

__all__ = [
    "HELPERS",
    "LAST_REFERENCE",
    "RUNNING",
    "T_MIG",
    "call",
    "exported_helper",
    "internal_call",
    "migrate_get_current",
    "null_caller",
    "outside_call",
    "qom_call",
    "ref",
    "unref",
]

T = TypeVar("T")


@typeguard_ignore
def _never() -> None:
    return None


@typeguard_ignore
def call(w: World, key: str, gen: Generator[Pending, None, T]) -> Generator[Pending, None, T]:
    """Run ``gen`` as the QEMU function ``key`` (its steps are recorded with that function).

    :param key: a :data:`~migration.model.sources.SOURCES` key or an exported helper's name.
    :param gen: the function's steps.
    :return: the steps (``gen`` itself in a world that keeps no trace); ``yield from`` them gives what
        ``gen`` returns.
    """
    return recorded(w, key, gen) if w.traced else gen


RUNNING = (MigStatus.ACTIVE, MigStatus.CANCELLING)
T_MIG = "T_mig"

#: every exported helper the model implements (a tag exports a subset: designs.EXPORTED_HELPERS)
HELPERS: tuple[str, ...] = HELPER_NAMES


# -- references ---------------------------------------------------------------------------------

#: the note of the ``object_unref`` step that drops the last reference (its actor then finalizes and frees)
LAST_REFERENCE = "last reference: finalize"



@typeguard_ignore
def ref(w: World, label: str) -> Generator[Pending, None, None]:
    """One step: ``object_ref(s)``.

    :raise Crash: UAF on a freed object, or one already being finalized.
    """
    yield Pending("object_ref", _never)
    w.record("object_ref", label, observed=w.qom[label].ref)
    h = w.heap[label]
    h.check_access("object_ref", w.steps - 1, w.actor.name)
    if label in w.finalizing or w.qom[label].ref == 0:
        raise Crash(w.fault(Outcome.UAF, label, "object_ref on an object whose refcount reached 0"))
    object_ref(w.qom[label])


@typeguard_ignore
def unref(w: World, label: str) -> Generator[Pending, None, None]:
    """``object_unref(s)``: one step, and if it was the last reference, finalize on this actor.

    Finalize takes the design's pointer lock (a blocking step) before clearing the pointer.

    :raise Crash: UAF on a freed object.
    """
    yield Pending("object_unref", _never)
    h = w.heap[label]
    qobj = w.qom[label]
    last = qobj.ref == 1
    w.record("object_unref", label, note=LAST_REFERENCE if last else "", observed=qobj.ref)
    h.check_access("object_unref", w.steps - 1, w.actor.name)
    if label in w.finalizing or qobj.ref == 0:
        raise Crash(w.fault(Outcome.UAF, label, "object_unref on an object whose refcount reached 0"))
    if not last:
        object_unref(qobj)
        return
    d = w.design
    w.finalizing.add(label)
    w.actor.funcs.append(source("instance_finalize", d.tag))
    clears = d.pointer_clear in (PointerClear.FINALIZE, PointerClear.FINALIZE_IF_SELF)
    took_bql = False
    if clears and d.protection is Protection.MUTEX:
        yield from w.lock(w.ptr_mutex, label)
    elif clears and d.protection is Protection.BQL:
        took_bql = yield from w.ensure_bql()
    yield Pending("finalize", _never)
    qom_call(w, lambda: object_unref(qobj))
    if clears and d.protection is Protection.MUTEX:
        yield from w.unlock(w.ptr_mutex)
    elif took_bql:
        yield from w.unlock(w.bql)
    w.actor.funcs.pop()


@typeguard_ignore
def qom_call(w: World, fn: Callable[[], Any]) -> Any:
    """Call into QOM; an abort in QOM (``QOMFatal``) is an ASSERT crash."""
    try:
        with use_universe(w.universe):
            return fn()
    except QOMFatal as exc:
        w.qom_dirty = True
        raise Crash(w.fault(Outcome.ASSERT, "migration", f"QOM: {exc.message}")) from None
    except Crash:
        w.qom_dirty = True
        raise


# -- accessors and helpers ----------------------------------------------------------------------


@typeguard_ignore
def migrate_get_current(w: World) -> Generator[Pending, None, str | None]:
    """``migrate_get_current()``, as the design has it (the table's entry).

    :return: the object's label, or ``None``.
    """
    s: str | None = yield from qemu(w, "migrate_get_current")
    return s


@qemu_function("migrate_get_current", "() -> str | None",
               "load current_migration; assert it is set unless the design's accessor may return NULL")
@typeguard_ignore
def _migrate_get_current(w: World) -> Generator[Pending, None, str | None]:
    """Internal accessor: load ``current_migration``; assert it is set.

    :raise Crash: NULL_DEREF when it is NULL and the design asserts.
    """
    s = yield from w.load("current_migration")
    if s is None and w.design.get_current_asserts:
        raise Crash(w.fault(Outcome.NULL_DEREF, "NULL",
                            "migrate_get_current: assertion 'current_migration' failed"))
    return s


@typeguard_ignore
def null_caller(w: World, caller: str) -> Generator[Pending, None, None]:
    """An internal caller found ``migrate_get_current()`` NULL: it checks (when the accessor does
    not assert), or it dereferences NULL."""
    if w.design.get_current_asserts:
        yield from w.read(None, f"{caller}: s->state")
    else:
        yield from w.step(f"{caller}: no migration object", note="NULL checked by the caller")


@typeguard_ignore
def _check_answer(w: World, helper: str, answer: bool, truth: bool) -> None:
    if answer != truth:
        w.note_fault(w.fault(Outcome.STALE_ANSWER, w.last_obj or "NULL",
                             f"{helper}() answered {answer}, but the truth is {truth}"))


@typeguard_ignore
def _truth(w: World, helper: str) -> bool:
    running = w.truth_running()
    if helper == "migration_is_running":
        return running
    if helper == "migration_is_idle":
        return not running
    if helper in ("migration_is_active", "migration_is_setup_or_active"):
        return running and w.real is not None and w.heap[w.real].status is MigStatus.ACTIVE
    if helper == "migration_is_device":
        return False  # the model has no DEVICE state
    if helper == "migration_thread_is_self":
        t = w.actor_named(T_MIG)
        return w.actor.name == T_MIG and t is not None and not t.done and running
    return False


@typeguard_ignore
def _answer(helper: str, h: HeapObj, me: str) -> bool:
    if helper == "migration_is_running":
        return h.status in RUNNING
    if helper == "migration_is_idle":
        return h.status not in RUNNING
    if helper in ("migration_is_active", "migration_is_setup_or_active"):
        return h.status is MigStatus.ACTIVE
    if helper == "migration_is_device":
        return False
    return h.thread == me


@typeguard_ignore
def _work(w: World, helper: str, s: str) -> Generator[Pending, None, None]:
    """The helper's work on a non-NULL ``s`` (an exported wrapper or an ``*_internal(s)``)."""
    if helper == "migration_file_set_error":
        h = w.heap[s]
        yield from w.lock(h.locks["qemu_file_lock"], s)
        h2 = yield from w.read(s, "to_dst_file")
        if h2.to_dst_file:
            h2.error = "error from outside migration"
        elif w.truth_has_file():
            w.note_fault(w.fault(Outcome.LOST_ERROR, s, "error set on an instance without the live file"))
        yield from w.unlock(h.locks["qemu_file_lock"], s)
        return
    h = yield from w.read(s, "state" if helper != "migration_thread_is_self" else "thread")
    # the truth at the very step the helper reads its answer
    _check_answer(w, helper, _answer(helper, h, w.actor.name), _truth(w, helper))


@typeguard_ignore
def outside_call(w: World, helper: str) -> Generator[Pending, None, None]:
    """Code outside ``migration/`` calls ``helper``: only if the design's tag exports it.

    :param helper: its name (one of :data:`HELPERS`).
    """
    if helper not in EXPORTED_HELPERS[w.design.tag]:
        yield from w.step(f"{helper}: not exported at {TAGS[w.design.tag]}",
                          note="include/migration/misc.h has no such function: no caller outside migration/")
        return
    yield from exported_helper(w, helper)


@typeguard_ignore
def exported_helper(w: World, helper: str, needs_bql: bool = False) -> Generator[Pending, None, None]:
    """An exported ``misc.h`` helper, as the design implements it.

    :param helper: its name (one of :data:`HELPERS`).
    :param needs_bql: the work also takes the BQL (a notifier), inside any protection.
    :raise Crash: on a NULL dereference or a use after free.
    """
    yield from qemu(w, helper, needs_bql)


@typeguard_ignore
def _exported_helper(w: World, helper: str, needs_bql: bool) -> Generator[Pending, None, None]:
    d = w.design
    a = w.actor
    a.context.append("helper")
    pointer = "global_migration" if d.export_pointer else "current_migration"
    took_bql = False
    if d.protection is Protection.MUTEX:
        yield from w.lock(w.ptr_mutex)
    elif d.protection is Protection.BQL:
        took_bql = yield from w.ensure_bql()
    elif d.protection is Protection.RCU:
        yield from w.rcu_read_lock()
    s = yield from w.load(pointer)
    if s is None:
        if helper not in d.null_checks:
            yield from w.read(None, f"{helper}: s->state")
        if helper == "migration_file_set_error":
            if w.truth_has_file():
                w.note_fault(w.fault(Outcome.LOST_ERROR, w.real or "NULL",
                                     f"migration_file_set_error: {pointer} is NULL, the error is dropped"))
        else:
            _check_answer(w, helper, helper == "migration_is_idle", _truth(w, helper))
    else:
        if d.helper_takes_ref:
            yield from ref(w, s)
        yield from _work_and_notify(w, helper, s, needs_bql)
        if d.helper_takes_ref:
            yield from unref(w, s)
    if d.protection is Protection.MUTEX:
        yield from w.unlock(w.ptr_mutex)
    elif took_bql:
        yield from w.unlock(w.bql)
    elif d.protection is Protection.RCU:
        yield from w.rcu_read_unlock()
    a.context.pop()


def _register_helper(helper: str) -> None:
    @typeguard_ignore
    def default(w: World, needs_bql: bool = False) -> Generator[Pending, None, None]:
        yield from _exported_helper(w, helper, needs_bql)

    default.__name__ = default.__qualname__ = f"{helper}_default"
    qemu_function(helper, "(needs_bql: bool = False) -> None",
                  "the exported helper: load the design's pointer under its protection, then read the "
                  "object (needs_bql: a notifier under the BQL follows)")(default)


for _helper in HELPER_NAMES:
    _register_helper(_helper)


@typeguard_ignore
def _work_and_notify(w: World, helper: str, s: str, needs_bql: bool) -> Generator[Pending, None, None]:
    """The helper's work on ``s``, then, if it has one, its notifier under the BQL."""
    yield from _work(w, helper, s)
    if needs_bql:
        took = yield from w.ensure_bql()
        yield from w.step("notify under the BQL", s)
        if took:
            yield from w.unlock(w.bql)


@typeguard_ignore
def internal_call(w: World, helper: str, s: str, needs_bql: bool = False) -> Generator[Pending, None, None]:
    """Internal code's call of a helper: the exported wrapper, or ``*_internal(s)`` if split."""
    if not w.design.exports_split:
        yield from exported_helper(w, helper, needs_bql)
        return
    w.actor.context.append("helper")
    w.actor.funcs.append(source(helper, w.design.tag))
    yield from w.step(f"{helper}_internal(s)", s)
    yield from _work_and_notify(w, helper, s, needs_bql)
    w.actor.funcs.pop()
    w.actor.context.pop()


