"""An actor's state read from its suspended frames (migration/model/framekey.py): what it sees, what
it refuses to see, and that the explorer finds with it exactly what it finds with histories."""

from __future__ import annotations

import dis
import importlib
import inspect
import pkgutil
import types
import weakref
from collections.abc import Callable, Generator, Iterator

import pytest
from fresh_interpreter import call_fresh

from migration import model
from migration.check.bounded import Bound, Bounded, Grammar, _Run, explore_bounded
from migration.model import framekey
from migration.model.designs import DESIGNS, derive
from migration.model.effects import read, step
from migration.model.framekey import Opaque, actor_state, clean_yields
from migration.model.heap import HeapObj
from migration.model.program import ev
from migration.model.qomtype import MigrationUniverse
from migration.model.runtime import Actor, Pending, World


def _yields(fn: object) -> list[int]:
    code = fn.__code__  # type: ignore[attr-defined]
    return [i.offset for i in dis.get_instructions(code) if i.opname == "YIELD_VALUE"]


def _inner() -> Iterator[int]:
    yield 1


def _plain(x: int) -> Generator[int, int, None]:
    y = yield x
    yield y


def _returns() -> Generator[int, None, int]:
    yield 1
    return 2


def _delegates() -> Generator[int, None, int]:
    return (yield from _returns())


def _in_a_loop() -> Iterator[int]:
    for _ in range(2):
        yield from _inner()


def _in_an_expression() -> Iterator[int]:
    print(len([(yield 1)]))


def test_a_yield_is_clean_when_the_stack_holds_only_what_the_yield_needs() -> None:
    assert clean_yields(_plain.__code__) == frozenset(_yields(_plain))
    assert clean_yields(_delegates.__code__) == frozenset(_yields(_delegates))
    assert len(_yields(_plain)) == 2 and len(_yields(_delegates)) == 1


def test_a_yield_inside_a_for_loop_or_an_expression_is_not_clean() -> None:
    # the loop's iterator, a half-built call: on the stack, where no frame attribute shows them
    assert len(_yields(_in_a_loop)) == 1 and clean_yields(_in_a_loop.__code__) == frozenset()
    assert clean_yields(_in_an_expression.__code__) == frozenset()


def _world() -> World:
    d = DESIGNS["qemu-10.0"]
    return World(d, MigrationUniverse(d).universe)


def _actor(w: World, gen: Generator[Pending, None, None], name: str = "T") -> Actor:
    a = Actor(name=name, gen=gen)
    w.actors.append(a)
    a.pending = next(gen)
    return a


def _reader(w: World, s: str, what: str) -> Generator[Pending, None, None]:
    yield from step(w, "before")
    yield from read(w, s, what)


def _binds_late(w: World) -> Generator[Pending, None, None]:
    if w.design.name == "never":
        first = "never bound here"
    second = "bound first"
    yield from step(w, "one")
    first = "bound second"
    yield from step(w, "two")
    del first, second, w  # w too: each stays live, as the assertions below expect


def test_the_same_frames_give_the_same_key_whenever_they_were_read_before() -> None:
    # a frame's f_locals keeps its variables in the order a read first saw them bound: read before
    # ``first`` is bound, ``second`` comes first; the key follows the code's order instead
    w = _world()
    early = _actor(w, _binds_late(w), "early")
    actor_state(early, w)  # read while only ``second`` is bound
    late = _actor(w, _binds_late(w), "late")
    for a in (early, late):
        assert a.gen is not None
        w.current = a
        next(a.gen)
    w.current = None
    assert isinstance(early.gen, types.GeneratorType) and early.gen.gi_frame is not None
    assert list(early.gen.gi_frame.f_locals) == ["w", "second", "first"]
    assert actor_state(early, w) == actor_state(late, w)
    frame: tuple[object, int, tuple[tuple[str, object], ...]] = actor_state(late, w)[0]  # type: ignore[assignment]
    assert [k for k, _v in frame[2]] == ["w", "first", "second"]


