"""Search the knob space for a design of our own.

Starting from what QEMU merged (``qemu-10.0``), :func:`search` tries combinations of
the knob changes in :data:`CANDIDATE_CHANGES`, fewest changes first, and checks each
candidate by enumerating every schedule of every scenario against every property.  The
first candidate that holds everything is the proposal.  Nothing here knows the answer:
the model decides every candidate.

:func:`proposed_designs` re-checks the recorded result of that search
(:data:`PROPOSAL`) exhaustively before handing it out, so a proposal the model no
longer proves is never offered; :mod:`migration.check.registry` offers it beside the
spec's designs (which it never adds to).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

from migration.check.explore import explore, explore_scenario
from migration.check.properties import COST_PROPERTIES, PROPERTY_CHECKS
from migration.model.designs import ALL_HELPERS, DESIGNS, Design, PointerClear, Protection, derive
from migration.model.scenarios import SCENARIOS
from qom.universe import IntrospectionMode, SingletonPolicy

__all__ = [
    "ALTERNATIVE",
    "CANDIDATE_CHANGES",
    "FREEING_MAX_CHANGES",
    "NULL_CHECKS",
    "PROPOSAL",
    "SearchResult",
    "alternative_designs",
    "candidates",
    "freeing_search",
    "holds_everywhere",
    "proposed_designs",
    "qmp_changes",
    "search",
    "withdrawn_proposals",
]

BASE = "qemu-10.0"

#: one knob change each, in the order the search prefers them (cheapest first)
CANDIDATE_CHANGES: tuple[tuple[str, Any], ...] = (
    ("pointer_clear", PointerClear.FINALIZE_IF_SELF),
    ("singleton", True),
    ("singleton_policy", SingletonPolicy.RETURN_EXISTING),
    ("get_current_asserts", False),
    ("drop_main_ref", False),
    ("protection", Protection.MUTEX),
    ("protection", Protection.RCU),
    ("pointer_clear", PointerClear.SHUTDOWN),
    ("export_pointer", True),
    ("exports_split", True),
    ("qom_list_properties", IntrospectionMode.CLASS_ONLY),
    ("device_list_properties", IntrospectionMode.CLASS_ONLY),
    ("qom_list_properties", IntrospectionMode.SINGLETON_FETCH),
    ("device_list_properties", IntrospectionMode.SINGLETON_FETCH),
)

#: knobs whose change a QMP client can see, and how
_QMP_VISIBLE: dict[str, str] = {
    "singleton": "`migration` implements the `singleton` interface (visible in qom-list-types' "
    "interfaces and to object-add/device_add)",
    "singleton_policy": "a second object_new(\"migration\") returns the live instance instead of a new one",
    "qom_list_properties": "qom-list-properties typename=migration no longer instantiates",
    "device_list_properties": "device-list-properties typename=migration no longer instantiates",
    "internal": "`migration` is hidden from qom-list-types and refused by introspection",
    "hide_internal": "internal classes are hidden from QMP",
    "user_creation_checks_singleton": "object-add/device_add refuse a second singleton with a QMP error",
    "get_current_asserts": "query-migrate and other commands answer 'no migration' instead of aborting "
    "once the object is gone",
}


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a search.

    :ivar design: the proposal, or ``None`` if no candidate within the bound held everything.
    :ivar tried: how many candidates were checked.
    :ivar changes: the knob changes from the base.
    """

    design: Design | None
    tried: int
    changes: tuple[tuple[str, Any], ...]


def holds_everywhere(design: Design, scenario_order: Sequence[str] | None = None, *,
                     first: bool = False) -> bool:
    """:param design: a design.
    :param scenario_order: the order to try scenarios (stops at the first violation).
    :param first: a candidate of a search: each scenario's enumeration stops at the first schedule that
        violates a safety property, and is not kept (:func:`~migration.check.explore.explore_scenario`
        keeps whole enumerations, which the notes reuse).
    :return: whether every safety property (all but :data:`COST_PROPERTIES`) holds on every schedule of
        every scenario, with complete enumeration.
    """
    safety = frozenset(PROPERTY_CHECKS) - COST_PROPERTIES
    for sid in scenario_order or tuple(SCENARIOS):
        ex = explore(design, SCENARIOS[sid], until=safety) if first else explore_scenario(design, sid)
        if set(ex.violations) - COST_PROPERTIES or not ex.complete:
            return False
    return True


