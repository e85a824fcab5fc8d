"""The data the harness produces: configurations, targets, rows and figure results.

A figure produces one or more :class:`Row` objects; a row is one line of the table in
``docs/performance.md``.  Nothing here measures anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Config", "FigureSpec", "NotMeasured", "Row", "Status", "Target", "judged", "not_measured"]


class Status(Enum):
    """How a row stands against its target."""

    MET = "met"
    MISSED = "missed"
    INFO = "info"  # reported without a target
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Target:
    """An upper bound on a row's value or ratio.

    :param limit: the bound (inclusive).
    :param on_ratio: True when the bound applies to the ratio, False for the value.
    :param unit: the unit of ``limit`` (for display).
    """

    limit: float
    on_ratio: bool
    unit: str = ""

    def describe(self) -> str:
        """:return: the target as the table shows it, e.g. ``ratio <= 10``."""
        what = "ratio" if self.on_ratio else "value"
        unit = f" {self.unit}" if self.unit else ""
        return f"{what} <= {self.limit:g}{unit}"


@dataclass(frozen=True)
class Row:
    """One measured (or unmeasured) line of the table.

    :param figure: the figure id, e.g. ``"1"`` or ``"2c"``.
    :param name: what was measured.
    :param value: the measured value, in ``unit`` (None when not measured).
    :param unit: the unit of ``value``.
    :param reference: what ``value`` was compared against (None when there is no reference).
    :param reference_value: the reference's measured value, in ``unit``.
    :param ratio: the ratio measured in the same run (None without a reference).
    :param target: the target, or None.
    :param status: met / missed / info / not measured.
    :param note: how it was measured, or why not.
    :param detail: listed in its group's detail table rather than the main table.
    :param cpu_ratio: the ratio in process CPU time (a cross-check when the machine is loaded).
    """

    figure: str
    name: str
    value: float | None
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    ratio: float | None = None
    target: Target | None = None
    status: Status = Status.INFO
    note: str = ""
    detail: bool = False
    cpu_ratio: float | None = None

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict of this row."""
        data = asdict(self)
        data["status"] = self.status.value
        data["target"] = None if self.target is None else asdict(self.target)
        return data


def judged(
    figure: str,
    name: str,
    value: float,
    unit: str,
    *,
    target: Target | None,
    reference: str | None = None,
    reference_value: float | None = None,
    ratio: float | None = None,
    note: str = "",
    cpu_ratio: float | None = None,
) -> Row:
    """Build a row and decide its status from its target.

    :param figure: the figure id.
    :param name: what was measured.
    :param value: the measured value.
    :param unit: its unit.
    :param target: the target, or None (status INFO).
    :param reference: the reference's description.
    :param reference_value: the reference's value.
    :param ratio: value / reference_value as measured in the same run.
    :param note: how it was measured.
    :param cpu_ratio: the same ratio in process CPU time.
    :return: the row.
    :raise ValueError: when the target is on a ratio and no ratio is given.
    """
    status = Status.INFO
    if target is not None:
        judged_value = ratio if target.on_ratio else value
        if judged_value is None:
            raise ValueError(f"figure {figure}: a ratio target needs a ratio")
        status = Status.MET if judged_value <= target.limit else Status.MISSED
    return Row(figure, name, value, unit, reference, reference_value, ratio, target, status, note,
               cpu_ratio=cpu_ratio)


def not_measured(figure: str, name: str, reason: str, target: Target | None = None) -> Row:
    """:param figure: the figure id.
    :param name: what would have been measured.
    :param reason: why it was not.
    :param target: the target it would have been judged against.
    :return: a NOT_MEASURED row."""
    return Row(figure, name, None, "", target=target, status=Status.NOT_MEASURED, note=reason)


class NotMeasured(Exception):
    """Raised by a figure that cannot be measured here (missing dependency, no QEMU, ...).

    :param reason: the text shown in the table.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Config:
    """How hard to measure.

    :param mode: ``"full"``, ``"quick"`` or ``"tiny"`` (tests).
    :param repeats: timed repetitions per measurement (the figure is their median).
    :param warmup: untimed repetitions before them.
    :param loops: iterations inside one timed repetition of a micro-benchmark.
    :param sweep_limit: at most this many types per introspection sweep (None: every type).
    :param cells_limit: at most this many failing design x property cells (None: all).
    :param cell_repeats: runs per failing cell (time to first counterexample is their median).
    :param scenarios_limit: at most this many scenarios explored exhaustively (None: all).
    :param memory_cycles: create/destroy cycles of the memory figure.
    :param budget_s: wall-clock bound of the whole run; figures that would start after it
        are reported as not measured (None: no bound).
    :param only: measure only these figure groups (empty: all).
    :param snapshot: the snapshot file for figures 3, 4 and 7b (None: the packaged one).
    """

    mode: str
    repeats: int
    warmup: int
    loops: int
    sweep_limit: int | None
    cells_limit: int | None
    cell_repeats: int
    scenarios_limit: int | None
    memory_cycles: int
    budget_s: float | None
    only: frozenset[str] = field(default_factory=frozenset)
    snapshot: str | None = None

    @classmethod
    def full(cls) -> Config:
        """:return: the configuration a person runs (minutes)."""
        return cls("full", 31, 3, 1000, None, None, 5, None, 1_000_000, None)

    @classmethod
    def quick(cls) -> Config:
        """:return: the CI configuration (about a minute at most)."""
        return cls("quick", 7, 1, 300, 60, 4, 1, 2, 20_000, 60.0)

    @classmethod
    def tiny(cls) -> Config:
        """:return: the smallest configuration, for the harness's own tests."""
        return cls("tiny", 3, 1, 20, 5, 1, 1, 1, 500, 15.0)


@dataclass(frozen=True)
class FigureSpec:
    """One entry of the registry: a figure group and how to measure it.

    :param key: a short name for ``--only`` (e.g. ``"lifecycle"``).
    :param figures: the figure numbers it produces (e.g. ``("1",)``).
    :param title: the heading.
    :param measure: runs the figure; returns its rows; raises :class:`NotMeasured`.
    :param placeholder: the rows shown when it cannot be measured (name and target).
    """

    key: str
    figures: tuple[str, ...]
    title: str
    measure: Callable[[Config], list[Row]]
    placeholder: tuple[tuple[str, str, Target | None], ...]
