"""``qomsim decide``: run every design against every property and scenario, then write MADR notes.

A short tour::

    $ qomsim decide                              # every design, every property, notes in docs/decisions/
    $ qomsim decide --designs qemu-9.1,qemu-10.0 --properties no-use-after-free --out /tmp/notes
    $ qomsim decide --seed 7 --date 2026-01-01 --json matrix.json   # byte-identical on every run

Each cell (design × property) is decided by :func:`migration.check.check_cell`: every schedule of every
scenario is enumerated (unless ``--no-exhaustive``), then Hypothesis draws programs with the fixed seed. Each
scenario of the spec is also replayed on every design, on its default schedule, with
:func:`migration.check.cell.run_scenario`. The notes are rendered by :mod:`migration.report.notes` from
those results only. ``--budget`` is checked between cells: a cell that has started runs to its end.

Nothing is lost (see :mod:`migration.report.outdir`):

* the notes are written only once every cell has run, into a new folder next to ``--out`` that is then
  exchanged with it in one atomic rename, so an interrupted or killed run (SIGINT, SIGTERM, SIGKILL, an I/O
  error, or ``--budget`` spent) leaves either the previous notes or the new ones, never a mix;
* a manifest (``.qomsim-decide.json`` in the output directory) records the SHA-256 of every file the last run
  wrote; a file whose bytes no longer match was edited by hand and is kept, and the run says so, unless
  ``--force``; only safe relative paths inside ``--out`` that are not reached through a link are ever
  replaced or removed.

Exit status: 0 when everything was written; 1 when a hand-edited file was kept; 2 on an error (a usage error,
an unknown id, ``--out`` not a writable folder, a write that failed, a ``--scheduler`` that does not
answer: one line on stderr, nothing changed);
3 when ``--budget`` ran out (the JSON matrix, if asked for, is still written, with the cells not reached
listed as such; the notes are not); 130 on SIGINT, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from migration.check.bounded import COVERING_BOUND, Bound
from migration.check.registry import RUNS_CODE
from migration.check.workers import SchedulerUnreachable
from migration.model.results import CellResult, ScenarioOutcomes
from migration.report import notes
from migration.report.check_cmd import add_bound_arguments, bound_of, bound_type, database_of, local_cores
from migration.report.outdir import MANIFEST, WriteReport, write_files
from qom.errors import escape_text
from qom.fileio import UserFile, write_file

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_SEED",
    "EPILOG",
    "HELP",
    "MANIFEST",
    "BoundedCheckFn",
    "CheckFn",
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "ScenarioFn",
    "WriteReport",
    "add_arguments",
    "all_designs",
    "confirm_chosen",
    "design_diffs",
    "out_display",
    "run",
    "run_matrix",
    "summary_lines",
    "write_files",
]

#: the line ``qomsim --help`` shows
HELP = "run every design against every property and write MADR notes"

#: the end of ``qomsim decide --help``
EPILOG = """exit status:
  0    every note was written
  1    a hand-edited note was kept (re-run with --force to overwrite it)
  2    an error: bad option or id, --out not a writable folder, a write failed (one line on stderr)
  3    --budget ran out before every check ran (no note written)
  130  interrupted by SIGINT, 143 by SIGTERM (the previous notes are intact)"""

#: the Hypothesis seed used when ``--seed`` is not given (fixed, so the default run is reproducible)
DEFAULT_SEED = 0
#: where notes go when ``--out`` is not given
DEFAULT_OUT = "docs/decisions"


# --------------------------------------------------------------------------------------------------------
# progress reporting


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


# --------------------------------------------------------------------------------------------------------
# running the matrix


class CheckFn(Protocol):
    """The signature of :func:`migration.check.check_cell` as :func:`run_matrix` calls it."""

    def __call__(
        self,
        design: str,
        property_id: str,
        *,
        seed: int,
        exhaustive: bool,
        deadline_s: float | None,
        scenarios: Sequence[str] | None,
    ) -> CellResult:
        """:return: the cell's result."""
        ...


#: replays one scenario on one design: ``(design, scenario) -> outcome``
ScenarioFn = Callable[[str, str], ScenarioOutcomes]


