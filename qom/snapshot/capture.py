"""``qomsim capture``: record a real QEMU's type universe into a snapshot file.

The sweep talks QMP (``qemu.qmp.QMPClient``) to a QEMU it starts itself (``--qemu BINARY``,
run as ``-machine none -nodefaults -S -display none``) or to one already running
(``--qmp PATH``), and asks, in this order:

1. ``query-version``;
2. ``qom-list`` of every path of the initial composition tree (before any introspection);
3. ``qom-list-types abstract=true`` and ``abstract=false``;
4. ``qom-list-types implements=I abstract=true`` for every interface type ``I``;
5. ``qom-list-properties`` for every type, and ``device-list-properties`` for every concrete device.

Some introspection calls crash QEMU (four types each in 7.2.22 and 10.0.2).  A lost connection or an
exited process is recorded as a crash of that (command, type); a QEMU the capture started is then
restarted and the sweep goes on.
The raw answers (:class:`RawCapture`) are reduced to the snapshot format by
:func:`qom.snapshot.format.snapshot_from_raw`; see ``docs/snapshot-format.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from qemu.qmp import ExecuteError, QMPClient, QMPError

from qom.errors import escape_text
from qom.fileio import STDOUT, cannot_write, refuse_target, write_file
from qom.snapshot.format import RawCapture, dump_snapshot, snapshot_from_raw
from qom.visitor import JSON

__all__ = [
    "HELP",
    "QEMU_ARGS",
    "CaptureFailed",
    "QEMUCrashed",
    "QEMUTarget",
    "add_arguments",
    "capture",
    "run",
]

#: the line ``qomsim --help`` shows
HELP = "capture a running QEMU's type universe into a snapshot file"

#: the arguments the capture gives a QEMU it starts (before its own ``-qmp``)
QEMU_ARGS: tuple[str, ...] = ("-machine", "none", "-nodefaults", "-S", "-display", "none")

#: seconds one QMP command may take before QEMU is declared hung (and killed, if ours)
COMMAND_TIMEOUT = 30.0


class CaptureFailed(Exception):
    """The capture cannot go on (QEMU will not start, or a QEMU we did not start died)."""


class QEMUCrashed(Exception):
    """QEMU died (or hung) while answering one command.

    :param detail: what was seen (exit status, lost connection, timeout).
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# -- talking to one QEMU -------------------------------------------------------------------------


