"""Rendering of decision notes (``migration.report.notes``) and the file writer of ``qomsim decide``.

These tests feed hand-built results to the renderer and the writer, so they pin the rendering rules and the
"nothing lost" guarantees without running the model; ``test_decide_run.py`` runs the real model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from pathlib import Path

import pytest

from migration.check.bounded import Bound
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.results import CellResult, Counterexample, ScenarioOutcomes
from migration.report import decide, notes, outdir

PROPS = ("no-use-after-free", "no-deadlock")


def _cx(design: str, prop: str) -> Counterexample:
    trace = [
        TraceStep(0, "T_main", "migration_object_init", "mig#1", 1, ""),
        TraceStep(1, "T_mig", "unref", "mig#1", 0, "finalize; locks destroyed"),
        TraceStep(2, "T_main", "lock qemu_file_lock", "mig#1", None, "a;b",
                  "migration/migration.c:migration_file_set_error"),
    ]
    return Counterexample(
        design=design,
        property=prop,
        scenario="S3-load-free-use",
        program=[{"event": "init"}, {"event": "helper", "name": "migration_file_set_error"}],
        schedule=[0, 1, 0],
        fault=Fault(Outcome.UAF, 2, "T_main", "mig#1", "lock of a finalized object"),
        trace=trace,
    )


def _cell(design: str, prop: str, verdict: str, evidence: str = "exhaustive") -> CellResult:
    fails = verdict == "fails"
    return CellResult(
        design=design,
        property=prop,
        verdict="fails" if fails else "holds",
        evidence="exhaustive" if evidence == "exhaustive" else "sampled",
        outcome=Outcome.UAF if fails else Outcome.OK,
        counterexample=_cx(design, prop) if fails else None,
        schedules_explored=12,
        examples_sampled=0 if evidence == "exhaustive" else 50,
    )


def _matrix(verdicts: dict[tuple[str, str], tuple[str, str]]) -> notes.Matrix:
    designs = tuple(dict.fromkeys(d for d, _ in verdicts))
    return notes.Matrix(
        seed=3,
        exhaustive=True,
        designs=designs,
        properties=PROPS,
        scenarios=("S1-helper-after-idle-shutdown",),
        all_scenarios=True,
        cells={k: _cell(k[0], k[1], v, e) for k, (v, e) in verdicts.items()},
        scenario_outcomes={
            (d, "S1-helper-after-idle-shutdown"): ScenarioOutcomes({"OK": 3, "UAF": 1}, {"UAF": (1,)})
            for d in designs
        },
    )


def test_choose_prefers_fewest_failures_then_exhaustive_then_cost() -> None:
    m = _matrix(
        {
            ("qemu-9.1", PROPS[0]): ("fails", "exhaustive"),
            ("qemu-9.1", PROPS[1]): ("holds", "exhaustive"),
            ("mutex", PROPS[0]): ("holds", "sampled"),
            ("mutex", PROPS[1]): ("holds", "exhaustive"),
            ("qemu-10.0", PROPS[0]): ("holds", "exhaustive"),
            ("qemu-10.0", PROPS[1]): ("holds", "exhaustive"),
            ("rcu", PROPS[0]): ("holds", "exhaustive"),
            ("rcu", PROPS[1]): ("holds", "exhaustive"),
        }
    )
    # qemu-10.0 and rcu tie on failures and evidence; rcu costs more knobs.
    c = notes.choose(
        ["qemu-9.1", "mutex", "rcu", "qemu-10.0"], PROPS, m, {"qemu-10.0": [], "rcu": ["a", "b"]}
    )
    assert c.chosen == "qemu-10.0"
    assert [d for d, _ in c.ranking] == ["qemu-10.0", "rcu", "mutex", "qemu-9.1"]
    assert c.status == "accepted"
    # without costs the list order breaks the tie
    c2 = notes.choose(["rcu", "qemu-10.0"], PROPS, m, {})
    assert c2.chosen == "rcu"


def test_choose_weighs_the_question_drivers_before_the_other_properties() -> None:
    m = _matrix(
        {
            ("mutex", PROPS[0]): ("fails", "exhaustive"),
            ("mutex", PROPS[1]): ("holds", "exhaustive"),
            ("rcu", PROPS[0]): ("holds", "exhaustive"),
            ("rcu", PROPS[1]): ("fails", "exhaustive"),
        }
    )
    assert notes.choose(["mutex", "rcu"], PROPS, m, {}, drivers=[PROPS[1]]).chosen == "mutex"
    assert notes.choose(["mutex", "rcu"], PROPS, m, {}, drivers=[PROPS[0]]).chosen == "rcu"


def test_choose_never_picks_an_option_with_unreached_cells() -> None:
    m = _matrix({("mutex", PROPS[0]): ("holds", "exhaustive"), ("rcu", PROPS[0]): ("fails", "exhaustive")})
    c = notes.choose(["mutex"], PROPS, m, {})
    assert c.chosen is None
    assert c.status == "proposed"
    c = notes.choose(["mutex", "rcu"], PROPS, m, {})
    assert c.chosen is None


def test_status_is_proposed_when_the_best_option_fails_or_is_sampled() -> None:
    m = _matrix(
        {
            ("mutex", PROPS[0]): ("holds", "sampled"),
            ("mutex", PROPS[1]): ("holds", "exhaustive"),
        }
    )
    c = notes.choose(["mutex"], PROPS, m, {})
    assert (c.chosen, c.status) == ("mutex", "proposed")


def test_note_has_every_madr_section_and_derived_outcome() -> None:
    m = _matrix(
        {
            ("qemu-9.1", PROPS[0]): ("fails", "exhaustive"),
            ("qemu-9.1", PROPS[1]): ("holds", "exhaustive"),
            ("qemu-10.0", PROPS[0]): ("holds", "exhaustive"),
            ("qemu-10.0", PROPS[1]): ("holds", "sampled"),
        }
    )
    text = notes.render_note(
        notes.QUESTIONS[0],
        m,
        date="2026-01-02",
        template=notes.default_template(),
        out_display="docs/decisions",
        diffs={"qemu-10.0": [], "qemu-9.1": ["thread_ref", "singleton"]},
        property_texts={"no-deadlock": "no schedule ends waiting"},
    )
    assert text is not None
    assert text.startswith(
        "---\nstatus: proposed\ndate: 2026-01-02\n---\n\n# Lifetime of the migration object"
    )
    for heading in (
        "## Context and Problem Statement",
        "## Decision Drivers",
        "## Considered Options",
        "## Decision Outcome",
        "### Consequences",
        "### Confirmation",
        "## Pros and Cons of the Options",
        "## More Information",
    ):
        assert f"\n{heading}\n" in text
    assert "* P1 `no-use-after-free`\n* P2 `no-deadlock`: no schedule ends waiting\n" in text
    assert 'Chosen option: "qemu-10.0", because it holds every one of the 2 properties checked ' in text
    assert "(1 on exhaustive evidence, 1 sampled)" in text
    assert "* Good, because `no-use-after-free` holds (every schedule)" in text
    assert "* Good, because `no-deadlock` holds (on sampled evidence only)" in text
    assert (
        "* Bad, because `no-use-after-free` fails with UAF in `S3-load-free-use`, see "
        "[the trace](evidence/qemu-9.1--no-use-after-free.md)"
    ) in text
    # compact cells: holds, or the fault linked (by a reference defined below the table) to its trace
    assert (
        "| option | P1 | P2 |\n| --- | --- | --- |\n| `qemu-9.1` | [UAF][1] | holds |\n"
        "| `qemu-10.0` | holds | holds, sampled |\n\n[1]: evidence/qemu-9.1--no-use-after-free.md\n"
    ) in text
    assert (
        "qomsim decide --seed 3 --designs qemu-9.1,qemu-10.0 --properties no-use-after-free,no-deadlock "
        "--bound -1\n"
    ) in text
    assert (
        "qomsim check --design qemu-10.0 --seed 3 --property no-use-after-free --property no-deadlock "
        "--bound -1\n"
    ) in text
    # a scenario's cell gives every outcome with its number of schedules, never one schedule's outcome
    assert ("#### `S1-helper-after-idle-shutdown`\n\nNo migration ever ran. `qemu_cleanup()` calls "
            "`migration_shutdown()`") in text
    assert ("Program: `object_init`, `migration_shutdown`, `vm_shutdown vfio=fails vm=running`, "
            "`monitor_cleanup`.\n\n| option | schedules | how they end |\n| --- | --- | --- |\n"
            "| `qemu-9.1` | 4 | OK 3, UAF 1 |\n| `qemu-10.0` | 4 | OK 3, UAF 1 |\n") in text
    # the scenario the counterexample cites is explained too, though it was not replayed
    assert "#### `S3-load-free-use`\n\nAs in S2, but the helper" in text
    assert (
        "| rank | option | drivers failing | properties failing | holds on sampled evidence "
        "| changes from qemu-10.0 | not reached |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| 1 | `qemu-10.0` | 0 | 0 | 1 | 0 | 0 |\n"
        "| 2 | `qemu-9.1` | 1 | 1 | 0 | 2 | 0 |\n"
    ) in text
    assert (
        "* Neutral, because it changes 2 mechanism knob(s) of `qemu-10.0`: `thread_ref`, `singleton`\n"
    ) in text
    assert "* Neutral, because it is `qemu-10.0`, what QEMU merged: no mechanism changes\n" in text


def test_cost_line_says_what_qmp_clients_see_when_the_model_says_it() -> None:
    m = _matrix({("rcu", PROPS[0]): ("holds", "exhaustive"), ("rcu", PROPS[1]): ("holds", "exhaustive")})
    text = notes.render_note(
        notes.QUESTIONS[0],
        m,
        date="d",
        template="$consequences",
        out_display="d",
        diffs={"rcu": ["protection", "singleton"]},
        qmp_visible={"rcu": ["A is listed", "B is refused"]},
    )
    assert text is not None
    assert text.endswith(
        "* Neutral, because it changes 2 mechanism knob(s) of `qemu-10.0`: `protection`, `singleton`; "
        "what QMP clients see: A is listed; B is refused\n"
    )


def test_note_when_no_option_holds_everything() -> None:
    m = _matrix({("mutex", PROPS[0]): ("fails", "exhaustive"), ("mutex", PROPS[1]): ("holds", "exhaustive")})
    text = notes.render_note(
        notes.QUESTIONS[0], m, date="2026-01-02", template=notes.default_template(), out_display="d", diffs={}
    )
    assert text is not None
    assert (
        'Chosen option: "mutex", because no option holds every property checked, and it ranks first by '
        "the rule below: it fails 1 of this question's 2 drivers and 1 of the 2 properties in all "
        "(`no-use-after-free` (UAF))"
    ) in text
    assert "status: proposed" in text


def test_note_is_skipped_when_the_run_checked_none_of_its_options() -> None:
    m = _matrix(
        {("qemu-9.1", PROPS[0]): ("holds", "exhaustive"), ("qemu-9.1", PROPS[1]): ("holds", "sampled")}
    )
    q = notes.QUESTIONS[1]
    assert "qemu-9.1" not in q.options
    assert notes.render_note(q, m, date="d", template="$title", out_display="d", diffs={}) is None


def test_designs_of_our_own_join_every_question() -> None:
    m = _matrix({("own-proposal", PROPS[0]): ("holds", "exhaustive")})
    for q in notes.QUESTIONS:
        text = notes.render_note(q, m, date="d", template="$options", out_display="d", diffs={})
        assert text == "* `own-proposal`: a design of the model's own\n"


def test_evidence_has_trace_diagram_and_replay_command() -> None:
    cell = _cell("qemu-9.1", PROPS[0], "fails")
    assert cell.counterexample is not None
    text = notes.render_evidence(cell.counterexample, cell, "docs/decisions/evidence/x.json")
    assert text.splitlines()[0] == "# `qemu-9.1` fails `no-use-after-free`"
    assert "* Outcome: **UAF** at step 2, actor `T_main`, object `mig#1`: lock of a finalized object" in text
    assert "* Evidence: found by enumerating every schedule of the scenarios (12)" in text
    assert "```sh\nqomsim replay docs/decisions/evidence/x.json\n```" in text
    assert '1. `init`\n2. `helper {"name": "migration_file_set_error"}`' in text
    assert "* QEMU source: each step names the function it stands for, at v9.1.0" in text
    assert "| # | actor | step | QEMU function | object | refcount | note |" in text
    assert "| 1 | T_mig | unref |  | mig#1 | 0 | finalize; locks destroyed |" in text
    assert (
        "| 2 | T_main | lock qemu_file_lock | `migration/migration.c:migration_file_set_error` | mig#1 |  "
        "| **UAF at step 2: lock of a finalized object** a;b |"
    ) in text
    mermaid = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert mermaid.splitlines() == [
        "sequenceDiagram",
        "    participant P0 as T_main",
        "    participant P1 as mig#35;1",
        "    participant P2 as T_mig",
        "    P0->>P1: 0. migration_object_init (ref 1)",
        "    P2->>P1: 1. unref (ref 0)",
        "    P0->>P1: 2. lock qemu_file_lock",
        "    Note over P0: UAF at step 2: lock of a finalized object",
    ]


def test_render_all_names_files_and_saves_replayable_json() -> None:
    m = _matrix(
        {("qemu-9.1", PROPS[0]): ("fails", "exhaustive"), ("qemu-9.1", PROPS[1]): ("holds", "sampled")}
    )
    files = notes.render_all(
        m, date="2026-01-02", template=notes.default_template(), out_display="o", diffs={}
    )
    assert list(files) == [
        "0001-migration-object-lifetime.md",
        "README.md",
        "evidence/qemu-9.1--no-use-after-free.json",
        "evidence/qemu-9.1--no-use-after-free.md",
    ]
    assert files["README.md"].endswith(
        "| note | question | status | chosen option |\n"
        "| --- | --- | --- | --- |\n"
        "| [0001](0001-migration-object-lifetime.md) | Lifetime of the migration object and of the pointers "
        "to it | proposed | `qemu-9.1` |\n"
    )
    saved = json.loads(files["evidence/qemu-9.1--no-use-after-free.json"])
    cx = m.cell("qemu-9.1", PROPS[0])
    assert cx is not None and cx.counterexample is not None
    assert Counterexample.from_json(saved) == cx.counterexample


def test_matrix_json_has_the_issue_shape_and_lists_unreached_cells() -> None:
    m = _matrix({("qemu-9.1", PROPS[0]): ("fails", "exhaustive")})
    data = m.to_json()
    assert data["complete"] is False
    assert data["designs"]["qemu-9.1"]["properties"] == {
        "no-use-after-free": {
            "verdict": "fails",
            "evidence": "exhaustive",
            "outcome": "UAF",
            "schedules_explored": 12,
            "examples_sampled": 0,
            "bound": None,
            "bound_spec": None,
            "programs": 0,
            "states": 0,
            "counterexample": "evidence/qemu-9.1--no-use-after-free.json",
        }
    }
    assert data["designs"]["qemu-9.1"]["scenarios"] == {
        "S1-helper-after-idle-shutdown": {
            "outcomes": {"OK": 3, "UAF": 1}, "schedules": 4, "witnesses": {"UAF": [1]}, "complete": True,
        }
    }
    assert data["designs"]["qemu-9.1"]["not_reached"] == {"properties": ["no-deadlock"], "scenarios": []}


def test_user_template_is_used_and_checked(tmp_path: Path) -> None:
    own = tmp_path / "t.md"
    own.write_text("# $title ($status, $date)\n\n$outcome\n", encoding="utf-8")
    tpl = notes.load_template(own)
    m = _matrix({("mutex", PROPS[0]): ("holds", "exhaustive"), ("mutex", PROPS[1]): ("holds", "exhaustive")})
    text = notes.render_note(
        notes.QUESTIONS[0], m, date="2026-01-02", template=tpl, out_display="d", diffs={}
    )
    assert text is not None
    assert text.startswith(
        "# Lifetime of the migration object and of the pointers to it (accepted, 2026-01-02)"
    )
    bad = tmp_path / "bad.md"
    bad.write_text("$title $verdict\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \$verdict"):
        notes.load_template(bad)
    bad.write_text("costs $5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid"):
        notes.load_template(bad)


# ---------------------------------------------------------------------------------------------------------
# the writer: hand edits, atomicity, stale files


def test_write_files_detects_hand_edits_and_force_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    first = decide.write_files(out, {"0001-a.md": "one\n", "evidence/x.md": "x\n"}, force=False)
    assert first.written == ["0001-a.md", "evidence/x.md"]
    (out / "0001-a.md").write_text("one, edited by a reviewer\n", encoding="utf-8")
    second = decide.write_files(out, {"0001-a.md": "two\n", "evidence/x.md": "x2\n"}, force=False)
    assert second.kept == ["0001-a.md"]
    assert second.written == ["evidence/x.md"]
    assert (out / "0001-a.md").read_text(encoding="utf-8") == "one, edited by a reviewer\n"
    # still detected on the next run: the manifest keeps the hash of what qomsim wrote
    third = decide.write_files(out, {"0001-a.md": "three\n"}, force=False)
    assert third.kept == ["0001-a.md"]
    assert third.removed == ["evidence/x.md"]
    assert not (out / "evidence/x.md").exists()
    forced = decide.write_files(out, {"0001-a.md": "three\n"}, force=True)
    assert forced.written == ["0001-a.md"]
    assert (out / "0001-a.md").read_text(encoding="utf-8") == "three\n"


def test_write_files_keeps_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "0001-a.md").write_text("written by a human\n", encoding="utf-8")
    r = decide.write_files(tmp_path, {"0001-a.md": "generated\n"}, force=False)
    assert (r.kept, r.written) == (["0001-a.md"], [])
    assert (tmp_path / "0001-a.md").read_text(encoding="utf-8") == "written by a human\n"


def test_write_files_keeps_an_edited_file_it_no_longer_produces(tmp_path: Path) -> None:
    decide.write_files(tmp_path, {"old.md": "old\n"}, force=False)
    (tmp_path / "old.md").write_text("old, annotated\n", encoding="utf-8")
    r = decide.write_files(tmp_path, {"new.md": "new\n"}, force=False)
    assert (r.kept, r.removed) == (["old.md"], [])
    assert (tmp_path / "old.md").exists()


def test_a_failed_write_leaves_the_old_set_and_no_work_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "notes"
    decide.write_files(out, {"a.md": "old\n"}, force=False)

    def broken_write(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outdir, "_write_new", broken_write)
    with pytest.raises(OSError, match="No space left on device"):
        decide.write_files(out, {"a.md": "new\n"}, force=False)
    assert (out / "a.md").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
    assert sorted(p.name for p in out.iterdir()) == [".qomsim-decide.json", "a.md"]


def test_out_display_is_relative_under_cwd(tmp_path: Path) -> None:
    assert decide.out_display(Path("docs/decisions")) == "docs/decisions"
    assert decide.out_display(tmp_path / "a" / "b", cwd=tmp_path) == "a/b"


def test_mermaid_notes_the_fault_over_the_actor_that_suffered_it() -> None:
    cell = _cell("mutex", PROPS[1], "fails")
    assert cell.counterexample is not None
    cx = dataclasses.replace(
        cell.counterexample, fault=Fault(Outcome.DEADLOCK, 99, "T_vfio", "mig#1", "waits for the BQL")
    )
    text = notes.render_evidence(cx, cell, "e.json")
    mermaid = text.split("```mermaid\n", 1)[1].split("```", 1)[0].splitlines()
    assert mermaid[1:5] == [
        "    participant P0 as T_main",
        "    participant P1 as mig#35;1",
        "    participant P2 as T_mig",
        "    participant P3 as T_vfio",
    ]
    assert mermaid[-1] == "    Note over P3: DEADLOCK at step 99: waits for the BQL"
    assert mermaid.count("    Note over P3: DEADLOCK at step 99: waits for the BQL") == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_building_the_new_set_waits_for_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    real = outdir._write_new
    calls: list[str] = []

    def write_then_signal(path: Path, data: bytes) -> None:
        real(path, data)
        calls.append(path.name)
        if len(calls) == 1:
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(outdir, "_write_new", write_then_signal)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    report = decide.write_files(tmp_path / "o", {"a.md": "a\n", "b.md": "b\n"}, force=False)
    assert report.interrupted is True
    assert calls == ["a.md", "b.md", decide.MANIFEST]
    assert (tmp_path / "o" / "b.md").read_text(encoding="utf-8") == "b\n"
    assert {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} == before


# ---------------------------------------------------------------------------------------------------------
# --confirm: the chosen options explored again at a larger bound


def _bounded(m: notes.Matrix, spec: str) -> notes.Matrix:
    """``m`` as a run at ``spec`` gives it: every cell's verdict with that bound."""
    b = Bound.parse(spec)
    cells = {k: dataclasses.replace(c, evidence="bounded" if c.verdict == "holds" else c.evidence,
                                    bound=b.events, bound_spec=spec, programs=10, states=20)
             for k, c in m.cells.items()}
    return dataclasses.replace(m, cells=cells, bound=b.events, bound_spec=spec)