class _BudgetSpent(Exception):
    """Raised inside :func:`run_matrix` when the time budget is spent; caught there."""


def run_matrix(
    designs: Sequence[str],
    properties: Sequence[str],
    scenarios: Sequence[str],
    *,
    seed: int,
    exhaustive: bool,
    budget_s: float | None = None,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
    check: CheckFn | None = None,
    scenario: ScenarioFn | None = None,
    all_scenarios: bool = True,
    bound: int | Bound | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    database: str | None = None,
    por: bool = False,
    confirm: Bound | None = None,
    chosen: Callable[[notes.Matrix], Sequence[str]] | None = None,
    say: Callable[[str], None] | None = None,
) -> notes.Matrix:
    """Decide every cell and replay every scenario, design by design.

    :param designs: design ids.
    :param properties: property ids.
    :param scenarios: scenario ids: those replayed, and those enumerated for every cell.
    :param seed: the Hypothesis seed of every cell.
    :param exhaustive: whether to confirm exhaustively.
    :param budget_s: a time budget in seconds; cells not started before it is spent are left out of the
        matrix (reported as not reached), never guessed.
    :param reporter: receives progress.
    :param clock: a monotonic clock (injectable for tests).
    :param check: decides one cell (default: :func:`migration.check.check_cell`).
    :param scenario: enumerates one scenario's schedules and returns their outcomes (default:
        :func:`migration.check.cell.scenario_outcomes`, every schedule).
    :param all_scenarios: ``scenarios`` are all of the spec's (cells then enumerate the model's default
        set, every scenario); False restricts the enumeration to ``scenarios``.
    :param bound: with the default ``check``, also explore every program of up to this many events and every
        schedule, every design at once, before the cells (``None``: no bounded exploration).
    :param workers: local worker processes for the bounded exploration.
    :param scheduler: a Dask scheduler's address for the bounded exploration.
    :param database: Hypothesis's example database directory for the default ``check`` (``None``: none).
    :param por: the bounded exploration adds sleep sets to state hashing.
    :param confirm: with ``chosen`` and a bounded run, explore the options ``chosen`` picks again at this
        bound joined with ``bound`` (:func:`confirm_chosen`).
    :param chosen: the options the notes would choose from a matrix (one per question).
    :param say: receives a line before and after each of those explorations (they can take minutes).
    :return: the matrix (``.complete`` is False when the budget ran out).
    :raise KeyboardInterrupt: when interrupted; nothing has been written.
    """
    deadline = None if budget_s is None else clock() + budget_s
    bound = bound if exhaustive else None  # sampling only: no enumeration of any kind
    check_is_bounded = check is None and bound is not None
    if check is None or scenario is None:
        from migration.check import cell as model

        if check is None:
            if bound is not None and (deadline is None or deadline - clock() > 0):
                from migration.check.workers import explore_designs

                explore_designs([model.resolve_design(d) for d in designs], bound, workers=workers,
                                scheduler=scheduler, por=por)
            check = functools.partial(model.check_cell, bound=bound, workers=workers, scheduler=scheduler,
                                      database=database, por=por)
        scenario = scenario or model.scenario_outcomes

    cells: dict[tuple[str, str], CellResult] = {}
    scen: dict[tuple[str, str], ScenarioOutcomes] = {}
    if reporter is not None:
        reporter.start(designs, len(properties) + len(scenarios))
    try:
        for d in designs:
            for p in properties:
                remaining = None if deadline is None else deadline - clock()
                if remaining is not None and remaining <= 0:
                    raise _BudgetSpent
                c = check(
                    d,
                    p,
                    seed=seed,
                    exhaustive=exhaustive,
                    deadline_s=remaining,
                    scenarios=None if all_scenarios else tuple(scenarios),
                )
                cells[(d, p)] = c
                if reporter is not None:
                    reporter.done(d, p, _cell_brief(c), c.verdict)
            for s in scenarios:
                if deadline is not None and deadline - clock() <= 0:
                    raise _BudgetSpent
                o = scenario(d, s)
                scen[(d, s)] = o
                if reporter is not None:
                    reporter.done(d, s, str(o), None)
    except _BudgetSpent:
        pass
    finally:
        if reporter is not None:
            reporter.stop()
    matrix = notes.Matrix(
        seed=seed,
        exhaustive=exhaustive,
        designs=tuple(designs),
        properties=tuple(properties),
        scenarios=tuple(scenarios),
        all_scenarios=all_scenarios,
        cells=cells,
        scenario_outcomes=scen,
        bound=Bound.of(bound).events if check_is_bounded and bound is not None else None,
        bound_spec=str(Bound.of(bound)) if check_is_bounded and bound is not None else None,
    )
    if not (check_is_bounded and bound is not None and confirm is not None and chosen is not None
            and matrix.complete):
        return matrix
    wider = functools.partial(check, seed=seed, exhaustive=exhaustive,
                              scenarios=None if all_scenarios else tuple(scenarios))
    return confirm_chosen(matrix, Bound.of(bound).union(confirm), chosen,
                          lambda d, p, bnd: wider(d, p, bound=bnd, deadline_s=None),
                          deadline=deadline, clock=clock, say=say)


