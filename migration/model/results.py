"""Result types of the migration model: one run, one counterexample, one checked cell.

These are the types ``migration.report.decide`` consumes (docs/architecture.md, "Migration
model"); :mod:`migration.check.cell` re-exports them.  Everything here is plain data and
JSON-serialisable, so a counterexample written by ``qomsim check --json`` can be
re-run with ``qomsim replay``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migration.model.outcomes import Fault, Outcome, TraceStep

__all__ = ["CellResult", "Counterexample", "IntrospectionRecord", "RunResult", "ScenarioOutcomes"]


@dataclass(frozen=True)
class IntrospectionRecord:
    """What one introspection command answered during a run.

    :ivar command: ``qom-list-properties`` or ``device-list-properties``.
    :ivar phase: ``before-init``, ``running`` or ``after-shutdown``.
    :ivar ok: whether the command returned successfully.
    :ivar props: ``(name, type, default)`` triples as listed, sorted by name (empty on error).
    :ivar error: the QMP error description, or ``""``.
    :ivar step: the trace step at which the command ran.
    """

    command: str
    phase: str
    ok: bool
    props: tuple[tuple[str, str, str], ...]
    error: str
    step: int


@dataclass
class RunResult:
    """The outcome of running one program under one schedule.

    :ivar outcome: ``OK`` or the outcome of the first fault.
    :ivar fault: the first fault, or ``None``.
    :ivar faults: every fault recorded, in order (a run stops at the first fatal one).
    :ivar trace: every step taken.
    :ivar schedule: the choices the scheduler made (indices into the enabled actors).
    :ivar introspection: every introspection answer, in order.
    :ivar impure: faults found by comparing the world before and after introspection.
    :ivar creation_faults: fatal faults raised inside a creation path.
    :ivar helper_faults: faults raised inside an exported helper.
    :ivar exit_leaks: migration objects still not finalized when the process exits (``LEAK``).
    :ivar tag: the QEMU tag the design follows (whose class properties introspection must list).
    """

    design: str
    scenario: str | None
    program: list[dict[str, Any]]
    schedule: list[int]
    fault: Fault | None
    faults: list[Fault]
    trace: list[TraceStep]
    introspection: list[IntrospectionRecord] = field(default_factory=list)
    impure: list[Fault] = field(default_factory=list)
    creation_faults: list[Fault] = field(default_factory=list)
    helper_faults: list[Fault] = field(default_factory=list)
    exit_leaks: list[Fault] = field(default_factory=list)
    tag: str = "10.0"

    @property
    def outcome(self) -> Outcome:
        """:return: ``OK`` or the first fault's outcome."""
        return Outcome.OK if self.fault is None else self.fault.outcome


def _fault_to_json(f: Fault) -> dict[str, Any]:
    return {"outcome": f.outcome.value, "step": f.step, "actor": f.actor, "obj": f.obj, "detail": f.detail}


def _fault_from_json(d: dict[str, Any]) -> Fault:
    return Fault(Outcome(d["outcome"]), int(d["step"]), str(d["actor"]), str(d["obj"]), str(d["detail"]))


