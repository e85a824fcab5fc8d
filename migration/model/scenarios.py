"""The spec's §4 scenarios as named programs.

Each scenario is a fixed sequence of events (:mod:`migration.model.program`); the
concurrent parts (``T_mig``, bottom halves, the incoming coroutine, the monitor I/O thread)
interleave with it in every way the scheduler allows.  ``vm_shutdown`` stands for a VM that
was running at ``quit`` (``pause_all_vcpus()`` releases the BQL) with a VFIO device whose
state change fails (``vfio_vmstate_change()`` then calls ``migration_file_set_error()``).
The model decides what happens.  Sub-cases of S8, S9 and S14 get ids ``<spec id>:a``, ``:b``, ``:c``.
"""

from __future__ import annotations

from migration.model.program import Program, ev

__all__ = ["SCENARIOS", "SCENARIO_TEXT"]

_INIT = ev("object_init")
_SHUT = ev("migration_shutdown")
_VM = ev("vm_shutdown", vm="running", vfio="fails")
_MON = ev("monitor_cleanup")
#: the valgrind reproducer's machine: -M none (no vCPU, no VFIO), a block device whose flush is slow
_VM_PLAIN = ev("vm_shutdown", vm="running", vfio="none")


def _introspect_all(label: str) -> Program:
    return (
        ev("introspect", command="device-list-properties", label=f"device-list-properties ({label})"),
        ev("introspect", command="qom-list-properties", label=f"qom-list-properties ({label})"),
        ev("introspect", command="device-list-properties", label=f"device_add migration,help ({label})"),
    )


#: scenario id -> program
SCENARIOS: dict[str, Program] = {
    "S1-helper-after-idle-shutdown": (_INIT, _SHUT, _VM, _MON),
    "S2-thread-holds-last-ref": (
        _INIT, ev("migrate"), _SHUT, _VM, ev("helper", name="migration_is_running"), _MON,
    ),
    "S3-load-free-use": (_INIT, ev("migrate"), _SHUT, ev("helper", name="migration_is_running"), _MON),
    "S4-thread-creation": (_INIT, ev("migrate"), _SHUT, _MON),
    "S5-bh-after-free": (_INIT, ev("migrate"), _SHUT, _VM, _MON),
    "S6-incoming-coroutine": (_INIT, ev("migrate_incoming"), ev("poll"), _SHUT, _MON),
    "S7-introspect-live": (
        *_introspect_all("before init"),
        _INIT,
        *_introspect_all("running"),
        ev("query_migrate"),
        _SHUT,
        *_introspect_all("after shutdown"),
    ),
    "S8-wrong-pointer:a": (
        _INIT, ev("migrate", bh_helper="migration_file_set_error"), _SHUT, _VM, _MON,
    ),
    "S8-wrong-pointer:b": (_INIT, _SHUT, ev("query_migrate", caller="outside")),
    "S8-wrong-pointer:c": (_INIT, ev("migrate", thread_helper="migration_is_running"), _SHUT, _MON),
    "S9-lock-order:a": (_INIT, ev("migrate"), _SHUT, ev("helper", name="migration_file_set_error"), _MON),
    "S9-lock-order:b": (
        _INIT, ev("migrate", thread_helper="migration_file_set_error", helper_needs_bql=True),
        ev("helper", name="migration_is_running"), _SHUT, _MON,
    ),
    "S10-rcu-reader": (_INIT, ev("migrate"), _SHUT, ev("helper", name="migration_file_set_error"), _VM, _MON),
    "S11-blocked-peer": (_INIT, ev("migrate", peer="blocked"), _SHUT, _VM, _MON),
    "S12-discover-globals": (
        _INIT,
        ev("introspect", command="qom-list-properties", label="qom-list-properties (discover -global)"),
        _SHUT,
    ),
    "S13-unconverted-path": (
        _INIT, ev("create", path="object_new"), ev("create", path="object-add"),
        ev("create", path="device-help"), ev("query_migrate"), _SHUT,
    ),
    "S14-oob-after-shutdown:a": (_INIT, _SHUT, ev("oob", command="migrate-pause"), _VM_PLAIN, _MON),
    "S14-oob-after-shutdown:b": (
        _INIT, ev("migrate"), ev("oob", command="migrate-pause"), _SHUT, _VM_PLAIN, _MON,
    ),
    "S15-qmp-bh-at-cleanup": (
        _INIT, ev("migrate"), ev("query_migrate", pending=True), _SHUT, _VM_PLAIN, _MON,
    ),
}

#: scenario id -> the spec's one-line description
SCENARIO_TEXT: dict[str, str] = {
    "S1-helper-after-idle-shutdown": "a run-state handler calls helpers after an idle migration_shutdown()",
    "S2-thread-holds-last-ref": "T_mig drops the last reference, then a helper runs on T_main",
    "S3-load-free-use": "a helper loads the pointer, T_mig drops the last reference, the helper uses it",
    "S4-thread-creation": "migration_shutdown() before T_mig has taken its reference",
    "S5-bh-after-free": "T_mig schedules its cleanup BH, drops its reference; the BH runs in vm_shutdown()",
    "S6-incoming-coroutine": "the incoming coroutine resumes in monitor_cleanup() after migration_shutdown()",
    "S7-introspect-live": "introspection before init, while running and after shutdown; then query-migrate",
    "S8-wrong-pointer:a": "a BH calls an exported helper after migration_shutdown(), migration finishing",
    "S8-wrong-pointer:b": "code outside migration calls the internal accessor after the last reference",
    "S8-wrong-pointer:c": "T_mig reads the export pointer while T_main clears it",
    "S9-lock-order:a": "a helper holding the pointer mutex drops the last reference",
    "S9-lock-order:b": "T_main holds the BQL and waits for the pointer mutex; T_mig the reverse",
    "S10-rcu-reader": "an RCU reader locks qemu_file_lock after the last unref ran finalize",
    "S11-blocked-peer": "T_mig blocked on an unresponsive peer when migration_shutdown() runs",
    "S12-discover-globals": "a client discovers the -global migration.* switches with qom-list-properties",
    "S13-unconverted-path": "creation paths not taught about singletons, while the live instance exists",
    "S14-oob-after-shutdown:a": "exec-oob migrate-pause on the monitor I/O thread after an idle "
    "migration_shutdown(), before monitor_cleanup() stops the I/O thread",
    "S14-oob-after-shutdown:b": "exec-oob migrate-pause sent while a migration runs; the I/O thread "
    "runs it at any point until monitor_cleanup() stops it",
    "S15-qmp-bh-at-cleanup": "an in-band query-migrate whose dispatch BH is still pending when "
    "monitor_cleanup() polls",
}
