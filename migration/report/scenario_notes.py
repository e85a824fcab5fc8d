"""What each scenario of :data:`migration.model.scenarios.SCENARIOS` stands for, in QEMU's terms.

The decision notes cite scenarios by id (``S14-oob-after-shutdown:b``); their "Scenarios" section explains
every one they cite with the text below, the scenario's program, and how its schedules end under each
option.  The text is keyed by the scenario's family (the id without its ``:a``/``:b`` sub-case); a
scenario the text does not know yet is explained by the model's one-line description
(:data:`migration.model.scenarios.SCENARIO_TEXT`) alone.
"""

from __future__ import annotations

from migration.model.scenarios import SCENARIO_TEXT

__all__ = ["FAMILY_TEXT", "explain"]

#: scenario family -> what it stands for in a running QEMU
FAMILY_TEXT: dict[str, str] = {
    "S1-helper-after-idle-shutdown": (
        "No migration ever ran. `qemu_cleanup()` calls `migration_shutdown()`, which drops the main "
        "thread's reference to the migration object; then `vm_shutdown()` stops the running VM and a "
        "run-state change handler (VFIO's `vfio_vmstate_change()`, whose device fails to change state) calls "
        "the exported helpers `migration_is_running()` and `migration_file_set_error()`. The question: may "
        "code outside `migration/` still call those helpers at that point?"),
    "S2-thread-holds-last-ref": (
        "`migrate` starts the outgoing migration thread, which holds a reference of its own. The main thread "
        "runs `migration_shutdown()`; the migration thread ends and drops its reference, which may be the "
        "last one, so the object is finalized on that thread; then the main thread calls an exported helper "
        "(`migration_is_running()`)."),
    "S3-load-free-use": (
        "As in S2, but the helper on the main thread loads the migration pointer first, the last reference "
        "is dropped elsewhere, and only then does the helper dereference what it loaded: the load, free, use "
        "race of any unprotected global pointer."),
    "S4-thread-creation": (
        "`migration_shutdown()` runs after `migrate` created the migration thread but before that thread "
        "took its reference (QEMU 9.2 closed this window by taking the reference before "
        "`qemu_thread_create()`, commit 7fc8beb16e)."),
    "S5-bh-after-free": (
        "The migration thread schedules its cleanup bottom half and drops its reference; the main loop runs "
        "that bottom half while `vm_shutdown()` drains pending work, possibly after the object's last "
        "reference is gone."),
    "S6-incoming-coroutine": (
        "`migrate-incoming` starts the load coroutine (`process_incoming_migration_co()`), which yields "
        "waiting for the stream; `migration_shutdown()` runs; then `monitor_cleanup()` polls the main loop, "
        "the coroutine resumes, fails to load and records the error on the migration object."),
    "S7-introspect-live": (
        "A management client introspects the `migration` type with `device-list-properties "
        "typename=migration`, `qom-list-properties typename=migration` and `device_add migration,help`, "
        "before `migration_object_init()`, while the VM runs and after shutdown, then sends `query-migrate` "
        "(which reads the live object through `migrate_get_current()`). Introspection builds a temporary "
        "instance with `object_new()` and must leave the live one, and every global, as they were."),
    "S8-wrong-pointer": (
        "Code reaches the migration object through a pointer meant for someone else. (a) A bottom half of "
        "the finishing migration calls the exported helper `migration_file_set_error()` after "
        "`migration_shutdown()`; (b) code outside `migration/` (here `query-migrate` on the main thread) "
        "calls the internal accessor `migrate_get_current()` after the main reference was dropped; (c) the "
        "migration thread calls `migration_is_running()`, reading the exported pointer, while "
        "`migration_shutdown()` on the main thread clears it (in the designs that clear it)."),
    "S9-lock-order": (
        "Locks taken to protect the pointer. (a) After `migration_shutdown()` an exported helper "
        "(`migration_file_set_error()`) takes the pointer's mutex and a reference, and its `object_unref()` "
        "turns out to be the last one, so finalize runs under that mutex; (b) the migration thread calls "
        "`migration_file_set_error()` (pointer mutex, then the BQL) while the main thread, holding the BQL, "
        "calls `migration_is_running()` (which wants the pointer mutex): the two orders meet."),
    "S10-rcu-reader": (
        "After `migration_shutdown()` a helper (`migration_file_set_error()`) reads the object inside an RCU "
        "read-side section and locks `qemu_file_lock`, while the last `object_unref()` runs finalize, which "
        "destroys that mutex at once even when the free itself is deferred with `call_rcu()`."),
    "S11-blocked-peer": (
        "The migration thread is blocked writing to a destination that stopped reading when "
        "`migration_shutdown()` runs: cancelling must unblock it (by shutting its `QEMUFile` down) for "
        "`qemu_cleanup()` to finish and the last reference to go."),
    "S12-discover-globals": (
        "A management client sends `qom-list-properties typename=migration` to a running VM to learn the "
        "`-global migration.*` switches and their defaults."),
    "S13-unconverted-path": (
        "While the live instance exists, creation paths nobody taught about a single instance run: a new "
        "`object_new(TYPE_MIGRATION)` call in the code, `object-add qom-type=migration` and "
        "`-device migration,help`; then `query-migrate`."),
    "S14-oob-after-shutdown": (
        "A client sends `exec-oob migrate-pause`: the monitor's I/O thread (`mon_iothread`) runs it at once, "
        "without the BQL, and `qmp_migrate_pause()` reads the migration object. (a) After an idle "
        "`migration_shutdown()` and before `monitor_cleanup()` stops the I/O thread, on a VM without VFIO "
        "(`-M none`, as in the valgrind reproducer); (b) sent while a migration runs, so the I/O thread may "
        "run it at any point until `monitor_cleanup()`."),
    "S15-qmp-bh-at-cleanup": (
        "An in-band `query-migrate` was accepted but its dispatch bottom half has not run yet when "
        "`monitor_cleanup()` polls the main loop at the end of `qemu_cleanup()`; `qmp_query_migrate()` then "
        "reads the migration object (`fill_source_migration_info()`). The shutdown did not come as `quit` "
        "on that monitor: in-band requests run one at a time."),
}


def explain(scenario_id: str) -> str:
    """:param scenario_id: a scenario id (``S8-wrong-pointer:b``).
    :return: what it stands for, in QEMU's terms, with its own sub-case when it has one."""
    family, _sep, case = scenario_id.partition(":")
    own = SCENARIO_TEXT.get(scenario_id, "")
    text = FAMILY_TEXT.get(family)
    if text is None:
        return (own[0].upper() + own[1:] + ".") if own else "A scenario of the model (no description yet)."
    if case and own:
        return f"{text} This is case ({case}): {own}."
    return text
