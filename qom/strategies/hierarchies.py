"""Hypothesis strategies for the QOM core: names, values and type hierarchies.

Three layers:

* plain data: :func:`type_names`, :func:`values_for`;
* hierarchies: :func:`hierarchy_specs` draws a :class:`HierarchySpec` (pure data, printed as
  valid Python) that also knows what QOM *should* do with it (interface lists, casts);
  :func:`hierarchies` draws the corresponding list of :class:`~qom.types.TypeInfo`;
* :class:`~qom.strategies.machine.QOMStateMachine` (its own module) drives one fresh universe
  over such a hierarchy and checks it against a reference-count model after every step.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from typeguard import typeguard_ignore

import qom
from qom.object import Object
from qom.property import ObjectPropertyFlags
from qom.singleton import TYPE_INTERNAL, TYPE_SINGLETON
from qom.types import TYPE_INTERFACE, TYPE_OBJECT, ObjectClass, TypeInfo
from qom.user_creatable import TYPE_USER_CREATABLE
from qom.visitor import JSON

__all__ = [
    "BUILTIN_INTERFACES",
    "PROPERTY_TYPES",
    "GeneratedObject",
    "HierarchySpec",
    "PropertySpec",
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
