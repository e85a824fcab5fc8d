"""A model prediction against a real QEMU: plan, drive, classify.

:func:`reproduce` takes a saved counterexample (``qomsim check --json``, ``decide``'s evidence,
``qomsim serve --trace``) or a program the model calls safe, builds the plan
(:mod:`migration.reproduce.plan`), runs it up to ``attempts`` times (:mod:`migration.reproduce.driver`)
and classifies valgrind's report (:mod:`migration.reproduce.valgrind`) as a :class:`Status`:

* ``CONFIRMED``: valgrind reports an invalid access, in the function the model names for the faulting
  step, to a block freed by the function the model names for the last ``object_unref``;
* ``NOT_REPRODUCED``: every attempt ended without it (for a safe path: ``CLEAN``, no error at all);
* ``OTHER_ERROR``: valgrind reported an error, but not the model's;
* ``NOT_DRIVABLE``: no outside action makes QEMU run one of the events (the reason says which and why),
  or the model's fault is not something valgrind sees (a leak, a second instance).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from tempfile import TemporaryDirectory

from migration.model.helpers import LAST_REFERENCE
from migration.model.outcomes import Outcome
from migration.model.program import Event, program_from_json
from migration.model.results import Counterexample
from migration.reproduce.driver import HANG_GUARD_S, RunLog, run_once
from migration.reproduce.plan import NotDrivable, Plan, build_plan, late_oob_events
from migration.reproduce.triggers import Version
from migration.reproduce.valgrind import ValgrindError, errors, matching
from qom.fileio import write_file

__all__ = [
    "Expectation",
    "Result",
    "Status",
    "binary_version",
    "expectation_of",
    "reproduce",
    "reproduce_program",
]

_VERSION = re.compile(r"QEMU emulator version (\d+)\.(\d+)\.(\d+)")

#: the model's faults valgrind sees: an access to freed memory
_MEMORY = frozenset({Outcome.UAF})


class Status(Enum):
    """What the real binary did with a prediction; the value is ``qomsim reproduce``'s exit status."""

    CONFIRMED = 0
    NOT_REPRODUCED = 1
    NOT_DRIVABLE = 3
    OTHER_ERROR = 4
    #: a safe path that ran clean on every attempt
    CLEAN = 5


@dataclass(frozen=True)
class Expectation:
    """What valgrind must show to confirm a prediction.

    :ivar access: the function of the faulting step (``qmp_migrate_pause``).
    :ivar freer: the function that dropped the last reference (``migration_shutdown``).
    :ivar freer_in_bh: that drop ran in a bottom half (valgrind may not name it: see
        :func:`~migration.reproduce.valgrind.matching`).
    :ivar created_by: the function that created the object (``migration_object_init``).
    """

    access: str
    freer: str
    freer_in_bh: bool = False
    created_by: str = ""


@dataclass
class Result:
    """One prediction against one binary.

    :ivar status: the classification.
    :ivar binary: the executable.
    :ivar version: its QEMU version.
    :ivar attempts: runs made.
    :ivar reason: for ``NOT_DRIVABLE``, why; otherwise a short account.
    :ivar plan: the plan, when there was one.
    :ivar error: the valgrind error that confirmed it (or the first other one).
    :ivar logs: every run's log.
    """

    status: Status
    binary: str
    version: Version
    attempts: int = 0
    reason: str = ""
    plan: Plan | None = None
    error: ValgrindError | None = None
    logs: list[RunLog] = field(default_factory=list)

    def lines(self) -> list[str]:
        """:return: the result as ``qomsim reproduce`` prints it."""
        v = ".".join(map(str, self.version))
        head = {Status.CONFIRMED: f"confirmed on QEMU {v}",
                Status.NOT_REPRODUCED: f"not reproduced on QEMU {v} after {self.attempts} attempts",
                Status.CLEAN: f"clean on QEMU {v} after {self.attempts} attempts",
                Status.OTHER_ERROR: f"another error on QEMU {v} (not the model's)",
                Status.NOT_DRIVABLE: f"not drivable on QEMU {v}"}[self.status]
        out = [head + (f": {self.reason}" if self.reason else "")]
        if self.error is not None:
            out += ["  " + line for line in self.error.summary()]
        return out


def binary_version(binary: str) -> Version:
    """:param binary: a QEMU executable.
    :return: its version, from ``--version``.
    :raise ValueError: when it does not say one (one line).
    :raise OSError: when it cannot be run.
    """
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=120, check=False)
    m = _VERSION.search(out.stdout)
    if m is None:
        raise ValueError(f"{binary} --version does not name a QEMU version")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _function(qemu: object) -> str:
    """``migration/migration.c:qmp_migrate_pause`` -> ``qmp_migrate_pause``."""
    return str(qemu).rsplit(":", 1)[-1]


