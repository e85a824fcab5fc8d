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
docs/known-differences.md):

* clients take turns: each complete request is answered in a turn of its own, and
  the server goes back to its event loop between two (a pipelined batch, a flood of
  ``exec-oob`` or of ``object-add`` gets one request per turn, as every other
  client does); big messages are parsed on one worker thread, never more;
* one message holds at most :attr:`ServerConfig.max_message_tokens` tokens (QEMU's
  2 Mi tokens take some 400 MB as Python values) and the unfinished messages of all
  connections together hold at most :attr:`ServerConfig.max_buffered` bytes,
  tokens counted at what they cost; one ``qom-list-get`` names at most
  :attr:`ServerConfig.max_list_paths` paths;
* a reply larger than :attr:`ServerConfig.max_reply_size` bytes is replaced by an
  error; replies are written in chunks, each awaiting the client's reading
  (backpressure), so a client that does not read holds only its own connection,
  and the big replies waiting for their readers hold at most
  :attr:`ServerConfig.max_pending_replies` bytes together (a small reply never waits);
* at most :attr:`ServerConfig.max_connections` connections are served at once: one
  more takes the place of the oldest connection that has not negotiated capabilities,
  else of the one idle longest if it has been idle for :data:`EVICT_IDLE` seconds (told
  so in one JSON error line), or is refused the same way when none is; nothing is
  logged per refusal;
* when :attr:`ServerConfig.idle_timeout` is set, a connection that starts a message
  and does not finish it in that many seconds is closed, and so is one that has not
  negotiated capabilities that long after connecting.

``quit`` starts the shutdown before its answer is written: a client that hangs up
at once still stops the server (as QEMU does).

If the QOM core raises :class:`~qom.errors.QOMFatal` (QEMU would abort), the
server prints the message and exits with status 1, as QEMU would die.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
    "DEFAULT_MAX_MESSAGE_TOKENS",
    "DEFAULT_MAX_PENDING_REPLIES",
    "DEFAULT_MAX_REPLY_SIZE",
    "EVICT_IDLE",
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
#: default cap of the tokens of one message (QEMU's is 2 Mi: some 400 MB once they are Python values)
DEFAULT_MAX_MESSAGE_TOKENS = 1 << 16
#: default cap of the bytes of big replies waiting for their readers, all connections together
DEFAULT_MAX_PENDING_REPLIES = 64 << 20
#: a connection that sent nothing for this many seconds may be evicted to make room for a new one
EVICT_IDLE = 0.5
#: replies are written in chunks of this size, each awaiting the client's reading
_CHUNK = 64 << 10
#: at most this many bytes a client sent before hanging up are read after a write to it failed (more than a
#: socket's receive buffer holds)
_UNREAD_LIMIT = 4 << 20
#: the kernel's queue of connections not yet accepted (asyncio's default, kept; past it a client's connect()
#: waits, or fails with EAGAIN when it is non-blocking)
LISTEN_BACKLOG = 100
#: the most connections accepted at one wake-up of the event loop (asyncio would take a whole backlog's
#: worth): between two batches the loop reads what the connections already open have sent, so that
#: :meth:`QMPServer._evict` can tell a half message from a client answering its greeting
ACCEPT_BATCH = 8
#: a chunk at least this big, or one that continues a message, is parsed in a worker thread (and a reply
#: whose strings are this long is encoded there)
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


class _Protocol(asyncio.StreamReaderProtocol):
    """asyncio's stream protocol, except that a connection lost to an error (a write to a client that
    hung up) ends the reading as end-of-file does: what the client sent before stays readable (asyncio
    would raise instead, dropping it), and is carried out, as QEMU carries out a ``quit`` sent just
    before hanging up.  It also notes when bytes last arrived: a client whose request waits, unread, in
    a busy server is not idle."""

    #: when the client's last bytes arrived (before the server gets round to reading them)
    heard: float = 0.0
    _fd: int = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else -1
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.heard = time.monotonic()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, OSError):
            # a failed write (the client hung up) stops the transport reading at once, and it closes the
            # socket after this call: what the client sent before hanging up, and the transport has not
            # read yet, is read here (the socket is still open; a peer that hung up has nothing more to
            # send), whether or not it arrived before the write failed
            for data in _unread(self._fd):
                self.data_received(data)
            exc = None
        super().connection_lost(exc)


