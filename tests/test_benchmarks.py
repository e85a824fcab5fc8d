"""The benchmark harness in its tiny configuration: output structure only, never timings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_reliability_serve import fill_backlog

from benchmarks import FIGURES, Config, FigureSpec, NotMeasured, Row, Status, Target, run
from benchmarks.__main__ import main
from benchmarks.machine import CpuClock, Machine, cpu_clock, others_share
from benchmarks.model import judged, not_measured
from benchmarks.render import TABLE_HEADER, render_json, render_markdown
from benchmarks.runner import Report

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class TinyRun:
    status: int
    markdown: str
    data: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """One whole ``python -m benchmarks --tiny`` run, in a child without typeguard's hook.

    (Under typeguard the migration model alone runs many times slower, and timings are never
    asserted anyway; what is checked here is the output's structure.)
    """
    out = tmp_path_factory.mktemp("bench")
    md, js = out / "performance.md", out / "performance.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--out", str(md), "--json", str(js),
                           "--date", "2026-11-24", "--note", "Overlapped with other work."],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    data = json.loads(js.read_text(encoding="utf-8")) if js.exists() else {}
    text = md.read_text(encoding="utf-8") if md.exists() else ""
    return TinyRun(proc.returncode, text, data, proc.stderr)


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for group in data["figures"] for row in group["rows"]]


def test_every_registered_group_reports_in_order(tiny: TinyRun) -> None:
    assert tiny.status == 0, tiny.stderr
    assert [g["key"] for g in tiny.data["figures"]] == [spec.key for spec in FIGURES]
    for spec, group in zip(FIGURES, tiny.data["figures"], strict=True):
        assert group["error"] is None, group
        assert group["rows"], spec.key
        for row in group["rows"]:
            assert any(row["figure"].startswith(f) for f in spec.figures), (spec.key, row["figure"])


def test_rows_are_consistent_with_their_status(tiny: TinyRun) -> None:
    statuses = {s.value for s in Status}
    for row in _rows(tiny.data):
        assert row["status"] in statuses, row
        if row["status"] == Status.NOT_MEASURED.value:
            assert row["value"] is None and row["note"], row
            continue
        value = row["value"]
        assert isinstance(value, float | int) and value >= 0, row
        assert math.isfinite(value) or row["status"] == Status.MISSED.value, row
        if row["reference_value"] is not None:
            assert row["ratio"] is not None and row["ratio"] > 0, row
        target = row["target"]
        if target is None:
            assert row["status"] == Status.INFO.value, row
        else:
            judged_value = row["ratio"] if target["on_ratio"] else value
            expected = Status.MET if judged_value <= target["limit"] else Status.MISSED
            assert row["status"] == expected.value, row


def test_markdown_has_machine_and_one_table_line_per_row(tiny: TinyRun) -> None:
    lines = tiny.markdown.splitlines()
    assert lines[0] == "# qomsim performance"
    for label in ("date", "CPU", "cores", "Python", "qomsim commit", "real QEMU", "mode"):
        assert any(line.startswith(f"| {label} | ") for line in lines), label
    assert "| date | 2026-11-24 |" in lines
    table = [line for line in lines if re.match(r"\| [0-9]+[a-z]?(\.[0-9]+)?\. ", line)]
    rows = _rows(tiny.data)
    main = [row for row in rows if not row["detail"]]
    details = [row for row in rows if row["detail"]]
    assert len(table) == len(rows)
    for line, row in zip(table, main + details, strict=True):
        assert line.startswith(f"| {row['figure']}. "), line
        assert line.count(" | ") == 5, line
    assert lines.count(TABLE_HEADER) == 1 + len({row["figure"].split(".")[0] for row in details})
    assert lines[-1] == "Overlapped with other work."


def test_json_records_machine_and_config(tiny: TinyRun) -> None:
    data = tiny.data
    assert data["date"] == "2026-11-24"
    assert data["config"]["mode"] == "tiny"
    assert set(data["machine"]) == {"cpu", "cores", "python", "platform", "commit", "load_before",
                                    "load_after", "qemu", "others"}
    assert isinstance(data["machine"]["cores"], int) and data["machine"]["cores"] >= 1
    assert 0.0 <= data["machine"]["others"] <= 1.0  # /proc/stat: this is Linux


def _stat(tmp_path: Path, user: int, system: int, idle: int, steal: int = 0) -> Path:
    p = tmp_path / f"stat-{user}-{system}-{idle}-{steal}"
    p.write_text(f"cpu  {user} 0 {system} {idle} 7 0 0 {steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    return p


def test_others_share_is_the_machine_s_busy_time_less_the_run_s_own(tmp_path: Path) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    before = cpu_clock(_stat(tmp_path, 0, 0, 0))
    after = cpu_clock(_stat(tmp_path, 30 * tick, 10 * tick, 50 * tick, steal=5 * tick))
    assert before is not None and after is not None
    assert after.machine - before.machine == 45.0  # user, system and steal; idle and I/O wait are not busy
    # the run itself used 25 s of CPU over 50 s of wall time on 2 cores: the other 20 s are others', 20%
    run_before, run_after = CpuClock(0.0, 100.0), CpuClock(45.0, 125.0)
    assert others_share(run_before, run_after, 50.0, 2) == 0.2
    assert others_share(run_before, CpuClock(25.0, 125.0), 50.0, 2) == 0.0  # all of it the run's own
    assert cpu_clock(tmp_path / "missing") is None


def _report_with(machine: Machine) -> Report:
    return Report(machine, Config.tiny(), (), 1.0)


def test_the_conditions_blame_other_processes_only_for_their_own_share() -> None:
    # a run that started idle and ended with its own two workers busy (load 1.45): not others' doing
    m = Machine("cpu", 2, "CPython", "Linux", "abc", load_before=0.01, load_after=1.45, qemu=None,
                others=0.03)
    text = render_markdown(_report_with(m), date="2026-01-01")
    assert ("1-minute load average 0.01 at the start and 1.45 at the end, on 2 cores. Other processes used 3%"
            " of the machine's CPU time while it ran.\n") in text
    assert "Other processes were using the CPU" not in text
    busy = render_markdown(_report_with(dataclasses.replace(m, others=0.35)), date="2026-01-01")
    assert ("Other processes used 35% of the machine's CPU time while it ran. Other processes were using"
            in busy)
    # not measured (not Linux): the load at the start decides, never the run's own load at the end
    blind = dataclasses.replace(m, others=None)
    assert "Other processes" not in render_markdown(_report_with(blind), date="2026-01-01")
    loaded = render_markdown(_report_with(dataclasses.replace(blind, load_before=1.5)), date="2026-01-01")
    assert "Other processes were using the CPU during this run" in loaded


def test_render_is_a_function_of_the_report() -> None:
    def measure(_config: Config) -> list[Row]:
        return [judged("9", "x", 12.0, "ms", target=Target(10, on_ratio=False, unit="ms"), note="how")]

    rep = run(Config.tiny(), [_spec("fixed", measure)])
    first = render_markdown(rep, date="2026-01-01")
    assert first == render_markdown(rep, date="2026-01-01")
    assert "| 9. x [1] | 12 ms | — | — | value <= 10 ms | missed |" in first.splitlines()
    assert "1. how" in first.splitlines()
    assert json.loads(render_json(rep, date="2026-01-01"))["figures"][0]["rows"][0]["status"] == "missed"


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


def test_profile_ranks_own_time() -> None:
    from benchmarks.profile import hot_spots

    def work() -> None:
        total = 0
        for i in range(300_000):
            total += i * i

    seconds, spots, packages = hot_spots(work, 3)
    assert seconds > 0
    assert 1 <= len(spots) <= 3
    shares = [share for _name, share in spots]
    assert shares == sorted(shares, reverse=True)
    assert all(0 < share <= 1 for share in shares)
    assert spots[0][0].startswith("work (")
    assert math.isclose(sum(share for _pkg, share in packages), 1.0, rel_tol=1e-9)


# ---------------------------------------------------------------------------------------------------------
# the clients of figure 8 and a full listen backlog (benchmarks.control.connect_unix)


@pytest.fixture
def full_backlog() -> Iterator[tuple[str, socket.socket, list[socket.socket]]]:
    """A Unix socket whose listener accepts nothing yet and whose backlog is full: its path, the listener and
    the connections queued on it."""
    with tempfile.TemporaryDirectory(prefix="qb-") as d:  # short: Unix socket paths are limited
        path = str(Path(d) / "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(0)
        queued = fill_backlog(path)
        try:
            yield path, listener, queued
        finally:
            for c in queued:
                c.close()
            listener.close()


def test_connect_unix_waits_while_the_backlog_is_full_and_connects_once_the_server_accepts(
        full_backlog: tuple[str, socket.socket, list[socket.socket]]) -> None:
    from benchmarks.control import connect_unix

    path, listener, queued = full_backlog

    async def scenario() -> bytes:
        task = asyncio.create_task(connect_unix(path, timeout=60.0))
        await asyncio.sleep(0)  # the task's first try met the full backlog (EAGAIN) and now waits
        assert not task.done()
        listener.settimeout(10.0)
        first, _ = listener.accept()  # room for one more
        reader, writer = await asyncio.wait_for(task, 60.0)
        served = [listener.accept()[0] for _ in queued]  # the rest of the queue; the helper's is last
        served[-1].sendall(b"greeting\n")
        line = await asyncio.wait_for(reader.readline(), 10.0)
        writer.close()
        for s in [first, *served]:
            s.close()
        return line

    assert asyncio.run(scenario()) == b"greeting\n"


def test_connect_unix_gives_up_when_the_backlog_stays_full(
        full_backlog: tuple[str, socket.socket, list[socket.socket]]) -> None:
    from benchmarks.control import connect_unix, measure

    path, _listener, _queued = full_backlog
    with pytest.raises(TimeoutError) as e:
        asyncio.run(connect_unix(path, timeout=0.05))
    assert str(e.value) == f"{path}: the server's listen backlog stayed full for 0.05 s"
    # the control client: never served is a miss it reports, not a failure of its own
    assert asyncio.run(measure(path, 0.05, 1, 0.05)) == {
        "latencies_ms": [], "offsets_s": [], "connect_ms": 50.0,
        "refused": f"{path}: the server's listen backlog stayed full for 0.05 s"}
