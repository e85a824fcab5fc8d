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

``--qemu BINARY`` (repeatable) drives each failing cell of the preset that follows the binary's release
against it under valgrind (:mod:`migration.report.real_qemu`); without it nothing runs a QEMU and the notes
are byte for byte what they were.

Exit status: 0 when everything was written; 1 when a hand-edited file was kept; 2 on an error (a usage error,
an unknown id, ``--out`` not a writable folder, a write that failed, a ``--scheduler`` that does not
answer: one line on stderr, nothing changed);
3 when ``--budget`` ran out (the JSON matrix, if asked for, is still written, with the cells not reached
listed as such; the notes are not); 130 on SIGINT, 143 on SIGTERM: the previous notes are intact, unless
the signal came while the chosen options were explored again at ``--confirm``'s bound: then the matrix at
the run's bound is finished, and its notes are written, marked as not confirmed.

Progress: each check and scenario on stdout (a live display on a terminal); a step that can take minutes
(the bounded exploration, the confirmation) shows how far it has got on stderr
(:class:`migration.report.progress.LongStep`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from migration.check.bounded import COVERING_BOUND, Bound
from migration.check.interrupts import Interrupts
from migration.check.registry import RUNS_CODE
from migration.check.workers import SchedulerUnreachable
from migration.report import notes
from migration.report.check_cmd import add_bound_arguments, bound_of, bound_type, database_of, local_cores
from migration.report.matrix_run import (
    BoundedCheckFn,
    CheckFn,
    ScenarioFn,
    confirm_chosen,
    design_diffs,
    run_matrix,
)
from migration.report.outdir import MANIFEST, WriteReport, out_display, out_problem, write_files
from migration.report.progress import LongStep, PlainReporter, Reporter, RichReporter
from migration.report.summary import print_summary, summary_lines
from qom.errors import escape_text
from qom.fileio import UserFile, write_file

if TYPE_CHECKING:
    from migration.model.results import Counterexample
    from migration.report.real_qemu import RealQemu

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
    "dated_as_before",
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
  130  interrupted by SIGINT, 143 by SIGTERM (the previous notes are intact; while confirming, the notes
       of the finished matrix are written, marked as not confirmed)"""

#: the Hypothesis seed used when ``--seed`` is not given (fixed, so the default run is reproducible)
DEFAULT_SEED = 0
#: where notes go when ``--out`` is not given
DEFAULT_OUT = "docs/decisions"


@dataclass
class _Checked:
    """A reporter that also stops the run between two checks once a signal came (even a swallowed one)."""

    inner: Reporter
    interrupts: Interrupts

    def start(self, designs: Sequence[str], per_design: int) -> None:
        self.inner.start(designs, per_design)

    def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
        self.inner.done(design, label, text, verdict)
        self.interrupts.check()

    def stop(self) -> None:
        self.inner.stop()


# --------------------------------------------------------------------------------------------------------
# the command


def _shown(path: Path) -> str:
    return escape_text(str(path))


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
        help="the date written into the notes (default: a note whose content is unchanged keeps the date "
        "it has in --out, so a re-run on the same results changes no file; any other note gets today's)",
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
        "--qemu",
        action="append",
        default=None,
        metavar="BINARY",
        help="a real QEMU (repeatable): each failing cell of the preset that follows its release is driven "
        "against it under valgrind (qomsim reproduce), and the notes say whether it confirms it",
    )
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
        bounded search behind it tries 330 candidates, about 4 s)."""
    from migration.check.search import withdrawn_proposals

    with _long_step("decide: checking the model's withdrawn proposals"):
        return withdrawn_proposals()


def _today() -> str:
    """:return: today's date, ``YYYY-MM-DD`` (a function, so tests can fix it)."""
    return datetime.date.today().isoformat()


#: the notes' index, which says when they were last written
INDEX = "README.md"

#: a note's date in its front matter
_DATE_LINE = re.compile(r"^date: (\d{4}-\d{2}-\d{2})$", re.M)


def dated_as_before(out: Path, today: str, render: Callable[..., dict[str, str]]) -> dict[str, str]:
    """The files of a run without ``--date``: each note that says what the note already in ``out`` says
    keeps that note's date, so re-running ``decide`` on unchanged results changes no file (a clone stays
    clean); a note whose content changed is dated ``today``.  MADR's date is when a decision last changed,
    not when a tool last ran.

    :param out: the notes directory.
    :param today: today's date.
    :param render: renders every file given ``date=``.
    :return: ``relative path -> text``.
    """
    files = render(date=today)
    dates: set[str] = set()
    for rel in files:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if (out / rel).is_file() and not (out / rel).is_symlink():
                dates.update(_DATE_LINE.findall((out / rel).read_text(encoding="utf-8")))
    dated: set[str] = set()  # the files whose text holds the date
    kept: set[str] = set()
    for old in sorted(dates - {today}):
        for rel, text in render(date=old).items():
            if rel not in files or text == files[rel]:
                continue
            dated.add(rel)
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if (out / rel).read_text(encoding="utf-8") == text:
                    files[rel] = text
                    kept.add(rel)
    if INDEX in kept and dated - kept - {INDEX}:  # a note changed: the index says when they were written
        files[INDEX] = render(date=today)[INDEX]
    return files


def _real_qemu(matrix: notes.Matrix, binaries: Sequence[str], shown: str) -> RealQemu:
    """:return: what the binaries said of the failing cells (:mod:`migration.report.real_qemu`)."""
    from migration.report.real_qemu import check_binaries

    def failing(design: str) -> list[tuple[str, Counterexample]]:
        if design not in matrix.designs:
            return []
        cells = [(p, matrix.cell(design, p)) for p in matrix.properties]
        return [(p, c.counterexample) for p, c in cells if c is not None and c.counterexample is not None]

    with _long_step("decide: driving the failing cells against real QEMU"):
        return check_binaries(failing, binaries, shown)


def _long_step(title: str) -> LongStep:
    """:return: the progress display of a long step, on stderr."""
    return LongStep(sys.stderr, title, tty=sys.stderr.isatty())


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
    problem = out_problem(args.out)
    if problem is not None:
        print(f"qomsim decide: cannot write notes to {_shown(args.out)}: {problem}", file=sys.stderr)
        return 2
    date = args.date or _today()
    diffs = design_diffs(known)

    def chosen_options(m: notes.Matrix) -> list[str]:
        return [c.chosen for _q, c in notes.decisions(m, diffs) if c.chosen is not None]

    tty = stdout.isatty()
    reporter: Reporter = RichReporter(stdout) if tty else PlainReporter(stdout)
    stop = Interrupts()
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
                step=_long_step,
            )
            if not matrix.confirm_interrupted:
                stop.check()  # a Ctrl-C that landed where Python could not raise it (a gc callback) counts
    except KeyboardInterrupt:
        print("qomsim decide: interrupted; nothing written, the previous notes are intact", file=sys.stderr)
        return stop.status
    except SchedulerUnreachable as exc:
        print(f"qomsim decide: {exc}; nothing written", file=sys.stderr)
        return 2
    print_summary(matrix, stdout, shutil.get_terminal_size().columns if tty else 80)
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
    real = None
    if args.qemu:
        try:
            real = _real_qemu(matrix, args.qemu, out_display(args.out))
        except (OSError, ValueError) as exc:
            print(f"qomsim decide: --qemu: {escape_text(str(exc))}; nothing written", file=sys.stderr)
            return 2
        for line in real.lines():
            print(line.removeprefix("* ").replace("`", ""), file=stdout)
    try:
        with stop.installed():
            render = functools.partial(
                notes.render_all,
                matrix,
                template=template,
                out_display=out_display(args.out),
                diffs=diffs,
                summaries=_summaries(known),
                property_texts=_property_texts(),
                qmp_visible=_qmp_visible(known),
                withdrawn=_withdrawn() if args.designs is None else None,
                real_qemu=real,
            )
            files = render(date=date) if args.date else dated_as_before(args.out, date, render)
            report = write_files(args.out, files, force=args.force)
    except KeyboardInterrupt:
        print("qomsim decide: interrupted; nothing written, the previous notes are intact", file=sys.stderr)
        return stop.status
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
    if matrix.confirm_interrupted:
        print("qomsim decide: interrupted while exploring the chosen options again at "
              f"{matrix.confirm_spec}; wrote the notes of the finished matrix (every row at bound "
              f"{matrix.bound_spec}), marked as not confirmed", file=sys.stderr)
        return stop.status
    for rel in report.kept:
        print(
            f"qomsim decide: kept {_shown(args.out / rel)}: edited by hand since qomsim wrote it "
            "(re-run with --force to overwrite)",
            file=sys.stderr,
        )
    return 1 if report.kept else 0
