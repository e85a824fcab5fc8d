"""Progress while ``qomsim decide`` runs: one plain line per result, or a live display with ``rich``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

__all__ = ["PlainReporter", "Reporter", "RichReporter"]


class Reporter(Protocol):
    """Receives progress while the matrix runs."""

    def start(self, designs: Sequence[str], per_design: int) -> None:
        """Called once, before the first check.

        :param designs: design ids, in run order.
        :param per_design: cells plus scenarios per design.
        """

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        """Called after every cell and every scenario replay.

        :param design: the design id.
        :param label: the property or scenario id.
        :param text: the result in a few words.
        :param verdict: ``holds`` or ``fails`` for a cell, None for a scenario.
        """

    def stop(self) -> None:
        """Called once, when the run ends (normally or not)."""


@dataclass
class _Counts:
    holds: int = 0
    fails: int = 0
    scenarios: int = 0

    def add(self, verdict: str | None) -> None:
        if verdict == "holds":
            self.holds += 1
        elif verdict == "fails":
            self.fails += 1
        else:
            self.scenarios += 1

    def __str__(self) -> str:
        return f"holds {self.holds}, fails {self.fails}, scenarios replayed {self.scenarios}"


class PlainReporter:
    """One plain line per result, for logs and pipes.

    :param stream: where to write.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.counts = _Counts()
        self.total = 0
        self.n = 0

    def start(self, designs: Sequence[str], per_design: int) -> None:
        """See :meth:`Reporter.start`."""
        self.total = len(designs) * per_design
        print(f"decide: {len(designs)} designs, {self.total} checks", file=self.stream, flush=True)

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        """See :meth:`Reporter.done`."""
        self.n += 1
        self.counts.add(verdict)
        print(
            f"[{self.n}/{self.total}] {design} {label}: {text} ({self.counts})", file=self.stream, flush=True
        )

    def stop(self) -> None:
        """Nothing to tear down."""


class RichReporter:
    """A progress bar per design and a running count of verdicts, with ``rich``.

    :param stream: the terminal.
    """

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.counts = _Counts()
        self.progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(file=stream),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.count_task: Any = None

    def start(self, designs: Sequence[str], per_design: int) -> None:
        """See :meth:`Reporter.start`."""
        self.progress.start()
        self.count_task = self.progress.add_task(
            "all designs", total=len(designs) * per_design, last=str(self.counts)
        )
        for d in designs:
            self.tasks[d] = self.progress.add_task(d, total=per_design, last="")

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        """See :meth:`Reporter.done`."""
        self.counts.add(verdict)
        self.progress.update(self.tasks[design], advance=1, last=f"{label}: {text}")
        self.progress.update(self.count_task, advance=1, last=str(self.counts))

    def stop(self) -> None:
        """Stop the live display."""
        self.progress.stop()
