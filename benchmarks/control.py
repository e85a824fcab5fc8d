"""The control client of figure 8, in a process of its own.

Run as ``python -m benchmarks.control SOCKET SECONDS MIN_SAMPLES CAP_SECONDS``: connect, negotiate, then ask
``query-version`` every 10 ms until ``SECONDS`` have passed and ``MIN_SAMPLES`` answers came back (or
``CAP_SECONDS`` have passed, whichever is first); print one JSON object on stdout: ``latencies_ms``,
``offsets_s`` (when each request was sent, from the first), ``connect_ms`` (how long the server's full
listen backlog kept it waiting to connect: :func:`connect_unix`) and ``refused`` (what the server said when it
refused the connection, answered with an error or hung up, which ends the measurement; else empty).

A process of its own, because the attackers' event loop (writing 60 MB requests, reading their echoes) would
otherwise delay the control client's reads as much as the server does, and its latencies would measure both.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Sequence

__all__ = ["BACKLOG_POLL_S", "connect_unix", "main", "measure"]

#: how often :func:`connect_unix` tries again while the server's listen backlog is full
BACKLOG_POLL_S = 0.01


async def connect_unix(path: str, *, timeout: float, limit: int = 1 << 16
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a stream to the Unix socket ``path``, waiting while the server's listen backlog is full.

    On Linux a non-blocking ``connect()`` to a Unix socket whose backlog is full fails with ``EAGAIN``, and
    nothing is in progress: the caller must try again.  asyncio (CPython 3.11, gh-117208) takes ``EAGAIN``
    for ``EINPROGRESS``, waits for the socket to be writable, finds no error and returns a stream on a
    socket that never connected; its first read fails with ``EINVAL`` (``unix_stream_read_generic``: the
    socket is not established).  A blocking client would sleep in ``connect()`` until the server accepts;
    this one tries again every :data:`BACKLOG_POLL_S` instead.

    :param path: the socket.
    :param timeout: give up after this many seconds of a full backlog.
    :param limit: the stream reader's line limit.
    :return: the stream.
    :raise TimeoutError: the backlog stayed full for ``timeout`` seconds.
    :raise OSError: the connection failed otherwise (no such socket, refused).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            if loop.time() >= deadline:
                full = f"{path}: the server's listen backlog stayed full for {timeout:g} s"
                raise TimeoutError(full) from None
            await asyncio.sleep(BACKLOG_POLL_S)
            continue
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_unix_connection(sock=sock, limit=limit)


async def measure(path: str, seconds: float, min_samples: int, cap_s: float) -> dict[str, object]:
    """:return: the latencies (ms), when each request was sent (s from the first), how long connecting took
        (ms) and why it ended early."""
    latencies: list[float] = []
    offsets: list[float] = []
    refused = ""
    t_connect = time.perf_counter()
    try:
        reader, writer = await connect_unix(path, timeout=cap_s)
    except TimeoutError as exc:  # never served: a miss, not a failure of the client
        return {"latencies_ms": [], "offsets_s": [], "connect_ms": cap_s * 1000, "refused": str(exc)}
    connect_ms = (time.perf_counter() - t_connect) * 1000
    try:
        greeting = await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}')
        negotiated = b"" if not greeting or b'"error"' in greeting else await reader.readline()
        if not negotiated or b'"error"' in negotiated:
            refused = (greeting if b'"error"' in greeting else negotiated).decode(errors="replace").strip() \
                or "hung up"
        start = time.perf_counter()
        while not refused:
            elapsed = time.perf_counter() - start
            if elapsed >= cap_s or (elapsed >= seconds and len(latencies) >= min_samples):
                break
            t0 = time.perf_counter()
            writer.write(b'{"execute": "query-version"}')
            line = await reader.readline()
            if not line or b'"error"' in line:
                refused = line.decode(errors="replace").strip() or "hung up"
                break
            latencies.append((time.perf_counter() - t0) * 1000)
            offsets.append(t0 - start)
            await asyncio.sleep(0.01)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        refused = str(exc)
    finally:
        writer.close()
    return {"latencies_ms": latencies, "offsets_s": offsets, "connect_ms": connect_ms, "refused": refused}


def main(argv: Sequence[str] | None = None) -> int:
    """:param argv: ``SOCKET SECONDS MIN_SAMPLES CAP_SECONDS`` (default: ``sys.argv[1:]``).

    :return: 0.
    """
    path, seconds, min_samples, cap_s = argv if argv is not None else sys.argv[1:]
    result = asyncio.run(measure(path, float(seconds), int(min_samples), float(cap_s)))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
