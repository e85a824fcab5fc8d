"""What each lifecycle event, helper and thread does: the model's "C code".

Every function here is a generator of atomic steps (see :mod:`migration.model.runtime`) and
follows the design's knobs; none of them knows a verdict.  QEMU names are kept:
``migration_object_init``, ``migrate_get_current``, ``migration_shutdown``,
``migration_is_running``, ``migration_file_set_error`` ... (``migration/migration.c``,
``include/migration/misc.h``, ``system/runstate.c``).

Like :mod:`migration.model.runtime`, these run at every step, so typeguard skips them
(``@typeguard_ignore``); mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from typeguard import typeguard_ignore

from migration.model.designs import PointerClear, PointerSet, Protection, ThreadRef
from migration.model.heap import Crash, HeapObj, LockState, MigStatus
from migration.model.outcomes import Fault, Outcome
from migration.model.program import Event, Program
from migration.model.results import IntrospectionRecord
from migration.model.runtime import Actor, Block, Pending, World
from qom.errors import QOMError, QOMFatal
from qom.object import object_new, object_ref, object_unref
from qom.qmp import execute
from qom.universe import use_universe

__all__ = ["HELPERS", "exported_helper", "internal_call", "main_body", "migrate_get_current", "run_event"]

RUNNING = (MigStatus.ACTIVE, MigStatus.CANCELLING)
T_MIG = "T_mig"


@typeguard_ignore
def _never() -> None:
    return None


# -- references ---------------------------------------------------------------------------------


@typeguard_ignore
def ref(w: World, label: str) -> Generator[Pending, None, None]:
    """One step: ``object_ref(s)``.

    :raise Crash: UAF on a freed object, or one already being finalized.
    """
    yield Pending("object_ref", _never)
    w.record("object_ref", label, observed=w.qom[label].ref)
    h = w.heap[label]
    h.check_access("object_ref", len(w.trace) - 1, w.actor.name)
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
    w.record("object_unref", label, note="last reference: finalize" if last else "", observed=qobj.ref)
    h.check_access("object_unref", len(w.trace) - 1, w.actor.name)
    if label in w.finalizing or qobj.ref == 0:
        raise Crash(w.fault(Outcome.UAF, label, "object_unref on an object whose refcount reached 0"))
    if not last:
        object_unref(qobj)
        return
    d = w.design
    w.finalizing.add(label)
    clears = d.pointer_clear in (PointerClear.FINALIZE, PointerClear.FINALIZE_IF_SELF)
    took_bql = False
    if clears and d.protection is Protection.MUTEX:
        yield from w.lock(w.ptr_mutex, label)
    elif clears and d.protection is Protection.BQL:
        took_bql = yield from w.ensure_bql()
    yield Pending("finalize", _never)
    _qom_call(w, lambda: object_unref(qobj))
    if clears and d.protection is Protection.MUTEX:
        yield from w.unlock(w.ptr_mutex)
    elif took_bql:
        yield from w.unlock(w.bql)


@typeguard_ignore
def _qom_call(w: World, fn: Callable[[], Any]) -> Any:
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
    """Internal accessor: load ``current_migration``; assert it is set.

    :raise Crash: NULL_DEREF when it is NULL and the design asserts.
    """
    s = yield from w.load("current_migration")
    if s is None and w.design.get_current_asserts:
        raise Crash(w.fault(Outcome.NULL_DEREF, "NULL",
                            "migrate_get_current: assertion 'current_migration' failed"))
    return s


@typeguard_ignore
def _check_answer(w: World, helper: str, answer: bool, truth: bool) -> None:
    if answer != truth:
        w.note_fault(w.fault(Outcome.STALE_ANSWER, w.trace[-1].obj or "NULL",
                             f"{helper}() answered {answer}, but the truth is {truth}"))


@typeguard_ignore
def _truth(w: World, helper: str) -> bool:
    running = w.truth_running()
    if helper == "migration_is_running":
        return running
    if helper == "migration_is_idle":
        return not running
    if helper == "migration_is_active":
        return running and w.real is not None and w.heap[w.real].status is MigStatus.ACTIVE
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
    if helper == "migration_is_active":
        return h.status is MigStatus.ACTIVE
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
def exported_helper(w: World, helper: str, needs_bql: bool = False) -> Generator[Pending, None, None]:
    """An exported ``misc.h`` helper, as the design implements it.

    :param helper: its name (one of :data:`HELPERS`).
    :param needs_bql: the work also takes the BQL (a notifier), inside any protection.
    :raise Crash: on a NULL dereference or a use after free.
    """
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
        yield from _work(w, helper, s)
        if needs_bql:
            took = yield from w.ensure_bql()
            yield from w.step("notify under the BQL", s)
            if took:
                yield from w.unlock(w.bql)
        if d.helper_takes_ref:
            yield from unref(w, s)
    if d.protection is Protection.MUTEX:
        yield from w.unlock(w.ptr_mutex)
    elif took_bql:
        yield from w.unlock(w.bql)
    elif d.protection is Protection.RCU:
        yield from w.rcu_read_unlock()
    a.context.pop()


@typeguard_ignore
def internal_call(w: World, helper: str, s: str, needs_bql: bool = False) -> Generator[Pending, None, None]:
    """Internal code's call of a helper: the exported wrapper, or ``*_internal(s)`` if split."""
    if not w.design.exports_split:
        yield from exported_helper(w, helper, needs_bql)
        return
    w.actor.context.append("helper")
    yield from w.step(f"{helper}_internal(s)", s)
    yield from _work(w, helper, s)
    if needs_bql:
        took = yield from w.ensure_bql()
        yield from w.step("notify under the BQL", s)
        if took:
            yield from w.unlock(w.bql)
    w.actor.context.pop()


