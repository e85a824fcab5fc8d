"""End to end: ``qomsim serve`` as a subprocess, driven by qemu.qmp's QMPClient, raw sockets and qmp-shell.

The tests wait for the server's "listening" line on stdout, never on sleeps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20.0


class Server:
    """One ``qomsim serve`` process."""

    def __init__(self, *extra: str, socket_path: str | None = None, tcp: str | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="qomsim-serve-")
        self.socket_path = socket_path or str(Path(self._tmp.name) / "qmp.sock")
        cmd = [sys.executable, "-m", "qom.cli", "serve", *extra]
        cmd += ["--tcp", tcp] if tcp is not None else ["--socket", self.socket_path]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        self.ready_line = self.proc.stdout.readline().strip()  # blocks until the server is listening
        if not self.ready_line:
            self.proc.wait(TIMEOUT)
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"qomsim serve did not start: {err}")

    @property
    def address(self) -> str | tuple[str, int]:
        kind, _, rest = self.ready_line.rpartition(" ")[2].partition(":")
        if kind == "unix":
            return rest
        host, _, port = rest.rpartition(":")
        return host, int(port)

    def raw(self) -> RawClient:
        return RawClient(self.address)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(TIMEOUT)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self._tmp.cleanup()
        return code


class RawClient:
    """A QMP connection on a plain socket: send bytes, read ``\\r\\n``-terminated JSON lines."""

    def __init__(self, address: str | tuple[str, int]) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(address)
        self.buf = b""
        self.greeting = self.read()

    def read(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        assert line.endswith(b"\r"), line
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(json.dumps(request).encode())
        return self.read()

    def negotiate(self) -> RawClient:
        assert self.call({"execute": "qmp_capabilities"}) == {"return": {}}
        return self

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server("--examples", "--max-message-size", "4096", "--max-nesting", "8")
    yield srv
    assert srv.stop() == 0


def run_client(address: str | tuple[str, int], body: Callable[[QMPClient], Awaitable[None]]) -> None:
    async def main() -> None:
        client = QMPClient("qomsim-test")
        await asyncio.wait_for(client.connect(address), TIMEOUT)
        try:
            await asyncio.wait_for(body(client), TIMEOUT)
        finally:
            with contextlib.suppress(EOFError):
                await client.disconnect()

    asyncio.run(main())


async def error_of(
    client: QMPClient, command: str, arguments: dict[str, Any] | None = None
) -> tuple[str, str]:
    with pytest.raises(ExecuteError) as info:
        await client.execute(command, arguments)
    return info.value.error_class, info.value.error.error.desc


def test_ready_line_and_socket_mode(server: Server) -> None:
    assert server.ready_line == f"qomsim: QMP listening on unix:{server.socket_path}"
    assert stat.S_IMODE(os.stat(server.socket_path).st_mode) == 0o600


def test_qmpclient_covers_every_command(server: Server) -> None:
    async def body(c: QMPClient) -> None:
        assert c.greeting is not None
        assert c.greeting._raw == {
            "QMP": {
                "version": {"qemu": {"micro": 50, "minor": 2, "major": 10}, "package": "qomsim"},
                "capabilities": ["oob"],
            }
        }
        assert await c.execute("query-version") == {
            "qemu": {"micro": 50, "minor": 2, "major": 10},
            "package": "qomsim",
        }
        listed: Any = await c.execute("query-commands")
        commands = {x["name"] for x in listed}
        assert {"qom-list", "qom-list-get", "device_add", "human-monitor-command", "quit"} <= commands
        assert await error_of(c, "qmp_capabilities") == (
            "CommandNotFound",
            "Capabilities negotiation is already complete, command ignored",
        )
        assert await c.execute("qom-get", {"path": "/machine", "property": "type"}) == "none-machine"
        listing = await c.execute("qom-list", {"path": "/machine/unattached"})
        assert listing == [{"name": "type", "type": "string"}, {"name": "sysbus", "type": "child<System>"}]
        assert await error_of(c, "qom-list", {"path": "/nope"}) == (
            "DeviceNotFound",
            "Device '/nope' not found",
        )
        assert await c.execute("object-add", {"qom-type": "example-memory", "id": "e2e", "size": 64}) == {}
        assert await c.execute("qom-set", {"path": "/objects/e2e", "property": "share", "value": True}) == {}
        got: Any = await c.execute("qom-list-get", {"paths": ["/objects/e2e"]})
        assert {p["name"]: p.get("value") for p in got[0]["properties"]} == {
            "type": "example-memory",
            "pinned": False,
            "share": True,
            "size": 64,
        }
        assert await error_of(c, "object-add", {"qom-type": "example-memory", "id": "e2e", "size": 1}) == (
            "GenericError",
            "attempt to add duplicate property 'e2e' to object (type 'container')",
        )
        assert await c.execute("object-del", {"id": "e2e"}) == {}
        types: Any = await c.execute("qom-list-types", {"implements": "device"})
        assert sorted(t["name"] for t in types) == ["example-device", "example-singleton", "migration"]
        assert await c.execute("qom-list-properties", {"typename": "example-memory"}) == [
            {"name": "type", "type": "string"},
            {"name": "pinned", "type": "bool"},
            {"name": "share", "type": "bool", "default-value": False},
            {"name": "size", "type": "uint64", "description": "size of the memory region in bytes"},
        ]
        assert await c.execute("device-list-properties", {"typename": "example-device"}) == [
            {"name": "label", "type": "str"},
            {"name": "level", "type": "uint8", "default-value": 3},
        ]
        assert await c.execute("device_add", {"driver": "example-device", "id": "e2e-dev", "level": 9}) == {}
        assert await c.execute("qom-get", {"path": "/machine/peripheral/e2e-dev", "property": "level"}) == 9
        assert await error_of(c, "device_del", {"id": "e2e-dev"}) == (
            "GenericError",
            "Device 'example-device' can not be hotplugged on this machine",
        )
        assert await error_of(c, "device_del", {"id": "nope"}) == (
            "DeviceNotFound",
            "Device 'nope' not found",
        )
        assert await c.execute(
            "human-monitor-command", {"command-line": "info qom-tree /machine/peripheral"}
        ) == ("/peripheral (container)\r\n  /e2e-dev (example-device)\r\n")
        assert await error_of(c, "qom-list") == ("GenericError", "Parameter 'path' is missing")
        assert await error_of(c, "nope") == ("CommandNotFound", "The command nope has not been found")

    run_client(server.address, body)


def test_negotiation_is_per_connection(server: Server) -> None:
    a, b = server.raw(), server.raw()
    try:
        a.negotiate()
        assert b.call({"execute": "qom-list", "arguments": {"path": "/"}}) == {
            "error": {
                "class": "CommandNotFound",
                "desc": "Expecting capabilities negotiation with 'qmp_capabilities'",
            }
        }
        assert a.call(
            {"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}, "id": ["x", 1]}
        ) == {"return": "none-machine", "id": ["x", 1]}
        assert b.call({"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 2}) == {
            "return": {}, "id": 2}
        # out-of-band execution is per connection: a did not enable it (qmp_dispatch_check_obj)
        assert a.call({"exec-oob": "migrate-pause", "id": 3}) == {
            "error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}, "id": 3}
        assert b.call({"exec-oob": "qom-list", "arguments": {"path": "/"}, "id": 4}) == {
            "error": {"class": "GenericError", "desc": "The command qom-list does not support OOB"}, "id": 4}
    finally:
        a.close()
        b.close()


def test_garbage_and_limits_get_qemus_errors_and_the_connection_survives(server: Server) -> None:
    c = server.raw().negotiate()
    try:
        c.send(b"@")
        assert c.read() == {"error": {"class": "GenericError", "desc": "JSON parse error, stray '@'"}}
        c.send(b'{"execute": 1}')
        assert c.read() == {
            "error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}
        }
        c.send(b"[" * 9)
        assert c.read() == {"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}
        c.send(b"\n")  # a control character resynchronises the lexer after the error
        c.send(b'{"execute": "query-version", "arguments": {"x": "' + b"a" * 5000 + b'"}}\n')
        first = c.read()
        assert first == {"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}
        while True:  # as in QEMU, the rest of the oversized message is lexed afresh and answered too
            c.send(b'\n{"execute": "query-version", "id": "after"}')
            answer = c.read()
            if answer.get("id") == "after":
                break
        assert answer["return"]["qemu"]["major"] == 10
    finally:
        c.close()


def test_a_client_hanging_up_mid_message_harms_no_one(server: Server) -> None:
    steady = server.raw().negotiate()
    rude = server.raw().negotiate()
    rude.send(b'{"execute": "qom-list", "arguments": {"pa')
    rude.close()
    dropped = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dropped.connect(server.socket_path)
    dropped.close()  # before even reading the greeting
    try:
        assert steady.call({"execute": "qom-get", "arguments": {"path": "/", "property": "type"}}) == {
            "return": "container"
        }
    finally:
        steady.close()


def test_two_clients_see_the_same_universe(server: Server) -> None:
    a, b = server.raw().negotiate(), server.raw().negotiate()
    try:
        assert a.call(
            {"execute": "object-add", "arguments": {"qom-type": "example-memory", "id": "shared", "size": 1}}
        ) == {"return": {}}
        assert b.call(
            {"execute": "qom-get", "arguments": {"path": "/objects/shared", "property": "size"}}
        ) == {"return": 1}
        assert b.call({"execute": "object-del", "arguments": {"id": "shared"}}) == {"return": {}}
    finally:
        a.close()
        b.close()


def test_quit_answers_then_exits_and_removes_the_socket() -> None:
    srv = Server()
    watcher = srv.raw().negotiate()
    c = srv.raw().negotiate()
    assert c.call({"execute": "quit", "id": "bye"}) == {"return": {}, "id": "bye"}
    event = c.read()
    assert event["event"] == "SHUTDOWN" and event["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert watcher.read()["event"] == "SHUTDOWN"
    assert srv.proc.wait(TIMEOUT) == 0
    assert not os.path.exists(srv.socket_path)
    c.close()
    watcher.close()
    srv.stop()


def test_qmpclient_quit() -> None:
    srv = Server()
    events: list[str] = []

    async def body(c: QMPClient) -> None:
        assert await c.execute("quit") == {}
        event = await asyncio.wait_for(c.events.get(), TIMEOUT)  # QMPClient's default event listener
        events.append(str(event["event"]))

    run_client(srv.address, body)
    assert events == ["SHUTDOWN"]
    assert srv.proc.wait(TIMEOUT) == 0
    srv.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_server_cleanly(sig: signal.Signals) -> None:
    srv = Server()
    c = srv.raw()
    srv.proc.send_signal(sig)
    assert srv.proc.wait(TIMEOUT) == 0
    assert not os.path.exists(srv.socket_path)
    c.close()
    srv.stop()


def test_tcp_on_loopback_with_a_free_port() -> None:
    srv = Server(tcp="0")
    try:
        address = srv.address
        assert isinstance(address, tuple)
        assert address[0] == "127.0.0.1" and address[1] > 0
        c = srv.raw().negotiate()
        assert c.call({"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}) == {
            "return": "none-machine"
        }
        c.close()
    finally:
        assert srv.stop() == 0


def test_parse_tcp() -> None:
    from qom.cli.serve import parse_tcp

    assert parse_tcp("4444") == ("127.0.0.1", 4444)
    assert parse_tcp(":0") == ("127.0.0.1", 0)
    assert parse_tcp("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_tcp("[::1]:4444") == ("::1", 4444)
    for bad in ("", "host:", "h:65536", "h:-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected HOST:PORT"):
            parse_tcp(bad)


def test_serve_options_errors() -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qom.cli", "serve", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    result = serve()
    assert result.returncode == 2
    assert result.stderr == "qomsim serve: give --socket PATH and/or --tcp HOST:PORT\n"
    result = serve("--tcp", "localhost:http")
    assert result.returncode == 2 and "expected HOST:PORT, not 'localhost:http'" in result.stderr
    result = serve("--socket", "/tmp/x.sock", "--qemu-version", "10")
    assert result.returncode == 2 and "version must be MAJOR.MINOR.MICRO, not '10'" in result.stderr


@pytest.mark.parametrize(("version", "qemu"), [("7.2.22", {"micro": 22, "minor": 2, "major": 7}),
                                               ("10.0.2", {"micro": 2, "minor": 0, "major": 10})])
def test_serving_a_captured_universe(version: str, qemu: dict[str, int]) -> None:
    from qom.snapshot import packaged_snapshot_path

    srv = Server("--universe", str(packaged_snapshot_path(version)))
    try:
        c = srv.raw()
        # --qemu-version defaults to the snapshot's
        assert c.greeting["QMP"]["version"]["qemu"] == qemu
        c.negotiate()
        assert c.call({"execute": "query-version"})["return"]["qemu"] == qemu
        types = c.call({"execute": "qom-list-types", "arguments": {"implements": "memory-backend"}})
        assert {"memory-backend-ram", "memory-backend-file"} <= {t["name"] for t in types["return"]}
        c.close()
    finally:
        assert srv.stop() == 0


def test_serving_a_missing_universe_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "qom.cli",
            "serve",
            "--socket",
            str(tmp_path / "s"),
            "--universe",
            str(tmp_path / "missing.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"qomsim serve: cannot load universe {tmp_path / 'missing.json'}: ")


def test_a_fatal_error_in_the_core_ends_the_server_as_qemu_would_abort() -> None:
    srv = Server("--examples", "--singleton-policy", "fatal", "--introspection", "instantiate")
    c = srv.raw().negotiate()
    assert c.call({"execute": "device_add", "arguments": {"driver": "example-singleton"}}) == {"return": {}}
    c.send(b'{"execute": "qom-list-properties", "arguments": {"typename": "example-singleton"}}')
    with pytest.raises(EOFError):
        c.read()  # no answer: the process is gone
    assert srv.proc.wait(TIMEOUT) == 1
    assert srv.proc.stderr is not None
    assert srv.proc.stderr.read().startswith("qomsim: fatal: ")
    c.close()
    srv.stop()


def test_qemu_version_option() -> None:
    srv = Server("--qemu-version", "7.2.22")
    try:
        assert srv.raw().greeting["QMP"]["version"]["qemu"] == {"micro": 22, "minor": 2, "major": 7}
    finally:
        srv.stop()


QMP_SHELL_SCRIPT = """\
qom-get path=/machine property=type
object-add qom-type=example-memory id=shell size=4096
qom-get path=/objects/shell property=size
qom-set path=/objects/shell property=share value=true
qom-get path=/objects/shell property=share
qom-list path=/machine/unattached
qom-get path=/nope property=x
object-del id=shell
nope
"""

QMP_SHELL_OUTPUT = [
    "Welcome to the QMP low-level shell!",
    "Connected to QEMU 10.2.50",
    "",
    '(QEMU) {"return": "none-machine"}',
    '(QEMU) {"return": {}}',
    '(QEMU) {"return": 4096}',
    '(QEMU) {"return": {}}',
    '(QEMU) {"return": true}',
    '(QEMU) {"return": [{"name": "type", "type": "string"}, {"name": "sysbus", "type": "child<System>"}]}',
    '(QEMU) {"error": {"class": "DeviceNotFound", "desc": "Device \'/nope\' not found"}}',
    '(QEMU) {"return": {}}',
    '(QEMU) {"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}',
    "(QEMU) ",
]


def test_scripted_qmp_shell_session(server: Server) -> None:
    exe = shutil.which("qmp-shell")
    assert exe is not None, "qmp-shell (from qemu.qmp) must be installed"
    result = subprocess.run(
        [exe, server.socket_path],
        input=QMP_SHELL_SCRIPT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == QMP_SHELL_OUTPUT
