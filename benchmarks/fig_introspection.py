"""Figures 3 and 4: the ``qom-list-properties`` sweep over every type of the real-QEMU snapshot.

Figure 3 runs the sweep in process (:func:`qom.qmp.execute`) on a universe loaded from the
snapshot.  Figure 4 runs the same sweep over a QMP socket with ``qemu.qmp`` against
``qomsim serve --universe SNAPSHOT`` and against a real QEMU (``-machine none -nodefaults -S
-display none``) started in the same run, alternating the two.  Each peer is first asked
``qom-list-types`` (untimed), as a client and the capture do; the types the snapshot records as
crashing QEMU on ``qom-list-properties`` are left out of both sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.model import Config, NotMeasured, Row, Target, judged
from benchmarks.snapshot import load_packaged_universe, require_snapshot, snapshot_crashes

__all__ = ["QEMU_ARGS", "QEMU_BINARY", "QMP_TARGET", "SWEEP_TARGET", "measure_qmp_sweep", "measure_sweep"]

SWEEP_TARGET = Target(100, on_ratio=False, unit="ms")
QMP_TARGET = Target(1, on_ratio=True)
QEMU_BINARY = "/usr/bin/qemu-system-x86_64"
QEMU_ARGS: tuple[str, ...] = ("-machine", "none", "-nodefaults", "-S", "-display", "none")
COMMAND = "qom-list-properties"
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
#: a whole sweep over QMP takes seconds: this many repetitions are enough for a median
MAX_QMP_REPEATS = 7


def _type_names(universe: Any, config: Config) -> tuple[list[str], str]:
    names = [str(n) for n in universe.snapshot_data["types"]]
    if config.sweep_limit is not None and config.sweep_limit < len(names):
        scope = f"{config.mode} mode: first {config.sweep_limit} of {len(names)} types; "
        return names[: config.sweep_limit], scope
    return names, ""


def measure_sweep(config: Config) -> list[Row]:
    """Figure 3: the in-process sweep.

    :param config: repetitions and the type limit.
    :return: one row.
    """
    universe = load_packaged_universe(config.snapshot)
    from qom.qmp import execute

    names, scope = _type_names(universe, config)
    errors = 0

    def sweep() -> None:
        nonlocal errors
        errors = 0
        for name in names:
            if "error" in execute(COMMAND, {"typename": name}, universe=universe):
                errors += 1

    from benchmarks.timing import gc_quiet

    cpu: list[float] = []

    def timed() -> float:
        with gc_quiet():
            cpu_start = time.process_time_ns()
            start = time.perf_counter_ns()
            sweep()
            wall = (time.perf_counter_ns() - start) / 1e6
            cpu.append((time.process_time_ns() - cpu_start) / 1e6)
            return wall

    cold = timed()  # the first sweep also initializes every class
    for _ in range(config.warmup):
        sweep()
    cpu.clear()
    warm = statistics.median(timed() for _ in range(config.repeats))
    live = universe.live_instances()
    return [judged(
        "3", f"in-process {COMMAND} sweep, {len(names)} types", warm, "ms", target=SWEEP_TARGET,
        note=(f"{scope}median of {config.repeats} warm sweeps ({statistics.median(cpu):.1f} ms CPU);"
              f" the first (cold) sweep, which also"
              f" initializes the classes, took {cold:.1f} ms; {errors} types answered with an error;"
              f" {live} live objects after"))]


# -- over QMP -----------------------------------------------------------------------------------------


async def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists():
        if proc.poll() is not None:
            raise NotMeasured(f"{what} exited with status {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise NotMeasured(f"{what} did not listen within {START_TIMEOUT_S:g} s")
        await asyncio.sleep(0.02)  # waiting for a child to start, not a race check


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def _server(argv: Sequence[str], sock: Path, what: str) -> AsyncIterator[Any]:
    from qemu.qmp import QMPClient

    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    client = QMPClient(what)
    try:
        await _wait_for_socket(sock, proc, what)
        await client.connect(str(sock))
        yield client, proc.pid
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
        _stop(proc)


def _cpu_s(pid: int) -> float:
    """:return: the user + system CPU time a process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sweep(peer: tuple[Any, int], names: Sequence[str]) -> tuple[float, int, float]:
    from qemu.qmp import ExecuteError

    client, pid = peer
    errors = 0
    cpu = _cpu_s(pid)
    start = time.perf_counter_ns()
    for name in names:
        try:
            await asyncio.wait_for(client.execute(COMMAND, {"typename": name}), COMMAND_TIMEOUT_S)
        except ExecuteError:
            errors += 1
        except TimeoutError:
            raise NotMeasured(f"{client.name} did not answer {COMMAND} {name} within"
                              f" {COMMAND_TIMEOUT_S:g} s") from None
    wall = (time.perf_counter_ns() - start) / 1e6
    return wall, errors, (_cpu_s(pid) - cpu) * 1e3


