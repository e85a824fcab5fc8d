"""The model's runtime: actors, locks, the world they share, and the scheduler.

An actor is a Python generator.  Each ``yield`` hands the scheduler a :class:`Pending`
(the actor's next atomic step and, if it cannot run yet, why); the code between two
yields runs atomically.  A schedule is a list of choices, each an index into the
actors that can run, so a run replays exactly.  Choices past the end of the schedule
default to 0 (the oldest runnable actor).

Actors (their names are what traces show):

- ``main``: the main thread; holds the BQL except inside ``pause_all_vcpus()``, around the
  poll of a ``main_loop_wait()`` and inside the cleanup BH's join window.
- ``T_mig``: the outgoing migration thread (``migration_thread``).
- main-loop actors, run on the main thread with its BQL while ``main`` polls their
  AioContext (:attr:`Actor.ctx`), one at a time: ``bh:cleanup`` (the migration cleanup BH,
  ``qemu_aio_context``), ``bh:qmp-dispatch`` (``do_qmp_dispatch_bh``, ``iohandler_ctx``) and
  ``co:incoming`` (the incoming load coroutine, ``iohandler_ctx``).  Nested polls
  (``AIO_WAIT_WHILE``, ``aio_poll``) keep the BQL: no other thread can take it meanwhile.
- ``mon_iothread``: the monitor I/O thread running a client's out-of-band command, without
  the BQL, until ``monitor_cleanup()`` stops it (``iothread_stop``).
- ``dirtyrate-stat``: the thread of ``system/dirtylimit.c``, without the BQL, until exit.

The functions here run at every step of every schedule, so they carry
``@typeguard_ignore``: typeguard's per-call checks made exhaustive enumeration about 50
times slower.  mypy ``--strict`` still checks them; the public entry points that take
outside input (:func:`migration.model.run_program`, :func:`migration.check.check_cell`)
stay checked at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from typeguard import typeguard_ignore

from migration.model.framekey import Opaque, actor_state, mutable_seen, name_by
from migration.model.heap import Crash, HeapObj, Lock, LockState, MemState, MigStatus
from migration.model.outcomes import Fault, Outcome, TraceStep
from migration.model.program import Event
from migration.model.results import IntrospectionRecord

if TYPE_CHECKING:
    from migration.model.designs import Design
    from qom.object import Object
    from qom.universe import Universe

__all__ = ["Actor", "Block", "ChooseFn", "Pending", "Steps", "World", "run_world"]

T = TypeVar("T")


@dataclass(frozen=True)
class Block:
    """Why an actor cannot take its next step: a reason and whom it waits for."""

    reason: str
    waits_on: str | None  #: an actor name, ``"peer"`` (an unresponsive peer) or ``None``


@dataclass
class Pending:
    """An actor's next atomic step."""

    action: str
    blocker: Callable[[], Block | None]

    @typeguard_ignore
    def __str__(self) -> str:
        return f"Pending({self.action})"


Steps = Generator[Pending, None, T]


@typeguard_ignore
def _never() -> None:
    return None


@dataclass
class Actor:
    """A thread, bottom half or coroutine of the model."""

    name: str
    main_loop: bool = False
    gen: Generator[Pending, None, None] | None = None
    pending: Pending | None = None
    done: bool = False
    history: int = 0  #: rolling hash of what the actor observed (its local state, for state hashing)
    context: list[str] = field(default_factory=list)  #: "creation", "helper", "introspection", ...
    ctx: str = ""  #: a main-loop actor's AioContext: ``qemu_aio_context`` or ``iohandler_ctx``
    funcs: list[str] = field(default_factory=list)  #: the QEMU functions it is inside (``file:function``)
    started: bool = False  #: it has taken its first step
    by: str = ""  #: the actor whose step created it ("" before the first step)
    moves: int = 0  #: how many times its generator ran (its first advance included)
    kept: tuple[int, int] | None = None  #: its frames' key, and ``moves`` when it was read

    @typeguard_ignore
    def __str__(self) -> str:
        state = "done" if self.done else (self.pending.action if self.pending else "new")
        return f"Actor({self.name}: {state})"


