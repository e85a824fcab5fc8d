"""The migration checks as ordinary Hypothesis tests, one per (design, property).

A long campaign runs them with a bigger profile, or under HypoFuzz, sharing Hypothesis's example
database (``.hypothesis/``)::

    QOMSIM_HYPOTHESIS_PROFILE=campaign python -m pytest tests/test_migration_campaign.py
    hypothesis fuzz -- tests/test_migration_campaign.py

By default each test draws a few examples only (profile ``qomsim-default``), so the default suite
stays fast; ``test_each_property_check_catches_a_broken_design`` shows that the very same search
fails on a design known to be broken for that property.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import pytest
from fresh_interpreter import run_fresh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migration.check.cell  # noqa: F401  # registers the proven proposal in DESIGNS
from migration.check.bounded import Bounded, explore_bounded
from migration.check.cell import check_cell
from migration.check.properties import PROPERTY_CHECKS, violation
from migration.check.registry import resolve
from migration.check.sampling import DEFAULT_EXAMPLES, draw_run, sample
from migration.model.program import program_from_json
from migration.model.run import UniversePool, run_program

settings.register_profile("qomsim-default", max_examples=8, deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("campaign", max_examples=20_000, deadline=None,
                          suppress_health_check=list(HealthCheck))
PROFILE = os.environ.get("QOMSIM_HYPOTHESIS_PROFILE", "qomsim-default")

POOL = UniversePool()
SAFE = "proposed-singleton-keepalive"

#: property -> a design the model knows to violate it (Hypothesis must find it too)
BROKEN = {
    "single-instance": "qemu-10.0",
    "introspection-works": "internal-hidden",
    "introspection-pure": "two-globals",
    "no-use-after-free": "qemu-10.0",
    "no-null-deref": "two-globals",
    "helpers-whole-lifecycle": "qemu-10.0",
    "no-deadlock": "join-at-shutdown",
    "creation-paths-safe": "singleton-v1",
    "freed-by-exit": SAFE,
}


def _holds(design: str, prop: str, data: st.DataObject) -> None:
    r = draw_run(data, resolve(design), POOL)
    f = violation(prop, r)
    assert f is None, f"{design} violates {prop}: {f}\nprogram {r.program}\nschedule {r.schedule}"


@functools.cache
def _holding(design: str, bound: int = 1) -> tuple[str, ...]:
    """The properties the bounded explorer proves for ``design`` up to ``bound`` (the campaign's targets;
    explored once, when the module is collected)."""
    b = explore_bounded(resolve(design), bound)
    return tuple(p for p in PROPERTY_CHECKS if p not in b.violations)


@pytest.mark.parametrize("prop", _holding(SAFE))
@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_the_proposal_holds(prop: str, data: st.DataObject) -> None:
    _holds(SAFE, prop, data)


def test_the_bound_finds_what_the_scenarios_missed(explored: Callable[[str], Bounded]) -> None:
    # mutex guards the exported helpers, but the dirtyrate-stat thread's migrate_dirty_limit() reads
    # through migrate_get_current(), which asserts: after migration_shutdown() cleared the pointer it
    # finds NULL.  No scenario starts that thread; the bounded exploration does (one free event)
    assert check_cell("mutex", "helpers-whole-lifecycle", max_examples=0).verdict == "holds"
    b = explored("mutex")
    prog, _sched, fault = b.violations["helpers-whole-lifecycle"]
    assert [str(e) for e in prog] == ["object_init()", "dirty_limit()", "migration_shutdown()"]
    assert (fault.outcome.value, fault.actor) == ("NULL_DEREF", "dirtyrate-stat")
    # the proposal checks every helper for NULL: its one failure is the price it chose
    assert set(_holding(SAFE)) == set(PROPERTY_CHECKS) - {"freed-by-exit"}


def test_every_property_has_a_broken_design() -> None:
    assert list(BROKEN) == list(PROPERTY_CHECKS)


def _catches(prop: str) -> None:
    found, _n = sample(resolve(BROKEN[prop]), prop, seed_value=0, max_examples=400)
    assert found is not None
    f = violation(prop, found)
    assert f is not None and f.outcome.value in {
        "SECOND_INSTANCE", "INTROSPECTION_REFUSED", "PROPS_DIFFER", "ASSERT", "UAF", "NULL_DEREF",
        "STALE_ANSWER", "LOST_ERROR", "DEADLOCK", "HANG", "LEAK"}


@pytest.mark.parametrize("prop", list(BROKEN))
def test_each_property_check_catches_a_broken_design(prop: str) -> None:
    run_fresh("test_migration_campaign", "_catches", prop)  # what ran before must not change the search

#: the cells Hypothesis found no counterexample for before the search drew preemptions, per-phase event
#: counts and swarms (docs/performance.md, figure 5): narrow races of §4 scenarios S3, S6, S9 and S10;
#: the search is not seeded with them, it must find them from the grammar alone
FORMERLY_MISSED = [
    ("two-globals", "no-use-after-free", "UAF"),
    ("mutex", "no-use-after-free", "UAF"),
    ("rcu", "no-use-after-free", "UAF"),
    ("identity-clear", "no-use-after-free", "UAF"),
    ("join-at-shutdown", "no-use-after-free", "UAF"),
    ("singleton-v1", "no-use-after-free", "UAF"),
    ("singleton-v2", "no-use-after-free", "UAF"),
    ("gobject-singleton", "no-use-after-free", "UAF"),
    ("mutex", "no-deadlock", "DEADLOCK"),
]


def _found_by_sampling(design: str, prop: str, outcome: str) -> None:
    d = resolve(design)
    found, n = sample(d, prop, seed_value=0, max_examples=DEFAULT_EXAMPLES)
    assert found is not None, f"{design} x {prop}: no counterexample in {n} examples"
    f = violation(prop, found)
    assert f is not None and f.outcome.value == outcome
    # the shrunk program and schedule replay to the same fault, without Hypothesis
    again = run_program(d, program_from_json(found.program), found.schedule)
    g = violation(prop, again)
    assert g is not None and (g.outcome, g.actor, g.obj) == (f.outcome, f.actor, f.obj)


def test_sampling_finds_a_formerly_missed_race() -> None:
    # the cheapest of the nine, in the default suite: a monitor I/O thread loads current_migration,
    # migration_shutdown() frees the object, the thread reads ms->state
    run_fresh("test_migration_campaign", "_found_by_sampling", "singleton-v1", "no-use-after-free", "UAF")


@pytest.mark.slow
@pytest.mark.parametrize(("design", "prop", "outcome"), FORMERLY_MISSED)
def test_sampling_finds_every_formerly_missed_cell(design: str, prop: str, outcome: str) -> None:
    run_fresh("test_migration_campaign", "_found_by_sampling", design, prop, outcome)
