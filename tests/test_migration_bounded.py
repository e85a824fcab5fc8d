"""Bounded model checking over programs (migration.check.bounded, migration.check.workers)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator
from pathlib import Path

import pytest
from fresh_interpreter import call_fresh

import migration.check.bounded as bounded
import migration.model.events as events
import migration.model.runtime as runtime
from migration.check.bounded import (
    DEFAULT_BOUND,
    SKELETON,
    Bound,
    Bounded,
    Grammar,
    count_programs,
    explore_bounded,
    free_events,
    grammar,
    in_grammar,
    merge,
    scenarios_outside,
    split,
    split_tasks,
)
from migration.check.cell import check_cell, scenario_outcomes
from migration.check.explore import explore_scenario
from migration.check.properties import violation
from migration.check.registry import resolve
from migration.model.alphabet import ALPHABET
from migration.model.designs import DESIGNS
from migration.model.heap import Crash
from migration.model.outcomes import Fault, Outcome
from migration.model.program import Event, ev
from migration.model.qomtype import MigrationUniverse
from migration.model.run import run_program
from migration.model.runtime import Pending, World
from migration.model.scenarios import SCENARIOS
from qom.cli.main import main as cli_main

#: a small alphabet, so that the naive enumeration (no reduction) stays cheap
SMALL = Grammar(
    pre=(ev("helper", name="migration_is_running"),),
    running=(ev("migrate"), ev("helper", name="migration_is_running")),
    post=(ev("helper", name="migration_is_running"), ev("query_migrate", caller="outside")),
    vm_shutdown=(ev("vm_shutdown"),),
)


def _in_grammar(g: Grammar, program: tuple[Event, ...], bound: int) -> bool:
    return in_grammar(program, bound, g)


def test_the_alphabet_is_the_model_table() -> None:
    g = grammar()
    kinds = {e.kind for e in (*g.pre, *g.running, *g.post, *g.vm_shutdown)} | SKELETON
    assert kinds == {k.name for k in ALPHABET}
    # symmetry: a label only names an event for the reader; it is not part of the alphabet
    assert all(k != "label" for e in (*g.pre, *g.running, *g.post) for k, _ in e.params)
    assert g.options(4, 3) == (None,)
    assert g.options(0, 0) == (ev("object_init"),)


def test_program_count_matches_a_brute_force_walk() -> None:
    # K = 0: object_init, migration_shutdown, then exit, monitor_cleanup, or vm_shutdown (then exit or
    # monitor_cleanup)
    assert count_programs(SMALL, 0) == 4

    def walk(phase: int, left: int) -> int:
        n = 0
        for e in SMALL.options(phase, left):
            if e is None:
                n += 1
            elif e.kind in SKELETON:
                n += walk({"object_init": 1, "migration_shutdown": 2, "vm_shutdown": 3,
                           "monitor_cleanup": 4}[e.kind], left)
            else:
                n += walk(phase, left - 1)
        return n

    for k in (1, 2, 3):
        assert count_programs(SMALL, k) == walk(0, k)
    assert sum(count_programs(SMALL, 2, p) for p in _prefixes(SMALL, 2)) == count_programs(SMALL, 2)


def _prefixes(g: Grammar, bound: int) -> list[tuple[int, ...]]:
    return [(i,) for i in range(len(g.options(0, bound)))]


@pytest.mark.parametrize("design", ["two-globals", "qemu-9.1"])
def test_reductions_find_exactly_what_the_naive_exploration_finds(design: str) -> None:
    tiny = Grammar(pre=(), running=(ev("migrate"),), post=(ev("helper", name="migration_is_running"),),
                   vm_shutdown=SMALL.vm_shutdown)
    naive = explore_bounded(resolve(design), 1, reduce=False, alphabet=tiny)
    reduced = explore_bounded(resolve(design), 1, alphabet=tiny)
    assert naive.complete and reduced.complete
    assert reduced.runs < naive.runs
    # the same (program, schedule) pairs, ending the same way, and the same violated properties
    assert reduced.paths == naive.paths == naive.runs
    assert reduced.outcomes == naive.outcomes
    assert set(reduced.violations) == set(naive.violations)
    for pid, (prog, sched, fault) in reduced.violations.items():
        # shortest first: no naive witness has fewer program events
        assert free_events(prog) <= free_events(naive.violations[pid][0])
        replayed = violation(pid, run_program(resolve(design), prog, sched))
        assert replayed is not None and replayed.outcome is fault.outcome


def test_the_split_by_prefix_loses_nothing() -> None:
    d = resolve("qemu-10.0")
    whole = explore_bounded(d, 2, alphabet=SMALL)
    parts = [explore_bounded(d, 2, alphabet=SMALL, prefix=p) for p in _prefixes(SMALL, 2)]
    merged = merge(d.name, 2, parts)
    assert merged.paths == whole.paths
    assert merged.outcomes == whole.outcomes
    assert merged.programs == whole.programs == count_programs(SMALL, 2)
    assert set(merged.violations) == set(whole.violations)
    assert split(DEFAULT_BOUND, 1) == [(i,) for i in range(len(grammar().options(0, DEFAULT_BOUND)))]


#: foreground events in every phase, beside a background one: what split_tasks puts in one task
MIXED = Grammar(
    pre=(ev("helper", name="migration_is_running"), ev("introspect")),
    running=(ev("migrate"), ev("helper", name="migration_is_running"),
             ev("helper", name="migration_is_active")),
    post=(ev("helper", name="migration_is_running"),),
    vm_shutdown=(ev("vm_shutdown"),),
)


def test_the_split_with_foreground_events_together_loses_nothing_and_stores_less() -> None:
    d = resolve("qemu-9.1")
    whole = explore_bounded(d, 2, alphabet=MIXED)
    tasks = split_tasks(2, 2, alphabet=MIXED)
    # the pre events together; after object_init (index 2): migrate alone, the two foreground events
    # together, migration_shutdown (skeleton) alone
    assert tasks == [((), (0, 1)), ((2, 0), ()), ((2,), (1, 2)), ((2, 3), ())]
    parts = [explore_bounded(d, 2, alphabet=MIXED, prefix=p, then=then) for p, then in tasks]
    merged = merge(d.name, 2, parts)
    assert merged.paths == whole.paths
    assert merged.outcomes == whole.outcomes
    assert merged.violating == whole.violating
    assert merged.programs == whole.programs == count_programs(MIXED, 2)
    assert {p: free_events(v[0]) for p, v in merged.violations.items()} == \
        {p: free_events(v[0]) for p, v in whole.violations.items()}
    for pid, (prog, sched, fault) in merged.violations.items():
        replayed = violation(pid, run_program(d, prog, sched))
        assert replayed is not None and replayed.outcome is fault.outcome
    # one task per foreground event would store more: their subtrees meet
    apart = [explore_bounded(d, 2, alphabet=MIXED, prefix=(2, i)) for i in (1, 2)]
    assert sum(b.states for b in apart) > parts[2].states
    assert sum(b.paths for b in apart) == parts[2].paths


def test_which_scenarios_lie_inside_the_bound() -> None:
    g = grammar()
    inside = {sid for sid, prog in SCENARIOS.items() if _in_grammar(g, prog, 2)}
    # S13 (4 creation paths and a query) and S7 (10 introspections and a query) are longer than
    # bound 2; they stay named witnesses, enumerated on their own
    assert set(SCENARIOS) - inside == {"S7-introspect-live", "S13-unconverted-path"}
    assert _in_grammar(g, SCENARIOS["S13-unconverted-path"], 4)
    assert _in_grammar(g, SCENARIOS["S7-introspect-live"], 10)
    default = {sid for sid, prog in SCENARIOS.items() if _in_grammar(g, prog, DEFAULT_BOUND)}
    assert DEFAULT_BOUND == 1
    assert default == {sid for sid, prog in SCENARIOS.items() if free_events(prog) <= 1}
    assert len(default) == 9
    assert scenarios_outside(2) == {"S13-unconverted-path": (4, 0), "S7-introspect-live": (10, 0)}
    assert len(scenarios_outside(1)) == 10
    # a second box of programs without background events takes in the two long ones; the covering
    # bound is the smallest of that shape
    assert Bound.parse("covering") == Bound.parse(bounded.COVERING_BOUND) == Bound.parse("2+10/0")
    assert scenarios_outside(Bound.parse("2+10/0")) == {}
    assert scenarios_outside(Bound.parse("1+10/0")) == {
        sid: (2, bounded.background_events(SCENARIOS[sid])) for sid in (
            "S2-thread-holds-last-ref", "S3-load-free-use", "S6-incoming-coroutine", "S9-lock-order:a",
            "S9-lock-order:b", "S10-rcu-reader", "S14-oob-after-shutdown:b", "S15-qmp-bh-at-cleanup")}
    assert scenarios_outside(Bound.parse("2+9/0")) == {"S7-introspect-live": (10, 0)}
    assert scenarios_outside(Bound.parse("10/0")) == {
        sid: (free_events(prog), bounded.background_events(prog)) for sid, prog in SCENARIOS.items()
        if bounded.background_events(prog) > 0}


def test_two_events_whose_first_steps_look_alike_are_not_merged() -> None:
    # regression: main's state must say which event runs, or the second helper (which crashes
    # before init: qemu-10.0 NULL-checks migration_is_running only) would reuse the first one's subtree
    g = Grammar(pre=(ev("helper"), ev("helper", name="migration_file_set_error")), running=(), post=(),
                vm_shutdown=(ev("vm_shutdown"),))
    d = resolve("qemu-10.0")
    naive = explore_bounded(d, 1, reduce=False, alphabet=g)
    reduced = explore_bounded(d, 1, alphabet=g)
    assert reduced.outcomes == naive.outcomes == {"NULL_DEREF": 1, "OK": 4, "UAF": 2}
    assert set(reduced.violations) == set(naive.violations) == {"no-null-deref", "helpers-whole-lifecycle",
                                                               "no-use-after-free"}


def test_every_scenario_fault_inside_the_bound_is_found_by_the_bounded_exploration(
        explored: Callable[[str], Bounded]) -> None:
    d = resolve("qemu-10.0")
    b = explored("qemu-10.0")
    assert b.complete
    assert b.programs == count_programs(grammar(), 1)
    assert set(b.outcomes) == {"LEAK", "OK", "SECOND_INSTANCE", "UAF"}
    assert b.programs == 1970  # 26 programs without a free event, 1944 with one
    found = set()
    for sid, prog in SCENARIOS.items():
        if free_events(prog) <= 1:
            found |= set(explore_scenario(d, sid).violations)
    assert found <= set(b.violations)
    # no-null-deref holds: before migration_object_init() only migrate_add_blocker() -> is_busy() calls a
    # helper, and migration_is_running() checks for NULL
    assert set(b.violations) == {"single-instance", "no-use-after-free", "helpers-whole-lifecycle",
                                 "freed-by-exit"}
    # the shortest UAF: a helper after an idle shutdown (S1's shape, no free event at all)
    prog, _sched, fault = b.violations["no-use-after-free"]
    assert [e.kind for e in prog] == ["object_init", "migration_shutdown", "vm_shutdown"]
    assert fault.outcome is Outcome.UAF
    assert "holds for every program of up to 1 event" in b.verdict_text("no-deadlock")


def test_the_explorer_finds_a_planted_fault_no_scenario_reaches(monkeypatch: pytest.MonkeyPatch) -> None:
    # planted bug: query-migrate while an incoming migration runs touches freed memory
    real = events.run_event

    def planted(w: World, e: Event) -> Generator[Pending, None, None]:
        yield from real(w, e)
        if e.kind == "query_migrate" and w.actor_named("co:incoming") is not None:
            raise Crash(Fault(Outcome.UAF, len(w.trace), "main", "mig#1", "planted"))

    monkeypatch.setattr(events, "run_event", planted)
    monkeypatch.setattr(bounded, "run_event", planted)
    d = resolve("proposed-singleton-keepalive")  # no use-after-free of its own
    for sid in SCENARIOS:
        assert "no-use-after-free" not in explore_scenario.__wrapped__(d, sid).violations
    alphabet = Grammar(pre=(), running=(ev("migrate_incoming"), ev("poll"), ev("query_migrate")),
                       post=(ev("query_migrate"),), vm_shutdown=(ev("vm_shutdown"),))
    b = explore_bounded(d, 2, alphabet=alphabet)
    prog, sched, fault = b.violations["no-use-after-free"]
    assert fault.detail == "planted"
    # the shortest schedule: a query-migrate after the main loop exited is one step (never dispatched)
    assert [str(e) for e in prog] == ["object_init()", "migrate_incoming()", "migration_shutdown()",
                                      "query_migrate()"]
    assert run_program(d, prog, sched).fault == fault
    assert b.outcomes == {"LEAK": 104, "UAF": 8}


def test_freed_by_exit_measures_what_keeping_the_main_reference_costs() -> None:
    import migration.check.cell  # noqa: F401  # registers the proven proposal

    keep = run_program(resolve("proposed-singleton-keepalive"), SCENARIOS["S1-helper-after-idle-shutdown"])
    f = violation("freed-by-exit", keep)
    assert f is not None and f.outcome is Outcome.LEAK
    assert f.detail == "mig#1 is not finalized by the end of qemu_cleanup() (refcount 1)"
    freed = run_program(resolve("two-globals"), SCENARIOS["S1-helper-after-idle-shutdown"])
    assert freed.outcome is Outcome.OK and violation("freed-by-exit", freed) is None
    # a run that never shut down is not judged (qemu_cleanup() never ran)
    assert run_program(resolve("two-globals"), (ev("object_init"),)).exit_leaks == []
    cell = check_cell("proposed-singleton-keepalive", "freed-by-exit", max_examples=0)
    assert (cell.verdict, cell.outcome) == ("fails", Outcome.LEAK)


def test_scenario_results_cover_every_schedule() -> None:
    # the default schedule ends OK; over every schedule S14:a mostly ends in a use-after-free
    sid = "S14-oob-after-shutdown:a"
    assert run_program(resolve("qemu-10.0"), SCENARIOS[sid]).outcome is Outcome.OK
    so = scenario_outcomes("qemu-10.0", sid)
    assert so.counts == {"OK": 1, "UAF": 27}
    assert so.schedules == explore_scenario(resolve("qemu-10.0"), sid).schedules == 28
    assert str(so) == "OK 1, UAF 27"
    assert set(so.witnesses) == {"UAF"}
    run = run_program(resolve("qemu-10.0"), SCENARIOS[sid], so.witnesses["UAF"])
    assert run.outcome is Outcome.UAF


@pytest.mark.parametrize(("design", "holding"), [
    # join-at-shutdown explores K = 1 in a seventh of qemu-9.1's time; both fail some properties
    ("join-at-shutdown", "creation-paths-safe"),
    pytest.param("qemu-9.1", "no-deadlock", marks=pytest.mark.slow),
])
def test_one_and_two_workers_give_the_same_bytes(design: str, holding: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from migration.check import workers

    workers._CACHE.clear()
    args = ["check", "--design", design, "--examples", "0", "--bound", "1", "--no-database"]
    assert cli_main([*args, "--workers", "1", "--json", "w1.json"]) == 1
    workers._CACHE.clear()
    assert cli_main([*args, "--workers", "2", "--json", "w2.json"]) == 1
    w1 = (tmp_path / "w1.json").read_bytes()
    assert w1 == (tmp_path / "w2.json").read_bytes()
    cells = json.loads(w1)["cells"]
    nd = next(c for c in cells if c["property"] == holding)
    assert nd["statement"] == (f"holds for every program of up to 1 event and every schedule "
                               f"({nd['programs']} programs, {nd['states']} distinct states)")
    assert nd["bound"] == 1 and nd["programs"] == count_programs(grammar(), 1)
    assert nd["bound_spec"] == "1"


@pytest.mark.parametrize(("design", "holding"), [
    # join-at-shutdown explores 1+2/0 in a tenth of mutex's runs; both deadlock and keep one property
    ("join-at-shutdown", "creation-paths-safe"),
    pytest.param("mutex", "single-instance", marks=pytest.mark.slow),
])
def test_a_union_of_boxes_from_the_command_line(design: str, holding: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from migration.check import workers

    workers._CACHE.clear()
    assert cli_main(["check", "--design", design, "--property", "no-deadlock", "--property",
                     holding, "--examples", "0", "--bound", "1+2/0", "--no-database", "--json",
                     "c.json"]) == 1
    cells = {c["property"]: c for c in json.loads((tmp_path / "c.json").read_text())["cells"]}
    si = cells[holding]
    assert si["bound"] == 2 and si["bound_spec"] == "1+2/0"
    assert si["programs"] == count_programs(grammar(), Bound.parse("1+2/0"))
    assert si["statement"] == (f"holds for every program of up to 1 event, or up to 2 events none of them "
                               f"background, and every schedule ({si['programs']} programs, "
                               f"{si['states']} distinct states)")
    assert cells["no-deadlock"]["statement"] == "fails with DEADLOCK (bound 1+2/0)"


def test_bad_bound_and_worker_count_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("x", "-2", "2/x"):
        with pytest.raises(SystemExit):
            cli_main(["check", "--design", "qemu-9.1", "--bound", bad])
        assert (f"invalid bound '{bad}': expected K, K/A, several joined with '+' (K events, at most A of "
                "them background; integers >= 0) or 'covering'") in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["check", "--design", "qemu-9.1", "--workers", "0"])
    assert "invalid worker count '0': expected an integer >= 1" in capsys.readouterr().err


#: the designs a broken independence relation makes the reduction miss a fault of (the next test)
POR_WITNESSES = ("join-at-shutdown", "qemu-9.1")


@pytest.mark.parametrize("design", [
    pytest.param(d, marks=() if d in POR_WITNESSES else pytest.mark.slow) for d in sorted(DESIGNS)])
def test_the_partial_order_reduction_finds_what_state_hashing_finds(
        design: str, explored: Callable[[str], Bounded]) -> None:
    d = resolve(design)
    hashed = explored(design)
    reduced = explore_bounded(d, 1, por=True)
    assert reduced.complete and hashed.complete
    # fewer schedules, the same programs, the same ways to end, the same faults, as short
    assert reduced.paths < hashed.paths
    assert reduced.programs == hashed.programs
    assert set(reduced.outcomes) == set(hashed.outcomes)
    assert list(reduced.violations) == list(hashed.violations)
    for pid, (prog, sched, fault) in reduced.violations.items():
        assert free_events(prog) == free_events(hashed.violations[pid][0])
        replayed = violation(pid, run_program(d, prog, sched))
        assert replayed is not None and replayed.outcome is fault.outcome


def test_an_independence_that_ignores_the_heap_is_caught_by_the_cross_check(
        monkeypatch: pytest.MonkeyPatch, explored: Callable[[str], Bounded]) -> None:
    # steps that change a migration object's memory would count as commuting with everything
    def actors_only(self: World, acting: object) -> tuple[object, ...]:
        return tuple((a.name, a.done) for a in self.actors)

    lost_by_design = {"join-at-shutdown": "no-use-after-free", "qemu-9.1": "freed-by-exit"}
    assert tuple(lost_by_design) == POR_WITNESSES
    hashed_by_design = {design: explored(design) for design in lost_by_design}  # before the sabotage
    monkeypatch.setattr(World, "shared_key", actors_only)
    for design, lost in lost_by_design.items():
        hashed = hashed_by_design[design]
        broken = explore_bounded(resolve(design), 1, por=True)
        if design == "qemu-9.1":
            # with no busy block device (vm_shutdown block=idle) the cleanup BH never runs and the object
            # leaks in every schedule, so the broken reduction keeps the property and loses its paths
            assert broken.violating[lost] < hashed.violating[lost] // 100, design
        else:
            assert lost in hashed.violations and lost not in broken.violations, design


def test_sleep_sets_drop_schedules_that_only_reorder_commuting_steps() -> None:
    d = resolve("qemu-10.0")
    g = Grammar(pre=(), running=(ev("migrate"),), post=(ev("helper", name="migration_file_set_error"),),
                vm_shutdown=SMALL.vm_shutdown)
    naive = explore_bounded(d, 2, alphabet=g, reduce=False)
    hashed = explore_bounded(d, 2, alphabet=g)
    reduced = explore_bounded(d, 2, alphabet=g, por=True)
    assert (naive.paths, hashed.paths, reduced.paths) == (1037, 1037, 745)
    assert naive.outcomes == hashed.outcomes == {"LEAK": 233, "OK": 702, "UAF": 102}
    assert reduced.outcomes == {"LEAK": 171, "OK": 502, "UAF": 72}
    assert list(reduced.violations) == list(hashed.violations) == list(naive.violations) == [
        "no-use-after-free", "helpers-whole-lifecycle", "freed-by-exit"]


def test_actors_created_with_different_parameters_are_never_merged() -> None:
    # regression: a thread's body closes over the event that created it; once main had moved on, two
    # worlds that differed only in the cleanup BH's helper were merged, and state hashing stood for 515
    # of the 595 schedules (both outcome sets still matched, by luck)
    g = Grammar(pre=(), running=(ev("migrate"), ev("migrate", bh_helper="migration_file_set_error")), post=(),
                vm_shutdown=(ev("vm_shutdown"),))
    d = resolve("qemu-10.0")
    naive = explore_bounded(d, 1, alphabet=g, reduce=False)
    hashed = explore_bounded(d, 1, alphabet=g, frames=False)  # the history holds the closure's values
    framed = explore_bounded(d, 1, alphabet=g)  # the frames hold them as variables of the body
    assert (naive.runs, hashed.runs, framed.runs) == (595, 116, 86)
    assert hashed.paths == framed.paths == naive.paths == 595
    assert hashed.outcomes == framed.outcomes == naive.outcomes == {"LEAK": 112, "OK": 482, "UAF": 1}


def test_check_por_gives_the_same_verdicts_from_a_sleep_set_exploration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from migration.check import workers

    workers._CACHE.clear()
    args = ["check", "--design", "join-at-shutdown", "--examples", "0", "--bound", "1", "--no-database"]
    assert cli_main([*args, "--json", "hashed.json"]) == 1
    assert cli_main([*args, "--por", "--json", "por.json"]) == 1
    d = resolve("join-at-shutdown")
    hashed, por = workers.cached(d, 1), workers.cached(d, 1, por=True)
    assert hashed is not None and por is not None and por.paths < hashed.paths
    cells = {f: json.loads((tmp_path / f).read_text())["cells"] for f in ("hashed.json", "por.json")}
    verdicts = [[(c["property"], c["verdict"], c["outcome"]) for c in cs] for cs in cells.values()]
    assert verdicts[0] == verdicts[1]
    assert ("no-use-after-free", "fails", "UAF") in verdicts[0]


def test_a_bound_is_written_read_and_worded_exactly() -> None:
    assert Bound.parse("1") == Bound.of(1) == Bound(((1, None),))
    assert str(Bound.parse("2+10/0")) == "2+10/0"
    assert Bound.parse("2+10/0").events == 10
    assert Bound.parse("2+10/0").text() == "up to 2 events, or up to 10 events none of them background"
    assert Bound.parse("3/1").text() == "up to 3 events at most 1 of them background"
    assert Bound.parse("1").text() == "up to 1 event"
    assert Bound.parse("1").every() == "every program of up to 1 event and every schedule"
    assert Bound.parse("2+10/0").every() == (
        "every program of up to 2 events, or up to 10 events none of them background, and every schedule")
    assert Bound.parse("2/2").plain and not Bound.parse("2/1").plain
    for bad in ("", "x", "2/", "-2", "2+-1/0", "1.5"):
        with pytest.raises(ValueError) as err:
            Bound.parse(bad)
        assert str(err.value) == (f"invalid bound '{bad}': expected K, K/A, several joined with '+' (K "
                                  "events, at most A of them background; integers >= 0) or 'covering'")


def test_a_union_of_bounds_keeps_each_box_no_other_box_holds() -> None:
    def union(a: str, b: str) -> str:
        return str(Bound.parse(a).union(Bound.parse(b)))

    assert union("1", "covering") == union("covering", "1") == "2+10/0"
    assert union("1", "2/0") == "1+2/0"
    assert union("3/1", "2") == "3/1+2"  # 2 holds programs of 2 background events, 3/1 does not
    assert union("2/2", "2") == union("2", "2") == "2"  # 2/2 is 2
    assert union("1+2/0", "2") == "2"
    # the union holds exactly the programs of either bound
    for a, b in (("1", "2/0"), ("3/1", "2"), ("1+2/0", "2"), ("2", "3/0")):
        u = Bound.parse(a).union(Bound.parse(b))
        either = _programs(Bound.parse(a)) | _programs(Bound.parse(b))
        assert _programs(u) == either and count_programs(SMALL, u) == len(either)
        assert all(u.allows(k, n) == (Bound.parse(a).allows(k, n) or Bound.parse(b).allows(k, n))
                   for k in range(5) for n in range(k + 1))


def _programs(bound: Bound) -> set[tuple[Event, ...]]:
    """:return: every program of ``SMALL`` inside ``bound`` (a walk of the grammar with the bound's own
        options, independent of how :func:`count_programs` counts them)."""
    out: set[tuple[Event, ...]] = set()

    def walk(prog: tuple[Event, ...], pos: tuple[int, int, int]) -> None:
        for e in bounded._options(SMALL, bound, pos):
            if e is None:
                out.add(prog)
            else:
                walk((*prog, e), bounded._advance(pos, e))

    walk((), (0, 0, 0))
    return out


def test_a_union_of_boxes_counts_each_program_once() -> None:
    # inclusion-exclusion: the box of 2 events meets the box of 3 foreground events in the box 2/0
    for union, a, b, both in (("2+3/0", "2", "3/0", "2/0"), ("1+3/1", "1", "3/1", "1/1")):
        assert count_programs(SMALL, Bound.parse(union)) == (
            count_programs(SMALL, Bound.parse(a)) + count_programs(SMALL, Bound.parse(b))
            - count_programs(SMALL, Bound.parse(both)))
    # a background box with no limit is the plain bound
    assert count_programs(SMALL, Bound.parse("3/3")) == count_programs(SMALL, 3)
    assert count_programs(SMALL, Bound.parse("3/0")) < count_programs(SMALL, 3)


def _naive_union(design: str) -> tuple[bool, int, dict[str, int], set[str]]:
    """The naive enumeration of :data:`SMALL` at 2+3/0: complete, paths, outcomes, violated properties."""
    n = explore_bounded(resolve(design), Bound.parse("2+3/0"), alphabet=SMALL, reduce=False)
    return n.complete, n.paths, n.outcomes, set(n.violations)


@pytest.mark.parametrize("design", ["qemu-10.0", "join-at-shutdown"])
def test_a_union_of_boxes_is_explored_once_and_exactly(design: str) -> None:
    d = resolve(design)
    parts = {spec: explore_bounded(d, Bound.parse(spec), alphabet=SMALL) for spec in ("2", "3/0", "2/0")}
    union = explore_bounded(d, Bound.parse("2+3/0"), alphabet=SMALL)
    # the reference, in a fresh interpreter without typeguard (a tenth of the time)
    complete, paths, outcomes, violated = call_fresh("test_migration_bounded", "_naive_union", design)
    assert union.complete and complete
    assert union.spec == "2+3/0" and union.bound == 3
    # every (program, schedule) pair once: the union's counts are the boxes' minus their meet
    assert union.paths == paths == parts["2"].paths + parts["3/0"].paths - parts["2/0"].paths
    for o in set(union.outcomes) | set(outcomes):
        assert union.outcomes.get(o, 0) == outcomes.get(o, 0) == (
            parts["2"].outcomes.get(o, 0) + parts["3/0"].outcomes.get(o, 0) - parts["2/0"].outcomes.get(o, 0))
    assert set(union.violations) == violated == set(parts["2"].violations) | set(parts["3/0"].violations)
    assert union.programs == count_programs(SMALL, Bound.parse("2+3/0"))


def test_a_foreground_event_that_leaves_an_actor_running_stops_the_search(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the second bound counts background events only; an event wrongly declared foreground is caught
    monkeypatch.setattr(bounded, "leaves_actor", lambda e: False)
    g = Grammar(pre=(), running=(ev("migrate"),), post=(), vm_shutdown=(ev("vm_shutdown"),))
    with pytest.raises(RuntimeError) as err:
        explore_bounded(resolve("qemu-10.0"), Bound.parse("1/0"), alphabet=g)
    assert str(err.value) == "migrate() is a foreground event (leaves_actor) but left T_mig running"


#: introspection and helpers in every phase, a creation path and a direct query: events that only add to
#: the logs in some worlds
_LOGS = Grammar(
    pre=(ev("introspect"), ev("helper", name="migration_file_set_error"), ev("helper")),
    running=(ev("introspect"), ev("helper"), ev("create", path="device-help"),
             ev("query_migrate", caller="outside")),
    post=(ev("introspect"), ev("helper", name="migration_is_running"), ev("helper")),
    vm_shutdown=(ev("vm_shutdown"),),
)


def _naive_on_logs(design: str) -> tuple[bool, int, dict[str, int], dict[str, int], set[str], int]:
    """The naive enumeration of :data:`_LOGS` at 3/0: complete, paths, outcomes, violating, the violated
    properties, runs."""
    n = explore_bounded(resolve(design), Bound.parse("3/0"), alphabet=_LOGS, reduce=False)
    return n.complete, n.paths, n.outcomes, n.violating, set(n.violations), n.runs


@functools.cache
def _naive_on_logs_fresh(design: str) -> tuple[bool, int, dict[str, int], dict[str, int], set[str], int]:
    """:func:`_naive_on_logs` in a fresh interpreter, without typeguard (a tenth of the time), once per
    design for the two tests below; they only compare it."""
    result: tuple[bool, int, dict[str, int], dict[str, int], set[str], int] = call_fresh(
        "test_migration_bounded", "_naive_on_logs", design)
    return result


@pytest.mark.parametrize("design", ["identity-clear", "qemu-10.0", "internal-hidden"])
def test_worlds_that_differ_only_in_their_logs_merge_without_changing_a_result(design: str) -> None:
    complete, paths, outcomes, violating, violated, runs = _naive_on_logs_fresh(design)
    reduced = explore_bounded(resolve(design), Bound.parse("3/0"), alphabet=_LOGS)
    assert complete and reduced.complete
    assert reduced.paths == paths
    assert reduced.outcomes == outcomes
    assert reduced.violating == violating
    assert set(reduced.violations) == violated
    assert reduced.runs < runs


def test_a_log_summary_that_forgets_what_a_property_reads_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # the summary keeps the outcomes in the order each first occurs: without them, a world where a
    # second instance was already reported merges with one where none was, and the paths that
    # violate single-instance are miscounted
    import migration.check.properties as properties

    def forgetful(w: World) -> tuple[object, ...]:
        return properties.log_key(w)[1:]

    d = resolve("identity-clear")
    naive_violating = _naive_on_logs_fresh("identity-clear")[3]
    good = explore_bounded(d, Bound.parse("3/0"), alphabet=_LOGS)
    monkeypatch.setattr(bounded, "log_key", forgetful)
    bad = explore_bounded(d, Bound.parse("3/0"), alphabet=_LOGS, boundary=False)
    bad_at_boundaries = explore_bounded(d, Bound.parse("3/0"), alphabet=_LOGS)
    assert good.violating == naive_violating == {"single-instance": 1024}
    # the full key and the event-boundary key merge different wrong pairs: both miscount
    assert bad.violating == {"single-instance": 1400}
    assert bad_at_boundaries.violating == {"single-instance": 582}


def test_a_thread_another_thread_starts_during_a_foreground_event_is_not_the_events() -> None:
    # T_mig starts multifd_send (multifd_send_setup) whenever it runs, a poll of main's included: the
    # poll stays a foreground event, and the 2+10/0 box that the confirmation explores is not refused
    g = Grammar((), (ev("migrate", threads="multifd"), ev("poll")), (), (ev("vm_shutdown"),))
    r = explore_bounded(resolve("proposed-singleton-keepalive"), 2, alphabet=g)
    assert r.complete and r.violating == {"freed-by-exit": r.paths}
    assert r.paths == 2176445


def test_freezing_the_state_store_changes_no_result_and_thaws_at_the_end() -> None:
    import gc

    design = DESIGNS["join-at-shutdown"]
    frozen: list[int] = []
    got = explore_bounded(design, 1, freeze_every=97,
                          on_run=lambda runs, states: frozen.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    # the first 96 runs start before the first freeze, the later ones after it
    assert frozen[95] == 0 and frozen[96] > 0
    assert got.runs == 1221 and got.states == 765
    assert got.to_json() == explore_bounded(design, 1, freeze_every=None).to_json()
    # objects someone else froze stay frozen: their owner decides when they thaw (some of them may be
    # freed meanwhile, so their count may only go down)
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        during: list[int] = []
        explore_bounded(design, 1, freeze_every=97,
                        on_run=lambda runs, states: during.append(gc.get_freeze_count()))
        assert len(during) == 1221 and max(during) <= before and 0 < gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()


def test_a_replayed_step_takes_the_actor_the_parent_run_took(monkeypatch: pytest.MonkeyPatch) -> None:
    # a sibling run replays its parent's choices up to the branch: each of those steps is taken by the
    # actor the parent's record names (_Run.replayed), without asking which actors are enabled; the same
    # actor the scheduler would pick, so every count and witness is the same
    design = DESIGNS["join-at-shutdown"]
    asked = 0
    replayed = bounded._Run.replayed

    def checking(self: bounded._Run, w: World) -> object:
        nonlocal asked
        a = replayed(self, w)
        if a is not None:
            enabled = runtime._enabled(w)
            assert enabled[self.schedule[-1] % len(enabled)] is a
            asked += 1
        return a

    monkeypatch.setattr(bounded._Run, "replayed", checking)
    fast = explore_bounded(design, 1)
    monkeypatch.setattr(bounded._Run, "replayed", lambda self, w: None)
    slow = explore_bounded(design, 1)
    assert fast.to_json() == slow.to_json() and (fast.states, fast.runs) == (slow.states, slow.runs)
    assert asked == 11326


def test_a_replay_that_meets_a_program_choice_where_a_step_was_is_an_error() -> None:
    # the record of a run whose choices would not replay: the explorer stops, never steps a wrong actor
    run = bounded._Run(grammar("v10.0.0"), Bound.of(1), (), [3, 0, 0], {}, picked=[-1, 0, 0])
    with pytest.raises(RuntimeError, match=r"^choice 0 of \[3, 0, 0\] replays a program choice as a step$"):
        run.replayed(World(DESIGNS["qemu-10.0"], MigrationUniverse(DESIGNS["qemu-10.0"]).universe))
