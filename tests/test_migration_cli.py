"""``qomsim check`` and ``qomsim replay``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qom.cli import main


def test_check_prints_plain_lines_and_saves_counterexamples(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cx.json"
    status = main(["check", "--design", "two-globals", "--property", "no-null-deref",
                   "--property", "no-deadlock", "--exhaustive", "--bound", "1", "--json", str(out)])
    assert status == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("two-globals no-null-deref: fails (exhaustive, NULL_DEREF, ")
    assert "[S8-wrong-pointer:b: NULL_DEREF at step " in lines[0]
    assert lines[1].startswith("two-globals no-deadlock: holds (bounded, OK, ")
    assert lines[1].endswith(" 0 examples, bound 1: 1970 programs, 4636 states)")
    data = json.loads(out.read_text())
    assert data["design"] == "two-globals"
    assert [c["verdict"] for c in data["cells"]] == ["fails", "holds"]
    assert data["cells"][0]["counterexample"]["scenario"] == "S8-wrong-pointer:b"


def test_replay_reproduces_and_detects_tampering(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cx.json"
    assert main(["check", "--design", "qemu-9.1", "--property", "no-use-after-free", "--exhaustive",
                 "--bound", "-1", "--json", str(out)]) == 1
    capsys.readouterr()
    assert main(["replay", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("design qemu-9.1, property no-use-after-free, scenario ")
    assert "reproduced: yes" in text
    data = json.loads(out.read_text())
    data["cells"][0]["counterexample"]["fault"]["step"] += 1
    out.write_text(json.dumps(data))
    assert main(["replay", str(out)]) == 1
    assert "reproduced: NO" in capsys.readouterr().out


def test_unknown_design_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", "nope"]) == 2
    assert "unknown design 'nope'" in capsys.readouterr().err


def test_replay_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "none.json")]) == 2
    assert "qomsim replay:" in capsys.readouterr().err


def test_replay_of_several_failing_cells_says_which_it_replays_and_how_to_pick(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cells.json"
    assert main(["check", "--design", "qemu-9.1", "--property", "no-use-after-free", "--property",
                 "single-instance", "--property", "no-deadlock", "--exhaustive", "--bound", "-1",
                 "--json", str(out)]) == 1
    capsys.readouterr()
    assert main(["replay", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (f"{out} holds 2 counterexamples (no-use-after-free, single-instance); replaying the "
                        "first, no-use-after-free: pick another with --property ID")
    assert lines[1] == "design qemu-9.1, property no-use-after-free, scenario S8-wrong-pointer:b"
    assert main(["replay", str(out), "--property", "single-instance"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "design qemu-9.1, property single-instance, scenario S12-discover-globals"


def test_a_counterexample_without_a_scenario_is_not_called_sampled(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cx.json"
    assert main(["check", "--design", "qemu-9.1", "--property", "no-use-after-free", "--exhaustive",
                 "--bound", "-1", "--json", str(out)]) == 1
    cx = json.loads(out.read_text())["cells"][0]["counterexample"]
    cx["scenario"] = None  # as qomsim serve --trace saves a live run: no scenario
    (tmp_path / "live.json").write_text(json.dumps(cx))
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "live.json")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "design qemu-9.1, property no-use-after-free, the program of scenario S8-wrong-pointer:b")
    cx["program"].insert(1, {"event": "poll"})
    (tmp_path / "own.json").write_text(json.dumps(cx))
    main(["replay", str(tmp_path / "own.json")])
    assert capsys.readouterr().out.splitlines()[0] == (
        "design qemu-9.1, property no-use-after-free, a program of its own (not one of the scenarios: drawn "
        "by Hypothesis, found by the bounded exploration, or recorded live by qomsim serve --trace)")
