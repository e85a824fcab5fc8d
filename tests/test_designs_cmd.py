"""``qomsim designs``: the presets, one design's knobs, the scenarios; text at 80 columns and JSON.

The whole text of each listing is compared with ``tests/golden/designs/``; to regenerate after a
deliberate change::

    QOMSIM_REGEN_GOLDEN=1 python -m pytest tests/test_designs_cmd.py -k golden
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import migration
from migration.model.designs import DESIGNS, Design, knob_names
from migration.model.scenarios import SCENARIOS
from migration.report import designs_cmd
from qom.cli import main

GOLDEN = Path(__file__).resolve().parent / "golden" / "designs"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["designs", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(("argv", "golden"), [
    ((), "list.txt"),
    (("qemu-10.0",), "qemu-10.0.txt"),
    (("--scenarios",), "scenarios.txt"),
])
def test_golden_text(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], golden: str) -> None:
    status, out, err = _run(capsys, *argv)
    assert (status, err) == (0, "")
    if os.environ.get("QOMSIM_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / golden).write_text(out, encoding="utf-8")
    assert out == (GOLDEN / golden).read_text(encoding="utf-8")


@pytest.mark.parametrize("argv", [(), ("qemu-9.1",), ("mutex",), ("proposed-singleton-keepalive",),
                                  ("--scenarios",)])
def test_text_fits_80_columns(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    _status, out, _err = _run(capsys, *argv)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_list_names_every_preset_with_its_tag(capsys: pytest.CaptureFixture[str]) -> None:
    _status, out, _err = _run(capsys)
    headings = [line for line in out.splitlines() if line and not line.startswith(" ")][:-2]
    assert headings == [
        *(f"{d.name} (follows QEMU {d.tag})" for d in DESIGNS.values()),
        "proposed-singleton-keepalive (follows QEMU 10.0, the model's own proposal)",
    ]
    assert out.startswith(
        "qemu-9.1 (follows QEMU 9.1)\n"
        "  pointer set once in migration_object_init, never cleared; only\n"
        "  migration_is_idle() checks for NULL; the thread takes its reference inside the\n"
        "  thread function\n\n"
        "two-globals (follows QEMU 9.1)\n")
    assert out.endswith(
        "\n\nA design's knobs: qomsim designs NAME; the scenarios: qomsim designs --scenarios\n"
        "A design file starts from one of these: derive(DESIGNS[NAME], ...).\n")


def test_knob_descriptions_come_from_the_design_docstring() -> None:
    meanings = designs_cmd.knob_descriptions()
    assert list(meanings) == [*knob_names(), "functions"]  # the QEMU functions a design replaces
    assert meanings["pointer_clear"] == "where current_migration is cleared."
    # continuation lines are joined, markup removed
    assert meanings["get_current_asserts"] == (
        'migrate_get_current() asserts the pointer is set (False: it may return NULL and every internal '
        'caller checks, answering "no migration").')
    assert meanings["thread_cleanup"] == "how the migration thread ends (ThreadCleanup)."
    assert meanings["tag"] == ("the QEMU tag whose exported API, class properties and function names the "
                               "design follows (a key of TAGS).")


def test_one_design_shows_each_knob_its_value_meaning_and_choices(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _err = _run(capsys, "qemu-9.1")
    assert status == 0
    assert out.startswith(
        "qemu-9.1 (follows QEMU 9.1)\n"
        "  pointer set once in migration_object_init, never cleared; only\n"
        "  migration_is_idle() checks for NULL; the thread takes its reference inside the\n"
        "  thread function\n\n"
        "Knobs; a design file changes them with\n"
        "  derive(DESIGNS['qemu-9.1'], NAME, DESCRIPTION, knob=value, ...)\n\n"
        "pointer_set = PointerSet.OBJECT_INIT\n"
        "  where current_migration is set.\n"
        "  one of: PointerSet.OBJECT_INIT, PointerSet.INSTANCE_INIT\n\n"
        "init_asserts_unset = True\n"
        "  the setter asserts the pointer is NULL before setting it.\n\n")
    assert ("null_checks = frozenset({'migration_is_idle'})\n"
            "  the exported helpers that check the pointer for NULL.\n"
            "  any set of: migration_file_set_error, migration_is_active,\n"
            "  migration_is_device, migration_is_idle, migration_is_running,\n"
            "  migration_is_setup_or_active, migration_thread_is_self\n") in out
    assert "thread_ref = ThreadRef.IN_THREAD\n" in out
    assert "tag = '9.1'\n" in out
    knob_lines = [line for line in out.splitlines() if " = " in line and not line.startswith(" ")]
    assert [line.partition(" = ")[0] for line in knob_lines] == knob_names()


def test_a_design_file_is_shown_by_its_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.py").write_text(
        "from migration import ALL_HELPERS, DESIGNS, PointerClear, derive\n\n"
        'mine = derive(DESIGNS["qemu-10.0"], "my-design", "clear in finalize if ours",\n'
        "              pointer_clear=PointerClear.FINALIZE_IF_SELF, null_checks=ALL_HELPERS)\n",
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, _err = _run(capsys, "mine.py:mine")
    assert status == 0
    assert out.startswith(
        "my-design (follows QEMU 10.0)\n"
        "  clear in finalize if ours\n\n"
        "Knobs; a design file changes them with\n"
        "  derive(mine, NAME, DESCRIPTION, knob=value, ...)\n\n")
    assert "pointer_clear = PointerClear.FINALIZE_IF_SELF\n" in out
    assert "null_checks = ALL_HELPERS\n" in out
    status, out, _err = _run(capsys, "mine.py:mine", "--json")
    data = json.loads(out)
    assert (data["name"], data["source"], data["tag"]) == ("my-design", "mine.py:mine", "10.0")
    knob = next(k for k in data["knobs"] if k["name"] == "pointer_clear")
    assert knob == {
        "name": "pointer_clear", "value": "finalize-if-self", "python": "PointerClear.FINALIZE_IF_SELF",
        "description": "where current_migration is cleared.",
        "choices": ["PointerClear.NEVER", "PointerClear.FINALIZE", "PointerClear.FINALIZE_IF_SELF",
                    "PointerClear.SHUTDOWN"],
    }


def test_every_python_spelling_evaluates_to_the_value_in_a_design_file() -> None:
    """What ``qomsim designs NAME`` prints can be pasted into a design file that imports ``migration``."""
    namespace = {name: getattr(migration, name) for name in migration.__all__}
    for design in DESIGNS.values():
        for knob in knob_names():
            value = getattr(design, knob)
            assert eval(designs_cmd.python_value(value), namespace) == value, (design.name, knob)


def test_json_list_and_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    _status, out, _err = _run(capsys, "--json")
    data = json.loads(out)
    assert data[0] == {"name": "qemu-9.1", "tag": "9.1", "description": DESIGNS["qemu-9.1"].description,
                       "proposal": False}
    assert [d["name"] for d in data] == [*DESIGNS, "proposed-singleton-keepalive"]
    assert data[-1]["proposal"] is True
    _status, out, _err = _run(capsys, "--scenarios", "--json")
    data = json.loads(out)
    assert [s["id"] for s in data] == list(SCENARIOS)
    assert data[0] == {
        "id": "S1-helper-after-idle-shutdown",
        "description": "a run-state handler calls helpers after an idle migration_shutdown()",
        "program": [{"event": "object_init"}, {"event": "migration_shutdown"},
                    {"event": "vm_shutdown", "vfio": "fails", "vm": "running"}, {"event": "monitor_cleanup"}],
    }


def test_scenarios_show_their_program(capsys: pytest.CaptureFixture[str]) -> None:
    _status, out, _err = _run(capsys, "--scenarios")
    assert out.startswith(
        "S1-helper-after-idle-shutdown\n"
        "  a run-state handler calls helpers after an idle migration_shutdown()\n"
        "  program: object_init(), migration_shutdown(), vm_shutdown(vfio='fails',\n"
        "  vm='running'), monitor_cleanup()\n\n")


@pytest.mark.parametrize(("argv", "message"), [
    (("no-such-design",), "qomsim designs: unknown design 'no-such-design' (a preset id, FILE.py:NAME or "
                          "module:NAME; presets: "),
    (("missing.py:mine",), "qomsim designs: missing.py: no such file\n"),
    (("--scenarios", "qemu-10.0"), "qomsim designs: --scenarios takes no design name\n"),
])
def test_bad_names_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...],
                                       message: str) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_a_design_file_imports_everything_from_migration() -> None:
    """Every name a design file needs comes from ``migration``, and is the model's own object."""
    from migration.model import designs
    from qom.universe import IntrospectionMode, SingletonPolicy

    for name in ("DESIGNS", "Design", "derive", "ALL_HELPERS", "TAGS", "PointerSet", "PointerClear",
                 "Protection", "ThreadRef", "ThreadCleanup"):
        assert getattr(migration, name) is getattr(designs, name), name
    assert (migration.SingletonPolicy, migration.IntrospectionMode) == (SingletonPolicy, IntrospectionMode)
    # every enum a knob takes is exported
    enums = {type(getattr(DESIGNS["qemu-10.0"], k)) for k in knob_names()} - {bool, str, frozenset}
    assert {e.__name__ for e in enums} <= set(migration.__all__)
    assert isinstance(migration.DESIGNS["qemu-10.0"], Design)



def test_a_reader_that_stops_early_is_no_error(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``qomsim designs | head -1``: the rest has nowhere to go, and that is not a failure."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: writing raises BrokenPipeError
    with os.fdopen(write_end, "w") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert main(["designs", "--scenarios", "--json"]) == 0
        monkeypatch.undo()
    assert capsys.readouterr().err == ""
