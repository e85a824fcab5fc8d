"""The machine description printed with the figures."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["CpuClock", "Machine", "cpu_clock", "describe_machine", "others_share"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Machine:
    """Where and on what the figures were measured.

    :param cpu: the CPU model name.
    :param cores: logical CPUs usable by this process.
    :param python: the Python implementation and version.
    :param platform: the OS and architecture.
    :param commit: the qomsim commit (short hash), with ``+dirty`` when the work tree had changes.
    :param load_before: 1-minute load average when the run started.
    :param load_after: 1-minute load average when it ended (None until then).
    :param qemu: the real QEMU's version line, or None when not installed.
    :param others: the share of the machine's CPU time that other processes used while the run lasted
        (:func:`others_share`; None until the run ended, or where ``/proc/stat`` cannot be read).  The
        load average cannot tell: at the end it counts the run's own worker processes too.
    """

    cpu: str
    cores: int
    python: str
    platform: str
    commit: str
    load_before: float
    load_after: float | None
    qemu: str | None
    others: float | None = None

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class CpuClock:
    """Two CPU-time counters read at one moment, in seconds.

    :param machine: the whole machine's busy time (``/proc/stat``: every state but idle and I/O wait).
    :param own: this process's time, its threads' and its reaped children's included (``getrusage``).
    """

    machine: float
    own: float


def cpu_clock(stat: Path = Path("/proc/stat")) -> CpuClock | None:
    """:param stat: the kernel's CPU statistics.
    :return: the counters now, or None where ``stat`` cannot be read (not Linux)."""
    try:
        first = stat.read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[:1] != ["cpu"] or len(first) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
    return CpuClock(busy, own)


def others_share(before: CpuClock, after: CpuClock, wall_s: float, cores: int) -> float:
    """:param before: the counters when the run started.
    :param after: the counters when it ended (every child process reaped).
    :param wall_s: the wall time between them.
    :param cores: the cores the machine has.
    :return: the share of the machine's CPU time (``wall_s * cores``) that processes other than the run
        used: the machine's busy time less the run's own, between 0 and 1."""
    if wall_s <= 0 or cores <= 0:
        return 0.0
    others = (after.machine - before.machine) - (after.own - before.own)
    return min(max(others / (wall_s * cores), 0.0), 1.0)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}+dirty" if dirty else head


def qemu_version(binary: str) -> str | None:
    """:param binary: the path of a QEMU system emulator.
    :return: its first ``--version`` line, or None when it cannot be run."""
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False,
                                timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def describe_machine(qemu_binary: str) -> Machine:
    """:param qemu_binary: the real QEMU the run compares against.
    :return: the machine description, with the load average now."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return Machine(
        cpu=_cpu_model(), cores=cores,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        commit=_commit(), load_before=os.getloadavg()[0], load_after=None, qemu=qemu_version(qemu_binary))
