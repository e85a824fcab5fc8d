"""``qomsim serve``: the command line of :mod:`qom.qmp.server`.

It sits above both :mod:`qom.qmp` (the server) and :mod:`qom.snapshot` (``--universe FILE``), so
that neither of those imports the other.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from qom.qmp.examples import register_example_types
from qom.qmp.json import MAX_NESTING, MAX_TOKEN_SIZE
from qom.qmp.schema import VersionInfo
from qom.qmp.server import QMPServer, ServerConfig, ServerHooks
from qom.snapshot import load_universe
from qom.universe import IntrospectionMode, SingletonPolicy, Universe, use_universe

__all__ = ["HELP", "add_arguments", "build", "parse_tcp", "run", "serve"]

HELP = "serve a QOM universe over QMP"

def parse_tcp(text: str) -> tuple[str, int]:
    """Parse ``[HOST:]PORT`` (host defaults to loopback).

    :param text: the option value.
    :return: ``(host, port)``.
    :raise argparse.ArgumentTypeError: when the port is not a number in 0..65535.
    """
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    if host.startswith("[") and host.endswith("]"):  # [::1]:4444
        host = host[1:-1]
    return (host or "127.0.0.1"), int(port)


def _version(text: str) -> VersionInfo:
    try:
        return VersionInfo.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``qomsim serve``'s options.

    :param parser: the subcommand's parser.
    """
    parser.add_argument(
        "--socket", metavar="PATH", help="listen on this UNIX socket (created with mode 0600)"
    )
    parser.add_argument(
        "--tcp",
        metavar="HOST:PORT",
        type=parse_tcp,
        help="listen on TCP (HOST defaults to 127.0.0.1; PORT 0 picks a free port)",
    )
    parser.add_argument(
        "--universe",
        metavar="FILE",
        help="serve the universe a snapshot FILE holds (qomsim capture's, or a packaged one in "
        "qom/snapshot/data/; default: a built-in -machine none)",
    )
    parser.add_argument(
        "--examples",
        action="store_true",
        help="also register qomsim's example types (example-memory, example-device, ...)",
    )
    parser.add_argument(
        "--singleton-policy",
        choices=[p.value for p in SingletonPolicy],
        help="what a second creation of a singleton does (default: the universe's)",
    )
    parser.add_argument(
        "--introspection",
        choices=[m.value for m in IntrospectionMode],
        help="how qom-list-properties and device-list-properties get properties",
    )
    parser.add_argument(
        "--qemu-version",
        metavar="X.Y.Z",
        type=_version,
        help="the version query-version reports (default: the --universe snapshot's, else 10.2.50)",
    )
    parser.add_argument(
        "--max-message-size",
        metavar="BYTES",
        type=_positive,
        default=MAX_TOKEN_SIZE,
        help="reject JSON messages larger than this (default: QEMU's 64 MiB)",
    )
    parser.add_argument(
        "--max-nesting",
        metavar="N",
        type=_positive,
        default=MAX_NESTING,
        help="reject JSON nested deeper than this (default: QEMU's 1024)",
    )


def _load_universe(path: str | None, examples: bool) -> Universe:
    universe = _base_universe(path)
    if examples:
        with use_universe(universe):
            register_example_types()
    return universe


def _base_universe(path: str | None) -> Universe:
    if path is None:
        return Universe(machine="none")
    try:
        universe = load_universe(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"qomsim serve: cannot load universe {path}: {exc}") from None
    return universe


def build(args: argparse.Namespace) -> tuple[Universe, ServerConfig] | int:
    """Make the universe and the server configuration ``qomsim serve``'s options ask for.

    :param args: the parsed options.
    :return: both, or an exit status after a one-line error on stderr.
    """
    if args.socket is None and args.tcp is None:
        print("qomsim serve: give --socket PATH and/or --tcp HOST:PORT", file=sys.stderr)
        return 2
    try:
        universe = _load_universe(args.universe, args.examples)
        if args.singleton_policy is not None:
            universe.singleton_policy = SingletonPolicy(args.singleton_policy)
        if args.introspection is not None:
            mode = IntrospectionMode(args.introspection)
            universe.qmp_policy.qom_list_properties = universe.qmp_policy.device_list_properties = mode
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    config = ServerConfig(args.socket, args.tcp, args.qemu_version, args.max_message_size, args.max_nesting)
    return universe, config


def serve(universe: Universe, config: ServerConfig, hooks: ServerHooks | None = None) -> int:
    """Serve until ``quit``, a signal or a fatal error.

    :param universe: the universe.
    :param config: the listening options.
    :param hooks: what a layer above adds (commands, out-of-band execution, a clean-up sequence).
    :return: the exit status.
    """
    # a request may nest --max-nesting levels and its "id" is echoed: let json.dumps recurse that deep
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * config.max_nesting + 1000))

    def announce(line: str) -> None:
        print(line, flush=True)

    return asyncio.run(QMPServer(universe, config, announce, hooks or ServerHooks()).serve())


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim serve`` (a QOM universe alone; ``migration.live.serve`` adds the migration model).

    :param args: the parsed options.
    :return: the exit status.
    """
    built = build(args)
    if isinstance(built, int):
        return built
    return serve(*built)
