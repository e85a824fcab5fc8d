"""The actors besides the main thread, as QEMU's code runs them.

- ``T_mig``: ``migration_thread()``; it ends in ``migration_iteration_finish()`` (BQL, then
  ``migration_bh_schedule()`` taking a reference, then BQL released), and only then drops its
  own reference (``migration/migration.c:migration_thread`` at every tag from 9.1 to master).
- ``bh:cleanup``: the cleanup BH (``migrate_fd_cleanup`` in 9.x, ``migration_cleanup`` from
  10.0) run by ``migration_bh_dispatch_bh``: it drops the BQL, joins ``T_mig``, retakes the
  BQL, clears ``to_dst_file`` under ``qemu_file_lock``; the dispatcher unrefs afterwards.
- ``mon_iothread``: an out-of-band QMP command (``migrate-pause``, ``migrate-recover``) on the
  monitor I/O thread, without the BQL (``monitor/qmp.c:handle_qmp_command``).
- ``bh:qmp-dispatch``: ``do_qmp_dispatch_bh`` running ``query-migrate`` in ``iohandler_ctx``.
- ``dirtyrate-stat``: ``system/dirtylimit.c:vcpu_dirty_rate_stat_thread``, without the BQL, until
  the process exits or ``migration_cancel()`` stops it (:mod:`migration.model.dirtylimit`).
- ``co:incoming``: ``process_incoming_migration_co``.

All bodies are generators of atomic steps (:mod:`migration.model.runtime`); typeguard skips
them, mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from typeguard import typeguard_ignore

from migration.model.channels import close_return_path_on_source, multifd_send_setup, multifd_send_shutdown
from migration.model.designs import ThreadCleanup, ThreadRef
from migration.model.functions import qemu, qemu_function
from migration.model.heap import HeapObj, MigStatus
from migration.model.helpers import (
    T_MIG,
    call,
    exported_helper,
    internal_call,
    migrate_get_current,
    null_caller,
    ref,
    unref,
)
from migration.model.program import Event
from migration.model.runtime import Actor, Block, Pending, World
from migration.model.sources import source

__all__ = [
    "cleanup_bh_body",
    "dirtyrate_body",
    "incoming_body",
    "oob_body",
    "qmp_dispatch_body",
    "thread_body",
]

Body = Callable[[World, Actor], Generator[Pending, None, None]]


@typeguard_ignore
def _finish(h: HeapObj) -> None:
    h.status = MigStatus.CANCELLED if h.status is MigStatus.CANCELLING else MigStatus.COMPLETED
    h.to_dst_file = False


# -- the outgoing migration thread and its cleanup BH -------------------------------------------


@typeguard_ignore
def thread_body(s: str, e: Event) -> Body:
    """:param s: the object ``migrate`` started the thread for.
    :param e: the ``migrate`` event (peer, channel, helpers).
    :return: ``migration_thread()``'s body.
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        yield from qemu(w, "migration_thread", s, e)

    return body


@qemu_function("migration_thread", "(s: str, e: Event) -> None",
               "the outgoing migration thread: its reference, the writes to the peer, then "
               "migration_iteration_finish() and its unref (e: the migrate event)")
@typeguard_ignore
def _thread(w: World, s: str, e: Event) -> Generator[Pending, None, None]:
    d = w.design
    if d.thread_ref is ThreadRef.IN_THREAD:
        yield from ref(w, s)
    if e.param("threads") == "multifd":
        yield from multifd_send_setup(w)
    if e.param("peer") == "blocked":
        socket = e.param("channel") == "socket"

        def failed() -> bool:
            # qemu_file_shutdown() makes a blocked socket write fail; other channels have no
            # QIO_CHANNEL_FEATURE_SHUTDOWN and stay blocked (io/channel-socket.c)
            return socket and s in w.file_shutdown

        yield from call(w, "qemu_put_buffer",
                        w.block_on_peer("qemu_put_buffer to an unresponsive peer", failed))
        w.record("write fails: -EIO after qemu_file_shutdown", s)
    yield from w.read(s, "state")
    helper = e.param("thread_helper")
    if isinstance(helper, str):
        yield from internal_call(w, helper, s, bool(e.param("helper_needs_bql")))
    if d.thread_cleanup is ThreadCleanup.INLINE:
        yield from w.write(s, "cleanup: state, to_dst_file", _finish)
    else:
        bh_helper = e.param("bh_helper")
        yield from qemu(w, "migration_iteration_finish", bh_helper if isinstance(bh_helper, str) else None)
    yield from unref(w, s)


@qemu_function("migration_iteration_finish", "(bh_helper: str | None) -> None",
               "take the BQL, schedule the cleanup BH (migration_bh_schedule), drop the BQL")
