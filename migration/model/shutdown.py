"""Where a shutdown comes from: the sources of ``qemu_cleanup()`` and how each one queues.

Every source ends QEMU's main loop the same way: it sets ``shutdown_requested``, and
``main_loop_should_exit()`` sees it after the main-loop iteration it came in, so
``qemu_cleanup()`` (``migration_shutdown()`` first) runs with no further ``main_loop_wait()``
(``system/runstate.c`` at 10.0.0, ``softmmu/runstate.c`` at 7.2.0).  They differ in one thing the
model can see: what else may still be in flight when the main loop exits.

In-band QMP requests are serialized by one dispatcher coroutine for every QMP monitor
(``monitor/qmp.c:monitor_qmp_dispatcher_co``; ``monitor_qmp_requests_pop_any_with_lock`` walks
every monitor of ``mon_list``, at 7.2.0 and 10.0.0).  So when the source is a QMP ``quit``, on the
same monitor as the other requests or on another one, ``quit`` is the request in flight when the
main loop exits: every request popped before it has finished, and the dispatcher takes no other
(``monitor_cleanup()`` sets ``qmp_dispatcher_co_shutdown`` before it lets the coroutine go on, and
the coroutine checks it before popping the next request).  A signal, a guest power-off or an HMP
``quit`` typed on a human monitor does not wait for the dispatcher: an in-band request already
popped may have its ``do_qmp_dispatch_bh`` pending when the main loop exits, and that bottom half
runs in ``monitor_cleanup()``'s poll (the spec's S15).

After the main loop has exited no in-band request is ever dispatched, whatever the source: the
dispatcher coroutine waits in ``iohandler_ctx``, which only ``monitor_cleanup()`` polls, after
it set the flag.

``-no-shutdown`` (``shutdown_action = SHUTDOWN_ACTION_PAUSE``) changes only the guest's power-off:
``main_loop_should_exit()`` then stops the VM (``vm_stop(RUN_STATE_SHUTDOWN)``) and goes on, so no
``qemu_cleanup()`` follows and the power-off is no source of the shutdown event.  ``quit``
(``qmp_quit``) and the signals (``qemu_system_killed``) set ``SHUTDOWN_ACTION_POWEROFF`` first, so
``-no-shutdown`` does not change them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_SOURCE", "SHUTDOWN_SOURCES", "ShutdownSource", "representatives", "shutdown_source"]


@dataclass(frozen=True)
class ShutdownSource:
    """One source of the shutdown.

    :ivar name: the value of ``migration_shutdown``'s ``source`` parameter.
    :ivar meaning: one line: who asks.
    :ivar qemu: the QEMU function that requests the shutdown (``file:function``, as at 10.0.0).
    :ivar cause: QEMU's ``ShutdownCause`` (``qapi/run-state.json``), the ``SHUTDOWN`` event's ``reason``.
    :ivar queued: the request is an in-band QMP command, serialized behind every in-band request
        popped before it (``monitor/qmp.c:monitor_qmp_dispatcher_co``).
    :ivar no_shutdown: what ``-no-shutdown`` makes of it: ``"shutdown"`` (unchanged) or ``"stop"``
        (the VM stops, the main loop goes on: no ``qemu_cleanup()``).
    """

    name: str
    meaning: str
    qemu: str
    cause: str
    queued: bool
    no_shutdown: str = "shutdown"

    def __str__(self) -> str:
        return f"ShutdownSource({self.name})"


#: every source, the default first (a signal: the source that may come at any point)
SHUTDOWN_SOURCES: dict[str, ShutdownSource] = {s.name: s for s in (
    ShutdownSource("sigterm", "SIGTERM to the QEMU process", "system/runstate.c:qemu_system_killed",
                   "host-signal", queued=False),
    ShutdownSource("qmp-quit", "quit on the QMP monitor that sent the other in-band requests",
                   "monitor/qmp-cmds.c:qmp_quit", "host-qmp-quit", queued=True),
    ShutdownSource("qmp-quit-other", "quit on another QMP monitor (one dispatcher serves every QMP monitor)",
                   "monitor/qmp-cmds.c:qmp_quit", "host-qmp-quit", queued=True),
    ShutdownSource("hmp-quit", "quit typed on a human monitor (-monitor; not human-monitor-command, "
                   "which is an in-band QMP request)", "monitor/hmp-cmds.c:hmp_quit", "host-qmp-quit",
                   queued=False),
    ShutdownSource("sigint", "SIGINT (or SIGHUP) to the QEMU process",
                   "system/runstate.c:qemu_system_killed", "host-signal", queued=False),
    ShutdownSource("guest-poweroff", "the guest powers off (ACPI, a power-off register)",
                   "system/runstate.c:qemu_system_shutdown_request", "guest-shutdown", queued=False,
                   no_shutdown="stop"),
)}

#: the source of a shutdown event that names none
DEFAULT_SOURCE = "sigterm"


def shutdown_source(name: str) -> ShutdownSource:
    """:param name: a source's name.
    :return: the source.
    :raise KeyError: when there is no such source.
    """
    return SHUTDOWN_SOURCES[name]


def representatives() -> tuple[str, ...]:
    """:return: one source per way of queueing (the default first): the sources of one class run the
        same steps, so the bounded explorer takes one of each (``tests/test_shutdown_sources.py`` runs
        every source of a class and finds the same runs)."""
    out: dict[bool, str] = {}
    for s in SHUTDOWN_SOURCES.values():
        out.setdefault(s.queued, s.name)
    return tuple(out.values())
