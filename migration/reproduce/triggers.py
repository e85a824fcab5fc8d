"""What makes a real QEMU run each model event: one table, keyed by the event's name.

Every event of :data:`migration.model.alphabet.ALPHABET` has one or more :class:`Trigger` rows here
(``tests/test_reproduce.py`` checks that none is missing).  A row says which outside action makes QEMU
run the code the event stands for (a QMP command, in-band or out-of-band, an HMP command, a signal, a
guest action, a command-line option, or QEMU's own start-up and shutdown), with the options that make
the situation exist, and the QEMU function it reaches (``file:function`` at v10.0.0).  A row of kind
:attr:`TriggerKind.NONE` says why there is no outside trigger (a call only VFIO hardware makes, a
caller QEMU does not have).

The first row whose ``when`` matches the event's parameters (the alphabet's defaults for the ones the
event leaves out) is the event's trigger::

    >>> from migration.model.program import ev
    >>> trigger_of(ev("oob", command="migrate-pause")).command
    'migrate-pause'
    >>> trigger_of(ev("vm_shutdown", vm="running", vfio="fails")).kind.value
    'none'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from migration.model.alphabet import HELPER_NAMES, Param
from migration.model.program import Event

__all__ = [
    "SLOW_FLUSH_NS",
    "TRIGGERS",
    "Trigger",
    "TriggerKind",
    "Version",
    "trigger_of",
]

#: a QEMU version, ``(major, minor, micro)``
Version = tuple[int, int, int]

#: the null-co node's request latency: ``qemu_cleanup()``'s block flush takes this long, while the
#: monitor I/O thread still runs out-of-band commands (block/null.c:null_co_common)
SLOW_FLUSH_NS = 3_000_000_000


class TriggerKind(Enum):
    """How an outside actor makes QEMU run an event's code."""

    QMP = "qmp"
    QMP_OOB = "qmp-oob"
    HMP = "hmp"
    SIGNAL = "signal"
    GUEST = "guest"
    COMMAND_LINE = "command-line"
    #: QEMU runs it by itself once started or told to quit (``qemu_init``, ``qemu_cleanup``)
    LIFECYCLE = "lifecycle"
    #: no outside action reaches it on a machine we can run (``why`` says why)
    NONE = "none"


@dataclass(frozen=True)
class Trigger:
    """One row of the table.

    :ivar event: the model event's name.
    :ivar kind: how it is triggered.
    :ivar command: the QMP or HMP command, the signal, or the option (empty for a lifecycle step).
    :ivar arguments: the QMP command's arguments.
    :ivar options: the QEMU command-line options that make the situation exist.
    :ivar qemu: the QEMU function it reaches, ``file:function`` at v10.0.0.
    :ivar when: the event parameters this row is for (empty: any).
    :ivar since: the first QEMU version that has the trigger.
    :ivar why: for :attr:`TriggerKind.NONE`, why nothing outside triggers it.
    :ivar before: QMP commands (name, arguments) sent first, to make the situation exist.
    """

    event: str
    kind: TriggerKind
    qemu: str
    command: str = ""
    arguments: Mapping[str, object] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    when: Mapping[str, Param] = field(default_factory=dict)
    since: Version = (7, 2, 0)
    why: str = ""
    before: tuple[tuple[str, Mapping[str, object]], ...] = ()

    def matches(self, e: Event) -> bool:
        """:param e: an event of this row's kind.
        :return: whether every parameter in ``when`` has that value in ``e``.
        """
        return e.kind == self.event and all(e.param(k) == v for k, v in self.when.items())

    @property
    def drivable(self) -> bool:
        """:return: whether an outside action triggers it."""
        return self.kind is not TriggerKind.NONE


#: guest RAM the migration must send: a file of non-zero bytes (zero pages cost a few bytes each, and a
#: migration of them ends before any command can follow it)
_RAM = ("-m", "64M", "-object", "memory-backend-file,id=ram0,size=64M,mem-path={ram},share=on",
        "-machine", "memory-backend=ram0")

#: bytes per second: QEMU sends about 1.3 MB/s under this limit (10.0.2, measured), so the 64 MiB of RAM
#: keep the migration active for most of a minute without valgrind
_SLOW_BANDWIDTH = 1024

_NO_VFIO = ("the VFIO device's state change failing needs VFIO hardware with migration support "
            "(hw/vfio/migration.c:vfio_vmstate_change calls migration_file_set_error)")
_NO_HELPER = ("no code on QEMU's main thread calls an exported helper there: its callers are device code "
              "(VFIO, virtio-mem, vhost-vdpa) a guest or VFIO hardware drives (include/migration/misc.h)")