def expectation_of(cx: Counterexample) -> Expectation | str:
    """:param cx: a counterexample.
    :return: what valgrind must show, or why valgrind cannot show the model's fault.
    """
    f = cx.fault
    if f.outcome not in _MEMORY:
        return (f"the model's fault is {f.outcome.value}, which is not an access valgrind reports "
                "(it reports invalid reads and writes of freed memory)")
    trace = [asdict(t) for t in cx.trace]
    access = _function(trace[f.step]["function"]) if f.step < len(trace) else ""
    freer, in_bh, created_by = "", False, ""
    for i, t in enumerate(trace):
        # the drop of the last reference frees the object: object_unref() finalizes it in the same call
        # (qom/object.c), so the free stack names its caller even when the fault came between the two
        # steps the model splits it into (QEMU 7.2's migration_thread taking its reference then: S4)
        if t.get("action") == "object_unref" and t.get("obj") == f.obj and t.get("note") == LAST_REFERENCE:
            freer = _function(t["function"])
            in_bh = str(t.get("actor", "")).startswith("bh:")
        if t.get("action") == "instance_init" and t.get("obj") == f.obj and i > 0 and not created_by:
            created_by = _function(trace[i - 1]["function"])  # the step that called object_new
    if not access or not freer:
        return "the trace does not name the function of the access or of the last object_unref"
    return Expectation(access, freer, in_bh, created_by)


def _keep(keep: Path | None, n: int, run: RunLog) -> None:
    if keep is None:
        return
    text = (" ".join(run.argv) + "\n\n" + "\n".join(run.transcript) + "\n\n" + run.stderr).encode()
    write_file(keep / f"attempt-{n}.log", text)


def _attempts(binary: str, version: Version, plan: Plan, expect: Expectation | None, attempts: int,
              keep: Path | None, valgrind: bool, hang_guard: float) -> Result:
    result = Result(Status.CLEAN if expect is None else Status.NOT_REPRODUCED, binary, version, plan=plan)
    for n in range(1, attempts + 1):
        with TemporaryDirectory(prefix="qomsim-reproduce-") as d:
            run = run_once(binary, plan, Path(d), valgrind=valgrind, hang_guard=hang_guard)
        result.logs.append(run)
        result.attempts = n
        _keep(keep, n, run)
        if not run.started and not run.hung:
            result.status = Status.NOT_DRIVABLE
            result.reason = f"QEMU did not start: {run.qemu_said() or f'exit status {run.returncode}'}"
            return result
        found = errors(run.stderr)
        if not found and run.returncode < 0 and not run.hung:
            found = [ValgrindError(f"QEMU died of signal {-run.returncode}: {run.qemu_said()}")]
        hit = None if expect is None else matching(
            found, expect.access, expect.freer, freer_in_bh=expect.freer_in_bh, created_by=expect.created_by)
        if hit is not None and expect is not None:
            result.status, result.error = Status.CONFIRMED, hit
            if expect.freer not in hit.freed_by:
                result.reason = (f"the block {expect.created_by} allocated was freed in a bottom half "
                                 "(aio_bh_poll) by a function valgrind cannot name: "
                                 f"{expect.freer} is static and the binary has no symbol for it")
            return result
        if found and result.error is None:
            result.status, result.error = Status.OTHER_ERROR, found[0]
        if run.hung:
            result.reason = f"attempt {n} hung and was killed after {hang_guard:.0f} s"
    return result


def reproduce_program(program: Sequence[Event], binary: str, *, expect: Expectation | None = None,
                      trace: Sequence[Mapping[str, object]] = (), attempts: int = 3,
                      keep: Path | None = None, valgrind: bool = True, version: Version | None = None,
                      hang_guard: float = HANG_GUARD_S) -> Result:
    """Drive a program against a binary.

    :param program: the model program.
    :param binary: the QEMU executable.
    :param expect: the model's fault (``None``: a path the model calls safe, expected clean).
    :param trace: the counterexample's trace (which out-of-band commands ran late).
    :param attempts: runs before giving up.
    :param keep: a folder to keep each attempt's log in (``attempt-N.log``, written safely).
    :param valgrind: run under valgrind (without it nothing can be confirmed).
    :param version: the binary's version, when known.
    :param hang_guard: seconds before a run that has not ended is killed.
    :return: the result.
    :raise ValueError: when the binary does not say its version.
    :raise OSError: when it cannot be run, or a log cannot be written.
    """
    v = version or binary_version(binary)
    try:
        plan = build_plan(program, v, late_oob_events(program, trace))
    except NotDrivable as exc:
        return Result(Status.NOT_DRIVABLE, binary, v, reason=exc.reason)
    return _attempts(binary, v, plan, expect, attempts, keep, valgrind, hang_guard)


def reproduce(cx: Counterexample, binary: str, *, attempts: int = 3, keep: Path | None = None,
              valgrind: bool = True, version: Version | None = None,
              hang_guard: float = HANG_GUARD_S) -> Result:
    """Drive a counterexample against a binary (see :func:`reproduce_program`).

    :param cx: the counterexample.
    :param binary: the QEMU executable.
    :param attempts: runs before giving up.
    :param keep: a folder for the logs.
    :param valgrind: run under valgrind.
    :param version: the binary's version, when known.
    :param hang_guard: seconds before a run that has not ended is killed.
    :return: the result.
    :raise ValueError: when the binary does not say its version.
    :raise OSError: when it cannot be run, or a log cannot be written.
    """
    v = version or binary_version(binary)
    expect = expectation_of(cx)
    if isinstance(expect, str):
        return Result(Status.NOT_DRIVABLE, binary, v, reason=expect)
    trace = [asdict(t) for t in cx.trace]
    return reproduce_program(program_from_json(cx.program), binary, expect=expect, trace=trace,
                             attempts=attempts, keep=keep, valgrind=valgrind, version=v,
                             hang_guard=hang_guard)
