"""Hypothesis as a search over programs and schedules, drawn inside the run.

Each example draws, with ``st.data()``:

- a *swarm* of event kinds: every kind of the model's alphabet
  (:func:`migration.check.bounded.grammar`) is switched on or off, per lifecycle phase, for
  the whole example, so that some examples hammer a few kinds (many helpers, no introspection
  before init...) instead of mixing everything thinly; and a scheduling policy: how often the
  scheduler leaves the oldest runnable actor (never, rarely, often, always), or PCT (random
  actor priorities with a few change points, which runs one actor to completion at a random
  point, the shape of most races here);
- the program, one event at a time, when the main thread needs its next one: the lifecycle
  grammar's options at that point, restricted to the swarm (the skeleton, object_init,
  migration_shutdown, vm_shutdown, monitor_cleanup, is always allowed);
- every scheduler choice, when it is needed, among the actors enabled at that step.

Choice 0 is "end this phase" for a program choice and "the oldest runnable actor" for a
scheduler choice, so Hypothesis shrinks towards short programs and default schedules.  A
failing run's program and schedule replay with :func:`migration.model.run.run_program`.

:func:`sample` is the search ``qomsim check`` and ``decide`` run after the enumerations; with
``database`` set, Hypothesis keeps the counterexamples it found (``.hypothesis/`` beside the
run by default on the command line) and tries them first next time.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.reporting import with_reporter
from typeguard import typeguard_ignore

from migration.check.bounded import SKELETON, Grammar, grammar
from migration.check.properties import violation
from migration.model.designs import Design
from migration.model.events import run_event
from migration.model.outcomes import Fault
from migration.model.program import Event
from migration.model.results import RunResult
from migration.model.run import DEFAULT_MAX_STEPS, UniversePool, run_driven
from migration.model.runtime import Actor, Pending, World

__all__ = ["MAX_EVENTS", "DrawnRun", "draw_run", "sample"]

#: the most free (non-skeleton) events of a drawn program
MAX_EVENTS = 8


class _Phase:
    pre, running, post, post_vm, done = range(5)


class DrawnRun:
    """One run whose program and schedule are drawn from Hypothesis's ``data`` as it goes."""

    def __init__(self, data: st.DataObject, g: Grammar, kinds: frozenset[tuple[int, str]], max_events: int,
                 deviate: int) -> None:
        self.data = data
        self.g = g
        self.kinds = kinds
        self.deviate = deviate
        self.priority: dict[str, int] = {}
        self.changes: list[int] = []
        if deviate == _PCT:
            self.changes = sorted(data.draw(st.lists(st.integers(0, 40), max_size=3, unique=True)))
        self.phase = _Phase.pre
        self.left = max_events
        self.program: list[Event] = []
        self.schedule: list[int] = []

    @typeguard_ignore  # called at every step; mypy checks it
    def choose(self, step: int, enabled: list[Actor], w: World) -> int:
        c = 0
        if self.deviate == _PCT:
            c = self._pct(step, enabled)
        elif len(enabled) > 1 and self.deviate and (self.deviate == 1 or self.data.draw(
                st.integers(0, self.deviate - 1)) == 0):
            c = self.data.draw(st.integers(0, len(enabled) - 1))
        self.schedule.append(c)
        return c

    def _pct(self, step: int, enabled: list[Actor]) -> int:
        """PCT: the enabled actor of highest priority runs; at a change point, it drops below all others."""
        for a in enabled:
            if a.name not in self.priority:
                self.priority[a.name] = self.data.draw(st.integers(0, 7))
        best = max(range(len(enabled)), key=lambda i: (self.priority[enabled[i].name], -i))
        if step in self.changes:
            self.priority[enabled[best].name] = -1 - self.changes.index(step)
        return best

    def _options(self) -> list[Event | None]:
        opts = self.g.options(self.phase, self.left)
        skel = [e for e in opts if e is None or e.kind in SKELETON]
        free = [e for e in opts
                if e is not None and e.kind not in SKELETON and (self.phase, e.kind) in self.kinds]
        return [*skel, *free]  # 0 = leave the phase: shrinks towards short programs

    @typeguard_ignore
    def body(self, w: World, a: Actor) -> Generator[Pending, None, None]:
        while True:
            a.context.clear()
            opts = self._options()
            e = opts[0] if len(opts) == 1 else opts[self.data.draw(st.integers(0, len(opts) - 1))]
            if e is None:
                return
            self.program.append(e)
            if e.kind in SKELETON:
                self.phase = {"object_init": 1, "migration_shutdown": 2, "vm_shutdown": 3,
                              "monitor_cleanup": 4}[e.kind]
            else:
                self.left -= 1
            yield from run_event(w, e)


