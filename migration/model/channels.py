"""The outgoing migration's other threads: the return path and a multifd send thread.

Both read the object and take no reference of their own; only the cleanup BH joins them, and it holds
the BH's reference while it does (``migration/migration.c:migration_cleanup``, ``migrate_fd_cleanup``
at 9.x), with the BQL held:

- ``return-path``: ``source_return_path_thread``, created by ``open_return_path_on_source`` in
  ``migration_connect()`` (``migrate_fd_connect`` at 9.x) with the ``return-path`` capability or
  postcopy, before the migration thread.  It asks ``migration_is_running()`` (9.1:
  ``migration_is_setup_or_active()``) and blocks reading the destination's messages; it wakes when the
  destination says SHUT (the model: once ``T_mig`` has finished) or when ``migration_cancel()`` shuts
  its file down (then it records the read error, ``migrate_set_error(ms)`` under ``error_mutex``), and
  reads ``ms->state`` on its way out, through the pointer it was given.  ``close_return_path_on_source``
  joins it before the migration thread's join.
- ``multifd_send``: ``multifd_send_thread``, started by ``multifd_send_setup()`` at the top of
  ``migration_thread()`` with the ``multifd`` capability.  ``multifd_use_packets()`` asks
  ``migrate_mapped_ram()`` through ``migrate_get_current()``; then it waits on its semaphore until
  ``multifd_send_shutdown()`` (after the migration thread's join) terminates and joins it.  One thread
  stands for the channels, which all do the same.

The event is ``migrate``'s ``threads=return-path|multifd``.  Typeguard skips these
(``@typeguard_ignore``); mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from typeguard import typeguard_ignore

from migration.model.functions import qemu, qemu_function
from migration.model.heap import HeapObj, MigStatus
from migration.model.helpers import T_MIG, call, exported_helper, migrate_get_current, null_caller
from migration.model.runtime import Actor, Block, Pending, World

__all__ = ["MULTIFD", "RETURN_PATH", "close_return_path_on_source", "multifd_send_setup",
           "multifd_send_shutdown", "open_return_path_on_source"]

RETURN_PATH = "return-path"
MULTIFD = "multifd_send"

Body = Callable[[World, Actor], Generator[Pending, None, None]]


@typeguard_ignore
def open_return_path_on_source(w: World, s: str) -> Generator[Pending, None, None]:
    """``migration_connect()``'s ``open_return_path_on_source(s)``: create the return-path thread.

    :param w: the world.
    :param s: the object (the thread's opaque; it takes no reference).
    """
    yield from call(w, "open_return_path_on_source",
                    w.step("qemu_thread_create(source_return_path_thread)", s))
    w.spawn(RETURN_PATH, _return_path_body(s))


@typeguard_ignore
def _return_path_body(s: str) -> Body:
    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        yield from qemu(w, "source_return_path_thread", s)

    return body


@typeguard_ignore
def _set_error(h: HeapObj) -> None:
    h.error = "return path: read failed"


@qemu_function("source_return_path_thread", "(s: str) -> None",
               "the return path (no reference): migration_is_running(), block on the destination until SHUT "
               "or migration_cancel()'s shutdown, then migrate_set_error(ms) on a read error and ms->state")
@typeguard_ignore
def _source_return_path_thread(w: World, s: str) -> Generator[Pending, None, None]:
    yield from exported_helper(w, "migration_is_setup_or_active" if w.design.tag == "9.1"
                               else "migration_is_running")
    h = w.heap[s]

    @typeguard_ignore
    def blocker() -> Block | None:
        t = w.actor_named(T_MIG)
        if h.status is MigStatus.ACTIVE and not (t is not None and t.done):
            return Block("qemu_get_be16(rp): waits for the destination", "peer")
        return None

    yield Pending("qemu_get_be16(rp)", blocker)
    failed = h.status in (MigStatus.CANCELLING, MigStatus.CANCELLED)
    w.record("qemu_get_be16(rp)", s,
             note="-EIO: shut down by migration_cancel" if failed else "MIG_RP_MSG_SHUT")
    if failed:
        yield from call(w, "migrate_set_error", _migrate_set_error(w, s))
    yield from w.read(s, "ms->state (MIGRATION_STATUS_POSTCOPY_RECOVER?)")


@typeguard_ignore
def _migrate_set_error(w: World, s: str) -> Generator[Pending, None, None]:
    # QEMU takes s->error_mutex around the write; one write step stands for the three (the lock is the
    # object's, destroyed with it: a use after free either way)
    yield from w.write(s, "s->error (under error_mutex)", _set_error)


@typeguard_ignore
def close_return_path_on_source(w: World) -> Generator[Pending, None, None]:
    """The cleanup BH's ``close_return_path_on_source(s)``: join the return path, the BQL held."""
    if w.actor_named(RETURN_PATH) is not None:
        yield from call(w, "close_return_path_on_source",
                        w.wait_for(RETURN_PATH, "qemu_thread_join(rp_thread)"))


@typeguard_ignore
def multifd_send_setup(w: World) -> Generator[Pending, None, None]:
    """``migration_thread()``'s ``multifd_send_setup()``: start the send thread."""
    yield from call(w, "multifd_send_setup", w.step("qemu_thread_create(multifd_send_thread)"))
    w.spawn(MULTIFD, _multifd_body)


@typeguard_ignore
def _multifd_body(w: World, a: Actor) -> Generator[Pending, None, None]:
    yield from qemu(w, "multifd_send_thread")


@qemu_function("multifd_send_thread", "() -> None",
               "a multifd send thread (no reference): multifd_use_packets() reads the object through "
               "migrate_get_current(), then it waits until multifd_send_shutdown() terminates it")
@typeguard_ignore
def _multifd_send_thread(w: World) -> Generator[Pending, None, None]:
    s = yield from migrate_get_current(w)
    if s is None:
        yield from null_caller(w, "multifd_use_packets")
    else:
        yield from w.read(s, "s->capabilities[MIGRATION_CAPABILITY_MAPPED_RAM]")

    @typeguard_ignore
    def blocker() -> Block | None:
        return None if w.multifd_exiting else Block("qemu_sem_wait(&p->sem)", "main")

    yield Pending("multifd_send_should_exit()", blocker)
    w.record("multifd_send_should_exit()", note="terminated")


@typeguard_ignore
def multifd_send_shutdown(w: World) -> Generator[Pending, None, None]:
    """The cleanup BH's ``multifd_send_shutdown()``: terminate the send thread and join it, BQL held."""
    if w.actor_named(MULTIFD) is None:
        return

    @typeguard_ignore
    def shutdown() -> Generator[Pending, None, None]:
        yield from w.step("multifd_send_terminate_threads()")
        w.multifd_exiting = True
        yield from w.wait_for(MULTIFD, "qemu_thread_join(multifd_send_thread)")

    yield from call(w, "multifd_send_shutdown", shutdown())