def _name(changes: Sequence[tuple[str, Any]]) -> str:
    return "proposed-" + "-".join(k.replace("_", "") for k, _ in changes)


def candidates(max_changes: int) -> Iterator[tuple[tuple[str, Any], ...]]:
    """:param max_changes: the most knob changes per candidate.
    :return: every consistent combination (one value per knob), fewest changes first.
    """
    for n in range(0, max_changes + 1):
        for combo in combinations(CANDIDATE_CHANGES, n):
            knobs = [k for k, _ in combo]
            if len(set(knobs)) == len(knobs):
                yield combo


#: given to every candidate of :func:`search`: QEMU 10.0 NULL-checks only migration_is_running()
#: (4daff81efb), and a helper called before migration_object_init() (Hypothesis draws such
#: programs; no §4 scenario does) dereferences NULL in every other one
NULL_CHECKS: tuple[str, Any] = ("null_checks", ALL_HELPERS)


def search(max_changes: int = 3, base: str = BASE) -> SearchResult:
    """Find the simplest combination (fewest knob changes from ``base``, every helper NULL-checked)
    that holds everything.

    :param max_changes: the most knob changes to try (besides :data:`NULL_CHECKS`).
    :param base: the design to start from.
    :return: the result; its changes start with :data:`NULL_CHECKS`.
    """
    start = derive(DESIGNS[base], "search-base", "every helper NULL-checked", **dict([NULL_CHECKS]))
    order = list(SCENARIOS)
    tried = 0
    for combo in candidates(max_changes):
        tried += 1
        d = derive(start, _name(combo), "found by migration.check.search", **dict(combo))
        if holds_everywhere(d, order, first=True):
            return SearchResult(d, tried, (NULL_CHECKS, *combo))
    return SearchResult(None, tried, ())


#: the changes the search found (``python -m migration.check.search`` re-runs it); re-proved before use
PROPOSAL: tuple[tuple[str, Any], ...] = (
    NULL_CHECKS,
    ("singleton", True),
    ("singleton_policy", SingletonPolicy.RETURN_EXISTING),
    ("drop_main_ref", False),
)


def qmp_changes(design: Design, base: str = BASE) -> list[str]:
    """What a design changes for QMP clients, compared with ``base``.

    :param design: the design.
    :param base: the reference design.
    :return: one sentence per visible change (empty: no visible change).
    """
    return [_QMP_VISIBLE[k] for k in design.differs_from(DESIGNS[base]) if k in _QMP_VISIBLE]


#: a second proposal that, unlike :data:`PROPOSAL`, frees the object at shutdown.  Built by hand
#: from the scenarios that defeated the search's 3-change candidates (S3, S9, S10: a helper racing
#: the last unref).  The model no longer proves it: an out-of-band migrate-pause runs on the monitor
#: I/O thread without the BQL (S14:b); :func:`withdrawn_proposals` says so in the notes, with the
#: result of :func:`freeing_search`.
ALTERNATIVE: tuple[tuple[str, Any], ...] = (
    NULL_CHECKS,
    ("singleton", True),
    ("singleton_policy", SingletonPolicy.RETURN_EXISTING),
    ("pointer_clear", PointerClear.FINALIZE_IF_SELF),
    ("protection", Protection.BQL),
    ("get_current_asserts", False),
)


def _alternative() -> Design:
    return derive(DESIGNS[BASE], "proposed-bql-identity-clear",
                  "qemu-10.0, plus: singleton whose object_new returns the live instance; finalize clears "
                  "the pointer if it is its own, under the BQL that exported helpers hold; "
                  "migrate_get_current() may return NULL and its callers check", **dict(ALTERNATIVE))


@cache
def alternative_designs() -> tuple[Design, ...]:
    """:return: the alternative proposal if the model proves it."""
    d = _alternative()
    return (d,) if holds_everywhere(d) else ()


#: the bound of :func:`freeing_search`: knob changes from ``qemu-10.0``
FREEING_MAX_CHANGES = 3

