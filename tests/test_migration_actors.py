"""Each mechanism of the model pinned to the QEMU function it follows; each test fails if the
mechanism is reverted (the old behaviour is built through a knob or a program, and shown to
give a different answer)."""

from __future__ import annotations

from migration.check.cell import check_cell
from migration.check.explore import explore, explore_scenario, phase_events, programs
from migration.model.alphabet import ALPHABET, combinations_of, kind, kinds_for_phase
from migration.model.designs import DESIGNS, EXPORTED_HELPERS, ThreadCleanup, derive
from migration.model.program import EVENT_KINDS, Program, ev
from migration.model.results import RunResult
from migration.model.run import run_program
from migration.model.runtime import Actor, ChooseFn, World
from migration.model.scenarios import SCENARIOS

MM = "migration/migration.c"
INIT, SHUT, MON = ev("object_init"), ev("migration_shutdown"), ev("monitor_cleanup")


def prefer(*names: str) -> ChooseFn:
    """A chooser that runs the first named actor that can run, else the oldest."""

    def choose(step: int, enabled: list[Actor], w: World) -> int:
        got = [a.name for a in enabled]
        for n in names:
            if n in got:
                return got.index(n)
        return 0

    return choose


def steps(r: RunResult, actor: str) -> list[tuple[str, str]]:
    return [(t.action, t.function) for t in r.trace if t.actor == actor]


# -- 1. how the migration thread ends ------------------------------------------------------------

LIFECYCLE: Program = (INIT, ev("migrate"), SHUT, ev("vm_shutdown", vm="running", vfio="none"), MON)


def test_thread_ends_in_migration_iteration_finish_and_unrefs_after_the_bh_ref() -> None:
    r = run_program(DESIGNS["qemu-10.0"], LIFECYCLE, choose=prefer("T_mig", "bh:cleanup"))
    assert r.fault is None
    assert steps(r, "T_mig") == [
        ("read state", f"{MM}:migration_thread"),
        ("lock BQL", f"{MM}:migration_iteration_finish"),
        ("load current_migration", f"{MM}:migrate_get_current"),
        ("object_ref", f"{MM}:migration_bh_schedule"),
        ("qemu_bh_schedule(migration_cleanup_bh)", f"{MM}:migration_bh_schedule"),
        ("unlock BQL", f"{MM}:migration_iteration_finish"),
        ("object_unref", f"{MM}:migration_thread"),
    ]
    # the thread's unref is never the last one: the BH's reference was taken first
    unrefs = [t for t in r.trace if t.action == "object_unref"]
    assert [(t.actor, t.note) for t in unrefs] == [
        ("main", ""), ("T_mig", ""), ("bh:cleanup", "last reference: finalize")]


def test_cleanup_bh_joins_without_the_bql_and_the_dispatcher_unrefs_after_it() -> None:
    r = run_program(DESIGNS["qemu-10.0"], LIFECYCLE, choose=prefer("T_mig", "bh:cleanup"))
    assert steps(r, "bh:cleanup") == [
        ("bh: migration_cleanup_bh", f"{MM}:migration_bh_dispatch_bh"),
        ("load current_migration", f"{MM}:migrate_get_current"),
        ("unlock BQL", f"{MM}:migration_cleanup"),
        ("qemu_thread_join(T_mig)", f"{MM}:migration_cleanup"),
        ("lock BQL", f"{MM}:migration_cleanup"),
        ("lock qemu_file_lock@mig#1", f"{MM}:migration_cleanup"),
        ("write cleanup: to_dst_file = NULL, CANCELLING -> CANCELLED", f"{MM}:migration_cleanup"),
        ("unlock qemu_file_lock@mig#1", f"{MM}:migration_cleanup"),
        ("object_unref", f"{MM}:migration_bh_dispatch_bh"),
        ("instance_finalize", f"{MM}:migration_instance_finalize"),
    ]
    r91 = run_program(DESIGNS["qemu-9.1"], LIFECYCLE, choose=prefer("T_mig", "bh:cleanup"))
    fns = {f for _a, f in steps(r91, "bh:cleanup")}
    assert f"{MM}:migrate_fd_cleanup" in fns and f"{MM}:migration_cleanup" not in fns


