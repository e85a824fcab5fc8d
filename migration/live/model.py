"""A design's migration model, run live: events arrive one by one from QMP clients.

:class:`LiveModel` is a :class:`~migration.model.runtime.World` whose main thread runs the
model's own events (:func:`migration.model.events.main_body`, the code the checkers run) as
clients ask for them, and whose actors are scheduled by the model's own scheduler loop
(:func:`migration.model.runtime.run_world`).  Between two client requests the main thread waits
(an idle step that records nothing and is never counted), so the live run is exactly the run
of the program made of the events it received, under the schedule of the actors it picked:
:meth:`LiveModel.counterexample` turns it into a file ``qomsim replay`` re-runs.

A live run has no end but ``quit``: :data:`MAX_STEPS` bounds the scheduler steps of one request
(a request whose steps never end is a HANG), finished actors are forgotten once a newer one of the
same kind exists, and the trace holds the most recent :data:`RECENT_STEPS` steps
(:class:`~migration.live.steps.RecentSteps`); so the work and the memory of a request do not grow
with the number served.  Only a model made with ``keep_run=True`` (``serve --trace``) keeps the
whole run, which :meth:`LiveModel.counterexample` needs.

The live scheduler runs the other actors (threads, bottom halves, coroutines) whenever they can,
oldest first, and the main thread only when none can: so a thread takes the BQL as soon as
``main_loop_wait()`` releases it, and a client controls the interleaving by the order in which its
requests arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import cast

from typeguard import typeguard_ignore

from migration.check.properties import PROPERTY_CHECKS, violation
from migration.check.registry import source_of
from migration.live.steps import RecentSteps
from migration.model.designs import Design
from migration.model.events import end_of_cleanup, main_body
from migration.model.heap import MemState, MigStatus
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.program import EVENT_KINDS, Event, ev
from migration.model.qomtype import MigrationUniverse
from migration.model.results import Counterexample, RunResult
from migration.model.run import run_program
from migration.model.runtime import Actor, Block, Pending, World, run_world
from qom.universe import Universe

__all__ = ["FATAL_OUTCOMES", "MAX_STEPS", "RECENT_STEPS", "LiveModel", "Verdict", "quit_events"]

#: outcomes that end the process (QEMU aborts, crashes or never gets out of its clean-up)
FATAL_OUTCOMES = frozenset({Outcome.UAF, Outcome.NULL_DEREF, Outcome.ASSERT, Outcome.DEADLOCK, Outcome.HANG})

#: the most scheduler steps one request may take (a bound, as the checkers have for a whole run)
MAX_STEPS = 100_000
#: the trace steps a live run holds when it does not keep the whole run (the fault report prints them)
RECENT_STEPS = 10_000
#: main-loop iterations run between two requests while bottom halves or coroutines are pending
MAX_POLLS = 4


class _Quiescent(Exception):
    """Raised by the live chooser: only the idle main thread could run."""


class _Bound(Exception):
    """Raised by the live chooser: one request took :data:`MAX_STEPS` steps."""


class _LiveWorld(World):
    """A world that runs indefinitely: :meth:`forget` drops finished actors a newer one replaces.

    Actors named by :meth:`unique_name` (``bh:qmp-dispatch#9750``, ``mon_iothread#12``) are numbered
    from a count per base name instead of from the actors present, so the names stay those of a
    world that forgot nothing (the replay of the run, which :func:`run_program` runs, forgets nothing).
    """

    @typeguard_ignore
    def __init__(self, design: Design, universe: Universe) -> None:
        super().__init__(design, universe)
        self._spawned: dict[str, int] = {}

    @typeguard_ignore
    def spawn(self, name: str, body: Callable[[World, Actor], Generator[Pending, None, None]], *,
              main_loop: bool = False, ctx: str = "qemu_aio_context") -> Actor:
        base = name.partition("#")[0]
        self._spawned[base] = self._spawned.get(base, 0) + 1
        return super().spawn(name, body, main_loop=main_loop, ctx=ctx)

    @typeguard_ignore
    def unique_name(self, base: str) -> str:
        # the world forgetting nothing names the n-th actor of a base ``base#n`` (the first ``base``)
        n = self._spawned.get(base, 0)
        return base if n == 0 else f"{base}#{n + 1}"

    @typeguard_ignore
    def forget(self) -> None:
        """Drop every finished actor but the newest of its base name (and ``main``).

        What the model reads of a finished actor is that it is done (a join, ``actor_named`` finding
        it or not); the newest of each base stays, since code asks for the last one by name (an
        out-of-band command runs after the previous one, ``co:incoming`` is started once).
        """
        newest: dict[str, Actor] = {}
        for a in self.actors:
            newest[a.name.partition("#")[0]] = a
        keep = set(map(id, newest.values()))
        self.actors = [a for a in self.actors if not a.done or a.name == "main" or id(a) in keep]


@typeguard_ignore
def _never_blocked() -> Block | None:
    return None


#: the main thread's step while it waits for a client's next request
_IDLE = Pending("wait for the next QMP request", _never_blocked)


def _event(kind: str, **params: str | bool | None) -> Event:
    """:return: the event, with only the parameters this model's alphabet has."""
    allowed = EVENT_KINDS[kind][0]
    return ev(kind, **{k: v for k, v in params.items() if k in allowed})


def quit_events(source: str = "qmp-quit") -> tuple[Event, ...]:
    """:param source: where the shutdown comes from (:data:`migration.model.shutdown.SHUTDOWN_SOURCES`).
    :return: QEMU's ``qemu_cleanup()`` order as the model's events (``system/runstate.c``):
        ``migration_shutdown()`` (after the main loop exits on ``source``'s request), ``vm_shutdown()``
        (the VM is stopped, as with ``-S``; no vfio device), ``monitor_cleanup()``."""
    return (_event("migration_shutdown", source=source),
            _event("vm_shutdown", handler="none", vm="stopped", vfio="none"),
            ev("monitor_cleanup"))


@dataclass(frozen=True)
class Verdict:
    """What a live event led to: ``fault`` is set when the emulated QEMU died."""

    fault: Fault | None


class LiveModel:
    """One design's world, fed by clients.

    :param design: the design whose code runs.
    :param keep_run: keep the whole run (every event, choice and trace step) so that
        :meth:`counterexample` can replay it; otherwise only the last :data:`RECENT_STEPS` trace steps
        are held and :attr:`events` and :attr:`chosen` stay empty.
    """

    def __init__(self, design: Design, *, keep_run: bool = True) -> None:
        self.design = design
        self.keep_run = keep_run
        self.mu = MigrationUniverse(design)
        self.world = _LiveWorld(design, self.mu.universe)
        self.mu.bind(self.world)
        self.steps = RecentSteps(None if keep_run else RECENT_STEPS)
        # the model's code only appends to its world's trace (it counts its steps in World.steps):
        # RecentSteps (see migration.live.steps) holds a bounded part of the run
        self.world.trace = cast("list[TraceStep]", self.steps)
        #: every event received, in order (only with ``keep_run``)
        self.events: list[Event] = []
        #: the actor chosen at each scheduler step (only with ``keep_run``)
        self.chosen: list[str] = []
        #: how many events the main thread was given
        self.received = 0
        self.fault: Fault | None = None
        self._queue: deque[Event] = deque()
        self._taken = 0  # scheduler steps of the current request
        self._closing = False
        self.quit_steps_fed = 0
        self.quit_source = "qmp-quit"
        self.main = self.world.spawn("main", self._main_body)

    def __repr__(self) -> str:
        return f"LiveModel({self.design.name}, {self.received} events, fault={self.fault})"

    @typeguard_ignore
    def _main_body(self, w: World, a: Actor) -> Generator[Pending, None, None]:
        while True:
            while not self._queue:
                if self._closing:
                    yield from end_of_cleanup(w)
                    return
                yield _IDLE
            e = self._queue.popleft()
            yield from main_body((e,), end=False)(w, a)  # the model's main thread, one event at a time

    @typeguard_ignore
    def _choose(self, step: int, enabled: list[Actor], world: World) -> int:
        idle = next((i for i, a in enumerate(enabled) if a.pending is _IDLE), None)
        if idle is not None and (self._queue or self._closing):
            return idle  # main takes the next request: no step of the program (not recorded)
        # the other threads, bottom halves and coroutines first (oldest first), the main thread last:
        # whatever can run while main works does (e.g. a thread takes the BQL main_loop_wait released)
        ready = [i for i, a in enumerate(enabled) if a.pending is not _IDLE]
        if not ready:
            raise _Quiescent
        if self._taken >= MAX_STEPS:
            raise _Bound
        self._taken += 1
        i = next((i for i in ready if enabled[i] is not self.main), ready[0])
        if self.keep_run:
            self.chosen.append(enabled[i].name)
        return i

    def feed(self, *events: Event, last: bool = False) -> Verdict:
        """Run events on the main thread, then every actor until only the idle main thread could run.

        :param events: the events, in order.
        :param last: the process exits after them (``main`` returns).
        :return: the verdict (a fatal fault ends the run: no event is taken after it).
        :raise RuntimeError: when the run has already ended.
        """
        if self.fault is not None or self.main.done:
            raise RuntimeError("the live run has ended")
        self._taken = 0  # the bound is per request: a run answering requests forever never reaches it
        self._give(*events)
        self._closing = self._closing or last
        verdict = self._run()
        if not last and self.quit_steps_fed == 0:
            # QEMU's main loop keeps iterating between two requests (main_loop_wait releases the BQL):
            # bottom halves, coroutines and threads waiting for the BQL go on, as long as they progress
            for _ in range(MAX_POLLS):
                before = self._others_progress()
                if verdict.fault is not None or before is None:
                    break
                self._give(ev("poll"))
                verdict = self._run()
                if self._others_progress() == before:
                    break
        self.world.forget()
        return verdict

    def _give(self, *events: Event) -> None:
        self._queue.extend(events)
        self.received += len(events)
        if self.keep_run:
            self.events.extend(events)

    def _others_progress(self) -> tuple[int, int] | None:
        """:return: (steps taken by actors other than main, actors done), or ``None`` when every other
            actor has finished."""
        others = [a for a in self.world.actors if a is not self.main]
        if all(a.done for a in others):
            return None
        return (self.steps.others, sum(1 for a in others if a.done))

    def _run(self) -> Verdict:
        try:
            # the chooser bounds the program steps of one request (_Bound); run_world's own bound also
            # counts the main thread's idle steps (one per event given) and must never come first
            run_world(self.world, self._choose, max_steps=2 * MAX_STEPS)
        except _Quiescent:
            return Verdict(None)
        except _Bound:
            self.fault = Fault(Outcome.HANG, len(self.world.trace), "main", self.world.real or "",
                               f"no end after {MAX_STEPS} steps of one request")
            return Verdict(self.fault)
        if not self.main.done and self.world.faults:
            self.fault = self.world.faults[-1]
        return Verdict(self.fault)

    def quit_steps(self, source: str = "qmp-quit") -> Generator[Verdict, None, None]:
        """Carry out a shutdown: QEMU's ``qemu_cleanup()`` steps (:func:`quit_events`), one per iteration;
        the last one ends the process.

        :param source: where it comes from: ``qmp-quit`` for a client's ``quit``, ``sigterm`` or
            ``sigint`` for a signal to the server (:data:`migration.model.shutdown.SHUTDOWN_SOURCES`).
        :return: the verdict of each step, as it is taken.
        """
        self.quit_source = source
        steps = quit_events(source)
        for i, e in enumerate(steps):
            if self.ended:  # the process died meanwhile (a request between two steps faulted)
                return
            self.quit_steps_fed = i + 1
            verdict = self.feed(e, last=i == len(steps) - 1)
            yield verdict
            if verdict.fault is not None:
                return

    # -- what clients can observe ------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """:return: whether the emulated process is gone (exited or died)."""
        return self.fault is not None or self.main.done

    def status(self) -> MigStatus | None:
        """:return: the migration status the real object holds (``None`` before init or once freed)."""
        real = self.world.real
        if real is None or self.world.heap[real].mem is not MemState.LIVE:
            return None
        return self.world.heap[real].status

    def oob_open(self) -> bool:
        """:return: whether the monitor I/O thread still dispatches out-of-band commands."""
        return not self.ended and not getattr(self.world, "iothread_stopped", False)

    # -- the run as a counterexample ----------------------------------------------------------

    def replayed(self, tail: tuple[Event, ...] = ()) -> RunResult:
        """Re-run the events received (plus ``tail``, which keeps the main thread alive past a fault
        that happened while it waited) under the live run's choices, with :func:`run_program`.

        :return: the run.
        :raise RuntimeError: when the run was not kept, or the replay departs from it.
        """
        if not self.keep_run:
            raise RuntimeError("the live run was not kept (serve --trace FILE keeps it)")
        names = list(self.chosen)

        @typeguard_ignore
        def choose(step: int, enabled: list[Actor], world: World) -> int:
            want = names[step] if step < len(names) else None
            for i, a in enumerate(enabled):
                if a.name == want:
                    return i
            raise RuntimeError(f"replay departs from the live run at step {step}: {want} cannot run")

        return run_program(self.design, (*self.events, *tail), (), choose=choose)

    def counterexample(self) -> Counterexample:
        """:return: the live run as a counterexample (it must have faulted).
        :raise RuntimeError: when it did not fault, was not kept, or its replay departs from it.
        """
        if self.fault is None:
            raise RuntimeError("no fault to save")
        tail: tuple[Event, ...] = ()
        if not self.main.done:  # keep main alive in the replay until the fault: what it would do next
            tail = (quit_events(self.quit_source)[self.quit_steps_fed:] if self.quit_steps_fed
                    else (ev("poll"),))
        r = self.replayed(tail)
        if r.trace != self.steps.held():
            raise RuntimeError("the replay's trace departs from the live run's")
        prop = next((p for p in PROPERTY_CHECKS if violation(p, r) == self.fault), None)
        if prop is None:
            raise RuntimeError(f"no property names the fault {self.fault}")
        source = source_of(self.design)
        return Counterexample(self.design.name, prop, None, r.program, r.schedule, self.fault, r.trace,
                              knobs=self.design.knobs(), description=self.design.description,
                              source=None if source == self.design.name else source)
