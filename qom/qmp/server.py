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
created with mode 0600 and removed on exit, only if it is still the socket this
server created; an existing path (a live server's socket, a stale one, any other
file) is refused and left alone, and a failed bind removes nothing.

No client can starve the others (limits QEMU does not have; see
docs/known-differences.md): one ``qom-list-get`` names at most
:attr:`ServerConfig.max_list_paths` paths; a reply larger than
:attr:`ServerConfig.max_reply_size` bytes is replaced by an error; replies are
written in chunks, each awaiting the client's reading (backpressure), so a
client that does not read holds only its own connection; at most
:attr:`ServerConfig.max_connections` connections are served at once (one more is
told so in one JSON error line and closed; nothing is logged per refusal); and,
when :attr:`ServerConfig.idle_timeout` is set, a connection that starts a
message and does not finish it in that many seconds is closed.

If the QOM core raises :class:`~qom.errors.QOMFatal` (QEMU would abort), the
server prints the message and exits with status 1, as QEMU would die.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from qom.errors import QOMFatal
from qom.qmp.dispatch import dispatch, error_response, greeting, is_oob
from qom.qmp.json import JSON, MAX_NESTING, MAX_TOKEN_SIZE, JSONMessage, JSONMessageParser, encode_reply
from qom.qmp.schema import Command, QMPSession, SessionState, VersionInfo
from qom.universe import Universe

__all__ = [
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_LIST_PATHS",
    "DEFAULT_MAX_REPLY_SIZE",
    "QMPServer",
    "ServeError",
    "ServerAbort",
    "ServerConfig",
    "ServerHooks",
]

#: default cap of concurrent connections (well below the usual 1,024 descriptors)
DEFAULT_MAX_CONNECTIONS = 64
#: default cap of the paths one ``qom-list-get`` may name
DEFAULT_MAX_LIST_PATHS = 1024
#: default cap of one reply's size in bytes
DEFAULT_MAX_REPLY_SIZE = 16 << 20
#: default cap of the bytes of unfinished messages held for all connections together
DEFAULT_MAX_BUFFERED = 16 << 20
#: replies are written in chunks of this size, each awaiting the client's reading
_CHUNK = 64 << 10
#: a chunk at least this big, or one that continues a message, is parsed in a worker thread
_THREAD_FEED = 8 << 10