name_by(Actor, lambda a: ("actor", a.name))


class World:
    """Everything one run shares: the QOM universe, the heap, globals, locks and actors.

    :param design: the design whose knobs the code follows.
    :param universe: a fresh QOM universe with ``migration`` registered.
    :param traced: keep the trace (:attr:`trace`) and the QEMU function each step stands for.  The
        explorer's runs do not (``False``): no property reads a trace, and the run that reports a
        counterexample replays it traced.  Without it, :attr:`trace` stays empty and :attr:`steps` still
        counts the steps, so every fault names the same step either way.
    """

    @typeguard_ignore
    def __init__(self, design: Design, universe: Universe, *, traced: bool = True) -> None:
        self.design = design
        self.traced = traced
        self.steps = 0  #: the steps recorded so far (the trace's length when traced)
        self.last_obj = ""  #: the object of the last step recorded
        self.universe = universe
        self.heap: dict[str, HeapObj] = {}
        self.qom: dict[str, Object] = {}
        self.label_of: dict[int, str] = {}
        self.finalizing: set[str] = set()
        self.pointers: dict[str, str | None] = {"current_migration": None, "global_migration": None}
        self.real: str | None = None  #: the instance migration_object_init created
        self.bql = Lock("BQL", LockState.HELD, "main")
        self.ptr_mutex = Lock("migration_ptr_mutex")
        self.rcu_readers: set[str] = set()
        self.rcu_deferred: list[str] = []
        self.rcu_waiting: dict[str, frozenset[str]] = {}  #: a call_rcu callback -> readers it waits for
        self.actors: list[Actor] = []
        self.polling: frozenset[str] = frozenset()  #: the AioContexts main is dispatching
        self.file_shutdown: set[str] = set()  #: objects whose outgoing file qemu_file_shutdown() shut
        self.iothread_stopped = False  #: monitor_cleanup() ran iothread_stop(mon_iothread)
        #: main_loop_should_exit() said yes: no main_loop_wait() and no in-band QMP dispatch from here
        self.main_loop_exited = False
        #: vcpu_dirty_rate_stat_stop() cleared ``vcpu_dirty_rate_stat->running``: dirtyrate-stat stops
        self.dirtyrate_stopped = False
        #: multifd_send_terminate_threads() ran: the multifd send threads leave their loop
        self.multifd_exiting = False
        self.ml_owner: str | None = None
        self.peer_blocked: set[str] = set()
        self.trace: list[TraceStep] = []
        self.faults: list[Fault] = []
        self.introspection: list[IntrospectionRecord] = []
        self.impure: list[Fault] = []
        self.creation_faults: list[Fault] = []
        self.helper_faults: list[Fault] = []
        self.current: Actor | None = None
        self.counter = 0
        self.spawned_thread = False
        self.shutdown = False  #: migration_shutdown() has run
        self.qom_dirty = False  #: a crash unwound through QOM code: the universe may be inconsistent
        self._second_reported = False

    # -- bookkeeping ---------------------------------------------------------------------------

    @typeguard_ignore
    def __repr__(self) -> str:
        ptrs = ", ".join(f"{k}={v}" for k, v in self.pointers.items())
        return f"World({self.design.name}: {ptrs}, heap={[str(h) for h in self.heap.values()]})"

    @property
    @typeguard_ignore
    def actor(self) -> Actor:
        """:return: the actor taking the current step."""
        if self.current is None:
            raise RuntimeError("no actor is running")
        return self.current

    @typeguard_ignore
    def refcount(self, label: str | None) -> int | None:
        """:param label: a heap label.
        :return: QOM's refcount of that object (0 once finalized), or ``None``.
        """
        if label is None or label not in self.qom:
            return None
        return self.qom[label].ref

    @typeguard_ignore
    def record(self, action: str, obj: str = "", note: str = "", observed: object = None,
               function: str | None = None) -> int:
        """Append a trace step for the current actor and fold what it observed into its history.

        :param function: the QEMU function the step stands for (default: the actor's innermost).
        :return: the step's index.
        """
        a = self.actor
        idx = self.steps
        self.steps = idx + 1
        self.last_obj = obj
        if self.traced:
            fn = function if function is not None else (a.funcs[-1] if a.funcs else "")
            rc = self.refcount(obj) if obj else None
            self.trace.append(TraceStep(idx, a.name, action, obj, rc, note, fn))
        a.history = hash((a.history, action, obj, repr(observed)))
        return idx

    @typeguard_ignore
    def fault(self, outcome: Outcome, obj: str, detail: str) -> Fault:
        """Make a fault at the current step (not yet recorded).

        :return: the fault.
        """
        actor = self.current.name if self.current else "scheduler"
        return Fault(outcome, max(self.steps - 1, 0), actor, obj, detail)

    @typeguard_ignore
    def note_fault(self, f: Fault) -> None:
        """Record a non-fatal fault, classifying it by the current actor's context."""
        self.faults.append(f)
        self._classify(f)

    @typeguard_ignore
    def _classify(self, f: Fault) -> None:
        ctx = self.current.context if self.current else []
        if "helper" in ctx:
            self.helper_faults.append(f)
        if "creation" in ctx and f.outcome in (Outcome.ASSERT, Outcome.UAF, Outcome.NULL_DEREF):
            self.creation_faults.append(f)
        if "introspection" in ctx and f.outcome in (Outcome.ASSERT, Outcome.UAF, Outcome.NULL_DEREF):
            self.impure.append(f)

    @typeguard_ignore
    def crashed(self, f: Fault) -> None:
        """Record the fatal fault that ended the run."""
        self.faults.append(f)
        self._classify(f)

    @typeguard_ignore
    def local_state(self, a: Actor, frames: bool = True) -> object:
        """:param a: a live actor.
        :param frames: read the actor's state from its suspended frames
            (:func:`~migration.model.framekey.actor_state`) where they show all of it.
        :return: the actor's local state: a hash of its frames, or else of the history of what it observed
            (a hash, as the history has always been: a collision of two 64-bit hashes in one exploration
            is the risk every explicit-state checker that compacts its states takes).
        """
        if frames and a is not self.current:
            kept = a.kept
            if kept is not None and kept[0] == a.moves:
                return kept[1]  # it has not moved since: the same frames, the same variables
            try:
                # hashed, as the history is: the frames' tuples are large, and the memo keeps one per state
                key = hash(("frames", actor_state(a, self)))
            except Opaque:
                return a.history
            if not mutable_seen():
                a.kept = (a.moves, key)
            return key
        return a.history

    @typeguard_ignore
    def state_key(self, logs: Callable[[World], object] | None = None, frames: bool = False
                  ) -> tuple[object, ...]:
        """:param logs: a summary of the world's logs (its faults and introspection answers) that decides
            the same verdicts as the logs themselves (default: the logs, whole).
        :param frames: key each actor by its frames where they show its whole state (:meth:`local_state`).
        :return: a hashable summary of everything that determines the rest of the run.

        The logs are written, never read, by the run, so two worlds that differ only in their logs take
        the same steps from here on; a summary that every verdict on the finished run depends on only
        through it (:func:`migration.check.properties.log_key`) merges them without changing any result.
        """
        return (
            # a finished actor never steps again: only its name (for unique_name) and that it is done
            tuple((a.name, True) if a.done else
                  (a.name, False, a.pending.action if a.pending else None, self.local_state(a, frames),
                   tuple(a.context), a.started) for a in self.actors),
            *self._machine_key(),
            self.logs_key() if logs is None else logs(self),
        )

    @typeguard_ignore
    def boundary_key(self, logs: Callable[[World], object], frames: bool = False) -> tuple[object, ...]:
        """:meth:`state_key` at an event boundary: where ``main`` picks its next event.

        It leaves out what no later step reads, so that worlds that differ only there merge:

        1. ``main``'s pending step.  ``main`` is inside a step when it picks an event, and its next
           ``yield`` replaces that step before anything (a blocker, the scheduler) reads it.
        2. The ``#N`` suffixes of finished actors: a finished actor never steps again, and the model
           reads a finished actor only by its base name (``actor_named`` of ``T_mig``,
           ``co:incoming``, ``dirtyrate-stat``; the prefix tests of ``mon_iothread``); the suffix
           only decides the suffix of the next actor of that name, which no step compares.
        3. When ``main`` is the only actor left, freed heap objects that nothing names (no pointer,
           ``real``, finalize, RCU or file-shutdown list, and no actor's locals: ``main`` has none at an
           event boundary), and the labels of the rest, which become their rank in creation order.
           A freed object nobody names cannot be reached again; a label is a name, and every
           property compares labels only with each other (the counter that makes the next label is
           not in :meth:`state_key` either).

        ``tests/test_migration_bounded.py`` checks that this key finds what the full key finds on
        every preset, and that a world where one of these parts *is* read later is still told apart.

        :param logs: as for :meth:`state_key`.
        :param frames: as for :meth:`state_key`.
        :return: the key.
        """
        actors = self.actors
        finished = frozenset(a.name.partition("#")[0] for a in actors if a.done)
        live = tuple((a.name, None if a.name == "main" else (a.pending.action if a.pending else None),
                      self.local_state(a, frames), tuple(a.context), a.started) for a in actors if not a.done)
        if len(live) != 1:
            return (live, finished, *self._machine_key(), logs(self))
        named = {v for v in self.pointers.values() if v is not None}
        named.update(self.finalizing, self.rcu_deferred, self.file_shutdown)
        if self.real is not None:
            named.add(self.real)
        keep = sorted((lbl for lbl, h in self.heap.items() if h.mem is not MemState.FREED or lbl in named),
                      key=_creation_order)
        rank = {lbl: f"o{i}" for i, lbl in enumerate(keep)}
        heap = tuple((rank[lbl], *self.heap[lbl].key()[1:], self.refcount(lbl)) for lbl in keep)
        return (
            live, finished, heap,
            tuple((p, None if v is None else rank[v]) for p, v in sorted(self.pointers.items())),
            None if self.real is None else rank[self.real],
            tuple(sorted(rank[lbl] for lbl in self.finalizing)),
            (self.bql.state, self.bql.owner, self.ptr_mutex.state, self.ptr_mutex.owner),
            tuple(sorted(self.rcu_readers)), tuple(rank[lbl] for lbl in self.rcu_deferred), self.polling,
            self.ml_owner, tuple(sorted(rank[lbl] for lbl in self.file_shutdown)), self.iothread_stopped,
            self.main_loop_exited, self.dirtyrate_stopped, self.multifd_exiting,
            self.universe.live_instances("migration"),
            logs(self),
        )

    @typeguard_ignore
    def logs_key(self) -> tuple[object, ...]:
        """:return: the world's logs, whole: faults, introspection answers, and the faults per context."""
        return (
            tuple((f.outcome, f.actor, f.obj, f.detail) for f in self.faults),
            tuple((r.command, r.phase, r.ok, r.props, r.error) for r in self.introspection),
            tuple((f.outcome, f.detail) for f in self.impure + self.creation_faults + self.helper_faults),
        )

    @typeguard_ignore
    def shared_key(self, acting: Actor | None) -> tuple[object, ...]:
        """What a step can change that another actor can observe (the partial-order reduction's view).

        Two successive states whose shared keys are equal differ only in the local state (program
        counter, history, context) of the actor that stepped: that step wrote nothing another actor
        can read, so it commutes with every other step that wrote nothing either.

        :param acting: the actor that took the step (its own pending step and history are local;
            another actor's are not: a step that changes them is a write).
        :return: a hashable summary: :meth:`state_key`'s shared part, every actor's name and whether
            it is done, the other actors' pending steps, and the world's flags and counters.
        """
        return (
            tuple((a.name, a.done) if a is acting else (a.name, a.done, id(a.pending), id(a.gen))
                  for a in self.actors),
            *self._machine_key(), self.logs_key(),
            self.counter, self.spawned_thread, self.shutdown, self.qom_dirty, self._second_reported,
            len(self.label_of), tuple(sorted(self.peer_blocked)),
            self.universe.next_serial, len(self.universe.objects),
        )

    @typeguard_ignore
    def _machine_key(self) -> tuple[object, ...]:
        return (
            tuple((*h.key(), self.refcount(lbl)) for lbl, h in sorted(self.heap.items())),
            tuple(sorted(self.pointers.items(), key=lambda kv: kv[0])),
            self.real, tuple(sorted(self.finalizing)),
            (self.bql.state, self.bql.owner, self.ptr_mutex.state, self.ptr_mutex.owner),
            tuple(sorted(self.rcu_readers)), tuple(self.rcu_deferred), self.polling, self.ml_owner,
            tuple(sorted(self.file_shutdown)), self.iothread_stopped, self.main_loop_exited,
            self.dirtyrate_stopped, self.multifd_exiting,
            tuple(sorted(self.rcu_waiting.items())) if self.rcu_waiting else (),
            self.universe.live_instances("migration"),
        )

    # -- heap access -----------------------------------------------------------------------------

    @typeguard_ignore
    def obj(self, label: str) -> HeapObj:
        """:return: the heap object with that label."""
        return self.heap[label]

    @typeguard_ignore
    def read(self, label: str | None, what: str) -> Generator[Pending, None, HeapObj]:
        """One step: dereference ``label`` to read ``what``.

        :raise Crash: NULL_DEREF on a NULL pointer, UAF on freed memory.
        """
        yield Pending(f"read {what}", _never)
        if label is None:
            self.record(f"read {what}", "NULL")
            raise Crash(self.fault(Outcome.NULL_DEREF, "NULL", f"{what}: NULL pointer dereference"))
        h = self.heap[label]
        self.record(f"read {what}", label, observed=(h.status, h.to_dst_file, h.thread, h.mem))
        h.check_access(what, self.steps - 1, self.actor.name)
        return h

    @typeguard_ignore
    def write(self, label: str, what: str, fn: Callable[[HeapObj], None]) -> Generator[Pending, None, None]:
        """One step: write a field of ``label``.

        :raise Crash: UAF on freed memory.
        """
        yield Pending(f"write {what}", _never)
        h = self.heap[label]
        self.record(f"write {what}", label)
        h.check_access(what, self.steps - 1, self.actor.name)
        fn(h)

    @typeguard_ignore
    def load(self, pointer: str) -> Generator[Pending, None, str | None]:
        """One step: load a global pointer.

        :return: the label it points to, or ``None``.
        """
        yield Pending(f"load {pointer}", _never)
        val = self.pointers[pointer]
        self.record(f"load {pointer}", val or "", note=f"-> {val or 'NULL'}", observed=val)
        return val

    @typeguard_ignore
    def store(self, pointer: str, val: str | None, why: str = "") -> None:
        """Set a global pointer inside the current step (no scheduling point)."""
        self.pointers[pointer] = val
        self.record(f"{pointer} = {val or 'NULL'}", val or "", note=why)

    @typeguard_ignore
    def step(self, action: str, obj: str = "", note: str = "") -> Generator[Pending, None, None]:
        """A plain atomic step with no effect but the trace."""
        yield Pending(action, _never)
        self.record(action, obj, note)

    # -- locks -------------------------------------------------------------------------------------

    @typeguard_ignore
    def lock(self, lk: Lock, obj: str = "") -> Generator[Pending, None, None]:
        """Lock ``lk`` (blocking while another actor holds it; a self-deadlock if we do).

        :raise Crash: UAF when the lock was destroyed (``mutex->initialized`` assertion).
        """
        me = self.thread_name()

        def blocker() -> Block | None:
            if lk.state is LockState.HELD:
                return Block(f"waits for {lk.name} held by {lk.owner}", lk.owner)
            return None

        yield Pending(f"lock {lk.name}", blocker)
        self.record(f"lock {lk.name}", obj)
        if lk.state is LockState.DESTROYED:
            raise Crash(self.fault(Outcome.UAF, obj or lk.name,
                                   f"qemu_mutex_lock({lk.name}) on a destroyed lock "
                                   "(mutex->initialized assertion)"))
        lk.state, lk.owner = LockState.HELD, me

    @typeguard_ignore
    def unlock(self, lk: Lock, obj: str = "") -> Generator[Pending, None, None]:
        """Unlock ``lk``.

        :raise Crash: UAF when the lock was destroyed meanwhile.
        """
        yield Pending(f"unlock {lk.name}", _never)
        self.record(f"unlock {lk.name}", obj)
        if lk.state is LockState.DESTROYED:
            raise Crash(self.fault(Outcome.UAF, obj or lk.name,
                                   f"qemu_mutex_unlock({lk.name}) on a destroyed lock"))
        lk.state, lk.owner = LockState.FREE, None

    @typeguard_ignore
    def thread_name(self) -> str:
        """:return: the thread the current actor runs on (``main`` for main-loop actors)."""
        return "main" if self.actor.main_loop else self.actor.name

    @typeguard_ignore
    def ensure_bql(self) -> Generator[Pending, None, bool]:
        """Take the BQL unless this thread holds it.

        :return: whether it was taken here (and must be released by the caller).
        """
        held_by_me = self.bql.owner == ("main" if self.actor.main_loop else self.actor.name)
        if held_by_me or (self.actor.main_loop and self.bql.owner == self.actor.name):
            return False
        yield from self.lock(self.bql)
        return True

    @typeguard_ignore
    def rcu_read_lock(self) -> Generator[Pending, None, None]:
        """Enter an RCU read section."""
        yield Pending("rcu_read_lock", _never)
        self.record("rcu_read_lock")
        self.rcu_readers.add(self.actor.name)

    @typeguard_ignore
    def rcu_read_unlock(self) -> Generator[Pending, None, None]:
        """Leave an RCU read section; the last reader out ends the grace period."""
        yield Pending("rcu_read_unlock", _never)
        self.record("rcu_read_unlock")
        me = self.actor.name
        self.rcu_readers.discard(me)
        for cb, readers in self.rcu_waiting.items():
            if me in readers:
                self.rcu_waiting[cb] = readers - {me}
        if not self.rcu_readers:
            for label in self.rcu_deferred:
                self.heap[label].mem = MemState.FREED
            self.rcu_deferred.clear()

    @typeguard_ignore
    def ml_enter(self, what: str) -> Generator[Pending, None, None]:
        """A main-loop actor starts a segment: ``main`` dispatches it from a poll of the actor's
        AioContext, holding the BQL (it took it back before dispatching)."""
        yield Pending(what, _never)
        self.ml_owner = self.actor.name
        self.record(what, note=f"dispatched by main from {self.actor.ctx}")

    @typeguard_ignore
    def ml_exit(self) -> None:
        """A main-loop actor's segment ends (it finished or yielded): the poll goes on."""
        self.ml_owner = None

    @typeguard_ignore
    def block_on_peer(self, what: str, unblocked: Callable[[], bool] = lambda: False
                      ) -> Generator[Pending, None, None]:
        """Block until ``unblocked()`` (the write fails), or forever: the peer never answers."""
        name = self.actor.name
        self.peer_blocked.add(name)

        def blocker() -> Block | None:
            return None if unblocked() else Block(f"{what}: the peer never answers", "peer")

        yield Pending(what, blocker)
        self.peer_blocked.discard(name)

    @typeguard_ignore
    def wait_for(self, actor_name: str, what: str) -> Generator[Pending, None, None]:
        """Block until actor ``actor_name`` has finished (a join, or a scenario's ordering)."""

        def blocker() -> Block | None:
            for a in self.actors:
                if a.name == actor_name and not a.done:
                    return Block(f"{what}: waits for {actor_name}", actor_name)
            return None

        yield Pending(what, blocker)
        self.record(what, note=f"{actor_name} finished")

    # -- actors ----------------------------------------------------------------------------------

    @typeguard_ignore
    def spawn(self, name: str, body: Callable[[World, Actor], Generator[Pending, None, None]], *,
              main_loop: bool = False, ctx: str = "qemu_aio_context") -> Actor:
        """Create an actor; it takes its first step when the scheduler picks it.

        :param ctx: a main-loop actor's AioContext.
        """
        a = Actor(name=name, main_loop=main_loop, ctx=ctx if main_loop else "",
                  by=self.current.name if self.current else "")
        a.history = _spawn_history(name, body, self.current)
        a.gen = body(self, a)
        self.actors.append(a)
        return a

    @typeguard_ignore
    def unique_name(self, base: str) -> str:
        """:return: ``base``, or ``base#N`` when an actor of that name exists already."""
        names = {a.name for a in self.actors}
        if base not in names:
            return base
        n = 2
        while f"{base}#{n}" in names:
            n += 1
        return f"{base}#{n}"

    @typeguard_ignore
    def actor_named(self, name: str) -> Actor | None:
        """:return: the actor with that name, or ``None``."""
        for a in self.actors:
            if a.name == name:
                return a
        return None

    @typeguard_ignore
    def check_second_instance(self) -> None:
        """Record SECOND_INSTANCE the first time two live ``migration`` objects exist."""
        if not self._second_reported and self.universe.live_instances("migration") > 1:
            self._second_reported = True
            labels = [lbl for lbl, h in self.heap.items() if h.mem is MemState.LIVE]
            self.note_fault(self.fault(Outcome.SECOND_INSTANCE, ",".join(labels),
                                       f"{len(labels)} live migration instances"))

    @typeguard_ignore
    def truth_running(self) -> bool:
        """:return: whether a migration really is in progress (the real object is live and active)."""
        if self.real is None:
            return False
        h = self.heap[self.real]
        return h.mem is MemState.LIVE and h.status in (MigStatus.ACTIVE, MigStatus.CANCELLING)

    @typeguard_ignore
    def truth_has_file(self) -> bool:
        """:return: whether the real object is live and has an outgoing file an error must reach."""
        if self.real is None:
            return False
        h = self.heap[self.real]
        return h.mem is MemState.LIVE and h.to_dst_file