@typeguard_ignore
def _iteration_finish(w: World, bh_helper: str | None) -> Generator[Pending, None, None]:
    yield from w.lock(w.bql)
    yield from qemu(w, "migration_bh_schedule", bh_helper)
    yield from w.unlock(w.bql)


@qemu_function("migration_bh_schedule", "(bh_helper: str | None) -> None",
               "take a reference for the cleanup BH (bh_ref) and schedule it in qemu_aio_context")
@typeguard_ignore
def _bh_schedule(w: World, bh_helper: str | None) -> Generator[Pending, None, None]:
    g = yield from migrate_get_current(w)
    if g is None:
        yield from null_caller(w, "migration_bh_schedule")
        return
    if w.design.bh_ref:
        yield from ref(w, g)
    name = source("cleanup_bh_name", w.design.tag)
    yield from w.step(f"qemu_bh_schedule({name})", g)
    w.spawn("bh:cleanup", cleanup_bh_body(bh_helper), main_loop=True, ctx="qemu_aio_context")


@typeguard_ignore
def cleanup_bh_body(bh_helper: str | None) -> Body:
    """:param bh_helper: an exported helper the cleanup reaches (``qemu_savevm_state_cleanup`` ->
        ``vfio_listener_log_global_stop``'s error path), or ``None``.
    :return: ``migration_bh_dispatch_bh`` running the cleanup BH.
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        yield from qemu(w, "migration_bh_dispatch_bh", bh_helper)

    return body


@qemu_function("migration_bh_dispatch_bh", "(bh_helper: str | None) -> None",
               "the cleanup BH's dispatcher: run the cleanup, then drop the BH's reference")
@typeguard_ignore
def _dispatch(w: World, bh_helper: str | None) -> Generator[Pending, None, None]:
    yield from w.ml_enter(f"bh: {source('cleanup_bh_name', w.design.tag)}")
    g = yield from migrate_get_current(w)
    if g is None:
        yield from null_caller(w, "migration_bh_dispatch_bh")
        return
    yield from qemu(w, "migration_cleanup", g, bh_helper)
    if w.design.bh_ref:
        yield from unref(w, g)


@qemu_function("migration_cleanup", "(s: str, bh_helper: str | None) -> None",
               "the cleanup BH (migrate_fd_cleanup at 9.x): join the return path (BQL held), BQL released "
               "around the join of the migration thread, to_dst_file cleared under qemu_file_lock, then "
               "multifd_send_shutdown (BQL held)", source_key="cleanup")
@typeguard_ignore
def _cleanup(w: World, s: str, bh_helper: str | None) -> Generator[Pending, None, None]:
    if bh_helper:
        yield from call(w, "qemu_savevm_state_cleanup", internal_call(w, bh_helper, s))
    yield from close_return_path_on_source(w)
    t = w.actor_named(T_MIG)
    if t is not None:
        yield from w.unlock(w.bql)
        yield from w.wait_for(T_MIG, "qemu_thread_join(T_mig)")
        yield from w.lock(w.bql)
    h = w.heap[s]
    yield from w.lock(h.locks["qemu_file_lock"], s)
    yield from w.write(s, "cleanup: to_dst_file = NULL, CANCELLING -> CANCELLED", _finish)
    yield from w.unlock(h.locks["qemu_file_lock"], s)
    yield from multifd_send_shutdown(w)


# -- the monitor I/O thread: out-of-band commands -----------------------------------------------


@typeguard_ignore
def oob_body(command: str, previous: str | None) -> Body:
    """:param command: ``migrate-pause`` or ``migrate-recover``.
    :param previous: the I/O thread's previous command (it runs first), or ``None``.
    :return: the command's run on the monitor I/O thread, without the BQL.
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        a.funcs.append(source("handle_qmp_command", w.design.tag))
        if previous is not None:
            def blocker() -> Block | None:
                prev = w.actor_named(previous)
                if prev is not None and not prev.done:
                    return Block("the I/O thread runs one command at a time", prev.name)
                return None

            yield Pending(f"exec-oob {command}", blocker)
            w.record(f"exec-oob {command}", note="after the previous out-of-band command")
        if command == "migrate-pause":
            yield from qemu(w, "qmp_migrate_pause")
        else:
            yield from call(w, "qmp_migrate_recover",
                            w.step("read mis->state (current_incoming)",
                                   note="Error: Migrate recover can only be run when postcopy is paused."))
        a.funcs.pop()

    return body


@qemu_function("qmp_migrate_pause", "() -> None",
               "the out-of-band migrate-pause handler on the monitor I/O thread (no BQL): it reads "
               "ms->state")
