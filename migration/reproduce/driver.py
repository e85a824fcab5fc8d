"""One real QEMU run of a :class:`~migration.reproduce.plan.Plan`, under valgrind or not.

The QMP socket is bound and listening before QEMU starts (QEMU takes it with ``-chardev socket,fd=N``,
and the driver closes its own copy), so the client (``qemu.qmp``'s :class:`~qemu.qmp.QMPClient`) connects
at once and nothing polls; a QEMU that exits at once (an option it refused) leaves nobody listening, and
the connection fails.  The driver sends the plan's steps, each after the answer to the one before (an
error answer is part of the run, not a failure of the driver); then ``quit``.  When the plan floods, it
waits for the ``SHUTDOWN`` event (``qemu_cleanup()`` is starting; ``quit``'s own answer may come only after
the flush) and sends the out-of-band commands again and again, each after the answer to the one before,
until QEMU closes the connection (``monitor_cleanup()``).  Then it waits for QEMU to exit.  Nothing is
timed; :data:`HANG_GUARD_S` only turns a hang into a result.

A binary that is a shell script (the 10.0.2 wrapper of ``.ci/install-qemu10.sh``) gets valgrind through
``QOMSIM_QEMU_PREFIX``, which such a wrapper puts in front of the real executable; any other binary runs
as ``valgrind ... BINARY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from qemu.qmp import EventListener, QMPClient, QMPError

from migration.reproduce.plan import Plan, Step, command_line
from migration.reproduce.valgrind import VALGRIND

__all__ = ["HANG_GUARD_S", "PREFIX_ENV", "RunLog", "is_script", "run_once"]

#: a run that has not ended after this long is a hang, not a slow machine (one run takes 10-20 s idle)
HANG_GUARD_S = 600.0

#: the size of the guest RAM file (the ``memory-backend-file`` of migration/reproduce/triggers.py)
RAM_SIZE = 64 << 20

#: the environment variable a wrapper script puts in front of the real QEMU
PREFIX_ENV = "QOMSIM_QEMU_PREFIX"


@dataclass
class RunLog:
    """What one run left.

    :ivar argv: the command line (valgrind's options first when it ran under valgrind).
    :ivar stderr: QEMU's and valgrind's standard error.
    :ivar returncode: QEMU's exit status (negative: killed by that signal).
    :ivar transcript: the QMP commands sent and what came back, one line each.
    :ivar hung: the run was killed after :data:`HANG_GUARD_S`.
    """

    @property
    def started(self) -> bool:
        """:return: QEMU answered the QMP greeting (it accepted its command line)."""
        return "QMP session" in self.transcript

    def qemu_said(self) -> str:
        """:return: QEMU's first line on stderr that is not valgrind's."""
        lines = (x for x in self.stderr.splitlines() if x.strip() and not x.startswith(("==", "--")))
        return next(lines, "")

    argv: list[str]
    stderr: str = ""
    returncode: int = 0
    transcript: list[str] = field(default_factory=list)
    hung: bool = False


def is_script(binary: str) -> bool:
    """:param binary: an executable.
    :return: whether it starts with ``#!``.
    """
    with open(binary, "rb") as f:
        return f.read(2) == b"#!"


def _format(value: object, paths: dict[str, str]) -> object:
    return value.format(**paths) if isinstance(value, str) else value


def _note(log: list[str], line: str) -> None:
    """Append a transcript line; a run of the same line is kept as the line and a count."""
    line = line[:300]
    last = log[-1] if log else ""
    if last == line:
        log[-1] = f"{line} (x2)"
    elif last.startswith(line + " (x") and last[len(line) + 3:-1].isdigit():
        log[-1] = f"{line} (x{int(last[len(line) + 3:-1]) + 1})"
    else:
        log.append(line)


async def _send(client: QMPClient, step: Step, paths: dict[str, str], log: list[str]) -> None:
    args = {k: _format(v, paths) for k, v in step.arguments.items()}
    try:
        answer = await client.execute(step.command, args or None, oob=step.oob)
        _note(log, f"{step} -> return {answer!r}")
    except QMPError as exc:
        _note(log, f"{step} -> {type(exc).__name__}: {exc}")
        if not hasattr(exc, "error_class"):
            raise


async def _drive(sock: str, plan: Plan, paths: dict[str, str], log: list[str]) -> None:
    client = QMPClient("qomsim-reproduce")
    try:
        try:
            await client.connect(sock)
        except QMPError as exc:  # QEMU exited before the session (an option it refused)
            log.append(f"no QMP session: {exc}")
            return
        log.append("QMP session")
        with contextlib.suppress(QMPError, OSError, EOFError):
            shutdown = EventListener("SHUTDOWN")
            with client.listen(shutdown):
                for step in plan.steps:
                    await _send(client, step, paths, log)
                # quit's answer may come only once qemu_cleanup() has flushed: wait for the event
                quit = asyncio.ensure_future(_send(client, Step("quit"), paths, log))
                try:
                    await shutdown.get()
                    log.append("event SHUTDOWN")
                    while plan.flood:
                        for step in plan.flood:
                            await _send(client, step, paths, log)
                    await quit
                finally:
                    quit.cancel()
    finally:
        log.append("connection closed")
        with contextlib.suppress(QMPError, OSError, EOFError):
            await client.disconnect()


def run_once(binary: str, plan: Plan, workdir: Path, *, valgrind: bool = True,
             hang_guard: float = HANG_GUARD_S) -> RunLog:
    """Run the plan once.

    :param binary: the QEMU executable.
    :param plan: what to do.
    :param workdir: an empty folder of the run's own (sockets and the vvfat folder go there).
    :param valgrind: run QEMU under valgrind.
    :param hang_guard: seconds after which a run that has not ended is killed.
    :return: the run's log.
    """
    logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)  # a disconnect is how every run ends
    binary = os.path.abspath(shutil.which(binary) or binary)  # QEMU runs in workdir
    paths = {"peer": str(workdir / "peer.sock"), "incoming": str(workdir / "incoming.sock"),
             "vvfat": str(workdir / "vvfat"), "ram": str(workdir / "ram")}
    if "vvfat" in plan.paths:
        Path(paths["vvfat"]).mkdir()
    if "ram" in plan.paths:
        with open(paths["ram"], "wb") as f:
            for _ in range(RAM_SIZE >> 20):
                f.write(b"\x5a" * (1 << 20))
    sock = str(workdir / "qmp.sock")
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_UNIX))
        listener.bind(sock)
        listener.listen(1)
        if "peer" in plan.paths:  # a peer that accepts nothing and reads nothing
            peer = stack.enter_context(socket.socket(socket.AF_UNIX))
            peer.bind(paths["peer"])
            peer.listen(1)
        argv = command_line(binary, plan, listener.fileno(), paths)
        env = dict(os.environ)
        if valgrind and is_script(binary):
            env[PREFIX_ENV] = " ".join(VALGRIND)
        elif valgrind:
            argv = [*VALGRIND, *argv]
        run = RunLog(argv)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, start_new_session=True,
                                pass_fds=[listener.fileno()], cwd=workdir)
        listener.close()  # QEMU has it: once QEMU is gone, connecting fails instead of waiting
        try:
            try:
                asyncio.run(asyncio.wait_for(_drive(sock, plan, paths, run.transcript), hang_guard))
            except TimeoutError:
                run.hung = True
            _out, err = proc.communicate(timeout=hang_guard)
        except subprocess.TimeoutExpired:
            run.hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            _out, err = proc.communicate()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        run.stderr = err.decode("utf-8", "replace")
        run.returncode = proc.returncode
    return run
