"""The model's S14 path on real QEMU: exec-oob migrate-pause reads a MigrationState that
migration_shutdown() freed, confirmed under valgrind on Debian's QEMU 7.2.22 and QEMU 10.0.2.

Recipe: ``-M none`` with a ``null-co`` block device whose requests take 3 s
(``latency-ns``); an HMP ``qemu-io`` write makes ``qemu_cleanup()``'s block flush slow.  While
``quit`` is carried out, ``migration_shutdown()`` drops the last reference (no migration ran, so
the object is finalized and freed at once) and ``bdrv_close_all()`` waits for the flush; the
monitor I/O thread still runs out-of-band commands until ``monitor_cleanup()`` stops it, and
``qmp_migrate_pause()`` reads ``ms->state`` of the freed object.

Nothing is timed; every step waits for an event QEMU gives.  The QMP socket is bound and listening
before QEMU starts (QEMU takes it with ``-chardev socket,fd=N``), so the client connects at once.
``quit`` is sent right after the HMP write: the monitor runs in-band commands one at a time, so it is
carried out after the write returned.  The ``SHUTDOWN`` event says ``qemu_cleanup()`` is starting;
from then on the client sends ``{"exec-oob": "migrate-pause"}``, each after the reply to the one
before, until QEMU closes the connection (``monitor_cleanup()``), and waits for QEMU to exit.  The
check is valgrind's report.  :data:`HANG_GUARD_S` only turns a hang into a failure.

The model finds the same path for ``qemu-9.1`` and ``qemu-10.0`` in S14
(tests/test_migration_actors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from qemu_helpers import require_qemu, require_qemu10

VALGRIND = "valgrind --error-exitcode=99 --track-origins=no --num-callers=30"
#: a run that has not ended after this long is a hang, not a slow machine (one run takes 11-14 s idle)
HANG_GUARD_S = 600.0

_FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (\S+)")
_FIRST_ERROR = re.compile(r"^==\d+== (Invalid (?:read|write) of size \d+|Invalid free|Mismatched free"
                          r"|Conditional jump|Use of uninitialised|Syscall param)")


@dataclass
class ValgrindError:
    """valgrind's first error: its kind, the access stack, the address line, the free stack."""

    kind: str
    access: list[str] = field(default_factory=list)
    address: str = ""
    freed_by: list[str] = field(default_factory=list)


def first_error(text: str) -> ValgrindError | None:
    """:param text: valgrind's stderr.
    :return: the first error it reported, or ``None``.
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _FIRST_ERROR.match(line)
        if m is None:
            continue
        err = ValgrindError(m.group(1))
        section = err.access
        for follow in lines[i + 1:]:
            body = re.sub(r"^==\d+== ?", "", follow)
            if not body.strip():
                break
            frame = _FRAME.match(follow)
            if frame:
                section.append(frame.group(1))
            elif "Address 0x" in body:
                err.address = body.strip()
                section = err.freed_by
            elif "Block was alloc'd at" in body:
                section = []
        return err
    return None


async def _read(reader: asyncio.StreamReader) -> dict[str, object] | None:
    """:return: QEMU's next message, or ``None`` once it closed the connection."""
    line = await reader.readline()
    if not line:
        return None
    message: dict[str, object] = json.loads(line)
    return message


async def _until(reader: asyncio.StreamReader, key: str, value: object) -> bool:
    """Read until a message whose ``key`` is ``value``.

    :return: False when the connection closed first.
    """
    while (message := await _read(reader)) is not None:
        if message.get(key) == value:
            return True
    return False