def _generator_codes() -> Iterator[types.CodeType]:
    """Every generator function of the model's modules and of the bounded explorer's driver (generator
    expressions aside: they run within one step), nested functions included."""
    def nested(code: types.CodeType) -> Iterator[types.CodeType]:
        yield code
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                yield from nested(c)

    mods = [importlib.import_module(f"migration.model.{m.name}")
            for m in pkgutil.iter_modules(model.__path__)]
    funcs: list[object] = [_Run.body]
    for mod in mods:
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            funcs.extend(vars(obj).values() if isinstance(obj, type) else [obj])
    seen: set[types.CodeType] = set()
    for fn in funcs:
        fn = getattr(fn, "__wrapped__", fn)
        if isinstance(fn, types.FunctionType):
            for code in nested(fn.__code__):
                if code.co_flags & inspect.CO_GENERATOR and code.co_name != "<genexpr>" and code not in seen:
                    seen.add(code)
                    yield code


def test_every_yield_of_the_model_s_own_functions_is_clean() -> None:
    """The model's functions loop with an index, never a ``for`` around a step: every thread of the model
    is keyed by its frames, never by its history (with four such loops, qemu-10.0 at K = 2 stored 21% more
    states).  A ``for`` loop around a ``yield`` in model code fails here, with its name."""
    codes = list(_generator_codes())
    yields = {c: [i.offset for i in dis.get_instructions(c) if i.opname == "YIELD_VALUE"] for c in codes}
    unclean = {f"{c.co_filename.rpartition('/')[2]}:{c.co_qualname}@{off}"
               for c, offs in yields.items() for off in offs if off not in clean_yields(c)}
    assert len(codes) > 60 and unclean == set()


def test_actors_at_the_same_point_with_the_same_variables_have_the_same_state() -> None:
    w = _world()
    w.heap["mig#1"] = HeapObj("mig#1")
    a = _actor(w, _reader(w, "mig#1", "state"), "A")
    b = _actor(w, _reader(w, "mig#1", "state"), "B")
    c = _actor(w, _reader(w, "mig#1", "other field"), "C")
    assert actor_state(a, w) == actor_state(b, w)
    assert actor_state(a, w) != actor_state(c, w)
    # the chain, outermost first: _reader, then the effect, then World.step
    assert [f[0].co_name for f in actor_state(a, w)] == ["_reader", "step", "step"]  # type: ignore[index]


def test_a_heap_object_is_named_by_its_label_and_the_world_by_its_role() -> None:
    w = _world()
    h = HeapObj("mig#1")

    def holds(w: World, h: HeapObj) -> Generator[Pending, None, None]:
        yield from step(w, "x")
        yield from step(w, "y", h.label)

    a = _actor(w, holds(w, h))
    outer = actor_state(a, w)[0]
    assert outer[2] == (("w", "World"), ("h", ("heap", "mig#1")))  # type: ignore[index]


def test_a_value_it_cannot_name_makes_the_state_opaque() -> None:
    w = _world()

    class Thing:
        pass

    def holds(w: World, t: Thing) -> Generator[Pending, None, None]:
        yield from step(w, "x")
        yield from step(w, "y", str(t))

    a = _actor(w, holds(w, Thing()))
    with pytest.raises(Opaque, match="Thing"):
        actor_state(a, w)


def test_an_actor_stopped_in_a_for_loop_is_opaque_and_keyed_by_its_history() -> None:
    w = _world()

    def loops(w: World) -> Generator[Pending, None, None]:
        for _ in range(2):
            yield from step(w, "x")

    a = _actor(w, loops(w))
    with pytest.raises(Opaque, match="loops@"):
        actor_state(a, w)
    a.history = 1234
    assert w.local_state(a) == 1234


def _result(b: Bounded) -> tuple[object, ...]:
    return (b.paths, b.outcomes, b.violating,
            {p: ([str(e) for e in prog], sched) for p, (prog, sched, _f) in b.violations.items()})


#: a grammar where actors interleave at K = 2: the migration thread, its cleanup BH, the QMP dispatch
#: BH, the monitor I/O thread and the dirtyrate-stat thread (in a for loop: keyed by its history)
_BUSY = Grammar((), (ev("migrate"), ev("migrate", peer="blocked"), ev("query_migrate", pending=True),
                     ev("oob"), ev("dirty_limit", cap=True)), (ev("poll"),), (ev("vm_shutdown"),))


def _by_histories(name: str) -> tuple[tuple[object, ...], int]:
    """The reference: actors keyed by their histories, on :data:`_BUSY` at K = 2; its runs."""
    hist = explore_bounded(DESIGNS[name], 2, alphabet=_BUSY, frames=False)
    return _result(hist), hist.runs


