"""What each main-thread event does: the model's ``qemu_cleanup()`` and QMP handlers.

Every function here is a generator of atomic steps (see :mod:`migration.model.runtime`) and
follows the design's knobs; none of them knows a verdict.  The order and the BQL windows are
QEMU's (``system/runstate.c:qemu_cleanup``, identical from 9.1 to master):
``migration_shutdown()`` (BQL held) ... ``vm_shutdown()`` (the BQL is released only inside
``pause_all_vcpus()``, when the VM was running; run-state handlers and the drain's nested
``aio_poll`` keep it) ... ``monitor_cleanup()`` (nested polls keep the BQL; then
``iothread_stop(mon_iothread)`` ends out-of-band dispatch).  A ``poll`` event is one
``main_loop_wait()``: the BQL is released around the poll, then BHs are dispatched with it.

The other actors are in :mod:`migration.model.actors`; helpers and references in
:mod:`migration.model.helpers`.  Typeguard skips these (``@typeguard_ignore``); mypy
``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from typeguard import typeguard_ignore

from migration.model.actors import (
    dirtyrate_body,
    incoming_body,
    oob_body,
    qmp_dispatch_body,
    thread_body,
)
from migration.model.channels import open_return_path_on_source
from migration.model.designs import TAGS, PointerClear, PointerSet, Protection, ThreadRef
from migration.model.dirtylimit import migrate_dirty_limit_of
from migration.model.features import lacks
from migration.model.functions import qemu, qemu_function
from migration.model.heap import Crash, HeapObj, LockState, MigStatus
from migration.model.helpers import (
    HELPERS,
    T_MIG,
    call,
    exported_helper,
    internal_call,
    migrate_get_current,
    null_caller,
    outside_call,
    qom_call,
    ref,
    unref,
)
from migration.model.outcomes import Fault, Outcome
from migration.model.program import Event, Program
from migration.model.results import IntrospectionRecord
from migration.model.runtime import Actor, Block, Pending, World
from migration.model.shutdown import shutdown_source
from migration.model.sources import source
from migration.model.vcpus import VCPU, vcpu_body
from qom.errors import QOMError
from qom.object import object_new
from qom.qmp import execute

__all__ = ["HELPERS", "end_of_cleanup", "exported_helper", "internal_call", "main_body",
           "migrate_get_current", "run_event"]

QEMU_AIO = "qemu_aio_context"
IOHANDLER = "iohandler_ctx"


@typeguard_ignore
def _never() -> None:
    return None


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
    resp = qom_call(w, lambda: execute(command, {"typename": "migration"}, universe=w.universe))
    after = _world_view(w)
    idx = w.steps - 1
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
            obj = qom_call(w, lambda: object_new("migration"))
        except QOMError as exc:
            w.record("object_new failed", "migration", note=exc.desc)
            obj = None
        if obj is not None:
            label = w.label_of[id(obj)]
            a.context.remove("creation")
            yield from unref(w, label)
            return
    elif path == "object-add":
        resp = qom_call(w, lambda: execute("object-add", {"qom-type": "migration", "id": "mig1"},
                                            universe=w.universe))
        w.record("object-add answered", "migration", note=str(resp.get("error", {}).get("desc", "ok")))
    elif path == "device_add":
        resp = qom_call(w, lambda: execute("device_add", {"driver": "migration"}, universe=w.universe))
        w.record("device_add answered", "migration", note=str(resp.get("error", {}).get("desc", "ok")))
    a.context.remove("creation")


@qemu_function("migration_object_init", "() -> None",
               "object_new(\"migration\") and, as the design says, set current_migration "
               "(and global_migration)")
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
    obj = qom_call(w, lambda: object_new("migration"))
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


@qemu_function("migration_connect", "(e: Event) -> None",
               "qmp_migrate's start of the outgoing side: state active, the thread's reference, "
               "qemu_thread_create(migration_thread) (e: the migrate event)", source_key="connect")
@typeguard_ignore
def _migrate(w: World, e: Event) -> Generator[Pending, None, None]:
    d = w.design
    if w.spawned_thread:
        yield from w.step("migrate", note="Error: There's a migration process in progress")
        return
    s = yield from migrate_get_current(w)
    if s is None:
        yield from null_caller(w, "migrate")
        return
    yield from w.write(s, "state = active, to_dst_file", _start)
    if d.thread_ref is ThreadRef.BEFORE_CREATE:
        yield from ref(w, s)
    if e.param("threads") == "return-path":
        yield from open_return_path_on_source(w, s)
    yield from w.step("qemu_thread_create(migration_thread)", s)
    w.spawned_thread = True
    w.spawn(T_MIG, thread_body(s, e))


@typeguard_ignore
def _start(h: HeapObj) -> None:
    h.status = MigStatus.ACTIVE
    h.to_dst_file = True
    h.thread = T_MIG


@typeguard_ignore
def _cancel(h: HeapObj) -> None:
    if h.status is MigStatus.ACTIVE:
        h.status = MigStatus.CANCELLING


@qemu_function("migration_cancel", "() -> str | None",
               "with dirty-limit on, stop and join dirtyrate-stat (BQL released); state cancelling, then "
               "qemu_file_shutdown(s->to_dst_file) under qemu_file_lock; returns the object it found",
               source_key="cancel")
@typeguard_ignore
def _migration_cancel(w: World) -> Generator[Pending, None, str | None]:
    """``migration_cancel()`` (``migrate_fd_cancel()`` at 9.x): with the ``dirty-limit`` capability on,
    the dirty-limit stop first (:mod:`migration.model.dirtylimit`); then CANCELLING, then
    ``qemu_file_shutdown(s->to_dst_file)`` under ``qemu_file_lock``.

    :return: the object it found, or ``None``.
    """
    s = yield from migrate_get_current(w)
    if s is None:
        yield from null_caller(w, "migration_cancel")
        return None
    if migrate_dirty_limit_of(w, s):
        yield from qemu(w, "qmp_cancel_vcpu_dirty_limit", s)
    yield from w.write(s, "migration_cancel: state -> cancelling", _cancel)
    h = w.heap[s]
    if h.status is MigStatus.CANCELLING and h.to_dst_file:
        yield from w.lock(h.locks["qemu_file_lock"], s)
        yield from call(w, "qemu_file_shutdown", w.step("qemu_file_shutdown(s->to_dst_file)", s,
                                                         note="-EIO; a socket channel is shut down"))
        if w.design.cancel_shuts_down_file:
            w.file_shutdown.add(s)
        yield from w.unlock(h.locks["qemu_file_lock"], s)
    return s


@qemu_function("migration_shutdown", "() -> None",
               "cancel; join (shutdown_join); clear the pointers the design clears here; mark the "
               "shutdown done (w.shutdown: exit leaks count from then); drop the main reference")
@typeguard_ignore
def _migration_shutdown(w: World) -> Generator[Pending, None, None]:
    d = w.design
    yield from w.step("migration_shutdown")
    s = yield from qemu(w, "migration_cancel")
    if s is None:
        return
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
def _dispatch(w: World, ctxs: frozenset[str], what: str) -> Generator[Pending, None, None]:
    """A nested ``aio_poll`` of ``ctxs`` on the main thread, BQL kept: every bottom half of those
    contexts that is ready runs (one at a time); a coroutine may or may not resume."""
    w.polling = ctxs

    @typeguard_ignore
    def blocker() -> Block | None:
        if w.ml_owner is not None:
            return Block("a bottom half or coroutine is running", w.ml_owner)
        for a in w.actors:
            if (a.main_loop and not a.done and a.ctx in ctxs and a.name.startswith("bh:")
                    and a.pending is not None and a.pending.blocker() is None):
                return Block("bottom halves pending", a.name)
        return None

    yield Pending(f"{what}: end of poll", blocker)
    w.polling = frozenset()
    w.record(f"{what}: end of poll")


@typeguard_ignore
def _bql_window(w: World, what: str) -> Generator[Pending, None, None]:
    """Main releases the BQL and takes it back: other threads may take it in between."""
    yield from w.unlock(w.bql)
    yield Pending(f"{what}: bql_lock", lambda: None if w.bql.owner is None else _bql_block(w))
    w.bql.state, w.bql.owner = LockState.HELD, "main"
    w.record(f"{what}: bql_lock")


@typeguard_ignore
def _main_loop_wait(w: World, what: str) -> Generator[Pending, None, None]:
    """``main_loop_wait()``: BQL released around the poll (``os_host_main_loop_wait``), then BHs and
    coroutines of both contexts are dispatched with the BQL."""
    yield from _bql_window(w, what)
    yield from _dispatch(w, frozenset({QEMU_AIO, IOHANDLER}), what)


@qemu_function("vm_shutdown", "(vm: str, vfio: str, block: str) -> None",
               "pause the vCPUs (BQL released) when the VM runs, the VFIO handler (none, ok, fails), "
               "then, with a busy block device, the drain's nested poll of qemu_aio_context (BQL kept)")
@typeguard_ignore
def _vm_shutdown(w: World, vm: str, vfio: str, block: str) -> Generator[Pending, None, None]:
    yield from w.step("vm_shutdown", note=f"VM {vm}")
    if vm == "running":
        yield from qemu(w, "pause_all_vcpus")
        if vfio != "none":
            yield from call(w, "vfio_vmstate_change", _vfio_vmstate_change(w, vfio == "fails"))
    if block == "busy":
        # AIO_WAIT_WHILE polls only while its condition holds: requests in flight (bdrv_drain_all_poll) or a
        # flush coroutine not yet done (bdrv_flush); with block=idle it never polls (include/block/aio-wait.h)
        yield from call(w, "bdrv_drain_all",
                        _dispatch(w, frozenset({QEMU_AIO}), "bdrv_drain_all/bdrv_flush_all"))


@typeguard_ignore
def _vfio_vmstate_change(w: World, fails: bool) -> Generator[Pending, None, None]:
    yield from w.step("vfio_migration_set_state(STOP)", note="fails" if fails else "ok")
    if fails and w.design.tag == "7.2":
        # hw/vfio/migration.c:vfio_vmstate_change@v7.2.0: qemu_file_set_error(migrate_get_current()->
        # to_dst_file, ret), no lock (migration_file_set_error() came later)
        s = yield from migrate_get_current(w)
        if s is None:
            yield from null_caller(w, "vfio_vmstate_change")
        else:
            yield from call(w, "qemu_file_set_error", w.read(s, "qemu_file_set_error: s->to_dst_file"))
    elif fails:
        yield from exported_helper(w, "migration_file_set_error")


@qemu_function("monitor_cleanup", "() -> None",
               "qmp_dispatcher_co_shutdown, the nested poll of iohandler_ctx and, while a QMP dispatch is "
               "in flight, of qemu_aio_context (BQL kept), then iothread_stop(mon_iothread)")
@typeguard_ignore
def _monitor_cleanup(w: World) -> Generator[Pending, None, None]:
    yield from w.step("qmp_dispatcher_co_shutdown = true")
    # AIO_WAIT_WHILE_UNLOCKED(NULL, (aio_poll(iohandler_ctx, false), qmp_dispatcher_co)): iohandler_ctx is
    # polled at least once; qemu_aio_context only while the dispatcher coroutine lives, that is while it
    # waits for a do_qmp_dispatch_bh (an idle dispatcher ends in the first poll of iohandler_ctx)
    busy = any(a.name.startswith("bh:qmp-dispatch") and not a.done for a in w.actors)
    yield from _dispatch(w, frozenset({IOHANDLER, QEMU_AIO}) if busy else frozenset({IOHANDLER}),
                         "AIO_WAIT_WHILE_UNLOCKED(qmp_dispatcher_co)")
    yield from call(w, "iothread_stop", _iothread_stop(w))


@typeguard_ignore
def _iothread_stop(w: World) -> Generator[Pending, None, None]:
    w.iothread_stopped = True
    i = 0  # an index, not a ``for`` loop: nothing but variables is live across a step (framekey, clone)
    while i < len(w.actors):
        a = w.actors[i]
        i += 1
        if a.name.startswith("mon_iothread") and not a.done:
            if not a.started:
                a.done, a.pending = True, None  # never read from the socket
            else:
                yield from w.wait_for(a.name, "iothread_stop: join mon_iothread")
    yield from w.step("iothread_stop(mon_iothread)", note="out-of-band dispatch ends")


@typeguard_ignore
def _query_migrate(w: World, e: Event) -> Generator[Pending, None, None]:
    if e.param("caller") != "outside" and w.main_loop_exited:
        # the dispatcher coroutine waits in iohandler_ctx, which only monitor_cleanup() polls, after it
        # set qmp_dispatcher_co_shutdown: the request stays in the queue (monitor/qmp.c)
        yield from w.step("client sends query-migrate",
                          note="queued; never dispatched: the main loop has exited")
        return
    if e.param("caller") == "outside":
        s = yield from migrate_get_current(w)
        if s is None:
            yield from null_caller(w, "query-migrate")
        else:
            yield from w.read(s, "query-migrate: s->state")
        return
    yield from w.step("qmp_dispatch: aio_bh_schedule_oneshot(do_qmp_dispatch_bh)", note=f"in {IOHANDLER}")
    w.spawn(w.unique_name("bh:qmp-dispatch"), qmp_dispatch_body, main_loop=True, ctx=IOHANDLER)
    if not e.param("pending"):
        yield from call(w, "main_loop_wait", _main_loop_wait(w, "main_loop_wait"))


def _qmp_dispatch_pending(w: World) -> bool:
    return any(a.name.startswith("bh:qmp-dispatch") and not a.done for a in w.actors)


@qemu_function("monitor_qmp_dispatcher_co", "() -> None",
               "one dispatcher for every QMP monitor: a request popped before quit finishes first "
               "(main_loop_wait until no do_qmp_dispatch_bh is pending)")
@typeguard_ignore
def _qmp_dispatcher_co(w: World) -> Generator[Pending, None, None]:
    while _qmp_dispatch_pending(w):
        yield from call(w, "main_loop_wait", _main_loop_wait(w, "main_loop_wait"))


@qemu_function("main_loop_should_exit", "(source: str) -> None",
               "the shutdown request of a source (migration.model.shutdown), then the main loop exits: a QMP "
               "quit is dispatched only after the in-band requests popped before it "
               "(monitor_qmp_dispatcher_co)")
@typeguard_ignore
def _main_loop_should_exit(w: World, name: str) -> Generator[Pending, None, None]:
    # no step of its own: setting shutdown_requested and leaving the loop touch nothing of the object,
    # and the program names the source; a queued source's wait shows as main_loop_wait steps
    if shutdown_source(name).queued:
        yield from qemu(w, "monitor_qmp_dispatcher_co")
    w.main_loop_exited = True


@typeguard_ignore
def _oob(w: World, e: Event) -> Generator[Pending, None, None]:
    cmd = str(e.param("command"))
    if w.iothread_stopped:
        return
    yield from w.step(f"client sends exec-oob {cmd}")
    prev = [a.name for a in w.actors if a.name.startswith("mon_iothread")]
    w.spawn(w.unique_name("mon_iothread"), oob_body(cmd, prev[-1] if prev else None))


@typeguard_ignore
def _dirty_limit(w: World, e: Event) -> Generator[Pending, None, None]:
    if w.actor_named("dirtyrate-stat") is not None:
        return
    yield from w.step("set-vcpu-dirty-limit: qemu_thread_create(dirtyrate-stat)")
    if e.param("cap") and w.real is not None:
        w.heap[w.real].dirty_limit = True  # migrate-set-capabilities dirty-limit=on, before
    w.spawn("dirtyrate-stat", dirtyrate_body(bool(e.param("cap")), int(e.param("rounds") or 1)))


@typeguard_ignore
def run_event(w: World, e: Event) -> Generator[Pending, None, None]:
    """Run one event on the main thread.

    :param w: the world.
    :param e: the event.
    """
    k = e.kind
    missing = lacks(w.design.tag, e)
    if missing:  # a program names an event the design's tag does not have (migration.model.features)
        yield from w.step(f"{k}: not at {TAGS[w.design.tag]}", note=", ".join(f.name for f in missing))
        return
    if k == "object_init":
        yield from qemu(w, "migration_object_init")
    elif k == "migrate":
        yield from qemu(w, "migration_connect", e)
    elif k == "migrate_incoming" and w.actor_named("co:incoming") is not None:
        yield from w.step("migrate-incoming", note="Error: The incoming migration has already been started")
    elif k == "migrate_incoming":
        yield from call(w, "qmp_migrate_incoming", _migrate_incoming(w))
    elif k == "migration_shutdown":
        yield from qemu(w, "main_loop_should_exit", str(e.param("source")))
        yield from qemu(w, "migration_shutdown")
    elif k == "vm_shutdown":
        yield from qemu(w, "vm_shutdown", str(e.param("vm")), str(e.param("vfio")), str(e.param("block")))
    elif k == "monitor_cleanup":
        yield from qemu(w, "monitor_cleanup")
    elif k == "poll":
        yield from call(w, "main_loop_wait", _main_loop_wait(w, "main_loop_wait"))
    elif k == "introspect":
        cmd = str(e.param("command"))
        yield from call(w, cmd, _introspect(w, cmd, str(e.get("label", cmd))))
    elif k == "query_migrate":
        key = "query_migrate_outside" if e.param("caller") == "outside" else "handle_qmp_command"
        yield from call(w, key, _query_migrate(w, e))
    elif k == "add_blocker":
        yield from call(w, "migrate_add_blocker", qemu(w, "is_busy"))
    elif k == "helper":
        yield from outside_call(w, str(e.param("name")))
    elif k == "create":
        path = str(e.param("path"))
        if path == "device-help":
            yield from call(w, path, _introspect(w, "device-list-properties", "-device migration,help"))
        else:
            yield from call(w, path, _create(w, path))
    elif k == "oob":
        yield from call(w, "handle_qmp_command", _oob(w, e))
    elif k == "dirty_limit":
        yield from call(w, "qmp_set_vcpu_dirty_limit", _dirty_limit(w, e))
    elif k == "vcpu_device":
        yield from w.step(f"guest write to {e.param('device')}", note="a vCPU exits, waits for the BQL")
        w.spawn(w.unique_name(VCPU), vcpu_body(str(e.param("device"))))


@typeguard_ignore
def _migrate_incoming(w: World) -> Generator[Pending, None, None]:
    s = yield from migrate_get_current(w)
    if w.design.incoming_ref and s is not None:
        yield from ref(w, s)
    w.spawn("co:incoming", incoming_body, main_loop=True, ctx=IOHANDLER)


@typeguard_ignore
def _bql_block(w: World) -> Block:
    return Block(f"waits for BQL held by {w.bql.owner}", w.bql.owner)


@qemu_function("is_busy", "() -> None",
               "migrate_add_blocker()'s check that no migration runs: migration_is_idle() at 7.2 and 9.1, "
               "migration_is_running() from 9.2 (both NULL-checked at every tag)")
@typeguard_ignore
def _is_busy(w: World) -> Generator[Pending, None, None]:
    yield from exported_helper(w, "migration_is_idle" if w.design.tag in ("7.2", "9.1")
                               else "migration_is_running")


@qemu_function("machine_finalize", "() -> None",
               "the end of qemu_cleanup(), after monitor_cleanup(): QEMU finalizes no machine there (its "
               "'unref root container' is a TODO at every tag), so no step; a design that frees late "
               "drops its reference here", source_key="qemu_cleanup")
@typeguard_ignore
def _machine_finalize(w: World) -> Generator[Pending, None, None]:
    return
    yield  # a generator with no step


@typeguard_ignore
def end_of_cleanup(w: World) -> Generator[Pending, None, None]:
    """The end of the program: the rest of ``qemu_cleanup()`` (the design's ``machine_finalize``), then
    the process exits (objects not finalized by then are the exit leaks of ``freed-by-exit``).

    :param w: the world; ``main`` runs it.
    """
    if w.shutdown:
        yield from qemu(w, "machine_finalize")


@typeguard_ignore
def main_body(program: Program, *,
              end: bool = True) -> Callable[[World, Actor], Generator[Pending, None, None]]:
    """:param program: the events.
    :param end: the program is the whole run: :func:`end_of_cleanup` follows its last event.
    :return: the main thread's body running them in order (inside ``qemu_cleanup`` from
        ``migration_shutdown`` on).
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        # an index, not a ``for`` loop: nothing but variables is live across a step (framekey, clone)
        i = 0
        while i < len(program):
            e = program[i]
            i += 1
            a.context.clear()
            if e.kind == "migration_shutdown":
                a.funcs[:] = [source("qemu_cleanup", w.design.tag)]
            yield from run_event(w, e)
        if end:
            yield from end_of_cleanup(w)

    return body
