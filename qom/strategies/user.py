"""A state machine over the user's own QOM types: :func:`user_types_machine`.

Give it the function that registers your types (as your ``type_init`` would); it draws programs of
``object_new``, ``object_ref``/``object_unref``, children, ``object_unparent``, links and property
writes and reads over instances of them, and checks after every step what QOM promises whatever
the types do: reference counts follow the references the program took (owned, parent, strong
links), an object is finalized exactly when they reach zero, a failing property write changes no
tree and no refcount, a written scalar reads back, and every use of a finalized object is a
sanitizer fatal.  One concept, one module: the rules and their reference-count model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule

import qom
from qom.errors import QOMError, QOMFatal
from qom.object import Object, ObjectState
from qom.property import ObjectProperty
from qom.strategies.hierarchies import values_for
from qom.strategies.machine import UAF_ENTRY_POINTS
from qom.tree import ObjectPropertyLinkFlags
from qom.types import object_class_is_abstract, type_initialize
from qom.universe import Universe, use_universe
from qom.visitor import JSON

__all__ = ["UserTypesMachine", "user_types_machine"]

_SCALARS = ("bool", "string", "str", "size", *(f"{s}int{n}" for s in ("", "u") for n in (8, 16, 32, 64)))
_NAMES = ("k0", "k1", "k2")


def _enum_values(prop: ObjectProperty) -> tuple[str, ...]:
    lookup = getattr(prop.opaque, "lookup", None)
    if lookup is None:
        lookup = getattr(getattr(prop.opaque, "info", None), "enum_values", None)
    return tuple(lookup) if lookup else ()


@dataclass
class _Held:
    obj: Object
    base: int  # the refcount right after creation (instance_init may take references)
    owned: int = 1
    parent: Object | None = None
    strong_in: int = 0  # strong links the program pointed at it
    finalized: bool = False
    links: dict[str, Object | None] = field(default_factory=dict)


class UserTypesMachine(RuleBasedStateMachine):
    """The machine; :func:`user_types_machine` makes a subclass for your types.

    Class attributes: ``register`` (registers the types into the current universe), ``types``
    (the type names to instantiate; empty: every concrete type ``register`` added), ``roundtrip``
    (check that a written scalar reads back unchanged).
    """

    register: Callable[[], object] = staticmethod(lambda: None)
    types: tuple[str, ...] = ()
    roundtrip: bool = True
    objects = Bundle("user_objects")

    def __init__(self) -> None:
        super().__init__()
        self.universe = Universe()  # -machine none: devices can be realized
        self.held: dict[int, _Held] = {}
        self.names: tuple[str, ...] = ()
        self.baseline = 0

    @initialize()
    def setup(self) -> None:
        """Register the types in a fresh universe and note what lives before the program."""
        with use_universe(self.universe):
            before = set(self.universe.types)
            type(self).register()
            qom.object_get_root()
        added = [n for n in self.universe.types if n not in before]
        names = self.types or tuple(
            n for n in added if not object_class_is_abstract(type_initialize(self.universe.types[n]))
        )
        if not names:
            raise ValueError("user_types_machine: register() added no concrete type to instantiate")
        self.names = tuple(names)
        self.baseline = self.universe.live_instances()

    # -- the model ----------------------------------------------------------------------------

    def _h(self, obj: Object) -> _Held:
        return self.held[id(obj)]

    def _live(self) -> list[_Held]:
        return [h for h in self.held.values() if not h.finalized]

    def _expected(self, h: _Held) -> int:
        return h.base + h.owned - 1 + (h.parent is not None) + h.strong_in

    def _settle(self) -> None:
        """Take in what finalized (the program cannot tell QOM's cascades in advance), then
        check each of those had no reference left the program knows of."""
        gone = [h for h in self.held.values() if not h.finalized and h.obj.state is ObjectState.FINALIZED]
        for h in gone:
            h.finalized = True
            for target in h.links.values():  # its strong links were released
                if target is not None and id(target) in self.held:
                    self._h(target).strong_in -= 1
            h.links.clear()
            for c in self.held.values():  # its child<> properties were released
                if c.parent is h.obj:
                    c.parent = None
        for h in gone:
            if self._expected(h) != 0:
                raise AssertionError(f"{h.obj!r} was finalized with {self._expected(h)} references left")

    # -- rules ----------------------------------------------------------------------------------

    @rule(target=objects, data=st.data())
    def new(self, data: st.DataObject) -> Object:
        """``object_new(T)`` for one of the types."""
        name = data.draw(st.sampled_from(self.names), label="type")
        with use_universe(self.universe):
            obj = qom.object_new(name)
        self.held[id(obj)] = _Held(obj, obj.ref)
        return obj

    @precondition(lambda self: bool(self._live()))
    @rule(obj=objects)
    def ref(self, obj: Object) -> None:
        """``object_ref``."""
        h = self._h(obj)
        if not h.finalized:
            qom.object_ref(obj)
            h.owned += 1

    @precondition(lambda self: bool(self._live()))
    @rule(obj=objects)
    def unref(self, obj: Object) -> None:
        """``object_unref`` of a reference the program owns."""
        h = self._h(obj)
        if not h.finalized and h.owned:
            qom.object_unref(obj)
            h.owned -= 1
            self._settle()

    @precondition(lambda self: bool(self._live()))
    @rule(parent=objects, child=objects, name=st.sampled_from(_NAMES))
    def add_child(self, parent: Object, child: Object, name: str) -> None:
        """``object_property_try_add_child``; a duplicate name is an error that changes nothing."""
        ph, ch = self._h(parent), self._h(child)
        if ph.finalized or ch.finalized or ch.parent is not None or child.parent is not None:
            return
        p: Object | None = parent
        while p is not None:  # no cycles
            if p is child:
                return
            p = p.parent
        before = self.universe.snapshot()
        try:
            qom.object_property_try_add_child(parent, name, child)
        except QOMError:
            if self.universe.snapshot() != before:
                raise AssertionError("a failed object_property_try_add_child changed the universe") from None
            return
        ch.parent = parent

    @precondition(lambda self: bool(self._live()))
    @rule(obj=objects, name=st.sampled_from(("u0", "u1", "u2")))
    def attach(self, obj: Object, name: str) -> None:
        """Add an object without a parent under ``/objects`` (it then has a path, links can point at it)."""
        h = self._h(obj)
        if h.finalized or h.parent is not None or obj.parent is not None:
            return
        with use_universe(self.universe):
            root = qom.object_get_objects_root()
        if qom.object_property_find(root, name) is None:
            qom.object_property_add_child(root, name, obj)
            h.parent = root

    @precondition(lambda self: bool(self._live()))
    @rule(obj=objects)
    def unparent(self, obj: Object) -> None:
        """``object_unparent`` of a child the program added."""
        h = self._h(obj)
        if not h.finalized and h.parent is not None:
            qom.object_unparent(obj)
            h.parent = None
            self._settle()

    @precondition(lambda self: bool(self._live()))
    @rule(holder=objects, dest=objects, name=st.sampled_from(_NAMES), strong=st.booleans())
    def link(self, holder: Object, dest: Object, name: str, strong: bool) -> None:
        """Add a ``link<object>`` (``STRONG`` or not) and point it at ``dest`` when it has a path."""
        h, t = self._h(holder), self._h(dest)
        if h.finalized or t.finalized or qom.object_property_find(holder, f"l-{name}") is not None:
            return
        attr = f"_qs_link_{name}"
        setattr(holder, attr, None)
        flags = ObjectPropertyLinkFlags.STRONG if strong else ObjectPropertyLinkFlags.NONE
        allow = qom.object_property_allow_set_link
        qom.object_property_add_link(holder, f"l-{name}", "object", attr, allow, flags)
        if strong and qom.object_get_canonical_path(dest) is not None:
            qom.object_property_set_link(holder, f"l-{name}", dest)
            h.links[f"l-{name}"] = dest
            t.strong_in += 1

    @precondition(lambda self: bool(self._live()))
    @rule(obj=objects, data=st.data())
    def set_property(self, obj: Object, data: st.DataObject) -> None:
        """Write a writable scalar or enum property; a refused value changes no tree or refcount."""
        h = self._h(obj)
        if h.finalized:
            return
        props = sorted(
            (p for p in qom.object_property_iter(obj) if p.set is not None
             and (p.type in _SCALARS or _enum_values(p))),
            key=lambda p: p.name,
        )
        if not props:
            return
        prop = data.draw(st.sampled_from(props), label="property")
        value: JSON = data.draw(values_for(prop.type, _enum_values(prop)), label="value")
        before = self.universe.snapshot()
        try:
            qom.object_property_set(obj, prop.name, value)
        except QOMError:
            after = self.universe.snapshot()
            if (after.tree, after.refcounts) != (before.tree, before.refcounts):
                raise AssertionError(f"refused write {prop.name}={value!r} changed the universe") from None
            return
        for other in self._live():  # e.g. realized=true put a parentless device in /machine/unattached
            other.parent = other.obj.parent
        if self.roundtrip and prop.get is not None and prop.type in _SCALARS:
            got = qom.object_property_get(obj, prop.name)
            if got != value:
                raise AssertionError(f"{prop.name}: wrote {value!r}, read {got!r}")

    @precondition(lambda self: any(h.finalized for h in self.held.values()))
    @rule(obj=objects, data=st.data())
    def use_after_finalize(self, obj: Object, data: st.DataObject) -> None:
        """Touch a finalized object: the sanitizer reports it, naming the entry point."""
        h = self._h(obj)
        if not h.finalized:
            return
        op, call = data.draw(st.sampled_from(UAF_ENTRY_POINTS), label="entry point")
        with use_universe(self.universe):
            try:
                call(obj)
            except QOMFatal as exc:
                if not exc.message.startswith(f"heap-use-after-free: {op}() on object "):
                    raise AssertionError(f"unexpected fatal: {exc.message}") from exc
            else:
                raise AssertionError(f"{op} on a finalized object was not caught")

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def refcounts_follow_the_program(self) -> None:
        """Every live object has the references the program gave it; finalized ones stay so."""
        for h in self.held.values():
            if h.finalized:
                if h.obj.state is not ObjectState.FINALIZED:
                    raise AssertionError(f"{h.obj!r} came back to life")
            elif h.obj.ref != self._expected(h) or h.obj.state is not ObjectState.LIVE:
                raise AssertionError(f"{h.obj!r}: ref {h.obj.ref}, the program holds {self._expected(h)}")

    def teardown(self) -> None:
        """Drop every link, child and owned reference: nothing the program made may stay live."""
        if not self.names:
            return  # setup failed: its error is the report
        with use_universe(self.universe):
            for h in self._live():
                for name in list(h.links):
                    if not h.finalized:
                        qom.object_property_set(h.obj, name, "")
                        target = h.links.pop(name)
                        if target is not None:
                            self._h(target).strong_in -= 1
                        self._settle()
            for h in self._live():
                if not h.finalized and h.parent is not None:
                    qom.object_unparent(h.obj)
                    h.parent = None
                    self._settle()
            for h in self._live():
                while not h.finalized and h.owned:
                    qom.object_unref(h.obj)
                    h.owned -= 1
                    self._settle()
        left = [h.obj for h in self.held.values() if not h.finalized]
        if left or self.universe.live_instances() != self.baseline:
            raise AssertionError(f"live after teardown: {left} ({self.universe.live_instances()} objects)")


def user_types_machine(
    register: Callable[[], object], types: Sequence[str] = (), *, roundtrip: bool = True
) -> type[UserTypesMachine]:
    """Make a state machine over the types ``register`` registers.

    :param register: registers the types (``type_register_static`` calls) into the current universe.
    :param types: the type names to instantiate (default: every concrete type ``register`` added).
    :param roundtrip: check that a written scalar property reads back unchanged.
    :return: a :class:`UserTypesMachine` subclass; ``TestMyTypes = machine.TestCase`` runs it
        under pytest, :func:`hypothesis.stateful.run_state_machine_as_test` anywhere.
    """
    if not callable(register):
        raise TypeError("register must be callable")
    names = tuple(types)
    if not all(isinstance(n, str) for n in names):
        raise TypeError("types must be type names")
    return type(
        "UserTypesMachine", (UserTypesMachine,),
        {"register": staticmethod(register), "types": names, "roundtrip": bool(roundtrip)},
    )