@pytest.mark.parametrize("name", ["qemu-10.0", "join-at-shutdown", "mutex"])
def test_frames_are_exact_where_actors_interleave(name: str) -> None:
    # every preset at K = 1 with the whole grammar: tests/test_designs_as_code.py (against histories
    # and the full key); the reference runs in a fresh interpreter, without typeguard (half the time)
    frames = explore_bounded(DESIGNS[name], 2, alphabet=_BUSY)
    hist, runs = call_fresh("test_framekey", "_by_histories", name)
    assert _result(frames) == hist
    assert frames.runs < runs


@pytest.mark.slow
@pytest.mark.parametrize(("name", "bound"), [("qemu-10.0", "2"), ("join-at-shutdown", "2"), ("mutex", "2")])
def test_frames_are_exact_on_the_whole_grammar(name: str, bound: str) -> None:
    d = DESIGNS[name]
    hist = explore_bounded(d, Bound.parse(bound), frames=False)
    frames = explore_bounded(d, Bound.parse(bound))
    assert _result(frames) == _result(hist)
    assert frames.runs < hist.runs


def test_a_state_only_on_the_stack_is_still_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # a planted migration_shutdown whose only memory of how far it got is its for loop's iterator:
    # taken at face value (same code, offset and variables at every turn), its frames would merge the
    # turns, and the schedules of the out-of-band command still running beside them would be miscounted
    def ticks(w: World) -> Generator[Pending, None, None]:
        for _ in ("tick", "tick", "tick"):
            yield from step(w, "tick")

    d = derive(DESIGNS["qemu-10.0"], "ticks-in-shutdown", "migration_shutdown only ticks",
               functions={"migration_shutdown": ticks})
    g = Grammar((), (ev("oob", command="migrate-pause"),), (), ())
    naive = explore_bounded(d, 1, alphabet=g, reduce=False)
    good = explore_bounded(d, 1, alphabet=g)
    assert (good.paths, good.outcomes, good.violating) == (naive.paths, naive.outcomes, naive.violating)
    monkeypatch.setattr(framekey, "clean_yields", lambda code: frozenset(range(0, 1 << 16, 2)))
    bad = explore_bounded(d, 1, alphabet=g)
    assert (naive.paths, bad.paths) == (33, 27)


def _liveness(w: World, n: int) -> Generator[Pending, None, None]:
    dead = n * 2  # overwritten below before any read
    kept = n + 1  # read in the handler only: a throw() at either yield reaches it
    cell = n  # read by the closure: a cell, always live
    try:
        yield from step(w, "one")
        dead = 0
        yield from step(w, "two")
        yield from step(w, "three", str(dead))
    finally:
        str((kept, (lambda: cell)()))


def _counts_down(w: World) -> Generator[Pending, None, None]:
    n = 2
    while n > 0:
        yield from step(w, "x")
        if w.design.name == "never":
            n = 0


def _yield_offsets(code: types.CodeType) -> list[int]:
    return [i.offset for i in dis.get_instructions(code) if i.opname == "YIELD_VALUE"]


def test_a_variable_is_live_at_a_yield_when_some_path_from_there_reads_it_before_a_store() -> None:
    code = _liveness.__code__
    one, two, three = _yield_offsets(code)
    assert framekey.live_variables(code) == {one: ("w", "kept", "cell"), two: ("w", "dead", "kept", "cell"),
                                             three: ("kept", "cell")}
    # a del reads whether the variable is bound (``first`` is stored again before it: dead at "one")
    assert list(framekey.live_variables(_binds_late.__code__).values()) == [("w", "second"),
                                                                            ("w", "first", "second")]
    # a loop's back edge carries the read of its test to the yield inside it
    assert list(framekey.live_variables(_counts_down.__code__).values()) == [("w", "n")]


def test_two_frames_that_differ_only_in_a_dead_variable_have_the_same_state() -> None:
    w = _world()
    a, b = _actor(w, _liveness(w, 1), "A"), _actor(w, _liveness(w, 2), "B")
    assert actor_state(a, w) != actor_state(b, w)  # at the first yield, ``kept`` and ``cell`` differ
    same_n = _actor(w, _liveness(w, 1), "C")
    for x in (a, same_n):
        assert x.gen is not None
        w.current = x
        x.pending = next(x.gen)
    w.current = None
    # A and C started alike; ``dead`` (2 and 2) is dead at the first yield and 0 at the second in both
    assert actor_state(a, w) == actor_state(same_n, w)
    frame: tuple[object, int, tuple[tuple[str, object], ...]] = actor_state(a, w)[0]  # type: ignore[assignment]
    assert frame[2] == (("w", "World"), ("dead", 0), ("kept", 2), ("cell", 1))


