"""``qomsim serve``: a QOM universe behind a real QMP socket.

Any QMP client works against it unchanged, for example QEMU's own ``qmp-shell``::

    $ qomsim serve --socket /tmp/qomsim.sock &
    qomsim: QMP listening on unix:/tmp/qomsim.sock
    $ qmp-shell /tmp/qomsim.sock
    (QEMU) qom-list path=/

The server speaks QMP as ``monitor/qmp.c`` does: a greeting with the emulated
version and no capabilities; per-connection capabilities negotiation; the
request's ``id`` echoed; QEMU's JSON-streamer limits and error texts
(:mod:`qom.qmp.json`); responses ending in ``\\r\\n``.  Every command runs on
the one event-loop thread, so the QOM core never sees concurrency.  A client
that sends garbage or hangs up mid-message affects only its own connection.
``quit`` is answered, a ``SHUTDOWN`` event goes to every negotiated client, and
the server exits; SIGTERM and SIGINT also stop it cleanly.  The UNIX socket is
created with mode 0600 and removed on exit.

If the QOM core raises :class:`~qom.errors.QOMFatal` (QEMU would abort), the
server prints the message and exits with status 1, as QEMU would die.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qom.errors import QOMFatal
from qom.qmp.dispatch import dispatch, error_response, greeting
from qom.qmp.examples import register_example_types
from qom.qmp.json import JSON, MAX_NESTING, MAX_TOKEN_SIZE, JSONMessageParser
from qom.qmp.schema import QMPSession, SessionState, VersionInfo
from qom.universe import IntrospectionMode, SingletonPolicy, Universe, use_universe

__all__ = ["QMPServer", "ServerConfig", "add_arguments", "parse_tcp", "run"]


@dataclass
class ServerConfig:
    """What to listen on and how.

    :param socket_path: a UNIX socket path, or None.
    :param tcp: ``(host, port)``, or None; port 0 picks a free port.
    :param version: the version to report (None: the universe's, else 10.2.50).
    :param max_message_size: byte cap of one JSON message.
    :param max_nesting: nesting cap of one JSON message.
    """

    socket_path: str | None = None
    tcp: tuple[str, int] | None = None
    version: VersionInfo | None = None
    max_message_size: int = MAX_TOKEN_SIZE
    max_nesting: int = MAX_NESTING


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    session: QMPSession


@dataclass
class QMPServer:
    """One served universe and its connections.

    :param universe: the universe every connection acts on.
    :param config: listening options.
    :param announce: called with each listening address once it is ready.
    """

    universe: Universe
    config: ServerConfig
    announce: Callable[[str], None] = print
    exit_status: int = 0
    _clients: list[_Client] = field(default_factory=list)
    _stop: asyncio.Event | None = None

    async def serve(self) -> int:
        """Listen until ``quit``, a signal, or a fatal error.

        :return: the process exit status.
        """
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        servers: list[asyncio.base_events.Server] = []
        try:
            if self.config.socket_path is not None:
                old = os.umask(0o177)  # the socket file is born 0600
                try:
                    srv = await asyncio.start_unix_server(self._handle, path=self.config.socket_path)
                    servers.append(srv)
                finally:
                    os.umask(old)
                self.announce(f"qomsim: QMP listening on unix:{self.config.socket_path}")
            if self.config.tcp is not None:
                host, port = self.config.tcp
                srv = await asyncio.start_server(self._handle, host, port)
                servers.append(srv)
                bound = srv.sockets[0].getsockname()
                self.announce(f"qomsim: QMP listening on tcp:{bound[0]}:{bound[1]}")
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            for srv in servers:
                srv.close()
            for client in list(self._clients):
                client.writer.close()
            for srv in servers:
                with contextlib.suppress(Exception):
                    await srv.wait_closed()
            if self.config.socket_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.config.socket_path)
        return self.exit_status

    def _send(self, client: _Client, message: dict[str, JSON]) -> None:
        if not client.writer.is_closing():
            client.writer.write(json.dumps(message).encode("utf-8") + b"\r\n")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = QMPSession(version=self.config.version)
        client = _Client(writer, session)
        self._clients.append(client)
        parser = JSONMessageParser(
            max_token_size=self.config.max_message_size, max_nesting=self.config.max_nesting
        )
        try:
            self._send(client, greeting(session, self.universe))
            while self._stop is not None and not self._stop.is_set():
                data = await reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    if msg.error is not None:
                        self._send(client, error_response("GenericError", msg.error))
                        continue
                    try:
                        response = dispatch(msg.value, universe=self.universe, session=session)
                    except QOMFatal as fatal:
                        print(f"qomsim: fatal: {fatal.message}", file=sys.stderr, flush=True)
                        self.exit_status = 1
                        self._shutdown()
                        return
                    self._send(client, response)
                    if session.state is SessionState.QUIT:
                        self._broadcast_shutdown()
                        await writer.drain()
                        self._shutdown()
                        return
                await writer.drain()
                await asyncio.sleep(0)  # let the other clients in between two chunks of a flood
        except (ConnectionError, OSError):
            pass  # the client went away; nothing else is affected
        finally:
            self._clients.remove(client)
            writer.close()

    def _broadcast_shutdown(self) -> None:
        now = time.time()
        event: dict[str, JSON] = {
            "timestamp": {"seconds": int(now), "microseconds": int((now % 1) * 1_000_000)},
            "event": "SHUTDOWN",
            "data": {"guest": False, "reason": "host-qmp-quit"},
        }
        for client in self._clients:
            if client.session.state is not SessionState.NEGOTIATION:
                self._send(client, event)

    def _shutdown(self) -> None:
        if self._stop is not None:
            self._stop.set()


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
        help="serve the universe saved in FILE (default: a built-in -machine none)",
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
        help="the version query-version reports (default: 10.2.50)",
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
        snapshot = importlib.import_module("qom.snapshot")  # the capture work's module, imported lazily
    except ModuleNotFoundError as exc:
        if exc.name != "qom.snapshot":
            raise
        raise SystemExit("qomsim serve: --universe needs qom.snapshot, which this build lacks") from None
    try:
        universe = snapshot.load_universe(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"qomsim serve: cannot load universe {path}: {exc}") from None
    if not isinstance(universe, Universe):
        raise SystemExit(f"qomsim serve: qom.snapshot.load_universe({path!r}) did not return a Universe")
    return universe


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim serve``.

    :param args: the parsed options.
    :return: the exit status.
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
    # a request may nest --max-nesting levels and its "id" is echoed: let json.dumps recurse that deep
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * args.max_nesting + 1000))

    def announce(line: str) -> None:
        print(line, flush=True)

    return asyncio.run(QMPServer(universe, config, announce).serve())