@typeguard_ignore
def _creation_order(label: str) -> tuple[int, str]:
    """:return: a sort key putting heap labels (``mig#N``) in the order they were made."""
    _, _, n = label.rpartition("#")
    return (int(n), label) if n.isdigit() else (0, label)


def _is_value(v: object) -> bool:
    if v is None or type(v) in (str, int, bool, Event):
        return True
    return type(v) is tuple and all(_is_value(x) for x in v)


@typeguard_ignore
def _spawn_history(name: str, body: Callable[..., object], creator: Actor | None) -> int:
    """The local state a new actor starts with, for state hashing.

    A body closes over what its creator passed it (the ``migrate`` event with its parameters, the
    object label, the helper a BH will call): that is the actor's local state before its first
    step, so it goes into the history, or two worlds whose actors were created with different
    parameters would be merged.  When the body holds anything but plain values, the creator's whole
    history stands in for it (never merged wrongly, merged less).

    :param name: the actor's name.
    :param body: its body.
    :param creator: the actor whose step creates it (``None`` before the first step).
    :return: the initial history.
    """
    cells = getattr(body, "__closure__", None) or ()
    captured = tuple(c.cell_contents for c in cells)
    if getattr(body, "__self__", None) is None and _is_value(captured):
        return hash(("spawned", name, getattr(body, "__qualname__", ""), captured))
    return hash(("spawned by", creator.name if creator else "", creator.history if creator else 0))


