"""Which QEMU tag has which feature, capability, command, thread and helper, with the source of each fact.

The model's alphabet (:mod:`migration.model.alphabet`) is one table for every tag; this table says which
of its events a tag lacks, so that the explorers leave them out of that tag's alphabet
(:func:`lacks`, :func:`migration.check.bounded.model_alphabet`).  Every entry cites, per tag, the QEMU
source that shows the feature there or its absence (``file:function`` or ``file``, at the tag's git
tag; 7.2 is v7.2.0 with Debian's v7.2.1..v7.2.22 patches, which change none of these entries).

Facts that are not features of the alphabet (renamed functions, source files) are in
:mod:`migration.model.sources`; the exported helpers per tag are
:data:`migration.model.designs.EXPORTED_HELPERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from migration.model.alphabet import Param

if TYPE_CHECKING:
    from migration.model.program import Event

__all__ = ["ALL_TAGS", "FEATURES", "Feature", "feature", "has", "lacks"]

#: every tag the table speaks of, oldest first
ALL_TAGS: tuple[str, ...] = ("7.2", "9.1", "9.2", "10.0", "master")

_FROM_9_1 = ("9.1", "9.2", "10.0", "master")


@dataclass(frozen=True)
class Feature:
    """One feature of QEMU that the model depends on.

    :ivar name: what it is.
    :ivar kind: ``capability``, ``command``, ``thread``, ``helper`` or ``function``.
    :ivar tags: the tags that have it.
    :ivar cite: per tag of :data:`ALL_TAGS`: where the source shows it, or shows it absent.
    :ivar needs: the alphabet's events that stand for it: ``(event kind, ((param, value), ...))``;
        an event of that kind whose parameters include all of these needs the feature (an empty tuple
        of parameters: every event of the kind).
    """

    name: str
    kind: str
    tags: tuple[str, ...]
    cite: Mapping[str, str]
    needs: tuple[tuple[str, tuple[tuple[str, Param], ...]], ...] = ()

    def __str__(self) -> str:
        return f"Feature({self.name})"


def _from_9_1(absent_at_7_2: str, present: str, **per_tag: str) -> dict[str, str]:
    return {"7.2": absent_at_7_2, **{t: per_tag.get(t.replace(".", "_"), present) for t in _FROM_9_1}}


def _everywhere(at_7_2: str, present: str) -> dict[str, str]:
    return {"7.2": at_7_2, **{t: present for t in _FROM_9_1}}


#: the table, by name
FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("dirty-limit capability", "capability", _FROM_9_1,
            _from_9_1("qapi/migration.json: MigrationCapability has no dirty-limit (added in 8.1)",
                      "migration/options.c:migrate_dirty_limit"),
            (("dirty_limit", (("cap", True),)),)),
    Feature("dirtyrate-stat reads the migration object", "thread", _FROM_9_1,
            _from_9_1("softmmu/dirtylimit.c: no call into migration/ (the thread exists, "
                      "vcpu_dirty_rate_stat_collect reads no migration state)",
                      "system/dirtylimit.c:vcpu_dirty_rate_stat_collect"),
            (("dirty_limit", ()),)),
    Feature("set-vcpu-dirty-limit", "command", ALL_TAGS,
            _everywhere("qapi/migration.json: set-vcpu-dirty-limit",
                        "qapi/migration.json: set-vcpu-dirty-limit")),
    Feature("vfio_set_migration_error", "function", _FROM_9_1,
            _from_9_1("hw/vfio/common.c: no vfio_set_migration_error (the listener's errors are only "
                      "reported; vfio_devices_all_running_and_saving reads ms->state)",
                      "hw/vfio/common.c:vfio_set_migration_error",
                      master="hw/vfio/listener.c:vfio_listener_log_global_stop"),
            (("migrate", (("bh_helper", "migration_file_set_error"),)),
             ("migrate", (("bh_helper", "migration_is_running"),)))),
    Feature("migrate-pause allows out-of-band", "command", ALL_TAGS,
            _everywhere("qapi/migration.json: migrate-pause 'allow-oob': true",
                        "qapi/migration.json: migrate-pause 'allow-oob': true"),
            (("oob", (("command", "migrate-pause"),)),)),
    Feature("migrate-recover allows out-of-band", "command", ALL_TAGS,
            _everywhere("qapi/migration.json: migrate-recover 'allow-oob': true",
                        "qapi/migration.json: migrate-recover 'allow-oob': true"),
            (("oob", (("command", "migrate-recover"),)),)),
    Feature("migrate_add_blocker -> migration_is_idle", "helper", ("7.2", "9.1"),
            {"7.2": "migration/migration.c:migrate_add_blocker_internal",
             "9.1": "migration/migration.c:is_busy",
             "9.2": "migration/migration.c:is_busy calls migration_is_running (34a8892dec)",
             "10.0": "migration/migration.c:is_busy calls migration_is_running",
             "master": "migration/migration.c:is_busy calls migration_is_running"}),
    Feature("migration_bh_schedule (every migration BH holds a reference)", "function", _FROM_9_1,
            _from_9_1("migration/migration.c:migrate_fd_cleanup_schedule (only the cleanup BH, which "
                      "takes its own reference)", "migration/migration.c:migration_bh_schedule")),
    Feature("the thread's reference before qemu_thread_create", "function", ("9.2", "10.0", "master"),
            {"7.2": "migration/migration.c:migration_thread takes it inside the thread",
             "9.1": "migration/migration.c:migration_thread takes it inside the thread",
             "9.2": "migration/migration.c:migrate_fd_connect (7fc8beb16e)",
             "10.0": "migration/migration.c:migration_connect",
             "master": "migration/migration.c:migration_start_outgoing"}),
    Feature("the incoming side's reference", "function", ("10.0", "master"),
            {"7.2": "migration/migration.c:process_incoming_migration_co refs only on success, for its "
                    "BH (Debian's v7.2.10 patch); the failing load the model runs takes none",
             "9.1": "migration/migration.c:qmp_migrate_incoming takes none",
             "9.2": "migration/migration.c:qmp_migrate_incoming takes none",
             "10.0": "migration/migration.c:migrate_incoming_ref_outgoing_state (d657a14de5)",
             "master": "migration/migration.c:migrate_incoming_ref_outgoing_state"}),
    Feature("migration_file_set_error", "helper", _FROM_9_1,
            _from_9_1("include/migration/misc.h: none; a failed VFIO state change calls "
                      "qemu_file_set_error(migrate_get_current()->to_dst_file) "
                      "(hw/vfio/migration.c:vfio_vmstate_change)", "include/migration/misc.h")),
)}


def feature(name: str) -> Feature:
    """:param name: a feature's name.
    :return: the feature.
    :raise KeyError: when the table has no such feature.
    """
    return FEATURES[name]


def has(tag: str, name: str) -> bool:
    """:param tag: a tag of :data:`ALL_TAGS`.
    :param name: a feature's name.
    :return: whether the tag has it.
    :raise KeyError: when the table has no such feature.
    """
    return tag in FEATURES[name].tags


@cache  # asked at every event of every run; the table never changes
def lacks(tag: str, e: Event) -> tuple[Feature, ...]:
    """:param tag: a tag of :data:`ALL_TAGS`.
    :param e: an event.
    :return: the features the event stands for that the tag lacks (empty: the tag has the event).
    """
    return tuple(f for f in FEATURES.values() if tag not in f.tags
                 and any(k == e.kind and all(e.param(p) == v for p, v in need) for k, need in f.needs))