def test_a_variable_taken_for_dead_when_it_is_read_later_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # the negative control of the liveness: with every variable taken for dead, frames that differ in a
    # value read later merge (the migration thread's, the monitor's), and the schedules after them are
    # miscounted: 19,245 more deadlocks on join-at-shutdown, where the histories find what the frames find
    # (test_frames_are_exact_where_actors_interleave)
    good = explore_bounded(DESIGNS["join-at-shutdown"], 2, alphabet=_BUSY)
    everything_dead: dict[types.CodeType, dict[int, tuple[str, ...]]] = {}

    def nothing_live(code: types.CodeType) -> dict[int, tuple[str, ...]]:
        return everything_dead.setdefault(code, dict.fromkeys(_yield_offsets(code), ()))

    monkeypatch.setattr(framekey, "live_variables", nothing_live)
    monkeypatch.setattr(framekey, "_KEPT", weakref.WeakKeyDictionary())
    bad = explore_bounded(DESIGNS["join-at-shutdown"], 2, alphabet=_BUSY)
    assert (good.paths, good.outcomes["DEADLOCK"]) == (564653, 58335)
    assert (bad.paths, bad.outcomes["DEADLOCK"]) == (583898, 77580)


def _seeded_and_read_again(design: str, bound: int, grammar: Grammar | None, monkeypatch: pytest.MonkeyPatch,
                           resume: Callable[[_Run, World], None] = _Run.resume
                           ) -> tuple[int, int, int, Bounded, Bounded]:
    """Explore twice: sibling runs starting with the frames keys their parent read (``_Run.resume``), each
    one checked against the frames read again; then with every sibling reading its frames itself.

    :return: the keys checked, the frames read with and without the parent's keys, both results.
    """
    from migration.model import runtime

    reads = [0]
    real_state = actor_state

    def counting(a: Actor, w: World) -> tuple[object, ...]:
        reads[0] += 1
        return real_state(a, w)

    monkeypatch.setattr(runtime, "actor_state", counting)
    checked = 0

    def checking(self: _Run, w: World) -> None:
        nonlocal checked
        resume(self, w)
        for a in w.actors:  # a replay reads no frames: every key held here is a seed
            if a.kept is not None and a.kept[0] == a.moves:
                assert a.kept[1] == hash(("frames", real_state(a, w))), a.name
                checked += 1

    monkeypatch.setattr(_Run, "resume", checking)
    seeded = explore_bounded(DESIGNS[design], bound, alphabet=grammar)
    with_seeds, reads[0] = reads[0], 0
    monkeypatch.setattr(_Run, "resume", lambda self, w: None)
    read_again = explore_bounded(DESIGNS[design], bound, alphabet=grammar)
    return checked, with_seeds, reads[0], seeded, read_again


@pytest.mark.parametrize(("design", "bound", "grammar", "counts"), [
    ("join-at-shutdown", 2, _BUSY, (3402, 1790, 3355)),
    ("mutex", 1, _BUSY, (400, 281, 360)),
])
def test_a_sibling_run_starts_with_the_frames_its_parent_read(
        design: str, bound: int, grammar: Grammar | None, counts: tuple[int, int, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a sibling run replays its parent's choices to the state the parent branched from, so the frames its
    # actors have there are those the parent's state key read: each key it starts with equals the frames
    # read again, the result is the same, and the frames are read far fewer times
    checked, with_seeds, without, seeded, read_again = _seeded_and_read_again(design, bound, grammar,
                                                                              monkeypatch)
    assert seeded.to_json() == read_again.to_json()
    assert (seeded.states, seeded.runs) == (read_again.states, read_again.runs)
    assert (checked, with_seeds, without) == counts


def test_a_sibling_run_given_keys_of_actors_that_moved_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # a resume that forgets to compare each key's move count hands an actor that stepped since the parent
    # read its frames a key of where it was before: the check above sees it
    def careless(self: _Run, w: World) -> None:
        for a, k in zip(w.actors, self.seen, strict=True):
            if k is not None:
                a.kept = (a.moves, k[1])

    with pytest.raises(AssertionError, match=r"^mon_iothread\n"):
        _seeded_and_read_again("join-at-shutdown", 2, _BUSY, monkeypatch, careless)