def test_the_inline_cleanup_knob_gives_different_verdicts() -> None:
    # no QEMU tag has it: with it, T_mig can drop the last reference while a helper on main uses
    # what it loaded (S3); with migration_iteration_finish it cannot
    inline = derive(DESIGNS["qemu-10.0"], "inline", "the old inline cleanup",
                    thread_cleanup=ThreadCleanup.INLINE)
    assert all(d.thread_cleanup is ThreadCleanup.BH for d in DESIGNS.values())
    # (LEAK: T_mig still holds its reference at exit in every schedule of qemu-10.0, property freed-by-exit)
    assert explore_scenario(DESIGNS["qemu-10.0"], "S3-load-free-use").outcomes == {"LEAK"}
    assert explore_scenario(inline, "S3-load-free-use").outcomes == {"LEAK", "OK", "UAF"}
    assert check_cell(DESIGNS["qemu-10.0"], "no-use-after-free", max_examples=0,
                      scenarios=["S3-load-free-use"]).verdict == "holds"
    assert check_cell(inline, "no-use-after-free", max_examples=0,
                      scenarios=["S3-load-free-use"]).verdict == "fails"


# -- 2. where the BQL is released during shutdown ------------------------------------------------


def test_nested_polls_keep_the_bql_so_t_mig_only_finishes_in_pause_all_vcpus() -> None:
    helper = ev("helper", name="migration_is_running")
    stopped = (INIT, ev("migrate"), SHUT, ev("vm_shutdown", vm="stopped"), helper, MON)
    running = (INIT, ev("migrate"), SHUT, ev("vm_shutdown", vm="running", vfio="none"), helper, MON)
    d = DESIGNS["qemu-10.0"]
    # VM stopped: no pause_all_vcpus (system/cpus.c:do_vm_stop); the drain and monitor_cleanup
    # polls keep the BQL, T_mig waits for it until exit, the object is never freed
    r = run_program(d, stopped, choose=prefer("T_mig", "bh:cleanup"))
    assert r.fault is not None and r.fault.outcome.value == "LEAK" and r.faults == [r.fault]
    assert steps(r, "T_mig") == [("read state", f"{MM}:migration_thread")]  # then blocked on bql_lock
    assert "bh:cleanup" not in {t.actor for t in r.trace}
    # VM running: pause_all_vcpus releases the BQL, T_mig schedules the BH, the drain runs it,
    # the dispatcher frees the object and the helper reads freed memory
    r = run_program(d, running, choose=prefer("T_mig", "bh:cleanup"))
    assert r.fault is not None and r.fault.outcome.value == "UAF" and r.fault.actor == "main"
    window = [t for t in r.trace if t.function == "system/cpus.c:pause_all_vcpus"]
    assert [t.action for t in window] == ["unlock BQL", "pause_all_vcpus: bql_lock"]


# -- 3. the new actors ---------------------------------------------------------------------------


def test_s14_migrate_pause_on_the_io_thread_after_migration_shutdown_is_a_uaf() -> None:
    # confirmed on QEMU 7.2.22 and 10.0.2 under valgrind (tests/test_reproduce_qemu.py)
    for design in ("qemu-9.1", "qemu-10.0"):
        cell = check_cell(design, "no-use-after-free", max_examples=0, scenarios=["S14-oob-after-shutdown:a"])
        assert (cell.verdict, cell.evidence, cell.outcome.value) == ("fails", "exhaustive", "UAF")
        cx = cell.counterexample
        assert cx is not None
        assert cx.fault.actor == "mon_iothread"
        assert cx.fault.detail == "ms->state (migration_postcopy_is_alive) of freed mig#1"
        step = cx.trace[cx.fault.step]
        assert step.function == f"{MM}:qmp_migrate_pause"
        freed = [t for t in cx.trace if t.note == "last reference: finalize"]
        assert [(t.actor, t.function) for t in freed] == [("main", f"{MM}:migration_shutdown")]
        assert freed[0].index < cx.fault.step


