"""Hypothesis as a search over programs and schedules, drawn inside the run.

Each example draws, with ``st.data()``, everything when the run first needs it:

- a scheduling policy (a *swarm* over schedules): the oldest runnable actor always (QEMU's
  run-to-completion order); *preemption bounding*, the most often: one to three preemptions,
  each a short burst of another enabled actor (one step first), placed after a drawn gap of a few
  choice points, or, one in two, right after a release (an unref, an unlock, a pointer cleared),
  where a window between two steps of one actor is open to another; PCT (random actor
  priorities, up to three change points); or any enabled actor at every step;
- per lifecycle phase, when the phase begins: how many free events it gets (mostly none to two:
  the small-scope hypothesis), then the phase's *swarm* of event kinds (each on in one example in
  two, one draw for all, so that some examples leave out what would mask a fault), rotated by a
  drawn offset (Hypothesis favours low indices: a fixed order would favour the kinds listed first);
- each event when the main thread needs it: whether it starts an actor (two in three when the
  swarm has both: a race needs a second actor), its kind, then its variant from the lifecycle
  grammar (:func:`migration.check.bounded.grammar`); the skeleton (object_init,
  migration_shutdown, an optional vm_shutdown variant, an optional monitor_cleanup) is always
  there;
- every scheduler choice, when it is needed, among the actors enabled at that step.

The first value of every draw is the simplest one (no event, feature off, no vm_shutdown, the
oldest runnable actor), so Hypothesis shrinks towards short programs and default schedules.
Each run also reports :func:`hypothesis.target` scores, towards fault-prone shapes: the most
actors runnable at once, the most started actors blocked at once (lock contention comes before a
deadlock), and how many actors loaded a pointer to an object that another actor then finalized.
A failing run's program and schedule replay with :func:`migration.model.run.run_program`.

Strategies are built once (:func:`_ints`, the module's constants): building one per draw cost
more than running the model.

:func:`sample` is the search ``qomsim check`` and ``decide`` run after the enumerations; with
``database`` set, Hypothesis keeps the counterexamples it found (``.hypothesis/`` beside the
run by default on the command line) and tries them first next time.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings, target
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.reporting import with_reporter
from typeguard import typeguard_ignore

from migration.check.bounded import Grammar, grammar
from migration.check.properties import violation
from migration.model.alphabet import kind
from migration.model.designs import Design
from migration.model.events import end_of_cleanup, run_event
from migration.model.outcomes import Fault
from migration.model.program import Event, ev
from migration.model.results import RunResult
from migration.model.run import DEFAULT_MAX_STEPS, UniversePool, run_driven
from migration.model.runtime import Actor, Pending, World

__all__ = ["DEFAULT_EXAMPLES", "MAX_EVENTS", "DrawnRun", "draw_run", "sample"]

#: the most free (non-skeleton) events of a drawn program
MAX_EVENTS = 8
#: examples :func:`sample` draws by default (it stops at the first counterexample)
DEFAULT_EXAMPLES = 1000


class _Phase:
    pre, running, post, post_vm = range(4)


class _Policy:
    """The scheduling policies an example draws from."""

    #: the oldest runnable actor, always (QEMU's run-to-completion order)
    oldest = 0
    #: preemption bounding: a few bursts of another actor, placed preferably right after a release
    preempt = 1
    #: PCT: random actor priorities, change points at drawn steps
    pct = 2
    #: any enabled actor at every step
    uniform = 3


@cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """:return: ``st.integers(lo, hi)``, built once."""
    return st.integers(lo, hi)


#: the policies an example draws from (preemption bounding three times as often as each other one)
_POLICIES = st.sampled_from((_Policy.oldest, _Policy.preempt, _Policy.pct, _Policy.preempt, _Policy.uniform,
                             _Policy.preempt))
#: how many free events a phase gets, per phase (pre, running, post, post_vm): the first value is what
#: shrinking goes to (no event); mostly few (the bounded explorer's shortest witnesses have one or two
#: free events); the running phase, where actors start, most often one or two
_COUNTS = (st.sampled_from((0, 1, 0, 2, 1, 3)), st.sampled_from((0, 1, 1, 2, 2, 3)),
           st.sampled_from((0, 1, 0, 2, 1, 3)), st.sampled_from((0, 0, 1, 2)))
#: two in three (False first: shrinks to the simpler choice)
_TWO_IN_THREE = st.sampled_from((False, True, True))
#: one in two
_COIN = st.booleans()
#: the next event starts an actor: two in three
_SPAWN = _TWO_IN_THREE
#: monitor_cleanup ends the program: two in three (qemu_cleanup() mostly gets there)
_CLEANUP = _TWO_IN_THREE
#: step actions after which a preemption is most often what a race needs: a release (a reference
#: dropped, a lock released, a pointer cleared)
_RELEASE = ("object_unref", "unlock", "= NULL", "clear ")
#: how long a preemption lets the other actor run: one step first (most races here need one step of
#: the other actor inside a window of the running one: a load before a free, its use after)
_BURSTS = st.sampled_from((1, 1, 2, 1, 3, 40))
#: how many choice points a preemption waits (or, one in two, it comes right after a release): mostly
#: few, since the window a new actor races with opens when it starts
_GAPS = st.sampled_from((0, 1, 2, 3, 6, 12, 24))
#: PCT's change points fall among the first steps (runs take 10 to 40)
_PCT_STEPS = 30


class DrawnRun:
    """One run whose program and schedule are drawn from Hypothesis's ``data`` as it goes.

    :param data: Hypothesis's data object.
    :param g: the lifecycle grammar.
    :param max_events: the most free events.
    :param policy: the scheduling policy (:class:`_Policy`).
    """

    def __init__(self, data: st.DataObject, g: Grammar, max_events: int, policy: int) -> None:
        self.data = data
        self.g = g
        self.policy = policy
        self.left = max_events
        self.kinds: set[tuple[int, str]] = set()  #: the swarm: (phase, event kind) pairs drawn on
        self.program: list[Event] = []
        self.schedule: list[int] = []
        self.priority: dict[str, int] = {}
        self.changes: list[int] = []
        self.budget = 0
        self.burst: tuple[str, int] | None = None  # (actor, steps left) of a preemption under way
        self.gap: int | None = None  # steps to the next preemption (one draw per preemption, not per step)
        self.widest = 1  #: the most actors runnable at once
        self.blocked = 0  #: the most started actors that could not run at once
        if policy == _Policy.pct:
            depth = data.draw(_ints(1, 4))
            self.changes = sorted(data.draw(st.lists(_ints(0, _PCT_STEPS), min_size=depth - 1,
                                                     max_size=depth - 1, unique=True)))
        elif policy == _Policy.preempt:
            self.budget = data.draw(_ints(1, 3))

    # -- the scheduler -------------------------------------------------------------------------

    @typeguard_ignore  # called at every step; mypy checks it
    def replayed(self, w: World) -> Actor | None:
        """:return: ``None``: a sampled run replays no step (every step is chosen)."""
        return None

    @typeguard_ignore  # called at every step; mypy checks it
    def choose(self, step: int, enabled: list[Actor], w: World) -> int:
        c = 0
        self.blocked = max(self.blocked, sum(1 for a in w.actors if not a.done and a.started) - len(enabled))
        if len(enabled) > 1:
            self.widest = max(self.widest, len(enabled))
            if self.policy == _Policy.preempt:
                c = self._preempt(enabled, w)
            elif self.policy == _Policy.pct:
                c = self._pct(step, enabled)
            elif self.policy == _Policy.uniform:
                c = self.data.draw(_ints(0, len(enabled) - 1))
        self.schedule.append(c)
        return c

    @typeguard_ignore
    def _preempt(self, enabled: list[Actor], w: World) -> int:
        """Run-to-completion with at most ``budget`` preemptions, each a burst of one other actor."""
        if self.burst is not None:
            who, left = self.burst
            for i, a in enumerate(enabled):
                if a.name == who:
                    self.burst = (who, left - 1) if left > 1 else None
                    return i
            self.burst = None
        if self.budget <= 0:
            return 0
        last = w.trace[-1].action if w.trace else ""
        if any(s in last for s in _RELEASE):
            if not self.data.draw(_COIN):
                return 0
        else:
            if self.gap is None:
                self.gap = self.data.draw(_GAPS)
            if self.gap > 0:
                self.gap -= 1
                return 0
        self.gap = None
        self.budget -= 1
        c = 1 + self.data.draw(_ints(0, len(enabled) - 2))
        length = self.data.draw(_BURSTS)
        if length > 1:
            self.burst = (enabled[c].name, length - 1)
        return c

    @typeguard_ignore
    def _pct(self, step: int, enabled: list[Actor]) -> int:
        """PCT: the enabled actor of highest priority runs; at a change point, it drops below all others."""
        for a in enabled:
            if a.name not in self.priority:
                self.priority[a.name] = self.data.draw(_ints(0, 7))
        best = max(range(len(enabled)), key=lambda i: (self.priority[enabled[i].name], -i))
        if step in self.changes:
            self.priority[enabled[best].name] = -1 - self.changes.index(step)
        return best

    # -- the program ---------------------------------------------------------------------------

    def _free(self, phase: int) -> tuple[list[list[Event]], list[list[Event]]]:
        """Draw the phase's swarm: which kinds are on (one bit each, in one draw), and a rotation of their
        order (Hypothesis favours low indices: a fixed order would favour the kinds listed first).

        :return: the kinds on that start an actor, then the others, each with its variants.
        """
        events = (self.g.pre, self.g.running, self.g.post, self.g.post)[phase]
        out: dict[str, list[Event]] = {}
        for e in events:
            out.setdefault(e.kind, []).append(e)
        bits = self.data.draw(_ints(0, (1 << len(out)) - 1))
        kinds = []
        for i, (k, variants) in enumerate(out.items()):
            if bits >> i & 1:
                self.kinds.add((phase, k))
                kinds.append(variants)
        if len(kinds) > 1:
            r = self.data.draw(_ints(0, len(kinds) - 1))
            kinds = kinds[r:] + kinds[:r]
        return [k for k in kinds if kind(k[0].kind).actor], [k for k in kinds if not kind(k[0].kind).actor]

    def _draw_free(self, phase: int) -> Generator[Event, None, None]:
        """Draw how many free events ``phase`` gets, then each one when the main thread needs it."""
        if self.left <= 0:
            return
        n = min(self.data.draw(_COUNTS[phase]), self.left)
        spawn, other = self._free(phase) if n else ([], [])
        if not spawn and not other:
            return
        self.left -= n
        for _ in range(n):
            group = spawn if not other or (spawn and self.data.draw(_SPAWN)) else other
            variants = group[self.data.draw(_ints(0, len(group) - 1))] if len(group) > 1 else group[0]
            yield variants[self.data.draw(_ints(0, len(variants) - 1))] if len(variants) > 1 else variants[0]

    @typeguard_ignore
    def body(self, w: World, a: Actor) -> Generator[Pending, None, None]:
        for phase, end in ((_Phase.pre, "object_init"), (_Phase.running, "migration_shutdown")):
            for e in self._draw_free(phase):
                yield from self._run(w, a, e)
            yield from self._run(w, a, ev(end))
        for e in self._draw_free(_Phase.post):
            yield from self._run(w, a, e)
        vm = self.data.draw(_ints(0, len(self.g.vm_shutdown)))  # 0: no vm_shutdown
        if vm:
            yield from self._run(w, a, self.g.vm_shutdown[vm - 1])
            for e in self._draw_free(_Phase.post_vm):
                yield from self._run(w, a, e)
        if self.data.draw(_CLEANUP):
            yield from self._run(w, a, ev("monitor_cleanup"))
        yield from end_of_cleanup(w)

    @typeguard_ignore
    def _run(self, w: World, a: Actor, e: Event) -> Generator[Pending, None, None]:
        a.context.clear()
        self.program.append(e)
        yield from run_event(w, e)


def draw_run(data: st.DataObject, design: Design, pool: UniversePool, *,
             max_events: int = MAX_EVENTS, max_steps: int = DEFAULT_MAX_STEPS) -> RunResult:
    """Draw a scheduling policy, then a program and a schedule as the run goes, and run them.

    :param data: Hypothesis's data object.
    :param design: the design.
    :param pool: universes to reuse.
    :param max_events: the most free events.
    :param max_steps: the per-run step bound.
    :return: the run (``program`` and ``schedule`` are what was drawn).
    """
    run = DrawnRun(data, grammar(design.tag), max_events, data.draw(_POLICIES))
    r = run_driven(design, run, pool, max_steps)
    target(float(run.widest), label="actors runnable at once")
    target(float(run.blocked), label="actors blocked at once")
    target(float(_stale(r)), label="pointers held across a free")
    return r


@typeguard_ignore
def _stale(r: RunResult) -> int:
    """:return: how many (actor, object) pairs saw the actor load a pointer to the object before another
        actor finalized it (a use after that is a use-after-free: the shape to search towards)."""
    loaded: dict[str, set[str]] = {}
    held = 0
    for t in r.trace:
        if t.action.startswith("load ") and t.obj:
            loaded.setdefault(t.obj, set()).add(t.actor)
        elif t.action == "instance_finalize":
            held += len(loaded.pop(t.obj, set()) - {t.actor})
    return held


class _Violation(Exception):
    def __init__(self, result: RunResult, fault: Fault) -> None:
        super().__init__(str(fault))
        self.result = result
        self.fault = fault


def sample(design: Design, property_id: str, *, seed_value: int = 0, max_examples: int = DEFAULT_EXAMPLES,
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
    phases = [Phase.generate, Phase.target, Phase.shrink]
    if db is not None:
        phases.insert(0, Phase.reuse)

    @settings(max_examples=max_examples, deadline=None, database=db, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), phases=phases)
    @seed(seed_value)
    @given(st.data())
    def probe(data: st.DataObject) -> None:
        r = draw_run(data, design, pool)
        count[0] += 1  # a draw Hypothesis cut short (its buffer overran) is not an example
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