def _full_queue(server: asyncio.Server) -> asyncio.Server:
    """:param server: a server asyncio listens on with ``backlog=ACCEPT_BATCH`` (what it accepts at once).
    :return: the same server, its sockets listening again with :data:`LISTEN_BACKLOG`, the kernel's queue
        (asyncio hands out wrappers without ``listen``: through a duplicate of each descriptor)."""
    for listening in server.sockets:
        with socket.fromfd(listening.fileno(), listening.family, listening.type) as dup:
            dup.listen(LISTEN_BACKLOG)
    return server


def _unread(fd: int, limit: int = _UNREAD_LIMIT) -> Iterator[bytes]:
    """What a non-blocking socket holds unread, chunk by chunk, until it would block, ends or fails, or
    ``limit`` bytes were read (a client that shut down only its reading side may still be sending)."""
    while fd >= 0 and limit > 0:
        try:
            data = os.read(fd, min(_CHUNK, limit))
        except OSError:  # BlockingIOError (nothing more for now), ECONNRESET, EBADF
            return
        if not data:
            return
        limit -= len(data)
        yield data


@dataclass
class ServerHooks:
    """What a layer above adds to the server, without the server knowing what it is.

    :param commands: more commands (looked up before the built-in ones); those with ``allow_oob``
        may be run with ``exec-oob``.
    :param offer_oob: offer the ``oob`` capability in the greeting, as QEMU does for a monitor on a
        socket (``monitor/qmp.c:monitor_qmp_caps_reset``).
    :param oob_open: whether ``exec-oob`` requests are still dispatched (QEMU's monitor I/O thread
        runs until ``monitor_cleanup()`` stops it); checked for every request after ``quit``.
    :param shutdown: after ``quit`` is answered, or on SIGTERM or SIGINT: the clean-up, one step per
        iteration, given what asked for it (``"quit"``, ``"SIGTERM"``, ``"SIGINT"``); the server goes back
        to its event loop between two steps, so other requests are dispatched between them.
    """

    commands: Mapping[str, Command] = field(default_factory=dict)
    offer_oob: bool = False
    oob_open: Callable[[], bool] = _always
    shutdown: Callable[[str], Iterator[None]] | None = None


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
    :param idle_timeout: seconds a started message may take to finish, and a new connection may take to
        negotiate capabilities (None: no limit, as in QEMU).
    :param max_buffered: bytes of unfinished messages held for all connections together; past it, only
        the connection whose message started first keeps being read (the others wait, unread).
    :param max_message_tokens: token cap of one JSON message (QEMU: 2 Mi).
    :param max_pending_replies: bytes of replies bigger than one chunk held for slow readers, all
        connections together; past it, the next big reply waits (unencoded) for room.
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
    max_message_tokens: int = DEFAULT_MAX_MESSAGE_TOKENS
    max_pending_replies: int = DEFAULT_MAX_PENDING_REPLIES