def test_a_design_the_model_proves_safe_has_no_s14_path() -> None:
    from migration.check.registry import resolve

    safe = resolve("proposed-singleton-keepalive")
    for sid in ("S14-oob-after-shutdown:a", "S14-oob-after-shutdown:b"):
        ex = explore_scenario(safe, sid)
        # it keeps the main reference until exit: the one thing it gives up is freed-by-exit
        assert ex.complete and ex.outcomes == {"LEAK"} and list(ex.violations) == ["freed-by-exit"]


def test_iothread_stop_ends_out_of_band_dispatch() -> None:
    # an OOB command the client sends after monitor_cleanup stopped the I/O thread never runs
    prog = (INIT, SHUT, MON, ev("oob", command="migrate-pause"))
    r = run_program(DESIGNS["qemu-10.0"], prog)
    assert r.fault is None and not [t for t in r.trace if t.actor.startswith("mon_iothread")]
    assert ("iothread_stop(mon_iothread)", "iothread.c:iothread_stop") in steps(r, "main")


def test_s15_pending_query_migrate_runs_in_monitor_cleanup_after_the_free() -> None:
    cell = check_cell("qemu-10.0", "no-use-after-free", max_examples=0, scenarios=["S15-qmp-bh-at-cleanup"])
    assert cell.verdict == "fails" and cell.counterexample is not None
    f = cell.counterexample.fault
    assert f.actor == "bh:qmp-dispatch" and f.detail == "query-migrate: s->state of freed mig#1"
    assert cell.counterexample.trace[f.step].function == f"{MM}:fill_source_migration_info"
    # dispatched at once (pending=False) while the object lives: no fault
    r = run_program(DESIGNS["qemu-10.0"], (INIT, ev("query_migrate"), SHUT, MON))
    assert r.fault is None
    assert "bh: do_qmp_dispatch_bh (query-migrate)" in [a for a, _f in steps(r, "bh:qmp-dispatch")]


def test_dirtyrate_stat_thread_reads_the_freed_object_without_the_bql() -> None:
    # with the dirty-limit capability off: on, migration_cancel() stops and joins the thread before the
    # unref (tests/test_fidelity_mechanisms.py)
    prog = (INIT, ev("dirty_limit", cap=False), SHUT, MON)
    ex = explore(DESIGNS["qemu-10.0"], prog)
    assert ex.complete and ex.outcomes == {"OK", "UAF"}
    sched, f = ex.violations["no-use-after-free"]
    assert f.actor == "dirtyrate-stat"
    r = run_program(DESIGNS["qemu-10.0"], prog, sched)
    assert r.fault == f
    assert r.trace[f.step].function == "migration/options.c:migrate_dirty_limit"
    # 9.x asks migration_is_active(), 10.0 migration_is_running() (vcpu_dirty_rate_stat_collect)
    live = (INIT, ev("dirty_limit", cap=True), ev("poll"), SHUT, MON)
    chooser = prefer("dirtyrate-stat")
    got = {t.function for t in run_program(DESIGNS["qemu-9.1"], live, choose=chooser).trace}
    assert f"{MM}:migration_is_active" in got
    got = {t.function for t in run_program(DESIGNS["qemu-10.0"], live, choose=chooser).trace}
    assert f"{MM}:migration_is_running" in got and f"{MM}:migration_is_active" not in got


# -- 4. each tag's exported API and NULL checks --------------------------------------------------


def test_exported_helpers_and_null_checks_per_tag() -> None:
    assert EXPORTED_HELPERS["10.0"] == {"migration_is_running", "migration_file_set_error",
                                        "migration_thread_is_self"}
    assert "migration_is_idle" in EXPORTED_HELPERS["9.1"]
    assert "migration_is_idle" not in EXPORTED_HELPERS["9.2"]  # 34a8892dec
    assert DESIGNS["qemu-10.0"].null_checks == {"migration_is_running"}  # 4daff81efb
    assert DESIGNS["qemu-9.1"].null_checks == {"migration_is_idle"}

    def before_init(design: str, helper: str) -> str:
        r = run_program(DESIGNS[design], (ev("helper", name=helper), INIT))
        return r.outcome.value

    assert before_init("qemu-9.1", "migration_is_idle") == "OK"
    assert before_init("qemu-9.1", "migration_is_running") == "NULL_DEREF"
    assert before_init("qemu-10.0", "migration_is_running") == "OK"
    assert before_init("qemu-10.0", "migration_file_set_error") == "NULL_DEREF"
    assert before_init("qemu-master", "migration_thread_is_self") == "NULL_DEREF"
    # a helper a tag does not export has no caller outside migration/
    r = run_program(DESIGNS["qemu-10.0"], (INIT, ev("helper", name="migration_is_idle")))
    assert r.fault is None and steps(r, "main")[-1][0] == "migration_is_idle: not exported at v10.0.0"