HELPERS: tuple[str, ...] = (
    "migration_is_running",
    "migration_is_idle",
    "migration_is_active",
    "migration_file_set_error",
    "migration_thread_is_self",
)


# -- threads, bottom halves, coroutines ---------------------------------------------------------


@typeguard_ignore
def _finish(h: HeapObj) -> None:
    h.status = MigStatus.CANCELLED if h.status is MigStatus.CANCELLING else MigStatus.COMPLETED
    h.to_dst_file = False


@typeguard_ignore
def _bh_body(s: str, helper: str | None,
             holds_ref: bool) -> Callable[[World, Actor], Generator[Pending, None, None]]:
    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        yield from w.ml_enter("bh: migration_cleanup_bh")
        if helper:
            yield from internal_call(w, helper, s)
        yield from w.write(s, "cleanup: state, to_dst_file", _finish)
        if holds_ref:
            yield from unref(w, s)

    return body


@typeguard_ignore
def _thread_body(s: str, e: Event) -> Callable[[World, Actor], Generator[Pending, None, None]]:
    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        d = w.design
        if d.thread_ref is ThreadRef.IN_THREAD:
            yield from ref(w, s)
        if e.get("peer", "ok") == "blocked":
            yield from w.block_on_peer("qemu_put_buffer to an unresponsive peer")
        yield from w.read(s, "state")
        helper = e.get("thread_helper")
        if isinstance(helper, str):
            yield from internal_call(w, helper, s, bool(e.get("helper_needs_bql", False)))
        if e.get("cleanup", "inline") == "bh":
            yield from w.step("migration_bh_schedule(migration_cleanup_bh)", s)
            if d.bh_ref:
                yield from ref(w, s)
            bh_helper = e.get("bh_helper")
            w.spawn("bh:cleanup", _bh_body(s, bh_helper if isinstance(bh_helper, str) else None, d.bh_ref),
                    main_loop=True)
        else:
            yield from w.write(s, "cleanup: state, to_dst_file", _finish)
        yield from unref(w, s)

    return body


