"""Progress while ``qomsim decide`` and ``qomsim check`` run.

Two kinds: a :class:`Reporter` hears of every cell and scenario of the matrix (one plain line per result,
or a live display with ``rich``); a :class:`LongStep` shows a step that can take minutes (the bounded
exploration, the confirmation at a larger bound): after :data:`QUIET_S` seconds it shows how far it has
got (tasks done of all, runs, states, states per second up to the last count, elapsed time, and a guess at
the time left), on one line redrawn every second on a terminal, as a plain line every :data:`PLAIN_EVERY_S`
seconds otherwise (a log or a pipe), always on stderr.  A timer thread keeps the line going while nothing
reports, so a step never looks frozen; tests give it a clock and call :meth:`LongStep.tick` themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TextIO

from migration.check.workers import Progress

__all__ = ["PLAIN_EVERY_S", "QUIET_S", "LongStep", "PlainReporter", "Reporter", "RichReporter", "duration"]

#: a step shorter than this shows nothing
QUIET_S = 2.0
#: seconds between two plain progress lines (stderr not a terminal)
PLAIN_EVERY_S = 10.0


def duration(seconds: float) -> str:
    """:param seconds: a duration.
    :return: it as ``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LongStep:
    """Shows how far a long step has got (see the module docstring).

    :param stream: where to write (stderr).
    :param title: what the step does, e.g. ``decide: exploring 11 designs at bound 1``.
    :param tty: ``stream`` is a terminal (one line redrawn) or not (a plain line now and then).
    :param clock: a monotonic clock (injectable for tests).
    :param timer: start a thread that calls :meth:`tick` every second (tests pass False).
    """

    def __init__(self, stream: TextIO, title: str, *, tty: bool, clock: Callable[[], float] = time.monotonic,
                 timer: bool = True) -> None:
        self.stream, self.title, self.tty, self.clock = stream, title, tty, clock
        self.start = clock()
        self.last: float | None = None  # when a line was last written
        self.now: Progress | None = None
        #: when the states counted last changed: on a cluster they change only as a task ends, so the rate
        #: is the states over the time up to then, never over a time that includes work not counted yet
        self.counted_at: float | None = None
        self.counted = -1  #: the states counted then (a number: the explorer updates one Progress in place)
        self.lock = threading.Lock()
        self.drawn = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick_every_second, daemon=True) if timer else None

    def __enter__(self) -> LongStep:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _tick_every_second(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def update(self, p: Progress) -> None:
        """Take the latest figures (called as each run starts) and write the line if it is due.

        :param p: how far the step has got.
        """
        if p.states != self.counted:
            self.counted, self.counted_at = p.states, self.clock()
        self.now = p
        self.tick()

    def line(self, now: float) -> str:
        """:param now: the clock's time.
        :return: the progress line."""
        elapsed = now - self.start
        parts = [self.title]
        p = self.now
        if p is not None:
            parts.append(f"{p.tasks_done}/{p.tasks} tasks, {p.runs:,} runs, {p.states:,} states")
            counted = (self.counted_at or self.start) - self.start
            if p.states and counted > 0:
                parts.append(f"{p.states / counted:,.0f} states/s")
        parts.append(f"{duration(elapsed)} elapsed")
        if p is not None and p.share_done is not None and 0 < p.share_done < 1:
            parts.append(f"about {duration(elapsed * (1 - p.share_done) / p.share_done)} left")
        return ", ".join(parts)

    def tick(self) -> None:
        """Write the line if it is due: on a terminal every call after :data:`QUIET_S`, otherwise every
        :data:`PLAIN_EVERY_S`."""
        now = self.clock()
        with self.lock:
            if now - self.start < QUIET_S or self._stop.is_set():
                return
            if self.tty:
                self.stream.write("\r" + self.line(now) + "\x1b[K")
                self.drawn = True
            elif self.last is None or now - self.last >= PLAIN_EVERY_S:
                if self.last is None and now - self.start < PLAIN_EVERY_S:
                    return
                self.stream.write(self.line(now) + "\n")
                self.last = now
            else:
                return
            self.stream.flush()

    def close(self) -> None:
        """Stop the timer; on a terminal, end the redrawn line."""
        with self.lock:
            self._stop.set()
            if self.drawn:
                self.stream.write("\n")
                self.stream.flush()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()


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
        self.stream = stream
        self.counts = _Counts()
        self.tasks: dict[str, Any] = {}
        self.count_task: Any = None
        self.progress: Any = None

    def start(self, designs: Sequence[str], per_design: int) -> None:
        """See :meth:`Reporter.start`."""
        from rich.console import Console
        from rich.progress import (
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        total = len(designs) * per_design
        names = max(len(d) for d in ["all designs", *designs])
        counts = len(f"{total}/{total}")

        def fixed(width: int) -> Column:
            return Column(no_wrap=True, min_width=width)

        # every name whole; the last result is what gives way (an ellipsis) on a narrow terminal
        self.progress = Progress(
            TextColumn("{task.description}", table_column=fixed(names)),
            MofNCompleteColumn(table_column=fixed(counts)),
            TimeElapsedColumn(table_column=fixed(7)),
            TimeRemainingColumn(table_column=fixed(7)),
            TextColumn("{task.fields[last]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=Console(file=self.stream),
            transient=False,
        )
        self.progress.start()
        self.count_task = self.progress.add_task("all designs", total=total, last=str(self.counts))
        for d in designs:
            self.tasks[d] = self.progress.add_task(d, total=per_design, last="")

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        """See :meth:`Reporter.done`."""
        self.counts.add(verdict)
        self.progress.update(self.tasks[design], advance=1, last=f"{label}: {text}")
        self.progress.update(self.count_task, advance=1, last=str(self.counts))

    def stop(self) -> None:
        """Stop the live display."""
        if self.progress is not None:
            self.progress.stop()
