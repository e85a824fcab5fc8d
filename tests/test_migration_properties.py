"""Non-vacuity: every §5 property fails on some design, and its counterexample replays."""

from __future__ import annotations

import pytest

from migration.check.cell import PROPERTIES, check_cell, replay, resolve_design
from migration.check.explore import explore_scenario
from migration.check.properties import COST_PROPERTIES, violation
from migration.model.designs import DESIGNS, derive
from migration.model.program import ev
from migration.model.run import run_program
from migration.model.runtime import Actor, World
from migration.model.scenarios import SCENARIOS
from migration.report.replay import reproduced

# property -> (a design it fails on, the outcome, the scenario of the shortest counterexample)
FAILS_ON = {
    # every concrete-class introspection creates a temporary beside the live object
    "single-instance": ("qemu-10.0", "SECOND_INSTANCE", "S12-discover-globals"),
    # the internal interface makes qom-list-properties refuse the class
    "introspection-works": ("internal-hidden", "INTROSPECTION_REFUSED", "S12-discover-globals"),
    # the temporary's instance_init asserts the pointer is unset while the real object lives
    "introspection-pure": ("two-globals", "ASSERT", "S12-discover-globals"),
    # the dangling pointer is read after migration_shutdown() dropped the last reference
    "no-use-after-free": ("qemu-10.0", "UAF", "S8-wrong-pointer:b"),
    # finalize cleared current_migration; query-migrate's migrate_get_current() asserts
    "no-null-deref": ("two-globals", "NULL_DEREF", "S8-wrong-pointer:b"),
    # the run-state handler reads the dangling pointer
    "helpers-whole-lifecycle": ("qemu-10.0", "UAF", "S1-helper-after-idle-shutdown"),
    # the join runs under the BQL while T_mig, in migration_iteration_finish(), waits for the BQL
    "no-deadlock": ("join-at-shutdown", "DEADLOCK", "S4-thread-creation"),
    # the unconverted object_new() hits the singleton assertion in the QOM core
    "creation-paths-safe": ("singleton-v1", "ASSERT", "S13-unconverted-path"),
    # the proposal keeps the main reference until exit: the object outlives qemu_cleanup()
    "freed-by-exit": ("proposed-singleton-keepalive", "LEAK", "S8-wrong-pointer:b"),
}


def test_every_property_is_covered() -> None:
    assert tuple(FAILS_ON) == PROPERTIES


@pytest.mark.parametrize("prop", PROPERTIES)
def test_property_fails_somewhere_and_replays(prop: str) -> None:
    design, outcome, scenario = FAILS_ON[prop]
    cell = check_cell(design, prop, max_examples=0)
    assert (cell.verdict, cell.evidence, cell.outcome.value) == ("fails", "exhaustive", outcome)
    cx = cell.counterexample
    assert cx is not None
    assert cx.scenario == scenario
    # shrunk: the shortest program among the failing scenarios, the fewest non-default choices
    assert len(cx.program) <= 6
    assert len(cx.schedule) <= 20
    assert len(cx.trace) <= 60
    again = violation(prop, replay(cx))
    assert again is not None
    assert reproduced(cx.fault, again)


def test_counterexample_json_round_trip() -> None:
    cell = check_cell("two-globals", "no-null-deref", max_examples=0)
    cx = cell.counterexample
    assert cx is not None
    from migration.check.cell import Counterexample

    assert Counterexample.from_json(cx.to_json()) == cx


def test_holds_is_exhaustive_evidence() -> None:
    cell = check_cell("qemu-10.0", "no-deadlock", max_examples=5)
    assert cell.verdict == "holds"
    assert cell.evidence == "exhaustive"
    assert cell.outcome.value == "OK"
    assert cell.counterexample is None
    assert cell.examples_sampled == 5
    total = sum(explore_scenario(DESIGNS["qemu-10.0"], s).schedules for s in SCENARIOS)
    assert cell.schedules_explored == total


def test_assert_free_pointer_setter_leaks_the_live_object() -> None:
    # qom-semantics §7.4 (b): without the assertion, the temporary overwrites the pointer at
    # init and clears it at finalize: the real object becomes unreachable (LEAK) and the next
    # query-migrate fails migrate_get_current()'s assertion (NULL_DEREF)
    d = derive(DESIGNS["two-globals"], "two-globals-no-assert", "two-globals without the init assertion",
               init_asserts_unset=False)
    r = check_cell(d, "introspection-pure", max_examples=0, scenarios=["S7-introspect-live"])
    assert (r.verdict, r.outcome.value) == ("fails", "LEAK")
    assert r.counterexample is not None
    assert r.counterexample.fault.detail == (
        "device-list-properties (running) changed pointers; "
        "the live object is unreachable through current_migration")
    n = check_cell(d, "no-null-deref", max_examples=0, scenarios=["S7-introspect-live"])
    assert (n.verdict, n.outcome.value) == ("fails", "NULL_DEREF")