async def _compare(snapshot: Path, names: Sequence[str], config: Config, tmp: Path) -> dict[str, Any]:
    from qemu.qmp import ConnectError, StateError

    qomsim_sock, qemu_sock = tmp / "qomsim.sock", tmp / "qemu.sock"
    qomsim_argv = [sys.executable, "-m", "qom.cli", "serve", "--universe", str(snapshot), "--socket",
                   str(qomsim_sock)]
    qemu_argv = [QEMU_BINARY, *QEMU_ARGS, "-qmp", f"unix:{qemu_sock},server=on,wait=off"]
    repeats = min(config.repeats, MAX_QMP_REPEATS)
    ours: list[float] = []
    theirs: list[float] = []
    cpu_ours: list[float] = []
    cpu_theirs: list[float] = []
    errors = (0, 0)
    try:
        async with _server(qomsim_argv, qomsim_sock, "qomsim serve") as sim, \
                _server(qemu_argv, qemu_sock, "qemu-system-x86_64") as qemu:
            # as a client would (and as the capture did): list the types first, which also makes
            # a modular QEMU load its modules, so module types are found by the sweep
            for peer in (sim, qemu):
                listing = peer[0].execute("qom-list-types", {"abstract": True})
                await asyncio.wait_for(listing, COMMAND_TIMEOUT_S)
            for _ in range(min(config.warmup, 1)):
                await _sweep(sim, names)
                await _sweep(qemu, names)
            for _ in range(repeats):
                ms_sim, err_sim, cpu_sim = await _sweep(sim, names)
                ms_qemu, err_qemu, cpu_qemu = await _sweep(qemu, names)
                ours.append(ms_sim)
                theirs.append(ms_qemu)
                cpu_ours.append(cpu_sim)
                cpu_theirs.append(cpu_qemu)
                errors = (err_sim, err_qemu)
    except (ConnectError, StateError, EOFError, ConnectionError) as exc:
        raise NotMeasured(f"a QMP peer went away during the sweep ({type(exc).__name__}: {exc})") from None
    return {"ours": ours, "theirs": theirs, "errors": errors, "cpu_ours": sum(cpu_ours),
            "cpu_theirs": sum(cpu_theirs)}


def measure_qmp_sweep(config: Config) -> list[Row]:
    """Figure 4: the sweep over QMP, qomsim against a real QEMU.

    :param config: repetitions and the type limit.
    :return: one row.
    :raise NotMeasured: when the snapshot or QEMU is missing, or a peer dies.
    """
    snapshot = require_snapshot(config.snapshot)
    if shutil.which(QEMU_BINARY) is None or not os.access(QEMU_BINARY, os.X_OK):
        raise NotMeasured(f"{QEMU_BINARY} is not installed")
    universe = load_packaged_universe(config.snapshot)
    crashes = snapshot_crashes(universe, COMMAND)
    names, scope = _type_names(universe, config)
    skipped = [n for n in names if n in crashes]
    names = [n for n in names if n not in crashes]
    with tempfile.TemporaryDirectory(prefix="qomsim-bench-") as tmp:
        data = asyncio.run(_compare(snapshot, names, config, Path(tmp)))
    ours, theirs = data["ours"], data["theirs"]
    ratio = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
    qemu_ms = statistics.median(theirs)
    err_sim, err_qemu = data["errors"]
    cpu_ours, cpu_theirs = data["cpu_ours"], data["cpu_theirs"]
    cpu_ratio = cpu_ours / cpu_theirs if cpu_theirs > 0 else None
    return [judged(
        "4", f"{COMMAND} sweep over QMP (qemu.qmp), {len(names)} types", statistics.median(ours), "ms",
        target=QMP_TARGET, reference=f"real QEMU, same sweep: {qemu_ms:,.1f} ms", reference_value=qemu_ms,
        ratio=ratio, cpu_ratio=cpu_ratio,
        note=(f"{scope}median of {len(ours)} sweeps each, alternating; CPU ratio: server processes'"
              f" CPU time over all sweeps, {cpu_ours:,.0f} ms against {cpu_theirs:,.0f} ms (clock ticks of"
              f" {1000 / os.sysconf('SC_CLK_TCK'):g} ms); {len(skipped)} types skipped"
              f" because the snapshot records them crashing QEMU ({', '.join(skipped) or 'none'});"
              f" error answers: qomsim {err_sim}, QEMU {err_qemu}"))]
