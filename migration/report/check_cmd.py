"""``qomsim check``: check one migration design against the properties.

::

    qomsim check --design qemu-10.0
    qomsim check --design two-globals --property no-use-after-free --json cx.json
    qomsim check --design mutex --scenario S9-lock-order:b --exhaustive
    qomsim check --design qemu-10.0 --bound 3 --workers 2

Prints a verdict table (with ``rich`` on a terminal, plain lines otherwise) and, with
``--json``, saves the results and every counterexample (re-run them with ``qomsim replay``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from migration.check.bounded import BOUND_FORMS, COVERING_BOUND, DEFAULT_BOUND, Bound
from migration.check.cell import PROPERTIES, CellResult, check_cell, resolve_design
from migration.check.registry import RUNS_CODE, design_ids, source_of
from migration.check.workers import SchedulerUnreachable, explore_designs
from migration.model.scenarios import SCENARIOS
from migration.report.progress import LongStep
from qom.errors import escape_text
from qom.fileio import cannot_write, refuse_target, write_file

__all__ = [
    "HELP", "add_arguments", "add_bound_arguments", "bound_of", "bound_type", "database_of", "format_plain",
    "local_cores", "positive", "run", "terminal_lines", "verdict_text", "where_found",
]

#: the line ``qomsim --help`` shows
HELP = "check one migration design against the properties"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the ``check`` subcommand's parser."""
    parser.add_argument("--design", required=True,
                        help=f"a preset id ({', '.join(design_ids())}), FILE.py:NAME or module:NAME "
                        f"({RUNS_CODE})")
    parser.add_argument("--property", action="append", choices=PROPERTIES,
                        help="a property id (repeatable; default: all)")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="enumerate only this scenario (repeatable; default: all)")
    parser.add_argument("--exhaustive", action="store_true",
                        help="enumeration only: no Hypothesis sampling after it")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    parser.add_argument("--examples", type=int, default=25,
                        help="Hypothesis examples per property (default 25)")
    parser.add_argument("--json", metavar="FILE",
                        help="save results and counterexamples as JSON (a new file, or a regular one: "
                        "replaced)")
    add_bound_arguments(parser)


def local_cores() -> int:
    """:return: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def add_bound_arguments(parser: argparse.ArgumentParser, workers: int = 1) -> None:
    """The bounded exploration's options (shared with ``qomsim decide``).

    :param parser: a subcommand's parser.
    :param workers: the default of ``--workers``.
    """
    parser.add_argument("--bound", type=bound_type("-1"), default=Bound.of(DEFAULT_BOUND), metavar="K",
                        help="explore every program of up to K runtime events and every schedule "
                        f"(default {DEFAULT_BOUND}; -1: scenarios and sampling only); K/A: at most A of them "
                        "start a background actor; several joined with '+'; 'covering': "
                        f"{COVERING_BOUND}, the smallest such bound that takes in every scenario of the "
                        "spec's section 4")
    here = "1: here" if workers == 1 else f"{workers}, this machine's cores"
    parser.add_argument("--workers", type=positive("worker count"), default=workers, metavar="N",
                        help=f"explore on N local worker processes (Dask LocalCluster; 1: here; default "
                        f"{here})")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="explore on the Dask cluster whose scheduler is ADDRESS (e.g. tcp://host:8786)")
    parser.add_argument("--por", action="store_true",
                        help="add a partial-order reduction (sleep sets) to the bounded exploration's "
                        "state hashing: the same verdicts, fewer schedules (docs/performance.md, figure 10b)")
    parser.add_argument("--no-database", action="store_true",
                        help="do not keep Hypothesis's counterexamples in .hypothesis/ (default: keep them, "
                        "and try them first next time)")


def database_of(args: argparse.Namespace) -> str | None:
    """:param args: parsed arguments with :func:`add_bound_arguments`'s options.
    :return: Hypothesis's example database directory, ``.hypothesis/examples`` beside the run, or ``None``."""
    return None if args.no_database else str(Path(".hypothesis") / "examples")


def bound_type(off: str, said: bool = False) -> Callable[[str], Bound | None]:
    """:param off: the value that asks for no bound (``None``).
    :param said: name ``off`` in the error message beside the bound's forms.
    :return: an argparse ``type``: a :class:`Bound`, or ``None`` for ``off``."""
    def parse(text: str) -> Bound | None:
        if text.strip() == off:
            return None
        try:
            return Bound.parse(text)
        except ValueError as exc:
            if not said:
                raise argparse.ArgumentTypeError(str(exc)) from None
            raise argparse.ArgumentTypeError(
                f"invalid bound '{text}': expected {BOUND_FORMS}, 'covering' or '{off}'") from None
    return parse


