"""What the terminal shows (issue 25): readable at 80 columns, no name cut, the same legend on every run."""

from __future__ import annotations

import dataclasses

from migration.check.cell import PROPERTIES
from migration.model.outcomes import Fault, Outcome
from migration.model.results import CellResult, Counterexample
from migration.report import notes
from migration.report.check_cmd import terminal_lines
from migration.report.decide import all_designs
from migration.report.summary import LEGEND, summary_lines

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
