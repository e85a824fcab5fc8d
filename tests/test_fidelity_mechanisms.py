"""The model's mechanisms are QEMU's: each test names the QEMU function it follows (issue 23, items 2, 3,
5 and 6)."""

from __future__ import annotations

from migration import DESIGNS
from migration.check.cell import resolve_design as resolve
from migration.check.explore import explore
from migration.model.program import Event, ev
from migration.model.run import run_program
from migration.model.runtime import Actor, ChooseFn, World

_INIT = ev("object_init")
_SHUT = ev("migration_shutdown")
_MON = ev("monitor_cleanup")


def _prefer(*names: str) -> ChooseFn:
    """A chooser that runs the first named actor that can run, else the oldest."""

    def choose(step: int, enabled: list[Actor], w: World) -> int:
        got = [a.name for a in enabled]
        return next((got.index(n) for n in names if n in got), 0)

    return choose


def _steps(trace: object, actor: str, function: str) -> list[str]:
    return [t.action for t in trace if t.actor == actor and t.function == function]  # type: ignore[attr-defined]


# -- item 2: migration_cancel() stops and joins dirtyrate-stat with the dirty-limit capability on ----------


def _dirty_limit_program(cap: bool) -> tuple[Event, ...]:
    return (_INIT, ev("dirty_limit", cap=cap, rounds=2), _SHUT, _MON)


def test_migration_cancel_joins_dirtyrate_stat_with_the_bql_released_before_the_unref() -> None:
    # migration/migration.c:migration_cancel (v9.1.0 to master) begins with
    # if (migrate_dirty_limit()) qmp_cancel_vcpu_dirty_limit(false, -1, NULL); with no migration running,
    # system/dirtylimit.c:vcpu_dirty_rate_stat_stop clears running, drops the BQL, joins the thread, retakes
    # it;
    # the thread's last act is migration/dirtyrate.c:global_dirty_log_change, under the BQL
    r = run_program(DESIGNS["qemu-10.0"], _dirty_limit_program(True))
    assert r.faults == []
    assert _steps(r.trace, "main", "system/dirtylimit.c:vcpu_dirty_rate_stat_stop") == [
        "qatomic_set(&vcpu_dirty_rate_stat->running, 0)", "unlock BQL", "qemu_thread_join(dirtyrate-stat)",
        "lock BQL"]
    actions = [(t.actor, t.action) for t in r.trace]
    window = actions.index(("main", "unlock BQL"))
    stat_bql = actions.index(("dirtyrate-stat", "lock BQL"))
    join = actions.index(("main", "qemu_thread_join(dirtyrate-stat)"))
    unref = actions.index(("main", "object_unref"))
    assert window < stat_bql < join < unref
    assert r.trace[stat_bql].function == "migration/dirtyrate.c:global_dirty_log_change"


def test_with_dirty_limit_on_the_stopped_thread_never_reads_the_freed_object() -> None:
    # every schedule: the join in vcpu_dirty_rate_stat_stop comes before migration_shutdown's object_unref
    x = explore(DESIGNS["qemu-10.0"], _dirty_limit_program(True))
    assert (x.complete, x.outcomes) == (True, {"OK"})
    # with the capability off, migration_cancel's migrate_dirty_limit() is false: the thread runs on and
    # reads s->capabilities after the unref (system/dirtylimit.c:vcpu_dirty_rate_stat_collect)
    x = explore(DESIGNS["qemu-10.0"], _dirty_limit_program(False))
    assert x.complete and "UAF" in x.outcomes


def test_with_a_migration_running_dirtylimit_is_allowed_refuses_the_stop() -> None:
    # system/dirtylimit.c:dirtylimit_is_allowed: migration_is_running() && !migration_thread_is_self() &&
    # migrate_dirty_limit() && dirtylimit_in_service() is false: qmp_cancel_vcpu_dirty_limit returns, no join
    r = run_program(DESIGNS["qemu-10.0"], (_INIT, ev("migrate"), ev("dirty_limit", cap=True), _SHUT, _MON))
    assert _steps(r.trace, "main", "system/dirtylimit.c:qmp_cancel_vcpu_dirty_limit") == [
        "dirtylimit_is_allowed() is false"]
    assert _steps(r.trace, "main", "system/dirtylimit.c:vcpu_dirty_rate_stat_stop") == []