@typeguard_ignore
def _null_caller(w: World, caller: str) -> Generator[Pending, None, None]:
    """An internal caller found ``migrate_get_current()`` NULL: it checks (when the accessor does
    not assert), or it dereferences NULL."""
    if w.design.get_current_asserts:
        yield from w.read(None, f"{caller}: s->state")
    else:
        yield from w.step(f"{caller}: no migration object", note="NULL checked by the caller")


@typeguard_ignore
def _incoming_body(w: World, a: Actor) -> Generator[Pending, None, None]:
    d = w.design
    yield from w.ml_enter("co: process_incoming_migration_co")
    s = yield from migrate_get_current(w)
    w.ml_exit()
    yield from w.ml_enter("co: resumed, load failed")
    if s is not None:
        h = w.heap[s]
        yield from w.lock(h.locks["error_mutex"], s)
        yield from w.write(s, "migrate_set_error", lambda h: setattr(h, "error", "load failed"))
        yield from w.unlock(h.locks["error_mutex"], s)
        if d.incoming_ref:
            yield from unref(w, s)


# -- the main thread ----------------------------------------------------------------------------


@typeguard_ignore
def _phase(w: World) -> str:
    if w.real is None:
        return "before-init"
    return "after-shutdown" if w.shutdown else "running"


@typeguard_ignore
def _world_view(w: World) -> tuple[object, ...]:
    snap = w.universe.snapshot()
    real = w.real
    return (snap.tree, snap.live, snap.globals, tuple(sorted(w.pointers.items())),
            None if real is None else (real, w.refcount(real)))


@typeguard_ignore
def _introspect(w: World, command: str, label: str) -> Generator[Pending, None, None]:
    yield Pending(label, _never)
    a = w.actor
    a.context.extend(("creation", "introspection"))
    before = _world_view(w)
    w.record(label, "migration", note=f"{command} typename=migration")
    phase = _phase(w)
    resp = _qom_call(w, lambda: execute(command, {"typename": "migration"}, universe=w.universe))
    after = _world_view(w)
    idx = len(w.trace) - 1
    if "return" in resp:
        props = tuple(sorted((str(p["name"]), str(p["type"]), repr(p.get("default-value")))
                             for p in resp["return"]))
        w.introspection.append(IntrospectionRecord(command, phase, True, props, "", idx))
    else:
        err = resp["error"]
        desc = str(err["desc"]) if isinstance(err, dict) else str(err)
        w.introspection.append(IntrospectionRecord(command, phase, False, (), desc, idx))
        w.note_fault(w.fault(Outcome.INTROSPECTION_REFUSED, "migration", f"{label}: {desc}"))
    if before != after:
        w.impure.append(_impurity(w, before, after, label))
    a.context.remove("creation")
    a.context.remove("introspection")


@typeguard_ignore
def _impurity(w: World, before: tuple[Any, ...], after: tuple[Any, ...], label: str) -> Fault:
    """Introspection changed the world: report it as a LEAK (what it lost or kept) with the details."""
    changes = [name for name, x, y in zip(("QOM tree", "live counts", "-global list", "pointers", "refcount"),
                                          before, after, strict=True) if x != y]
    real = w.real
    lost = real is not None and w.pointers["current_migration"] != real
    detail = f"{label} changed {', '.join(changes)}"
    if lost:
        detail += "; the live object is unreachable through current_migration"
    return w.fault(Outcome.LEAK, real or "migration", detail)


@typeguard_ignore
def _create(w: World, path: str) -> Generator[Pending, None, None]:
    yield Pending(f"create via {path}", _never)
    a = w.actor
    a.context.append("creation")
    w.record(f"create via {path}", "migration")
    if path == "object_new":
        try:
            obj = _qom_call(w, lambda: object_new("migration"))
        except QOMError as exc:
            w.record("object_new failed", "migration", note=exc.desc)
            obj = None
        if obj is not None:
            label = w.label_of[id(obj)]
            a.context.remove("creation")
            yield from unref(w, label)
            return
    elif path == "object-add":
        resp = _qom_call(w, lambda: execute("object-add", {"qom-type": "migration", "id": "mig1"},
                                            universe=w.universe))
        w.record("object-add answered", "migration", note=str(resp.get("error", {}).get("desc", "ok")))
    elif path == "device_add":
        resp = _qom_call(w, lambda: execute("device_add", {"driver": "migration"}, universe=w.universe))
        w.record("device_add answered", "migration", note=str(resp.get("error", {}).get("desc", "ok")))
    a.context.remove("creation")


