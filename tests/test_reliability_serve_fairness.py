"""``qomsim serve``: no client or message starves the others; ``quit`` is never lost (issue 26, 8-11).

Orders are observed, never timed: the in-process server records the order in which it dispatches requests,
and a subprocess server is waited for by its exit status and end-of-file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import subprocess
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from test_qmp_server import TIMEOUT, Server

from qom.qmp.json import JSONMessageParser
from qom.qmp.schema import Arg, Command, CommandContext, QMPSession
from qom.qmp.server import QMPServer, ServerConfig, ServerHooks, _Client
from qom.universe import Universe


@pytest.fixture
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qomsim-fair-") as d:  # short: UNIX socket paths are limited
        yield Path(d)


# ---------------------------------------------------------------------------------------------------------
# items 8 and 10: clients take turns, one request each


async def _open(path: str, oob: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(path)
    await reader.readline()
    caps: dict[str, Any] = {"execute": "qmp_capabilities"}
    if oob:
        caps["arguments"] = {"enable": ["oob"]}
    writer.write(json.dumps(caps).encode())
    assert json.loads(await reader.readline()) == {"return": {}}
    return reader, writer


def _dispatch_order(path: str, flood: str, count: int) -> list[str]:
    """A floods ``count`` pipelined requests in one write; B sends one request while A's first runs.

    :return: who each dispatched request came from, in dispatch order.
    """
    order: list[str] = []

    async def main() -> None:
        other: list[asyncio.StreamWriter] = []

        def mark(ctx: CommandContext, args: dict[str, Any]) -> None:
            order.append(str(args["who"]))
            if len(order) == 1:  # A's first request is running: B sends its own now
                other[0].write(b'{"execute": "mark", "arguments": {"who": "B"}}')

        hooks = ServerHooks(commands={"mark": Command("mark", mark, (Arg("who", "str"),), allow_oob=True)},
                            offer_oob=True)
        ready = asyncio.Event()
        server = QMPServer(Universe(machine="none"), ServerConfig(socket_path=path),
                           announce=lambda line: ready.set(), hooks=hooks)
        task = asyncio.create_task(server.serve())
        await ready.wait()
        a_reader, a_writer = await _open(path, oob=True)
        b_reader, b_writer = await _open(path, oob=False)
        other.append(b_writer)
        request = {flood: "mark", "arguments": {"who": "A"}}
        a_writer.write(json.dumps(request).encode() * count)
        for _ in range(count):
            await a_reader.readline()
        await b_reader.readline()
        for w in (a_writer, b_writer):
            w.close()
        server._shutdown()
        await task

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    return order


@pytest.mark.parametrize("flood", ["execute", "exec-oob"])
def test_a_pipelined_batch_yields_to_another_client_between_two_requests(tmp: Path, flood: str) -> None:
    order = _dispatch_order(str(tmp / "s"), flood, 300)
    assert sorted(order) == ["A"] * 300 + ["B"]
    # B is answered after a few of A's requests, not after all 300 of them
    assert order.index("B") <= 3, order.index("B")


# ---------------------------------------------------------------------------------------------------------
# item 9: memory counts values, not only bytes


@pytest.mark.parametrize("tokens", [20_000, pytest.param(200_000, marks=pytest.mark.slow)])
def test_an_unfinished_message_of_many_tokens_holds_bytes_in_proportion(tokens: int) -> None:
    # the cost per token is the claim: 20,000 tokens show it in a tenth of the time (the parser runs under
    # typeguard and tracemalloc), in five chunks; the 200,000 of issue 26's measurement are a slow run
    message = b'{"execute": "query-version", "id": [' + b"1," * (tokens // 2)
    parser = JSONMessageParser(max_token_count=1 << 20)
    chunk = len(message) // 5 + 1
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(0, len(message), chunk):
            assert parser.feed(message[i:i + chunk]) == []
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # tokens + 8: 9 bytes each (kind and end offset) plus their texts (28 bytes of strings with their
    # quotes, one byte per integer); as objects they took 200 bytes each (40 MB for 200,000)
    assert parser.pending and parser.buffered == 9 * (tokens + 8) + 28 + tokens // 2
    assert held < 21 * tokens, f"{held} bytes held for an unfinished message of {len(message)} bytes"


def test_a_message_past_the_token_cap_is_refused_before_it_is_built(tmp: Path) -> None:
    srv = Server("--max-message-tokens", "100", socket_path=str(tmp / "s"))
    try:
        c = srv.raw().negotiate()
        paths = ", ".join(['"/machine"'] * 60)  # 121 tokens up to the end of the list
        c.send(b'{"execute": "qom-list-get", "arguments": {"paths": [' + paths.encode() + b"]}}")
        assert c.read() == {"error": {"class": "GenericError", "desc": "JSON token count limit exceeded"}}
        # as in QEMU, what follows the cap is lexed afresh: each of the 15 paths left is a message of its
        # own, and each comma and closer an error
        answers = [c.read()["error"]["desc"] for _ in range(32)]
        assert answers == ["QMP input must be a JSON object", "JSON parse error, expecting value"] * 15 + [
            "JSON parse error, expecting value"] * 2
        assert c.call({"execute": "query-version", "id": 1})["id"] == 1
    finally:
        c.close()
        assert srv.stop() == 0


def test_past_max_pending_replies_a_big_reply_waits_but_a_small_one_never_does() -> None:
    srv = QMPServer(Universe(machine="none"), ServerConfig(max_pending_replies=100 << 10))
    slow, other = (_Client(cast(Any, None), QMPSession()) for _ in range(2))
    srv._clients = [slow, other]
    assert srv._replies_fit(1 << 20)  # nothing held: any reply may go (the cap never blocks everyone)
    slow.replying = 80 << 10
    assert [srv._replies_fit(n) for n in (20 << 10, 21 << 10)] == [True, False]
    slow.replying = 0
    assert srv._replies_fit(100 << 10)


# ---------------------------------------------------------------------------------------------------------
# item 10: a connection that never negotiates is closed by --idle-timeout


def test_the_idle_timeout_closes_a_connection_that_never_starts_a_message(tmp: Path) -> None:
    srv = Server("--idle-timeout", "0.5", socket_path=str(tmp / "s"))
    try:
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        silent.settimeout(TIMEOUT)
        silent.connect(str(tmp / "s"))
        data = b""
        while chunk := silent.recv(4096):  # the greeting, then end-of-file from the server
            data += chunk
        silent.close()
        assert json.loads(data)["QMP"]["version"]["package"] == "qomsim"
        negotiated = srv.raw().negotiate()  # idle longer than the timeout, between messages: kept
        negotiated.send(b'{"execute": "query-version", "id": "still"}')
        assert negotiated.read()["id"] == "still"
        negotiated.close()
    finally:
        assert srv.stop() == 0


# ---------------------------------------------------------------------------------------------------------
# item 11: quit


@pytest.mark.parametrize("extra", [(), ("--examples",), ("--design", "qemu-10.0")])
def test_quit_is_carried_out_when_the_client_hangs_up_right_after_sending_it(
    tmp: Path, extra: tuple[str, ...],
) -> None:
    for _ in range(3):
        srv = Server(*extra, socket_path=str(tmp / "s"))
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(tmp / "s"))
        client.sendall(b'{"execute": "qmp_capabilities"}{"execute": "quit"}')
        client.close()  # the greeting and both answers are never read
        try:
            status = srv.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
        assert srv.stop() == 0 and status == 0


class _HangsUpBeforeTheGreeting(QMPServer):
    """A server whose client, connected but silent so far, sends ``qmp_capabilities`` and ``quit`` and hangs
    up just before the greeting is written to it: after the transport last looked for input, so the greeting's
    write fails with the request unread (the window a loaded machine opens between a client's connect and
    its send)."""

    client: socket.socket | None = None

    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        if "QMP" in message and self.client is not None:
            self.client.sendall(b'{"execute": "qmp_capabilities"}{"execute": "quit"}')
            self.client.close()
            self.client = None
        super()._send(client, message)


def test_quit_is_carried_out_when_it_arrives_after_the_transport_last_read_and_the_greeting_fails(
    tmp: Path,
) -> None:
    # the order is forced, not left to the scheduler: without reading what is left on a socket whose write
    # failed, the server never sees the quit and serve() waits forever (the load-dependent failure of
    # the test above)
    async def main() -> int:
        ready = asyncio.Event()
        server = _HangsUpBeforeTheGreeting(Universe(machine="none"), ServerConfig(socket_path=str(tmp / "s")),
                                           announce=lambda line: ready.set())
        task = asyncio.create_task(server.serve())
        await ready.wait()
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(tmp / "s"))  # in the listen backlog at once; the server accepts it later
        server.client = client
        return await task

    assert asyncio.run(asyncio.wait_for(main(), TIMEOUT)) == 0


def test_a_clean_quit_while_another_client_holds_an_unread_reply_prints_nothing(tmp: Path) -> None:
    srv = Server(socket_path=str(tmp / "s"))
    hog = srv.raw().negotiate()
    hog.send(json.dumps({"execute": "query-version", "id": "x" * (4 << 20)}).encode())
    assert hog.sock.recv(16) == b'{"return": {"qem'  # the reply is being written; the rest waits for us
    quitter = srv.raw().negotiate()
    assert quitter.call({"execute": "quit"}) == {"return": {}}
    assert srv.proc.wait(TIMEOUT) == 0
    assert srv.proc.stderr is not None and srv.proc.stderr.read() == ""
    for c in (hog, quitter):
        with contextlib.suppress(OSError):
            c.close()
    srv.stop()