def test_with_dirty_limit_off_migration_cancel_leaves_the_thread_alone() -> None:
    # migration_cancel's migrate_dirty_limit() is false at every tag: no qmp_cancel_vcpu_dirty_limit
    for design in ("qemu-9.1", "qemu-9.2", "qemu-10.0", "qemu-master"):
        r = run_program(DESIGNS[design], _dirty_limit_program(False))
        assert not [t for t in r.trace if t.actor == "main" and t.function.startswith("system/dirtylimit.c:")
                    and t.function != "system/dirtylimit.c:qmp_set_vcpu_dirty_limit"]


# -- item 6: a nested poll runs only while its wait condition holds ------------------------------------------


def _vm(block: str) -> Event:
    return ev("vm_shutdown", vm="running", vfio="none", block=block)


def test_with_no_busy_block_device_the_cleanup_bh_never_runs_before_exit() -> None:
    # include/block/aio-wait.h:AIO_WAIT_WHILE_INTERNAL polls only while its condition holds: block/io.c's
    # bdrv_drain_all with no request in flight does not poll; monitor/monitor.c:monitor_cleanup polls
    # iohandler_ctx, and qemu_aio_context only while the dispatcher coroutine lives: the cleanup BH
    # (qemu_aio_context) stays scheduled, holding its reference, until exit
    x = explore(DESIGNS["qemu-10.0"], (_INIT, ev("migrate"), _SHUT, _vm("idle"), _MON))
    assert (x.complete, x.outcomes) == (True, {"LEAK"})
    r = run_program(DESIGNS["qemu-10.0"], (_INIT, ev("migrate"), _SHUT, _vm("idle"), _MON),
                    x.witnesses["LEAK"])
    assert [t.actor for t in r.trace if t.actor.startswith("bh:")] == []
    assert _steps(r.trace, "main", "block/io.c:bdrv_drain_all") == []
    # a busy block device keeps bdrv_drain_all polling qemu_aio_context: there the cleanup BH runs and frees
    x = explore(DESIGNS["qemu-10.0"], (_INIT, ev("migrate"), _SHUT, _vm("busy"), _MON))
    assert x.complete and x.outcomes == {"LEAK", "OK"}


def test_monitor_cleanup_polls_qemu_aio_context_while_a_qmp_dispatch_is_in_flight() -> None:
    # monitor/monitor.c:monitor_cleanup: AIO_WAIT_WHILE_UNLOCKED(NULL, (aio_poll(iohandler_ctx, false),
    # qmp_dispatcher_co)): the dispatcher waits for do_qmp_dispatch_bh, so qemu_aio_context is polled too
    x = explore(DESIGNS["qemu-10.0"],
                (_INIT, ev("migrate"), ev("query_migrate", pending=True), _SHUT, _vm("idle"), _MON))
    assert x.complete and x.outcomes == {"LEAK", "OK", "UAF"}


def test_the_bh_after_free_witnesses_need_a_busy_block_device() -> None:
    # S5 and S8:a: the cleanup BH runs after migration_shutdown's unref, in bdrv_drain_all's nested poll
    from migration.model.scenarios import SCENARIOS

    for sid in ("S5-bh-after-free", "S8-wrong-pointer:a"):
        vm = [e for e in SCENARIOS[sid] if e.kind == "vm_shutdown"]
        assert [e.param("block") for e in vm] == ["busy"]


# -- item 3: vCPU threads run device code that asks a migration helper, in pause_all_vcpus()'s window ----