class QEMUTarget:
    """One QMP connection, to a QEMU we started (restartable) or to a given socket.

    :param binary: start this QEMU binary with :data:`QEMU_ARGS` (None: use ``socket_path``).
    :param socket_path: connect to this QMP UNIX socket.
    :param extra_args: more QEMU arguments.
    """

    def __init__(self, binary: str | None, socket_path: str | None, extra_args: Sequence[str]) -> None:
        self.binary = binary
        self.socket_path = socket_path
        self.extra_args = tuple(extra_args)
        self.client: QMPClient | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def argv(self) -> list[str]:
        """:return: QEMU's command line, without the ``-qmp`` option (empty when not ours)."""
        if self.binary is None:
            return []
        return [self.binary, *QEMU_ARGS, *self.extra_args]

    async def start(self) -> None:
        """Start (or connect to) QEMU.

        :raise CaptureFailed: when QEMU cannot be started or reached.
        """
        client = QMPClient("qomsim-capture")
        if self.binary is None:
            if self.socket_path is None:
                raise CaptureFailed("capture needs --qemu BINARY or --qmp PATH")
            try:
                await client.connect(self.socket_path)
            except (QMPError, OSError) as exc:
                raise CaptureFailed(f"cannot connect to {self.socket_path}: {exc}") from exc
            self.client = client
            return
        # QEMU connects to us: no polling for its socket to appear
        self._dir = tempfile.TemporaryDirectory(prefix="qomsim-capture-")
        sock = str(Path(self._dir.name) / "qmp.sock")
        await client.start_server(sock)
        try:
            self.proc = subprocess.Popen(
                [*self.argv, "-qmp", f"unix:{sock}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise CaptureFailed(f"cannot start {self.binary}: {exc}") from exc
        try:
            await asyncio.wait_for(client.accept(), COMMAND_TIMEOUT)
        except (TimeoutError, QMPError, OSError) as exc:
            await self.stop()
            raise CaptureFailed(f"{self.binary} did not connect to QMP: {exc!r}") from exc
        self.client = client

    async def stop(self) -> None:
        """Quit QEMU if it is ours, and disconnect."""
        if self.client is not None:
            with contextlib.suppress(QMPError, OSError, EOFError, asyncio.TimeoutError):
                if self.proc is not None and self.proc.poll() is None:
                    await asyncio.wait_for(self.client.execute("quit"), 5)
            # disconnect() re-raises what killed the reader (EOFError after a crash)
            with contextlib.suppress(QMPError, OSError, EOFError, asyncio.TimeoutError):
                await asyncio.wait_for(self.client.disconnect(), 5)
            self.client = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def restart(self) -> None:
        """Start a new QEMU after a crash.

        :raise CaptureFailed: when QEMU is not ours, or cannot be restarted.
        """
        if self.binary is None:
            raise CaptureFailed(f"QEMU at {self.socket_path} died and was not started by qomsim capture")
        await self.stop()
        await self.start()
        # qom-list-types loads every QOM module (module_load_qom_all); without it, QEMU 7.2 answers
        # "Class '%s' not found" for types from modules (e.g. qxl) that the first QEMU had listed
        await self.execute("qom-list-types", {"abstract": True})

    async def execute(self, command: str, arguments: dict[str, JSON] | None = None) -> dict[str, JSON]:
        """Execute one command.

        :param command: the command.
        :param arguments: its arguments.
        :return: ``{"return": ...}`` or ``{"error": {...}}``.
        :raise QEMUCrashed: when the connection is lost, QEMU exits, or the command times out.
        """
        if self.client is None:
            raise QEMUCrashed("not connected")
        try:
            value = await asyncio.wait_for(self.client.execute(command, arguments), COMMAND_TIMEOUT)
        except ExecuteError as exc:
            return {"error": {"class": exc.error_class, "desc": str(exc)}}
        except TimeoutError:
            if self.proc is not None:
                self.proc.kill()
            raise QEMUCrashed(f"no answer within {COMMAND_TIMEOUT:g} s") from None
        except (QMPError, OSError, EOFError) as exc:
            raise QEMUCrashed(self._death(exc)) from exc
        return {"return": _json(value)}

    def _death(self, exc: BaseException) -> str:
        if self.proc is not None:
            try:
                status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                return f"connection lost ({type(exc).__name__})"
            if status < 0:
                return f"killed by signal {-status}"
            return f"exited with status {status}"
        return f"connection lost ({type(exc).__name__})"


def _json(value: object) -> JSON:
    # qemu.qmp hands back plain json-decoded data; round-trip it to satisfy the JSON type
    decoded: JSON = json.loads(json.dumps(value))
    return decoded


# -- progress --------------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on a terminal, plain lines (every ``step`` items) elsewhere."""

    def __init__(self, enabled: bool, stream: Any = None, step: int = 100) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.step = step
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None
        self.total = 0
        self.done = 0

    @contextlib.contextmanager
    def run(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        self.total, self.done = total, 0
        if not self.enabled:
            yield lambda _name: None
            return
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
                          console=Console(file=self.stream), transient=False) as bar:
                task = bar.add_task(label, total=total, current="")
                self._bar = bar

                def advance(name: str) -> None:
                    bar.update(task, advance=1, current=name)

                try:
                    yield advance
                finally:
                    self._bar = None
            return

        def advance_plain(name: str) -> None:
            self.done += 1
            if self.done % self.step == 0 or self.done == self.total:
                print(f"{label}: {self.done}/{self.total} ({name})", file=self.stream, flush=True)

        yield advance_plain

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:  # above the live bar, not through it
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)


# -- the sweep ----------------------------------------------------------------------------------------


def _ancestors(types: dict[str, dict[str, JSON]], name: str) -> Iterator[str]:
    current: str | None = name
    seen: set[str] = set()
    while current is not None and current in types and current not in seen:
        seen.add(current)
        yield current
        parent = types[current].get("parent")
        current = parent if isinstance(parent, str) else None


def _names(answer: dict[str, JSON]) -> list[str]:
    listed = answer.get("return")
    if not isinstance(listed, list):
        return []
    return sorted(str(t["name"]) for t in listed if isinstance(t, dict) and "name" in t)


async def _tree(target: QEMUTarget, raw: RawCapture) -> None:
    pending = ["/"]
    while pending:
        path = pending.pop(0)
        answer = await target.execute("qom-list", {"path": path})
        props = answer.get("return")
        if not isinstance(props, list):
            continue
        raw.tree[path] = [p for p in props if isinstance(p, dict)]
        for prop in raw.tree[path]:
            ptype, name = prop.get("type"), prop.get("name")
            if isinstance(ptype, str) and isinstance(name, str) and ptype.startswith("child<"):
                pending.append(f"{path.rstrip('/')}/{name}")


async def _sweep(target: QEMUTarget, raw: RawCapture, progress: _Progress,
                 only: Sequence[str] | None) -> None:
    version = await target.execute("query-version")
    returned = version.get("return")
    raw.version = returned if isinstance(returned, dict) else {}
    argv = target.argv  # the binary's file name, never its path: a shared snapshot leaks no local path
    raw.argv = [Path(argv[0]).name, *argv[1:]] if argv else []
    await _tree(target, raw)
    listed = (await target.execute("qom-list-types", {"abstract": True})).get("return")
    raw.types = [t for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
    raw.concrete = _names(await target.execute("qom-list-types", {"abstract": False}))
    by_name: dict[str, dict[str, JSON]] = {str(t["name"]): t for t in raw.types}
    interfaces = sorted(n for n in by_name if "interface" in _ancestors(by_name, n))
    for iface in interfaces:
        raw.implements[iface] = _names(
            await target.execute("qom-list-types", {"implements": iface, "abstract": True}))
    # with --only, the ancestors come too: each type's snapshot entry is relative to its parent
    names = sorted(by_name) if only is None else \
        sorted({a for n in only if n in by_name for a in _ancestors(by_name, n)})
    concrete_set = set(raw.concrete)
    jobs: list[tuple[str, str]] = [("qom-list-properties", n) for n in names]
    jobs += [("device-list-properties", n) for n in names
             if n in concrete_set and "device" in _ancestors(by_name, n)]
    with progress.run(len(jobs), "capture") as advance:
        for command, name in jobs:
            table = raw.device_list_properties if command == "device-list-properties" \
                else raw.qom_list_properties
            try:
                table[name] = await target.execute(command, {"typename": name})
            except QEMUCrashed as exc:
                raw.crashes.append({"command": command, "typename": name, "detail": exc.detail})
                progress.note(f"capture: {command} {name} crashed QEMU ({exc.detail}); restarting")
                raw.restarts += 1
                await target.restart()
            advance(name)


async def capture(binary: str | None = None, socket_path: str | None = None, *,
                  extra_args: Sequence[str] = (), only: Sequence[str] | None = None,
                  progress: bool = False) -> RawCapture:
    """Run the sweep against one QEMU.

    :param binary: start this QEMU binary (restarted after each crash).
    :param socket_path: or connect to this QMP UNIX socket.
    :param extra_args: more QEMU arguments (with ``binary``).
    :param only: introspect only these types and their ancestors (None: all); the type list
        and the interface lists are always complete.
    :param progress: show progress on stderr.
    :return: every answer.
    :raise CaptureFailed: when QEMU cannot be reached, or a QEMU we did not start dies.
    """
    raw = RawCapture()
    target = QEMUTarget(binary, socket_path, extra_args)
    start = time.monotonic()
    await target.start()
    try:
        await _sweep(target, raw, _Progress(progress), only)
    except QEMUCrashed as exc:
        raise CaptureFailed(f"QEMU died outside the introspection sweep: {exc.detail}") from exc
    finally:
        await target.stop()
    raw.seconds = time.monotonic() - start
    return raw


# -- command line ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``qomsim capture``'s options.

    :param parser: the subcommand's parser.
    """
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--qemu", metavar="BINARY", help="start this QEMU binary (e.g. qemu-system-x86_64)")
    where.add_argument("--qmp", metavar="PATH", help="connect to a running QEMU's QMP UNIX socket")
    parser.add_argument("--output", "-o", metavar="FILE", required=True,
                        help="write the snapshot here: a new file or a regular one, replaced; '-' is "
                        "standard output")
    parser.add_argument("--only", metavar="TYPE", action="append",
                        help="introspect only this type and its ancestors (repeatable; "
                             "the type list stays complete)")
    parser.add_argument("--no-progress", action="store_true", help="print no progress")


def run(args: argparse.Namespace) -> int:
    """Run ``qomsim capture``.

    :param args: the parsed options.
    :return: 0 on success, 1 when the capture failed, 2 when ``--output`` cannot be written (checked
        before the capture, which may take minutes, and again at the end).
    """
    try:
        _writable(args.output)
    except OSError as exc:
        print(f"qomsim capture: {cannot_write(args.output, exc)}", file=sys.stderr)
        return 2
    try:
        raw = asyncio.run(capture(args.qemu, args.qmp, only=args.only, progress=not args.no_progress))
    except CaptureFailed as exc:
        print(f"qomsim capture: {exc}", file=sys.stderr)
        return 1
    text = io.StringIO()
    dump_snapshot(snapshot_from_raw(raw), text)
    try:
        write_file(args.output, text.getvalue().encode("utf-8"), stdout=True, parents=False)
    except OSError as exc:
        print(f"qomsim capture: {cannot_write(args.output, exc)}", file=sys.stderr)
        return 2
    if not args.no_progress:
        print(f"qomsim capture: {len(raw.types)} types, {len(raw.crashes)} crashing, "
              f"{raw.restarts} restarts, {raw.seconds:.1f} s -> {escape_text(args.output)}", file=sys.stderr)
    return 0


def _writable(output: str) -> None:
    """:raise OSError: when ``output`` is not a target :func:`write_file` takes, or its folder is missing."""
    refuse_target(output, stdout=True)
    folder = Path(output).parent
    if output != STDOUT and not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(folder))
