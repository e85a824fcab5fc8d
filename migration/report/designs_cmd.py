"""``qomsim designs``: what a design file can be made of.

::

    qomsim designs                      # every preset: its id, QEMU tag and one-line description
    qomsim designs qemu-10.0            # one design's knobs: values as Python, what each knob means
    qomsim designs mine.py:mine         # the same for a design of your own
    qomsim designs --scenarios          # the scenarios the checks run, with their programs
    qomsim designs --json ...           # any of the above as JSON

A knob's meaning is read from the ``:ivar`` lines of :class:`migration.model.designs.Design`'s
docstring, so this listing and the source never disagree.  The text output fits 80 columns.

Exit status: 0, or 2 when the design cannot be found or loaded (one line on stderr).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
import textwrap
from enum import Enum
from typing import Any

from migration.check.registry import PROPOSAL_IDS, all_designs, resolve, source_of
from migration.model.designs import ALL_HELPERS, DESIGNS, TAGS, Design
from migration.model.program import program_to_json
from migration.model.scenarios import SCENARIO_TEXT, SCENARIOS

__all__ = [
    "HELP",
    "WIDTH",
    "add_arguments",
    "design_json",
    "format_design",
    "format_designs",
    "format_scenarios",
    "knob_choices",
    "knob_descriptions",
    "python_value",
    "run",
]

#: the line ``qomsim --help`` shows
HELP = "list the migration designs, a design's knobs, or the scenarios"

#: the width the text output is wrapped to
WIDTH = 80

_INDENT = "  "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``designs`` subcommand's parser."""
    parser.add_argument("design", nargs="?", metavar="NAME",
                        help="show this design's knobs: a preset id, FILE.py:NAME or module:NAME")
    parser.add_argument("--scenarios", action="store_true",
                        help="list the scenarios (spec section 4) with their programs instead")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _plain(text: str) -> str:
    """Sphinx markup to plain words: ````x```` and ``:role:`~a.b.X``` become ``x`` and ``X``."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?(\w+)`", r"\1", text)
    return text.replace("``", "")


def knob_descriptions() -> dict[str, str]:
    """Read each knob's meaning from :class:`~migration.model.designs.Design`'s docstring.

    :return: ``knob -> one sentence``, in the docstring's order, markup removed.
    """
    out: dict[str, str] = {}
    current: str | None = None
    for line in inspect.cleandoc(Design.__doc__ or "").splitlines():
        field = re.match(r":ivar (\w+):\s*(.*)", line)
        if field:
            current = field.group(1)
            out[current] = field.group(2)
        elif current is not None and line.startswith(" ") and line.strip():
            out[current] += " " + line.strip()
        else:
            current = None
    return {k: _plain(v) for k, v in out.items()}


def python_value(value: object) -> str:
    """:param value: a knob's value.
    :return: how a design file writes it (``PointerClear.NEVER``, ``ALL_HELPERS``, ``'10.0'``).
    """
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, frozenset):
        if value == ALL_HELPERS:
            return "ALL_HELPERS"
        return "frozenset({" + ", ".join(repr(v) for v in sorted(value)) + "})" if value else "frozenset()"
    return repr(value)


def knob_choices(design: Design, knob: str) -> list[str]:
    """:param design: any design (for the knob's type).
    :param knob: a knob name.
    :return: the values the knob can take, as Python (a set knob: the helpers it may hold).
    """
    value = getattr(design, knob)
    if isinstance(value, Enum):
        return [python_value(member) for member in type(value)]
    if isinstance(value, bool):
        return ["True", "False"]  # the text output leaves these out: a bool says so itself
    if isinstance(value, frozenset):
        return sorted(ALL_HELPERS)
    if knob == "tag":
        return [repr(t) for t in TAGS]
    return []


def _fill(text: str, indent: str = _INDENT) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def _heading(design: Design) -> str:
    mark = ", the model's own proposal" if design.name in PROPOSAL_IDS else ""
    return f"{design.name} (follows QEMU {design.tag}{mark})"


def format_designs(designs: dict[str, Design]) -> str:
    """:param designs: ``id -> design``.
    :return: the text of ``qomsim designs``: each id with its tag and description.
    """
    blocks = [f"{_heading(d)}\n{_fill(d.description)}" for d in designs.values()]
    footer = ("A design's knobs: qomsim designs NAME; the scenarios: qomsim designs --scenarios\n"
              "A design file starts from one of these: derive(DESIGNS[NAME], ...).")
    return "\n\n".join([*blocks, footer]) + "\n"


def format_design(design: Design) -> str:
    """:param design: a design.
    :return: the text of ``qomsim designs NAME``: the description, then each knob, its value as Python,
        what it means and the values it can take.
    """
    meanings = knob_descriptions()
    lines = [_heading(design), _fill(design.description), ""]
    source = source_of(design)
    if source != design.name:  # loaded from FILE.py:NAME or module:NAME
        base: str | None = source.rpartition(":")[2]
    else:
        base = f"DESIGNS[{design.name!r}]" if DESIGNS.get(design.name) == design else None
    if base is None:  # a proposal of the model's own: not in DESIGNS
        lines.append("Knobs (copy the ones that differ into derive(DESIGNS['qemu-10.0'], ...)):")
    else:
        lines.append("Knobs; a design file changes them with")
        lines.append(f"{_INDENT}derive({base}, NAME, DESCRIPTION, knob=value, ...)")
    for knob, value in _knob_values(design).items():
        lines.append("")
        lines.append(f"{knob} = {python_value(value)}")
        lines.append(_fill(meanings.get(knob, "")))
        choices = knob_choices(design, knob)
        if isinstance(value, frozenset):
            lines.append(_fill("any set of: " + ", ".join(choices)))
        elif choices and not isinstance(value, bool):
            lines.append(_fill("one of: " + ", ".join(choices)))
    return "\n".join(lines) + "\n"


def format_scenarios() -> str:
    """:return: the text of ``qomsim designs --scenarios``: each scenario, what it stands for, its program."""
    blocks = []
    for sid, program in SCENARIOS.items():
        events = ", ".join(str(e) for e in program)
        blocks.append(f"{sid}\n{_fill(SCENARIO_TEXT[sid])}\n{_fill('program: ' + events, _INDENT)}")
    footer = ("Each program runs under every schedule of the actors it starts (T_mig, bottom\n"
              "halves, the incoming coroutine, the monitor I/O thread); docs/model.md explains\n"
              "events, actors and schedules.")
    return "\n\n".join([*blocks, footer]) + "\n"


def _knob_values(design: Design) -> dict[str, Any]:
    return {k: getattr(design, k) for k in design.knobs()}


def design_json(design: Design) -> dict[str, Any]:
    """:param design: a design.
    :return: ``qomsim designs NAME --json``: name, description, tag, how commands name it, and each knob
        with its JSON value, its Python spelling, its meaning and its choices.
    """
    meanings = knob_descriptions()
    json_values = design.knobs()
    return {
        "name": design.name,
        "description": design.description,
        "tag": design.tag,
        "source": source_of(design),
        "knobs": [
            {"name": k, "value": json_values[k], "python": python_value(v),
             "description": meanings.get(k, ""), "choices": knob_choices(design, k)}
            for k, v in _knob_values(design).items()
        ],
    }


def run(args: argparse.Namespace) -> int:
    """:param args: the parsed ``designs`` arguments.
    :return: the exit status.
    """
    if args.scenarios and args.design is not None:
        print("qomsim designs: --scenarios takes no design name", file=sys.stderr)
        return 2
    data: Any
    if args.scenarios:
        data = [{"id": sid, "description": SCENARIO_TEXT[sid], "program": program_to_json(p)}
                for sid, p in SCENARIOS.items()]
        text = format_scenarios()
    elif args.design is None:
        designs = all_designs()
        data = [{"name": d.name, "tag": d.tag, "description": d.description,
                 "proposal": d.name in PROPOSAL_IDS} for d in designs.values()]
        text = format_designs(designs)
    else:
        try:
            design = resolve(args.design)
        except ValueError as exc:
            print(f"qomsim designs: {exc}", file=sys.stderr)
            return 2
        data = design_json(design)
        text = format_design(design)
    try:
        sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.json else text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (head, less) stopped early: nothing went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