@typeguard_ignore
def _enabled(world: World) -> list[Actor]:
    out = []
    for a in world.actors:
        if a.done or a.pending is None:
            continue
        if a.main_loop and (a.ctx not in world.polling or world.ml_owner not in (None, a.name)):
            continue
        if a.pending.blocker() is None:
            out.append(a)
    return out


@typeguard_ignore
def _prime(world: World) -> None:
    """Advance new actors to their first pending step (creation itself is not a step)."""
    for a in world.actors:
        if a.pending is None and not a.done and a.gen is not None:
            world.current = a
            try:
                a.moves += 1
                a.pending = next(a.gen)
            except StopIteration:
                a.done = True
            finally:
                world.current = None


@typeguard_ignore
def _stuck_fault(world: World) -> Fault:
    main = world.actor_named("main")
    waits: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    for a in world.actors:
        if a.done or a.pending is None:
            continue
        b = a.pending.blocker()
        if a.main_loop and a.ctx not in world.polling:
            b = Block(f"main is not polling {a.ctx}", "main")
        if b is not None:
            waits[a.name] = b.waits_on
            reasons[a.name] = b.reason
    # follow main's wait chain
    seen: list[str] = []
    cur: str | None = "main"
    peer = False
    while cur is not None and cur not in seen:
        seen.append(cur)
        nxt = waits.get(cur)
        if nxt == "peer":
            peer = True
            break
        cur = nxt
    detail = "; ".join(f"{n} {reasons[n]}" for n in seen if n in reasons)
    outcome = Outcome.HANG if peer else Outcome.DEADLOCK
    step = max(world.steps - 1, 0)
    obj = world.real or ""
    return Fault(outcome, step, main.name if main else "main", obj, detail or "no actor can run")