def test_a_vcpu_runs_virtio_mem_in_pause_all_vcpus_window_after_the_unref() -> None:
    # system/physmem.c:prepare_mmio_access (from flatview_write_continue_step) takes the BQL for the guest's
    # write; hw/virtio/virtio-mem.c:virtio_mem_is_busy asks migration_is_running(); system/cpus.c:
    # pause_all_vcpus waits on qemu_pause_cond with the BQL released until the vCPU has parked
    prog = (_INIT, _SHUT, ev("vcpu_device", device="virtio-mem"), _vm("busy"), _MON)
    x = explore(DESIGNS["qemu-10.0"], prog)
    assert (x.complete, x.outcomes) == (True, {"UAF"})
    r = run_program(DESIGNS["qemu-10.0"], prog)
    assert r.fault is not None and (r.fault.actor, r.fault.detail) == ("vcpu", "state of freed mig#1")
    assert [(t.actor, t.action, t.function) for t in r.trace if t.actor == "vcpu"] == [
        ("vcpu", "lock BQL", "system/physmem.c:flatview_write_continue_step"),
        ("vcpu", "load current_migration", "migration/migration.c:migration_is_running"),
        ("vcpu", "read state", "migration/migration.c:migration_is_running")]
    actions = [(t.actor, t.action) for t in r.trace]
    assert actions.index(("main", "object_unref")) < actions.index(("main", "unlock BQL")) < actions.index(
        ("vcpu", "lock BQL"))
    assert r.trace[actions.index(("main", "unlock BQL"))].function == "system/cpus.c:pause_all_vcpus"


def test_pause_all_vcpus_takes_the_bql_back_once_the_vcpu_has_parked() -> None:
    # proposed-singleton-keepalive keeps the object to exit (its one fault, by design, is that leak): the
    # vCPU's read is safe, and main waits for it
    prog = (_INIT, _SHUT, ev("vcpu_device", device="vhost-vdpa"), _vm("busy"), _MON)
    r = run_program(resolve("proposed-singleton-keepalive"), prog)
    assert [f.outcome.value for f in r.faults] == ["LEAK"]
    actions = [(t.actor, t.action) for t in r.trace]
    parked = actions.index(("main", "qemu_cond_wait(&qemu_pause_cond, &bql)"))
    retake = actions.index(("main", "pause_all_vcpus: bql_lock"))
    assert actions.index(("vcpu", "unlock BQL")) < parked < retake


def test_each_tag_asks_the_helper_its_device_code_calls() -> None:
    # 9.1: virtio_mem_is_busy asks !migration_is_idle(), vhost_vdpa_net_data_start
    # migration_is_setup_or_active(); from 9.2 both ask migration_is_running()
    want = {("qemu-9.1", "virtio-mem"): "migration_is_idle",
            ("qemu-9.1", "vhost-vdpa"): "migration_is_setup_or_active",
            ("qemu-9.2", "virtio-mem"): "migration_is_running",
            ("qemu-master", "vhost-vdpa"): "migration_is_running"}
    for (design, device), helper in want.items():
        r = run_program(DESIGNS[design], (_INIT, ev("vcpu_device", device=device), _vm("busy"), _SHUT, _MON))
        assert r.faults == []
        assert {t.function for t in r.trace if t.actor == "vcpu"} == {
            "system/physmem.c:flatview_write_continue_step", f"migration/migration.c:{helper}"}


def test_with_the_vm_stopped_no_vcpu_takes_the_bql() -> None:
    # do_vm_stop calls pause_all_vcpus only when the VM runs: a vCPU waiting for the BQL never gets it here
    prog = (_INIT, _SHUT, ev("vcpu_device"), ev("vm_shutdown", vm="stopped", vfio="none"), _MON)
    x = explore(DESIGNS["qemu-10.0"], prog)
    assert (x.complete, x.outcomes) == (True, {"OK"})


# -- item 5: the return-path and multifd threads read the object and are joined only in the cleanup BH --


