"""Helpers for tests that need Debian's real ``qemu-system-x86_64``.

``require_qemu()`` returns the binary.  When QEMU is missing it skips the test,
unless ``QOMSIM_REQUIRE_QEMU=1`` (CI sets it), in which case the test fails:
a differential test that silently skips in CI would prove nothing.

``RealQEMU`` starts ``qemu-system-x86_64 -machine none -nodefaults -S -display none``
with a QMP monitor on a UNIX socket and talks to it synchronously, one JSON line at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

__all__ = [
    "QEMU10_ENV",
    "QEMU_BINARY",
    "QEMU_VERSIONS",
    "RealQEMU",
    "qemu_required",
    "require_qemu",
    "require_qemu10",
    "require_qemu_version",
]

QEMU_BINARY = "qemu-system-x86_64"

#: the environment variable naming a QEMU 10.0.2 executable (``.ci/run`` unpacks one and sets it)
QEMU10_ENV = "QOMSIM_QEMU10"

#: the real QEMUs the differential tests compare with (Debian 12's, bookworm-backports'); each has a
#: packaged snapshot of the same version (``qom.snapshot.packaged_snapshot_path(version)``)
QEMU_VERSIONS = ("7.2.22", "10.0.2")


def qemu_required() -> bool:
    """:return: whether a missing QEMU must fail tests (``QOMSIM_REQUIRE_QEMU=1``)."""
    return os.environ.get("QOMSIM_REQUIRE_QEMU") == "1"


def require_qemu() -> str:
    """Find QEMU for a ``@pytest.mark.qemu`` test.

    :return: the path of ``qemu-system-x86_64``.
    :raise pytest.fail.Exception: when it is missing and ``QOMSIM_REQUIRE_QEMU=1``.
    :raise pytest.skip.Exception: when it is missing otherwise.
    """
    path = shutil.which(QEMU_BINARY)
    if path is not None:
        return path
    message = f"{QEMU_BINARY} not found on PATH"
    if qemu_required():
        pytest.fail(f"{message}, and QOMSIM_REQUIRE_QEMU=1 requires it")
    pytest.skip(message)


def require_qemu10() -> str:
    """Find QEMU 10.0 for a ``@pytest.mark.qemu`` test, through :data:`QEMU10_ENV`.

    :return: the path of the executable.
    :raise pytest.fail.Exception: when it is missing and ``QOMSIM_REQUIRE_QEMU=1``.
    :raise pytest.skip.Exception: when it is missing otherwise.
    """
    path = os.environ.get(QEMU10_ENV, "")
    if path and os.access(path, os.X_OK):
        return path
    message = f"{QEMU10_ENV} does not name an executable QEMU 10.0 ({path!r})"
    if qemu_required():
        pytest.fail(f"{message}, and QOMSIM_REQUIRE_QEMU=1 requires it")
    pytest.skip(message)


def require_qemu_version(version: str) -> str:
    """Find the real QEMU of one of :data:`QEMU_VERSIONS`.

    :param version: ``"7.2.22"`` (:func:`require_qemu`) or ``"10.0.2"`` (:func:`require_qemu10`).
    :return: the executable.
    :raise pytest.fail.Exception: when it is missing and ``QOMSIM_REQUIRE_QEMU=1``.
    :raise pytest.skip.Exception: when it is missing otherwise.
    :raise ValueError: for another version.
    """
    if version == QEMU_VERSIONS[0]:
        return require_qemu()
    if version == QEMU_VERSIONS[1]:
        return require_qemu10()
    raise ValueError(f"no real QEMU {version!r} in the differential tests")


class RealQEMU:
    """A real QEMU with a QMP socket, negotiated and ready for ``command()``.

    :param binary: the QEMU binary.
    :param extra_args: more command-line arguments.
    :param timeout: seconds to wait for the socket and for each answer.
    """

    def __init__(self, binary: str, extra_args: tuple[str, ...] = (), timeout: float = 20.0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="qomsim-qemu-")
        self.socket_path = str(Path(self._dir.name) / "qmp.sock")
        self.timeout = timeout
        # ``-qmp unix:PATH,server=on,wait=off`` spelled as -chardev/-mon on a socket we already listen
        # on: QEMU inherits it, so connecting can never race QEMU's start-up (no polling, no sleeps)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket_path)
        listener.listen(1)
        fd = listener.fileno()
        try:
            self.proc = subprocess.Popen(
                [binary, "-machine", "none", "-nodefaults", "-S", "-display", "none",
                 "-chardev", f"socket,id=qmp0,fd={fd},server=on,wait=off",
                 "-mon", "chardev=qmp0,mode=control",
                 *extra_args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=[fd],
            )
        finally:
            listener.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(self.socket_path)
        self._buf = b""
        self.greeting: dict[str, Any] = self._read()
        answer = self.command("qmp_capabilities")
        if answer != {"return": {}}:
            raise RuntimeError(f"QEMU refused qmp_capabilities: {answer}")

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QEMU closed the QMP connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def send_raw(self, data: bytes) -> dict[str, Any]:
        """Send raw bytes and read the next response, skipping events.

        :param data: one complete message (or garbage that QEMU answers once).
        :return: the response.
        """
        self.sock.sendall(data)
        while True:
            message = self._read()
            if "event" not in message:
                return message

    def command(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Execute one command.

        :param name: the command.
        :param arguments: its arguments.
        :return: the response (``return`` or ``error``).
        """
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        return self.send_raw(json.dumps(request).encode() + b"\n")

    def close(self) -> None:
        """Quit QEMU and clean up."""
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self._dir.cleanup()

    def __enter__(self) -> RealQEMU:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
