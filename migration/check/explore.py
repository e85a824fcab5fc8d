"""Exploring the schedules and programs of a design, two ways.

1. :func:`explore` enumerates every schedule of one program, depth-first, re-running
   the program from the start for each branch (runs are cheap and fully deterministic).
   The reduction is state hashing: at every scheduling point the world's state (every
   actor's observation history and next step, the heap, the pointers, the locks, QOM's
   counters, the faults so far) is hashed; a state already explored is not explored
   again, and its number of complete schedules and the violations reachable from it are
   reused.  Two interleavings that reach the same state (e.g. independent steps done in
   either order) are therefore run once, while the count stays the exact number of
   distinct schedules, so a verdict can read "holds for all N schedules".
2. :func:`sample` searches programs and schedules with Hypothesis
   (:mod:`migration.check.sampling`), checks one property, and returns the shrunk failing run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from hypothesis import strategies as st
from typeguard import typeguard_ignore

from migration.check.properties import PROPERTY_CHECKS, violation
from migration.model.alphabet import EventKind, Param, kinds_for_phase
from migration.model.designs import Design
from migration.model.outcomes import Fault
from migration.model.program import Event, Program, ev
from migration.model.results import RunResult
from migration.model.run import DEFAULT_MAX_STEPS, UniversePool, run_program
from migration.model.runtime import Actor, World
from migration.model.scenarios import SCENARIOS

__all__ = [
    "Exploration",
    "explore",
    "explore_scenario",
    "phase_events",
    "programs",
    "sample",
    "trim",
]

DEFAULT_MAX_RUNS = 20000


class _Stop(Exception):
    """The run reached a state whose subtree is already known."""

    def __init__(self, key: object) -> None:
        super().__init__("known state")
        self.key = key


class _Budget(Exception):
    """The exploration exceeded its run budget."""


class _Found(Exception):
    """A run violated a property the caller asked to stop at."""


@dataclass
class Exploration:
    """What enumerating the schedules of one program found.

    :ivar schedules: the number of distinct complete schedules (exact when ``complete``).
    :ivar runs: how many runs were executed (fewer than ``schedules`` thanks to the reduction).
    :ivar complete: every schedule was covered (the run budget was not exceeded).
    :ivar violations: property id -> (a shortest schedule violating it, the fault).
    :ivar outcomes: the set of outcome names seen in complete runs.
    :ivar counts: outcome name -> how many schedules end in it.
    :ivar witnesses: outcome name -> a shortest schedule ending in it.
    """

    design: str
    program: Program
    schedules: int = 0
    runs: int = 0
    complete: bool = True
    violations: dict[str, tuple[list[int], Fault]] = field(default_factory=dict)
    outcomes: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    witnesses: dict[str, list[int]] = field(default_factory=dict)


def trim(schedule: Sequence[int]) -> list[int]:
    """:param schedule: choices.
    :return: the same schedule without trailing default (0) choices.
    """
    out = list(schedule)
    while out and out[-1] == 0:
        out.pop()
    return out


#: outcome name -> (schedules ending in it, a shortest schedule suffix reaching it)
_Outs = dict[str, tuple[int, list[int]]]
_Sub = tuple[int, dict[str, tuple[list[int], Fault]], _Outs]


def explore(design: Design, program: Program, *, reduce: bool = True, max_runs: int = DEFAULT_MAX_RUNS,
            max_steps: int = DEFAULT_MAX_STEPS, until: frozenset[str] = frozenset()) -> Exploration:
    """Enumerate every schedule of ``program`` under ``design``.

    :param design: the design.
    :param program: the events.
    :param reduce: use state hashing (``False``: naive enumeration, for cross-checking).
    :param max_runs: stop (``complete = False``) after this many runs.
    :param max_steps: the per-run step bound.
    :param until: stop at the first run that violates one of these properties (``complete = False``,
        ``violations`` holds that run's, with the schedule it took): for a search that only asks
        whether any schedule fails.
    :return: the exploration.
    """
    result = Exploration(design.name, program)
    memo: dict[object, _Sub] = {}
    pool = UniversePool()

    def evaluate(r: RunResult) -> dict[str, tuple[list[int], Fault]]:
        out: dict[str, tuple[list[int], Fault]] = {}
        for pid in PROPERTY_CHECKS:
            f = violation(pid, r)
            if f is not None:
                out[pid] = ([], f)
        return out

    def dfs(prefix: list[int]) -> _Sub:
        if result.runs >= max_runs:
            raise _Budget
        path: list[tuple[object, int]] = []

        @typeguard_ignore  # called at every step; mypy checks it
        def choose(step: int, enabled: list[Actor], world: World) -> int:
            if step < len(prefix):
                return prefix[step]
            key = world.state_key() if reduce else None
            if reduce and key in memo:
                raise _Stop(key)
            path.append((key, len(enabled)))
            return 0

        result.runs += 1
        cnt: int
        viol: dict[str, tuple[list[int], Fault]]
        outs: _Outs
        try:
            r = run_program(design, program, choose=choose, max_steps=max_steps, pool=pool)
            cnt, viol, outs = 1, evaluate(r), {r.outcome.value: (1, [])}
            if not until.isdisjoint(viol):  # a known state never holds one: the search stopped at the first
                result.violations = {p: (trim(r.schedule), f) for p, (_s, f) in viol.items()}
                raise _Found
        except _Stop as stop:
            cnt, viol, outs = memo[stop.key]
        for d in range(len(path) - 1, -1, -1):
            key, n = path[d]
            total = cnt
            vs = {p: ([0, *suf], f) for p, (suf, f) in viol.items()}
            all_outs = {o: (k, [0, *w]) for o, (k, w) in outs.items()}
            for c in range(1, n):
                ccnt, cviol, couts = dfs([*prefix, *([0] * d), c])
                total += ccnt
                for o, (k, w) in couts.items():
                    if o not in all_outs:
                        all_outs[o] = (k, [c, *w])
                    else:
                        k0, w0 = all_outs[o]
                        all_outs[o] = (k0 + k, w0 if len(w0) <= len(w) + 1 else [c, *w])
                for p, (suf, f) in cviol.items():
                    if p not in vs or len(suf) + 1 < len(vs[p][0]):
                        vs[p] = ([c, *suf], f)
            cnt, viol, outs = total, vs, all_outs
            if reduce:
                memo[key] = (cnt, viol, outs)
        return cnt, viol, outs

    try:
        cnt, viol, outs = dfs([])
        result.schedules = cnt
        result.violations = {p: (trim(s), f) for p, (s, f) in viol.items()}
        result.outcomes = set(outs)
        result.counts = {o: k for o, (k, _w) in sorted(outs.items())}
        result.witnesses = {o: trim(w) for o, (_k, w) in sorted(outs.items()) if o != "OK"}
    except (_Budget, _Found):
        result.complete = False
    return result


@lru_cache(maxsize=512)
def explore_scenario(design: Design, scenario_id: str, max_runs: int = DEFAULT_MAX_RUNS) -> Exploration:
    """:func:`explore` one §4 scenario; memoized, since a design and a scenario determine the result.

    :param design: the design.
    :param scenario_id: a key of :data:`~migration.model.scenarios.SCENARIOS`.
    :param max_runs: the run budget.
    :return: the exploration.
    :raise KeyError: when the scenario is unknown.
    """
    return explore(design, SCENARIOS[scenario_id], max_runs=max_runs)


# -- Hypothesis --------------------------------------------------------------------------------

def _event(k: EventKind) -> st.SearchStrategy[Event]:
    """Every event of kind ``k``, its parameters drawn from the alphabet's domains."""
    finite = {p: st.sampled_from(dom) for p, dom in k.params if dom is not None}

    def build(params: dict[str, Param]) -> Event:
        if k.name == "introspect":
            params = {**params, "label": str(params["command"])}
        return ev(k.name, **params)

    return st.fixed_dictionaries(finite).map(build)


def phase_events(phase: str) -> st.SearchStrategy[Event]:
    """:param phase: ``pre``, ``running`` or ``post`` (see :mod:`migration.model.alphabet`).
    :return: a strategy for the events of that phase, derived from the one alphabet.
    """
    return st.one_of(*(_event(k) for k in kinds_for_phase(phase)))


def programs(max_running: int = 4) -> st.SearchStrategy[Program]:
    """:param max_running: the most events between init and shutdown.
    :return: a strategy for programs in a valid lifecycle order: events before
        ``migration_object_init``, events while running, ``migration_shutdown``, events
        after it, ``monitor_cleanup``.
    """

    def build(pre: list[Event], running: list[Event], post: list[Event]) -> Program:
        return (*pre, ev("object_init"), *running, ev("migration_shutdown"), *post, ev("monitor_cleanup"))

    return st.builds(build, st.lists(phase_events("pre"), max_size=2),
                     st.lists(phase_events("running"), max_size=max_running),
                     st.lists(phase_events("post"), max_size=3))



def sample(design: Design, property_id: str, *, seed_value: int = 0, max_examples: int | None = None,
           database: str | None = None) -> tuple[RunResult | None, int]:
    """Look for a violation of one property with Hypothesis (:func:`migration.check.sampling.sample`).

    :param design: the design.
    :param property_id: a property id.
    :param seed_value: Hypothesis's seed.
    :param max_examples: how many examples to draw at most (default
        :data:`migration.check.sampling.DEFAULT_EXAMPLES`; the search stops at the first counterexample).
    :param database: a directory for Hypothesis's example database (``None``: none).
    :return: the shrunk failing run (or ``None``) and the number of examples run.
    """
    from migration.check.sampling import DEFAULT_EXAMPLES
    from migration.check.sampling import sample as search

    return search(design, property_id, seed_value=seed_value,
                  max_examples=DEFAULT_EXAMPLES if max_examples is None else max_examples, database=database)