def test_the_return_path_reads_the_object_and_only_the_cleanup_bh_joins_it() -> None:
    # migration/migration.c: open_return_path_on_source (migration_connect) creates
    # source_return_path_thread with no reference; migration_cancel shuts its file down, it records the
    # error (migrate_set_error) and reads ms->state; migration_cleanup's close_return_path_on_source joins it
    # with the BQL held, before the migration thread's join
    prog = (_INIT, ev("migrate", threads="return-path"), ev("poll"), _SHUT, _vm("busy"), _MON)
    r = run_program(DESIGNS["qemu-10.0"], prog, choose=_prefer("return-path", "T_mig", "bh:cleanup"))
    assert [(t.action, t.function) for t in r.trace if t.actor == "return-path"] == [
        ("load current_migration", "migration/migration.c:migration_is_running"),
        ("read state", "migration/migration.c:migration_is_running"),
        ("qemu_get_be16(rp)", "migration/migration.c:source_return_path_thread"),
        ("read ms->state (MIGRATION_STATUS_POSTCOPY_RECOVER?)",
         "migration/migration.c:source_return_path_thread")]
    joins = [(t.action, t.function) for t in r.trace if t.action.startswith("qemu_thread_join")]
    assert joins == [("qemu_thread_join(rp_thread)", "migration/migration.c:close_return_path_on_source"),
                     ("qemu_thread_join(T_mig)", "migration/migration.c:migration_cleanup")]
    # every schedule: the cleanup BH's reference outlives the thread (or the BH never runs and leaks)
    x = explore(DESIGNS["qemu-10.0"], prog)
    assert x.complete and x.outcomes == {"LEAK", "OK"}
    # cancelled with the thread blocked: migration_cancel's shutdown wakes it with an error
    r = run_program(DESIGNS["qemu-10.0"], (_INIT, ev("migrate", threads="return-path", peer="blocked"), _SHUT,
                                            _vm("busy"), _MON), choose=_prefer("return-path", "T_mig"))
    rp = [(t.action, t.note) for t in r.trace if t.actor == "return-path"]
    assert ("qemu_get_be16(rp)", "-EIO: shut down by migration_cancel") in rp
    assert ("write s->error (under error_mutex)", "") in rp


def test_at_9_1_the_return_path_can_read_the_object_main_freed() -> None:
    # 9.1's migration thread takes its reference inside the thread (migration_thread@v9.1.0): the return
    # path, holding none, asks migration_is_setup_or_active() of an object migration_shutdown() freed
    prog = (_INIT, ev("migrate", threads="return-path"), _SHUT, _vm("busy"), _MON)
    x = explore(DESIGNS["qemu-9.1"], prog)
    sched, f = x.violations["helpers-whole-lifecycle"]
    assert (f.outcome.value, f.actor, f.detail) == ("UAF", "return-path", "state of freed mig#1")
    r = run_program(DESIGNS["qemu-9.1"], prog, sched)
    assert r.trace[f.step].function == "migration/migration.c:migration_is_setup_or_active"


def test_a_multifd_send_thread_reads_the_object_until_multifd_send_shutdown() -> None:
    # migration/multifd.c: multifd_send_setup (top of migration_thread) starts multifd_send_thread, whose
    # multifd_use_packets() reads the object through migrate_get_current(); multifd_send_shutdown, in the
    # cleanup BH after the migration thread's join, terminates and joins it with the BQL held
    prog = (_INIT, ev("migrate", threads="multifd"), ev("poll"), _SHUT, _vm("busy"), _MON)
    r = run_program(DESIGNS["qemu-10.0"], prog, choose=_prefer("multifd_send", "T_mig", "bh:cleanup"))
    assert [(t.action, t.function) for t in r.trace if t.actor == "multifd_send"] == [
        ("load current_migration", "migration/migration.c:migrate_get_current"),
        ("read s->capabilities[MIGRATION_CAPABILITY_MAPPED_RAM]", "migration/multifd.c:multifd_send_thread"),
        ("multifd_send_should_exit()", "migration/multifd.c:multifd_send_thread")]
    actions = [(t.actor, t.action) for t in r.trace]
    assert (actions.index(("bh:cleanup", "qemu_thread_join(T_mig)"))
            < actions.index(("bh:cleanup", "multifd_send_terminate_threads()"))
            < actions.index(("bh:cleanup", "qemu_thread_join(multifd_send_thread)")))
    x = explore(DESIGNS["qemu-10.0"], prog)
    assert x.complete and x.outcomes == {"LEAK", "OK"}