ChooseFn = Callable[[int, list[Actor], World], int]


@typeguard_ignore
def run_world(world: World, choose: ChooseFn, max_steps: int = 400,
              replayed: Callable[[World], Actor | None] | None = None) -> None:
    """Run the world's actors until ``main`` finishes (the process exits), a crash, or a stall.

    :param world: a world whose ``main`` actor has been spawned.
    :param choose: ``choose(step_no, enabled, world) -> index`` picks the next actor.
    :param max_steps: a bound on scheduler steps; exceeding it is a HANG.
    :param replayed: ``replayed(world)`` names the actor of a step an earlier run took from this very
        state (``None``: ask ``choose``): that step needs neither the enabled actors nor a choice.
    """
    steps = 0
    while True:
        _prime(world)
        main = world.actor_named("main")
        if main is None or main.done:
            return
        a = replayed(world) if replayed is not None else None
        if a is None:
            enabled = _enabled(world)
            if not enabled:
                f = _stuck_fault(world)
                world.faults.append(f)
                return
            if steps >= max_steps:
                world.faults.append(Fault(Outcome.HANG, world.steps, "main", world.real or "",
                                          f"no end after {max_steps} steps"))
                return
            a = enabled[choose(steps, enabled, world)]
        steps += 1
        world.current = a
        a.started = True
        a.moves += 1
        try:
            if a.gen is None:
                raise RuntimeError(f"{a} has no body")
            a.pending = a.gen.send(None)
        except StopIteration:
            a.done = True
            a.pending = None
            if a.main_loop and world.ml_owner == a.name:
                world.ml_exit()
        except Crash as crash:
            world.crashed(crash.fault)
            return
        finally:
            world.current = None


@typeguard_ignore
def replay_choices(schedule: Sequence[int]) -> ChooseFn:
    """:param schedule: explicit choices; past its end, choose 0; out-of-range choices wrap.
    :return: a chooser following it.
    """

    @typeguard_ignore
    def choose(step: int, enabled: list[Actor], world: World) -> int:
        if step < len(schedule):
            return schedule[step] % len(enabled)
        return 0

    return choose