@typeguard_ignore
def _migrate_pause(w: World) -> Generator[Pending, None, None]:
    ms = yield from migrate_get_current(w)
    if ms is None:
        yield from null_caller(w, "qmp_migrate_pause")
        return
    # not postcopy: it goes on with mis->state (current_incoming, never freed) and answers
    # "migrate-pause is currently only supported during postcopy-active or postcopy-recover state"
    yield from w.read(ms, "ms->state (migration_postcopy_is_alive)")


# -- in-band QMP dispatch BH ----------------------------------------------------------------------


@typeguard_ignore
def qmp_dispatch_body(w: World, a: Actor) -> Generator[Pending, None, None]:
    """``do_qmp_dispatch_bh`` running ``query-migrate`` (``fill_source_migration_info``)."""
    a.funcs.append(source("do_qmp_dispatch_bh", w.design.tag))
    yield from w.ml_enter("bh: do_qmp_dispatch_bh (query-migrate)")
    yield from qemu(w, "fill_source_migration_info")
    a.funcs.pop()


@qemu_function("fill_source_migration_info", "() -> None",
               "query-migrate's reader in do_qmp_dispatch_bh: s->state, then s->error under error_mutex")
@typeguard_ignore
def _fill_source(w: World) -> Generator[Pending, None, None]:
    s = yield from migrate_get_current(w)
    if s is None:
        yield from null_caller(w, "query-migrate")
        return
    yield from w.read(s, "query-migrate: s->state")
    h = w.heap[s]
    yield from w.lock(h.locks["error_mutex"], s)
    yield from w.read(s, "query-migrate: s->error")
    yield from w.unlock(h.locks["error_mutex"], s)


# -- the dirtyrate-stat thread --------------------------------------------------------------------


@typeguard_ignore
def dirtyrate_body(cap: bool, rounds: int) -> Body:
    """:param cap: the ``dirty-limit`` capability is on (then it asks whether migration runs).
    :param rounds: how many stat periods run before the process exits, unless
        ``vcpu_dirty_rate_stat_stop()`` clears its ``running`` flag first (then it leaves the loop and takes
        the BQL once, in ``global_dirty_log_change()``).
    :return: ``vcpu_dirty_rate_stat_thread``'s body (no BQL in its periods).
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        done = 0  # a count, not a ``for`` loop: nothing but variables is live across a step (framekey, clone)
        while done < rounds:
            if w.dirtyrate_stopped:  # while (qatomic_read(&vcpu_dirty_rate_stat->running))
                break
            done += 1
            yield from qemu(w, "vcpu_dirty_rate_stat_collect", cap)
        if w.dirtyrate_stopped:
            # stopped by vcpu_dirty_rate_stat_stop(): global_dirty_log_change(GLOBAL_DIRTY_LIMIT, false)
            # takes the BQL, which the stop released for it (otherwise the process exits first)
            yield from call(w, "global_dirty_log_change", _bql_section(w, "memory_global_dirty_log_stop"))

    return body


@typeguard_ignore
def _bql_section(w: World, what: str) -> Generator[Pending, None, None]:
    yield from w.lock(w.bql)
    yield from w.step(what)
    yield from w.unlock(w.bql)


@qemu_function("vcpu_dirty_rate_stat_collect", "(cap: bool) -> None",
               "one period of the dirtyrate-stat thread (no BQL): migrate_dirty_limit(), then, with the "
               "capability on, a migration helper")
@typeguard_ignore
def _collect(w: World, cap: bool) -> Generator[Pending, None, None]:
    a = w.actor
    a.context.append("helper")
    found = yield from call(w, "migrate_dirty_limit", _dirty_limit_cap(w))
    a.context.pop()
    if cap and found:
        # migration_is_active() at 9.1/9.2, migration_is_running() from 10.0
        yield from exported_helper(w, "migration_is_active" if w.design.tag in ("9.1", "9.2")
                                   else "migration_is_running")


@typeguard_ignore
def _dirty_limit_cap(w: World) -> Generator[Pending, None, bool]:
    s = yield from migrate_get_current(w)
    if s is None:
        yield from null_caller(w, "migrate_dirty_limit")
        return False
    yield from w.read(s, "s->capabilities[MIGRATION_CAPABILITY_DIRTY_LIMIT]")
    return True


# -- the incoming coroutine ---------------------------------------------------------------------


@typeguard_ignore
def incoming_body(w: World, a: Actor) -> Generator[Pending, None, None]:
    """``process_incoming_migration_co``: starts, yields for data, resumes and fails."""
    yield from qemu(w, "process_incoming_migration_co")


@qemu_function("process_incoming_migration_co", "() -> None",
               "the incoming coroutine: starts, yields for data, resumes and records a load error")
@typeguard_ignore
def _incoming(w: World) -> Generator[Pending, None, None]:
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