@dataclass
class _Client:
    writer: asyncio.StreamWriter
    session: QMPSession
    #: bytes of its unfinished message, and when that message started
    buffered: int = 0
    started: float | None = None
    #: where the idle timeout counts from (the message's start, or the end of a wait for memory)
    timed_from: float | None = None
    #: when it connected, and when it last sent a byte or was answered (for eviction)
    connected: float = 0.0
    last_active: float = 0.0
    #: bytes of the big reply it is being written (counted against max_pending_replies)
    replying: int = 0
    #: a request of it is being answered
    busy: bool = False

    def idle_since(self) -> float:
        """:return: when it last sent a byte (as the transport received it, read or not) or was answered."""
        protocol = self.writer.transport.get_protocol()
        heard = protocol.heard if isinstance(protocol, _Protocol) else 0.0
        return max(self.last_active, heard)


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
    _pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def serve(self) -> int:
        """Listen until ``quit``, a signal, or a fatal error.

        :return: the process exit status.
        """
        self._stop = asyncio.Event()
        self._budget = asyncio.Condition()
        # one worker parses the big messages: more would take the GIL from the event loop more often
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qomsim-parse")
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_error)
        servers: list[asyncio.base_events.Server] = []
        created: tuple[int, int] | None = None
        try:
            # handlers first: a client may signal the server as soon as it reads the "listening" line
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._signalled, sig)
            if self.config.socket_path is not None:
                sock, created = _bind_unix(self.config.socket_path)
                servers.append(_full_queue(await loop.create_unix_server(self._protocol, sock=sock,
                                                                          backlog=ACCEPT_BATCH)))
                self.announce(f"qomsim: QMP listening on unix:{self.config.socket_path}")
            if self.config.tcp is not None:
                host, port = self.config.tcp
                try:
                    srv = await loop.create_server(self._protocol, host, port, backlog=ACCEPT_BATCH)
                except OSError as exc:  # socket.gaierror included
                    gai = isinstance(exc, socket.gaierror)
                    reason = exc.strerror if gai or not exc.errno else os.strerror(exc.errno)
                    raise ServeError(f"cannot listen on tcp:{_hostport(host, port)}: {reason}") from None
                servers.append(_full_queue(srv))
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
            handlers = {t for t in self._handlers if not t.done()}
            if handlers:  # closed writers end their reads: let each connection finish on its own
                _done, handlers = await asyncio.wait(handlers, timeout=0.25)
            if handlers:  # a client that does not read its reply is not waited for any longer
                for client in list(self._clients):
                    client.writer.transport.abort()
                _done, handlers = await asyncio.wait(handlers, timeout=0.25)
            for task in handlers:  # waiting for a parse: the connection ends without its message
                task.cancel()
            if handlers:
                await asyncio.wait(handlers, timeout=1)
            for srv in servers:
                with contextlib.suppress(Exception):
                    await srv.wait_closed()
            if created is not None and self.config.socket_path is not None:
                _unlink_if_ours(self.config.socket_path, created)
            self._pool.shutdown(wait=False, cancel_futures=True)
        return self.exit_status

    def _protocol(self) -> asyncio.StreamReaderProtocol:
        """A connection's protocol (what ``asyncio.start_server`` makes, but see :class:`_Protocol`)."""
        return _Protocol(asyncio.StreamReader(), self._handle)

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

    def _encode(self, message: dict[str, JSON]) -> bytes:
        cap = self.config.max_reply_size
        # a reply whose strings alone pass the cap is refused before it is encoded (no second copy)
        data = b"" if _strings_exceed(message, cap) else encode_reply(message)
        if not data or len(data) > cap:
            size = f"Reply of {len(data)} bytes" if data else "Reply"
            desc = f"{size} exceeds the limit of {cap} bytes (qomsim serve --max-reply-size)"
            data = encode_reply(error_response("GenericError", desc))
        return data

    async def _encoded(self, message: dict[str, JSON]) -> bytes:
        """The reply's bytes; a big one (a 60 MB echoed id) is encoded on the worker thread, so the
        event loop answers the other clients meanwhile."""
        if self._pool is None or not _strings_exceed(message, _THREAD_FEED):
            return self._encode(message)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._encode, message)

    def _replies_fit(self, size: int) -> bool:
        held = sum(c.replying for c in self._clients)
        return held == 0 or held + size <= self.config.max_pending_replies

    async def _reply(self, client: _Client, message: dict[str, JSON]) -> None:
        """Write one reply in chunks, waiting for the client to read each (backpressure).

        A reply bigger than one chunk is held until its reader has read it: while the big replies
        held pass ``max_pending_replies``, the next one is dropped and waits, unencoded, for room.
        """
        data = await self._encoded(message)
        if len(data) > _CHUNK and not self._replies_fit(len(data)) and self._budget is not None:
            size = len(data)
            del data  # wait without the encoded copy: the message itself is all this client holds
            async with self._budget:
                await self._budget.wait_for(lambda: self._replies_fit(size))
            data = await self._encoded(message)
        if len(data) > _CHUNK:
            client.replying = len(data)
        try:
            view = memoryview(data)
            for start in range(0, len(data), _CHUNK):
                if client.writer.is_closing():
                    return
                client.writer.write(view[start:start + _CHUNK])
                await client.writer.drain()
            if not client.writer.is_closing():
                client.writer.write(b"\r\n")
        except (ConnectionError, OSError):
            # the client went away: the requests it sent before are still carried out (QEMU too
            # dispatches what it has read), their answers go nowhere
            client.writer.close()
        finally:
            if client.replying:
                client.replying = 0
                await self._wake()
        client.last_active = time.monotonic()

    async def _wake(self) -> None:
        if self._budget is not None:
            async with self._budget:
                self._budget.notify_all()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        desc = f"Too many connections (qomsim serve --max-connections {self.config.max_connections})"
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(encode_reply(error_response("GenericError", desc)) + b"\r\n")
            await asyncio.wait_for(writer.drain(), 1.0)
        with contextlib.suppress(Exception):
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, client: _Client) -> bytes | None:
        """The next chunk, or None when a started message ran past the idle timeout (or a connection
        that has not negotiated capabilities did)."""
        timeout = self.config.idle_timeout
        started = client.timed_from
        if started is None and client.session.state is SessionState.NEGOTIATION:
            started = client.connected
        if timeout is None or started is None:
            return await reader.read(65536)
        try:
            return await asyncio.wait_for(reader.read(65536), max(0.0, started + timeout - time.monotonic()))
        except TimeoutError:
            return None

    def _evict(self) -> bool:
        """Close a connection to make room for a new one, of those with no request being answered.

        1. Among those that have not negotiated capabilities, one that holds half a message (a client
           sends ``qmp_capabilities`` whole, once it has read the greeting), connected first; else one
           connected at least :data:`EVICT_IDLE` seconds ago (it had the time to answer its greeting),
           connected first; else the one connected last.  However young they are: a flood of new
           connections evicts its own, not the negotiated clients.
        2. Else the one that sent nothing for the longest time, if that is at least :data:`EVICT_IDLE`
           seconds (a message half sent counts as idle; bytes received but not yet read do not).

        Why the young ones go youngest first: a burst of new connections must make room before anything
        of theirs is read.  Oldest first, such a burst (benchmark 8c: 1,100 connections that each send
        half a message) evicted a client that had just read its greeting and was answering it.  Youngest
        first, a burst evicts its own newest, and the one answering keeps its slot for :data:`EVICT_IDLE`
        seconds.  The bursts are also kept short (:data:`ACCEPT_BATCH`): asyncio accepted 100 connections
        at one wake-up, and a burst of 64 of them left no half message read to evict.

        Eviction rather than a reserve of slots, because a reserve fills up as the rest did: this way
        idle connections holding every slot give way, a flood of new connections evicts its own, and an
        operator who talks to the server is the last to go.

        :return: whether one was closed (False: every connection is negotiated and active, or being
            answered).
        """
        now = time.monotonic()
        free = [c for c in self._clients if not c.busy and not c.replying and not c.writer.is_closing()]
        fresh = [c for c in free if c.session.state is SessionState.NEGOTIATION]
        half = [c for c in fresh if c.buffered]
        late = [c for c in fresh if now - c.connected >= EVICT_IDLE]
        if half or late:
            victim = min(half or late, key=lambda c: c.connected)
        elif fresh:
            victim = max(fresh, key=lambda c: c.connected)
        else:
            idle = [(c.idle_since(), c) for c in free if now - c.idle_since() >= EVICT_IDLE]
            if not idle:
                return False
            victim = min(idle, key=lambda pair: pair[0])[1]
        cap = self.config.max_connections
        desc = f"Closed to make room for a new connection (qomsim serve --max-connections {cap})"
        with contextlib.suppress(Exception):
            victim.writer.write(encode_reply(error_response("GenericError", desc)) + b"\r\n")
            victim.writer.close()
        self._clients.remove(victim)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= self.config.max_connections:
            if not self._evict():
                await self._refuse(writer)
                return
            await self._wake()  # an evicted connection may be waiting for memory: it ends now
        writer.transport.set_write_buffer_limits(high=_CHUNK)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        session = QMPSession(version=self.config.version, max_list_paths=self.config.max_list_paths,
                             offered=("oob",) if self.hooks.offer_oob else ())
        now = time.monotonic()
        client = _Client(writer, session, connected=now, last_active=now)
        self._clients.append(client)
        parser = JSONMessageParser(
            max_token_size=self.config.max_message_size, max_nesting=self.config.max_nesting,
            max_token_count=self.config.max_message_tokens,
        )
        loop = asyncio.get_running_loop()
        try:
            # one turn first: the transport reads what the client has sent already (what arrives after it
            # looked, before a greeting that fails because the client hung up, _Protocol reads at the end)
            await asyncio.sleep(0)
            self._send(client, greeting(session, self.universe))
            while self._stop is not None and not self._stop.is_set() and client in self._clients:
                await self._admit(client)
                data = await self._read(reader, client)
                if not data or client not in self._clients:
                    break  # end of file, a message left unfinished past the idle timeout, or evicted
                client.last_active = time.monotonic()
                if len(data) >= _THREAD_FEED or parser.pending:
                    # lexing and building a big message takes long: the worker thread does it, so the
                    # event loop keeps answering the other clients (the QOM core stays on this thread)
                    messages = await loop.run_in_executor(self._pool, parser.feed, data)
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
            pass  # the client went away; nothing else is affected (a quit it sent is already under way)
        except asyncio.CancelledError:
            # the shutdown cancels a connection still waiting for a parse: end quietly (asyncio's stream
            # callback would report a cancelled connection on stderr)
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)
            client.buffered, client.started, client.timed_from, client.replying = 0, None, None, 0
            await self._wake()
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
        first = min((c for c in self._clients if c.started is not None), key=lambda c: c.started or 0.0,
                    default=client)
        return first is client  # the oldest unfinished message always progresses: no deadlock

    async def _admit(self, client: _Client) -> None:
        """Wait, unread, while the connections together hold more than ``max_buffered`` bytes."""
        if self._budget is None or self._may_read(client):
            return
        async with self._budget:
            await self._budget.wait_for(lambda: client not in self._clients or self._may_read(client))
        client.timed_from = time.monotonic()  # the time we held it back does not count against it

    async def _answer(self, client: _Client, messages: list[JSONMessage]) -> bool:
        """Answer complete messages in order, one per event-loop turn (the other clients take theirs in
        between); True when the server is to stop (quit, fatal error)."""
        for msg in messages:
            client.busy = True
            try:
                done = await self._answer_one(client, msg)
            finally:
                client.busy = False
            if done:
                return True
            await asyncio.sleep(0)  # a pipelined batch or a flood yields to the others between requests
        return False

    async def _answer_one(self, client: _Client, msg: JSONMessage) -> bool:
        session = client.session
        if self._quitting:
            # QEMU: in-band requests queued after quit are never dispatched; out-of-band ones
            # run on the monitor I/O thread until monitor_cleanup() stops it; _answer yields between
            # two requests, so one clean-up step runs in between
            with contextlib.suppress(ConnectionError, OSError):
                await client.writer.drain()
            if self._stop is None or self._stop.is_set():
                return True
            if not (is_oob(msg.value) and self.hooks.oob_open()):
                return False
        if msg.error is not None:
            await self._reply(client, error_response("GenericError", msg.error))
            return False
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
        if session.state is not SessionState.QUIT or self._quitting:
            await self._reply(client, response)
            return False
        # quit: the shutdown starts before the answer is written, so a client that hangs up at once
        # (the write fails) still stops the server, as QEMU does
        self._quitting = True
        self._broadcast_shutdown(but=client)
        self._start_clean_up("quit")
        try:
            await self._reply(client, response)
            with contextlib.suppress(ConnectionError, OSError):
                await client.writer.drain()
        finally:
            self._send_shutdown(client)
            if self.hooks.shutdown is None:
                self._shutdown()
        return self.hooks.shutdown is None

    def _signalled(self, sig: signal.Signals) -> None:
        """SIGTERM or SIGINT: as QEMU's ``qemu_system_killed()``, a shutdown (``SHUTDOWN`` with reason
        ``host-signal`` to every negotiated client, then the clean-up); a second signal, or one with no
        clean-up to run, stops the server at once."""
        if self._quitting or self.hooks.shutdown is None:
            self._shutdown()
            return
        self._quitting = True
        for client in self._clients:
            self._send_shutdown(client, "host-signal")
        self._start_clean_up(sig.name)

    def _start_clean_up(self, cause: str) -> None:
        if self.hooks.shutdown is not None:
            task = asyncio.create_task(self._clean_up(self.hooks.shutdown, cause))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _clean_up(self, steps: Callable[[str], Iterator[None]], cause: str) -> None:
        try:
            for _ in steps(cause):
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

    def _broadcast_shutdown(self, but: _Client) -> None:
        for client in self._clients:
            if client is not but:
                self._send_shutdown(client)

    def _send_shutdown(self, client: _Client, reason: str = "host-qmp-quit") -> None:
        """The ``SHUTDOWN`` event, to a negotiated client (the one that quit gets it after its answer).

        :param reason: QEMU's ``ShutdownCause`` (``host-qmp-quit``, ``host-signal``)."""
        now = time.time()
        event: dict[str, JSON] = {
            "timestamp": {"seconds": int(now), "microseconds": int((now % 1) * 1_000_000)},
            "event": "SHUTDOWN",
            "data": {"guest": False, "reason": reason},
        }
        if client.session.state is not SessionState.NEGOTIATION:
            with contextlib.suppress(ConnectionError, OSError):
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
        except BlockingIOError:  # EAGAIN: someone listens, and its backlog is full (connect(2), Linux)
            pass
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
