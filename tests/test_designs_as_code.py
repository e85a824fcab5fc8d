"""Designs as code: the table of QEMU functions, replacing entries, the worked examples of
docs/writing-a-design.md, design validation, and the event-boundary key's exactness."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import pytest
from fresh_interpreter import call_fresh

from migration import ALL_HELPERS, DESIGNS, Design, Protection, derive
from migration.check.bounded import Bound, Bounded, Grammar, explore_bounded
from migration.check.registry import resolve
from migration.model.effects import (
    call_rcu_unref,
    load,
    qemu,
    rcu_read_lock,
    rcu_read_unlock,
    read,
    shutdown_done,
    step,
    store,
    unref,
)
from migration.model.functions import table
from migration.model.program import ev
from migration.model.run import run_program
from migration.model.runtime import Pending, World

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _result(b: Bounded) -> tuple[object, ...]:
    return (b.paths, b.outcomes, b.violating,
            {p: ([str(e) for e in prog], sched) for p, (prog, sched, _f) in b.violations.items()})


# -- the table ------------------------------------------------------------------------------------


def test_the_table_names_each_function_the_model_covers_with_its_source() -> None:
    t = table()
    assert list(t) == [
        "migrate_get_current", *ALL_HELPERS_ORDER, "source_return_path_thread", "multifd_send_thread",
        "migration_thread", "migration_iteration_finish",
        "migration_bh_schedule", "migration_bh_dispatch_bh", "migration_cleanup", "qmp_migrate_pause",
        "fill_source_migration_info", "vcpu_dirty_rate_stat_collect", "process_incoming_migration_co",
        "qmp_cancel_vcpu_dirty_limit", "vcpu_dirty_rate_stat_stop", "virtio_mem_is_busy",
        "vhost_vdpa_net_data_start", "pause_all_vcpus", "migration_object_init", "migration_connect",
        "migration_cancel", "migration_shutdown", "vm_shutdown", "monitor_cleanup",
        "monitor_qmp_dispatcher_co", "main_loop_should_exit", "is_busy", "machine_finalize",
        "migration_instance_init", "migration_instance_finalize"]
    assert t["migration_cleanup"].where("9.1") == "migration/migration.c:migrate_fd_cleanup"
    assert t["migration_cleanup"].where("10.0") == "migration/migration.c:migration_cleanup"
    assert t["migration_cancel"].where("9.2") == "migration/migration.c:migrate_fd_cancel"
    assert t["machine_finalize"].where("10.0") == "system/runstate.c:qemu_cleanup"
    assert t["is_busy"].where("9.1") == "migration/migration.c:is_busy"
    assert t["is_busy"].where("7.2") == "migration/migration.c:migrate_add_blocker_internal"
    assert t["migration_cleanup"].where("7.2") == "migration/migration.c:migrate_fd_cleanup"
    assert t["main_loop_should_exit"].where("7.2") == "softmmu/runstate.c:main_loop_should_exit"
    assert t["main_loop_should_exit"].where("10.0") == "system/runstate.c:main_loop_should_exit"
    assert t["monitor_qmp_dispatcher_co"].where("7.2") == "monitor/qmp.c:monitor_qmp_dispatcher_co"
    assert t["vcpu_dirty_rate_stat_stop"].where("9.1") == "system/dirtylimit.c:vcpu_dirty_rate_stat_stop"
    assert t["migration_file_set_error"].where("10.0") == "migration/migration.c:migration_file_set_error"
    assert str(t["migration_shutdown"]) == "QemuFunction(migration_shutdown() -> None)"


ALL_HELPERS_ORDER = ("migration_is_running", "migration_is_idle", "migration_is_active",
                     "migration_is_device", "migration_is_setup_or_active", "migration_file_set_error",
                     "migration_thread_is_self")


def test_a_replaced_function_is_what_every_caller_runs() -> None:
    def traced_get_current(w: World) -> Generator[Pending, None, str | None]:
        yield from step(w, "my migrate_get_current")
        return (yield from load(w, "current_migration"))

    mine = derive(DESIGNS["qemu-10.0"], "traced", "count the accessor's callers",
                  functions={"migrate_get_current": traced_get_current})
    # a poll lets the thread take the BQL and schedule the cleanup BH, which monitor_cleanup() runs
    program = (ev("object_init"), ev("migrate"), ev("poll"), ev("migration_shutdown"), ev("monitor_cleanup"))
    r = run_program(mine, program, choose=lambda step, enabled, w: len(enabled) - 1)  # newest actor first
    callers = sorted({s.actor for s in r.trace if s.action == "my migrate_get_current"})
    assert callers == ["T_mig", "bh:cleanup", "main"]
    # recorded as QEMU's function, whoever wrote the body
    assert {s.function for s in r.trace if s.action == "my migrate_get_current"} == {
        "migration/migration.c:migrate_get_current"}
    base = run_program(DESIGNS["qemu-10.0"], program, choose=lambda step, enabled, w: len(enabled) - 1)
    assert not any(s.action == "my migrate_get_current" for s in base.trace)


def test_machine_finalize_runs_at_the_end_of_qemu_cleanup_and_by_default_takes_no_step() -> None:
    def late_unref(w: World) -> Generator[Pending, None, None]:
        s = yield from load(w, "current_migration")
        if s is not None:
            yield from unref(w, s)

    keep = derive(DESIGNS["qemu-10.0"], "keep-then-late", "keep the main reference, drop it late",
                  drop_main_ref=False)
    late = derive(keep, "late", "keep the main reference, drop it in machine finalize",
                  functions={"machine_finalize": late_unref})
    program = (ev("object_init"), ev("migration_shutdown"), ev("monitor_cleanup"))
    assert [f.outcome.value for f in run_program(keep, program).exit_leaks] == ["LEAK"]
    r = run_program(late, program)
    assert r.exit_leaks == []
    assert [s.action for s in r.trace[-3:]] == ["load current_migration", "object_unref", "instance_finalize"]
    assert r.trace[-2].function == "system/runstate.c:qemu_cleanup"


def test_instance_init_and_finalize_are_hooks_a_design_may_replace() -> None:
    # QOM runs them inside object_new()/object_unref(): a replacement is a plain function, and it sees
    # every instance, the temporary of an introspection included
    default = table()["migration_instance_finalize"]
    assert default.steps is False
    assert default.where("10.0") == "migration/migration.c:migration_instance_finalize"
    seen: list[str] = []

    def noting(w: World, obj: object) -> None:
        default.default(w, obj)
        seen.append(w.trace[-1].obj)
        w.record("planted: finalize seen")

    d = derive(DESIGNS["qemu-10.0"], "notes-finalize", "finalize records a step",
               functions={"migration_instance_finalize": noting})
    r = run_program(d, (ev("object_init"), ev("introspect", command="qom-list-properties"),
                        ev("migration_shutdown")))
    assert seen == ["mig#2", "mig#1"]  # the temporary, then the real one at migration_shutdown()
    assert [s.action for s in r.trace if s.action.startswith("planted")] == ["planted: finalize seen"] * 2


def test_a_hook_replaced_by_a_generator_is_refused() -> None:
    def steps(w: World, obj: object) -> Generator[Pending, None, None]:
        yield from step(w, "x")

    with pytest.raises(TypeError) as exc:
        derive(DESIGNS["qemu-10.0"], "x", "wrong", functions={"migration_instance_init": steps})
    assert str(exc.value) == ("design 'x': 'migration_instance_init' runs inside a step (QOM calls it): "
                              "give a plain function, not a generator")


def test_the_guide_shows_the_table_and_the_examples_as_they_are() -> None:
    guide = (EXAMPLES.parent / "writing-a-design.md").read_text()
    rows = [line.split("|")[1] for line in guide.splitlines() if line.startswith("| `")]
    listed = [name.strip(" `") for row in rows[:len(rows)] for name in row.split(",")]
    assert [n for n in listed if n in table()] == list(table())
    blocks = [b.split("```")[0] for b in guide.split("```python\n")[1:]]
    assert blocks[:2] == [(EXAMPLES / name).read_text() for name in ("machine_owns.py", "rcu_free.py")]


# -- the worked examples --------------------------------------------------------------------------


def test_worked_example_machine_owns(explored: Callable[[str], Bounded]) -> None:
    d = resolve(f"{EXAMPLES / 'machine_owns.py'}:MACHINE_OWNS")
    b = explore_bounded(d, 1)
    base = explored("qemu-10.0")
    assert sorted(b.violations) == ["freed-by-exit", "single-instance"]
    assert sorted(base.violations) == ["freed-by-exit", "helpers-whole-lifecycle", "no-use-after-free",
                                       "single-instance"]
    # joining the thread before anything is dropped removes qemu-10.0's use after free; what still
    # leaks is an incoming coroutine's reference when no monitor_cleanup() polls it to its end
    prog, _sched, f = b.violations["freed-by-exit"]
    assert [str(e) for e in prog] == ["object_init()", "migrate_incoming()", "migration_shutdown()"]
    assert f.detail == "mig#1 is not finalized by the end of qemu_cleanup() (refcount 1)"


def _violations(example: str) -> dict[str, tuple[list[str], str, str]]:
    """A worked example's violations at K = 1: property -> (the shortest program, the actor, the detail)."""
    b = explore_bounded(resolve(f"{EXAMPLES / example}"), 1)
    return {p: ([str(e) for e in prog], f.actor, f.detail) for p, (prog, _sched, f) in b.violations.items()}