#: probabilistic concurrency testing: random actor priorities and up to three priority change points
_PCT = -1
#: scheduling policies: the oldest runnable actor always; leave it at one step in 8, one in 2, always; PCT
_DEVIATE = (0, 8, 2, 1, _PCT)


def _swarm_features(g: Grammar) -> list[tuple[int, str]]:
    """:return: (phase, event kind) pairs a swarm switches on or off."""
    out: list[tuple[int, str]] = []
    for phase, events in ((0, g.pre), (1, g.running), (2, g.post), (3, g.post)):
        for e in events:
            if (phase, e.kind) not in out:
                out.append((phase, e.kind))
    return out


def draw_run(data: st.DataObject, design: Design, pool: UniversePool, *,
             max_events: int = MAX_EVENTS, max_steps: int = DEFAULT_MAX_STEPS) -> RunResult:
    """Draw a swarm, a program and a schedule from ``data`` and run them.

    :param data: Hypothesis's data object.
    :param design: the design.
    :param pool: universes to reuse.
    :param max_events: the most free events.
    :param max_steps: the per-run step bound.
    :return: the run (``program`` and ``schedule`` are what was drawn).
    """
    g = grammar()
    kinds = frozenset(pk for pk in _swarm_features(g) if data.draw(st.booleans()))
    deviate = data.draw(st.sampled_from(_DEVIATE))
    run = DrawnRun(data, g, kinds, max_events, deviate)
    return run_driven(design, run, pool, max_steps)


class _Violation(Exception):
    def __init__(self, result: RunResult, fault: Fault) -> None:
        super().__init__(str(fault))
        self.result = result
        self.fault = fault


def sample(design: Design, property_id: str, *, seed_value: int = 0, max_examples: int = 100,
           database: str | Path | None = None) -> tuple[RunResult | None, int]:
    """Look for a violation of one property with Hypothesis, and shrink it.

    :param design: the design.
    :param property_id: a property id.
    :param seed_value: Hypothesis's seed (deterministic when ``database`` is ``None``).
    :param max_examples: how many examples to draw.
    :param database: a directory for Hypothesis's example database (``None``: none).
    :return: the shrunk failing run (or ``None``) and the number of examples run.
    """
    count = [0]
    pool = UniversePool()
    db = None if database is None else DirectoryBasedExampleDatabase(str(database))
    phases = [Phase.generate, Phase.shrink] if db is None else [Phase.reuse, Phase.generate, Phase.shrink]

    @settings(max_examples=max_examples, deadline=None, database=db, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), phases=phases)
    @seed(seed_value)
    @given(st.data())
    def probe(data: st.DataObject) -> None:
        count[0] += 1
        r = draw_run(data, design, pool)
        f = violation(property_id, r)
        if f is not None:
            raise _Violation(r, f)

    # one database key per (design, property): a counterexample is replayed for its own cell only
    probe.hypothesis.inner_test._hypothesis_internal_add_digest = (  # type: ignore[attr-defined]
        f"qomsim {design.name} {property_id}".encode()
    )
    try:
        with with_reporter(lambda _msg: None):
            probe()
    except _Violation as v:
        r = v.result
        while r.schedule and r.schedule[-1] == 0:
            r.schedule.pop()
        return r, count[0]
    return None, count[0]