#: decides one cell at a bound: ``(design, property, bound) -> result``
BoundedCheckFn = Callable[[str, str, Bound], CellResult]


def confirm_chosen(
    matrix: notes.Matrix,
    bound: Bound,
    chosen: Callable[[notes.Matrix], Sequence[str]],
    check: BoundedCheckFn,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] | None = None,
) -> notes.Matrix:
    """Explore the options the notes choose again at a larger bound, until every chosen option was.

    Each chosen option's cells are replaced by its results at ``bound`` (every property from one
    exploration).  When a property that held at the matrix's bound fails there, the option ranks lower
    and the notes may choose another: that one is explored in turn.  The other options keep their
    results at the matrix's bound.  ``bound`` holds every program the matrix's bound holds, so it can only
    add faults to them: none of them could rank above a chosen option there (the rule,
    :data:`migration.report.choose.CHOICE_RULE`, never ranks an option higher for a fault more).

    :param matrix: a complete matrix of a bounded run.
    :param bound: the larger bound (it must take in the matrix's).
    :param chosen: the options the notes would choose from a matrix.
    :param check: decides one cell at a bound.
    :param deadline: when the budget is spent (``clock`` time; ``None``: no budget); once it is, the
        matrix comes back with ``confirm_pending`` set.
    :param clock: a monotonic clock.
    :param say: receives a line before and after each exploration.
    :return: the matrix, with ``confirm_spec`` and ``confirmed`` set.
    """
    cells = dict(matrix.cells)
    done: list[str] = []
    spec = str(bound)
    while True:
        m = dataclasses.replace(matrix, cells=dict(cells), confirm_spec=spec, confirmed=tuple(done))
        todo = [d for d in dict.fromkeys(chosen(m)) if d not in done]
        if not todo:
            return m
        for d in todo:
            if deadline is not None and deadline - clock() <= 0:
                return dataclasses.replace(m, confirm_pending=True)
            if say is not None:
                say(f"decide: exploring {d}, a chosen option, again at {spec} ({bound.every()})")
            start = clock()
            before = [p for p in matrix.properties if cells[d, p].verdict == "holds"]
            for p in matrix.properties:
                cells[d, p] = check(d, p, bound)
            now_fail = [p for p in before if cells[d, p].verdict == "fails"]
            if say is not None:
                c = cells[d, matrix.properties[0]]
                say(f"decide: {d} at {spec}: {c.programs:,} programs, {c.states:,} states, "
                    f"{clock() - start:.0f} s; " + ("every verdict the same" if not now_fail else
                                                   "now fails " + ", ".join(now_fail)))
            done.append(d)


def _cell_brief(c: CellResult) -> str:
    ev = {"exhaustive": "E", "bounded": "B"}.get(c.evidence, "S")
    return f"holds {ev}" if c.verdict == "holds" else f"fails {c.outcome.name} {ev}"