def test_worked_example_rcu_free() -> None:
    # its exploration (35,977 runs) runs in a fresh interpreter, without typeguard (a quarter of the time):
    # the RCU effects it adds are run under typeguard by test_call_rcu_waits_for_the_readers_...
    v = call_fresh("test_designs_as_code", "_violations", "rcu_free.py:RCU_FREE")
    assert sorted(v) == ["freed-by-exit", "helpers-whole-lifecycle", "no-null-deref",
                         "no-use-after-free", "single-instance"]
    # the reader the idea did not put in a read section: the dirtyrate-stat thread
    assert v["no-use-after-free"] == (
        ["object_init()", "dirty_limit()", "migration_shutdown()", "vm_shutdown()"],
        "dirtyrate-stat", "s->capabilities[MIGRATION_CAPABILITY_DIRTY_LIMIT] of freed mig#1")
    # the call_rcu callback may not have run when the process exits
    assert v["freed-by-exit"][0] == ["object_init()", "migration_shutdown()"]


def _pause_in_rcu(w: World) -> Generator[Pending, None, None]:
    yield from rcu_read_lock(w)
    ms = yield from load(w, "current_migration")
    if ms is not None:
        yield from read(w, ms, "ms->state")
    yield from rcu_read_unlock(w)


def _rcu_design(free_now: bool) -> Design:
    def shutdown(w: World) -> Generator[Pending, None, None]:
        s = yield from qemu(w, "migration_cancel")
        if s is not None:
            yield from store(w, "current_migration", None, "unpublished")
            shutdown_done(w)
            yield from (unref(w, s) if free_now else call_rcu_unref(w, s))

    # protection NONE: finalize frees at once (Protection.RCU would defer the free there itself), so
    # only call_rcu stands between the out-of-band reader and the free
    return derive(DESIGNS["qemu-10.0"], "rcu-unref" if free_now else "rcu-call-rcu", "an RCU reader",
                  protection=Protection.NONE, null_checks=ALL_HELPERS,
                  functions={"migration_shutdown": shutdown, "qmp_migrate_pause": _pause_in_rcu})


