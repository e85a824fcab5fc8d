"""The machine description printed with the figures."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Machine", "describe_machine"]

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
    """

    cpu: str
    cores: int
    python: str
    platform: str
    commit: str
    load_before: float
    load_after: float | None
    qemu: str | None

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict."""
        return asdict(self)


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