def test_derive_rejects_unknown_knobs() -> None:
    with pytest.raises(TypeError, match="Design has no knob"):
        derive(DESIGNS["qemu-10.0"], "x", "x", no_such_knob=True)


def test_proposal_holds_everything_exhaustively() -> None:
    from migration.check.search import PROPOSAL, qmp_changes

    d = resolve_design("proposed-singleton-keepalive")
    assert set(d.differs_from(DESIGNS["qemu-10.0"])) == {k for k, _ in PROPOSAL}
    for prop in PROPERTIES:
        cell = check_cell(d, prop, max_examples=0)
        if prop in COST_PROPERTIES:  # the price of keeping the main reference: measured, not required
            assert (cell.verdict, cell.outcome.value) == ("fails", "LEAK"), prop
            continue
        assert (cell.verdict, cell.evidence) == ("holds", "exhaustive"), prop
    assert len(qmp_changes(d)) == 2


def test_join_on_a_blocked_socket_peer_deadlocks_on_the_bql() -> None:
    # S11 (socket channel): migration_cancel()'s qemu_file_shutdown() makes the blocked write fail
    # (migration/qemu-file.c:qemu_file_shutdown), T_mig goes on to migration_iteration_finish()
    # and waits for the BQL that main holds while it joins
    cell = check_cell("join-at-shutdown", "no-deadlock", max_examples=0, scenarios=["S11-blocked-peer"])
    assert (cell.verdict, cell.outcome.value) == ("fails", "DEADLOCK")
    assert cell.counterexample is not None
    assert cell.counterexample.fault.detail == (
        "main qemu_thread_join(T_mig): waits for T_mig; T_mig waits for BQL held by main")


def test_join_hangs_on_a_blocked_pipe_peer() -> None:
    # a file/pipe channel has no QIO_CHANNEL_FEATURE_SHUTDOWN: the write stays blocked
    prog = (ev("object_init"), ev("migrate", peer="blocked", channel="file"), ev("migration_shutdown"),
            ev("monitor_cleanup"))
    r = run_program(DESIGNS["join-at-shutdown"], prog)
    assert r.fault is not None and r.fault.outcome.value == "HANG"
    assert r.fault.detail == ("main qemu_thread_join(T_mig): waits for T_mig; "
                              "T_mig qemu_put_buffer to an unresponsive peer: the peer never answers")


def test_cancel_unblocks_a_blocked_socket_write_unless_the_design_removes_it() -> None:
    prog = (ev("object_init"), ev("migrate", peer="blocked"), ev("migration_shutdown"),
            ev("vm_shutdown", vm="running", vfio="none"), ev("monitor_cleanup"))
    def t_mig_first(step: int, enabled: list[Actor], w: World) -> int:
        names = [a.name for a in enabled]
        return names.index("T_mig") if "T_mig" in names else 0

    r = run_program(DESIGNS["qemu-10.0"], prog, choose=t_mig_first)
    acts = [(t.actor, t.action) for t in r.trace]
    assert ("T_mig", "write fails: -EIO after qemu_file_shutdown") in acts
    fn = {t.action: t.function for t in r.trace}
    assert fn["qemu_file_shutdown(s->to_dst_file)"] == "migration/qemu-file.c:qemu_file_shutdown"
    assert acts.index(("main", "qemu_file_shutdown(s->to_dst_file)")) < acts.index(
        ("T_mig", "write fails: -EIO after qemu_file_shutdown"))
    kept = derive(DESIGNS["qemu-10.0"], "no-shutdown", "cancel leaves the file alone",
                  cancel_shuts_down_file=False)
    r2 = run_program(kept, prog, choose=t_mig_first)
    acts2 = [(t.actor, t.action) for t in r2.trace]
    assert ("T_mig", "write fails: -EIO after qemu_file_shutdown") not in acts2


def test_alternative_proposal_no_longer_holds_once_the_io_thread_is_modelled() -> None:
    # proposed-bql-identity-clear frees the object at shutdown and protects exported helpers with
    # the BQL; an out-of-band migrate-pause runs on the monitor I/O thread without the BQL
    # (monitor/qmp.c:handle_qmp_command) and uses what it loaded after the cleanup BH freed it
    from migration.check.search import ALTERNATIVE, alternative_designs

    assert alternative_designs() == ()
    d = derive(DESIGNS["qemu-10.0"], "proposed-bql-identity-clear", "the old alternative",
               **dict(ALTERNATIVE))
    ex = explore_scenario(d, "S14-oob-after-shutdown:b")
    assert ex.complete
    _sched, fault = ex.violations["no-use-after-free"]
    assert fault.actor.startswith("mon_iothread")
    assert fault.detail.startswith("ms->state (migration_postcopy_is_alive) of freed")
