"""The runner: measure each registered figure group under a configuration and a time bound."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.machine import Machine, cpu_clock, describe_machine, others_share
from benchmarks.model import Config, FigureSpec, NotMeasured, Row, not_measured
from benchmarks.registry import FIGURES

__all__ = ["FigureResult", "Report", "run"]

QEMU_BINARY = "/usr/bin/qemu-system-x86_64"


@dataclass(frozen=True)
class FigureResult:
    """The rows of one figure group.

    :param key: the registry key.
    :param title: the heading.
    :param rows: its rows.
    :param seconds: wall-clock time the group took.
    :param error: the traceback's last line when the group failed unexpectedly, else None.
    """

    key: str
    title: str
    rows: tuple[Row, ...]
    seconds: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict."""
        return {"key": self.key, "title": self.title, "seconds": round(self.seconds, 3), "error": self.error,
                "rows": [row.to_json() for row in self.rows]}


@dataclass(frozen=True)
class Report:
    """A whole run.

    :param machine: where it ran.
    :param config: how.
    :param results: one per figure group, in registry order.
    :param seconds: the run's wall-clock time.
    """

    machine: Machine
    config: Config
    results: tuple[FigureResult, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        """True when a figure group raised something other than :class:`NotMeasured`."""
        return any(r.error is not None for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict of the whole run."""
        config = dataclasses.asdict(self.config)
        config["only"] = sorted(self.config.only)
        return {"machine": self.machine.to_json(), "config": config, "seconds": round(self.seconds, 3),
                "figures": [r.to_json() for r in self.results]}


def _placeholders(spec: FigureSpec, reason: str) -> tuple[Row, ...]:
    return tuple(not_measured(fig, name, reason, target) for fig, name, target in spec.placeholder)


def _run_one(spec: FigureSpec, config: Config) -> FigureResult:
    start = time.monotonic()
    error: str | None = None
    try:
        rows = tuple(spec.measure(config))
    except NotMeasured as exc:
        rows = _placeholders(spec, exc.reason)
    except Exception as exc:  # a broken figure must not hide the others; the exit status reports it
        traceback.print_exc(file=sys.stderr)
        error = f"{type(exc).__name__}: {exc}"
        rows = _placeholders(spec, f"failed: {error}")
    return FigureResult(spec.key, spec.title, rows, time.monotonic() - start, error)


def run(config: Config, specs: Sequence[FigureSpec] = FIGURES, *, progress: bool = False) -> Report:
    """Measure every figure group in ``specs`` (those in ``config.only``, when it is not empty).

    A group that would start after ``config.budget_s`` has elapsed is reported as not measured;
    each group is given the remaining budget as its own ``budget_s``.

    :param config: sizes, repetitions, selection and time bound.
    :param specs: the registry (default: :data:`benchmarks.registry.FIGURES`).
    :param progress: print each group's name and time to stderr.
    :return: the report.
    """
    machine = describe_machine(QEMU_BINARY)
    start = time.monotonic()
    clock = cpu_clock()
    results: list[FigureResult] = []
    for spec in specs:
        if config.only and spec.key not in config.only:
            continue
        remaining = None if config.budget_s is None else config.budget_s - (time.monotonic() - start)
        if remaining is not None and remaining <= 0:
            reason = f"{config.mode}-mode time budget ({config.budget_s:g} s) used up"
            results.append(FigureResult(spec.key, spec.title, _placeholders(spec, reason), 0.0))
            continue
        if progress:
            print(f"benchmarks: {spec.key} ...", file=sys.stderr, flush=True)
        result = _run_one(spec, dataclasses.replace(config, budget_s=remaining))
        if progress:
            print(f"benchmarks: {spec.key} done in {result.seconds:.1f} s", file=sys.stderr, flush=True)
        results.append(result)
    wall = time.monotonic() - start
    clock_after = cpu_clock()
    others = None if clock is None or clock_after is None else others_share(clock, clock_after, wall,
                                                                               os.cpu_count() or 1)
    machine = dataclasses.replace(machine, load_after=os.getloadavg()[0], others=others)
    return Report(machine, config, tuple(results), wall)
