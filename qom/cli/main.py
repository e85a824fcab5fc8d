"""The ``qomsim`` command line.

Each subcommand lives in its own module, which provides two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

The table below is the explicit registry of those modules (no plug-in discovery).
A module is imported only when its subcommand is parsed, so ``qomsim --help``
stays fast and a broken optional subcommand cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

#: subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "decide": ("migration.report.decide", "run every design against every property and write MADR notes"),
    "check": ("migration.report.check_cmd", "check one migration design against the properties"),
    "replay": ("migration.report.replay", "re-run a saved counterexample and print its trace"),
    "serve": ("qom.qmp.server", "serve a QOM universe over QMP"),
    "capture": ("qom.snapshot.capture", "capture a running QEMU's type universe into a snapshot file"),
    "demo": ("qom.demo", "a short tour of the QOM core"),
}


def _version() -> str:
    try:
        return version("qomsim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def _load(name: str) -> ModuleType | None:
    module_name = SUBCOMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    :param only: import just this subcommand's module (the others are listed
        by name and help text only).
    :return: the parser.
    """
    parser = argparse.ArgumentParser(
        prog="qomsim",
        description="Emulate the QEMU Object Model and check migration-object designs.",
    )
    parser.add_argument("--version", action="version", version=f"qomsim {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            module = _load(name)
            if module is not None:
                module.add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qomsim`` console script.

    :param argv: the arguments, without the program name (default: ``sys.argv[1:]``).
    :return: the process exit status.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if a in SUBCOMMANDS), None)
    parser = build_parser(only=command)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = _load(args.command)
    if module is None:
        print(f"qomsim: '{args.command}' is not available in this build", file=sys.stderr)
        return 2
    status: int = module.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