def _wider_check(fails: set[tuple[str, str]], calls: list[tuple[str, str, str]]) -> decide.BoundedCheckFn:
    """A check at the larger bound: ``fails`` fail there, every other cell holds."""
    def check(d: str, p: str, bound: Bound) -> CellResult:
        calls.append((d, p, str(bound)))
        verdict = "fails" if (d, p) in fails else "holds"
        return dataclasses.replace(_cell(d, p, verdict), evidence="bounded" if verdict == "holds" else
                                   "exhaustive", bound=bound.events, bound_spec=str(bound), programs=300,
                                   states=400)
    return check


DIFFS = {"qemu-10.0": [], "mutex": ["lock"], "rcu": ["rcu", "readers"]}


def _chosen(m: notes.Matrix) -> list[str]:
    return [c.chosen for _q, c in notes.decisions(m, DIFFS) if c.chosen is not None]


def test_confirm_explores_the_chosen_option_again_and_chooses_again_when_it_fails_there() -> None:
    m = _bounded(_matrix({(d, p): ("holds", "exhaustive") for d in ("qemu-10.0", "mutex", "rcu")
                          for p in PROPS}), "1")
    assert _chosen(m) == ["qemu-10.0", "qemu-10.0"]  # fewest mechanism changes
    calls: list[tuple[str, str, str]] = []
    said: list[str] = []
    wide = Bound.parse("1").union(Bound.parse("covering"))
    got = decide.confirm_chosen(m, wide, _chosen, _wider_check({("qemu-10.0", PROPS[0])}, calls),
                                say=said.append)
    # qemu-10.0 fails there, so question 1 chooses mutex, which is explored in turn; question 2 weighs
    # only qemu-10.0 of these designs and keeps it
    assert calls == [(d, p, "2+10/0") for d in ("qemu-10.0", "mutex") for p in PROPS]
    assert (got.confirm_spec, got.confirmed, got.complete) == ("2+10/0", ("qemu-10.0", "mutex"), True)
    assert _chosen(got) == ["mutex", "qemu-10.0"]
    picked = (got.cells["qemu-10.0", PROPS[0]], got.cells["mutex", PROPS[1]], got.cells["rcu", PROPS[0]])
    assert [(c.verdict, c.bound_spec) for c in picked] == [
        ("fails", "2+10/0"), ("holds", "2+10/0"), ("holds", "1")]
    every = ("every program of up to 2 events, or up to 10 events none of them background, and every "
             "schedule")
    assert said == [
        f"decide: exploring qemu-10.0, a chosen option, again at 2+10/0 ({every})",
        "decide: qemu-10.0 at 2+10/0: 300 programs, 400 states, 0 s; now fails no-use-after-free",
        f"decide: exploring mutex, a chosen option, again at 2+10/0 ({every})",
        "decide: mutex at 2+10/0: 300 programs, 400 states, 0 s; every verdict the same",
    ]
    assert m.confirm_spec is None and m.cells["qemu-10.0", PROPS[0]].verdict == "holds"  # m is unchanged


