"""The spec's §5 properties as predicates over a run.

Each predicate looks at a :class:`~migration.model.results.RunResult` (its faults, the
faults classified by where they happened, its introspection answers) and returns the
fault that violates the property, or ``None``.  The fault's outcome is the §6 name the
cell reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from migration.model.options import properties_for
from migration.model.outcomes import Fault, Outcome
from migration.model.results import IntrospectionRecord, RunResult
from migration.model.runtime import World

__all__ = ["COST_PROPERTIES", "PROPERTY_CHECKS", "PropertyCheck", "expected_listing", "log_key", "violation"]

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


@cache
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


def _freed_by_exit(r: RunResult) -> Fault | None:
    return r.exit_leaks[0] if r.exit_leaks else None


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
        PropertyCheck("freed-by-exit", "by the end of qemu_cleanup() every migration object has been "
                      "finalized", _freed_by_exit),
    )
}


#: properties about what a design costs rather than whether it is safe: the search for a design of our own
#: (:mod:`migration.check.search`) does not require them, the notes weigh them
COST_PROPERTIES = frozenset({"freed-by-exit"})


def violation(property_id: str, r: RunResult) -> Fault | None:
    """:param property_id: a §5 id.
    :param r: a run.
    :return: the fault violating the property in that run, or ``None``.
    :raise KeyError: when the property id is unknown.
    """
    return PROPERTY_CHECKS[property_id].predicate(r)


def log_key(w: World) -> tuple[object, ...]:
    """What the predicates above read of a world's logs, and nothing more (the explorer's state key).

    Every predicate reads the logs only through: the outcomes in the order each first occurs (``_first``,
    the run's outcome), whether the first fault happened inside introspection, the impure outcomes in
    the same order, the first creation and the first helper fault's outcome, and, of the introspection
    answers, the first listing per command and whether some answer already lacks or changes a property.
    A run only appends to its logs, so two worlds equal in everything else and in this summary end with
    the same verdict on every property and the same outcome, whatever happens next: the explorer merges
    them (a world that introspected twice with the same answer is the world that introspected once).

    :param w: a world.
    :return: the summary.
    """
    expected = expected_listing(w.design.tag)
    firsts: dict[str, tuple[tuple[str, str, str], ...]] = {}
    differs = False
    for rec in w.introspection:
        first = firsts.setdefault(rec.command, rec.props)
        differs = differs or rec.props != first or not expected <= set(rec.props)
    return (
        tuple(dict.fromkeys(f.outcome for f in w.faults)),
        bool(w.faults) and w.faults[0] in w.impure,
        tuple(dict.fromkeys(f.outcome for f in w.impure)),
        w.creation_faults[0].outcome if w.creation_faults else None,
        w.helper_faults[0].outcome if w.helper_faults else None,
        tuple(sorted(firsts.items())), differs,
    )
