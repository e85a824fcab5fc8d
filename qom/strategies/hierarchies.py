"""Hypothesis strategies for the QOM core, and a reusable state machine over it.

A tour (run it with ``python -m doctest`` or paste it into a test)::

    >>> from hypothesis import given, settings
    >>> from qom import Universe, use_universe, object_new, object_unref, object_dynamic_cast
    >>> from qom.strategies import hierarchy_specs
    >>> @settings(max_examples=5, deadline=None)
    ... @given(hierarchy_specs())
    ... def check(spec):
    ...     with use_universe(Universe(machine=None)):
    ...         spec.register()
    ...         for name in spec.concrete_types():
    ...             obj = object_new(name)
    ...             assert object_dynamic_cast(obj, "object") is obj
    ...             object_unref(obj)
    >>> check()

Three layers:

* plain data: :func:`type_names`, :func:`values_for`;
* hierarchies: :func:`hierarchy_specs` draws a :class:`HierarchySpec` (pure data, printed as
  valid Python) that also knows what QOM *should* do with it (interface lists, casts);
  :func:`hierarchies` draws the corresponding list of :class:`~qom.types.TypeInfo`;
* :class:`QOMStateMachine`, a :class:`~hypothesis.stateful.RuleBasedStateMachine` that drives one
  fresh universe and checks it against a reference-count model after every step.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Sequence
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
from typeguard import typeguard_ignore

import qom
from qom.errors import GenericError, QOMFatal
from qom.object import Object, ObjectState
from qom.property import ObjectPropertyFlags
from qom.singleton import TYPE_INTERNAL, TYPE_SINGLETON
from qom.tree import ObjectPropertyLinkFlags
from qom.types import TYPE_INTERFACE, TYPE_OBJECT, ObjectClass, TypeInfo
from qom.universe import EventKind, QOMEvent, SingletonPolicy, Universe, use_universe
from qom.user_creatable import TYPE_USER_CREATABLE
from qom.visitor import JSON

__all__ = [
    "BUILTIN_INTERFACES",
    "MACHINE_PROPERTY_NAMES",
    "MACHINE_TYPES",
    "PROPERTY_TYPES",
    "GeneratedObject",
    "HierarchySpec",
    "PropertySpec",
    "QOMStateMachine",
    "TypeSpec",
    "hierarchies",
    "hierarchy_specs",
    "type_names",
    "values_for",
]

#: property type strings :func:`hierarchy_specs` uses (plus enum names it makes up)
PROPERTY_TYPES: tuple[str, ...] = ("bool", "string", "uint8", "uint16", "uint32", "uint64")

_INT_RANGES: dict[str, tuple[int, int]] = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "size": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int": (-(2**63), 2**63 - 1),
}
_NAME_CHARS = string.ascii_letters + string.digits + "._-"
#: builtin interface types generated classes may declare, with their parents
BUILTIN_INTERFACES: dict[str, str] = {
    TYPE_SINGLETON: TYPE_INTERFACE,
    TYPE_INTERNAL: TYPE_INTERFACE,
    TYPE_USER_CREATABLE: TYPE_INTERFACE,
}


def type_names(max_size: int = 16) -> st.SearchStrategy[str]:
    """Valid QOM type names (``type_name_is_valid``, qom/object.c).

    :param max_size: the longest name drawn (at least 2).
    :return: names of two or more characters from ``[A-Za-z0-9._-]`` that start with a letter or
        a non-zero digit.
    :raise ValueError: when ``max_size`` is below 2.
    """
    if max_size < 2:
        raise ValueError("type names have at least two characters")
    first = st.sampled_from(string.ascii_letters + "123456789")
    rest = st.text(alphabet=_NAME_CHARS, min_size=1, max_size=max_size - 1)
    return st.builds(lambda a, b: a + b, first, rest)


def values_for(type_str: str, enum_values: Sequence[str] = ()) -> st.SearchStrategy[JSON]:
    """Values a property of type ``type_str`` accepts through ``object_property_set``.

    :param type_str: ``bool``, ``string``/``str``, an integer type (``uint8`` ... ``int64``,
        ``size``), ``number``, or an enum type name together with ``enum_values``.
    :param enum_values: the names of an enum type's values.
    :return: a strategy of JSON values of exactly the type the QObject input visitor wants.
    :raise ValueError: when ``type_str`` is none of these.
    """
    if type_str == "bool":
        return st.booleans()
    if type_str in ("string", "str"):
        return st.text(max_size=12)
    if type_str in _INT_RANGES:
        lo, hi = _INT_RANGES[type_str]
        return st.integers(lo, hi)
    if type_str == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if enum_values:
        return st.sampled_from(tuple(enum_values))
    raise ValueError(f"no values for property type {type_str!r}")


# -- hierarchies as data ----------------------------------------------------------------------


@dataclass(frozen=True)
class PropertySpec:
    """One generated property.

    ``type`` is one of :data:`PROPERTY_TYPES` or an enum name (then ``enum_values`` is set);
    ``on_class`` chooses a class property (added in ``class_init``) or an instance one (added in
    ``instance_init``); ``default`` is applied with ``object_property_set_default_*`` (class
    properties of type bool or string only).
    """

    name: str
    type: str
    on_class: bool
    enum_values: tuple[str, ...] = ()
    default: bool | str | None = None

    @property
    def attr(self) -> str:
        """The instance attribute (``*_ptr`` helpers) or field key holding the value."""
        return "qs_" + self.name

    def zero(self) -> JSON:
        """The value before anything is set (the C struct's zeroed field, or the default).

        :return: the JSON value ``object_property_get`` gives on a fresh object.
        """
        if self.default is not None:
            return self.default
        if self.type == "bool":
            return False
        if self.type == "string":
            return ""
        if self.enum_values:
            return self.enum_values[0]
        return 0


@dataclass(frozen=True)
class TypeSpec:
    """One generated type: a class (parent ``object`` or another class) or an interface."""

    name: str
    parent: str
    interface: bool = False
    abstract: bool = False
    interfaces: tuple[str, ...] = ()
    properties: tuple[PropertySpec, ...] = ()


class GeneratedObject(Object):
    """Instance struct of generated types: values of bool, string and enum properties.

    ``uint*`` properties use the ``*_ptr`` helpers and live in plain attributes instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, JSON] = {}
        #: type names whose instance_init / instance_finalize ran on this object, in order
        self.init_log: list[str] = []
        self.finalize_log: list[str] = []


