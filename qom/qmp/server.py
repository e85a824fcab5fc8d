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

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from qom.errors import QOMFatal
from qom.qmp.dispatch import dispatch, error_response, greeting, is_oob
from qom.qmp.json import JSON, MAX_NESTING, MAX_TOKEN_SIZE, JSONMessageParser
from qom.qmp.schema import Command, QMPSession, SessionState, VersionInfo
from qom.universe import Universe

__all__ = ["QMPServer", "ServerAbort", "ServerConfig", "ServerHooks"]


class ServerAbort(Exception):
    """Raised by a hook's command or shutdown step: the server dies as the emulated QEMU would.

    :param report: what to print on stderr (one or more lines).
    :param status: the exit status (134 for an abort).
    """

    def __init__(self, report: str, status: int) -> None:
        super().__init__(report)
        self.report = report
        self.status = status


def _always() -> bool:
    return True


@dataclass
class ServerHooks:
    """What a layer above adds to the server, without the server knowing what it is.

    :param commands: more commands (looked up before the built-in ones); those with ``allow_oob``
        may be run with ``exec-oob``.
    :param offer_oob: offer the ``oob`` capability in the greeting, as QEMU does for a monitor on a
        socket (``monitor/qmp.c:monitor_qmp_caps_reset``).
    :param oob_open: whether ``exec-oob`` requests are still dispatched (QEMU's monitor I/O thread
        runs until ``monitor_cleanup()`` stops it); checked for every request after ``quit``.
    :param shutdown: after ``quit`` is answered: the clean-up, one step per iteration; the server
        goes back to its event loop between two steps, so other requests are dispatched between them.
    """

    commands: Mapping[str, Command] = field(default_factory=dict)
    offer_oob: bool = False
    oob_open: Callable[[], bool] = _always
    shutdown: Callable[[], Iterator[None]] | None = None


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
    :param hooks: commands, out-of-band execution and a clean-up sequence from a layer above.
    """

    universe: Universe
    config: ServerConfig
    announce: Callable[[str], None] = print
    hooks: ServerHooks = field(default_factory=ServerHooks)
    exit_status: int = 0
    _clients: list[_Client] = field(default_factory=list)
    _stop: asyncio.Event | None = None
    _quitting: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _handlers: set[asyncio.Task[object]] = field(default_factory=set)

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
            handlers = [t for t in self._handlers if not t.done()]
            if handlers:  # closed writers end their reads: let each connection finish on its own
                await asyncio.wait(handlers, timeout=5)
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
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        session = QMPSession(version=self.config.version, offered=("oob",) if self.hooks.offer_oob else ())
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
                    if self._quitting:
                        # QEMU: in-band requests queued after quit are never dispatched; out-of-band
                        # ones run on the monitor I/O thread until monitor_cleanup() stops it
                        await writer.drain()
                        await asyncio.sleep(0)  # one request per turn: the clean-up steps in between
                        if self._stop is None or self._stop.is_set():
                            return
                        if not (is_oob(msg.value) and self.hooks.oob_open()):
                            continue
                    if msg.error is not None:
                        self._send(client, error_response("GenericError", msg.error))
                        continue
                    try:
                        response = dispatch(msg.value, universe=self.universe, session=session,
                                            extra=self.hooks.commands)
                    except QOMFatal as fatal:
                        print(f"qomsim: fatal: {fatal.message}", file=sys.stderr, flush=True)
                        self.exit_status = 1
                        self._shutdown()
                        return
                    except ServerAbort as abort:
                        self._abort(abort)
                        return
                    self._send(client, response)
                    if session.state is SessionState.QUIT and not self._quitting:
                        self._broadcast_shutdown()
                        if self.hooks.shutdown is None:
                            await writer.drain()
                            self._shutdown()
                            return
                        # the clean-up starts whatever this client does next (even hanging up at once)
                        self._quitting = True
                        task = asyncio.create_task(self._clean_up(self.hooks.shutdown))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
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

    async def _clean_up(self, steps: Callable[[], Iterator[None]]) -> None:
        try:
            for _ in steps():
                await asyncio.sleep(0)
        except ServerAbort as abort:
            self._abort(abort)
        except Exception as exc:  # a bug of the layer above: report it, never hang after quit
            print(f"qomsim: internal error while quitting: {exc!r}", file=sys.stderr, flush=True)
            self.exit_status = 1
        finally:
            self._shutdown()  # whatever happened, the server stops after quit

    def _abort(self, abort: ServerAbort) -> None:
        print(abort.report, file=sys.stderr, flush=True)
        self.exit_status = abort.status
        self._shutdown()

    def _shutdown(self) -> None:
        if self._stop is not None:
            self._stop.set()