async def _flood(sock: str) -> None:
    reader, writer = await asyncio.open_unix_connection(sock, limit=1 << 24)
    try:
        await reader.readline()  # greeting
        writer.write(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "caps"}\n')
        await writer.drain()
        assert await _until(reader, "id", "caps")
        hmp = {"execute": "human-monitor-command", "id": "hmp",
               "arguments": {"command-line": 'qemu-io n0 "write 0 512"'}}
        writer.write(json.dumps(hmp).encode() + b"\n")
        writer.write(b'{"execute": "quit", "id": "quit"}\n')  # in-band: runs once the write returned
        await writer.drain()
        if not await _until(reader, "event", "SHUTDOWN"):
            return
        n = 0
        while True:
            n += 1
            writer.write(json.dumps({"exec-oob": "migrate-pause", "id": n}).encode() + b"\n")
            await writer.drain()
            if not await _until(reader, "id", n):
                return
    except (ConnectionError, OSError):
        pass  # QEMU closed the connection: monitor_cleanup() ran
    finally:
        writer.close()


def run_recipe(binary: str) -> str:
    """Run the recipe once under valgrind.

    :param binary: ``qemu-system-x86_64`` or the 10.0 wrapper (a script: valgrind goes through
        ``QOMSIM_QEMU_PREFIX`` so it runs inside the wrapper's mount namespace).
    :return: valgrind's stderr.
    """
    with tempfile.TemporaryDirectory(prefix="qomsim-uaf-") as d, socket.socket(socket.AF_UNIX) as listener:
        sock = str(Path(d) / "qmp.sock")
        listener.bind(sock)
        listener.listen(1)
        fd = listener.fileno()
        args = ["-M", "none", "-nodefaults", "-display", "none",
                "-blockdev", "driver=null-co,node-name=n0,size=1048576,latency-ns=3000000000",
                "-chardev", f"socket,id=qmp,fd={fd},server=on,wait=off", "-mon", "chardev=qmp,mode=control"]
        env = dict(os.environ)
        with open(binary, "rb") as f:
            script = f.read(2) == b"#!"
        if script:
            env["QOMSIM_QEMU_PREFIX"] = VALGRIND
            argv = [binary, *args]
        else:
            argv = [*shlex.split(VALGRIND), binary, *args]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, start_new_session=True, pass_fds=[fd])
        try:
            with contextlib.suppress(TimeoutError):
                asyncio.run(asyncio.wait_for(_flood(sock), HANG_GUARD_S))
            _out, err = proc.communicate(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _out, err = proc.communicate()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return err.decode("utf-8", "replace")


def _assert_uaf(binary: str) -> None:
    report = run_recipe(binary)
    err = first_error(report)
    assert err is not None, report[-3000:]
    assert err.kind == "Invalid read of size 4"
    assert err.access[0] == "qmp_migrate_pause"
    pattern = r"Address 0x[0-9a-f]+ is [\d,]+ bytes inside a block of size [\d,]+ free'd"
    assert re.fullmatch(pattern, err.address)
    freer = err.freed_by.index("migration_shutdown")
    assert err.freed_by[freer + 1] == "qemu_cleanup"


def test_first_error_reads_valgrinds_report() -> None:
    text = """==7== Memcheck
==7== Thread 3 IO mon_iothread:
==7== Invalid read of size 4
==7==    at 0x5A1B2C: qmp_migrate_pause (migration.c:2100)
==7==    by 0x6B2C3D: qmp_marshal_migrate_pause (qapi-commands-migration.c:500)
==7==  Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd
==7==    at 0x48431EF: free (vg_replace_malloc.c:872)
==7==    by 0x5A0000: migration_shutdown (migration.c:300)
==7==    by 0x5B0000: qemu_cleanup (runstate.c:880)
==7==  Block was alloc'd at
==7==    at 0x4840F2F: calloc (vg_replace_malloc.c:1340)
==7==
"""
    err = first_error(text)
    assert err == ValgrindError("Invalid read of size 4", ["qmp_migrate_pause", "qmp_marshal_migrate_pause"],
                                "Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd",
                                ["free", "migration_shutdown", "qemu_cleanup"])
    assert first_error("==7== ERROR SUMMARY: 0 errors from 0 contexts\n") is None


@pytest.mark.qemu
def test_migrate_pause_reads_freed_migration_state_on_qemu_7_2() -> None:
    _assert_uaf(require_qemu())


@pytest.mark.qemu
def test_migrate_pause_reads_freed_migration_state_on_qemu_10_0() -> None:
    _assert_uaf(require_qemu10())