class ServeError(Exception):
    """The server could not start listening; the message is one line, ready to print."""


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
    :param max_connections: connections served at once; one more is refused.
    :param max_list_paths: paths one ``qom-list-get`` may name.
    :param max_reply_size: byte cap of one reply (larger ones become an error).
    :param idle_timeout: seconds a started message may take to finish (None: no limit, as in QEMU).
    :param max_buffered: bytes of unfinished messages held for all connections together; past it, only
        the connection whose message started first keeps being read (the others wait, unread).
    """

    socket_path: str | None = None
    tcp: tuple[str, int] | None = None
    version: VersionInfo | None = None
    max_message_size: int = MAX_TOKEN_SIZE
    max_nesting: int = MAX_NESTING
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_list_paths: int = DEFAULT_MAX_LIST_PATHS
    max_reply_size: int = DEFAULT_MAX_REPLY_SIZE
    idle_timeout: float | None = None
    max_buffered: int = DEFAULT_MAX_BUFFERED


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    session: QMPSession
    #: bytes of its unfinished message, and when that message started
    buffered: int = 0
    started: float | None = None
    #: where the idle timeout counts from (the message's start, or the end of a wait for memory)
    timed_from: float | None = None


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
    _quitting: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _handlers: set[asyncio.Task[object]] = field(default_factory=set)
    _clients: list[_Client] = field(default_factory=list)
    _stop: asyncio.Event | None = None
    _last_loop_error: float = -1e9
    _budget: asyncio.Condition | None = None

    async def serve(self) -> int:
        """Listen until ``quit``, a signal, or a fatal error.

        :return: the process exit status.
        """
        self._stop = asyncio.Event()
        self._budget = asyncio.Condition()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        servers: list[asyncio.base_events.Server] = []
        created: tuple[int, int] | None = None
        try:
            # handlers first: a client may signal the server as soon as it reads the "listening" line
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            if self.config.socket_path is not None:
                sock, created = _bind_unix(self.config.socket_path)
                servers.append(await asyncio.start_unix_server(self._handle, sock=sock))
                self.announce(f"qomsim: QMP listening on unix:{self.config.socket_path}")
            if self.config.tcp is not None:
                host, port = self.config.tcp
                try:
                    srv = await asyncio.start_server(self._handle, host, port)
                except OSError as exc:  # socket.gaierror included
                    gai = isinstance(exc, socket.gaierror)
                    reason = exc.strerror if gai or not exc.errno else os.strerror(exc.errno)
                    raise ServeError(f"cannot listen on tcp:{_hostport(host, port)}: {reason}") from None
                servers.append(srv)
                bound = srv.sockets[0].getsockname()
                self.announce(f"qomsim: QMP listening on tcp:{_hostport(bound[0], bound[1])}")
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
            if created is not None and self.config.socket_path is not None:
                _unlink_if_ours(self.config.socket_path, created)
        return self.exit_status

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        """One line, at most every 10 s, instead of asyncio's traceback per failed ``accept()``."""
        now = time.monotonic()
        if now - self._last_loop_error < 10.0:
            return
        self._last_loop_error = now
        exc = context.get("exception")
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else (exc or context.get("message"))
        print(f"qomsim: {context.get('message', 'error')}: {what}", file=sys.stderr, flush=True)

    def _send(self, client: _Client, message: dict[str, JSON]) -> None:
        """Queue a small message (greeting, event) without waiting."""
        if not client.writer.is_closing():
            client.writer.write(encode_reply(message) + b"\r\n")

    async def _reply(self, client: _Client, message: dict[str, JSON]) -> None:
        """Write one reply in chunks, waiting for the client to read each (backpressure)."""
        cap = self.config.max_reply_size
        # a reply whose strings alone pass the cap is refused before it is encoded (no second copy)
        data = b"" if _strings_exceed(message, cap) else encode_reply(message)
        if not data or len(data) > cap:
            size = f"Reply of {len(data)} bytes" if data else "Reply"
            desc = f"{size} exceeds the limit of {cap} bytes (qomsim serve --max-reply-size)"
            data = encode_reply(error_response("GenericError", desc))
        data += b"\r\n"
        for start in range(0, len(data), _CHUNK):
            if client.writer.is_closing():
                return
            client.writer.write(data[start:start + _CHUNK])
            await client.writer.drain()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        desc = f"Too many connections (qomsim serve --max-connections {self.config.max_connections})"
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(encode_reply(error_response("GenericError", desc)) + b"\r\n")
            await asyncio.wait_for(writer.drain(), 1.0)
        with contextlib.suppress(Exception):
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, started: float | None) -> bytes | None:
        """The next chunk, or None when a started message ran past the idle timeout."""
        timeout = self.config.idle_timeout
        if timeout is None or started is None:
            return await reader.read(65536)
        try:
            return await asyncio.wait_for(reader.read(65536), max(0.0, started + timeout - time.monotonic()))
        except TimeoutError:
            return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= self.config.max_connections:
            await self._refuse(writer)
            return
        writer.transport.set_write_buffer_limits(high=_CHUNK)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        session = QMPSession(version=self.config.version, max_list_paths=self.config.max_list_paths,
                             offered=("oob",) if self.hooks.offer_oob else ())
        client = _Client(writer, session)
        self._clients.append(client)
        parser = JSONMessageParser(
            max_token_size=self.config.max_message_size, max_nesting=self.config.max_nesting
        )
        try:
            self._send(client, greeting(session, self.universe))
            while self._stop is not None and not self._stop.is_set():
                await self._admit(client)
                data = await self._read(reader, client.timed_from)
                if not data:
                    break  # end of file, or a message left unfinished past the idle timeout
                if len(data) >= _THREAD_FEED or parser.pending:
                    # lexing and building a big message takes long: a worker thread does it, so the
                    # event loop keeps answering the other clients (the QOM core stays on this thread)
                    messages = await asyncio.to_thread(parser.feed, data)
                else:
                    messages = parser.feed(data)
                await self._account(client, parser)
                done = await self._answer(client, messages)
                # the requests and replies die here: a 60 MB one must not stay alive while the next
                # message arrives
                messages = []
                if done:
                    return
                await writer.drain()
                await asyncio.sleep(0)  # let the other clients in between two chunks of a flood
        except (ConnectionError, OSError):
            pass  # the client went away; nothing else is affected
        finally:
            self._clients.remove(client)
            client.buffered, client.started, client.timed_from = 0, None, None
            if self._budget is not None:
                async with self._budget:
                    self._budget.notify_all()
            writer.close()

    async def _account(self, client: _Client, parser: JSONMessageParser) -> None:
        """Record what the client's unfinished message holds; wake the readers waiting for room."""
        before = client.buffered
        client.buffered = parser.buffered if parser.pending else 0
        client.started = (client.started or time.monotonic()) if parser.pending else None
        client.timed_from = (client.timed_from or client.started) if parser.pending else None
        if client.buffered < before and self._budget is not None:
            async with self._budget:
                self._budget.notify_all()

    def _may_read(self, client: _Client) -> bool:
        if client.buffered == 0:
            return True  # between messages: small requests are never held up
        if sum(c.buffered for c in self._clients) <= self.config.max_buffered:
            return True
        first = min((c for c in self._clients if c.started is not None), key=lambda c: c.started or 0.0)
        return first is client  # the oldest unfinished message always progresses: no deadlock

    async def _admit(self, client: _Client) -> None:
        """Wait, unread, while the connections together hold more than ``max_buffered`` bytes."""
        if self._budget is None or self._may_read(client):
            return
        async with self._budget:
            await self._budget.wait_for(lambda: self._may_read(client))
        client.timed_from = time.monotonic()  # the time we held it back does not count against it

    async def _answer(self, client: _Client, messages: list[JSONMessage]) -> bool:
        """Answer complete messages in order; True when the server is to stop (quit, fatal error)."""
        session = client.session
        for msg in messages:
            if self._quitting:
                # QEMU: in-band requests queued after quit are never dispatched; out-of-band ones
                # run on the monitor I/O thread until monitor_cleanup() stops it
                await client.writer.drain()
                await asyncio.sleep(0)  # one request per turn: the clean-up steps in between
                if self._stop is None or self._stop.is_set():
                    return True
                if not (is_oob(msg.value) and self.hooks.oob_open()):
                    continue
            if msg.error is not None:
                await self._reply(client, error_response("GenericError", msg.error))
                continue
            try:
                response = _over_cap(msg.value, session) or dispatch(
                    msg.value, universe=self.universe, session=session, extra=self.hooks.commands)
            except QOMFatal as fatal:
                print(f"qomsim: fatal: {fatal.message}", file=sys.stderr, flush=True)
                self.exit_status = 1
                self._shutdown()
                return True
            except ServerAbort as abort:
                self._abort(abort)
                return True
            await self._reply(client, response)
            if session.state is SessionState.QUIT and not self._quitting:
                self._broadcast_shutdown()
                if self.hooks.shutdown is None:
                    await client.writer.drain()
                    self._shutdown()
                    return True
                # the clean-up starts whatever this client does next (even hanging up at once)
                self._quitting = True
                task = asyncio.create_task(self._clean_up(self.hooks.shutdown))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return False

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


