"""The dirty-limit stop inside ``migration_cancel()``: ``system/dirtylimit.c`` as the main thread runs it.

From 9.1 to master ``migration_cancel()`` begins with ``if (migrate_dirty_limit())
qmp_cancel_vcpu_dirty_limit(false, -1, NULL);`` (``migration/migration.c:migration_cancel``, which calls
``migrate_fd_cancel`` at 9.x).  With the capability on, a vCPU dirty limit in service and no migration
running (``dirtylimit_is_allowed()``), that reaches ``dirtylimit_cleanup()`` ->
``vcpu_dirty_rate_stat_stop()``: clear the thread's ``running`` flag, release ``dirtylimit_state`` and the
BQL, join ``dirtyrate-stat``, take the BQL back.  In ``migration_shutdown()`` all of this comes before the
``object_unref``: the thread is gone before the main reference is dropped, and any thread waiting for
the BQL may take it in that window.

``dirtylimit_mutex`` is left out: no other actor of the model takes it (the thread's
``dirtylimit_process()`` does, in QEMU, and the stop releases it before the join, so it can only delay
the thread).  ``qmp_cancel_vcpu_dirty_limit``'s first test, KVM with a dirty ring, holds wherever the
``dirty_limit`` event happens: ``qmp_set_vcpu_dirty_limit`` refuses to start the thread without it.

Typeguard skips these (``@typeguard_ignore``); mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Generator

from typeguard import typeguard_ignore

from migration.model.functions import qemu, qemu_function
from migration.model.helpers import RUNNING, exported_helper
from migration.model.runtime import Pending, World

__all__ = ["DIRTYRATE_STAT", "migrate_dirty_limit_of"]

#: the thread's name (``qemu_thread_create(..., "dirtyrate-stat", ...)`` in ``vcpu_dirty_rate_stat_start``)
DIRTYRATE_STAT = "dirtyrate-stat"


@typeguard_ignore
def migrate_dirty_limit_of(w: World, s: str) -> bool:
    """``migrate_dirty_limit()`` on an object the caller has just loaded (no step of its own).

    QEMU's accessor loads ``current_migration`` again and reads ``s->capabilities``: a read of the live
    object the caller loaded and is about to write, which finds a freed object no sooner than that write
    (docs/known-differences.md, "Fields"); so the model reads the capability with the caller's load.

    :param w: the world.
    :param s: the object.
    :return: whether the ``dirty-limit`` capability is on.
    """
    return w.heap[s].dirty_limit


@qemu_function("qmp_cancel_vcpu_dirty_limit", "(s: str) -> None",
               "migration_cancel()'s dirty-limit stop: dirtylimit_is_allowed() (migration_is_running()), "
               "then, with the limit in service, vcpu_dirty_rate_stat_stop()")
@typeguard_ignore
def _qmp_cancel_vcpu_dirty_limit(w: World, s: str) -> Generator[Pending, None, None]:
    stat = w.actor_named(DIRTYRATE_STAT)
    in_service = stat is not None and not w.dirtyrate_stopped  # dirtylimit_in_service(): dirtylimit_state
    yield from exported_helper(w, "migration_is_running")
    # the helper's read of s->state was this actor's last step that can see another's write: every
    # writer of the state runs on the main thread, this one
    if w.heap[s].status in RUNNING and in_service:
        # migration_is_running() && !migration_thread_is_self() && migrate_dirty_limit() &&
        # dirtylimit_in_service(): the other three are true on main with the limit in service
        yield from w.step("dirtylimit_is_allowed() is false",
                          note="can't cancel dirty page rate limit while migration is running")
        return
    if not in_service:
        return
    # dirtylimit_state_lock(); dirtylimit_set_all(0, false); no vCPU limited: dirtylimit_cleanup()
    yield from qemu(w, "vcpu_dirty_rate_stat_stop")


@qemu_function("vcpu_dirty_rate_stat_stop", "() -> None",
               "clear the dirtyrate-stat thread's running flag, release the BQL, join the thread, take "
               "the BQL back")
@typeguard_ignore
def _vcpu_dirty_rate_stat_stop(w: World) -> Generator[Pending, None, None]:
    yield from w.step("qatomic_set(&vcpu_dirty_rate_stat->running, 0)")
    w.dirtyrate_stopped = True
    yield from w.unlock(w.bql)
    yield from w.wait_for(DIRTYRATE_STAT, f"qemu_thread_join({DIRTYRATE_STAT})")
    yield from w.lock(w.bql)