@typeguard_ignore
def _object_init(w: World) -> Generator[Pending, None, None]:
    d = w.design
    yield Pending("migration_object_init", _never)
    a = w.actor
    a.context.append("creation")
    w.record("migration_object_init")
    if d.pointer_set is PointerSet.OBJECT_INIT and w.pointers["current_migration"] is not None:
        raise Crash(w.fault(Outcome.ASSERT, str(w.pointers["current_migration"]),
                            "migration_object_init: assertion '!current_migration' failed"))
    obj = _qom_call(w, lambda: object_new("migration"))
    label = w.label_of[id(obj)]
    w.real = label
    if d.pointer_set is PointerSet.OBJECT_INIT:
        w.store("current_migration", label, "migration_object_init")
    elif w.pointers["current_migration"] != label:
        raise Crash(w.fault(Outcome.ASSERT, label,
                            "migration_object_init: assertion 'current_migration' failed"))
    if d.export_pointer:
        w.store("global_migration", label, "migration_object_init")
    a.context.remove("creation")


@typeguard_ignore
def _migrate(w: World, e: Event) -> Generator[Pending, None, None]:
    d = w.design
    if w.spawned_thread:
        yield from w.step("migrate", note="Error: There's a migration process in progress")
        return
    s = yield from migrate_get_current(w)
    if s is None:
        yield from _null_caller(w, "migrate")
        return
    yield from w.write(s, "state = active, to_dst_file", _start)
    if d.thread_ref is ThreadRef.BEFORE_CREATE:
        yield from ref(w, s)
    yield from w.step("qemu_thread_create(migration_thread)", s)
    w.spawned_thread = True
    w.spawn(T_MIG, _thread_body(s, e))


@typeguard_ignore
def _start(h: HeapObj) -> None:
    h.status = MigStatus.ACTIVE
    h.to_dst_file = True
    h.thread = T_MIG


@typeguard_ignore
def _cancel(h: HeapObj) -> None:
    if h.status is MigStatus.ACTIVE:
        h.status = MigStatus.CANCELLING


@typeguard_ignore
def _migration_shutdown(w: World) -> Generator[Pending, None, None]:
    d = w.design
    yield from w.step("migration_shutdown")
    s = yield from migrate_get_current(w)
    if s is None:
        yield from _null_caller(w, "migration_cancel")
        return
    yield from w.write(s, "migration_cancel", _cancel)
    if d.shutdown_join and w.spawned_thread:
        yield from w.wait_for(T_MIG, "qemu_thread_join(T_mig)")
    if d.export_pointer:
        yield from w.step("clear global_migration")
        w.store("global_migration", None, "migration_shutdown")
    if d.pointer_clear is PointerClear.SHUTDOWN:
        if d.protection is Protection.MUTEX:
            yield from w.lock(w.ptr_mutex)
        yield from w.step("clear current_migration")
        w.store("current_migration", None, "migration_shutdown")
        if d.protection is Protection.MUTEX:
            yield from w.unlock(w.ptr_mutex)
    w.shutdown = True
    if d.drop_main_ref:
        yield from unref(w, s)