def positive(what: str) -> Callable[[str], int]:
    """:param what: what the number counts (``worker count``), for the message.
    :return: an argparse type that takes an integer >= 1."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise argparse.ArgumentTypeError(f"invalid {what} '{text}': expected an integer >= 1")
        return n

    return parse


def bound_of(args: argparse.Namespace) -> Bound | None:
    """:param args: parsed arguments with :func:`add_bound_arguments`'s options.
    :return: the bound, or ``None`` for no bounded exploration."""
    b: Bound | None = args.bound
    return b


def verdict_text(c: CellResult) -> str:
    """:param c: a cell.
    :return: its verdict with the bound it rests on."""
    spec = c.spec()
    if c.verdict == "holds" and c.evidence == "bounded" and spec is not None:
        return f"holds for {Bound.parse(spec).every()} ({c.programs} programs, {c.states} distinct states)"
    if c.verdict == "fails":
        return f"fails with {c.outcome.value}" + ("" if spec is None else f" (bound {spec})")
    return f"holds ({c.evidence})"


def where_found(c: CellResult) -> str:
    """:param c: a failing cell.
    :return: where its counterexample comes from: its scenario, or the kind of program."""
    cx = c.counterexample
    if cx is not None and cx.scenario:
        return cx.scenario
    return "a program of the bound" if c.evidence == "bounded" else "a program Hypothesis drew"


def format_plain(cells: list[CellResult]) -> list[str]:
    """:param cells: results.
    :return: one plain line per cell.
    """
    lines = []
    for c in cells:
        where = ""
        if c.counterexample is not None:
            f = c.counterexample.fault
            where = f"  [{where_found(c)}: {f}]"
        bound = "" if c.bound is None else f", bound {c.spec()}: {c.programs} programs, {c.states} states"
        lines.append(f"{c.design} {c.property}: {c.verdict} ({c.evidence}, {c.outcome.value}, "
                     f"{c.schedules_explored} schedules, {c.examples_sampled} examples{bound}){where}")
    return lines


def terminal_lines(cells: list[CellResult], width: int = 80) -> list[str]:
    """The verdicts for a terminal: the design and its bound once, then one block per property, wrapped at
    ``width`` (a name is never cut; one longer than ``width`` stands whole on its line).

    :param cells: results, all of one design.
    :param width: the terminal's width.
    :return: lines.
    """
    if not cells:
        return ["no cells"]
    out = [f"design {escape_text(cells[0].design)}"]
    spec = cells[0].spec()
    if spec is not None:
        c = cells[0]
        out[0] += (f": {Bound.parse(spec).every()} (bound {spec}, {c.programs:,} programs, "
                   f"{c.states:,} states)")
    out = textwrap.wrap(out[0], width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)
    for c in cells:
        if c.verdict == "holds":
            said = {"exhaustive": "every schedule of the scenarios", "bounded": "every program of the bound",
                    "sampled": f"sampled: {c.examples_sampled:,} Hypothesis examples"}[c.evidence]
            text = f"{c.property}: holds ({said})"
        else:
            text = f"{c.property}: fails with {c.outcome.value}"
            cx = c.counterexample
            if cx is not None:
                text += f" in {where_found(c)}: {cx.fault}"
        out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="      ",
                             break_on_hyphens=False, break_long_words=False)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim check``.

    :param args: the parsed arguments.
    :return: 0 if every property holds, 1 if one fails, 2 on a usage error or an unreachable
        ``--scheduler``.
    """
    try:
        design = resolve_design(args.design)
    except KeyError as exc:
        print(f"qomsim check: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        try:
            refuse_target(args.json)  # before the run, which may be long
        except OSError as exc:
            print(f"qomsim check: {cannot_write(args.json, exc)}", file=sys.stderr)
            return 2
    props = args.property or list(PROPERTIES)
    try:
        bound = bound_of(args)
        if bound is not None:  # the long step, with its progress on stderr; the cells then read its result
            with LongStep(sys.stderr, f"check: exploring {design.name} at bound {bound}",
                          tty=sys.stderr.isatty()) as step:
                explore_designs([design], bound, workers=args.workers, scheduler=args.scheduler, por=args.por,
                                progress=step.update)
        cells = [
            check_cell(design, p, seed=args.seed, exhaustive=True,
                       max_examples=0 if args.exhaustive else args.examples, scenarios=args.scenario,
                       bound=bound_of(args), workers=args.workers, scheduler=args.scheduler,
                       database=database_of(args), por=args.por)
            for p in props
        ]
    except SchedulerUnreachable as exc:
        print(f"qomsim check: {exc}", file=sys.stderr)
        return 2
    if sys.stdout.isatty():
        for line in terminal_lines(cells, shutil.get_terminal_size().columns):
            print(line)
    else:
        for line in format_plain(cells):
            print(escape_text(line))
    if args.json:
        out: dict[str, Any] = {
            "design": design.name,
            "source": source_of(design),
            "description": design.description,
            "knobs": design.knobs(),
            "cells": [
                {"property": c.property, "verdict": c.verdict, "statement": verdict_text(c),
                 "bound": c.bound, "bound_spec": c.bound_spec, "programs": c.programs, "states": c.states,
                 "evidence": c.evidence,
                 "outcome": c.outcome.value, "schedules_explored": c.schedules_explored,
                 "examples_sampled": c.examples_sampled,
                 "counterexample": None if c.counterexample is None else c.counterexample.to_json()}
                for c in cells
            ],
        }
        try:
            write_file(args.json, (json.dumps(out, indent=2) + "\n").encode("utf-8"))
        except OSError as exc:
            print(f"qomsim check: {cannot_write(args.json, exc)}", file=sys.stderr)
            return 2
    return 1 if any(c.verdict == "fails" for c in cells) else 0
