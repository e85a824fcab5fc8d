"""An actor's local state, read from its suspended generator frames.

An actor is a chain of suspended generators (``body`` -> ``qemu`` -> a model function -> an
effect -> :class:`~migration.model.runtime.World`'s step).  What it does from here depends on the
world and on that chain alone: per frame, its code, where it stopped (``f_lasti``) and its
variables.  Two worlds whose actors agree on those take the same steps from here on, so the state
key (:meth:`~migration.model.runtime.World.state_key`) can use them instead of the actor's history
of everything it ever observed -- which tells apart actors that reached the same point by
different ways.

Two things make that exact, or else the key falls back to the history (never merged wrongly,
merged less):

- *Nothing but variables is live across a yield.*  A frame suspended inside an expression or a
  ``for`` loop keeps values on its evaluation stack (the loop's iterator, a half-built call), which
  Python does not show.  :func:`clean_yields` finds, from the bytecode, the yields where the stack
  holds only what the yield itself needs; a frame stopped anywhere else is :class:`Opaque`.
- *Only a live variable can change what the frame does.*  A variable that every path from the yield
  overwrites before it reads it (exception handlers, which a ``throw()`` may enter, included) is dead
  there: :func:`live_variables` finds them from the bytecode, and the key leaves them out, so that two
  frames that differ only in a value they will never read again merge.  A cell or a free variable is
  always live (another function may read it).
- *Every variable's value is described by value, or by the name it has in the world.*  Plain
  values, tuples, lists, sets and dicts of them, :class:`~migration.program.Event`; a heap object by
  its label, a lock by its name, an actor by its name, a QOM object by its heap label; a function by
  its code and the values it closes over; a generator by its own frames.  The world itself and the
  run's driver stand for themselves (one per run).  Anything else is :class:`Opaque`: an address is
  never a key, since another run may reuse it for another object.
"""

from __future__ import annotations

import dis
import types
import weakref
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from typeguard import typeguard_ignore

from migration.model.heap import HeapObj, Lock
from migration.model.program import Event

if TYPE_CHECKING:
    from migration.model.runtime import Actor, World

__all__ = ["Opaque", "actor_state", "clean_yields", "live_variables", "mutable_seen", "name_by"]

_UNCONDITIONAL = frozenset({"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP",
                            "JUMP_NO_INTERRUPT", "RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS",
                            "RERAISE"})
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_PLAIN = (type(None), bool, int, str, float)
_DEPTH = 8  #: how deep a value may nest before it counts as opaque


class Opaque(Exception):
    """The actor holds something its frames do not show, or a value the key cannot name."""


_CLEAN: dict[types.CodeType, frozenset[int]] = {}

#: a suspended frame's key, kept while the frame stays suspended in the same ``yield from``: a frame
#: resumes only once its inner generator has finished, and the next call makes a new one, so the
#: same inner generator means the same variables -- unless a variable is a container another actor
#: could change (such frames are never kept)
#: (the inner generator is held weakly too: it reaches the world, which reaches the outer one)
_KEPT: weakref.WeakKeyDictionary[types.GeneratorType[object, object, object],
                                 tuple[weakref.ref[object], int, object]] = weakref.WeakKeyDictionary()
_mutable = False  #: the value just keyed holds a list, set or dict


def clean_yields(code: types.CodeType) -> frozenset[int]:
    """The offsets of ``code``'s yields at which a suspended frame keeps nothing on its stack but
    what the yield needs: the yielded value, and for ``yield from`` the inner iterator.

    The stack depth before each instruction follows from the bytecode (:func:`dis.stack_effect`
    along every jump; CPython requires every path to agree), counted from the generator's first
    ``RESUME``.  Exception handlers are not followed, so a yield inside one is never clean.

    :param code: a generator function's code.
    :return: the clean offsets (``f_lasti`` of a frame suspended there).
    """
    found = _CLEAN.get(code)
    if found is not None:
        return found
    ins = list(dis.get_instructions(code))
    index = {i.offset: n for n, i in enumerate(ins)}
    depth: dict[int, int] = {0: 0}
    todo = [0]
    base: int | None = None
    yields: dict[int, tuple[int, bool]] = {}
    while todo:
        n = todo.pop()
        i = ins[n]
        d = depth[i.offset]
        if i.opname == "RESUME" and i.arg == 0:
            base = d
        if i.opname == "YIELD_VALUE":
            yields[i.offset] = (d, n > 0 and ins[n - 1].opname == "SEND")
        nexts: list[tuple[int, int]] = []
        if i.opcode in _JUMPS:
            nexts.append((int(i.argval), dis.stack_effect(i.opcode, i.arg, jump=True)))
        if i.opname not in _UNCONDITIONAL and n + 1 < len(ins):
            arg = i.arg if i.opcode >= dis.HAVE_ARGUMENT else None
            nexts.append((ins[n + 1].offset, dis.stack_effect(i.opcode, arg, jump=False)))
        for off, eff in nexts:
            if off not in depth:
                depth[off] = d + eff
                todo.append(index[off])
    found = frozenset(off for off, (d, sub) in yields.items()
                      if base is not None and d - base == (2 if sub else 1))
    _CLEAN[code] = found
    return found


