"""The ``qomsim`` command line.

Each package registers its own subcommands as entry points of the group ``qomsim.commands``
(``pyproject.toml``), so this module names none of them and the ``qom`` core never imports
``migration``.  An entry point names a module that provides::

    HELP: str                                                  # one line for ``qomsim --help``
    EPILOG: str                                          # optional: the end of ``--help`` (exit statuses)
    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

A subcommand whose module cannot be imported is listed as unavailable; the others still work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from types import ModuleType

__all__ = ["GROUP", "build_parser", "main", "subcommands"]

#: the entry-point group every subcommand is registered in
GROUP = "qomsim.commands"


def _version() -> str:
    try:
        return version("qomsim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def subcommands() -> dict[str, str]:
    """:return: subcommand name -> module name, from the installed entry points, sorted by name."""
    found = {ep.name: ep.value.partition(":")[0] for ep in entry_points(group=GROUP)}
    return dict(sorted(found.items()))


def _load(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    :param only: give full options to just this subcommand (the others get their help line only).
    :return: the parser.
    """
    parser = argparse.ArgumentParser(
        prog="qomsim",
        description="Emulate the QEMU Object Model and check migration-object designs.",
    )
    parser.add_argument("--version", action="version", version=f"qomsim {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in subcommands().items():
        module = _load(module_name)
        help_text = "(not available in this build)" if module is None else str(getattr(module, "HELP", ""))
        epilog = None if module is None else getattr(module, "EPILOG", None)
        sp = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == only and module is not None:
            module.add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qomsim`` console script.

    :param argv: the arguments, without the program name (default: ``sys.argv[1:]``).
    :return: the process exit status.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    known = subcommands()
    command = next((a for a in args_list if a in known), None)
    parser = build_parser(only=command)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = _load(known[args.command])
    if module is None:
        print(f"qomsim: '{args.command}' is not available in this build", file=sys.stderr)
        return 2
    status: int = module.run(args)
    return status