def test_call_rcu_waits_for_the_readers_a_plain_unref_does_not() -> None:
    g = Grammar((), (ev("oob", command="migrate-pause"),), (), ())
    plain = explore_bounded(_rcu_design(free_now=True), 1, alphabet=g)
    deferred = explore_bounded(_rcu_design(free_now=False), 1, alphabet=g)
    prog, _sched, f = plain.violations["no-use-after-free"]
    assert [str(e) for e in prog] == ["object_init()", "oob(command='migrate-pause')", "migration_shutdown()",
                                      "monitor_cleanup()"]
    assert (f.actor, f.detail) == ("mon_iothread", "ms->state of freed mig#1")
    assert "no-use-after-free" not in deferred.violations
    assert deferred.outcomes.get("UAF", 0) == 0


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("knobs", "error", "text"), [
    ({"pointer_clear": "shutdown"}, TypeError,
     "design 'x': knob pointer_clear takes a PointerClear ('never', 'finalize', 'finalize-if-self', "
     "'shutdown'), not str 'shutdown'"),
    ({"null_checks": ["migration_is_running"]}, TypeError,
     "design 'x': knob null_checks takes a frozenset of helper names, not list ['migration_is_running']"),
    ({"null_checks": frozenset({"migration_is_runing"})}, ValueError,
     "design 'x': null_checks names unknown helper(s) migration_is_runing (known: migration_file_set_error, "
     "migration_is_active, migration_is_device, migration_is_idle, migration_is_running, "
     "migration_is_setup_or_active, migration_thread_is_self)"),
    ({"drop_main_ref": 0}, TypeError, "design 'x': knob drop_main_ref takes a bool, not int 0"),
    ({"tag": "8.0"}, ValueError, "design 'x': knob tag takes one of 7.2, 9.1, 9.2, 10.0, master, not '8.0'"),
    ({"functions": {"migration_shutdwn": lambda w: iter(())}}, ValueError,
     "design 'x' replaces 'migration_shutdwn', which is not a QEMU function of the model "
     "(see migration.model.functions.table())"),
    ({"colour": 1}, TypeError, "Design has no knob(s) colour"),
])
def test_a_wrong_design_is_refused_where_it_is_written(knobs: dict[str, object], error: type[Exception],
                                                       text: str) -> None:
    with pytest.raises(error) as exc:
        derive(DESIGNS["qemu-10.0"], "x", "wrong", **knobs)
    assert str(exc.value) == text


