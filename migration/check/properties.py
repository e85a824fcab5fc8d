"""The spec's §5 properties as predicates over a run.

Each predicate looks at a :class:`~migration.model.results.RunResult` (its faults, the
faults classified by where they happened, its introspection answers) and returns the
fault that violates the property, or ``None``.  The fault's outcome is the §6 name the
cell reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from migration.model.options import properties_for
from migration.model.outcomes import Fault, Outcome
from migration.model.results import IntrospectionRecord, RunResult

__all__ = ["PROPERTY_CHECKS", "PropertyCheck", "expected_listing", "violation"]

_CRASH = (Outcome.UAF, Outcome.NULL_DEREF, Outcome.ASSERT)


@dataclass(frozen=True)
class PropertyCheck:
    """One §5 property: its id, what it says, and its predicate."""

    id: str
    text: str
    predicate: Callable[[RunResult], Fault | None]

    def __str__(self) -> str:
        return f"PropertyCheck({self.id!r})"


def _first(r: RunResult, outcomes: tuple[Outcome, ...]) -> Fault | None:
    for f in r.faults:
        if f.outcome in outcomes:
            return f
    return None


def _single_instance(r: RunResult) -> Fault | None:
    return _first(r, (Outcome.SECOND_INSTANCE,))


def expected_listing(tag: str = "master") -> frozenset[tuple[str, str, str]]:
    """:param tag: the QEMU tag.
    :return: the ``(name, type, repr(default))`` triples of the migration properties at that tag.
    """
    return frozenset((p.name, p.qom_type, repr(p.default)) for p in properties_for(tag))


def _introspection_works(r: RunResult) -> Fault | None:
    for f in r.impure:
        if f.outcome in _CRASH:
            return f
    refused = _first(r, (Outcome.INTROSPECTION_REFUSED,))
    if refused is not None:
        return refused
    expected = expected_listing(r.tag)
    firsts: dict[str, IntrospectionRecord] = {}
    for rec in r.introspection:
        missing = expected - set(rec.props)
        if missing:
            name = sorted(missing)[0][0]
            return Fault(Outcome.PROPS_DIFFER, rec.step, "main", "migration",
                         f"{rec.command} ({rec.phase}) lacks or changes {len(missing)} of the "
                         f"{len(expected)} properties, "
                         f"e.g. '{name}'")
        first = firsts.setdefault(rec.command, rec)
        if rec.props != first.props:
            diff = sorted(set(rec.props) ^ set(first.props))
            return Fault(Outcome.PROPS_DIFFER, rec.step, "main", "migration",
                         f"{rec.command} ({rec.phase}) differs from {first.command} ({first.phase}): "
                         f"{diff[0][0]}")
    # a crash that stopped the run before every phase was introspected
    if r.fault is not None and r.fault.outcome in _CRASH and r.fault in r.impure:
        return r.fault
    return None


def _introspection_pure(r: RunResult) -> Fault | None:
    return r.impure[0] if r.impure else None


def _no_uaf(r: RunResult) -> Fault | None:
    return _first(r, (Outcome.UAF,))


def _no_null(r: RunResult) -> Fault | None:
    return _first(r, (Outcome.NULL_DEREF,))


def _helpers(r: RunResult) -> Fault | None:
    return r.helper_faults[0] if r.helper_faults else None


def _no_deadlock(r: RunResult) -> Fault | None:
    return _first(r, (Outcome.DEADLOCK, Outcome.HANG))


def _creation(r: RunResult) -> Fault | None:
    return r.creation_faults[0] if r.creation_faults else None


#: property id -> check, in spec order
PROPERTY_CHECKS: dict[str, PropertyCheck] = {
    c.id: c
    for c in (
        PropertyCheck("single-instance",
                      "at no step do two live migration instances exist, temporaries included",
                      _single_instance),
        PropertyCheck("introspection-works", "qom-list-properties and device-list-properties succeed before "
                      "init, while running and after shutdown, with the same properties and defaults",
                      _introspection_works),
        PropertyCheck("introspection-pure", "introspection leaves the QOM tree, the live object's identity "
                      "and refcount, and every global unchanged", _introspection_pure),
        PropertyCheck("no-use-after-free", "no step touches a finalized object or a destroyed lock", _no_uaf),
        PropertyCheck("no-null-deref",
                      "internal code never finds the pointer NULL where it asserts it is set", _no_null),
        PropertyCheck("helpers-whole-lifecycle", "every exported helper returns a defined, non-stale answer "
                      "and loses no error, from before init to after the last unref", _helpers),
        PropertyCheck("no-deadlock",
                      "no schedule ends with actors waiting on each other, and shutdown finishes",
                      _no_deadlock),
        PropertyCheck("creation-paths-safe", "every creation path returns the instance or a QMP error; none "
                      "aborts", _creation),
    )
}


def violation(property_id: str, r: RunResult) -> Fault | None:
    """:param property_id: a §5 id.
    :param r: a run.
    :return: the fault violating the property in that run, or ``None``.
    :raise KeyError: when the property id is unknown.
    """
    return PROPERTY_CHECKS[property_id].predicate(r)
