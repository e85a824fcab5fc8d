"""``qomsim decide`` end to end, on the real model, with small subsets of designs and properties.

Golden files live in ``tests/golden/decide/``. After an intended change to the model or to the rendering,
regenerate them with::

    QOMSIM_REGEN_GOLDEN=1 python -m pytest tests/test_decide_run.py -k golden

(the test then fails once, on purpose, so a regeneration is never counted as a pass), review the diff with
``git diff tests/golden``, and commit it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_decide_links import broken_links
from test_terminal import without_progress

from migration.check import cell as check
from migration.report import decide
from qom import cli

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "decide"

DESIGNS = "qemu-9.1,qemu-10.0"
PROPS = "no-use-after-free,no-null-deref"
SEED = "1"
DATE = "2026-01-01"
# a few scenarios keep the enumeration, and so this file, within its time budget
SCENS = "S1-helper-after-idle-shutdown,S3-load-free-use,S7-introspect-live,S8-wrong-pointer:b"
ARGS = [
    "decide",
    "--designs",
    DESIGNS,
    "--properties",
    PROPS,
    "--scenarios",
    SCENS,
    "--seed",
    SEED,
    "--date",
    DATE,
    "--bound",
    "1",
    "--confirm",
    "2/0",
]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _decide(tmp: Path, *extra: str, out: str = "decisions") -> int:
    return cli.main([*ARGS, "--out", out, *extra])


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_golden_notes(in_tmp: Path) -> None:
    assert _decide(in_tmp) == 0
    got = _tree(in_tmp / "decisions")
    if os.environ.get("QOMSIM_REGEN_GOLDEN") == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(in_tmp / "decisions", GOLDEN)
        pytest.fail(
            f"regenerated {len(got)} golden files in {GOLDEN}; review them and re-run without the env var"
        )
    want = _tree(GOLDEN)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].decode() == want[name].decode(), name


def test_same_seed_and_date_give_the_same_bytes(in_tmp: Path) -> None:
    assert _decide(in_tmp, "--json", "m.json") == 0
    a, a_json = _tree(in_tmp / "decisions"), (in_tmp / "m.json").read_bytes()
    shutil.rmtree(in_tmp / "decisions")
    (in_tmp / "m.json").unlink()
    assert _decide(in_tmp, "--json", "m.json") == 0
    assert _tree(in_tmp / "decisions") == a
    assert (in_tmp / "m.json").read_bytes() == a_json
    # no absolute path leaks into what was written
    for blob in [*a.values(), a_json]:
        assert str(in_tmp).encode() not in blob
    # a different date changes the notes' front matter, and nothing else
    assert _decide(in_tmp, "--date", "2026-02-03", "--force") == 0
    c = _tree(in_tmp / "decisions")
    assert sorted(c) == sorted(a)
    for name in a:
        if name.endswith(".md") and not name.startswith("evidence/"):
            assert c[name] != a[name]
            assert c[name].replace(b"2026-02-03", b"2026-01-01") == a[name]
        elif name != decide.MANIFEST:
            assert c[name] == a[name]


def test_another_process_and_hash_seed_give_the_golden_bytes(in_tmp: Path) -> None:
    # set and dict orders that depend on string hashing must not leak into the output
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "qom.cli", *ARGS, "--out", "decisions"],
        cwd=in_tmp,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _tree(in_tmp / "decisions") == _tree(GOLDEN)


def _note_cells(note: str, notes_dir: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    """Parse the evidence tables of a note: (design, property) -> (verdict, outcome, evidence).

    A cell says ``holds``, ``holds, sampled`` or ``[FAULT][n]``; the numbered properties are listed under
    Decision Drivers, a row's bound (bounded evidence) in the footnote, a fault's evidence on its trace page.
    """
    numbered = dict(re.findall(r"^\* (P\d+) `([^`]+)`", note, flags=re.M))
    refs = dict(re.findall(r"^\[(\d+)\]: (\S+)$", note, flags=re.M))
    section = note.split("The evidence, cell by cell", 1)[1].split("### Consequences", 1)[0]
    bounded = "Bound `" in section
    cells: dict[tuple[str, str], tuple[str, str, str]] = {}
    header: list[str] = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("| ---"):
            continue
        parts = [p.strip() for p in line.strip("|").split("|")]
        if parts[0] == "option":
            header = [numbered[h] for h in parts[1:]]
            continue
        design = parts[0].split("`")[1]
        for prop, text in zip(header, parts[1:], strict=True):
            if text in ("holds", "holds, sampled"):
                evidence = "sampled" if text.endswith("sampled") else "bounded" if bounded else "exhaustive"
                cells[(design, prop)] = ("holds", "OK", evidence)
                continue
            m = re.fullmatch(r"\[(\w+)\]\[(\d+)\]", text)
            assert m is not None, text
            page = (notes_dir / refs[m.group(2)]).read_text(encoding="utf-8")
            how = re.search(r"^\* Evidence: found by (\w+)", page, flags=re.M)
            assert how is not None, page
            kinds = {"enumerating": "exhaustive", "exploring": "bounded", "Hypothesis": "sampled"}
            evidence = kinds[how.group(1)]
            cells[(design, prop)] = ("fails", m.group(1), evidence)
    return cells


def test_json_notes_and_qomsim_check_agree_cell_by_cell(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _decide(in_tmp, "--json", "m.json") == 0
    matrix = json.loads((in_tmp / "m.json").read_text(encoding="utf-8"))
    assert matrix["seed"] == 1 and matrix["date"] == DATE and matrix["complete"] is True
    assert (matrix["bound_spec"], matrix["confirm_spec"]) == ("1", "1+2/0")
    note = (in_tmp / "decisions" / "0001-migration-object-lifetime.md").read_text(encoding="utf-8")
    in_note = _note_cells(note, in_tmp / "decisions")
    n = 0
    for design in DESIGNS.split(","):
        entry = matrix["designs"][design]
        assert list(entry["scenarios"]) == SCENS.split(",")
        for prop in PROPS.split(","):
            cell = entry["properties"][prop]
            capsys.readouterr()
            status = cli.main(
                [
                    "check",
                    "--design",
                    design,
                    "--property",
                    prop,
                    "--seed",
                    SEED,
                    *(a for s in SCENS.split(",") for a in ("--scenario", s)),
                    "--bound",
                    cell["bound_spec"],
                    "--json",
                    "c.json",
                ]
            )
            said = _check_json(in_tmp / "c.json", design, prop)
            assert status in (0, 1)
            assert (cell["verdict"], cell["evidence"], cell["outcome"]) == said
            assert in_note[(design, prop)] == (cell["verdict"], cell["outcome"], cell["evidence"])
            if cell["verdict"] == "fails":
                saved = in_tmp / "decisions" / cell["counterexample"]
                cx = check.load_counterexample(saved)
                assert (cx.design, cx.property, cx.fault.outcome.name) == (design, prop, cell["outcome"])
                # the command the trace page prints re-runs it and reproduces the fault
                page = saved.with_suffix(".md").read_text(encoding="utf-8")
                (command,) = [line for line in page.splitlines() if line.startswith("qomsim replay ")]
                assert command == f"qomsim replay decisions/{cell['counterexample']}"
                capsys.readouterr()
                assert cli.main(command.split()[1:]) == 0
                assert "reproduced: yes" in capsys.readouterr().out
            n += 1
    assert n == 4


def _check_json(path: Path, design: str, prop: str) -> tuple[str, str, str]:
    """What ``qomsim check --json`` said about one cell: (verdict, evidence, outcome)."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    assert data["design"] == design
    (cell,) = [c for c in data["cells"] if c["property"] == prop]
    return (str(cell["verdict"]), str(cell["evidence"]), str(cell["outcome"]))


