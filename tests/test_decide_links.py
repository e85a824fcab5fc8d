"""What the decision notes link to exists, and their tables stay readable (issue 25).

Every relative link of every Markdown file a run writes (inline ``[text](target)`` and reference
definitions ``[n]: target``) is followed: the file must exist in the written set or in the repository,
never outside it; no link points at ``../shared``; every table row of the notes is under 200 characters.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migration.model.outcomes import Fault, Outcome
from migration.model.results import CellResult, Counterexample, ScenarioOutcomes
from migration.report import notes
from qom import cli

ROOT = Path(__file__).resolve().parent.parent

MY_DESIGN = '''
from migration.model.designs import DESIGNS, PointerClear, derive

mine = derive(DESIGNS["qemu-10.0"], "my-design", "qemu-10.0, clearing the pointer in finalize if it is ours",
              pointer_clear=PointerClear.FINALIZE_IF_SELF)
'''

_INLINE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_DEFINED = re.compile(r"^\[[^\]]+\]:\s+(\S+)\s*$", re.M)
_USED_REF = re.compile(r"\[[^\]]+\]\[([^\]]+)\]")

#: the longest a table row of a note may be (a reader's editor and a diff stay usable)
ROW_LIMIT = 200


def links_of(text: str) -> list[str]:
    """:return: every link target of a Markdown text, inline and reference-style, code spans left out."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r"``.*?``|`[^`]*`", "", prose)
    return _INLINE.findall(prose) + _DEFINED.findall(prose)


def broken_links(root: Path) -> list[str]:
    """:return: ``file: target`` for every relative link under ``root`` that leads nowhere."""
    bad: list[str] = []
    for md in sorted(root.rglob("*.md")):
        text = md.read_text(encoding="utf-8")
        defined = {m.group(0).split("]:")[0][1:] for m in _DEFINED.finditer(text)}
        bad.extend(f"{md.relative_to(root)}: [{r}] is not defined" for r in _USED_REF.findall(text)
                   if r not in defined)
        for target in links_of(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (md.parent / target.split("#")[0]).resolve()
            if "shared" in Path(target).parts or not path.is_relative_to(root.resolve()) or not path.exists():
                bad.append(f"{md.relative_to(root)}: {target}")
    return bad


def long_rows(root: Path) -> list[str]:
    """:return: ``file: length`` for every table row of ``root``'s notes at or above :data:`ROW_LIMIT`."""
    return [f"{md.name}: {len(line)}" for md in sorted(root.glob("*.md"))
            for line in md.read_text(encoding="utf-8").splitlines()
            if line.startswith("|") and len(line) >= ROW_LIMIT]


def test_the_link_checker_finds_a_broken_link_and_a_long_row(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "a.md").write_text("x\n")
    (tmp_path / "n.md").write_text("[ok](evidence/a.md) [gone](evidence/b.md) `[code](no.md)`\n"
                                   "[UAF][1] [X][2]\n\n[1]: evidence/a.md\n[3]: ../shared/spec.md\n"
                                   "| " + "x" * 200 + " |\n")
    assert broken_links(tmp_path) == ["n.md: [2] is not defined", "n.md: evidence/b.md",
                                      "n.md: ../shared/spec.md"]
    assert long_rows(tmp_path) == ["n.md: 204"]


@pytest.mark.parametrize("designs", ["qemu-9.1,qemu-10.0,proposed-singleton-keepalive",
                                     "qemu-10.0,mine.py:mine"])
def test_every_link_of_the_notes_leads_to_a_file_they_wrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, designs: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text(MY_DESIGN, encoding="utf-8")
    status = cli.main(["decide", "--designs", designs, "--scenarios", "S1-helper-after-idle-shutdown,"
                       "S8-wrong-pointer:b,S14-oob-after-shutdown:a", "--bound", "1", "--confirm", "none",
                       "--date", "2026-01-01", "--out", "notes"])
    assert status == 0
    notes = tmp_path / "notes"
    evidence = sorted(p.name for p in (notes / "evidence").glob("*.md"))
    assert evidence, "no failing cell: nothing links to evidence"
    if "mine.py" in designs:
        assert any(name.startswith("mine.py_mine--") for name in evidence)
    assert broken_links(notes) == []
    assert long_rows(notes) == []


@pytest.mark.parametrize("root", [ROOT / "tests" / "golden" / "decide", ROOT / "docs" / "decisions"])
def test_the_committed_notes_link_only_to_what_is_there(root: Path) -> None:
    assert broken_links(root) == []


def test_architecture_links_nothing_outside_the_repository() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "../shared" not in text


def _worst_case_matrix() -> notes.Matrix:
    """Every preset against every property, every cell failing with the longest outcome name at the
    covering bound (wider rows than a full run writes), every scenario ending in the longest outcomes and a
    leak."""
    from migration.check.cell import PROPERTIES
    from migration.model.scenarios import SCENARIOS
    from migration.report.decide import all_designs

    longest = max(Outcome, key=lambda o: len(o.name))
    designs = tuple(all_designs())
    cells = {}
    for d in designs:
        for p in PROPERTIES:
            fault = Fault(longest, 0, "main", "", "")
            cx = Counterexample(d, p, "S14-oob-after-shutdown:b", [], [], fault, [])
            cells[d, p] = CellResult(d, p, "fails", "bounded", longest, cx, 10**6, 0, 12, 304921943589048,
                                     1037796, "2+10/0")
    names = sorted((o.name for o in Outcome if o.name not in ("OK", "LEAK")), key=len)[-4:]
    every = {name: 123_456 for name in [*names, "OK", "LEAK"]}
    return notes.Matrix(seed=0, exhaustive=True, designs=designs, properties=PROPERTIES,
                        scenarios=tuple(SCENARIOS), all_scenarios=True, cells=cells,
                        scenario_outcomes={(d, s): ScenarioOutcomes(every, {}) for d in designs
                                           for s in SCENARIOS},
                        bound=12, bound_spec="2+10/0")


def test_the_widest_notes_a_full_run_can_write_keep_their_rows_under_the_limit(tmp_path: Path) -> None:
    from migration.report.decide import all_designs, design_diffs

    files = notes.render_all(_worst_case_matrix(), date="2026-01-01", template=notes.default_template(),
                             out_display="docs/decisions", diffs=design_diffs(all_designs()))
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert long_rows(tmp_path) == []
    assert broken_links(tmp_path) == []


@pytest.mark.parametrize("scenario", ["S8-wrong-pointer:b", "S7-introspect-live", "S15-qmp-bh-at-cleanup"])
def test_a_trace_names_migrate_get_current_only_for_its_own_load(scenario: str) -> None:
    from migration.check.cell import run_scenario

    steps = {(st.action, st.function.rsplit(":", 1)[-1]) for st in run_scenario("qemu-10.0", scenario).trace}
    named = {action for action, fn in steps if fn == "migrate_get_current"}
    assert named == {"load current_migration"}
