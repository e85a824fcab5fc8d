"""What the terminal shows (issue 25): readable at 80 columns, no name cut, the same legend on every run."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest

from migration.check.cell import PROPERTIES
from migration.check.workers import Progress
from migration.model.outcomes import Fault, Outcome
from migration.model.results import CellResult, Counterexample
from migration.report import notes
from migration.report.check_cmd import terminal_lines
from migration.report.decide import all_designs
from migration.report.progress import LongStep, RichReporter
from migration.report.summary import LEGEND, summary_lines

#: a progress line of a long step (written when a step outlasts 10 s, so a test on stderr leaves them out)
PROGRESS_LINE = re.compile(r"^(decide|check): (exploring|checking) .*\d+ (s|min \d+ s|h \d+ min) elapsed"
                           r"(, about .* left)?$")


def without_progress(text: str) -> str:
    """:return: ``text`` without the progress lines of long steps."""
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not PROGRESS_LINE.match(line.rstrip("\n")))


#: the longest outcome name: the widest a failing cell can be
LONGEST = max(Outcome, key=lambda o: len(o.name))


def _cell(d: str, p: str, fails: bool, evidence: str = "bounded") -> CellResult:
    fault = Fault(LONGEST, 3, "main", "mig#1", "of freed mig#1 " * 6)
    cx = Counterexample(d, p, "S14-oob-after-shutdown:b", [], [], fault, []) if fails else None
    return CellResult(d, p, "fails" if fails else "holds", evidence,  # type: ignore[arg-type]
                      LONGEST if fails else Outcome.OK, cx, 1000, 0, 12, 304_921_943_589_048, 1_037_796,
                      "2+10/0")


def _matrix(fails: bool, evidence: str = "bounded") -> notes.Matrix:
    designs = tuple(all_designs())
    return notes.Matrix(seed=0, exhaustive=True, designs=designs, properties=PROPERTIES, scenarios=(),
                        all_scenarios=True, cells={(d, p): _cell(d, p, fails, evidence) for d in designs
                                                   for p in PROPERTIES},
                        scenario_outcomes={}, bound=12, bound_spec="2+10/0")


def test_the_decide_summary_fits_80_columns_and_names_every_design_whole() -> None:
    lines = summary_lines(_matrix(fails=True), 80)
    assert max(map(len, lines)) <= 80
    joined = " ".join(" ".join(line.split()) for line in lines)
    for d in all_designs():
        assert f"{d}: bound 2+10/0, 304,921,943,589,048 programs, 1,037,796 states" in joined
        assert any(line.startswith(f"{d}: ") for line in lines)
    for i, p in enumerate(PROPERTIES, 1):
        assert f"P{i}={p}" in joined
    assert lines.count(f"  fails  P1 {LONGEST.name}, P2 {LONGEST.name}, P3") == len(all_designs())


def _legend(lines: list[str]) -> list[str]:
    first = next(i for i, line in enumerate(lines) if line.startswith(f"{next(iter(all_designs()))}:"))
    return lines[:first]


def test_the_legend_is_the_same_whatever_the_run_found() -> None:
    a = summary_lines(_matrix(fails=True), 80)
    b = summary_lines(_matrix(fails=False, evidence="sampled"), 80)
    c = summary_lines(dataclasses.replace(_matrix(fails=False), cells={}), 80)
    assert _legend(a) == _legend(b) == _legend(c)
    assert " ".join(_legend(a)).endswith(LEGEND)
    assert "  holds  " + " ".join(f"P{i}*" for i in range(1, len(PROPERTIES) + 1)) in b
    assert "  -      " + " ".join(f"P{i}" for i in range(1, len(PROPERTIES) + 1)) in c


def test_check_at_80_columns_keeps_every_property_name_whole() -> None:
    cells = [_cell("proposed-singleton-keepalive", p, p.startswith("introspection")) for p in PROPERTIES]
    lines = terminal_lines(cells, 80)
    assert max(map(len, lines)) <= 80
    assert lines[:2] == ["design proposed-singleton-keepalive: every program of up to 2 events, or up to",
                         "  10 events none of them background, and every schedule (bound 2+10/0,"]
    assert f"  introspection-works: fails with {LONGEST.name} in" in lines
    assert f"  introspection-pure: fails with {LONGEST.name} in" in lines
    assert "  no-deadlock: holds (every program of the bound)" in lines


# ---------------------------------------------------------------------------------------------------------
# progress of a long step


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_long_step_writes_a_plain_line_every_10_s_when_stderr_is_not_a_terminal() -> None:
    clock, out = _Clock(), io.StringIO()
    with LongStep(out, "decide: exploring 2 designs at bound 2", tty=False, clock=clock, timer=False) as step:
        step.update(Progress(designs=2, bound="2", tasks=14))
        for t in (1.0, 9.9):
            clock.t = 100 + t
            step.tick()
        assert out.getvalue() == ""  # nothing before 10 s
        clock.t = 110.0
        step.update(Progress(2, "2", 14, tasks_done=3, runs=12_000, states=5_000, share_done=0.25))
        step.tick()
        clock.t = 115.0
        step.tick()  # not yet due
        clock.t = 120.0
        step.update(Progress(2, "2", 14, tasks_done=7, runs=30_000, states=10_000, share_done=0.5))
        step.tick()
    assert out.getvalue().splitlines() == [
        "decide: exploring 2 designs at bound 2, 3/14 tasks, 12,000 runs, 5,000 states, 500 states/s, "
        "10 s elapsed, about 30 s left",
        "decide: exploring 2 designs at bound 2, 7/14 tasks, 30,000 runs, 10,000 states, 500 states/s, "
        "20 s elapsed, about 20 s left",
    ]


def test_the_rate_is_the_states_over_the_time_up_to_their_count_not_up_to_now() -> None:
    """On a cluster the states count only as a task ends: between two ends the rate must hold, not fall."""
    clock, out = _Clock(), io.StringIO()
    step = LongStep(out, "decide: confirming", tty=False, clock=clock, timer=False)
    clock.t = 110.0
    step.update(Progress(1, "2+10/0", 54, tasks_done=1, runs=9_000, states=5_000))
    clock.t = 130.0
    step.update(Progress(1, "2+10/0", 54, tasks_done=1, runs=9_000, states=5_000))  # the same count, later
    clock.t = 140.0
    step.tick()
    clock.t = 150.0
    step.update(Progress(1, "2+10/0", 54, tasks_done=2, runs=30_000, states=20_000))
    step.close()
    assert out.getvalue().splitlines() == [
        "decide: confirming, 1/54 tasks, 9,000 runs, 5,000 states, 500 states/s, 10 s elapsed",
        "decide: confirming, 1/54 tasks, 9,000 runs, 5,000 states, 500 states/s, 30 s elapsed",
        "decide: confirming, 1/54 tasks, 9,000 runs, 5,000 states, 500 states/s, 40 s elapsed",
        "decide: confirming, 2/54 tasks, 30,000 runs, 20,000 states, 400 states/s, 50 s elapsed",
    ]


def test_the_rate_holds_when_the_explorer_updates_one_progress_in_place() -> None:
    """explore_designs hands the step the same Progress at every update, its counts changed in place."""
    clock, out = _Clock(), io.StringIO()
    step = LongStep(out, "decide: confirming", tty=False, clock=clock, timer=False)
    p = Progress(1, "2+10/0", 54)
    clock.t = 104.0
    step.update(p)  # nothing counted yet (and within the first seconds: no line)
    clock.t = 110.0
    p.tasks_done, p.runs, p.states = 1, 9_000, 5_000
    step.update(p)
    clock.t = 130.0
    p.tasks_done, p.runs, p.states = 2, 30_000, 15_000
    step.update(p)
    step.close()
    assert out.getvalue().splitlines() == [
        "decide: confirming, 1/54 tasks, 9,000 runs, 5,000 states, 500 states/s, 10 s elapsed",
        "decide: confirming, 2/54 tasks, 30,000 runs, 15,000 states, 500 states/s, 30 s elapsed",
    ]


def test_a_long_step_redraws_one_line_on_a_terminal_after_2_s_and_ends_it() -> None:
    clock, out = _Clock(), io.StringIO()
    step = LongStep(out, "check: exploring qemu-9.1 at bound 2", tty=True, clock=clock, timer=False)
    clock.t = 101.0
    step.tick()
    assert out.getvalue() == ""  # a short step shows nothing
    clock.t = 102.5
    step.tick()  # nothing reported yet: the elapsed time still moves, so it never looks frozen
    clock.t = 185.0
    step.update(Progress(1, "2", 7, tasks_done=1, runs=900, states=850, share_done=0.8))  # draws at once
    step.close()
    step.tick()  # closed: nothing more
    assert out.getvalue() == (
        "\rcheck: exploring qemu-9.1 at bound 2, 2 s elapsed\x1b[K"
        "\rcheck: exploring qemu-9.1 at bound 2, 1/7 tasks, 900 runs, 850 states, 10 states/s, "
        "1 min 25 s elapsed, about 21 s left\x1b[K\n")


def test_the_exploration_reports_every_run_and_every_task() -> None:
    from migration.check import workers
    from migration.check.bounded import Bound, split_tasks
    from migration.check.registry import resolve

    workers._CACHE.clear()
    seen: list[tuple[int, int, int]] = []
    shares: list[float | None] = []

    def heard(p: Progress) -> None:
        seen.append((p.tasks_done, p.runs, p.states))
        shares.append(p.share_done)

    got = workers.explore_designs([resolve("qemu-9.1")], 1, progress=heard)
    tasks = len(split_tasks(1, workers.split_depth(Bound.of(1))))
    assert seen[-1] == (tasks, got["qemu-9.1"].runs, got["qemu-9.1"].states)
    assert [r for _t, r, _s in seen] == sorted(r for _t, r, _s in seen)  # runs only grow
    assert len(seen) == got["qemu-9.1"].runs + tasks  # each run as it starts, each task as it ends
    assert shares[-1] == 1.0
    # the task that starts at object_init holds most programs: while it is left, no time is guessed
    assert None in shares


def test_no_time_is_guessed_for_a_union_of_boxes() -> None:
    """A task's share of the programs says nothing of its cost when the bound is a union of boxes: the
    10/0 box of 2+10/0 holds nearly every program and little of the work."""
    from migration.check import workers
    from migration.check.bounded import Bound, Bounded, Task, split
    from migration.check.registry import resolve

    bound = Bound.parse("1+3/0")
    tasks = [Task(resolve("qemu-9.1"), bound, p) for p in split(bound, 2, "9.1")]
    shares: list[float | None] = []
    tracker = workers._Tracker(tasks, 1, lambda p: shares.append(p.share_done))
    for i in range(len(tasks)):
        tracker.task_done(Bounded("qemu-9.1", 3), i)
    assert shares == [None] * len(tasks)
    plain = [Task(resolve("qemu-9.1"), Bound.of(1), p) for p in split(1, 1, "9.1")]
    shares.clear()
    tracker = workers._Tracker(plain, 1, lambda p: shares.append(p.share_done))
    for i in reversed(range(len(plain))):  # object_init's task, the largest, first
        tracker.task_done(Bounded("qemu-9.1", 1), i)
    first = shares[0]
    assert first is not None and 0.5 < first < 1 and shares[-1] == 1.0  # a plain bound: guessed


def test_progress_lines_are_told_apart_from_everything_else() -> None:
    text = ("decide: exploring 2 designs at bound 1, 20/20 tasks, 8,974 runs, 12,341 states, 1,228 states/s, "
            "10 s elapsed\nqomsim decide: interrupted\ncheck: exploring qemu-9.1 at bound 2, 1 min 13 s "
            "elapsed, about 5 min 26 s left\ndecide: checking the model's withdrawn proposals, 1 h 02 min "
            "elapsed\n")
    assert without_progress(text) == "qomsim decide: interrupted\n"


def test_the_live_display_keeps_every_design_name_whole_at_80_columns() -> None:
    out = io.StringIO()  # rich draws a file that is not a terminal 80 columns wide
    r = RichReporter(out)
    designs = list(all_designs())
    r.start(designs, 30)
    r.done("qemu-9.1", "introspection-works", "fails INTROSPECTION_REFUSED", "fails")
    r.stop()
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    width = max(map(len, designs)) + 2
    assert [line[:width].rstrip() for line in lines] == ["all designs", *designs]
    assert lines[0][width:].split()[:2] == [f"1/{30 * len(designs)}", "0:00:00"]


def test_check_shows_the_bounded_exploration_s_progress_on_stderr(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from migration.check import workers
    from migration.check.bounded import Bound, split_tasks
    from migration.check.registry import resolve
    from migration.report import progress
    from qom.cli.main import main

    workers._CACHE.clear()
    monkeypatch.setattr(progress, "QUIET_S", 0.0)  # every update is due: no waiting on a real clock
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)
    assert main(["check", "--design", "qemu-9.1", "--property", "no-deadlock", "--examples", "0", "--bound",
                 "1", "--no-database"]) == 0
    err = capsys.readouterr().err.splitlines()
    tasks = len(split_tasks(1, workers.split_depth(Bound.of(1))))
    b = workers.cached(resolve("qemu-9.1"), 1)
    assert b is not None and err and all(PROGRESS_LINE.match(line) for line in err)
    assert err[-1].startswith(f"check: exploring qemu-9.1 at bound 1, {tasks}/{tasks} tasks, {b.runs:,} "
                              f"runs, {b.states:,} states, ")