def test_a_hand_edited_note_is_kept_and_reported(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _decide(in_tmp) == 0
    note = in_tmp / "decisions" / "0001-migration-object-lifetime.md"
    generated = note.read_text(encoding="utf-8")
    note.write_text(generated + "\nA reviewer's remark.\n", encoding="utf-8")
    capsys.readouterr()
    assert _decide(in_tmp) == 1
    err = capsys.readouterr().err
    assert (
        "qomsim decide: kept decisions/0001-migration-object-lifetime.md: edited by hand since qomsim wrote "
        "it (re-run with --force to overwrite)"
    ) in err
    assert note.read_text(encoding="utf-8") == generated + "\nA reviewer's remark.\n"
    assert _decide(in_tmp) == 1  # still detected on the next run
    assert _decide(in_tmp, "--force") == 0
    assert note.read_text(encoding="utf-8") == generated


def _interrupt_after(n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapper


def test_an_interrupted_run_leaves_the_previous_notes_intact(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _decide(in_tmp, "--json", "m.json") == 0
    before = _tree(in_tmp / "decisions")
    json_before = (in_tmp / "m.json").read_bytes()
    monkeypatch.setattr(check, "check_cell", _interrupt_after(2, check.check_cell))
    capsys.readouterr()
    # a different date would change every note, so any write would show
    assert _decide(in_tmp, "--date", "2030-12-31", "--json", "m.json") == 130
    assert "interrupted; nothing written, the previous notes are intact" in capsys.readouterr().err
    assert _tree(in_tmp / "decisions") == before
    assert (in_tmp / "m.json").read_bytes() == json_before


def test_a_spent_budget_reports_unreached_cells_and_writes_no_note(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _decide(in_tmp, "--budget", "0", "--json", "m.json") == 3
    out, err = capsys.readouterr()
    assert "the budget of 0.0 s ran out before every check ran; the notes were not written" in err
    assert not (in_tmp / "decisions").exists()
    matrix = json.loads((in_tmp / "m.json").read_text(encoding="utf-8"))
    assert matrix["complete"] is False
    assert matrix["designs"]["qemu-9.1"]["properties"] == {}
    assert matrix["designs"]["qemu-9.1"]["not_reached"]["properties"] == PROPS.split(",")
    # the summary shows the cells as not reached, never guessed
    assert "\nqemu-9.1:\n  -      P1 P2\n" in out


def test_budget_cuts_between_cells(in_tmp: Path) -> None:
    ticks = iter([0.0, 0.5, 2.0])  # start, before cell 1, before cell 2
    m = decide.run_matrix(
        ["qemu-9.1"],
        ["no-use-after-free", "no-null-deref"],
        ["S1-helper-after-idle-shutdown"],
        all_scenarios=False,
        seed=1,
        exhaustive=True,
        budget_s=1.0,
        clock=lambda: next(ticks),
    )
    assert [k for k in m.cells] == [("qemu-9.1", "no-use-after-free")]
    assert m.complete is False


def test_plain_progress_and_summary_when_not_a_terminal(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _decide(in_tmp) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"decide: 2 designs, {2 * (2 + len(SCENS.split(',')))} checks"
    assert re.fullmatch(
        r"\[1/\d+\] qemu-9\.1 no-use-after-free: (holds|fails \w+) \(holds \d+, .*\)", out[1]
    )
    assert "P1=no-use-after-free P2=no-null-deref" in out
    written = len(_tree(GOLDEN)) - 1  # every golden file but the manifest
    assert out[-3] == f"notes in decisions: {written} written, 0 unchanged, 0 removed"
    assert re.fullmatch(
        r'  0001-migration-object-lifetime\.md: (accepted|proposed), chosen "[\w.-]+"', out[-2]
    )
    assert re.fullmatch(
        r'  0002-singleton-or-internal-interface\.md: (accepted|proposed), chosen "[\w.-]+"', out[-1]
    )


def test_usage_errors(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decide", "--designs", "nope"]) == 2
    assert "qomsim decide: unknown design nope; known: qemu-9.1," in capsys.readouterr().err
    assert cli.main(["decide", "--scenarios", ","]) == 2  # an empty set would make `exhaustive` vacuous
    assert "qomsim decide: --scenarios needs at least one scenario id" in capsys.readouterr().err
    (in_tmp / "t.md").write_text("$title $bogus\n", encoding="utf-8")
    assert cli.main(["decide", "--template", "t.md"]) == 2
    assert "unknown placeholder(s) $bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["decide", "--date", "31/12/2026"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["decide", "--confirm", "2/x"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "qomsim decide: error: argument --confirm: invalid bound '2/x': expected K, K/A, several joined with "
        "'+' (K events, at most A of them background; integers >= 0), 'covering' or 'none'")
    assert list(in_tmp.iterdir()) == [in_tmp / "t.md"]


def test_confirm_explores_only_the_chosen_option_again(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _decide(in_tmp, "--json", "m.json") == 0
    out = capsys.readouterr().out
    matrix = json.loads((in_tmp / "m.json").read_text(encoding="utf-8"))
    spec = (matrix["bound_spec"], matrix["confirm_spec"], matrix["confirmed"])
    assert spec == ("1", "1+2/0", ["qemu-10.0"])
    specs = {(d, p): c["bound_spec"]
             for d, e in matrix["designs"].items() for p, c in e["properties"].items()}
    assert specs == {("qemu-9.1", p): "1" for p in PROPS.split(",")} | {
        ("qemu-10.0", p): "1+2/0" for p in PROPS.split(",")}
    assert ("decide: exploring qemu-10.0, a chosen option, again at 1+2/0 (every program of up to 1 "
            "event, or up to 2 events none of them background, and every schedule)\n") in out
    assert re.search(r"^decide: qemu-10\.0 at 1\+2/0: 29,512 programs, [\d,]+ states, \d+ s; every "
                     r"verdict the same$", out, re.M)
    assert _decide(in_tmp, "--json", "n.json", "--confirm", "none", out="none") == 0
    matrix = json.loads((in_tmp / "n.json").read_text(encoding="utf-8"))
    assert (matrix["confirm_spec"], matrix["confirmed"]) == (None, [])
    note = (in_tmp / "none" / "0001-migration-object-lifetime.md").read_text(encoding="utf-8")
    assert f"--scenarios {SCENS} --bound 1 --confirm none\n" in note and "explored again" not in note


@pytest.mark.slow
def test_committed_notes_are_what_decide_writes_today(in_tmp: Path) -> None:
    """The notes in docs/decisions/ are exactly what the default run writes (with their recorded date)."""
    committed = ROOT / "docs" / "decisions"
    note = (committed / "0001-migration-object-lifetime.md").read_text(encoding="utf-8")
    m = re.search(r"^date: (\d{4}-\d{2}-\d{2})$", note, re.M)
    assert m is not None
    (in_tmp / "docs").mkdir()
    assert cli.main(["decide", "--date", m.group(1)]) == 0
    assert _tree(in_tmp / "docs" / "decisions") == _tree(committed)


def test_no_exhaustive_rests_every_verdict_on_sampling(in_tmp: Path) -> None:
    args = [
        "decide",
        "--designs",
        "qemu-10.0",
        "--properties",
        "no-null-deref",
        "--scenarios",
        "S1-helper-after-idle-shutdown",
    ]
    assert (
        cli.main(
            [
                *args,
                "--seed",
                SEED,
                "--date",
                DATE,
                "--no-exhaustive",
                "--json",
                "m.json",
                "--out",
                "decisions",
            ]
        )
        == 0
    )
    matrix = json.loads((in_tmp / "m.json").read_text(encoding="utf-8"))
    assert matrix["exhaustive"] is False
    cell = matrix["designs"]["qemu-10.0"]["properties"]["no-null-deref"]
    assert cell["evidence"] == "sampled"
    assert cell["schedules_explored"] == 0 and cell["examples_sampled"] > 0
    note = (in_tmp / "decisions" / "0001-migration-object-lifetime.md").read_text(encoding="utf-8")
    assert (
        "qomsim decide --seed 1 --designs qemu-10.0 --properties no-null-deref "
        "--scenarios S1-helper-after-idle-shutdown --no-exhaustive\n"
    ) in note
    assert "status: proposed" in note  # sampled evidence never makes a decision `accepted`


def test_an_interrupt_while_confirming_keeps_the_finished_matrix_marked_not_confirmed(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from migration.check import workers
    from migration.check.bounded import Bound

    real = workers.explore_designs

    def stopped_at_the_larger_bound(designs: Any, bound: Any, **kwargs: Any) -> Any:
        if Bound.of(bound) != Bound.parse("1"):
            raise KeyboardInterrupt  # as Ctrl-C does, while the chosen option is explored again
        return real(designs, bound, **kwargs)

    monkeypatch.setattr(workers, "explore_designs", stopped_at_the_larger_bound)
    capsys.readouterr()
    assert _decide(in_tmp, "--json", "m.json") == 130
    err = without_progress(capsys.readouterr().err)
    assert err == ("qomsim decide: interrupted while exploring the chosen options again at 1+2/0; wrote the "
                   "notes of the finished matrix (every row at bound 1), marked as not confirmed\n")
    note = (in_tmp / "decisions" / "0001-migration-object-lifetime.md").read_text(encoding="utf-8")
    assert ("**Not confirmed**: the run was interrupted while it explored the chosen options again at "
            "`1+2/0` (`--confirm`), so every row rests on `1`") in note
    assert "(`1+2/0`)" not in note  # no row rests on the larger bound: one set, never a mix
    assert "**Not confirmed**" in (in_tmp / "decisions" / "README.md").read_text(encoding="utf-8")
    data = json.loads((in_tmp / "m.json").read_text(encoding="utf-8"))
    assert (data["confirm_interrupted"], data["confirmed"], data["complete"]) == (True, [], True)
    assert broken_links(in_tmp / "decisions") == []


def test_a_rerun_without_date_on_the_same_results_changes_no_file(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the first command of the README on a fresh clone: `git status` must stay clean
    args = [a for a in ARGS if a not in ("--date", DATE)]
    assert cli.main([*args, "--date", "2026-01-01", "--out", "decisions"]) == 0
    before = _tree(in_tmp / "decisions")
    monkeypatch.setattr(decide, "_today", lambda: "2030-12-31")
    capsys.readouterr()
    assert cli.main([*args, "--out", "decisions"]) == 0
    assert f"notes in decisions: 0 written, {len(before) - 1} unchanged, 0 removed" in capsys.readouterr().out
    assert _tree(in_tmp / "decisions") == before
    # a note whose content changes is dated today; the others keep their date
    assert cli.main([*args, "--out", "decisions", "--scenarios", "S1-helper-after-idle-shutdown"]) == 0
    after = _tree(in_tmp / "decisions")
    assert b"date: 2030-12-31\n" in after["0001-migration-object-lifetime.md"]
    assert b"on 2030-12-31 (seed 1)" in after["README.md"]
    assert not any(b"2026-01-01" in text for text in after.values())