def test_confirm_stops_when_the_budget_is_spent_and_the_matrix_is_then_incomplete() -> None:
    m = _bounded(_matrix({(d, p): ("holds", "exhaustive") for d in ("qemu-10.0",) for p in PROPS}), "1")
    calls: list[tuple[str, str, str]] = []
    got = decide.confirm_chosen(m, Bound.parse("2"), _chosen, _wider_check(set(), calls), deadline=5.0,
                                clock=lambda: 5.0)
    assert calls == [] and got.confirm_pending and not got.complete and got.to_json()["complete"] is False


def test_a_confirmed_note_says_which_row_rests_on_which_bound() -> None:
    m = _bounded(_matrix({(d, p): ("holds", "exhaustive") for d in ("qemu-10.0", "mutex") for p in PROPS}),
                 "1")
    got = decide.confirm_chosen(m, Bound.parse("2+10/0"), _chosen, _wider_check(set(), []))
    text = notes.render_note(notes.QUESTIONS[0], got, date="2026-01-01", template=notes.default_template(),
                             out_display="docs/decisions", diffs=DIFFS)
    assert text is not None
    every = ("every program of up to 2 events, or up to 10 events none of them background, and every "
             "schedule")
    assert ('Chosen option: "qemu-10.0", because it holds every one of the 2 properties checked (2 on '
            "exhaustive evidence, 0 sampled) and, of the options that do, it ranks first by the rule "
            "below (0 mechanism changes from `qemu-10.0`). Its row rests on the larger bound `2+10/0`, "
            f"{every}; the others on `1` (see the end of this note).") in text
    assert "| `mutex` | holds | holds |\n| `qemu-10.0` (`2+10/0`) | holds | holds |\n" in text
    assert ("Bound `1` (the row of `mutex`): every program of up to 1 event and every schedule, 10 programs. "
            f"Bound `2+10/0` (the row of `qemu-10.0`): {every}, 300 programs. The distinct states each "
            "option's exploration stored: `mutex` 20, `qemu-10.0` 400.") in text
    assert ("lie outside it and are enumerated on their own, every schedule). The chosen option "
            f"(`qemu-10.0`) was explored again at `2+10/0` (`--confirm`), {every}, every property from "
            "that one exploration (all 19 scenarios of §4 lie inside that bound); its row holds those "
            "results, the other rows those at the run's bound, which can only gain faults at a larger "
            "one, so none of them could rank above a chosen option there.") in text
    assert " --bound 1 --confirm 2+10/0\n" in text
    assert "qomsim check --design qemu-10.0 --seed 3 --property no-use-after-free --property no-deadlock " \
           "--bound 2+10/0\n" in text
    assert got.to_json()["confirmed"] == ["qemu-10.0"] and got.to_json()["confirm_spec"] == "2+10/0"


def test_an_unchanged_note_keeps_its_date_and_a_changed_one_is_dated_today(tmp_path: Path) -> None:
    def render(*, date: str, b: str = "B") -> dict[str, str]:
        return {"0001-a.md": f"---\ndate: {date}\n---\nA\n", "0002-b.md": f"---\ndate: {date}\n---\n{b}\n",
                "README.md": f"Written on {date}\n", "evidence/x.md": "no date\n"}

    for rel, text in render(date="2026-01-01").items():
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert decide.dated_as_before(tmp_path, "2030-12-31", render) == render(date="2026-01-01")
    changed = decide.dated_as_before(tmp_path, "2030-12-31", lambda date: render(date=date, b="B2"))
    assert changed == {"0001-a.md": "---\ndate: 2026-01-01\n---\nA\n",
                       "0002-b.md": "---\ndate: 2030-12-31\n---\nB2\n",
                       "README.md": "Written on 2030-12-31\n", "evidence/x.md": "no date\n"}
    empty = tmp_path / "none"
    assert decide.dated_as_before(empty, "2030-12-31", render) == render(date="2030-12-31")
