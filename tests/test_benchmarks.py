"""The benchmark harness in its tiny configuration: output structure only, never timings."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchmarks import FIGURES, Config, FigureSpec, NotMeasured, Row, Status, Target, run
from benchmarks.__main__ import main
from benchmarks.model import judged, not_measured
from benchmarks.render import TABLE_HEADER, render_json, render_markdown

if TYPE_CHECKING:
    from benchmarks import Report


@pytest.fixture(scope="module")
def report() -> Report:
    return run(Config.tiny())


def test_every_registered_group_reports_in_order(report: Report) -> None:
    assert [r.key for r in report.results] == [spec.key for spec in FIGURES]
    assert not report.failed, [r.error for r in report.results]
    for spec, result in zip(FIGURES, report.results, strict=True):
        assert result.rows, spec.key
        for row in result.rows:
            assert any(row.figure.startswith(f) for f in spec.figures), (spec.key, row.figure)


def test_rows_are_consistent_with_their_status(report: Report) -> None:
    for result in report.results:
        for row in result.rows:
            if row.status is Status.NOT_MEASURED:
                assert row.value is None and row.note, row
                continue
            assert row.value is not None and row.value >= 0, row
            assert math.isfinite(row.value) or row.status is Status.MISSED, row
            if row.reference_value is not None:
                assert row.ratio is not None and row.ratio > 0, row
            if row.target is None:
                assert row.status is Status.INFO, row
            else:
                judged_value = row.ratio if row.target.on_ratio else row.value
                assert judged_value is not None
                assert row.status is (Status.MET if judged_value <= row.target.limit else Status.MISSED), row


def test_markdown_has_machine_and_one_table_line_per_row(report: Report) -> None:
    text = render_markdown(report, date="2026-11-24", extra_notes=("Overlapped with other work.",))
    lines = text.splitlines()
    assert lines[0] == "# qomsim performance"
    for label in ("date", "CPU", "cores", "Python", "qomsim commit", "real QEMU", "mode"):
        assert any(line.startswith(f"| {label} | ") for line in lines), label
    assert "| date | 2026-11-24 |" in lines
    start = lines.index(TABLE_HEADER)
    table = [line for line in lines[start + 2:] if line.startswith("| ")]
    rows = [row for result in report.results for row in result.rows]
    assert len(table) == len(rows)
    for line, row in zip(table, rows, strict=True):
        assert line.startswith(f"| {row.figure}. "), line
        assert line.count(" | ") == 5, line
    assert lines[-1] == "Overlapped with other work."


def test_json_round_trips_every_row(report: Report) -> None:
    data = json.loads(render_json(report, date="2026-11-24"))
    assert data["date"] == "2026-11-24"
    assert data["config"]["mode"] == "tiny"
    assert set(data["machine"]) == {"cpu", "cores", "python", "platform", "commit", "load_before",
                                    "load_after", "qemu"}
    figures = [row["figure"] for group in data["figures"] for row in group["rows"]]
    assert figures == [row.figure for result in report.results for row in result.rows]
    statuses = {row["status"] for group in data["figures"] for row in group["rows"]}
    assert statuses <= {s.value for s in Status}


def test_judged_decides_status_from_the_target() -> None:
    on_ratio = Target(10, on_ratio=True)
    met = judged("9", "x", 5.0, "ns/op", target=on_ratio, reference_value=1.0, ratio=10.0)
    missed = judged("9", "x", 5.0, "ns/op", target=on_ratio, reference_value=1.0, ratio=10.5)
    assert (met.status, missed.status) == (Status.MET, Status.MISSED)
    assert judged("9", "x", 101.0, "ms", target=Target(100, on_ratio=False)).status is Status.MISSED
    assert judged("9", "x", 101.0, "ms", target=None).status is Status.INFO
    with pytest.raises(ValueError, match="figure 9: a ratio target needs a ratio"):
        judged("9", "x", 1.0, "ms", target=on_ratio)
    row = not_measured("9", "x", "no QEMU")
    assert (row.status, row.value, row.note) == (Status.NOT_MEASURED, None, "no QEMU")


def _spec(key: str, measure: Callable[[Config], list[Row]]) -> FigureSpec:
    return FigureSpec(key, ("9",), key, measure, (("9", f"{key} row", Target(1, on_ratio=False)),))


def test_not_measured_and_failures_become_placeholder_rows() -> None:
    def missing(_config: Config) -> list[Row]:
        raise NotMeasured("qom.snapshot has not landed")

    def broken(_config: Config) -> list[Row]:
        raise RuntimeError("boom")

    rep = run(Config.tiny(), [_spec("missing", missing), _spec("broken", broken)])
    first, second = rep.results
    assert [(r.status, r.note) for r in first.rows] == [(Status.NOT_MEASURED, "qom.snapshot has not landed")]
    assert first.error is None
    assert second.error == "RuntimeError: boom"
    assert [(r.status, r.note) for r in second.rows] == [(Status.NOT_MEASURED, "failed: RuntimeError: boom")]
    assert rep.failed


def test_a_spent_budget_skips_the_remaining_groups() -> None:
    calls: list[str] = []

    def measure(_config: Config) -> list[Row]:
        calls.append("ran")
        return []

    config = dataclasses.replace(Config.tiny(), budget_s=1e-12)
    rep = run(config, [_spec("late", measure)])
    assert calls == []
    assert [r.note for r in rep.results[0].rows] == ["tiny-mode time budget (1e-12 s) used up"]


def test_command_line_writes_both_files(tmp_path: Path) -> None:
    out, js = tmp_path / "perf.md", tmp_path / "perf.json"
    status = main(["--tiny", "--only", "lifecycle", "--out", str(out), "--json", str(js),
                   "--date", "2026-01-02", "--note", "A note."])
    assert status == 0
    text = out.read_text(encoding="utf-8")
    assert "| date | 2026-01-02 |" in text
    assert text.rstrip().endswith("A note.")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert [group["key"] for group in data["figures"]] == ["lifecycle"]
    assert data["config"]["only"] == ["lifecycle"]
