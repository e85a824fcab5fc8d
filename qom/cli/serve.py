"""``qomsim serve``: the command line of :mod:`qom.qmp.server`.

It sits above both :mod:`qom.qmp` (the server) and :mod:`qom.snapshot` (``--universe FILE``), so
that neither of those imports the other.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys

from qom.errors import QOMFatal, escape_text
from qom.qdev import TYPE_DEVICE
from qom.qmp.examples import register_example_types
from qom.qmp.json import MAX_NESTING, MAX_TOKEN_SIZE
from qom.qmp.schema import VersionInfo
from qom.qmp.server import (
    DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_LIST_PATHS,
    DEFAULT_MAX_MESSAGE_TOKENS,
    DEFAULT_MAX_PENDING_REPLIES,
    DEFAULT_MAX_REPLY_SIZE,
    QMPServer,
    ServeError,
    ServerConfig,
    ServerHooks,
)
from qom.singleton import TYPE_INTERNAL, TYPE_SINGLETON
from qom.singleton import register_builtin_types as register_singleton_types
from qom.snapshot import load_universe
from qom.universe import IntrospectionMode, SingletonPolicy, Universe, use_universe

__all__ = ["EPILOG", "HELP", "SERVED_TYPES", "add_arguments", "build", "is_loopback", "parse_tcp", "run",
           "serve"]

HELP = "serve a QOM universe over QMP"

#: the types a --universe snapshot must have: the migration object (``migration``, a ``device``) is what
#: ``qomsim serve``'s migration model runs on, and the --examples' types are devices
SERVED_TYPES = (TYPE_DEVICE, "migration")

#: the end of ``qomsim serve --help``
EPILOG = """limits (QEMU has none of these; docs/known-differences.md): --max-connections, --max-list-paths,
--max-reply-size, --max-buffered, --max-message-tokens, --max-pending-replies, --idle-timeout (off by
default, as in QEMU).  Clients take turns, one request each; past --max-connections a new connection takes
the place of the oldest one that has not negotiated, else of one idle for half a second.

security: the server has no authentication; anyone who can connect controls the universe.  --tcp binds
to 127.0.0.1 unless told otherwise; a non-loopback address prints a one-line warning.  A --universe file
is data and runs no code; --design FILE.py:NAME executes FILE and --design module:NAME imports the
module: name only code you trust.

exit status:
  0  stopped by quit, SIGINT or SIGTERM
  1  the QOM core hit a fatal error (QEMU would abort)
  2  an error before serving: bad option, unloadable --universe, cannot listen (one line on stderr)"""

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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``).

    :param host: the host part of ``--tcp``.
    :return: True for a loopback address.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    parser.add_argument(
        "--max-connections",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"serve at most N connections at once; one more gets an error line "
        f"(default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-list-paths",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_LIST_PATHS,
        help=f"the most paths one qom-list-get may name (default {DEFAULT_MAX_LIST_PATHS})",
    )
    parser.add_argument(
        "--max-reply-size",
        metavar="BYTES",
        type=_positive,
        default=DEFAULT_MAX_REPLY_SIZE,
        help="answer an error instead of a reply larger than this (default 16 MiB)",
    )
    parser.add_argument(
        "--max-buffered",
        metavar="BYTES",
        type=_positive,
        default=DEFAULT_MAX_BUFFERED,
        help="bytes of unfinished messages held for all connections together; past it only the oldest "
        "unfinished message is read on (default 16 MiB)",
    )
    parser.add_argument(
        "--max-message-tokens",
        metavar="N",
        type=_positive,
        default=DEFAULT_MAX_MESSAGE_TOKENS,
        help=f"reject JSON messages of more than N tokens (default {DEFAULT_MAX_MESSAGE_TOKENS:,}; QEMU's "
        "2 Mi tokens take some 400 MB as Python values)",
    )
    parser.add_argument(
        "--max-pending-replies",
        metavar="BYTES",
        type=_positive,
        default=DEFAULT_MAX_PENDING_REPLIES,
        help="bytes of big replies waiting for slow readers, all connections together; past it the next "
        "big reply waits (default 64 MiB)",
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="close a connection that starts a message and does not finish it in that time, or that has "
        "not negotiated capabilities that long after connecting (default: never, as in QEMU)",
    )


def _load_universe(path: str | None, examples: bool) -> Universe:
    universe = _base_universe(path)
    if examples:
        with use_universe(universe):
            if TYPE_SINGLETON not in universe.types and TYPE_INTERNAL not in universe.types:
                register_singleton_types()  # the examples use them; no QEMU has them (a capture drops them)
            register_example_types()
        missing = _missing_link(universe)
        if missing is not None:
            raise SystemExit(f"qomsim serve: cannot add --examples to universe {escape_text(str(path))}: "
                             f"{missing}")
    return universe


def _missing_link(universe: Universe) -> str | None:
    """:return: the first type whose parent or interface is not in ``universe``, as a message, or None."""
    for name, ti in universe.types.items():
        if ti.parent_name is not None and ti.parent_name not in universe.types:
            return f"type '{escape_text(name)}' is missing its parent '{escape_text(ti.parent_name)}'"
        for iface in ti.interface_names:
            if iface not in universe.types:
                return f"type '{escape_text(name)}' is missing its interface '{escape_text(iface)}'"
    return None


def _base_universe(path: str | None) -> Universe:
    if path is None:
        return Universe(machine="none")
    try:
        universe = load_universe(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SystemExit(f"qomsim serve: cannot load universe {escape_text(path)}: {reason}") from None
    except (ValueError, QOMFatal) as exc:
        reason = escape_text(str(exc))
        raise SystemExit(f"qomsim serve: cannot load universe {escape_text(path)}: {reason}") from None
    for needed in SERVED_TYPES:
        if needed not in universe.types:
            raise SystemExit(f"qomsim serve: cannot load universe {escape_text(path)}: it has no type "
                             f"'{needed}' (every QEMU system emulator has it; the served migration model "
                             "needs it)")
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
    config = ServerConfig(
        args.socket,
        args.tcp,
        args.qemu_version,
        args.max_message_size,
        args.max_nesting,
        max_connections=args.max_connections,
        max_list_paths=args.max_list_paths,
        max_reply_size=args.max_reply_size,
        idle_timeout=args.idle_timeout,
        max_buffered=args.max_buffered,
        max_message_tokens=args.max_message_tokens,
        max_pending_replies=args.max_pending_replies,
    )
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
        if line.startswith("qomsim: QMP listening on tcp:") and config.tcp is not None \
                and not is_loopback(config.tcp[0]):
            print(
                f"qomsim serve: warning: listening on {escape_text(config.tcp[0])}, not loopback; QMP has "
                "no authentication: anyone who can reach this port controls the universe",
                file=sys.stderr,
                flush=True,
            )

    try:
        return asyncio.run(QMPServer(universe, config, announce, hooks or ServerHooks()).serve())
    except ServeError as exc:
        print(f"qomsim serve: {escape_text(str(exc))}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim serve`` (a QOM universe alone; ``migration.live.serve`` adds the migration model).

    :param args: the parsed options.
    :return: the exit status.
    """
    built = build(args)
    if isinstance(built, int):
        return built
    return serve(*built)