def _strings_exceed(message: JSON, cap: int) -> bool:
    """Whether the strings in ``message`` alone are longer than ``cap`` characters (stops early)."""
    total = 0
    stack: list[JSON] = [message]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            total += sum(len(k) for k in v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        if total > cap:
            return True
    return False


def _over_cap(request: JSON, session: QMPSession) -> dict[str, JSON] | None:
    """Refuse a ``qom-list-get`` naming too many paths before its arguments are even checked one by one
    (checking 200,000 of them would itself hold the event loop); the error is the handler's own."""
    cap = session.max_list_paths
    if cap is None or session.state is not SessionState.COMMAND or not isinstance(request, dict):
        return None
    arguments = request.get("arguments")
    if request.get("execute") != "qom-list-get" or not isinstance(arguments, dict):
        return None
    paths = arguments.get("paths")
    if not isinstance(paths, list) or len(paths) <= cap:
        return None
    response = error_response("GenericError", f"Parameter 'paths' expects a list of at most {cap} elements")
    if "id" in request:
        response["id"] = request["id"]
    return response


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_unix(path: str) -> tuple[socket.socket, tuple[int, int]]:
    """Bind a new UNIX socket at ``path`` (mode 0600) without ever removing what is there.

    :return: the listening socket and the ``(st_dev, st_ino)`` of the file it created.
    :raise ServeError: when ``path`` exists (a live server's socket: "already in use"), or bind fails.
    """
    where = f"cannot listen on unix:{path}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ServeError(f"{where}: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            what = "a directory" if stat.S_ISDIR(st.st_mode) else "a file that is not a socket"
            raise ServeError(f"{where}: the path exists and is {what} (it is left alone)")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(path)
        except OSError:
            raise ServeError(f"{where}: a stale socket nobody listens on is there; remove it first") from None
        finally:
            probe.close()
        raise ServeError(f"{where}: already in use (a server answers there)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is born 0600
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        reason = "path too long" if "too long" in str(exc) else (exc.strerror or str(exc))
        if exc.errno == errno.EADDRINUSE:
            reason = "already in use"
        raise ServeError(f"{where}: {reason}") from None
    finally:
        os.umask(old)
    st = os.lstat(path)
    sock.listen(128)
    return sock, (st.st_dev, st.st_ino)


def _unlink_if_ours(path: str, created: tuple[int, int]) -> None:
    """Remove the socket file only if it is still the one this server created."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == created:
        with contextlib.suppress(OSError):
            os.unlink(path)
