"""``python -m benchmarks``: measure, then write ``docs/performance.md`` (and JSON on request)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.model import Config
from benchmarks.registry import figure_keys
from benchmarks.render import write_outputs
from benchmarks.runner import run

__all__ = ["build_parser", "main"]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def build_parser() -> argparse.ArgumentParser:
    """:return: the command's argument parser."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true",
                       help="CI mode: few repetitions, small sizes, about 60 s in all")
    sizes.add_argument("--tiny", action="store_true", help="the harness's self-test sizes (seconds)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="FILE",
                        help="the Markdown table to write (default: docs/performance.md)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the figures as JSON")
    parser.add_argument("--only", action="append", choices=figure_keys(), default=[], metavar="KEY",
                        help=f"measure only this figure group (repeatable): {', '.join(figure_keys())}")
    parser.add_argument("--snapshot", default=None, metavar="FILE",
                        help="the snapshot for figures 3, 4 and 7b (default: the packaged one)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="override the mode's time bound (0: none)")
    parser.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                        help="the date to print (default: today, UTC)")
    parser.add_argument("--note", action="append", default=[], metavar="TEXT",
                        help="a paragraph to add under Conditions (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :return: 0, or 1 when a figure group failed unexpectedly.
    """
    args = build_parser().parse_args(argv)
    config = Config.quick() if args.quick else Config.tiny() if args.tiny else Config.full()
    if args.budget is not None:
        config = dataclasses.replace(config, budget_s=args.budget or None)
    config = dataclasses.replace(config, only=frozenset(args.only), snapshot=args.snapshot)
    report = run(config, progress=True)
    date = args.date or datetime.datetime.now(datetime.UTC).date().isoformat()
    write_outputs(report, out=args.out, json_path=args.json, date=date, extra_notes=tuple(args.note))
    print(f"benchmarks: wrote {args.out}" + (f" and {args.json}" if args.json else ""), file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
