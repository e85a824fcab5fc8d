"""The terminal's summary of a ``qomsim decide`` run: designs as rows, properties as columns."""

from __future__ import annotations

from typing import TextIO

from migration.model.results import CellResult
from migration.report import notes

__all__ = ["cell_brief", "print_summary", "summary_lines"]


def cell_brief(c: CellResult) -> str:
    """:param c: a cell.
    :return: its verdict in a few characters, for the terminal."""
    ev = {"exhaustive": "E", "bounded": "B"}.get(c.evidence, "S")
    return f"holds {ev}" if c.verdict == "holds" else f"fails {c.outcome.name} {ev}"


def summary_lines(matrix: notes.Matrix) -> list[str]:
    """The summary table as plain text: designs as rows, properties as columns.

    :param matrix: the run's results.
    :return: lines (E = exhaustive evidence, B = bounded, S = sampled, ``-`` = not reached).
    """
    header = ["design", *matrix.properties]
    rows = [
        [d, *(cell_brief(c) if (c := matrix.cell(d, p)) is not None else "-" for p in matrix.properties)]
        for d in matrix.designs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*r).rstrip() for r in rows)
    out.append("E = exhaustive evidence, B = every program up to the bound, S = sampled evidence, "
               "- = not reached")
    return out


def print_summary(matrix: notes.Matrix, stream: TextIO, rich_ok: bool) -> None:
    """Print the summary table.

    :param matrix: the run's results.
    :param stream: where to print.
    :param rich_ok: draw it with ``rich`` (a terminal).
    """
    if not rich_ok:
        for line in summary_lines(matrix):
            print(line, file=stream)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="qomsim decide: designs × properties",
                  caption="E = exhaustive, B = bounded, S = sampled")
    table.add_column("design", no_wrap=True)
    for p in matrix.properties:
        table.add_column(p)
    for d in matrix.designs:
        row = [d]
        for p in matrix.properties:
            c = matrix.cell(d, p)
            if c is None:
                row.append("[dim]not reached[/dim]")
            elif c.verdict == "holds":
                row.append(f"[green]{cell_brief(c)}[/green]")
            else:
                row.append(f"[red]{cell_brief(c)}[/red]")
        table.add_row(*row)
    Console(file=stream).print(table)