#: event name -> its rows, first match wins
TRIGGERS: dict[str, tuple[Trigger, ...]] = {
    "object_init": (
        Trigger("object_init", TriggerKind.LIFECYCLE, "system/vl.c:qemu_init"),
    ),
    "migrate": (
        *(Trigger("migrate", TriggerKind.NONE, "migration/migration.c:migration_thread",
                  when={"thread_helper": name},
                  why=f"the model's T_mig calls {name}(): no option makes the real migration thread call "
                      "an exported helper of its own accord") for name in HELPER_NAMES),
        Trigger("migrate", TriggerKind.NONE, "migration/migration.c:migration_thread",
                when={"helper_needs_bql": True},
                why="the model's T_mig calls an exported helper under the BQL: the real migration thread "
                    "has no such call an option can ask for"),
        Trigger("migrate", TriggerKind.NONE, "hw/vfio/migration.c:vfio_vmstate_change",
                when={"bh_helper": "migration_file_set_error"}, why=_NO_VFIO),
        Trigger("migrate", TriggerKind.NONE, "migration/migration.c:migration_thread",
                when={"bh_helper": "migration_is_running"},
                why="a bottom half outside migration/ that calls migration_is_running() is device code "
                    "(hw/vfio) that needs VFIO hardware"),
        # a peer that never reads: the thread blocks in its first large write until migration_cancel()
        # shuts the socket down (migration/migration.c:migration_cancel -> qemu_file_shutdown)
        Trigger("migrate", TriggerKind.QMP, "migration/migration.c:qmp_migrate", "migrate",
                {"uri": "unix:{peer}"}, _RAM, when={"peer": "blocked", "channel": "socket"}),
        Trigger("migrate", TriggerKind.QMP, "migration/migration.c:qmp_migrate", "migrate",
                {"uri": "file:{peer}"}, _RAM, when={"peer": "blocked", "channel": "file"},
                since=(9, 0, 0)),
        # a peer that reads everything, slowed down by a bandwidth limit so that the migration stays
        # active (migration/options.c:qmp_migrate_set_parameters, max-bandwidth)
        Trigger("migrate", TriggerKind.QMP, "migration/migration.c:qmp_migrate", "migrate",
                {"uri": "exec:cat > /dev/null"}, _RAM, when={"channel": "socket"},
                before=(("migrate-set-parameters", {"max-bandwidth": _SLOW_BANDWIDTH}),)),
        Trigger("migrate", TriggerKind.QMP, "migration/migration.c:qmp_migrate", "migrate",
                {"uri": "file:/dev/null"}, _RAM, when={"channel": "file"}, since=(9, 0, 0),
                before=(("migrate-set-parameters", {"max-bandwidth": _SLOW_BANDWIDTH}),)),
    ),
    "migrate_incoming": (
        Trigger("migrate_incoming", TriggerKind.QMP, "migration/migration.c:qmp_migrate_incoming",
                "migrate-incoming", {"uri": "unix:{incoming}"}, ("-incoming", "defer")),
    ),
    "migration_shutdown": (
        # quit, after a write to the null-co node made qemu_cleanup()'s flush slow
        Trigger("migration_shutdown", TriggerKind.QMP, "monitor/qmp-cmds.c:qmp_quit", "quit",
                options=("-blockdev",
                         f"driver=null-co,node-name=n0,size=1048576,latency-ns={SLOW_FLUSH_NS}")),
    ),
    "vm_shutdown": (
        Trigger("vm_shutdown", TriggerKind.NONE, "hw/vfio/migration.c:vfio_vmstate_change",
                when={"vfio": "fails"}, why=_NO_VFIO),
        Trigger("vm_shutdown", TriggerKind.NONE, "hw/vfio/migration.c:vfio_vmstate_change",
                when={"vfio": "ok"}, why="a VFIO device with migration support needs VFIO hardware"),
        # a VM that runs at quit (no -S): do_vm_stop() pauses the vCPUs, then drains and flushes
        Trigger("vm_shutdown", TriggerKind.LIFECYCLE, "system/cpus.c:do_vm_stop", when={"vm": "running"}),
        Trigger("vm_shutdown", TriggerKind.LIFECYCLE, "system/cpus.c:do_vm_stop", options=("-S",),
                when={"vm": "stopped"}),
    ),
    "monitor_cleanup": (
        Trigger("monitor_cleanup", TriggerKind.LIFECYCLE, "monitor/monitor.c:monitor_cleanup"),
    ),
    "poll": (
        # every in-band command is answered from a main_loop_wait() iteration
        Trigger("poll", TriggerKind.LIFECYCLE, "util/main-loop.c:main_loop_wait"),
    ),
    "introspect": (
        Trigger("introspect", TriggerKind.QMP, "qom/qom-qmp-cmds.c:qmp_qom_list_properties",
                "qom-list-properties", {"typename": "migration"}, when={"command": "qom-list-properties"}),
        Trigger("introspect", TriggerKind.QMP, "qom/qom-qmp-cmds.c:qmp_device_list_properties",
                "device-list-properties", {"typename": "migration"}),
    ),
    "query_migrate": (
        Trigger("query_migrate", TriggerKind.NONE, "migration/migration.c:migrate_get_current",
                when={"caller": "outside"},
                why="no code on QEMU's main thread calls migrate_get_current() after migration_shutdown(); "
                    "query-migrate reaches it only through QMP's dispatch bottom half"),
        Trigger("query_migrate", TriggerKind.NONE, "qapi/qmp-dispatch.c:do_qmp_dispatch_bh",
                when={"pending": True},
                why="the dispatch bottom half must still be pending when main_loop_should_exit() sees "
                    "the shutdown request: one main-loop iteration, and QEMU has no option that holds "
                    "the dispatcher there"),
        Trigger("query_migrate", TriggerKind.QMP, "migration/migration.c:qmp_query_migrate",
                "query-migrate"),
    ),
    "add_blocker": (
        # a read-write vvfat node adds a migration blocker while -blockdev is opened, before
        # migration_object_init() (block/vvfat.c:vvfat_open -> migrate_add_blocker_normal)
        Trigger("add_blocker", TriggerKind.COMMAND_LINE, "block/vvfat.c:vvfat_open", "-blockdev",
                options=("-blockdev", "driver=vvfat,node-name=vv,dir={vvfat},rw=on,fat-type=16")),
    ),
    "helper": (
        Trigger("helper", TriggerKind.NONE, "include/migration/misc.h", why=_NO_HELPER),
    ),
    "create": (
        Trigger("create", TriggerKind.QMP, "qom/qom-qmp-cmds.c:qmp_object_add", "object-add",
                {"qom-type": "migration", "id": "mig1"}, when={"path": "object-add"}),
        Trigger("create", TriggerKind.QMP, "system/qdev-monitor.c:qmp_device_add", "device_add",
                {"driver": "migration"}, when={"path": "device_add"}),
        Trigger("create", TriggerKind.NONE, "system/qdev-monitor.c:qdev_device_help",
                when={"path": "device-help"},
                why="-device migration,help prints and exits before the rest of a run can happen"),
        Trigger("create", TriggerKind.NONE, "qom/object.c:object_new", when={"path": "object_new"},
                why="object_new(\"migration\") outside migration_object_init() is a call QEMU's own code "
                    "does not make"),
    ),
    "oob": (
        Trigger("oob", TriggerKind.QMP_OOB, "migration/migration.c:qmp_migrate_pause", "migrate-pause",
                when={"command": "migrate-pause"}),
        Trigger("oob", TriggerKind.QMP_OOB, "migration/migration.c:qmp_migrate_recover", "migrate-recover",
                {"uri": "unix:{incoming}"}, when={"command": "migrate-recover"}),
    ),
    "dirty_limit": (
        Trigger("dirty_limit", TriggerKind.NONE, "system/dirtylimit.c:qmp_set_vcpu_dirty_limit",
                why="set-vcpu-dirty-limit needs KVM with a dirty ring (kvm_dirty_ring_enabled()), and "
                    "valgrind cannot run a KVM guest"),
    ),
    "vcpu_device": (
        Trigger("vcpu_device", TriggerKind.NONE, "hw/virtio/virtio-mem.c:virtio_mem_is_busy",
                when={"device": "virtio-mem"},
                why="a guest driver's write to a virtio-mem device, handled on the vCPU thread (TCG or "
                    "ioeventfd=off): it needs a booted guest kernel, which the reproducer does not run"),
        Trigger("vcpu_device", TriggerKind.NONE, "net/vhost-vdpa.c:vhost_vdpa_net_data_start",
                when={"device": "vhost-vdpa"},
                why="a vhost-vdpa network device needs a vDPA device on the host and a booted guest"),
    ),
}


def trigger_of(e: Event) -> Trigger:
    """:param e: an event.
    :return: its trigger (the first row that matches).
    :raise KeyError: when the table has no row for it (a new event must add its rows).
    """
    for row in TRIGGERS.get(e.kind, ()):
        if row.matches(e):
            return row
    raise KeyError(f"no trigger declared for event '{e}'")