def _gen(obj: Object) -> GeneratedObject:
    if not isinstance(obj, GeneratedObject):
        raise TypeError(f"not a generated object: {obj!r}")
    return obj


def _bool_accessors(key: str) -> tuple[Callable[[Object], bool], Callable[[Object, bool], None]]:
    def get(obj: Object) -> bool:
        return bool(_gen(obj).fields.get(key, False))

    def set_(obj: Object, value: bool) -> None:
        _gen(obj).fields[key] = value

    return get, set_


def _str_accessors(key: str) -> tuple[Callable[[Object], str | None], Callable[[Object, str], None]]:
    def get(obj: Object) -> str | None:
        value = _gen(obj).fields.get(key, "")
        return value if isinstance(value, str) else ""

    def set_(obj: Object, value: str) -> None:
        _gen(obj).fields[key] = value

    return get, set_


def _enum_accessors(key: str) -> tuple[Callable[[Object], int], Callable[[Object, int], None]]:
    def get(obj: Object) -> int:
        value = _gen(obj).fields.get(key, 0)
        return value if isinstance(value, int) else 0

    def set_(obj: Object, value: int) -> None:
        _gen(obj).fields[key] = value

    return get, set_


_PTR_ADDERS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "uint8": (qom.object_property_add_uint8_ptr, qom.object_class_property_add_uint8_ptr),
    "uint16": (qom.object_property_add_uint16_ptr, qom.object_class_property_add_uint16_ptr),
    "uint32": (qom.object_property_add_uint32_ptr, qom.object_class_property_add_uint32_ptr),
    "uint64": (qom.object_property_add_uint64_ptr, qom.object_class_property_add_uint64_ptr),
}


def _add_property(target: Object | ObjectClass, p: PropertySpec) -> None:
    on_class = isinstance(target, ObjectClass)
    if p.type in _PTR_ADDERS:
        add = _PTR_ADDERS[p.type][1 if on_class else 0]
        add(target, p.name, p.attr, ObjectPropertyFlags.READWRITE)
        return
    if p.type == "bool":
        bget, bset = _bool_accessors(p.attr)
        if isinstance(target, ObjectClass):
            prop = qom.object_class_property_add_bool(target, p.name, bget, bset)
            if p.default is not None:
                qom.object_property_set_default_bool(prop, bool(p.default))
        else:
            qom.object_property_add_bool(target, p.name, bget, bset)
        return
    if p.type == "string":
        sget, sset = _str_accessors(p.attr)
        if isinstance(target, ObjectClass):
            prop = qom.object_class_property_add_str(target, p.name, sget, sset)
            if p.default is not None:
                qom.object_property_set_default_str(prop, str(p.default))
        else:
            qom.object_property_add_str(target, p.name, sget, sset)
        return
    eget, eset = _enum_accessors(p.attr)
    if isinstance(target, ObjectClass):
        qom.object_class_property_add_enum(target, p.name, p.type, p.enum_values, eget, eset)
    else:
        qom.object_property_add_enum(target, p.name, p.type, p.enum_values, eget, eset)


