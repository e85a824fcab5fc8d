"""Designs of one's own (``FILE.py:NAME``, ``module:NAME``) and ``qomsim replay``'s checks of its file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migration.check.registry import PROPOSAL_IDS, all_designs, design_from_knobs, resolve, source_of
from migration.model.designs import DESIGNS
from qom.cli import main

MY_DESIGN = '''
from migration.model.designs import DESIGNS, PointerClear, derive

MINE = derive(DESIGNS["qemu-10.0"], "my-identity-clear", "finalize clears the pointer if it is ours",
              pointer_clear=PointerClear.FINALIZE_IF_SELF)
NOT_A_DESIGN = 3
'''


@pytest.fixture
def my_file(tmp_path: Path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(MY_DESIGN, encoding="utf-8")
    return path


def _cx(tmp_path: Path, design: str, prop: str = "no-use-after-free") -> dict[str, Any]:
    out = tmp_path / "cx.json"
    assert main(["check", "--design", design, "--property", prop, "--exhaustive", "--json", str(out)]) == 1
    data: dict[str, Any] = json.loads(out.read_text())
    cx: dict[str, Any] = data["cells"][0]["counterexample"]
    return cx


def test_a_design_from_a_file_is_checked_and_replayed_without_the_file(
        tmp_path: Path, my_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{my_file}:MINE"
    cx = _cx(tmp_path, spec)
    assert cx["design"] == "my-identity-clear"
    assert cx["source"] == spec
    assert cx["knobs"]["pointer_clear"] == "finalize-if-self"
    assert cx["fault"]["outcome"] == "UAF"
    saved = tmp_path / "one.json"
    saved.write_text(json.dumps(cx))
    my_file.unlink()  # the counterexample carries the knobs: no file, no registry needed
    capsys.readouterr()
    assert main(["replay", str(saved)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "reproduced: yes"


def test_a_design_from_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    d = resolve("migration.model.designs:_QEMU_9_1")
    assert d is DESIGNS["qemu-9.1"]
    assert main(["check", "--design", "migration.model.designs:_QEMU_9_1", "--property", "no-deadlock",
                 "--scenario", "S1-helper-after-idle-shutdown", "--exhaustive"]) == 0
    assert capsys.readouterr().out.startswith("qemu-9.1 no-deadlock: holds (bounded, OK, ")


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "unknown design 'nope' (a preset id, FILE.py:NAME or module:NAME; presets: qemu-9.1, "),
    ("{dir}/absent.py:X", "{dir}/absent.py: no such file"),
    ("{file}:NOPE", "{file}:NOPE: {file} has no 'NOPE'"),
    ("{file}:NOT_A_DESIGN", "{file}:NOT_A_DESIGN: 'NOT_A_DESIGN' is a int, not a migration Design"),
    ("no_such_module_q:X", "no_such_module_q:X: cannot import no_such_module_q: ModuleNotFoundError: "
                           "No module named 'no_such_module_q'"),
])
def test_bad_design_names_give_one_line(spec: str, message: str, tmp_path: Path, my_file: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec.format(dir=tmp_path, file=my_file)
    assert main(["check", "--design", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("qomsim check: " + message.format(dir=tmp_path, file=my_file))


def test_a_users_file_that_raises_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "boom.py"
    bad.write_text("raise RuntimeError('no\\nway')\n")
    assert main(["check", "--design", f"{bad}:X"]) == 2
    assert capsys.readouterr().err == f"qomsim check: {bad}: RuntimeError: no way\n"


def test_the_set_of_designs_does_not_depend_on_import_order() -> None:
    code = ("from migration.model.designs import DESIGNS; before = list(DESIGNS); "
            "import migration.check.cell, migration.report.decide; assert list(DESIGNS) == before, DESIGNS; "
            "from migration.check.registry import all_designs; print(list(all_designs()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == list(all_designs())
    assert eval(out)[: len(DESIGNS) + 1] == [*DESIGNS, "proposed-singleton-keepalive"]
    helptext = subprocess.run([sys.executable, "-m", "qom.cli", "check", "--help"], capture_output=True,
                              text=True, check=True).stdout
    flat = "".join(helptext.split())  # argparse wraps lines, also at hyphens
    for name in [*DESIGNS, *PROPOSAL_IDS]:
        assert name in flat


def test_knobs_round_trip_and_are_checked() -> None:
    for d in DESIGNS.values():
        assert design_from_knobs(d.name, d.description, d.knobs()) == d
    knobs = DESIGNS["qemu-10.0"].knobs()
    with pytest.raises(ValueError, match=r"^knob singleton: expected true or false, not 1$"):
        design_from_knobs("x", "", {**knobs, "singleton": 1})
    with pytest.raises(ValueError, match=r"^unknown knob\(s\) colour$"):
        design_from_knobs("x", "", {**knobs, "colour": "red"})
    missing = dict(knobs)
    del missing["bh_ref"]
    with pytest.raises(ValueError, match=r"^missing knob\(s\) bh_ref$"):
        design_from_knobs("x", "", missing)
    assert source_of(DESIGNS["mutex"]) == "mutex"


def _replay(path: Path, data: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    capsys.readouterr()
    status = main(["replay", str(path)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_replay_checks_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cx = _cx(tmp_path, "qemu-10.0")
    f = tmp_path / "t.json"
    cases: list[tuple[object, str]] = [
        ("{", "not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
        ([1], "not a counterexample (expected a JSON object)"),
        ({"cells": [{"counterexample": None}]}, "no counterexample"),
        ({"cells": 3}, "'cells' must be a list"),
        ({k: v for k, v in cx.items() if k != "design"}, "the counterexample lacks 'design'"),
        ({**cx, "property": "be-nice"}, "unknown property 'be-nice' (known: "),
        ({**cx, "program": [{"event": "reboot"}]}, "program: unknown event 'reboot'"),
        ({**cx, "schedule": [0, True]}, "schedule[1] must be an integer, not true"),
        ({**cx, "schedule": [-1]}, "schedule[0] is -1: a choice cannot be negative"),
        ({**cx, "fault": {**cx["fault"], "outcome": "OOPS"}}, "'fault': unknown outcome 'OOPS'"),
        ({**cx, "trace": [{"index": 0}]}, "trace[0] lacks 'actor'"),
        ({**cx, "knobs": {**cx["knobs"], "protection": "magic"}},
         "design 'qemu-10.0': knob protection: 'magic' is not one of none, bql, mutex, rcu"),
        ({**cx, "schedule": [3]}, "schedule[0] is 3, but only 1 actor(s) could run at that step (main)"),
        ({**cx, "schedule": [*cx["schedule"], 0, 0]},
         f"the schedule has {len(cx['schedule']) + 2} choices, but the run took only "
         f"{len(cx['schedule'])} steps"),
    ]
    for data, message in cases:
        status, out, err = _replay(f, data, capsys)
        assert (status, out) == (2, ""), message
        assert err.count("\n") == 1 and "Traceback" not in err
        prefix = "qomsim replay: " if "knob" in message or "actor(s)" in message or "choices" in message \
            else f"qomsim replay: {f}: "
        assert err.startswith(prefix + message), (err, message)
    status, _, err = _replay(f, {**cx, "knobs": None, "design": "gone"}, capsys)
    assert status == 2 and err.startswith("qomsim replay: design 'gone': unknown design 'gone'")


def test_replay_of_a_fake_trace_is_not_reproduced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cx = _cx(tmp_path, "qemu-10.0")
    trace = [dict(t) for t in cx["trace"]]
    trace[1]["note"] = "made up"
    status, out, err = _replay(tmp_path / "f.json", {**cx, "trace": trace}, capsys)
    assert (status, err) == (1, "")
    assert f"trace differs at step 1: saved '{'  1'}" in out
    assert out.splitlines()[-1] == "reproduced: NO"
    status, out, _ = _replay(tmp_path / "f.json", {**cx, "trace": cx["trace"][:-1]}, capsys)
    assert status == 1
    assert f"the saved trace has {len(cx['trace']) - 1} steps, the replay {len(cx['trace'])}" in out


def test_decide_names_a_users_design_by_its_file(tmp_path: Path, my_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{my_file}:MINE"
    out = tmp_path / "notes"
    assert main(["decide", "--designs", f"qemu-10.0,{spec}", "--properties", "no-use-after-free",
                 "--scenarios", "S14-oob-after-shutdown:b", "--confirm", "none", "--out", str(out),
                 "--date", "2026-01-01"]) == 0
    note = (out / "0001-migration-object-lifetime.md").read_text()
    command = f"qomsim decide --seed 0 --designs qemu-10.0,{spec} --properties no-use-after-free " \
              "--scenarios S14-oob-after-shutdown:b --bound 1 --confirm none"
    assert command in note.splitlines()
    evidence = sorted(p.name for p in (out / "evidence").glob("*.json"))
    safe = str(my_file).replace("/", "_").replace(":", "_")
    assert evidence == [f"{safe}_MINE--no-use-after-free.json", "qemu-10.0--no-use-after-free.json"]
    capsys.readouterr()
    assert main(["replay", str(out / "evidence" / evidence[0])]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "reproduced: yes"