_LIVE: dict[types.CodeType, dict[int, tuple[str, ...]]] = {}
#: the instruction that overwrites a local variable without reading it; every other instruction that names
#: one (a ``*FAST*`` instruction, whose argument is a name or a tuple of names) counts as reading it, which
#: can only keep more: ``DELETE_FAST`` reads whether it is bound (it raises when not), and later Pythons'
#: ``LOAD_FAST_AND_CLEAR``, ``STORE_FAST_LOAD_FAST``... are kept whole
_WRITES = frozenset({"STORE_FAST"})


def _fast_names(i: dis.Instruction) -> frozenset[str]:
    v = i.argval
    return frozenset(v) if isinstance(v, tuple) else frozenset([v]) if isinstance(v, str) else frozenset()


def live_variables(code: types.CodeType) -> dict[int, tuple[str, ...]]:
    """The variables of ``code`` that are live at each of its yields: read on some path from there before
    anything overwrites them.

    A backward data-flow over the bytecode: the successors of an instruction are the next one (unless it
    jumps, returns or raises for good), its jump target, and the handler of every exception-table entry
    that covers it (a yield's too: ``throw()`` enters the handler from the yield).  A read is a
    ``LOAD_FAST`` (or any other ``*FAST*`` instruction but a store: a ``DELETE_FAST`` reads whether the
    variable is bound); a definition is a ``STORE_FAST``.  Cells and free variables are always live.  A
    variable's being bound is part of the key (an unbound one is left out), so a live variable is told
    apart from an unbound one.

    :param code: a generator function's code.
    :return: the offset of each ``YIELD_VALUE`` (``f_lasti`` of a frame suspended there) -> the names live
        once it resumes, in the order of :func:`_names`.
    """
    found = _LIVE.get(code)
    if found is not None:
        return found
    ins = list(dis.get_instructions(code))
    index = {i.offset: n for n, i in enumerate(ins)}
    # the exception table (Python 3.11 on; typeshed does not list the attribute)
    handlers: list[Any] = dis.Bytecode(code).exception_entries  # type: ignore[attr-defined]
    succ: list[list[int]] = [[] for _ in ins]
    use: list[frozenset[str]] = []
    kill: list[frozenset[str]] = []
    for n, i in enumerate(ins):
        if i.opcode in _JUMPS:
            succ[n].append(index[int(i.argval)])
        if i.opname not in _UNCONDITIONAL and n + 1 < len(ins):
            succ[n].append(n + 1)
        succ[n].extend(index[e.target] for e in handlers if e.start <= i.offset < e.end)
        names = _fast_names(i) if "FAST" in i.opname else frozenset()
        kill.append(names if i.opname in _WRITES else frozenset())
        use.append(frozenset() if i.opname in _WRITES else names)
    live_in: list[frozenset[str]] = [frozenset()] * len(ins)

    def live_out(n: int) -> frozenset[str]:
        return frozenset().union(*(live_in[s] for s in succ[n]))

    changed = True
    while changed:
        changed = False
        for n in range(len(ins) - 1, -1, -1):
            new = use[n] | (live_out(n) - kill[n])
            if new != live_in[n]:
                live_in[n] = new
                changed = True
    always = frozenset(code.co_cellvars) | frozenset(code.co_freevars)
    found = {}
    for n, i in enumerate(ins):
        if i.opname == "YIELD_VALUE":
            live = live_out(n) | always
            found[i.offset] = tuple(k for k in _names(code) if k in live)
    _LIVE[code] = found
    return found


@typeguard_ignore  # at every state key; mypy checks it
def actor_state(a: Actor, w: World) -> tuple[object, ...]:
    """:param a: a live actor of ``w``.
    :param w: the world.
    :return: the actor's frames, innermost last: per frame its code, offset and live variables.
    :raise Opaque: when a frame or a variable cannot be described exactly.
    """
    global _mutable
    _mutable = False
    out: list[object] = []
    g: object = a.gen
    while g is not None:
        if not isinstance(g, types.GeneratorType):
            raise Opaque(type(g).__name__)
        out.append(_frame(g, w, 0))
        g = g.gi_yieldfrom
    return tuple(out)


_UNBOUND = object()
_NAMES: dict[types.CodeType, tuple[str, ...]] = {}


def _names(code: types.CodeType) -> tuple[str, ...]:
    """:return: ``code``'s variables, its cells' and its free variables, in that order."""
    names = _NAMES.get(code)
    if names is None:
        names = _NAMES[code] = tuple(dict.fromkeys((*code.co_varnames, *code.co_cellvars, *code.co_freevars)))
    return names