@dataclass(frozen=True)
class HierarchySpec:
    """A drawn type hierarchy, as data, with the QOM semantics it should have.

    ``types`` lists interfaces first, then classes, each after its parent.  The builtin roots
    (``object``, ``interface``) are not listed.
    """

    types: tuple[TypeSpec, ...]
    _index: dict[str, TypeSpec] = field(init=False, repr=False, compare=False)
    _casts: dict[tuple[str, str], str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t.name: t for t in self.types})
        object.__setattr__(self, "_casts", {})

    def __getitem__(self, name: str) -> TypeSpec:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def names(self) -> tuple[str, ...]:
        """:return: every generated type name, in registration order."""
        return tuple(t.name for t in self.types)

    def concrete_types(self) -> tuple[str, ...]:
        """:return: the generated types ``object_new`` accepts."""
        return tuple(t.name for t in self.types if not t.interface and not t.abstract)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Type names from ``name`` up to its builtin root, both included.

        :param name: a generated type, ``object``, ``interface`` or one of
            :data:`BUILTIN_INTERFACES`.
        :return: the chain, nearest first.
        """
        chain: list[str] = []
        n: str | None = name
        while n is not None:
            chain.append(n)
            n = self._index[n].parent if n in self._index else BUILTIN_INTERFACES.get(n)
        return tuple(chain)

    def is_known(self, name: str) -> bool:
        """:return: whether ``name`` is registered in a universe holding this hierarchy."""
        return name in self._index or name in (TYPE_OBJECT, TYPE_INTERFACE) or name in BUILTIN_INTERFACES

    def interface_list(self, name: str) -> tuple[str, ...]:
        """The interfaces ``X::I`` classes are made for on ``name``'s class (spec §1.3 steps 7-8).

        :param name: a generated class.
        :return: the interface type names, in the class's order.
        """
        t = self._index[name]
        inherited = self.interface_list(t.parent) if t.parent in self._index else ()
        result = list(inherited)
        for iface in t.interfaces:
            if any(iface in self.ancestors(j) for j in result):
                continue
            result.append(iface)
        return tuple(result)

    def is_interface(self, name: str) -> bool:
        """:return: whether ``name`` is ``interface`` or derives from it."""
        return TYPE_INTERFACE in self.ancestors(name)

    def expected_cast(self, name: str, target: str) -> str | None:
        """What ``object_class_dynamic_cast(class of name, target)`` returns (spec §2.1).

        :param name: a generated type.
        :param target: any type name; unknown ones are "unregistered".
        :return: the name of the returned class's type (``X::I`` for an interface class), or
            ``None`` for NULL.
        """
        key = (name, target)
        if key not in self._casts:
            self._casts[key] = self._expected_cast(name, target)
        return self._casts[key]

    def _expected_cast(self, name: str, target: str) -> str | None:
        if name == target:
            return name
        if not self.is_known(target):
            return None
        ifaces = () if self.is_interface(name) else self.interface_list(name)
        if self.is_interface(target) and ifaces:
            hits = [j for j in ifaces if target in self.ancestors(j)]
            return f"{name}::{hits[0]}" if len(hits) == 1 else None
        return name if target in self.ancestors(name) else None

    def properties_of(self, name: str) -> tuple[PropertySpec, ...]:
        """:return: the generated properties an instance of ``name`` has (own and inherited)."""
        return tuple(p for n in self.ancestors(name) if n in self._index for p in self._index[n].properties)

    def type_infos(self) -> list[TypeInfo]:
        """Build the ``TypeInfo`` list; hooks log into :class:`GeneratedObject`.

        :return: one ``TypeInfo`` per generated type, in registration order.
        """
        return [_type_info(t) for t in self.types]

    def register(self) -> None:
        """Register every type in the current universe (``type_register_static``)."""
        for info in self.type_infos():
            qom.type_register_static(info)


def _type_info(t: TypeSpec) -> TypeInfo:
    if t.interface:
        return TypeInfo(name=t.name, parent=t.parent)
    class_props = tuple(p for p in t.properties if p.on_class)
    instance_props = tuple(p for p in t.properties if not p.on_class)
    ptr_attrs = tuple(p.attr for p in t.properties if p.type in _PTR_ADDERS)
    name = t.name

    def class_init(oc: ObjectClass, data: Any) -> None:
        for p in class_props:
            _add_property(oc, p)

    def instance_init(obj: Object) -> None:
        g = _gen(obj)
        g.init_log.append(name)
        for attr in ptr_attrs:
            if attr not in g.__dict__:  # a class default may have been applied already
                setattr(g, attr, 0)
        for p in instance_props:
            _add_property(g, p)

    def instance_finalize(obj: Object) -> None:
        _gen(obj).finalize_log.append(name)

    return TypeInfo(
        name=t.name,
        parent=t.parent,
        abstract=t.abstract,
        interfaces=t.interfaces,
        class_init=class_init if class_props else None,
        instance_init=instance_init,
        instance_finalize=instance_finalize,
        instance_type=GeneratedObject if t.parent == TYPE_OBJECT else None,
    )


_ident = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=6)


@st.composite
@typeguard_ignore  # typeguard cannot check a value against the DrawFn protocol
def _property_specs(draw: st.DrawFn, owner: int, on_class_allowed: bool = True) -> tuple[PropertySpec, ...]:
    count = draw(st.integers(0, 3))
    props: list[PropertySpec] = []
    for k in range(count):
        name = f"p{owner}-{k}"
        on_class = draw(st.booleans()) if on_class_allowed else False
        kind = draw(st.sampled_from((*PROPERTY_TYPES, "enum")))
        if kind == "enum":
            values = tuple(draw(st.lists(_ident, min_size=1, max_size=4, unique=True)))
            props.append(PropertySpec(name, f"QsEnum{owner}x{k}", on_class, enum_values=values))
            continue
        default: bool | str | None = None
        if on_class and kind in ("bool", "string") and draw(st.booleans()):
            default = draw(st.booleans()) if kind == "bool" else draw(_ident)
        props.append(PropertySpec(name, kind, on_class, default=default))
    return tuple(props)


@st.composite
@typeguard_ignore  # typeguard cannot check a value against the DrawFn protocol
def hierarchy_specs(
    draw: st.DrawFn,
    max_classes: int = 5,
    max_interfaces: int = 3,
    name_prefix: str | None = None,
    builtin_interfaces: Sequence[str] = (),
) -> HierarchySpec:
    """Draw a type hierarchy as a :class:`HierarchySpec`.

    Interfaces derive from ``interface`` or from an earlier interface; classes derive from
    ``object`` or an earlier class, may be abstract, declare some interfaces (in any order, so
    both the "derived interface first" and the ambiguous "base interface first" cases of spec
    §1.4 occur) and carry class and instance properties of assorted types.

    :param draw: supplied by Hypothesis.
    :param max_classes: the most non-interface types (at least one is drawn).
    :param max_interfaces: the most interface types.
    :param name_prefix: when given, names are ``{prefix}i0``, ``{prefix}c0``...; otherwise
        random valid names prefixed ``gen.`` (so they never clash with builtin types).
    :param builtin_interfaces: names from :data:`BUILTIN_INTERFACES` classes may declare too
        (e.g. ``singleton``).
    :return: the hierarchy.
    """
    n_ifaces = draw(st.integers(0, max_interfaces))
    n_classes = draw(st.integers(1, max(1, max_classes)))
    if name_prefix is not None:
        names = [f"{name_prefix}i{i}" for i in range(n_ifaces)] + [
            f"{name_prefix}c{i}" for i in range(n_classes)
        ]
    else:
        drawn = draw(
            st.lists(
                type_names(12),
                min_size=n_ifaces + n_classes,
                max_size=n_ifaces + n_classes,
                unique_by=str.lower,
            )
        )
        names = [f"gen.{n}" for n in drawn]
    types: list[TypeSpec] = []
    for i in range(n_ifaces):
        parent = draw(st.sampled_from((TYPE_INTERFACE, *names[:i])))
        types.append(TypeSpec(names[i], parent, interface=True, abstract=True))
    iface_names = [*names[:n_ifaces], *builtin_interfaces]
    for i in range(n_classes):
        name = names[n_ifaces + i]
        parent = draw(st.sampled_from((TYPE_OBJECT, *names[n_ifaces : n_ifaces + i])))
        declared: tuple[str, ...] = ()
        if iface_names:
            declared = tuple(draw(st.lists(st.sampled_from(iface_names), max_size=3, unique=True)))
        types.append(
            TypeSpec(
                name,
                parent,
                abstract=draw(st.booleans()) if i < n_classes - 1 else False,
                interfaces=declared,
                properties=draw(_property_specs(n_ifaces + i)),
            )
        )
    return HierarchySpec(tuple(types))


def hierarchies(max_classes: int = 5, max_interfaces: int = 3) -> st.SearchStrategy[list[TypeInfo]]:
    """Draw valid type hierarchies as ``TypeInfo`` lists ready for ``type_register_static``.

    :param max_classes: the most non-interface types.
    :param max_interfaces: the most interface types.
    :return: lists in registration order (every parent before its children).
    """
    return hierarchy_specs(max_classes, max_interfaces).map(lambda spec: spec.type_infos())


# -- the state machine -----------------------------------------------------------------------

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
