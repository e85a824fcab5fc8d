"""The terminal's summary of a ``qomsim decide`` run, readable at 80 columns.

One block per design, never a table whose columns a narrow terminal would cut: the design's full name
and the bound its verdicts rest on (with its programs and states, as the notes say them), then the
properties that fail, each with its fault, and those that hold, by number.  The legend (what ``P1``...
stand for, and the marks) is printed in full on every run, whatever the run found::

    qemu-9.1: bound 1, 1,022 programs, 6,337 states
      fails  P1 UAF, P2 NULL_DEREF
      holds  P4 P7 P8 P9
"""

from __future__ import annotations

import textwrap
from typing import TextIO

from migration.model.results import CellResult
from migration.report import notes
from migration.report.markdown import number

__all__ = ["LEGEND", "cell_brief", "print_summary", "summary_lines"]

#: what the marks of the summary and of the progress lines mean (printed whole on every run)
LEGEND = ("* = holds on sampled evidence only (Hypothesis); - = not reached (the budget ran out); every "
          "other verdict rests on every schedule of the scenarios and every program of the bound shown")


def cell_brief(c: CellResult) -> str:
    """:param c: a cell.
    :return: its verdict in a few words, for the terminal (``holds``, ``holds*``, ``fails UAF``)."""
    if c.verdict == "holds":
        return "holds*" if c.evidence == "sampled" else "holds"
    return f"fails {c.outcome.name}"


def _wrap(head: str, items: list[str], width: int) -> list[str]:
    return textwrap.wrap(" ".join(items), width, initial_indent=head, subsequent_indent=" " * len(head),
                         break_on_hyphens=False, break_long_words=False) or [head.rstrip()]


def summary_lines(matrix: notes.Matrix, width: int = 80) -> list[str]:
    """The summary as plain text lines of at most ``width`` characters (a design or property name longer
    than that is printed whole on its own line, never cut).

    :param matrix: the run's results.
    :param width: the terminal's width.
    :return: the legend, then one block per design.
    """
    props = matrix.properties
    out = [f"qomsim decide: {len(matrix.designs)} designs x {len(props)} properties"]
    out += _wrap("", [f"P{i}={p}" for i, p in enumerate(props, 1)], width)
    out += textwrap.wrap(LEGEND, width)
    for d in matrix.designs:
        cells = [(i, matrix.cell(d, p)) for i, p in enumerate(props, 1)]
        spec = next((s for _i, c in cells if c is not None and (s := c.spec()) is not None), None)
        head = d + ":"
        if spec is not None:
            c0 = next(c for _i, c in cells if c is not None and c.spec() is not None)
            head += f" bound {spec}, {number(c0.programs)} programs, {number(c0.states)} states"
        out += textwrap.wrap(head, width, subsequent_indent="    ", break_on_hyphens=False,
                             break_long_words=False)
        fails = [f"P{i} {c.outcome.name}," for i, c in cells if c is not None and c.verdict == "fails"]
        holds = [f"P{i}" + ("*" if c.evidence == "sampled" else "") for i, c in cells
                 if c is not None and c.verdict == "holds"]
        missing = [f"P{i}" for i, c in cells if c is None]
        for label, items in (("fails", fails), ("holds", holds), ("-    ", missing)):
            if items:
                items[-1] = items[-1].rstrip(",")
                out += _wrap(f"  {label}  ", items, width)
    if matrix.confirm_spec is not None and matrix.confirmed:
        out += textwrap.wrap(f"confirmed at {matrix.confirm_spec}: " + ", ".join(matrix.confirmed), width)
    return out


def print_summary(matrix: notes.Matrix, stream: TextIO, width: int = 80) -> None:
    """Print the summary.

    :param matrix: the run's results.
    :param stream: where to print.
    :param width: the terminal's width (80 for a pipe).
    """
    for line in summary_lines(matrix, width):
        print(line, file=stream)