#: scenarios a design that frees the object at shutdown fails first (the search tries them first)
_FREEING_ORDER = ("S14-oob-after-shutdown:b", "S14-oob-after-shutdown:a", "S15-qmp-bh-at-cleanup")


@cache
def freeing_search(max_changes: int = FREEING_MAX_CHANGES) -> SearchResult:
    """Search for a design that still frees the object at shutdown and holds everything: from
    ``qemu-10.0`` with every helper NULL-checked, every combination of up to ``max_changes`` of
    :data:`CANDIDATE_CHANGES` except keeping the main reference.

    :param max_changes: the most knob changes to try.
    :return: the first design that holds everything, or none, with the number of candidates tried.
    """
    start = derive(DESIGNS[BASE], "freeing-base", "qemu-10.0, every helper NULL-checked",
                   null_checks=ALL_HELPERS)
    order = [*_FREEING_ORDER, *(s for s in SCENARIOS if s not in _FREEING_ORDER)]
    tried = 0
    for combo in candidates(max_changes):
        if any(k == "drop_main_ref" for k, _ in combo):
            continue
        tried += 1
        d = derive(start, _name(combo) + "-freeing", "found by migration.check.search.freeing_search",
                   **dict(combo))
        if holds_everywhere(d, order, first=True):
            return SearchResult(d, tried, combo)
    return SearchResult(None, tried, ())


@cache
def withdrawn_proposals() -> dict[str, str]:
    """The model's earlier proposals that it no longer proves, each with why (computed now).

    :return: ``design id -> one paragraph``: the first scenario and property it fails, and what a
        bounded search for a replacement that still frees the object at shutdown found.
    """
    out: dict[str, str] = {}
    alt = _alternative()
    if alternative_designs():
        return out
    failure = ""
    for sid in SCENARIOS:
        ex = explore_scenario(alt, sid)
        # the reason is a safety property, as in holds_everywhere: a cost (freed-by-exit) withdraws nothing
        safety = sorted((p, v) for p, v in ex.violations.items() if p not in COST_PROPERTIES)
        if safety:
            prop, (_sched, f) = safety[0]
            failure = f"it fails `{prop}` in `{sid}` ({f.outcome.value} on `{f.actor}`: {f.detail})"
            break
    r = freeing_search()
    found = (f"it found `{r.design.name}` after {r.tried} candidates" if r.design is not None
             else f"none of its {r.tried} candidates holds every property")
    out[alt.name] = (
        f"{alt.description}. No longer proposed: {failure}. A search for a design that still frees the "
        f"object at shutdown (every helper NULL-checked, up to {FREEING_MAX_CHANGES} knob changes from "
        f"`{BASE}`, `python -m migration.check.search --freeing`): {found}.")
    return out


@cache
def proposed_designs() -> tuple[Design, ...]:
    """:return: the proposal if the model proves it (every property, every schedule of every scenario)."""
    d = derive(DESIGNS[BASE], "proposed-singleton-keepalive",
               "qemu-10.0, plus: every exported helper checks for NULL; migration is a singleton whose "
               "object_new returns the live instance, and the main reference is kept until exit",
               **dict(PROPOSAL))
    return (d,) if holds_everywhere(d) else ()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the search and print what it found (``--freeing``: the search that keeps the free).

    :return: 0 if a proposal was found, else 1.
    """
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--freeing"]:
        fr = freeing_search()
        if fr.design is None:
            print(f"no combination of up to {FREEING_MAX_CHANGES} changes that frees the object holds "
                  f"everything ({fr.tried} tried)")
            return 1
        found = ", ".join(f"{k}={getattr(v, 'value', v)}" for k, v in fr.changes)
        print(f"after {fr.tried} candidates: {found}")
        return 0
    r = search()
    if r.design is None:
        print(f"no combination of up to 3 changes holds everything ({r.tried} tried)")
        return 1
    changes = ", ".join(f"{k}={getattr(v, 'value', v)}" for k, v in r.changes)
    print(f"after {r.tried} candidates: {changes}")
    for line in qmp_changes(r.design):
        print(f"  QMP: {line}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
