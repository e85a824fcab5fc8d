"""The QOM state machine: random programs over one fresh universe, checked against a model.

:class:`QOMStateMachine` is a :class:`~hypothesis.stateful.RuleBasedStateMachine`; it registers a
hierarchy drawn by :func:`qom.strategies.hierarchies.hierarchy_specs` and then creates, refs, unrefs,
parents, links and sets properties on its objects.  One concept, one module: the rules and the
reference-count model they are checked against cannot be split without exposing the model's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

import qom
from qom.errors import GenericError, QOMFatal
from qom.object import Object, ObjectState
from qom.singleton import TYPE_SINGLETON

# the machine builds on the hierarchy module's accessors (same package, one model of a generated object)
from qom.strategies.hierarchies import (
    HierarchySpec,
    PropertySpec,
    _add_property,
    _gen,
    hierarchy_specs,
    values_for,
)
from qom.tree import ObjectPropertyLinkFlags
from qom.types import TYPE_INTERFACE, TYPE_OBJECT
from qom.universe import EventKind, QOMEvent, SingletonPolicy, Universe, use_universe
from qom.visitor import JSON

__all__ = ["MACHINE_PROPERTY_NAMES", "MACHINE_TYPES", "UAF_ENTRY_POINTS", "QOMStateMachine"]


#: names the machine's rules pick from: generated classes and interfaces of a
#: ``hierarchy_specs(name_prefix="qs.")`` hierarchy, the builtin roots, and an unknown name
MACHINE_TYPES: tuple[str, ...] = (
    *(f"qs.c{i}" for i in range(4)),
    *(f"qs.i{i}" for i in range(3)),
    TYPE_OBJECT,
    TYPE_INTERFACE,
    TYPE_SINGLETON,
    "qs.nope",
)
#: what the ``new`` rule asks for: often a generated class, sometimes anything in MACHINE_TYPES
_MACHINE_NEW_TYPES = st.one_of(st.sampled_from(MACHINE_TYPES[:4]), st.sampled_from(MACHINE_TYPES))
#: names of children, links and properties the rules add (``type`` collides with a class property)
MACHINE_PROPERTY_NAMES: tuple[str, ...] = ("a", "b", "c", "type")


def _allow(o: Object, name: str, target: Object | None) -> None:
    return None


#: the core entry points the ``use_after_finalize`` rule calls on a finalized object, with the QEMU
#: function the sanitizer names in its report
UAF_ENTRY_POINTS: tuple[tuple[str, Callable[[Object], object]], ...] = (
    ("object_ref", qom.object_ref),
    ("object_unref", qom.object_unref),
    ("object_dynamic_cast", lambda o: qom.object_dynamic_cast(o, TYPE_OBJECT)),
    ("object_get_typename", qom.object_get_typename),
    ("object_property_get", lambda o: qom.object_property_get(o, "type")),
    ("object_property_set", lambda o: qom.object_property_set(o, "a", True)),
    ("object_property_find", lambda o: qom.object_property_find(o, "a")),
    ("object_property_try_add", lambda o: qom.object_property_add_bool(o, "a", lambda x: True, None)),
    ("object_property_del", lambda o: qom.object_property_del(o, "a")),
    ("object_property_try_add", lambda o: qom.object_property_add_link(
        o, "a", TYPE_OBJECT, "qs_uaf", _allow, ObjectPropertyLinkFlags.STRONG)),
    ("object_property_try_add_child", lambda o: qom.object_property_add_child(
        qom.object_get_root(), "uaf", o)),
    ("object_unparent", qom.object_unparent),
    ("object_get_canonical_path", qom.object_get_canonical_path),
    ("object_resolve_path_component", lambda o: qom.object_resolve_path_component(o, "a")),
    ("object_child_foreach", lambda o: qom.object_child_foreach(o, lambda c: 0)),
)


@dataclass
class _Link:
    target: Object | None
    typename: str
    strong: bool


@dataclass
class _Tracked:
    """The model of one object the machine created."""

    obj: Object
    typename: str
    owned: int = 1
    parent: Object | None = None
    child_name: str | None = None
    finalized: bool = False
    children: dict[str, Object] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    #: writable non-link properties: name -> (type, enum values, expected value)
    values: dict[str, tuple[str, tuple[str, ...], JSON]] = field(default_factory=dict)
    #: instance properties the rules added (names of added bool/string/enum, children, links)
    added: set[str] = field(default_factory=set)
    casts_checked: bool = False


class QOMStateMachine(RuleBasedStateMachine):
    """Random programs over one fresh universe, checked against a reference-count model.

    The model knows, for every object the machine created, the references the machine owns,
    its parent, its children, its links and its property values; the expected refcount is
    "owned + 1 if it has a parent + strong links pointing at it", and an object is finalized
    exactly when that reaches 0.  Subclass it to change :meth:`make_universe`.

    Run it with ``TestQOM = QOMStateMachine.TestCase`` in a test module, or with
    :func:`hypothesis.stateful.run_state_machine_as_test`.  A failing run prints as a program
    (``objects_0 = state.new(typename='qs.c0')`` ...) that replays the steps.
    """

    objects = Bundle("objects")

    def __init__(self) -> None:
        super().__init__()
        self.universe = self.make_universe()
        self.spec = HierarchySpec(())
        self.tracked: dict[int, _Tracked] = {}  # by id(obj); objects stay referenced here
        self.root_children: dict[str, Object] = {}
        self.finalize_events: dict[int, int] = {}
        self.created_events = 0
        #: per type: instances created minus finalized, as the events tell it
        self.live_by_events: dict[str, int] = {}
        #: (id(parent), child name) edges, as the CHILD_ADDED / CHILD_REMOVED events tell it
        self.child_edges: set[tuple[int, str]] = set()
        self.unsubscribe: Callable[[], None] | None = None
        self.registered = False
        self.baseline_live = 0
        #: use-after-finalize programs drawn (each caught, or the rule fails)
        self.uaf_caught = 0

    def make_universe(self) -> Universe:
        """:return: the universe this run drives (default: builtins, no machine)."""
        return Universe(machine=None)

    # -- model helpers ---------------------------------------------------------------------

    def _on_event(self, event: QOMEvent) -> None:
        if event.kind is EventKind.INSTANCE_FINALIZED and event.obj is not None:
            self.finalize_events[id(event.obj)] = self.finalize_events.get(id(event.obj), 0) + 1
            self.live_by_events[event.typename] = self.live_by_events.get(event.typename, 0) - 1
        elif event.kind is EventKind.INSTANCE_CREATED:
            self.created_events += 1
            self.live_by_events[event.typename] = self.live_by_events.get(event.typename, 0) + 1
        elif event.kind is EventKind.CHILD_ADDED and event.name is not None:
            self.child_edges.add((id(event.obj), event.name))
        elif event.kind is EventKind.CHILD_REMOVED and event.name is not None:
            self.child_edges.discard((id(event.obj), event.name))

    def _t(self, obj: Object) -> _Tracked:
        return self.tracked[id(obj)]

    def _any_live(self) -> bool:
        return any(not t.finalized for t in self.tracked.values())

    def _live(self) -> Iterator[_Tracked]:
        return (t for t in self.tracked.values() if not t.finalized)

    def _expected_ref(self, t: _Tracked) -> int:
        strong = sum(
            1 for h in self._live() for link in h.links.values() if link.strong and link.target is t.obj
        )
        return t.owned + (1 if t.parent is not None else 0) + strong

    def _finalizes_itself(self, t: _Tracked, name: str) -> bool:
        """Whether deleting strong link ``name`` of ``t`` would finalize ``t`` itself.

        ``object_property_del`` releases a property before it removes it (``qom/object.c``), so
        when the reference the link drops is what keeps ``t`` alive (a self-link, or a cycle of
        strong links and children), ``t``'s finalize releases the same link a second time and
        trips QEMU's refcount assertion.  Programs that do this crash real QEMU too; the machine
        does not draw them.
        """
        link = t.links.get(name)
        if link is None or not link.strong or link.target is None:
            return False
        removed = (id(t.obj), name)
        live = list(self._live())
        dead: set[int] = set()
        changed = True
        while changed:
            changed = False
            for h in live:
                if id(h.obj) in dead:
                    continue
                ref = h.owned + (1 if h.parent is not None and id(h.parent) not in dead else 0)
                ref += sum(
                    1
                    for g in live
                    if id(g.obj) not in dead
                    for n, lk in g.links.items()
                    if lk.strong and lk.target is h.obj and (id(g.obj), n) != removed
                )
                if ref == 0:
                    dead.add(id(h.obj))
                    changed = True
        return id(t.obj) in dead

    def _settle(self) -> None:
        """Finalize, in the model, every object whose expected refcount reached 0."""
        changed = True
        while changed:
            changed = False
            for t in list(self._live()):
                if self._expected_ref(t) == 0:
                    t.finalized = True
                    changed = True
                    for child in t.children.values():
                        ct = self._t(child)
                        ct.parent = None
                        ct.child_name = None
                    t.children.clear()
                    t.links.clear()

    def _path(self, t: _Tracked) -> str | None:
        parts: list[str] = []
        cur: _Tracked | None = t
        while cur is not None:
            if cur.parent is None or cur.child_name is None:
                return None
            parts.append(cur.child_name)
            if id(cur.parent) in self.tracked:
                cur = self._t(cur.parent)
            else:  # /objects, which the machine does not track
                return "/objects/" + "/".join(reversed(parts))
        return None

    def _is_ancestor(self, candidate: Object, obj: Object) -> bool:
        cur: Object | None = obj
        while cur is not None and id(cur) in self.tracked:
            if cur is candidate:
                return True
            cur = self._t(cur).parent
        return False

    def _prop_names(self, t: _Tracked) -> set[str]:
        return {"type", *(p.name for p in self.spec.properties_of(t.typename)), *t.added}

    def _expect_fatal(self, fn: Callable[[], object], contains: str = "") -> None:
        before = self.universe.snapshot()
        try:
            fn()
        except QOMFatal as exc:
            if contains not in exc.message:
                raise AssertionError(f"fatal message {exc.message!r} lacks {contains!r}") from exc
        else:
            raise AssertionError("expected a QOMFatal")
        if self.universe.snapshot() != before:
            raise AssertionError("a fatal call changed the universe")

    def _expect_error(
        self, fn: Callable[[], object], desc: str, cls: type[GenericError] = GenericError
    ) -> None:
        before = self.universe.snapshot()
        try:
            fn()
        except cls as exc:
            if exc.desc != desc:
                raise AssertionError(f"error {exc.desc!r}, expected {desc!r}") from exc
        else:
            raise AssertionError(f"expected {cls.__name__}: {desc}")
        if self.universe.snapshot() != before:
            raise AssertionError("a failing call changed the universe")

    # -- rules -----------------------------------------------------------------------------

    @initialize(
        spec=hierarchy_specs(
            max_classes=4, max_interfaces=3, name_prefix="qs.", builtin_interfaces=(TYPE_SINGLETON,)
        ),
        policy=st.sampled_from(SingletonPolicy),
    )
    def register(self, spec: HierarchySpec, policy: SingletonPolicy) -> None:
        """Register a random hierarchy, set the singleton policy, start counting events."""
        self.spec = spec
        self.universe.singleton_policy = policy
        with use_universe(self.universe):
            spec.register()
            qom.object_get_root()  # created lazily, with its containers: part of the baseline
        self.unsubscribe = self.universe.subscribe(self._on_event)
        self.baseline_live = self.universe.live_instances()
        self.registered = True

    @rule(
        target=objects, typename=st.one_of(st.sampled_from(MACHINE_TYPES[:4]), st.sampled_from(MACHINE_TYPES))
    )
    def new(self, typename: str) -> Any:
        """``object_new(typename)``; unknown and abstract types are fatal."""
        obj = self._new(typename)
        return multiple() if obj is None else obj

    def _live_singleton(self, typename: str) -> _Tracked | None:
        if self.spec.expected_cast(typename, TYPE_SINGLETON) is None:
            return None
        return next((t for t in self._live() if t.typename == typename), None)

    def _new(self, typename: str) -> Object | None:
        with use_universe(self.universe):
            if not self.spec.is_known(typename):
                self._expect_fatal(lambda: qom.object_new(typename), f"unknown type '{typename}'")
                return None
            if typename not in self.spec.concrete_types():
                self._expect_fatal(lambda: qom.object_new(typename), "abstract")
                return None
            existing = self._live_singleton(typename)
            if existing is not None:
                policy = self.universe.singleton_policy
                if policy is SingletonPolicy.FATAL:
                    self._expect_fatal(lambda: qom.object_new(typename))
                elif policy is SingletonPolicy.QMP_ERROR:
                    self._expect_error(
                        lambda: qom.object_new(typename),
                        f"Object type '{typename}' conflicts with an existing singleton instance",
                    )
                else:
                    if qom.object_new(typename) is not existing.obj:
                        raise AssertionError("RETURN_EXISTING did not return the live instance")
                    existing.owned += 1
                return None
            obj = qom.object_new(typename)
        chain = [n for n in self.spec.ancestors(typename) if n in self.spec]
        if _gen(obj).init_log != chain[::-1]:
            raise AssertionError(f"instance_init ran {_gen(obj).init_log}, not root to leaf {chain[::-1]}")
        self.tracked[id(obj)] = _Tracked(obj, typename)
        t = self._t(obj)
        for p in self.spec.properties_of(typename):
            t.values[p.name] = (p.type, p.enum_values, p.zero())
        return obj

    @precondition(lambda self: self._any_live())
    @rule(
        target=objects,
        parent=objects,
        typename=st.sampled_from(MACHINE_TYPES[:4]),
        name=st.sampled_from(MACHINE_PROPERTY_NAMES),
    )
    def new_child(self, parent: Object, typename: str, name: str) -> Any:
        """QEMU's usual pattern: ``object_new``, ``object_property_add_child``, ``object_unref``."""
        pt = self._t(parent)
        if pt.finalized or typename not in self.spec.concrete_types() or self._live_singleton(typename):
            return multiple()
        obj = self._new(typename)
        if obj is None:
            return multiple()
        t = self._t(obj)
        if name in self._prop_names(pt):
            self._expect_error(
                lambda: qom.object_property_try_add_child(parent, name, obj),
                f"attempt to add duplicate property '{name}' to object (type '{pt.typename}')",
            )
        else:
            qom.object_property_try_add_child(parent, name, obj)
            pt.children[name] = obj
            pt.added.add(name)
            t.parent, t.child_name = parent, name
        qom.object_unref(obj)
        t.owned -= 1
        self._settle()
        return obj

    @precondition(lambda self: self._any_live())
    @rule(obj=objects)
    def ref(self, obj: Object) -> None:
        """``object_ref(obj)`` (skipped for finalized objects)."""
        t = self._t(obj)
        if t.finalized:
            return
        if qom.object_ref(obj) is not obj:
            raise AssertionError("object_ref did not return its argument")
        t.owned += 1

    @precondition(lambda self: self._any_live())
    @rule(obj=objects)
    def unref(self, obj: Object) -> None:
        """``object_unref(obj)``, only when the machine owns a reference."""
        t = self._t(obj)
        if t.finalized or t.owned == 0:
            return
        qom.object_unref(obj)
        t.owned -= 1
        self._settle()

    @precondition(lambda self: self._any_live())
    @rule(obj=objects, name=st.sampled_from(MACHINE_PROPERTY_NAMES[:3]))
    def attach(self, obj: Object, name: str) -> None:
        """``object_property_try_add_child(/objects, name, obj)``."""
        t = self._t(obj)
        if t.finalized:
            return
        with use_universe(self.universe):
            root = qom.object_get_objects_root()
            if t.parent is not None:
                self._expect_fatal(lambda: qom.object_property_try_add_child(root, name, obj))
                return
            if name in self.root_children:
                self._expect_error(
                    lambda: qom.object_property_try_add_child(root, name, obj),
                    f"attempt to add duplicate property '{name}' to object (type 'container')",
                )
                return
            qom.object_property_try_add_child(root, name, obj)
        self.root_children[name] = obj
        t.parent, t.child_name = root, name

    @precondition(lambda self: self._any_live())
    @rule(parent=objects, child=objects, name=st.sampled_from(MACHINE_PROPERTY_NAMES))
    def add_child(self, parent: Object, child: Object, name: str) -> None:
        """``object_property_try_add_child(parent, name, child)`` (cycles are not attempted)."""
        pt, ct = self._t(parent), self._t(child)
        if pt.finalized or ct.finalized or self._is_ancestor(child, parent):
            return
        if ct.parent is not None:
            self._expect_fatal(lambda: qom.object_property_try_add_child(parent, name, child))
            return
        if name in self._prop_names(pt):
            self._expect_error(
                lambda: qom.object_property_try_add_child(parent, name, child),
                f"attempt to add duplicate property '{name}' to object (type '{pt.typename}')",
            )
            return
        qom.object_property_try_add_child(parent, name, child)
        pt.children[name] = child
        pt.added.add(name)
        ct.parent, ct.child_name = parent, name

    @precondition(lambda self: self._any_live())
    @rule(obj=objects)
    def unparent(self, obj: Object) -> None:
        """``object_unparent(obj)``."""
        if not self._t(obj).finalized:
            self._unparent(obj)

    def _unparent(self, obj: Object) -> None:
        t = self._t(obj)
        qom.object_unparent(obj)
        if t.parent is not None and t.child_name is not None:
            if id(t.parent) in self.tracked:
                pt = self._t(t.parent)
                del pt.children[t.child_name]
                pt.added.discard(t.child_name)
            else:
                del self.root_children[t.child_name]
            t.parent, t.child_name = None, None
        self._settle()

    @precondition(lambda self: self._any_live())
    @rule(
        holder=objects,
        name=st.sampled_from(MACHINE_PROPERTY_NAMES),
        typename=st.sampled_from((TYPE_OBJECT, "qs.c0", "qs.c1")),
        strong=st.booleans(),
    )
    def add_link(self, holder: Object, name: str, typename: str, strong: bool) -> None:
        """``object_property_add_link(holder, name, typename, ..., allow, STRONG?)``."""
        t = self._t(holder)
        if t.finalized:
            return
        flags = ObjectPropertyLinkFlags.STRONG if strong else ObjectPropertyLinkFlags.NONE
        attr = f"qs_link_{name}"

        def add() -> object:
            return qom.object_property_add_link(
                holder, name, typename, attr, qom.object_property_allow_set_link, flags
            )

        if name in self._prop_names(t):
            self._expect_fatal(add, f"attempt to add duplicate property '{name}'")
            return
        setattr(holder, attr, None)
        add()
        t.links[name] = _Link(None, typename, strong)
        t.added.add(name)

    @precondition(lambda self: any(t.links for t in self._live()))
    @rule(holder=objects, dest=objects, data=st.data())
    def set_link(self, holder: Object, dest: Object, data: st.DataObject) -> None:
        """``object_property_set_link(holder, name, dest)``: by canonical path, "" if none."""
        t, tt = self._t(holder), self._t(dest)
        if t.finalized or tt.finalized or not t.links:
            return
        name = data.draw(st.sampled_from(sorted(t.links)), label="link")
        link = t.links[name]
        path = self._path(tt)
        if path is not None and self.spec.expected_cast(tt.typename, link.typename) is None:
            self._expect_error(
                lambda: qom.object_property_set_link(holder, name, dest),
                f"Invalid parameter type for '{name}', expected: {link.typename}",
            )
            return
        qom.object_property_set_link(holder, name, dest)
        link.target = dest if path is not None else None
        self._settle()

    @precondition(lambda self: self._any_live())
    @rule(
        obj=objects,
        name=st.sampled_from(MACHINE_PROPERTY_NAMES),
        kind=st.sampled_from(("bool", "string", "enum")),
    )
    def add_property(self, obj: Object, name: str, kind: str) -> None:
        """``object_property_add_bool/_str/_enum(obj, name, ...)``; a duplicate is fatal."""
        t = self._t(obj)
        if t.finalized:
            return
        p = PropertySpec(
            name, "QsRuleEnum" if kind == "enum" else kind, False, ("x", "y") if kind == "enum" else ()
        )
        if name in self._prop_names(t):
            self._expect_fatal(lambda: _add_property(obj, p), f"attempt to add duplicate property '{name}'")
            return
        _add_property(obj, p)
        _gen(obj).fields.pop(p.attr, None)
        t.values[name] = (p.type, p.enum_values, p.zero())
        t.added.add(name)

    @precondition(lambda self: self._any_live())
    @rule(obj=objects, data=st.data())
    def set_value(self, obj: Object, data: st.DataObject) -> None:
        """``object_property_set(obj, name, value)`` on a generated or added property."""
        t = self._t(obj)
        if t.finalized or not t.values:
            return
        name = data.draw(st.sampled_from(sorted(t.values)), label="property")
        type_str, enum_values, _ = t.values[name]
        value = data.draw(values_for(type_str, enum_values), label="value")
        qom.object_property_set(obj, name, value)
        t.values[name] = (type_str, enum_values, value)

    @precondition(lambda self: self._any_live())
    @rule(obj=objects, data=st.data())
    def get_value(self, obj: Object, data: st.DataObject) -> None:
        """``object_property_get(obj, name)`` equals the model (children and strong links too)."""
        t = self._t(obj)
        if t.finalized:
            return
        expected: dict[str, JSON] = {"type": t.typename}
        expected.update({n: v for n, (_, _, v) in t.values.items()})
        for n, child in t.children.items():
            expected[n] = self._path(self._t(child)) or ""
        for n, link in t.links.items():
            if link.target is None:
                expected[n] = ""
            elif not self._t(link.target).finalized:  # a weak link to a freed object dangles
                expected[n] = self._path(self._t(link.target)) or ""
        name = data.draw(st.sampled_from(sorted(expected)), label="property")
        got = qom.object_property_get(obj, name)
        if got != expected[name] or type(got) is not type(expected[name]):
            raise AssertionError(f"{name}: got {got!r}, expected {expected[name]!r}")

    @precondition(lambda self: any(t.added for t in self._live()))
    @rule(obj=objects, data=st.data())
    def delete(self, obj: Object, data: st.DataObject) -> None:
        """``object_property_del(obj, name)`` on a property a rule added (child and link too)."""
        t = self._t(obj)
        if t.finalized or not t.added:
            return
        name = data.draw(st.sampled_from(sorted(t.added)), label="property")
        if self._finalizes_itself(t, name):
            return
        qom.object_property_del(obj, name)
        t.added.discard(name)
        t.values.pop(name, None)
        t.links.pop(name, None)
        child = t.children.pop(name, None)
        if child is not None:
            ct = self._t(child)
            ct.parent, ct.child_name = None, None
        self._settle()

    @precondition(lambda self: any(t.finalized for t in self.tracked.values()))
    @rule(obj=objects, data=st.data())
    def use_after_finalize(self, obj: Object, data: st.DataObject) -> None:
        """A use-after-finalize program: an entry point of :data:`UAF_ENTRY_POINTS` on a finalized
        object is a fatal at the first touch that names it, changes nothing, and is recorded."""
        t = self._t(obj)
        if not t.finalized:
            return
        op, call = data.draw(st.sampled_from(UAF_ENTRY_POINTS), label="entry point")
        reports = len(self.universe.sanitizer)
        with use_universe(self.universe):
            self._expect_fatal(
                lambda: call(obj), f"heap-use-after-free: {op}() on object '{t.typename}' #{obj.serial}, "
            )
        got = self.universe.sanitizer[reports:]
        if [(r.op, r.serial) for r in got] != [(op, obj.serial)]:
            raise AssertionError(f"sanitizer recorded {got}, expected one {op} on #{obj.serial}")
        self.uaf_caught += 1

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def refcounts_and_finalize_once(self) -> None:
        """Live objects have the model's refcount (>= 1); finalized ones were finalized once."""
        for t in self.tracked.values():
            events = self.finalize_events.get(id(t.obj), 0)
            if t.finalized:
                if t.obj.state is not ObjectState.FINALIZED or events != 1:
                    raise AssertionError(f"{t.obj!r}: state {t.obj.state}, {events} finalize events")
                chain = [n for n in self.spec.ancestors(t.typename) if n in self.spec]
                if _gen(t.obj).finalize_log != chain:
                    raise AssertionError(f"{t.obj!r}: finalize ran {_gen(t.obj).finalize_log}, not {chain}")
            else:
                expected = self._expected_ref(t)
                if (
                    t.obj.state is not ObjectState.LIVE
                    or events != 0
                    or t.obj.ref != expected
                    or expected < 1
                ):
                    raise AssertionError(
                        f"{t.obj!r}: state {t.obj.state}, ref {t.obj.ref} (model {expected}), {events} events"
                    )

    @invariant()
    def counters_agree(self) -> None:
        """Per-type live and created counters agree with the model and the events."""
        if not self.registered:
            return
        for name in self.spec.concrete_types():
            live = sum(1 for t in self._live() if t.typename == name)
            made = sum(1 for t in self.tracked.values() if t.typename == name)
            got = (self.universe.live_instances(name), self.universe.instances_created(name))
            by_events = self.live_by_events.get(name, 0)
            if got != (live, made) or by_events != live:
                raise AssertionError(f"{name}: live/created {got}, model {(live, made)}, events {by_events}")
        if self.created_events != len(self.tracked):
            raise AssertionError(f"{self.created_events} created events for {len(self.tracked)} objects")

    @invariant()
    def casts_follow_ancestry(self) -> None:
        """Class and instance casts are reflexive and follow the model (spec §2.1).

        Casts depend on the class only, so each object is checked once, after the step that
        created it (re-checking unchanged objects after every step would only cost time).
        """
        for t in self._live():
            if t.casts_checked:
                continue
            klass = qom.object_get_class(t.obj)
            for target in (t.typename, *MACHINE_TYPES):
                expected = self.spec.expected_cast(t.typename, target)
                got = qom.object_class_dynamic_cast(klass, target)
                got_name = None if got is None else got.type.name
                if got_name != expected:
                    raise AssertionError(f"cast {t.typename} -> {target}: {got_name}, expected {expected}")
                if qom.object_dynamic_cast(t.obj, target) is not (t.obj if expected else None):
                    raise AssertionError(f"object cast {t.typename} -> {target}")
            t.casts_checked = True

    @invariant()
    def child_events_agree(self) -> None:
        """The child<> edges told by CHILD_ADDED/CHILD_REMOVED events are the model's edges."""
        model = {(id(t.parent), t.child_name) for t in self._live() if t.parent is not None and t.child_name}
        if self.child_edges != model:
            raise AssertionError(f"child events {sorted(self.child_edges)} != model {sorted(model)}")

    @invariant()
    def tree_and_paths_agree(self) -> None:
        """``object_resolve_path(object_get_canonical_path(o)) is o``, and paths match the model."""
        with use_universe(self.universe):
            for t in self._live():
                path = self._path(t)
                got = qom.object_get_canonical_path(t.obj)
                if got != path:
                    raise AssertionError(f"{t.obj!r}: canonical path {got!r}, model {path!r}")
                if path is not None and qom.object_resolve_path(path) is not t.obj:
                    raise AssertionError(f"{path!r} does not resolve to its object")
                if t.obj.parent is not t.parent:
                    raise AssertionError(f"{t.obj!r}: parent differs from the model")

    def teardown(self) -> None:
        """Clear links, unparent and unref everything; then nothing the machine made is live."""
        if not self.registered:
            return
        try:
            with use_universe(self.universe):
                for t in list(self.tracked.values()):
                    for name in list(t.links):
                        if not t.finalized:
                            qom.object_property_set(t.obj, name, "")
                            t.links[name].target = None
                            self._settle()
                # only what hangs from /objects: children of tracked objects must go away when
                # their parent is finalized (the release of child<> properties)
                for t in list(self.tracked.values()):
                    if not t.finalized and t.parent is not None and id(t.parent) not in self.tracked:
                        self._unparent(t.obj)
                for t in list(self.tracked.values()):
                    while not t.finalized and t.owned:
                        qom.object_unref(t.obj)
                        t.owned -= 1
                        self._settle()
            left = [t.obj for t in self.tracked.values() if t.obj.state is not ObjectState.FINALIZED]
            if left or self.universe.live_instances() != self.baseline_live:
                raise AssertionError(
                    f"live after teardown: {left}, {self.universe.live_instances()} objects in all"
                )
            self.refcounts_and_finalize_once()
        finally:
            if self.unsubscribe is not None:
                self.unsubscribe()