@typeguard_ignore
def _frame(g: types.GeneratorType[object, object, object], w: World, depth: int) -> object:
    f = g.gi_frame
    if f is None:
        return ("done", g.gi_code)
    if g.gi_running:
        raise Opaque("running")  # the actor taking the current step: its state is not settled
    if not g.gi_suspended:  # created, not started: its variables are its arguments
        lasti = -1
        names = _names(g.gi_code)
    else:
        lasti = f.f_lasti
        if lasti not in clean_yields(g.gi_code):
            c = g.gi_code
            raise Opaque(f"{c.co_filename.rpartition('/')[2]}:{c.co_firstlineno}:{c.co_name}@{lasti}")
        names = live_variables(g.gi_code)[lasti]  # a dead variable cannot change what the frame does
    inner = g.gi_yieldfrom
    if inner is not None:
        kept = _KEPT.get(g)
        if kept is not None and kept[0]() is inner and kept[1] == lasti:
            return kept[2]
    global _mutable
    was, _mutable = _mutable, False
    loc = f.f_locals
    # in the code's order of its variables: the frame's dict keeps the order in which its variables were
    # first seen bound by a read of f_locals, which depends on when earlier keys were read
    key = (g.gi_code, lasti,
           tuple((k, "<inner>" if v is inner and v is not None else _value(v, w, depth + 1))
                 for k in names if (v := loc.get(k, _UNBOUND)) is not _UNBOUND))
    if inner is not None and not _mutable:
        _KEPT[g] = (weakref.ref(inner), lasti, key)
    _mutable = _mutable or was
    return key


_ATOMS: set[type] = {type(None), bool, int, str, float, Event}  #: keyed as themselves (and enums)


@typeguard_ignore
def _value(v: object, w: World, depth: int) -> object:
    t = type(v)
    if t in _ATOMS:
        return v
    if depth > _DEPTH:
        raise Opaque("too deep")
    how = _BY_TYPE.get(t)
    if how is not None:
        return how(v, w, depth + 1)
    if isinstance(v, Enum):
        _ATOMS.add(t)
        return v
    if v is w or v is w.universe or v is w.design:
        return t.__name__  # one per run (the design: one per exploration)
    label = w.label_of.get(id(v))
    if label is not None and w.qom.get(label) is v:
        return ("qom", label)
    if getattr(v, "__qomsim_run__", False):
        return t.__name__  # the run's driver: one per run, like the world
    raise Opaque(t.__name__)


def mutable_seen() -> bool:
    """:return: whether the last :func:`actor_state` met a list, set or dict (which another actor
        could change while this one stays still)."""
    return _mutable


def _mutable_seen() -> None:
    global _mutable
    _mutable = True


@typeguard_ignore
def _list(v: list[object], w: World, depth: int) -> object:
    _mutable_seen()
    return ("list", tuple(_value(x, w, depth) for x in v))


@typeguard_ignore
def _set(v: set[object], w: World, depth: int) -> object:
    _mutable_seen()
    return ("set", frozenset(_value(x, w, depth) for x in v))


@typeguard_ignore
def _dict(v: dict[object, object], w: World, depth: int) -> object:
    _mutable_seen()
    return ("dict", tuple((_value(k, w, depth), _value(x, w, depth)) for k, x in v.items()))


@typeguard_ignore
def _function(fn: types.FunctionType, w: World, depth: int) -> object:
    cells = tuple(_cell(c, w, depth) for c in fn.__closure__ or ())
    return ("fn", fn.__code__, cells, _value(fn.__defaults__, w, depth))


_BY_TYPE: dict[type, Callable[[Any, World, int], object]] = {
    tuple: lambda v, w, d: tuple(_value(x, w, d) for x in v),
    frozenset: lambda v, w, d: ("set", frozenset(_value(x, w, d) for x in v)),
    list: _list,
    set: _set,
    dict: _dict,
    HeapObj: lambda v, w, d: ("heap", v.label),
    Lock: lambda v, w, d: ("lock", v.name),
    types.FunctionType: _function,
    types.MethodType: lambda v, w, d: ("method", v.__func__, _value(v.__self__, w, d)),
    types.GeneratorType: lambda v, w, d: ("gen", _chain(v, w, d)),
}


def name_by(t: type, how: Callable[[Any], object]) -> None:
    """Key every value of type ``t`` by ``how(value)``: a name it has in the world, one per run.

    :param t: a type whose values actors hold (:class:`~migration.model.runtime.Actor`).
    :param how: its name (``("actor", a.name)``).
    """
    _BY_TYPE[t] = lambda v, w, d: how(v)


@typeguard_ignore
def _cell(c: types.CellType, w: World, depth: int) -> object:
    try:
        return _value(c.cell_contents, w, depth + 1)
    except ValueError:  # an empty cell
        return "<empty>"


@typeguard_ignore
def _chain(g: types.GeneratorType[object, object, object], w: World, depth: int) -> tuple[object, ...]:
    out: list[object] = []
    cur: object = g
    while cur is not None:
        if not isinstance(cur, types.GeneratorType):
            raise Opaque(type(cur).__name__)
        out.append(_frame(cur, w, depth))
        cur = cur.gi_yieldfrom
    return tuple(out)
