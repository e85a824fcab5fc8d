"""The exhaustive explorer and the Hypothesis sampler."""

from __future__ import annotations

import pytest
from fresh_interpreter import run_fresh

from migration.check.explore import explore, sample, trim
from migration.check.properties import violation
from migration.model.designs import DESIGNS, ThreadCleanup, derive
from migration.model.program import ev
from migration.model.run import run_program
from migration.model.scenarios import SCENARIOS

# main: init, migrate (spawns T_mig), then migration_is_running() = load + read: 2 steps after the
# spawn, the second of which ends the run (the process exits when main is done).
# T_mig (qemu-10.0, reference taken before creation): reads the state, then
# migration_iteration_finish() takes the BQL, which main holds until it exits: 1 step.
# A schedule is fixed by how many of T_mig's k steps (k = 0..1) run before main's last step and
# where main's first post-spawn step falls among them: k + 1 ways.  1 + 2 = 3.
TINY = (ev("object_init"), ev("migrate"), ev("helper", name="migration_is_running"))

# The same program under the knob no QEMU preset uses: the thread cleans up inline and unrefs
# without the BQL (3 steps: read state, cleanup write, unref): 1 + 2 + 3 + 4 = 10.
INLINE_COUNT = 10


def test_tiny_program_has_the_hand_counted_number_of_schedules() -> None:
    naive = explore(DESIGNS["qemu-10.0"], TINY, reduce=False)
    reduced = explore(DESIGNS["qemu-10.0"], TINY)
    assert naive.complete and reduced.complete
    assert naive.schedules == 3
    assert naive.runs == 3
    assert reduced.schedules == 3
    assert naive.outcomes == reduced.outcomes == {"OK"}
    inline = derive(DESIGNS["qemu-10.0"], "inline", "the old inline cleanup",
                    thread_cleanup=ThreadCleanup.INLINE)
    naive = explore(inline, TINY, reduce=False)
    reduced = explore(inline, TINY)
    assert naive.schedules == naive.runs == reduced.schedules == INLINE_COUNT
    # equivalent interleavings (independent steps in either order) are run once
    assert reduced.runs == 7


@pytest.mark.parametrize(("design", "scenario"), [
    ("qemu-10.0", "S5-bh-after-free"),
    ("join-at-shutdown", "S9-lock-order:b"),
    ("qemu-9.1", "S4-thread-creation"),
])
def test_reduction_loses_no_fault(design: str, scenario: str) -> None:
    naive = explore(DESIGNS[design], SCENARIOS[scenario], reduce=False)
    reduced = explore(DESIGNS[design], SCENARIOS[scenario])
    assert naive.complete and reduced.complete
    assert reduced.schedules == naive.schedules == naive.runs
    assert reduced.runs < naive.runs
    assert set(reduced.violations) == set(naive.violations)
    assert reduced.outcomes == naive.outcomes
    for pid, (sched, fault) in reduced.violations.items():
        replayed = violation(pid, run_program(DESIGNS[design], SCENARIOS[scenario], sched))
        assert replayed is not None and replayed.outcome is fault.outcome


def test_budget_makes_an_exploration_incomplete() -> None:
    ex = explore(DESIGNS["two-globals"], SCENARIOS["S3-load-free-use"], max_runs=5)
    assert not ex.complete
    assert ex.runs == 5


def test_a_schedule_replays_exactly() -> None:
    d = DESIGNS["qemu-9.1"]
    a = run_program(d, SCENARIOS["S4-thread-creation"], [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    b = run_program(d, SCENARIOS["S4-thread-creation"], a.schedule)
    assert a.trace == b.trace
    assert a.fault == b.fault


def test_trim() -> None:
    assert trim([0, 1, 0, 2, 0, 0]) == [0, 1, 0, 2]
    assert trim([0, 0]) == []


def test_hypothesis_finds_and_shrinks_a_null_deref() -> None:
    run_fresh("test_migration_explore", "_finds_and_shrinks_a_null_deref")  # what ran before must not count


def _finds_and_shrinks_a_null_deref() -> None:
    # two-globals clears current_migration in finalize: any internal accessor after the last
    # unref asserts; the smallest program is init, shutdown, an accessor, monitor_cleanup
    r, n = sample(DESIGNS["two-globals"], "no-null-deref", seed_value=1, max_examples=200)
    assert r is not None
    assert 1 <= n <= 200 + 500  # generation plus shrinking
    f = violation("no-null-deref", r)
    assert f is not None and f.outcome.value == "NULL_DEREF"
    assert len(r.program) <= 5
    assert len(r.schedule) <= 12
    again = violation("no-null-deref", run_program(DESIGNS["two-globals"], tuple(
        ev(e["event"], **{k: v for k, v in e.items() if k != "event"}) for e in r.program), r.schedule))
    assert again == f


def test_hypothesis_finds_nothing_on_the_proposal() -> None:
    from migration.check.registry import resolve

    r, n = sample(resolve("proposed-singleton-keepalive"), "no-use-after-free", seed_value=0, max_examples=30)
    assert r is None
    assert n >= 30


def test_until_stops_at_the_first_schedule_that_violates_and_says_so() -> None:
    """A search asks only whether some schedule fails: the enumeration stops there."""
    design, program = DESIGNS["qemu-10.0"], SCENARIOS["S14-oob-after-shutdown:b"]
    whole = explore(design, program)
    assert whole.complete and "no-use-after-free" in whole.violations
    first = explore(design, program, until=frozenset({"no-use-after-free"}))
    assert not first.complete and first.runs < whole.runs
    sched, fault = first.violations["no-use-after-free"]
    replayed = violation("no-use-after-free", run_program(design, program, sched))
    assert replayed is not None and (replayed.outcome, replayed.detail) == (fault.outcome, fault.detail)
    # a property that holds: every schedule is enumerated, as without `until`
    held = explore(design, program, until=frozenset({"no-deadlock"}))
    assert "no-deadlock" not in whole.violations
    assert (held.complete, held.schedules, held.runs, held.violations.keys()) == \
        (True, whole.schedules, whole.runs, whole.violations.keys())