# -- 5. conditional callers ----------------------------------------------------------------------


def test_vfio_calls_migration_file_set_error_only_when_its_state_change_fails() -> None:
    def calls(vfio: str) -> list[str]:
        r = run_program(DESIGNS["qemu-10.0"], (INIT, ev("vm_shutdown", vm="running", vfio=vfio)))
        return [t.function for t in r.trace if t.function.startswith(MM + ":migration_")]

    assert f"{MM}:migration_file_set_error" not in calls("ok")
    got = calls("fails")
    assert f"{MM}:migration_file_set_error" in got
    assert f"{MM}:migration_is_running" not in got  # vfio_vmstate_change does not ask first


# -- the alphabet -------------------------------------------------------------------------------


def test_one_alphabet_drives_validation_and_hypothesis() -> None:
    assert list(EVENT_KINDS) == [k.name for k in ALPHABET]
    assert {k.name for k in kinds_for_phase("post")} >= {"oob", "query_migrate", "vm_shutdown"}
    assert len(combinations_of(kind("vm_shutdown"))) == 12
    assert kind("migrate").domain("channel") == ("socket", "file")
    try:
        ev("vm_shutdown", vfio="maybe")
    except ValueError as exc:
        assert str(exc) == "event 'vm_shutdown': parameter 'vfio' must be one of 'fails', 'ok', 'none'"
    else:
        raise AssertionError("an out-of-domain value was accepted")
    drawn: set[str] = set()

    from hypothesis import given, settings

    @settings(max_examples=200, database=None, deadline=None)
    @given(programs())
    def collect(p: Program) -> None:
        drawn.update(e.kind for e in p)

    collect()
    assert {"oob", "dirty_limit", "query_migrate", "vm_shutdown"} <= drawn
    assert phase_events("running") is not None


def test_every_trace_step_names_a_qemu_function() -> None:
    for sid in SCENARIOS:
        r = run_program(DESIGNS["qemu-10.0"], SCENARIOS[sid])
        missing = [str(t) for t in r.trace if ":" not in t.function]
        assert not missing, (sid, missing[:3])


def test_a_run_without_its_trace_has_the_same_faults_at_the_same_steps() -> None:
    """The explorer's runs keep no trace (``traced=False``): every fault, with its step number and object,
    and every log a property reads, are those of the traced run; only the trace is left empty."""
    faults = 0
    stale = []
    for name in ("qemu-7.2", "qemu-10.0", "two-globals", "mutex"):
        d = DESIGNS[name]
        for sid, program in SCENARIOS.items():
            full = run_program(d, program)
            bare = run_program(d, program, traced=False)
            assert bare.trace == [] and len(full.trace) > 0, (name, sid)
            assert (bare.outcome, bare.faults, bare.impure, bare.creation_faults, bare.helper_faults,
                    bare.exit_leaks, bare.introspection) == (
                full.outcome, full.faults, full.impure, full.creation_faults, full.helper_faults,
                full.exit_leaks, full.introspection), (name, sid)
            faults += len(full.faults)
            stale += [(name, sid, str(f)) for f in bare.faults if f.outcome.name == "STALE_ANSWER"]
    assert faults == 68
    # a stale answer names the object of the step before it (here none: the helper loaded NULL)
    assert ("two-globals", "S3-load-free-use",
            "STALE_ANSWER at step 17 on main (NULL): migration_is_running() answered False, but the truth "
            "is True") in stale
