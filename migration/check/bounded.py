"""Bounded model checking over programs: every program of up to K events, every schedule.

A *program* follows QEMU's lifecycle grammar (:class:`Grammar`): events allowed before
``migration_object_init()``, ``object_init``, up to the bound of runtime events, then the
shutdown sequence of ``qemu_cleanup()`` -- ``migration_shutdown`` (from the default source, a signal: a
QMP ``quit``, queued behind the in-band requests, only takes schedules away, see
:mod:`migration.model.shutdown`), an optional
``vm_shutdown`` (each handler variant), an optional ``monitor_cleanup`` -- with the
events that may still happen between them.  The bound K counts the events that are not
part of that skeleton (``object_init``, ``migration_shutdown``, ``vm_shutdown``,
``monitor_cleanup``).  A :class:`Bound` may also limit the *background* events among them, those
that may leave an actor running after they return (``migrate``, ``migrate_incoming``, ``oob``,
``dirty_limit``, ``vcpu_device``, a pending ``query_migrate``): ``10/0`` is every program of up to 10
events none of them background, and a union of such boxes, ``2+10/0`` (:data:`COVERING_BOUND`), takes in every
§4 scenario at a fraction of what 10 events of any kind would cost, since it is the actors left
running that multiply the schedules.

The program is not fixed in advance: the main thread draws its next event from the
grammar when it needs one, and that draw is one more nondeterministic choice of the
search, beside the scheduler's.  So one depth-first search covers every (program,
schedule) pair, with the reductions of a model checker:

- *state hashing across programs*: at every choice point the world's state plus the
  grammar position (phase, free and background events taken) is hashed; a state already
  explored is not explored again, its counts and violations are reused.  Only branching
  points (more than one option) are hashed: a world seen at a point with one option is seen
  again at the next branch.  Each actor's local state is read from its suspended generator
  frames (:mod:`migration.model.framekey`: code, offset and live variables, per frame), which is
  exact and merges actors that reached the same point by different ways; an actor whose frames
  do not show all of its state (stopped in a ``for`` loop, holding a value with no name in the
  world) is keyed by the history of everything it observed instead.  A run that replays its parent's
  choices to explore a sibling option starts its actors with the frames keys the parent read at that
  state (:meth:`_Run.resume`), so only the actors that step after the branch have their frames read
  again; on its way there, each step is taken by the actor the parent's record names
  (:meth:`_Run.replayed`), without asking which actors are enabled.  At an event
  boundary the main thread keeps no local state (its history is reset), so two programs
  that lead to the same world (an introspection that changed nothing, a helper that
  answered the same) merge.  The world's logs (faults, introspection answers) are hashed
  only as far as a property reads them (:func:`~migration.check.properties.log_key`): a
  world that introspected twice with the same answer is the world that introspected once.
  The store keeps each key's 64-bit hash, not the key (*hash compaction*, as SPIN's ``-DHC``), each
  violation's choice suffix as a chain shared with the successor state's, and each distinct set of
  counts once: qemu-10.0 at K = 2 in one process peaks at 221 MiB instead of 1,079 MiB.  Two
  different states with the same hash would merge, one unexplored; with n states the chance of any
  such pair is about n²/2⁶⁵: one in 370 million for the 315,000 states of K = 2, one in 92,000 for
  the 20 million estimated for K = 3.  Each actor's frames were already kept as such a hash;
- *symmetry*: parameters that only label an event for the reader (``introspect``'s
  ``label``) are dropped from the alphabet, so events that differ only by a label are
  explored once;
- *partial-order reduction* (``por=True``, off by default): sleep sets.  After the search
  explored actor A's step from a state, it does not explore A's step again from the states
  its siblings reach, as long as every step taken since commuted with it.  Two steps commute
  when neither wrote anything another actor can observe -- checked by comparing
  :meth:`~migration.model.runtime.World.shared_key` before and after each step, so the
  relation is computed, never declared.  Combined with state hashing, a state is reused only
  under the same sleep set.  With state hashing already closing every diamond of commuting
  steps at its first shared state, it halves the schedules explored but not the runs
  (docs/performance.md, figure 10b), so it is off by default;
- *shortest first*: every state keeps, per property, the violation with the fewest
  program events (then the shortest schedule), so the counterexample reported is a
  shortest program -- exactly what exploring in order of program length finds first.

:func:`explore_bounded` is exact: ``reduce=False`` turns every reduction off, and the
tests check that both find the same outcome sets and violated properties, and that the
partial-order reduction finds the same outcomes, properties and shortest programs as state
hashing alone.  The work
splits by program prefix into tasks that :mod:`migration.check.workers` runs in parallel, the
foreground events of one choice in one task (:func:`split_tasks`; :func:`split` gives one task per
prefix); the result is the same, byte for byte, whatever the worker count.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from typeguard import typeguard_ignore

from migration.check.properties import PROPERTY_CHECKS, log_key, violation
from migration.model.alphabet import ALPHABET, combinations_of, kind, leaves_actor
from migration.model.designs import Design
from migration.model.events import end_of_cleanup, run_event
from migration.model.features import lacks
from migration.model.outcomes import Fault
from migration.model.program import Event, Program, ev, program_from_json, program_to_json
from migration.model.results import RunResult
from migration.model.run import DEFAULT_MAX_STEPS, UniversePool, run_driven
from migration.model.runtime import Actor, Pending, World
from migration.model.scenarios import SCENARIOS

__all__ = [
    "BOUND_FORMS",
    "COVERING_BOUND",
    "DEFAULT_BOUND",
    "SKELETON",
    "Bound",
    "Bounded",
    "Grammar",
    "Task",
    "background_events",
    "count_programs",
    "events_text",
    "explore_bounded",
    "free_events",
    "grammar",
    "in_grammar",
    "merge",
    "model_alphabet",
    "normal",
    "run_task",
    "scenarios_outside",
    "split",
    "split_tasks",
]

#: the bound ``decide`` and ``check`` use by default, so that ``qomsim decide`` stays fast: 9 of the 19 §4
#: scenarios lie inside it; ``--bound 2`` takes in all but S13 (4 free events) and S7 (10), at about 100x
#: the runs (docs/performance.md, figure 9d), and ``--bound covering`` (:data:`COVERING_BOUND`) all of them
#: (benchmarks/fig_bounded.py, figure 9f); the scenarios outside stay named witnesses, enumerated on their own
#: (:func:`scenarios_outside`)
DEFAULT_BOUND = 1

#: the smallest bound of its shape that takes in every §4 scenario: every program of up to 2 events (S2-S6,
#: S8-S12, S14, S15: at most 2 free events, up to 2 of them background), and every program of up to 10
#: events none of them background (S7: 10 introspections and a query; S13: 3 creation paths and a query);
#: ``--bound covering`` (benchmarks/fig_bounded.py, figure 9f)
COVERING_BOUND = "2+10/0"

#: how a bound is written, for error messages (:meth:`Bound.parse`)
BOUND_FORMS = "K, K/A, several joined with '+' (K events, at most A of them background; integers >= 0)"

#: the lifecycle skeleton: events the bound does not count
SKELETON = frozenset({"object_init", "migration_shutdown", "vm_shutdown", "monitor_cleanup"})

#: parameters that only name an event for the reader (symmetry: dropped from the alphabet)
_LABELS = frozenset({"label"})


def normal(e: Event) -> Event:
    """:param e: an event.
    :return: the same event with its labels and its parameters at their domain default dropped (the
        form the alphabet uses: two events that behave alike compare equal)."""
    k = kind(e.kind)
    params: dict[str, Any] = {}
    for p, v in e.params:
        dom = k.domain(p)
        if p in _LABELS or (dom is not None and v == dom[0]):
            continue
        params[p] = v
    return ev(e.kind, **params)


def model_alphabet(tag: str = "master") -> dict[str, list[Event]]:
    """The events the bounded explorer uses, per phase, from the model's one table.

    Every kind of :data:`migration.model.alphabet.ALPHABET` joins in the phases its table entry names
    (a new kind joins automatically).  Parameters: every combination with at most one parameter off
    its default (so every value of every domain occurs), plus every combination a §4 scenario uses;
    labels are dropped (symmetry).  An event that stands for a feature ``tag`` lacks
    (:func:`migration.model.features.lacks`) is left out.

    :param tag: the QEMU tag whose alphabet it is.
    :return: ``{"pre": [...], "running": [...], "post": [...], "vm_shutdown": [...]}``.
    """
    used = {normal(e) for prog in SCENARIOS.values() for e in prog}
    out: dict[str, list[Event]] = {"pre": [], "running": [], "post": [], "vm_shutdown": []}
    for k in ALPHABET:
        events: list[Event] = []
        for combo in combinations_of(k):
            e = normal(ev(k.name, **combo))
            off = len(e.params)
            if (off <= 1 or e in used or k.name == "vm_shutdown") and e not in events and not lacks(tag, e):
                events.append(e)
        if k.name == "vm_shutdown":
            out["vm_shutdown"] = events
            continue
        for phase in k.phases:
            out[phase].extend(events)
    return out


@dataclass(frozen=True)
class Grammar:
    """The lifecycle grammar's alphabets, one per phase.

    :ivar pre: events before ``object_init``.
    :ivar running: events between ``object_init`` and ``migration_shutdown``.
    :ivar post: events after ``migration_shutdown`` (also between ``vm_shutdown`` and
        ``monitor_cleanup``).
    :ivar vm_shutdown: the ``vm_shutdown`` variants.
    :ivar shutdown: the ``migration_shutdown`` variants (by default the default source only, which finds
        every fault a queued source finds: ``tests/test_shutdown_sources.py``).
    """

    pre: tuple[Event, ...]
    running: tuple[Event, ...]
    post: tuple[Event, ...]
    vm_shutdown: tuple[Event, ...]
    shutdown: tuple[Event, ...] = (Event("migration_shutdown"),)
    #: options per phase, without and with free events left (built once: asked at every program choice)
    _table: tuple[tuple[tuple[Event | None, ...], tuple[Event | None, ...]], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tails: tuple[tuple[Event | None, ...], ...] = (
            (ev("object_init"),),
            self.shutdown,
            (*self.vm_shutdown, ev("monitor_cleanup"), None),
            (ev("monitor_cleanup"), None),
            (None,),
        )
        frees = (self.pre, self.running, self.post, self.post, ())
        table = tuple(
            (tail, (*(e for e in free if not leaves_actor(e)), *tail), (*free, *tail))
            for free, tail in zip(frees, tails, strict=True))
        object.__setattr__(self, "_table", table)

    @typeguard_ignore  # called at every program choice; mypy checks it
    def options(self, phase: int, left: int, background: bool = True) -> tuple[Event | None, ...]:
        """The choices at a grammar position; ``None`` ends the program (the process exits).

        Phases: 0 before init, 1 running, 2 after migration_shutdown, 3 after vm_shutdown,
        4 after monitor_cleanup.

        :param phase: the phase.
        :param left: free events still allowed.
        :param background: whether one more of them may be a background event
            (:func:`~migration.model.alphabet.leaves_actor`).
        :return: the choices, skeleton events last.
        """
        if left <= 0:
            return self._table[phase][0]
        return self._table[phase][2 if background else 1]


@cache
def grammar(tag: str = "master") -> Grammar:
    """:param tag: the QEMU tag (a design's :attr:`~migration.model.designs.Design.tag`).
    :return: the grammar built from :func:`model_alphabet` at that tag."""
    a = model_alphabet(tag)
    return Grammar(tuple(a["pre"]), tuple(a["running"]), tuple(a["post"]), tuple(a["vm_shutdown"]))


def _next_phase(phase: int, e: Event) -> int:
    phases = {"object_init": 1, "migration_shutdown": 2, "vm_shutdown": 3, "monitor_cleanup": 4}
    return phases.get(e.kind, phase)


#: a grammar position: (phase, free events taken, background events taken)
_Pos = tuple[int, int, int]


@dataclass(frozen=True)
class Bound:
    """Which programs the bounded exploration covers: a union of boxes.

    A box ``(K, A)`` holds the programs of at most K free events of which at most A are *background*
    events, the ones that may leave an actor running after they return
    (:func:`~migration.model.alphabet.leaves_actor`); ``A = None`` puts no limit on them.  The union
    is down-closed: a program inside it stays inside when an event is dropped, so one search covers it
    with the grammar position (free events taken, background events taken) in its state key.  Written
    ``2``, ``10/0``, ``2+10/0`` (:meth:`parse`).

    :ivar boxes: the boxes, as written.
    """

    boxes: tuple[tuple[int, int | None], ...]

    def __post_init__(self) -> None:
        if not self.boxes or any(k < 0 or (a is not None and a < 0) for k, a in self.boxes):
            raise ValueError(f"invalid bound {self.boxes!r}")

    @staticmethod
    def of(bound: int | Bound) -> Bound:
        """:param bound: K (every program of up to K free events), or a bound.
        :return: the bound."""
        return bound if isinstance(bound, Bound) else Bound(((bound, None),))

    @staticmethod
    def parse(text: str) -> Bound:
        """:param text: ``K``, ``K/A``, several joined with ``+``, or ``covering`` (:data:`COVERING_BOUND`).
        :return: the bound.
        :raise ValueError: on anything else (the message quotes ``text``)."""
        if text == "covering":
            return Bound.parse(COVERING_BOUND)
        boxes: list[tuple[int, int | None]] = []
        try:
            for part in text.split("+"):
                k, _sep, a = part.partition("/")
                boxes.append((int(k), int(a) if _sep else None))
            return Bound(tuple(boxes))
        except ValueError:
            raise ValueError(f"invalid bound '{text}': expected {BOUND_FORMS} or 'covering'") from None

    def union(self, other: Bound) -> Bound:
        """:param other: another bound.
        :return: the programs of either bound: this bound's boxes, then ``other``'s, each left out when
            another box holds every program it holds (``1`` with ``covering`` is ``2+10/0``)."""
        def plain(k: int, a: int | None) -> tuple[int, int | None]:  # K/A with A >= K is K
            return (k, None) if a is None or a >= k else (k, a)

        def inside(b: tuple[int, int | None], c: tuple[int, int | None]) -> bool:
            (k, a), (k2, a2) = b, c
            return k <= k2 and (k if a is None else a) <= (k2 if a2 is None else a2)

        boxes = list(dict.fromkeys(plain(k, a) for k, a in (*self.boxes, *other.boxes)))
        return Bound(tuple(b for b in boxes if not any(c != b and inside(b, c) for c in boxes)))

    @property
    def events(self) -> int:
        """:return: the most free events a covered program can have."""
        return max(k for k, _a in self.boxes)

    @property
    def plain(self) -> bool:
        """:return: whether this is one box without a limit on background events (a bare K)."""
        return len(self.boxes) == 1 and (self.boxes[0][1] is None or self.boxes[0][1] >= self.boxes[0][0])

    @typeguard_ignore  # called at every program choice; mypy checks it
    def allows(self, k: int, a: int) -> bool:
        """:param k: free events.
        :param a: background events among them.
        :return: whether a program with those counts is covered."""
        return any(k <= bk and (ba is None or a <= ba) for bk, ba in self.boxes)

    def __str__(self) -> str:
        return "+".join(str(k) if a is None else f"{k}/{a}" for k, a in self.boxes)

    def text(self) -> str:
        """:return: the bound in words: ``"up to 2 events"``, ``"up to 2 events, or up to 10 events none
        of them background"``."""
        def one(k: int, a: int | None) -> str:
            if a is None or a >= k:
                return f"up to {events_text(k)}"
            if a == 0:
                return f"up to {events_text(k)} none of them background"
            return f"up to {events_text(k)} at most {a} of them background"
        return ", or ".join(one(k, a) for k, a in self.boxes)

    def every(self) -> str:
        """:return: what a verdict at this bound covers: ``"every program of up to 1 event and every
        schedule"``."""
        return f"every program of {self.text()}{',' if len(self.boxes) > 1 else ''} and every schedule"


@typeguard_ignore  # called at every program choice; mypy checks it
def _options(g: Grammar, bound: Bound, pos: _Pos) -> tuple[Event | None, ...]:
    phase, k, a = pos
    return g.options(phase, 1 if bound.allows(k + 1, a) else 0, bound.allows(k + 1, a + 1))


@typeguard_ignore
def _advance(pos: _Pos, e: Event) -> _Pos:
    """:param pos: a grammar position.
    :param e: the event taken there.
    :return: the position after it."""
    phase, k, a = pos
    if e.kind in SKELETON:
        return _next_phase(phase, e), k, a
    return phase, k + 1, a + 1 if leaves_actor(e) else a


def count_programs(g: Grammar, bound: int | Bound, prefix: Sequence[int] = (),
                   then: Sequence[int] = ()) -> int:
    """:param g: the grammar.
    :param bound: K, or a bound.
    :param prefix: count only the programs whose first choices are these option indices.
    :param then: and whose next choice is one of these (empty: any).
    :return: how many programs of the grammar the bound covers.
    """
    b = Bound.of(bound)
    pos: _Pos = (0, 0, 0)
    for i in prefix:
        e = _options(g, b, pos)[i]
        if e is None:
            return 1
        pos = _advance(pos, e)
    memo: dict[_Pos, int] = {}

    def count(p: _Pos) -> int:
        if p not in memo:
            memo[p] = sum(1 if e is None else count(_advance(p, e)) for e in _options(g, b, p))
        return memo[p]

    if then:
        opts = _options(g, b, pos)
        return sum(1 if e is None else count(_advance(pos, e)) for e in (opts[i] for i in then))
    return count(pos)


def in_grammar(program: Sequence[Event], bound: int | Bound, g: Grammar | None = None) -> bool:
    """:param program: a program.
    :param bound: K, or a bound.
    :param g: the grammar (default: :func:`grammar`).
    :return: whether the bounded exploration at ``bound`` covers ``program`` (with every schedule)."""
    g = g or grammar()
    b = Bound.of(bound)
    pos: _Pos = (0, 0, 0)
    for e in (*map(normal, program), None):
        if e not in _options(g, b, pos):
            return False
        if e is None:
            return True
        pos = _advance(pos, e)
    return True


def scenarios_outside(bound: int | Bound) -> dict[str, tuple[int, int]]:
    """:param bound: K, or a bound.
    :return: the §4 scenarios the bounded exploration at ``bound`` does not cover, with their free events
        and how many of those are background events (they are enumerated on their own, as named
        witnesses)."""
    return {sid: (free_events(prog), background_events(prog))
            for sid, prog in SCENARIOS.items() if not in_grammar(prog, bound)}


def free_events(program: Sequence[Event]) -> int:
    """:param program: a program.
    :return: how many of its events the bound counts (all but the skeleton)."""
    return sum(1 for e in program if e.kind not in SKELETON)


def background_events(program: Sequence[Event]) -> int:
    """:param program: a program.
    :return: how many of its events may leave an actor running
        (:func:`~migration.model.alphabet.leaves_actor`)."""
    return sum(1 for e in program if e.kind not in SKELETON and leaves_actor(e))


def events_text(k: int) -> str:
    """:param k: a number of events.
    :return: ``"1 event"``, ``"2 events"``."""
    return f"{k} event" if k == 1 else f"{k} events"


@dataclass
class Bounded:
    """What the bounded exploration of one design found.

    :ivar bound: K.
    :ivar programs: P, the programs of up to K free events covered (every schedule of each).
    :ivar states: S, the distinct states stored (summed over the tasks).
    :ivar runs: how many runs were executed.
    :ivar paths: how many (program, schedule) pairs the runs stand for.
    :ivar violations: property id -> (program, schedule, fault) with the fewest program events.
    :ivar outcomes: outcome name -> number of (program, schedule) pairs ending in it.
    :ivar violating: property id -> number of (program, schedule) pairs violating it.
    :ivar complete: no task exceeded its run budget.
    :ivar spec: the bound as written (``"1"``, ``"2+10/0"``, :class:`Bound`); ``bound`` is its most events.
    """

    design: str
    bound: int
    programs: int = 0
    states: int = 0
    runs: int = 0
    paths: int = 0
    violations: dict[str, tuple[Program, list[int], Fault]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    spec: str = ""
    violating: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec = self.spec or str(self.bound)

    @property
    def covers(self) -> Bound:
        """:return: the bound this exploration covers."""
        return Bound.parse(self.spec)

    def to_json(self) -> dict[str, Any]:
        """:return: the exploration as JSON (its bound, counts, outcome counts and shortest witnesses)."""
        return {
            "design": self.design, "bound": self.bound, "spec": self.spec, "programs": self.programs,
            "states": self.states,
            "runs": self.runs, "paths": self.paths, "complete": self.complete,
            "outcomes": dict(self.outcomes),
            "violating": dict(self.violating),
            "violations": {
                p: {"program": program_to_json(prog), "schedule": list(sched), "fault": str(f)}
                for p, (prog, sched, f) in self.violations.items()
            },
        }

    def verdict_text(self, property_id: str) -> str:
        """:param property_id: a property id.
        :return: the verdict with its bound, e.g. "holds for every program of up to 3 events ..."."""
        if property_id in self.violations:
            prog, _s, f = self.violations[property_id]
            return (f"fails with {f.outcome.value} on a program of {events_text(free_events(prog))} "
                    f"(bound {self.spec})")
        return f"holds for {self.covers.every()} ({self.programs} programs, {self.states} distinct states)"


class _Stop(Exception):
    def __init__(self, key: object) -> None:
        super().__init__("known state")
        self.key = key


class _Asleep(Exception):
    """Every enabled actor is asleep: each schedule from here is equivalent to one explored elsewhere."""


class _Budget(Exception):
    pass


#: a choice suffix as a chain of (choice, rest) pairs: a state's suffix shares its tail with its successor's,
#: so the store keeps one pair per state and per violated property, not a copy of the whole suffix
_Suffix = tuple[int, Any] | None  # the rest is a _Suffix (a recursive alias typeguard cannot check)
#: a subtree: paths, violations (pid -> (free events of the program, suffix length, choice suffix, fault)),
#: and counts of the paths per outcome name and per violated property id (they never collide: outcome names
#: are upper case)
_Viol = dict[str, tuple[int, int, _Suffix, Fault]]
_Sub = tuple[int, _Viol, dict[str, int]]
#: the violations of every subtree that has none (one dict for all: the store never changes what it holds)
_NO_VIOLATION: _Viol = {}


@dataclass(frozen=True)
class Task:
    """One unit of work: the programs that start with ``prefix``, then one of ``then``.

    :ivar prefix: indices into the grammar's options at the first program choices.
    :ivar then: the options allowed at the next program choice (empty: every one): a task of several
        foreground events explores them in one store, where their subtrees meet (:func:`split_tasks`).
    :ivar por: use the partial-order reduction (sleep sets) on top of state hashing.
    :ivar boundary: key main's program choices by the event-boundary key (``False``: the full key).
    """

    design: Design
    bound: int | Bound
    prefix: tuple[int, ...]
    reduce: bool = True
    max_runs: int = 2_000_000
    por: bool = False
    boundary: bool = True
    frames: bool = True
    then: tuple[int, ...] = ()


@dataclass(eq=False)
class _Point:
    """A choice point a run reached beyond its fixed choices.

    :ivar key: the memo key of the state (``None`` without state hashing).
    :ivar n: how many options there were.
    :ivar kind: ``"s"`` (which actor steps) or ``"p"`` (main's next event).
    :ivar names: the enabled actors, in option order (scheduler choices only).
    :ivar sleep: the actors asleep here (their step is explored from a sibling state).
    :ivar chosen: the option the run took.
    :ivar wrote: whether the step taken wrote shared state (``None``: not known, taken as a write).
    :ivar seen: each actor's frames key as the state key read it here (:attr:`Actor.kept
        <migration.model.runtime.Actor.kept>`, in actor order): a sibling run replays to this very state,
        so its actors start with these instead of reading their frames again.
    """

    key: object
    n: int
    kind: str
    names: tuple[str, ...]
    sleep: frozenset[str]
    chosen: int
    wrote: bool | None = None
    seen: tuple[tuple[int, int] | None, ...] = ()


_NOBODY: frozenset[str] = frozenset()


class _Run:
    """One run of the lazy main thread: program choices and scheduler choices in one sequence.

    With ``por`` the run keeps a *sleep set*: actors whose next step was already explored from an
    earlier state and commutes with every step taken since.  A step *commutes* with another when
    neither wrote anything another actor can observe (:meth:`~migration.model.runtime.World.shared_key`
    is unchanged across it): both orders reach the same state.  An actor leaves the sleep set when it
    steps, and every actor does when any step writes.  A step in which main picks its next event
    counts as a write.
    """

    __qomsim_run__ = True  #: the run's driver: main's frames name it, and there is one per run (framekey)

    def __init__(self, g: Grammar, bound: Bound, prefix: Sequence[int], choices: Sequence[int],
                 memo: dict[object, _Sub] | None, sleep: frozenset[str] = _NOBODY, por: bool = False,
                 boundary: bool = True, frames: bool = True, every_point: bool = False,
                 then: Sequence[int] = (), seen: tuple[tuple[int, int] | None, ...] = (),
                 picked: Sequence[int] = ()) -> None:
        self.g = g
        #: per choice of the parent run (by position), the index in ``w.actors`` of the actor that stepped
        #: (-1: a program choice); the choices before the last fixed one replay those steps (:meth:`replayed`)
        self.picked = picked if not por else ()
        self.steps: list[int] = []  #: this run's own, for its sibling runs
        #: the actors' frames keys at the state the last fixed choice is taken from (:attr:`_Point.seen`)
        self.seen = seen
        self.then = then  #: the options allowed at the program choice after the prefix (empty: every one)
        #: program choices still fixed or restricted by the task: part of the state key, so that a state
        #: whose next choices are not free never stands for one whose are
        self.fixed = len(prefix) + (1 if then else 0)
        self.boundary = boundary  #: key main's program choices by World.boundary_key
        self.frames = frames  #: key actors by their frames (World.local_state)
        self.every_point = every_point  #: key points with one option too
        self.bound = bound
        self.pos: _Pos = (0, 0, 0)  #: the grammar position: phase, free and background events taken
        self.prefix = prefix
        self.choices = choices
        self.memo = memo
        self.por = por
        self.made = 0
        self.cursor = 0
        self.path: list[_Point] = []  #: choice points beyond ``choices``
        self.program: list[Event] = []
        self.schedule: list[int] = []
        self.sleep = _NOBODY
        self.branch_sleep = sleep  #: the sleep set at the last fixed choice (the branch being explored)
        self.stepper: Actor | None = None  #: who took the step now running
        self.before: tuple[object, ...] | None = None  #: the shared key before that step
        self.forced = False  #: main picked an event during the step
        self.at_branch = False  #: the step now running is the branch's
        self.last: _Point | None = None  #: the point whose step is running
        self.first_wrote: bool | None = None  #: whether the branch's step wrote
        self.actors_before = 0  #: how many actors there were when main's current event began

    @typeguard_ignore
    def after_step(self, w: World) -> None:
        """Close the step that just ran: did it write shared state; wake or put back to sleep."""
        if self.stepper is None:
            self.forced = False
            return
        wrote = self.forced or self.before is None or w.shared_key(self.stepper) != self.before
        if self.last is not None:
            self.last.wrote = wrote
            self.last = None
        if self.at_branch:
            self.first_wrote = wrote
            self.at_branch = False
        self.sleep = _NOBODY if wrote else self.sleep - {self.stepper.name}
        self.stepper, self.before, self.forced = None, None, False

    @typeguard_ignore
    def resume(self, w: World) -> None:
        """The run is back at the state its parent run branched from (its last fixed choice): each actor
        takes the frames key the parent read there (:attr:`_Point.seen`), unless it moved since.

        The same choices replay the same steps, so the actors' frames are those the parent's state key
        read: a sibling run reads again only the frames of the actors that step after the branch (a
        quarter of ``qemu-10.0``'s time at K = 2 went to reading frames again).
        """
        if self.seen:
            for a, k in zip(w.actors, self.seen, strict=True):
                if k is not None and k[0] == a.moves:
                    a.kept = k

    @typeguard_ignore  # called at every step; mypy checks it
    def take(self, w: World, n: int, kind: str, names: tuple[str, ...] = ()) -> int:
        i = self.cursor
        self.cursor += 1
        if i < len(self.choices):
            if i == len(self.choices) - 1:
                self.resume(w)
                if kind == "s" and self.por:
                    self.sleep = self.branch_sleep
                    self.at_branch = True
            return self.choices[i] % n
        key: object = None
        # a point with one option is not a branch: a world seen there before is seen again at the next
        # branch (its exploration keyed that one), so keying it would only cost a key
        if self.memo is not None and (n > 1 or self.por or self.every_point):
            state = (w.boundary_key(log_key, self.frames) if kind == "p" and self.boundary
                     else w.state_key(log_key, self.frames))
            # hash compaction: the store keeps the key's 64-bit hash, not the key (the module docstring)
            base = hash((kind, self.pos, max(self.fixed - self.made, 0), state))
            # with sleep sets, a state is reused only under the same sleep set
            key = (base, self.sleep) if self.por and kind == "s" and self.sleep else base
            if key in self.memo:
                raise _Stop(key)
        c = 0
        if self.por and kind == "s" and self.sleep:
            awake = [j for j in range(n) if names[j] not in self.sleep]
            if not awake:
                raise _Asleep
            c = awake[0]
        pt = _Point(key, n, kind, names, self.sleep if kind == "s" else _NOBODY, c,
                    seen=tuple(a.kept for a in w.actors) if key is not None and self.frames else ())
        self.path.append(pt)
        if kind == "s":
            self.last = pt
        return c

    @typeguard_ignore
    def replayed(self, w: World) -> Actor | None:
        """:return: the actor of the next step when it replays a step of the parent run (a choice before
            the last fixed one), else ``None``: the same choices from the same state step the same actor,
            so the parent's record names it without asking which actors are enabled."""
        i = self.cursor
        if i >= len(self.choices) - 1 or i >= len(self.picked):
            return None
        j = self.picked[i]
        if j < 0:  # the parent's program choice: never where the scheduler asks, unless runs diverge
            raise RuntimeError(f"choice {i} of {list(self.choices)} replays a program choice as a step")
        self.cursor += 1
        self.schedule.append(self.choices[i])
        self.steps.append(j)
        return w.actors[j]

    @typeguard_ignore
    def choose(self, step: int, enabled: list[Actor], w: World) -> int:
        por = self.por and self.cursor >= len(self.choices) - 1
        if self.por:
            self.after_step(w)
        names = tuple(a.name for a in enabled) if por else ()
        c = self.take(w, len(enabled), "s", names)
        self.steps.append(w.actors.index(enabled[c]))
        self.schedule.append(c)
        if por:
            self.stepper = enabled[c]
            self.before = w.shared_key(enabled[c])
        return c

    @typeguard_ignore
    def next_event(self, w: World) -> Event | None:
        """:return: main's next event: the task's fixed one, or the grammar's option the search picks
            (``None``: the end of the program)."""
        opts = _options(self.g, self.bound, self.pos)
        if self.made < len(self.prefix):
            return opts[self.prefix[self.made]]
        if self.then and self.made == len(self.prefix):
            sub = self.then
            if len(sub) > 1:
                self.steps.append(-1)
                return opts[sub[self.take(w, len(sub), "p")]]
            return opts[sub[0]]
        if len(opts) > 1:
            self.steps.append(-1)
            return opts[self.take(w, len(opts), "p")]
        return opts[0]

    @typeguard_ignore
    def body(self, w: World, a: Actor) -> Generator[Pending, None, None]:
        # main's variables are its state (framekey): it keeps none that no later step reads
        while True:
            a.history = 0  # no local state survives an event boundary
            a.context.clear()
            e = self.next_event(w)
            self.forced = True  # picking the next event is a write (see after_step)
            self.made += 1
            if e is None:
                yield from end_of_cleanup(w)
                return
            # the event now running is main's local state: two events whose first steps look alike
            # must not share a state key
            a.history = hash(("event", e))
            self.program.append(e)
            self.pos = _advance(self.pos, e)
            self.actors_before = len(w.actors)  # for the check below only (not main's state)
            yield from run_event(w, e)
            if e.kind not in SKELETON and not leaves_actor(e):
                _check_foreground(w, e, self.actors_before)


def _check_foreground(w: World, e: Event, before: int) -> None:
    """The second bound counts only background events: a foreground one must leave no actor running.

    Only the actors the event created count (those main created during it, and those they created): a
    thread already running may start one of its own meanwhile (``T_mig``'s multifd send thread while
    main polls).

    :raise RuntimeError: when the model contradicts :func:`~migration.model.alphabet.leaves_actor`."""
    mine = {"main"}
    for a in w.actors[before:]:
        if a.by in mine:
            mine.add(a.name)
            if not a.done:
                raise RuntimeError(f"{e} is a foreground event (leaves_actor) but left {a.name} running")


#: how many runs pass between two moves of the state store out of the garbage collector's sight
#: (:class:`_Freezer`)
FREEZE_EVERY = 10_000


class _Freezer:
    """Keeps the state store out of the cyclic garbage collector's way.

    Each run leaves reference cycles (the world, its actors and their generators), so the collector
    must run; but each of its full passes would also walk the whole state store, which only grows and
    never holds garbage.  Every ``every`` runs, between two runs, this collects the garbage and then
    freezes what is left (:func:`gc.freeze`): the store so far and the exploration's other live
    objects, which later passes skip.  The last call unfreezes them.  Only what is reachable at a freeze
    is frozen; of that, what is dropped later is freed at once by reference counting, and only what is
    dropped inside a cycle waits for the thaw.  It does nothing when the collector is off, or when
    something else froze objects first (their owner decides when they thaw).
    """

    def __init__(self, every: int | None) -> None:
        self.every = every if every and gc.isenabled() and gc.get_freeze_count() == 0 else None
        self.froze = False

    @typeguard_ignore
    def tick(self, runs: int) -> None:
        """:param runs: the runs started so far (called as each run starts)."""
        if self.every is not None and runs % self.every == 0:
            gc.collect()
            gc.freeze()
            self.froze = True

    def close(self) -> None:
        """Give every frozen object back to the collector."""
        if self.froze:
            gc.unfreeze()
            self.froze = False


def _unroll(suffix: _Suffix) -> list[int]:
    """:return: the choices of a suffix chain, in order."""
    out = []
    while suffix is not None:
        out.append(suffix[0])
        suffix = suffix[1]
    return out


def _evaluate(r: RunResult) -> dict[str, Fault]:
    out: dict[str, Fault] = {}
    for pid in PROPERTY_CHECKS:
        f = violation(pid, r)
        if f is not None:
            out[pid] = f
    return out


def _run(design: Design, run: _Run, pool: UniversePool, max_steps: int, traced: bool = True) -> RunResult:
    return run_driven(design, run, pool, max_steps, traced=traced)


def replay_choices(design: Design, bound: int | Bound, prefix: Sequence[int], choices: Sequence[int],
                   max_steps: int = DEFAULT_MAX_STEPS, then: Sequence[int] = ()) -> RunResult:
    """:param design: the design.
    :param bound: K.
    :param prefix: the task's fixed program choices.
    :param choices: the program and scheduler choices after it, in the order the run makes them.
    :param max_steps: the per-run step bound.
    :param then: the task's options at the program choice after the prefix.
    :return: the run (its ``program`` and ``schedule`` replay with :func:`migration.model.run.run_program`).
    """
    return _run(design, _Run(grammar(design.tag), Bound.of(bound), prefix, choices, None, then=then),
                UniversePool(), max_steps)


def explore_bounded(design: Design, bound: int | Bound, *, reduce: bool = True, por: bool = False,
                    prefix: Sequence[int] = (), max_runs: int = 2_000_000, max_steps: int = DEFAULT_MAX_STEPS,
                    alphabet: Grammar | None = None, boundary: bool = True, frames: bool = True,
                    every_point: bool = False, on_run: Callable[[int, int], None] | None = None,
                    freeze_every: int | None = FREEZE_EVERY, then: Sequence[int] = ()) -> Bounded:
    """Explore every program of up to ``bound`` free events (starting with ``prefix``) and every schedule.

    :param design: the design.
    :param bound: K.
    :param reduce: use state hashing (``False``: naive enumeration, for cross-checking).
    :param por: with ``reduce``, also the partial-order reduction (sleep sets): a schedule that only
        reorders steps that commute is not explored again, so ``paths`` and ``outcomes`` count the
        schedules the reduced search took, not every schedule (``por=False`` counts every one).
    :param prefix: fixed indices for the first program choices (a task of :func:`split`).
    :param max_runs: stop (``complete = False``) after this many runs.
    :param max_steps: the per-run step bound.
    :param alphabet: a grammar to use instead of :func:`grammar` (smaller ones, for cross-checks).
    :param boundary: with ``reduce``, key main's program choices by
        :meth:`~migration.model.runtime.World.boundary_key`, which merges worlds that differ only in what
        no later step reads (``False``: the full :meth:`~migration.model.runtime.World.state_key`).
    :param frames: with ``reduce``, key each actor by its suspended frames where they show its whole
        state (:meth:`~migration.model.runtime.World.local_state`), not by the history of what it
        observed (``False``: the history, always).
    :param every_point: with ``reduce``, hash the state at points with one option too (as the explorer
        did before it hashed branching points only: for comparisons).
    :param on_run: called as each run starts, with the runs and the states stored so far (for progress).
    :param freeze_every: every so many runs, move the state store out of the cyclic garbage collector's
        sight (:class:`_Freezer`; ``None``: never).  It changes no result, only the time.
    :param then: the options allowed at the program choice after ``prefix`` (empty: every one).
    :return: the result (``programs`` counts those starting with ``prefix``).
    """
    g = alphabet or grammar(design.tag)
    por = por and reduce
    bnd = Bound.of(bound)
    result = Bounded(design.name, bnd.events, spec=str(bnd))
    memo: dict[object, _Sub] = {}
    #: each distinct (paths, outcome counts) once: four states in five share theirs with another (the store
    #: never changes what it holds)
    counts: dict[tuple[object, ...], dict[str, int]] = {}
    pool = UniversePool()
    freezer = _Freezer(freeze_every)

    def dfs(choices: list[int], sleep: frozenset[str], seen: tuple[tuple[int, int] | None, ...] = (),
            picked: Sequence[int] = ()) -> tuple[_Sub, bool | None]:
        if result.runs >= max_runs:
            raise _Budget
        run = _Run(g, bnd, prefix, choices, memo if reduce else None, sleep, por, boundary, frames,
                   every_point, then, seen, picked)
        result.runs += 1
        freezer.tick(result.runs)
        if on_run is not None:
            on_run(result.runs, len(memo))
        cnt: int
        viol: _Viol
        outs: dict[str, int]
        try:
            # no property reads a trace: the runs that report a counterexample replay it with one (below)
            r = _run(design, run, pool, max_steps, traced=False)
            plen = free_events(run.program)
            viol = {p: (plen, 0, None, f) for p, f in _evaluate(r).items()}
            cnt, outs = 1, {r.outcome.value: 1, **dict.fromkeys(viol, 1)}
        except _Stop as stop:
            cnt, viol, outs = memo[stop.key]
        except _Asleep:
            cnt, viol, outs = 0, {}, {}
        for d in range(len(run.path) - 1, -1, -1):
            pt = run.path[d]
            base = [*choices, *(q.chosen for q in run.path[:d])]
            total = cnt
            vs: _Viol = {p: (k, n + 1, (pt.chosen, suf), f) for p, (k, n, suf, f) in viol.items()}
            all_outs = dict(outs)
            # actors whose step from here was explored and wrote nothing: asleep in the siblings
            done_ro = {pt.names[pt.chosen]} if por and pt.kind == "s" and pt.wrote is False else set()
            for c in range(pt.n):
                if c == pt.chosen or (pt.kind == "s" and pt.names and pt.names[c] in pt.sleep):
                    continue
                asleep = pt.sleep | done_ro if pt.kind == "s" else _NOBODY
                (ccnt, cviol, couts), wrote = dfs([*base, c], asleep, pt.seen, run.steps)
                if por and pt.kind == "s" and wrote is False:
                    done_ro.add(pt.names[c])
                total += ccnt
                for o, k in couts.items():
                    all_outs[o] = all_outs.get(o, 0) + k
                for p, (k, n, suf, f) in cviol.items():
                    if p not in vs or (k, n + 1) < (vs[p][0], vs[p][1]):
                        vs[p] = (k, n + 1, (c, suf), f)
            cnt, viol, outs = total, vs, all_outs
            if reduce and pt.key is not None:
                outs = counts.setdefault((cnt, *sorted(outs.items())), outs)
                memo[pt.key] = (cnt, viol or _NO_VIOLATION, outs)
        return (cnt, viol, outs), run.first_wrote

    try:
        (cnt, viol, outs), _w = dfs([], _NOBODY)
        result.paths = cnt
        result.outcomes = dict(sorted((o, k) for o, k in outs.items() if o not in PROPERTY_CHECKS))
        result.violating = {p: outs[p] for p in PROPERTY_CHECKS if p in outs}
        result.states = len({k[0] if isinstance(k, tuple) else k for k in memo}) if por else len(memo)
        for p in PROPERTY_CHECKS:
            if p in viol:
                suf = _unroll(viol[p][2])
                r = _run(design, _Run(g, bnd, prefix, suf, None, then=then), UniversePool(), max_steps)
                f = violation(p, r)
                if f is None:  # the explorer and a replay disagree: a bug in the model, never hidden
                    raise RuntimeError(f"{design.name}/{p}: choices {suf} did not replay")
                result.violations[p] = (program_from_json(r.program), r.schedule, f)
    except _Budget:
        result.complete = False
    finally:
        freezer.close()
    result.programs = count_programs(g, bnd, prefix, then)
    return result


def split(bound: int | Bound, depth: int = 2, tag: str = "master") -> list[tuple[int, ...]]:
    """Split the programs of up to ``bound`` free events by their first ``depth`` choices, one task per
    prefix (the explorer's workers use :func:`split_tasks`).

    The split depends only on the grammar and the bound, never on the worker count, so the
    merged result is the same whatever runs the tasks.

    :param bound: K.
    :param depth: how many program choices a prefix fixes.
    :param tag: the QEMU tag whose grammar it splits.
    :return: the prefixes, in the order the search would visit them.
    """
    g = grammar(tag)
    b = Bound.of(bound)
    out: list[tuple[int, ...]] = []

    def walk(prefix: tuple[int, ...], pos: _Pos) -> None:
        if len(prefix) == depth:
            out.append(prefix)
            return
        for i, e in enumerate(_options(g, b, pos)):
            if e is None:
                out.append((*prefix, i))
            else:
                walk((*prefix, i), _advance(pos, e))

    walk((), (0, 0, 0))
    return out


def split_tasks(bound: int | Bound, depth: int = 2, tag: str = "master", alphabet: Grammar | None = None
                ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Split the programs of up to ``bound`` free events into tasks by their first ``depth`` choices, the
    foreground events of each choice together.

    At each of the first ``depth`` program choices, a skeleton event (``object_init``...) or a background
    event (:func:`~migration.model.alphabet.leaves_actor`) is a task of its own, split further by the
    next choice until ``depth``; the foreground events and the end of the program are one task.  A
    foreground event leaves no actor running, so the worlds after two of them are often the same world,
    which one store explores once: on ``proposed-singleton-keepalive`` at ``2+10/0`` the 16 foreground
    events after ``object_init`` took 81,344 states as 16 tasks and 19,862 as one.  The background events
    stay apart: a thread left running keeps their subtrees apart, and they hold most of the work.

    The split depends only on the grammar and the bound, never on the worker count, so the merged result
    is the same whatever runs the tasks.

    :param bound: K.
    :param depth: how many program choices a task's prefix may fix.
    :param tag: the QEMU tag whose grammar it splits.
    :param alphabet: a grammar to split instead of the tag's (smaller ones, for cross-checks).
    :return: ``(prefix, then)`` per task (:class:`Task`), in the order the search would visit them.
    """
    g = alphabet or grammar(tag)
    b = Bound.of(bound)
    out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def walk(prefix: tuple[int, ...], pos: _Pos) -> None:
        together: list[int] = []
        at = 0  # the group's place: its first member's
        for i, e in enumerate(_options(g, b, pos)):
            if e is not None and (e.kind in SKELETON or leaves_actor(e)):
                if len(prefix) + 1 < depth:
                    walk((*prefix, i), _advance(pos, e))
                else:
                    out.append(((*prefix, i), ()))
                continue
            if not together:
                at = len(out)
                out.append((prefix, ()))
            together.append(i)
        if together:
            out[at] = ((*prefix, together[0]), ()) if len(together) == 1 else (prefix, tuple(together))

    walk((), (0, 0, 0))
    return out


def run_task(task: Task) -> Bounded:
    """:param task: a task of :func:`split_tasks` (or of :func:`split`).
    :return: its exploration (a plain, picklable value: workers return it to the client)."""
    return explore_bounded(task.design, task.bound, reduce=task.reduce, por=task.por, prefix=task.prefix,
                           max_runs=task.max_runs, boundary=task.boundary, frames=task.frames, then=task.then)


def merge(design: str, bound: int | Bound, parts: Sequence[Bounded]) -> Bounded:
    """Merge task results, in task order (so the merge never depends on who ran what).

    :param design: the design's name.
    :param bound: K.
    :param parts: the tasks' results, in :func:`split` order.
    :return: the whole exploration; per property the violation with the fewest program events, then
        the shortest schedule, then the earliest task.
    """
    whole = Bound.of(bound)
    out = Bounded(design, whole.events, spec=str(whole))
    for b in parts:
        out.programs += b.programs
        out.states += b.states
        out.runs += b.runs
        out.paths += b.paths
        out.complete = out.complete and b.complete
        for o, k in b.outcomes.items():
            out.outcomes[o] = out.outcomes.get(o, 0) + k
        for p, k in b.violating.items():
            out.violating[p] = out.violating.get(p, 0) + k
        for p, v in b.violations.items():
            cur = out.violations.get(p)
            if cur is None or (free_events(v[0]), len(v[1])) < (free_events(cur[0]), len(cur[1])):
                out.violations[p] = v
    out.outcomes = dict(sorted(out.outcomes.items()))
    out.violating = {p: out.violating[p] for p in PROPERTY_CHECKS if p in out.violating}
    out.violations = {p: out.violations[p] for p in PROPERTY_CHECKS if p in out.violations}
    return out
