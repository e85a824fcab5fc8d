"""``qomsim replay FILE``: re-run a saved counterexample and print its trace step by step.

``FILE`` is a counterexample saved by :func:`migration.check.save_counterexample`, by
``qomsim serve --trace``, or the JSON written by ``qomsim check --json`` (``--property`` picks
the cell; default: the first failing one).  The design is rebuilt from the knobs the file
carries, so no registry is needed (an old file without knobs names a preset id).  A file is data:
a ``FILE.py:NAME`` or ``module:NAME`` it names is never loaded (that would run code someone sent
you); ``--design`` on the command line names the design instead, and is the only way to replay a
file without knobs whose design is not a preset.

The file must be a regular file of at most 64 MiB
(:data:`~migration.check.cell.MAX_COUNTEREXAMPLE_SIZE`).  Every text taken from it is printed with
its control characters escaped.

Before anything runs, the file is checked: every field present and well typed, every event
known to the model, the schedule's choices non-negative integers.  While it runs, every
choice must name an actor that could run at that step, and the schedule may not be longer
than the run.  The replay reproduces the file only when it hits the same fault *and* the
same trace, step by step (a trace that was not produced by the model is "not reproduced").

Exit status: 0 reproduced, 1 not reproduced, 2 the file or the command line is unusable
(one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

from migration.check.cell import MAX_COUNTEREXAMPLE_SIZE, Counterexample
from migration.check.properties import PROPERTY_CHECKS, violation
from migration.check.registry import RUNS_CODE, design_from_knobs, resolve, resolve_preset
from migration.model.designs import Design
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.program import Program, program_from_json, program_to_json
from migration.model.results import RunResult
from migration.model.run import run_program
from migration.model.runtime import Actor, World
from migration.model.scenarios import SCENARIOS
from qom.errors import escape_text
from qom.fileio import read_file

__all__ = ["EXIT_ERROR", "EXIT_NOT_REPRODUCED", "HELP", "ReplayError", "add_arguments", "failing_cells",
           "load", "origin", "reproduced", "run", "run_checked"]

#: the line ``qomsim --help`` shows
HELP = "re-run a saved counterexample and print its trace"

EXIT_NOT_REPRODUCED = 1
EXIT_ERROR = 2


class ReplayError(ValueError):
    """The file cannot be replayed; the message is one line."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``replay`` subcommand's parser."""
    parser.add_argument("file", help="a counterexample JSON file (never runs code: a FILE.py:NAME or "
                        "module:NAME design it names is not loaded)")
    parser.add_argument("--property", help="with a 'qomsim check --json' file: the cell to replay")
    parser.add_argument("--design", metavar="DESIGN",
                        help=f"replay under this design instead of the file's: a preset id, FILE.py:NAME or "
                        f"module:NAME ({RUNS_CODE})")


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in data:
        raise ReplayError(f"{what} lacks '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ReplayError(f"{what}: '{key}' must be {_article(names)}, not {json.dumps(value)[:60]}")
    return value


def _article(names: str) -> str:
    words = {"str": "a string", "int": "an integer", "list": "a list", "dict": "an object",
             "NoneType": "null"}
    return " or ".join(words.get(n, n) for n in names.split(" or "))


def _check_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReplayError(f"{where} must be an integer, not {json.dumps(value)[:60]}")
    return value


def _parse_fault(data: object, what: str) -> Fault:
    if not isinstance(data, dict):
        raise ReplayError(f"{what} must be an object")
    outcome = _need(data, "outcome", str, what)
    try:
        out = Outcome(outcome)
    except ValueError:
        raise ReplayError(f"{what}: unknown outcome '{outcome}'") from None
    step = _check_int(_need(data, "step", int, what), f"{what}: 'step'")
    return Fault(out, step, _need(data, "actor", str, what), _need(data, "obj", str, what),
                 _need(data, "detail", str, what))


def _parse_trace(data: object) -> list[TraceStep]:
    if not isinstance(data, list):
        raise ReplayError("'trace' must be a list")
    out = []
    for i, t in enumerate(data):
        what = f"trace[{i}]"
        if not isinstance(t, dict):
            raise ReplayError(f"{what} must be an object")
        index = _check_int(_need(t, "index", int, what), f"{what}: 'index'")
        if index != i:
            raise ReplayError(f"{what}: 'index' is {index}, expected {i}")
        actor, action, obj = (_need(t, k, str, what) for k in ("actor", "action", "obj"))
        ref = _need(t, "refcount", (int, type(None)), what)
        if isinstance(ref, bool):
            raise ReplayError(f"{what}: 'refcount' must be an integer or null")
        function = t.get("function", "")
        if not isinstance(function, str):
            raise ReplayError(f"{what}: 'function' must be a string")
        out.append(TraceStep(index, actor, action, obj, ref, _need(t, "note", str, what), function))
    return out


def parse_counterexample(data: object) -> Counterexample:
    """Check and build a counterexample from its JSON form.

    :param data: the decoded JSON.
    :return: the counterexample.
    :raise ReplayError: naming the first problem, in one line.
    """
    if not isinstance(data, dict):
        raise ReplayError("not a counterexample (expected a JSON object)")
    what = "the counterexample"
    design = _need(data, "design", str, what)
    prop = _need(data, "property", str, what)
    if prop not in PROPERTY_CHECKS:
        raise ReplayError(f"unknown property '{prop}' (known: {', '.join(PROPERTY_CHECKS)})")
    scenario = _need(data, "scenario", (str, type(None)), what)
    program = _need(data, "program", list, what)
    for i, e in enumerate(program):
        if not isinstance(e, dict) or not isinstance(e.get("event"), str):
            raise ReplayError(f"program[{i}] must be an object with a string 'event'")
    try:
        program_from_json(program)
    except ValueError as exc:
        raise ReplayError(f"program: {exc}") from None
    schedule = _need(data, "schedule", list, what)
    for i, c in enumerate(schedule):
        if _check_int(c, f"schedule[{i}]") < 0:
            raise ReplayError(f"schedule[{i}] is {c}: a choice cannot be negative")
    fault = _parse_fault(data.get("fault"), "'fault'") if "fault" in data else None
    if fault is None:
        raise ReplayError(f"{what} lacks 'fault'")
    trace = _parse_trace(_need(data, "trace", list, what))
    knobs = data.get("knobs")
    if knobs is not None and not isinstance(knobs, dict):
        raise ReplayError("'knobs' must be an object")
    description = data.get("description", "")
    source = data.get("source")
    if not isinstance(description, str) or not (source is None or isinstance(source, str)):
        raise ReplayError("'description' and 'source' must be strings")
    return Counterexample(design, prop, scenario, [dict(e) for e in program], list(schedule), fault, trace,
                          knobs=knobs, description=description, source=source)


def load(path: str, property_id: str | None = None) -> Counterexample:
    """:param path: the file.
    :param property_id: for a ``check --json`` file, which cell.
    :return: the counterexample.
    :raise ReplayError: when the file is unreadable or holds no (well-formed, matching) counterexample.
    """
    try:
        text = read_file(path, MAX_COUNTEREXAMPLE_SIZE).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReplayError(f"{path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ReplayError(f"{path}: not JSON (nested too deeply)") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ReplayError(f"{path}: not JSON qomsim can read ({exc.args[0]})") from None
    if isinstance(data, dict) and "cells" in data:
        failing = failing_cells(path, data["cells"])
        for i, prop in failing:
            if property_id is None or prop == property_id:
                try:
                    return parse_counterexample(data["cells"][i]["counterexample"])
                except ReplayError as exc:
                    raise ReplayError(f"{path}: cells[{i}]: {exc}") from None
        raise ReplayError(f"{path}: no counterexample" + (f" for {property_id}" if property_id else ""))
    try:
        return parse_counterexample(data)
    except ReplayError as exc:
        raise ReplayError(f"{path}: {exc}") from None


def failing_cells(path: str, cells: object) -> list[tuple[int, str]]:
    """:param path: the ``check --json`` file (for messages).
    :param cells: its ``cells``.
    :return: ``(index, property)`` of every cell with a counterexample, in file order.
    :raise ReplayError: when ``cells`` is not a list of objects.
    """
    if not isinstance(cells, list):
        raise ReplayError(f"{path}: 'cells' must be a list")
    out = []
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise ReplayError(f"{path}: cells[{i}] must be an object")
        if cell.get("counterexample") is not None:
            out.append((i, str(cell.get("property"))))
    return out


def _others(path: str, property_id: str | None) -> str | None:
    """:return: for a ``check --json`` file with several failing cells replayed without ``--property``,
        a line saying which one is replayed and how to pick another (else ``None``)."""
    if property_id is not None:
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError, ValueError, RecursionError, ReplayError):
        data = json.loads(read_file(path, MAX_COUNTEREXAMPLE_SIZE).decode("utf-8"))
        if isinstance(data, dict) and "cells" in data:
            props = [p for _i, p in failing_cells(path, data["cells"])]
            if len(props) > 1:
                return (f"{path} holds {len(props)} counterexamples ({', '.join(props)}); replaying the "
                        f"first, {props[0]}: pick another with --property ID")
    return None


def origin(cx: Counterexample) -> str:
    """:param cx: a counterexample.
    :return: where its program comes from: its scenario, or a program of its own."""
    if cx.scenario:
        return f"scenario {cx.scenario}"
    same = [sid for sid, prog in SCENARIOS.items() if program_to_json(prog) == cx.program]
    if same:
        return f"the program of scenario {same[0]}"
    return ("a program of its own (not one of the scenarios: drawn by Hypothesis, found by the bounded "
            "exploration, or recorded live by qomsim serve --trace)")


def design_of(cx: Counterexample, design: str | None = None) -> Design:
    """:param cx: a counterexample.
    :param design: the ``--design`` the user gave, if any (a file or a module is loaded only from here).
    :return: that design, else the file's: from its knobs, else from the preset id it names.
    :raise ReplayError: when the knobs are malformed, the id is not a preset, or ``design`` is unusable.
    """
    if design is not None:
        try:
            return resolve(design)
        except ValueError as exc:
            raise ReplayError(f"--design {exc.args[0]}") from None
    shown = escape_text(cx.design)
    try:
        if cx.knobs is not None:
            return design_from_knobs(cx.design, cx.description, cx.knobs)
        where, sep, name = cx.design.rpartition(":")
        if sep and where and name.isidentifier():
            raise ReplayError(f"design '{shown}': the file carries no knobs, and a design the file names is "
                              f"never loaded (it would run code); if you trust {escape_text(where)}, "
                              f"give --design {shown}")
        return resolve_preset(cx.design)
    except ValueError as exc:
        if isinstance(exc, ReplayError):
            raise
        raise ReplayError(f"design '{shown}': {exc.args[0]}") from None


def run_checked(cx: Counterexample, design_spec: str | None = None) -> RunResult:
    """Re-run a counterexample, checking that every choice of its schedule is one the scheduler had.

    :param cx: the counterexample.
    :param design_spec: the ``--design`` the user gave, if any (see :func:`design_of`).
    :return: the run.
    :raise ReplayError: when the design is unusable, a choice is out of range or the schedule is longer
        than the run.
    """
    design = design_of(cx, design_spec)
    program: Program = program_from_json(cx.program)
    bad: list[str] = []

    def choose(step: int, enabled: list[Actor], world: World) -> int:
        if step < len(cx.schedule):
            c = cx.schedule[step]
            if c >= len(enabled):
                if not bad:
                    bad.append(f"schedule[{step}] is {c}, but only {len(enabled)} actor(s) could run "
                               f"at that step ({', '.join(a.name for a in enabled)})")
                return 0
            return c
        return 0

    chooser: Callable[[int, list[Any], Any], int] = choose
    r = run_program(design, program, (), scenario=cx.scenario, choose=chooser)
    if bad:
        raise ReplayError(bad[0])
    if len(cx.schedule) > len(r.schedule):
        raise ReplayError(f"the schedule has {len(cx.schedule)} choices, but the run took only "
                          f"{len(r.schedule)} steps")
    return r


def reproduced(saved: Fault, got: Fault | None) -> bool:
    """:param saved: the saved fault.
    :param got: the replay's fault for the same property.
    :return: whether they are the same fault (outcome, step, actor, object, detail).
    """
    return got is not None and (got.outcome, got.step, got.actor, got.obj, got.detail) == (
        saved.outcome, saved.step, saved.actor, saved.obj, saved.detail)


def first_trace_difference(saved: list[TraceStep], got: list[TraceStep]) -> str | None:
    """:return: where the replayed trace departs from the saved one, or ``None`` when they are equal."""
    for a, b in zip(saved, got, strict=False):
        if a != b:
            return f"step {a.index}: saved '{a}', replayed '{b}'"
    if len(saved) != len(got):
        return f"the saved trace has {len(saved)} steps, the replay {len(got)}"
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim replay``.

    :param args: the parsed arguments.
    :return: 0 if the replay reproduced the fault and the trace, 1 if not, 2 if the file is unusable.
    """
    try:
        cx = load(args.file, args.property)
        r = run_checked(cx, getattr(args, "design", None))
    except ReplayError as exc:
        print(f"qomsim replay: {_shown(str(exc))}", file=sys.stderr)
        return EXIT_ERROR

    def say(line: str) -> None:
        print(_shown(line))

    others = _others(args.file, args.property)
    if others is not None:
        say(others)
    say(f"design {cx.design}, property {cx.property}, {origin(cx)}")
    say("program: " + "; ".join(e["event"] + "(" + ", ".join(f"{k}={v!r}" for k, v in e.items()
                                                           if k != "event") + ")" for e in cx.program))
    say(f"schedule: {cx.schedule}")
    for step in r.trace:
        say(str(step))
    got = violation(cx.property, r)
    say(f"saved fault:    {cx.fault}")
    say(f"replayed fault: {got if got is not None else 'none'}")
    diff = first_trace_difference(cx.trace, r.trace)
    if diff is not None:
        say(f"trace differs at {diff}")
    same = reproduced(cx.fault, got) and diff is None
    say("reproduced: yes" if same else "reproduced: NO")
    return 0 if same else EXIT_NOT_REPRODUCED


def _shown(line: str) -> str:
    """:return: ``line`` as it is safe to print: text from the file may hold terminal escapes."""
    return line if line.isprintable() else escape_text(line)
