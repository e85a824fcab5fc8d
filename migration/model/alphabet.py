"""The model's event alphabet: ONE table of event kinds and their parameter domains.

Everything that builds programs derives its events from :data:`ALPHABET`: the
validation in :class:`migration.model.program.Event`, the Hypothesis strategies of
:mod:`migration.check.explore`, and any bounded explorer (:func:`events_for_phase`
enumerates every event of a phase).  Nobody keeps an event list of their own.

Each kind says which QEMU function it stands for, which parameters it takes (the
first value of a domain is the default; a domain of ``None`` is free text that
explorers never vary), and in which phases of a program it may appear:
``pre`` (before ``migration_object_init``: only ``introspect`` and ``add_blocker``, the one caller
QEMU has there, ``migrate_add_blocker()`` from a block driver opened for ``-drive``; the stack is in
the message of QEMU commit 4daff81efb), ``running`` (between init and
``migration_shutdown``) and ``post`` (after it, before ``monitor_cleanup``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING

from migration.model.shutdown import SHUTDOWN_SOURCES

if TYPE_CHECKING:
    from migration.model.program import Event

__all__ = [
    "ALPHABET",
    "HELPER_NAMES",
    "PHASES",
    "EventKind",
    "Param",
    "combinations_of",
    "kind",
    "kinds_for_phase",
    "leaves_actor",
]

Param = str | bool | int | None

#: every exported helper the model implements (the per-tag sets are in migration.model.designs)
HELPER_NAMES: tuple[str, ...] = (
    "migration_is_running",
    "migration_is_idle",
    "migration_is_active",
    "migration_is_device",
    "migration_is_setup_or_active",
    "migration_file_set_error",
    "migration_thread_is_self",
)

PHASES: tuple[str, ...] = ("pre", "running", "post")


@dataclass(frozen=True)
class EventKind:
    """One kind of event.

    :ivar name: the event's name in programs (``{"event": name, ...}``).
    :ivar meaning: one line: what happens.
    :ivar qemu: the QEMU function it stands for (``file:function``; the first of a chain).
    :ivar params: parameter name -> its domain (first value = default), or ``None`` for free text.
    :ivar phases: where a generated program may place it (fixed lifecycle events have none).
    :ivar actor: the actor the event starts, if any (besides the main thread).
    """

    name: str
    meaning: str
    qemu: str
    params: tuple[tuple[str, tuple[Param, ...] | None], ...] = ()
    phases: tuple[str, ...] = ()
    actor: str = ""

    def __str__(self) -> str:
        return f"EventKind({self.name})"

    def domain(self, param: str) -> tuple[Param, ...] | None:
        """:param param: a parameter name.
        :return: its domain (``None``: free text).
        :raise KeyError: when the kind has no such parameter.
        """
        for p, dom in self.params:
            if p == param:
                return dom
        raise KeyError(param)

    def param_names(self) -> frozenset[str]:
        """:return: the parameter names."""
        return frozenset(p for p, _ in self.params)


_H = (None, *HELPER_NAMES)

#: the alphabet, in the order reports list it
ALPHABET: tuple[EventKind, ...] = (
    EventKind("object_init", "migration_object_init(): object_new(\"migration\"), set current_migration",
              "migration/migration.c:migration_object_init"),
    EventKind("migrate", "qmp migrate: start the outgoing migration thread T_mig",
              "migration/migration.c:qmp_migrate",
              (("peer", ("ok", "blocked")), ("channel", ("socket", "file")),
               ("thread_helper", _H), ("helper_needs_bql", (False, True)),
               ("bh_helper", (None, "migration_file_set_error", "migration_is_running")),
               ("threads", ("none", "return-path", "multifd"))),
              ("running",), "T_mig"),
    EventKind("migrate_incoming", "qmp migrate-incoming: start the incoming load coroutine",
              "migration/migration.c:qmp_migrate_incoming", (), ("running",), "co:incoming"),
    EventKind("migration_shutdown", "the main loop exits on a shutdown request (source: who asked, "
              "migration.model.shutdown), then migration_shutdown() in qemu_cleanup(): cancel, drop the main "
              "reference", "migration/migration.c:migration_shutdown",
              (("source", tuple(SHUTDOWN_SOURCES)),)),
    EventKind("vm_shutdown", "vm_shutdown(): pause vCPUs (BQL released), run-state handlers, drain "
              "(nested aio_poll, BQL kept, only with a busy block device)", "system/cpus.c:do_vm_stop",
              (("vm", ("running", "stopped")), ("vfio", ("fails", "ok", "none")),
               ("block", ("busy", "idle"))), ("post",)),
    EventKind("monitor_cleanup",
              "monitor_cleanup(): nested polls (BQL kept), then iothread_stop(mon_iothread)",
              "monitor/monitor.c:monitor_cleanup"),
    EventKind("poll", "one main_loop_wait(): BQL released around the poll, then dispatch",
              "util/main-loop.c:main_loop_wait", (), ("running",)),
    EventKind("introspect", "a QMP introspection command for typename=migration",
              "qom/qom-qmp-cmds.c:qmp_qom_list_properties",
              (("command", ("qom-list-properties", "device-list-properties")), ("label", None)),
              ("pre", "running", "post")),
    EventKind("query_migrate", "in-band query-migrate: do_qmp_dispatch_bh (iohandler_ctx) runs "
              "fill_source_migration_info; caller=outside: a direct migrate_get_current() on main",
              "migration/migration.c:qmp_query_migrate",
              (("caller", ("qmp", "outside")), ("pending", (False, True))), ("running", "post"),
              "bh:qmp-dispatch"),
    EventKind("add_blocker", "a block driver opened for -drive calls migrate_add_blocker() before "
              "migration_object_init(): is_busy() asks migration_is_idle() (9.1) or migration_is_running()",
              "migration/migration.c:migrate_add_blocker", (), ("pre",)),
    EventKind("helper", "an exported misc.h helper called on the main thread from outside migration/",
              "include/migration/misc.h", (("name", HELPER_NAMES),), ("running", "post")),
    EventKind("create", "a creation path for 'migration' (object_new, object-add, device_add, -device help)",
              "qom/object.c:object_new",
              (("path", ("object_new", "object-add", "device_add", "device-help")),),
              ("running",)),
    EventKind("oob", "a client's exec-oob command, run on the monitor I/O thread without the BQL until "
              "monitor_cleanup() stops that thread", "monitor/qmp.c:handle_qmp_command",
              (("command", ("migrate-pause", "migrate-recover")),), ("running", "post"), "mon_iothread"),
    EventKind("dirty_limit", "set-vcpu-dirty-limit: starts the dirtyrate-stat thread (no BQL), which calls "
              "migration helpers each period until the process exits",
              "system/dirtylimit.c:vcpu_dirty_rate_stat_thread",
              (("cap", (False, True)), ("rounds", (1, 2))), ("running",), "dirtyrate-stat"),
    EventKind("vcpu_device", "a guest write exits to QEMU on a vCPU thread, whose device code asks a "
              "migration helper holding the BQL (it waits for main to release it: pause_all_vcpus() in "
              "qemu_cleanup())",
              "hw/virtio/virtio-mem.c:virtio_mem_is_busy",
              (("device", ("virtio-mem", "vhost-vdpa")),), ("running", "post"), "vcpu"),
)

_BY_NAME: dict[str, EventKind] = {k.name: k for k in ALPHABET}


def kind(name: str) -> EventKind:
    """:param name: an event name.
    :return: its kind.
    :raise KeyError: when the alphabet has no such event.
    """
    return _BY_NAME[name]


def kinds_for_phase(phase: str) -> tuple[EventKind, ...]:
    """:param phase: ``pre``, ``running`` or ``post``.
    :return: the kinds a program may place there.
    """
    return tuple(k for k in ALPHABET if phase in k.phases)


def combinations_of(k: EventKind) -> list[dict[str, Param]]:
    """Every parameter combination of a kind over its finite domains (free-text parameters left out).

    :param k: the kind.
    :return: one ``{param: value}`` per combination (``[{}]`` for a kind without parameters).
    """
    finite = [(p, dom) for p, dom in k.params if dom is not None]
    return [dict(zip([p for p, _ in finite], vals, strict=True))
            for vals in product(*(dom for _, dom in finite))]


def leaves_actor(e: Event) -> bool:
    """Whether an event may leave an actor running after it returns (a *background* event).

    ``migrate``, ``migrate_incoming``, ``oob``, ``dirty_limit`` and ``vcpu_device`` start a thread or a
    coroutine that outlives the command.  An in-band ``query_migrate`` schedules ``do_qmp_dispatch_bh``
    and main's ``main_loop_wait`` runs it before the event ends (qapi/qmp-dispatch.c:qmp_dispatch); only
    ``pending=True``, the reply still owed when main moves on, leaves it behind, and ``caller=outside``
    starts nothing.  The bounded explorer checks this at every event boundary and stops with an error
    the first time the model contradicts it.

    :param e: an event.
    :return: ``True`` for a background event.
    """
    k = kind(e.kind)
    if k.name == "query_migrate":
        return e.param("caller") != "outside" and e.param("pending") is True
    return bool(k.actor)