@dataclass
class Counterexample:
    """A failing (design, property) witness that ``qomsim replay`` re-runs.

    ``program`` is the list of events (each ``{"event": name, ...params}``) and
    ``schedule`` the scheduler's choices; together they determine the run exactly.
    ``knobs`` (:meth:`Design.knobs <migration.model.designs.Design.knobs>`) and ``description``
    carry the design itself, so a replay needs no registry; ``source`` is how a command line
    names the design (``FILE.py:NAME`` for a user's design, else its id).
    """

    design: str
    property: str
    scenario: str | None
    program: list[dict[str, Any]]
    schedule: list[int]
    fault: Fault
    trace: list[TraceStep]
    knobs: dict[str, Any] | None = None
    description: str = ""
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        """:return: a JSON-serialisable dict."""
        extra: dict[str, Any] = {}
        if self.knobs is not None:
            extra = {"description": self.description, "knobs": self.knobs}
        if self.source is not None:
            extra["source"] = self.source
        return {
            "design": self.design,
            **extra,
            "property": self.property,
            "scenario": self.scenario,
            "program": self.program,
            "schedule": self.schedule,
            "fault": _fault_to_json(self.fault),
            "trace": [
                {"index": t.index, "actor": t.actor, "action": t.action, "obj": t.obj,
                 "refcount": t.refcount, "note": t.note, "function": t.function}
                for t in self.trace
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counterexample:
        """Rebuild a counterexample saved by :meth:`to_json`.

        :param data: the dict.
        :return: the counterexample.
        :raise KeyError: when a field is missing.
        """
        return cls(
            design=str(data["design"]),
            property=str(data["property"]),
            scenario=None if data["scenario"] is None else str(data["scenario"]),
            program=[dict(e) for e in data["program"]],
            schedule=[int(c) for c in data["schedule"]],
            fault=_fault_from_json(data["fault"]),
            trace=[
                TraceStep(int(t["index"]), str(t["actor"]), str(t["action"]), str(t["obj"]),
                          None if t["refcount"] is None else int(t["refcount"]), str(t["note"]),
                          str(t.get("function", "")))
                for t in data["trace"]
            ],
            knobs=dict(data["knobs"]) if isinstance(data.get("knobs"), dict) else None,
            description=str(data.get("description", "")),
            source=None if data.get("source") is None else str(data["source"]),
        )


@dataclass
class CellResult:
    """The verdict for one design against one property.

    ``evidence`` is ``"exhaustive"`` when the verdict rests on complete enumeration of
    every schedule of every relevant scenario, ``"bounded"`` when it also rests on every program of up to
    ``bound`` events and every schedule (``programs`` P of them, ``states`` S distinct states stored),
    ``"sampled"`` when it rests on Hypothesis.  ``bound`` is the most events a covered program has,
    ``bound_spec`` the bound exactly as written (``"1"``, ``"2+10/0"``: up to 2 events, or up to 10 of
    which none starts a background actor; :class:`migration.check.bounded.Bound`).
    """

    design: str
    property: str
    verdict: Literal["holds", "fails"]
    evidence: Literal["exhaustive", "bounded", "sampled"]
    outcome: Outcome
    counterexample: Counterexample | None
    schedules_explored: int
    examples_sampled: int
    bound: int | None = None
    programs: int = 0
    states: int = 0
    bound_spec: str | None = None

    def spec(self) -> str | None:
        """:return: the bound the verdict rests on, as written (``None``: no bounded exploration)."""
        return None if self.bound is None else self.bound_spec or str(self.bound)


@dataclass(frozen=True)
class ScenarioOutcomes:
    """How every schedule of one scenario ends under one design.

    :ivar counts: outcome name -> how many schedules end in it.
    :ivar witnesses: fault outcome name -> a shortest schedule ending in it (replay it with
        ``qomsim replay`` or :func:`migration.check.cell.run_scenario`).
    :ivar complete: every schedule was enumerated.
    """

    counts: Mapping[str, int]
    witnesses: Mapping[str, tuple[int, ...]]
    complete: bool = True

    @property
    def schedules(self) -> int:
        """:return: the number of schedules enumerated."""
        return sum(self.counts.values())

    def __str__(self) -> str:
        """:return: e.g. ``OK 309, UAF 71`` (every outcome with its number of schedules)."""
        text = ", ".join(f"{o} {k}" for o, k in self.counts.items())
        return text if self.complete else f"{text} (incomplete)"

    def to_json(self) -> dict[str, Any]:
        """:return: outcomes with their schedule counts, the total, and a witness per fault."""
        return {
            "outcomes": dict(self.counts),
            "schedules": self.schedules,
            "witnesses": {o: list(w) for o, w in self.witnesses.items()},
            "complete": self.complete,
        }
