"""``qomsim reproduce``: drive a saved counterexample against a real QEMU binary, under valgrind.

    $ qomsim check --design qemu-10.0 --scenario S14-oob-after-shutdown:a --json s14a.json
    $ qomsim reproduce s14a.json --qemu "$QOMSIM_QEMU10" --keep logs/

See :mod:`migration.reproduce.run` for what each result means and :data:`EPILOG` for the exit statuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from migration.report.check_cmd import positive
from migration.report.replay import ReplayError, load
from migration.reproduce.driver import HANG_GUARD_S
from migration.reproduce.plan import BASE_OPTIONS, Plan
from migration.reproduce.run import Result, Status, binary_version, reproduce
from qom.errors import escape_text

__all__ = ["EPILOG", "HELP", "add_arguments", "command_of", "new_folder", "run"]

#: the line ``qomsim --help`` shows
HELP = "drive a saved counterexample against a real QEMU binary under valgrind"

#: the end of ``qomsim reproduce --help``
EPILOG = """exit status:
  0    confirmed: valgrind reports an invalid access, in the function the model names, to a block
       freed by the function the model names for the last object_unref
  1    not reproduced after --attempts runs
  2    bad input: an unreadable or malformed file, a binary that does not run or name its version
       (one line on stderr)
  3    not drivable: an event no outside action triggers on this binary, or a fault valgrind cannot
       see (the reason is printed)
  4    another error: valgrind reported an error, but not the model's (printed)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``qomsim reproduce``'s options.

    :param parser: the subcommand's parser.
    """
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("file", metavar="FILE.json",
                        help="a counterexample: qomsim check --json, decide's evidence, serve --trace")
    parser.add_argument("--property", help="with a 'qomsim check --json' file: the cell to drive")
    parser.add_argument("--qemu", required=True, metavar="BINARY", help="the QEMU executable")
    parser.add_argument("--attempts", type=positive("attempt count"), default=3, metavar="N",
                        help="runs before 'not reproduced' (default 3)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep each attempt's command line, QMP transcript and valgrind log in "
                        "DIR/run-K/attempt-N.log, run-K a new folder (nothing already in DIR is touched)")
    parser.add_argument("--no-valgrind", dest="valgrind", action="store_false",
                        help="run QEMU without valgrind (nothing can then be confirmed)")
    parser.add_argument("--hang-guard", type=float, default=HANG_GUARD_S, metavar="SECONDS",
                        help=f"kill a run that has not ended after this long (default {HANG_GUARD_S:.0f})")


def new_folder(parent: Path) -> Path:
    """:param parent: a folder (created when missing).
    :return: ``parent/run-K``, a folder this call created (the first K free), so no file in it
        can be one qomsim did not write.
    :raise OSError: when ``parent`` is not a folder that can be written.
    """
    parent.mkdir(parents=True, exist_ok=True)
    k = 1
    while True:
        try:
            (parent / f"run-{k}").mkdir()
            return parent / f"run-{k}"
        except FileExistsError:
            k += 1


def command_of(file: str, binary: str, attempts: int) -> str:
    """:param file: the counterexample file.
    :param binary: the QEMU executable.
    :param attempts: the attempts.
    :return: the ``qomsim reproduce`` command line that drives it.
    """
    return f"qomsim reproduce {file} --qemu {binary} --attempts {attempts}"


def _plan_lines(plan: Plan) -> list[str]:
    out = [f"  command line: {' '.join((*BASE_OPTIONS, *plan.options))}"]
    out += [f"  then: {step}" for step in plan.steps]
    out.append("  then: execute quit")
    out += [f"  after SHUTDOWN, until QEMU closes the monitor: {step}" for step in plan.flood]
    return out


def _print(result: Result, design: str, tag: str) -> None:
    v = ".".join(map(str, result.version))
    print(f"{design} (follows QEMU {tag}) on {result.binary} (QEMU {v})")
    if result.plan is not None:
        print(*_plan_lines(result.plan), sep="\n")
    print(*result.lines(), sep="\n")


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim reproduce``.

    :param args: the parsed options.
    :return: the exit status (:data:`EPILOG`).
    """
    try:
        cx = load(args.file, args.property)
    except ReplayError as exc:
        print(f"qomsim reproduce: {escape_text(str(exc))}", file=sys.stderr)
        return 2
    if not (os.path.isfile(args.qemu) and os.access(args.qemu, os.X_OK)):
        print(f"qomsim reproduce: {escape_text(args.qemu)} is not an executable file", file=sys.stderr)
        return 2
    try:
        version = binary_version(args.qemu)
    except (OSError, ValueError) as exc:
        print(f"qomsim reproduce: {escape_text(str(exc))}", file=sys.stderr)
        return 2
    keep: Path | None = None
    if args.keep is not None:
        try:
            keep = new_folder(args.keep)
        except OSError as exc:
            print(f"qomsim reproduce: cannot create a folder in {escape_text(str(args.keep))}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 2
    try:
        result = reproduce(cx, args.qemu, attempts=args.attempts, keep=keep, valgrind=args.valgrind,
                           version=version, hang_guard=args.hang_guard)
    except OSError as exc:
        print(f"qomsim reproduce: {escape_text(str(exc))}", file=sys.stderr)
        return 2
    tag = str((cx.knobs or {}).get("tag", "?"))
    _print(result, cx.design, tag)
    if keep is not None and result.logs:
        print(f"logs in {keep}")
    return 1 if result.status is Status.CLEAN else result.status.value