def design_diffs(designs: Mapping[str, Any]) -> dict[str, list[str]]:
    """The knobs in which each design differs from :data:`migration.report.notes.BASELINE` (its cost).

    :param designs: ``id -> Design`` (anything with ``differs_from(other) -> list[str]``).
    :return: ``id -> knob names``; designs that cannot be compared are left out.
    """
    base = designs.get(notes.BASELINE)
    if base is None:
        return {}
    out: dict[str, list[str]] = {}
    for d, design in designs.items():
        differs = getattr(design, "differs_from", None)
        if callable(differs):
            out[d] = [str(k) for k in differs(base)]
    return out


def summary_lines(matrix: notes.Matrix) -> list[str]:
    """The summary table as plain text: designs as rows, properties as columns.

    :param matrix: the run's results.
    :return: lines (E = exhaustive evidence, B = bounded, S = sampled, ``-`` = not reached).
    """
    header = ["design", *matrix.properties]
    rows = [
        [d, *(_cell_brief(c) if (c := matrix.cell(d, p)) is not None else "-" for p in matrix.properties)]
        for d in matrix.designs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*r).rstrip() for r in rows)
    out.append("E = exhaustive evidence, B = every program up to the bound, S = sampled evidence, "
               "- = not reached")
    return out


def _print_summary(matrix: notes.Matrix, stream: TextIO, rich_ok: bool) -> None:
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
                row.append(f"[green]{_cell_brief(c)}[/green]")
            else:
                row.append(f"[red]{_cell_brief(c)}[/red]")
        table.add_row(*row)
    Console(file=stream).print(table)


# --------------------------------------------------------------------------------------------------------
# writing files without losing any


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file and :func:`os.replace`, with the umask's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def out_display(out: Path, cwd: Path | None = None) -> str:
    """The output directory as commands written into the notes name it: relative when possible.

    :param out: the output directory as given.
    :param cwd: the directory it is relative to (default: the current one).
    :return: a POSIX path, relative to ``cwd`` when ``out`` lies under it.
    """
    if not out.is_absolute():
        return out.as_posix()
    base = (cwd or Path.cwd()).resolve()
    try:
        return out.resolve().relative_to(base).as_posix() or "."
    except ValueError:
        return out.as_posix()


def _shown(path: Path) -> str:
    return escape_text(str(path))


def _out_problem(out: Path) -> str | None:
    """Why notes cannot go to ``out`` (checked before the long run), or None."""
    probe = out
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if probe == out and not out.is_dir():
        return "Not a directory"
    if out.is_dir() and Path.cwd().resolve().is_relative_to(out.resolve()):
        # the new set is swapped in by renaming the folder: a shell inside it would be left in the old one
        return "it holds the current directory; run decide from outside it"
    if not probe.is_dir():
        return f"{escape_text(str(probe))} is not a directory"
    # the new set is built next to the folder and swapped in: both must be writable
    for folder in {probe, probe.absolute().parent} if probe == out else {probe}:
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{escape_text(str(folder))}: Permission denied"
    return None


@dataclass
class _Checked:
    """A reporter that also stops the run between two checks once a signal came (even a swallowed one)."""

    inner: Reporter
    interrupts: _Interrupts

    def start(self, designs: Sequence[str], per_design: int) -> None:
        self.inner.start(designs, per_design)

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        self.inner.done(design, label, text, verdict)
        self.interrupts.check()

    def stop(self) -> None:
        self.inner.stop()


class _Interrupts:
    """SIGINT and SIGTERM both stop the run; the flag survives a KeyboardInterrupt that Python swallowed."""

    def __init__(self) -> None:
        self.signum = 0

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.signum:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        hook = sys.unraisablehook

        def unraisable(u: Any) -> None:
            # the interrupt landed in a gc or weakref callback: Python cannot raise it there, check() does
            if not (self.signum and u.exc_type is KeyboardInterrupt):
                hook(u)

        sys.unraisablehook = unraisable
        try:
            yield
        finally:
            sys.unraisablehook = hook
            for sig, h in old.items():
                signal.signal(sig, h)


# --------------------------------------------------------------------------------------------------------
# the command