@typeguard_ignore
def _poll(w: World, what: str) -> Generator[Pending, None, None]:
    """``main_loop_wait``: release the BQL, let bottom halves and coroutines run, retake it."""
    yield from w.unlock(w.bql)
    w.polling = True

    @typeguard_ignore
    def blocker() -> Block | None:
        for a in w.actors:
            if a.main_loop and not a.done and a.name.startswith("bh:"):
                return Block("bottom halves pending", a.name)
        if w.ml_owner is not None:
            return Block("a coroutine is running", w.ml_owner)
        if w.bql.owner not in (None, "main"):
            return Block(f"waits for BQL held by {w.bql.owner}", w.bql.owner)
        return None

    yield Pending(f"{what}: end of poll", blocker)
    w.polling = False
    w.bql.state, w.bql.owner = LockState.HELD, "main"
    w.record(f"{what}: end of poll")


@typeguard_ignore
def _vm_shutdown(w: World, e: Event) -> Generator[Pending, None, None]:
    yield from w.step("vm_shutdown: run-state handlers")
    if e.get("handler", "vfio") == "vfio":
        yield from exported_helper(w, "migration_is_running")
        yield from exported_helper(w, "migration_file_set_error")
    yield from _poll(w, "vm_shutdown: drain")


@typeguard_ignore
def run_event(w: World, e: Event) -> Generator[Pending, None, None]:
    """Run one event on the main thread.

    :param w: the world.
    :param e: the event.
    """
    k = e.kind
    if k == "object_init":
        yield from _object_init(w)
    elif k == "migrate":
        yield from _migrate(w, e)
    elif k == "migrate_incoming" and w.actor_named("co:incoming") is not None:
        yield from w.step("migrate-incoming", note="Error: The incoming migration has already been started")
    elif k == "migrate_incoming":
        s = yield from migrate_get_current(w)
        if w.design.incoming_ref and s is not None:
            yield from ref(w, s)
        w.spawn("co:incoming", _incoming_body, main_loop=True)
    elif k == "migration_shutdown":
        yield from _migration_shutdown(w)
    elif k == "vm_shutdown":
        yield from _vm_shutdown(w, e)
    elif k in ("monitor_cleanup", "poll"):
        yield from _poll(w, k)
    elif k == "wait_thread":
        yield from _wait_thread(w)
    elif k == "introspect":
        cmd = str(e.get("command", "qom-list-properties"))
        yield from _introspect(w, cmd, str(e.get("label", cmd)))
    elif k == "query_migrate":
        s = yield from migrate_get_current(w)
        if s is None:
            yield from _null_caller(w, "query-migrate")
        else:
            yield from w.read(s, "query-migrate: s->state")
    elif k == "helper":
        yield from exported_helper(w, str(e.get("name", "migration_is_running")))
    elif k == "create":
        path = str(e.get("path", "object_new"))
        if path == "device-help":
            yield from _introspect(w, "device-list-properties", "-device migration,help")
        else:
            yield from _create(w, path)


@typeguard_ignore
def _wait_thread(w: World) -> Generator[Pending, None, None]:
    """Scenario ordering: the main loop runs (BQL released) until T_mig has finished."""
    if w.actor_named(T_MIG) is None:
        return
    yield from w.unlock(w.bql)

    @typeguard_ignore
    def blocker() -> Block | None:
        t = w.actor_named(T_MIG)
        if t is None or t.done or T_MIG in w.peer_blocked:
            return None  # finished, or stuck on its peer: the scenario moves on
        return Block("main loop until T_mig finished", T_MIG)

    yield Pending("main loop until T_mig finished", blocker)
    w.record("main loop until T_mig finished or blocked")
    yield Pending("retake BQL", lambda: None if w.bql.owner is None else _bql_block(w))
    w.bql.state, w.bql.owner = LockState.HELD, "main"
    w.record("retake BQL")


@typeguard_ignore
def _bql_block(w: World) -> Block:
    return Block(f"waits for BQL held by {w.bql.owner}", w.bql.owner)


@typeguard_ignore
def main_body(program: Program) -> Callable[[World, Actor], Generator[Pending, None, None]]:
    """:param program: the events.
    :return: the main thread's body running them in order.
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        for e in program:
            a.context.clear()
            yield from run_event(w, e)

    return body
