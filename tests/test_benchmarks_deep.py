"""``python -m benchmarks.deep``: its log round-trips a task, resumes without rerunning a task, and refuses
files it did not write."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import deep
from migration.check.bounded import Bound, merge, run_task, split_tasks
from migration.check.bounded import Task as BTask
from migration.check.registry import resolve
from migration.check.workers import split_depth


@pytest.fixture(scope="module")
def mutex_k1() -> list[dict[str, Any]]:
    """Both tasks of ``mutex`` at K = 1, as the log stores them."""
    tasks = split_tasks(Bound.parse("1"), split_depth(Bound.parse("1")), resolve("mutex").tag)
    recs = [deep._one(("mutex", "1", i, list(p), list(t))) for i, (p, t) in enumerate(tasks)]
    for r in recs:
        r.update(design="mutex", spec="1", commit="c0ffee")
    return recs


def test_a_logged_task_merges_to_what_the_tasks_themselves_merge_to(mutex_k1: list[dict[str, Any]]) -> None:
    bound = Bound.parse("1")
    design = resolve("mutex")
    direct = merge("mutex", bound, [run_task(BTask(design, bound, tuple(r["prefix"]), then=tuple(r["then"])))
                                    for r in mutex_k1])
    logged = merge("mutex", bound, [deep._part(json.loads(json.dumps(r["bounded"]))) for r in mutex_k1])
    assert logged == direct
    assert (logged.states, logged.runs, logged.programs) == (7_513, 10_209, 1_970)
    assert list(logged.violations) == ["no-use-after-free", "no-null-deref", "helpers-whole-lifecycle",
                                       "no-deadlock", "creation-paths-safe", "freed-by-exit"]


def test_a_finished_log_is_read_back_without_running_a_task(
        mutex_k1: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "mutex-1.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in reversed(mutex_k1)))

    def no_pool(_method: str) -> None:
        raise AssertionError("a task ran again")
    monkeypatch.setattr(deep, "get_context", no_pool)
    recs = deep.explore("mutex", "1", log, 2, "c0ffee")
    assert [r["task"] for r in recs] == [0, 1]
    text = deep.report("mutex", [("1", recs)], "c0ffee", 2)
    assert text.startswith(deep.MARKER + "\n# `mutex` at K = 1\n")
    assert "| 1 | 2 | 1,970 | 7,513 | 10,209 | 56,624,562,505 |" in text
    assert text.endswith("(schedule of 12 choices): LEAK at step 14 on main (mig#1): mig#1 is not finalized "
                         "by the end of qemu_cleanup() (refcount 1)\n")


def test_a_log_of_another_commit_is_refused(mutex_k1: list[dict[str, Any]], tmp_path: Path) -> None:
    log = tmp_path / "mutex-1.jsonl"
    log.write_text(json.dumps(mutex_k1[0]) + "\n")
    with pytest.raises(SystemExit, match=r"^benchmarks\.deep: .*mutex-1\.jsonl holds mutex at 1 from c0ffee, "
                                         r"not mutex at 1 from 1234abcd$"):
        deep.explore("mutex", "1", log, 2, "1234abcd")
    assert log.read_text() == json.dumps(mutex_k1[0]) + "\n"


def test_a_report_file_it_did_not_write_is_left_alone(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine.md"
    out.write_text("# my notes\n")
    assert deep.main(["--log-dir", str(tmp_path / "logs"), "--out", str(out), "--design", "mutex",
                      "--bounds", "1"]) == 2
    assert out.read_text() == "# my notes\n"
    assert not (tmp_path / "logs").exists()
    assert capsys.readouterr().err == (f"benchmarks.deep: {out} was not written by this command; "
                                       "not overwriting it\n")


def _matrix(cells: dict[tuple[str, str], tuple[str, str, int | None]]) -> dict[str, Any]:
    designs: dict[str, Any] = {}
    for (d, p), (verdict, bound, events) in cells.items():
        cell: dict[str, Any] = {"verdict": verdict, "bound_spec": bound}
        if events is not None:
            cell["program"] = [{"kind": "step"}] * events
        designs.setdefault(d, {"properties": {}})["properties"][p] = cell
    return {"designs": designs}


def test_the_decide_section_lists_each_cell_whose_verdict_or_program_length_changed() -> None:
    default = _matrix({("a", "p"): ("holds", "1", None), ("a", "q"): ("fails", "1", 4),
                       ("b", "p"): ("fails", "2+10/0", 5)})
    covering = _matrix({("a", "p"): ("fails", "2+10/0", 6), ("a", "q"): ("fails", "2+10/0", 4),
                        ("b", "p"): ("fails", "2+10/0", 5)})
    covering["ran"] = "2026-12-07 14:50"
    assert deep.decide_report((131.4, default), (1203.6, covering)) == (
        "## `qomsim decide` with every row at `covering`\n\n"
        "On its defaults (`qomsim decide`): **131 s** wall. With every row at `covering` (`qomsim decide "
        "--bound covering --confirm none`): **1,204 s** wall; its cells rest on 2+10/0. Each in a process of "
        "its own on this machine, one at a time (UTC: ? and 2026-12-07 14:50).\n\n"
        "Cells: 3 and 3; whose verdict or shortest program (events) differ: 1.\n\n"
        "| design | property | defaults | every row at covering |\n|---|---|---|---|\n"
        "| a | p | holds at 1 | fails at 2+10/0, a program of 6 events |\n")


def test_decide_is_run_in_its_own_process_and_its_counterexamples_read_back(tmp_path: Path) -> None:
    wall, matrix = deep.run_decide(["--designs", "mutex", "--properties", "no-deadlock,freed-by-exit",
                                    "--confirm", "none", "--workers", "1"], tmp_path)
    assert wall > 0
    assert deep._cells(matrix) == {("mutex", "no-deadlock"): ("fails", "1", 5),
                                   ("mutex", "freed-by-exit"): ("fails", "1", 4)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions", "matrix.json"]


def test_logs_are_stamped_with_the_last_commit_that_changed_the_model() -> None:
    root = Path(deep.__file__).resolve().parent.parent
    last = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%H", "--", "migration", "qom"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert deep._commit().removesuffix("+dirty") == last[:12]


def test_a_kept_decide_result_is_used_again_only_for_the_same_model_and_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def fake(extra: list[str], where: Path) -> tuple[float, dict[str, Any]]:
        ran.append(list(extra))
        return 12.5, _matrix({("a", "p"): ("holds", "2+10/0", None)})
    monkeypatch.setattr(deep, "run_decide", fake)
    opts = ["--bound", "covering", "--confirm", "none"]
    wall, matrix = deep.decided("covering", opts, tmp_path, "c0ffee")
    assert (wall, ran) == (12.5, [opts])
    assert deep.decided("covering", opts, tmp_path, "c0ffee") == (wall, matrix)
    assert ran == [opts]
    deep.decided("covering", opts, tmp_path, "feed")
    deep.decided("covering", ["--bound", "2"], tmp_path, "feed")
    assert ran == [opts, opts, ["--bound", "2"]]
    assert json.loads((tmp_path / "decide-covering.json").read_text())["options"] == ["--bound", "2"]
    (tmp_path / "decide-defaults.json").write_text("my own notes\n")
    with pytest.raises(SystemExit, match=r"^benchmarks\.deep: .*decide-defaults\.json was not written by "
                                         r"this command; not overwriting it$"):
        deep.decided("defaults", [], tmp_path, "feed")
    assert (tmp_path / "decide-defaults.json").read_text() == "my own notes\n"


def test_a_failing_decide_is_reported_with_its_command_and_last_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"^benchmarks\.deep: qomsim decide --out .* --designs "
                                         r"no-such-design exited with 2: qomsim decide: .*no-such-design.*$"):
        deep.run_decide(["--designs", "no-such-design"], tmp_path)