def test_a_design_may_not_take_a_presets_name() -> None:
    with pytest.raises(ValueError) as exc:
        derive(DESIGNS["qemu-10.0"], "qemu-10.0", "another design under the preset's name")
    assert str(exc.value) == "design name 'qemu-10.0' is a preset's: choose another name"


def test_knobs_of_a_design_with_functions_name_them() -> None:
    d = resolve(f"{EXAMPLES / 'machine_owns.py'}:MACHINE_OWNS")
    names = [x.partition("=")[0] for x in d.knobs()["functions"]]
    assert names == ["migration_shutdown", "machine_finalize"]
    assert [x.rpartition(".")[2] for x in d.knobs()["functions"]] == names
    assert d.differs_from(DESIGNS["qemu-10.0"]) == ["functions"]
    assert "functions" not in DESIGNS["qemu-10.0"].knobs()


# -- the event-boundary key -----------------------------------------------------------------------


def _old_explorer(name: str, bound: str) -> tuple[tuple[object, ...], int, int]:
    """The old explorer's result on a preset (the full state key at every branch, actors keyed by their
    histories), with its states and runs: the reference the default explorer must equal."""
    full = explore_bounded(DESIGNS[name], Bound.parse(bound), boundary=False, frames=False)
    return _result(full), full.states, full.runs


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_the_event_boundary_key_finds_what_the_full_key_finds(
        name: str, explored: Callable[[str], Bounded]) -> None:
    # and actors keyed by their frames (framekey) find what actors keyed by their histories find; the
    # default exploration runs here under typeguard (once per session: other tests read it too), the old
    # explorer, the reference, in a fresh interpreter without it (a quarter of the time)
    fast = explored(name)
    full, states, _runs = call_fresh("test_designs_as_code", "_old_explorer", name, "1")
    assert _result(fast) == full
    assert fast.states <= states


@pytest.mark.parametrize(("name", "bound"), [
    ("qemu-10.0", "3/0"),
    pytest.param("mutex", "3/0", marks=pytest.mark.slow),
    pytest.param("join-at-shutdown", "1+3/0", marks=pytest.mark.slow),
    pytest.param("qemu-10.0", "2", marks=pytest.mark.slow),
])
def test_the_event_boundary_key_is_exact_on_longer_programs(name: str, bound: str) -> None:
    fast = explore_bounded(DESIGNS[name], Bound.parse(bound))
    full, _states, runs = call_fresh("test_designs_as_code", "_old_explorer", name, bound)
    assert _result(fast) == full
    assert fast.runs < runs


def test_a_design_that_reads_what_the_boundary_key_drops_is_told_apart() -> None:
    # a planted design whose machine finalize reads the label counter, which the event-boundary key
    # leaves out (freed objects nothing names are dropped, the rest renamed by creation rank): two
    # introspections and one introspection then a poll merge, and only the first faults here
    def counts_objects(w: World) -> Generator[Pending, None, None]:
        if w.counter == 3:
            yield from read(w, None, "planted")

    d = derive(DESIGNS["qemu-10.0"], "reads-the-counter", "machine finalize reads the label counter",
               functions={"machine_finalize": counts_objects})
    g = Grammar((), (ev("introspect", command="qom-list-properties"), ev("poll")), (), ())
    full = explore_bounded(d, 2, alphabet=g, boundary=False)
    fast = explore_bounded(d, 2, alphabet=g)
    assert full.violating == {"single-instance": 8, "no-null-deref": 2}
    assert fast.violating == {"single-instance": 8, "no-null-deref": 6}