def _id_list(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def _date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date '{text}' (expected YYYY-MM-DD)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``qomsim decide``'s options.

    :param parser: the subcommand's parser.
    """
    parser.add_argument(
        "--designs",
        type=_id_list,
        default=None,
        metavar="IDS",
        help=f"comma-separated design ids, FILE.py:NAME or module:NAME (default: every preset; {RUNS_CODE})",
    )
    parser.add_argument(
        "--properties",
        type=_id_list,
        default=None,
        metavar="IDS",
        help="comma-separated property ids (default: every property)",
    )
    parser.add_argument(
        "--scenarios",
        type=_id_list,
        default=None,
        metavar="IDS",
        help="comma-separated scenario ids to replay and enumerate (default: every scenario; a subset "
        "narrows what 'exhaustive' covers, and the notes say so)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"Hypothesis seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--date",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="the date written into the notes (default: today)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        metavar="DIR",
        help=f"where the notes go (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the matrix as JSON"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop starting new checks after this long (checked between cells); unreached cells are "
        "reported as such and no note is written",
    )
    parser.add_argument("--force", action="store_true", help="overwrite notes edited by hand")
    parser.add_argument(
        "--template",
        type=UserFile,
        default=None,
        metavar="FILE",
        help="a MADR template of your own (string.Template placeholders, see migration/report/notes.py)",
    )
    parser.add_argument(
        "--no-exhaustive",
        dest="exhaustive",
        action="store_false",
        help="skip exhaustive confirmation (sampled evidence only)",
    )
    add_bound_arguments(parser, workers=local_cores())  # the main job: every core by default
    parser.add_argument(
        "--confirm",
        type=bound_type("none", said=True),
        default=Bound.parse("covering"),
        metavar="BOUND",
        help="explore the option each note chooses again at this bound (joined with --bound), every "
        "property, and choose again until the chosen options were (default 'covering': "
        f"{COVERING_BOUND}, every scenario of the spec's section 4 inside; 'none': do not)",
    )


def all_designs() -> dict[str, Any]:
    """The designs ``decide`` weighs by default: the spec's (:data:`migration.model.designs.DESIGNS`), then
    the model's own proposal and alternatives (:mod:`migration.check.search`), in that order.

    :return: ``id -> Design``.
    """
    from migration.check.registry import all_designs as registry_designs

    out: dict[str, Any] = registry_designs()
    return out


def _add_own_designs(known: dict[str, Any], wanted: Sequence[str] | None) -> None:
    """Add the designs named ``FILE.py:NAME`` or ``module:NAME`` in ``--designs`` to ``known``, under
    that name, so the notes' commands name the file again.

    :raise ValueError: when one cannot be loaded (one line).
    """
    from migration.check.registry import resolve

    for w in wanted or ():
        if w not in known and ":" in w:
            known[w] = resolve(w)


def _withdrawn() -> dict[str, str]:
    """:return: the model's earlier proposals it no longer proves, with why (a full run only: the
        bounded search behind it takes about a minute)."""
    from migration.check.search import withdrawn_proposals

    return withdrawn_proposals()


def _select(kind: str, option: str, wanted: list[str] | None, known: Sequence[str]) -> list[str]:
    if wanted is None:
        return list(known)
    if not wanted:
        raise ValueError(f"{option} needs at least one {kind} id")
    unknown = [w for w in wanted if w not in known]
    if unknown:
        shown = ", ".join(escape_text(w) for w in unknown)
        raise ValueError(f"unknown {kind} {shown}; known: {', '.join(known)}")
    # keep the spec's order whatever order the user typed, so the output does not depend on it
    return [k for k in known if k in wanted]


def _summaries(designs: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for d, design in designs.items():
        for attr in ("summary", "description"):
            text = getattr(design, attr, None)
            if isinstance(text, str) and text.strip():
                out[d] = " ".join(text.split()).rstrip(".")
                break
    return out


def _qmp_visible(designs: Mapping[str, Any]) -> dict[str, list[str]]:
    from migration.check.search import qmp_changes

    return {d: list(qmp_changes(design)) for d, design in designs.items()}


def _property_texts() -> dict[str, str]:
    from migration.check.properties import PROPERTY_CHECKS

    return {pid: " ".join(check.text.split()) for pid, check in PROPERTY_CHECKS.items()}


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim decide``.

    :param args: the parsed options (see :func:`add_arguments`).
    :return: the exit status (see the module docstring).
    """
    from migration.check.cell import PROPERTIES
    from migration.model.scenarios import SCENARIOS

    known = all_designs()

    stdout: TextIO = sys.stdout
    try:
        _add_own_designs(known, args.designs)
        designs = _select("design", "--designs", args.designs, list(known))
        properties = _select("property", "--properties", args.properties, list(PROPERTIES))
        scenarios = _select("scenario", "--scenarios", args.scenarios, list(SCENARIOS))
        template = notes.load_template(args.template)
    except (ValueError, OSError) as exc:
        print(f"qomsim decide: {exc}", file=sys.stderr)
        return 2
    problem = _out_problem(args.out)
    if problem is not None:
        print(f"qomsim decide: cannot write notes to {_shown(args.out)}: {problem}", file=sys.stderr)
        return 2
    date = args.date or datetime.date.today().isoformat()
    diffs = design_diffs(known)

    def chosen_options(m: notes.Matrix) -> list[str]:
        return [c.chosen for _q, c in notes.decisions(m, diffs) if c.chosen is not None]

    tty = stdout.isatty()
    reporter: Reporter = RichReporter(stdout) if tty else PlainReporter(stdout)
    stop = _Interrupts()
    try:
        with stop.installed():
            matrix = run_matrix(
                designs,
                properties,
                scenarios,
                all_scenarios=args.scenarios is None,
                seed=args.seed,
                exhaustive=args.exhaustive,
                budget_s=args.budget,
                reporter=_Checked(reporter, stop),
                bound=bound_of(args),
                workers=args.workers,
                scheduler=args.scheduler,
                database=database_of(args),
                por=args.por,
                confirm=args.confirm,
                chosen=chosen_options,
                say=lambda line: print(line, file=stdout, flush=True),
            )
            stop.check()  # a Ctrl-C that landed where Python could not raise it (a gc callback) still counts
    except KeyboardInterrupt:
        print("qomsim decide: interrupted; nothing written, the previous notes are intact", file=sys.stderr)
        return 128 + (stop.signum or signal.SIGINT)
    except SchedulerUnreachable as exc:
        print(f"qomsim decide: {exc}; nothing written", file=sys.stderr)
        return 2
    _print_summary(matrix, stdout, tty)
    if args.json is not None:
        text = json.dumps({"date": date, **matrix.to_json()}, indent=2) + "\n"
        try:
            write_file(args.json, text.encode("utf-8"))
        except OSError as exc:
            print(f"qomsim decide: cannot write {_shown(args.json)}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote the matrix to {args.json}", file=stdout)
    if not matrix.complete:
        print(
            f"qomsim decide: the budget of {args.budget} s ran out before every check ran; the notes were "
            "not written (the previous ones are intact); re-run with a larger --budget",
            file=sys.stderr,
        )
        return 3
    files = notes.render_all(
        matrix,
        date=date,
        template=template,
        out_display=out_display(args.out),
        diffs=diffs,
        summaries=_summaries(known),
        property_texts=_property_texts(),
        qmp_visible=_qmp_visible(known),
        withdrawn=_withdrawn() if args.designs is None else None,
    )
    try:
        report = write_files(args.out, files, force=args.force)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"qomsim decide: cannot write notes to {_shown(args.out)}: {reason}", file=sys.stderr)
        return 2
    print(
        f"notes in {args.out}: {len(report.written)} written, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed",
        file=stdout,
    )
    for q, choice in notes.decisions(matrix, diffs):
        chosen = "no option chosen" if choice.chosen is None else f'chosen "{choice.chosen}"'
        print(f"  {q.filename}: {choice.status}, {chosen}", file=stdout)
    for rel in report.ignored:
        print(
            f"qomsim decide: ignored manifest entry {escape_text(rel)}: not a path inside {_shown(args.out)}",
            file=sys.stderr,
        )
    if report.interrupted:
        print("qomsim decide: interrupted while writing; the new set was swapped in first", file=sys.stderr)
    for rel in report.kept:
        print(
            f"qomsim decide: kept {_shown(args.out / rel)}: edited by hand since qomsim wrote it "
            "(re-run with --force to overwrite)",
            file=sys.stderr,
        )
    return 1 if report.kept else 0
