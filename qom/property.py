"""Properties, the core machinery: add, find, iterate, delete, get/set/parse, descriptions and
defaults (spec §4), and the accessors the typed helpers install (the get/set paths and the
defaults know them, so they live here).  The typed adders themselves (bool, str, enum,
``uintN_ptr``, instance and class forms) are in :mod:`qom.property_typed`.

A property's ``get(obj, v, name, opaque)`` writes its value into visitor ``v``;
``set(obj, v, name, opaque)`` reads the new value from ``v`` (see :mod:`qom.visitor`).
Errors are raised as :class:`~qom.errors.QOMError`; QEMU's ``error_abort`` cases raise
:class:`~qom.errors.QOMFatal`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from enum import Flag
from typing import Any

from qom.errors import GenericError, QOMError, QOMFatal
from qom.object import (
    AttrStore,
    Object,
    ObjectState,
    SetterDefault,
    check_live,
    check_table,
    own_properties,
    use_after_finalize,
)
from qom.types import ObjectClass
from qom.universe import EventKind
from qom.visitor import (
    _UINT_MAX,
    JSON,
    QObjectInputVisitor,
    QObjectOutputVisitor,
    StringInputVisitor,
    StringOutputVisitor,
    Visitor,
    check_json,
)

__all__ = [
    "OBJ_PROP_FLAG_READ",
    "OBJ_PROP_FLAG_READWRITE",
    "OBJ_PROP_FLAG_WRITE",
    "ObjectProperty",
    "ObjectPropertyAccessor",
    "ObjectPropertyFlags",
    "ObjectPropertyInit",
    "ObjectPropertyRelease",
    "ObjectPropertyResolve",
    "object_class_property_add",
    "object_class_property_find",
    "object_class_property_find_err",
    "object_class_property_iter",
    "object_class_property_set_description",
    "object_property_add",
    "object_property_del",
    "object_property_find",
    "object_property_find_err",
    "object_property_get",
    "object_property_get_bool",
    "object_property_get_enum",
    "object_property_get_int",
    "object_property_get_str",
    "object_property_get_type",
    "object_property_get_uint",
    "object_property_get_visitor",
    "object_property_help",
    "object_property_iter",
    "object_property_parse",
    "object_property_print",
    "object_property_set",
    "object_property_set_bool",
    "object_property_set_default_bool",
    "object_property_set_default_int",
    "object_property_set_default_str",
    "object_property_set_default_uint",
    "object_property_set_description",
    "object_property_set_int",
    "object_property_set_str",
    "object_property_set_uint",
    "object_property_set_visitor",
    "object_property_try_add",
    "property_default_text",
]

#: get/set hook: ``(obj, visitor, name, opaque)``; raises QOMError on failure
ObjectPropertyAccessor = Callable[[Object, Visitor, str, Any], None]
#: release hook: ``(obj, name, opaque)``
ObjectPropertyRelease = Callable[[Object, str, Any], None]
#: resolve hook: ``(obj, opaque, part)``
ObjectPropertyResolve = Callable[[Object, Any, str], "Object | None"]
#: init hook: ``(obj, prop)``, applies the default
ObjectPropertyInit = Callable[[Object, "ObjectProperty"], None]

_ARRAY_MAX = 2**15 - 1  # INT16_MAX
_LIVE = ObjectState.LIVE
_FINALIZED = ObjectState.FINALIZED


class ObjectPropertyFlags(Flag):
    """``ObjectPropertyFlags`` of the ``*_ptr`` helpers (which also take the plain ints)."""

    READ = 1
    WRITE = 2
    READWRITE = 3


#: ``include/qom/object.h``'s names for the flags
OBJ_PROP_FLAG_READ = ObjectPropertyFlags.READ
OBJ_PROP_FLAG_WRITE = ObjectPropertyFlags.WRITE
OBJ_PROP_FLAG_READWRITE = ObjectPropertyFlags.READWRITE


class ObjectProperty:
    """One property (C: ``ObjectProperty``)."""

    __slots__ = (
        "_owner",
        "defval",
        "description",
        "get",
        "init",
        "name",
        "opaque",
        "release",
        "resolve",
        "set",
        "type",
    )

    def __init__(
        self,
        name: str,
        type: str,
        get: ObjectPropertyAccessor | None,
        set: ObjectPropertyAccessor | None,
        release: ObjectPropertyRelease | None = None,
        opaque: Any = None,
    ) -> None:
        self.name = name
        self.type = type
        self.description: str | None = None
        self.get = get
        self.set = set
        self.resolve: ObjectPropertyResolve | None = None
        self.release = release
        self.init: ObjectPropertyInit | None = None
        self.opaque = opaque
        self.defval: JSON = None
        # the class of a class property: setting a default changes that class chain's init list
        self._owner: ObjectClass | None = None

    def __repr__(self) -> str:
        rw = ("r" if self.get else "-") + ("w" if self.set else "-")
        return f"<ObjectProperty {self.name!r} {self.type!r} {rw}>"


# -- argument checks ----------------------------------------------------------------------


def _obj(obj: object) -> Object:
    if not isinstance(obj, Object):
        raise TypeError(f"obj must be an Object, not {type(obj).__name__}")
    return obj


def _klass(klass: object) -> ObjectClass:
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"klass must be an ObjectClass, not {type(klass).__name__}")
    return klass


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _hooks(**hooks: object) -> None:
    for name, hook in hooks.items():
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable or None, not {type(hook).__name__}")


# -- adding, finding, iterating, deleting ---------------------------------------------------------


def object_property_try_add(
    obj: Object,
    name: str,
    type: str,
    get: ObjectPropertyAccessor | None,
    set: ObjectPropertyAccessor | None,
    release: ObjectPropertyRelease | None = None,
    opaque: Any = None,
) -> ObjectProperty:
    """Add an instance property; a name ending in ``[*]`` takes the first free index.

    :param obj: the object.
    :param name: the property name.
    :param type: the type string.
    :param get: the getter, or ``None`` (not readable).
    :param set: the setter, or ``None`` (not writable).
    :param release: run once when the property goes away.
    :param opaque: passed to the hooks.
    :return: the new property.
    :raise GenericError: "attempt to add duplicate property '%s' to object (type '%s')".
    :raise QOMFatal: when every array index is taken.
    """
    check_table(obj, "object_property_try_add")
    _str(name, "name")
    _str(type, "type")
    _hooks(get=get, set=set, release=release)
    if name.endswith("[*]"):
        base = name[:-3]
        for i in range(_ARRAY_MAX):
            full = f"{base}[{i}]"
            if object_property_find(obj, full) is None:
                return object_property_try_add(obj, full, type, get, set, release, opaque)
        raise QOMFatal("assertion failed: (ret)")
    if object_property_find(obj, name) is not None:
        raise GenericError(
            f"attempt to add duplicate property '{name}' to object (type '{obj.klass.type.name}')"
        )
    prop = ObjectProperty(name, type, get, set, release, opaque)
    own_properties(obj)[name] = prop
    obj.prop_generation += 1
    u = obj.universe
    if u.listeners:
        u.emit(EventKind.PROPERTY_ADDED, obj, obj.klass.type.name, name)
    return prop


def object_property_add(
    obj: Object,
    name: str,
    type: str,
    get: ObjectPropertyAccessor | None,
    set: ObjectPropertyAccessor | None,
    release: ObjectPropertyRelease | None = None,
    opaque: Any = None,
) -> ObjectProperty:
    """As :func:`object_property_try_add`, but a duplicate is fatal (``error_abort``).

    :param obj: the object.
    :param name: the property name.
    :param type: the type string.
    :param get: the getter.
    :param set: the setter.
    :param release: the release hook.
    :param opaque: passed to the hooks.
    :return: the new property.
    :raise QOMFatal: on a duplicate name.
    """
    try:
        return object_property_try_add(obj, name, type, get, set, release, opaque)
    except QOMError as err:
        raise QOMFatal(err.desc) from None


def object_class_property_add(
    klass: ObjectClass,
    name: str,
    type: str,
    get: ObjectPropertyAccessor | None,
    set: ObjectPropertyAccessor | None,
    release: ObjectPropertyRelease | None = None,
    opaque: Any = None,
) -> ObjectProperty:
    """Add a class property (normally from ``class_init``).

    :param klass: the class.
    :param name: the property name.
    :param type: the type string.
    :param get: the getter.
    :param set: the setter.
    :param release: run once per instance at finalize.
    :param opaque: passed to the hooks.
    :return: the new property.
    :raise QOMFatal: when the class chain already has a property of that name.
    """
    _klass(klass)
    _str(name, "name")
    _str(type, "type")
    _hooks(get=get, set=set, release=release)
    if object_class_property_find(klass, name) is not None:
        raise QOMFatal("assertion failed: (!object_class_property_find(klass, name))")
    prop = ObjectProperty(name, type, get, set, release, opaque)
    prop._owner = klass
    klass.properties[name] = prop
    klass.universe.class_generation += 1
    return prop


def object_class_property_find(klass: ObjectClass, name: str) -> ObjectProperty | None:
    """Find a class property in ``klass``'s chain (the root-most definition wins).

    :param klass: the class.
    :param name: the property name.
    :return: the property, or ``None``.
    """
    _klass(klass)
    _str(name, "name")
    if klass._lookup_gen == klass.universe.class_generation:
        return klass._lookup.get(name)
    # Stale caches (a class property was added since they were built, e.g. inside a class_init
    # adding many): walk the tables as qom/object.c does rather than rebuild the whole chain's
    # caches after every add, which made class_init quadratic in its property count.
    found: ObjectProperty | None = None
    k: ObjectClass | None = klass
    while k is not None:
        found = k.properties.get(name, found)  # ancestors overwrite: the root-most one wins
        k = k.type.parent_class()
    return found


def object_class_property_find_err(klass: ObjectClass, name: str) -> ObjectProperty:
    """:param klass: the class.
    :param name: the property name.
    :return: the property.
    :raise GenericError: "Property '.%s' not found"."""
    prop = object_class_property_find(klass, name)
    if prop is None:
        raise GenericError(f"Property '.{name}' not found")
    return prop


def object_property_find(obj: Object, name: str) -> ObjectProperty | None:
    """Find a property: class chain first, then the instance table.

    :param obj: the object.
    :param name: the property name.
    :return: the property, or ``None``.
    """
    prop = check_live(obj, "object_property_find").klass.class_property_lookup().get(name)
    if prop is not None:
        return prop
    if obj.state is not _LIVE:
        check_table(obj, "object_property_find")
    return obj.properties.get(_str(name, "name"))


def object_property_find_err(obj: Object, name: str) -> ObjectProperty:
    """:param obj: the object.
    :param name: the property name.
    :return: the property.
    :raise GenericError: "Property '%s.%s' not found"."""
    prop = object_property_find(obj, name)
    if prop is None:
        raise GenericError(f"Property '{obj.klass.type.name}.{name}' not found")
    return prop


def object_property_get_type(obj: Object, name: str) -> str:
    """The type string of a property (``qom/object.c:object_property_get_type``).

    :param obj: the object.
    :param name: the property name.
    :return: e.g. ``"bool"``, ``"uint32"``, ``"child<container>"``.
    :raise GenericError: "Property '%s.%s' not found".
    """
    return object_property_find_err(obj, name).type


def object_property_help(name: str, type: str, defval: JSON, description: str | None) -> str:
    """One line of ``-device T,help`` / ``-object T,help`` (``qom/object_interfaces.c:object_property_help``):
    ``  NAME=<TYPE>``, padded to 24 columns then `` - `` when a description or default follows,
    the description, then `` (default: ...)``: a string as is, a bool as ``on``/``off``, anything
    else as compact JSON.

    :param name: the property name.
    :param type: its type string.
    :param defval: its default (``None``: no default).
    :param description: its description, or ``None``.
    :return: the line, without a newline.
    """
    _str(name, "name")
    _str(type, "type")
    if description is not None:
        _str(description, "description")
    text = f"  {name}=<{type}>"
    if description is not None or defval is not None:
        text = text.ljust(24) + " - "
    if description is not None:
        text += description
    if defval is not None:
        check_json(defval)
        text += f" (default: {property_default_text(defval)})"
    return text


def property_default_text(defval: JSON) -> str:
    """:return: a default as help lines show it: a string as is, a bool as ``on``/``off``, else JSON."""
    if isinstance(defval, str):
        return defval
    if isinstance(defval, bool):
        return "on" if defval else "off"
    return json.dumps(defval)


def object_property_iter(obj: Object) -> Iterator[ObjectProperty]:
    """Iterate instance properties, then class properties leaf to root.

    :param obj: the object.
    :return: an iterator (over a copy of the instance table).
    """
    check_table(obj, "object_property_iter")
    yield from list(obj.properties.values())
    yield from obj.klass.class_property_chain()


def object_class_property_iter(klass: ObjectClass) -> Iterator[ObjectProperty]:
    """Iterate a class's own properties, then its ancestors'.

    :param klass: the class.
    :return: an iterator.
    """
    return iter(_klass(klass).class_property_chain())


def object_property_del(obj: Object, name: str) -> None:
    """Delete an instance property: run its ``release``, then remove it.

    :param obj: the object.
    :param name: an instance property name.
    :raise QOMFatal: when there is no such instance property (QEMU crashes).
    """
    check_table(obj, "object_property_del")
    prop = obj.properties.get(_str(name, "name"))
    if prop is None:
        raise QOMFatal(f"object_property_del: no instance property '{name}' (NULL dereference)")
    if prop.release is not None:
        prop.release(obj, name, prop.opaque)
    if obj.properties.get(name) is prop:
        del obj.properties[name]
        obj.prop_generation += 1
        u = obj.universe
        if u.listeners:
            u.emit(EventKind.PROPERTY_REMOVED, obj, obj.klass.type.name, name)


# -- get / set / parse / print ------------------------------------------------------------------


def object_property_get_visitor(obj: Object, name: str, v: Visitor) -> None:
    """Run a property's getter into visitor ``v`` (C: ``object_property_get``).

    :param obj: the object.
    :param name: the property name.
    :param v: an output visitor.
    :raise GenericError: when not found or not readable, or the getter fails.
    """
    check_live(obj, "object_property_get")
    prop = object_property_find_err(obj, name)
    if prop.get is None:
        raise GenericError(f"Property '{obj.klass.type.name}.{name}' is not readable")
    prop.get(obj, v, name, prop.opaque)


def object_property_set_visitor(obj: Object, name: str, v: Visitor) -> None:
    """Run a property's setter from visitor ``v`` (C: ``object_property_set``).

    :param obj: the object.
    :param name: the property name.
    :param v: an input visitor.
    :raise GenericError: when not found or not writable, or the setter fails.
    """
    check_live(obj, "object_property_set")
    prop = object_property_find_err(obj, name)
    if prop.set is None:
        raise GenericError(f"Property '{obj.klass.type.name}.{name}' is not writable")
    prop.set(obj, v, name, prop.opaque)


def object_property_get(obj: Object, name: str) -> JSON:
    """Read a property as a JSON value (QObject output visitor, as ``qom-get``).

    :param obj: the object.
    :param name: the property name.
    :return: the value.
    :raise GenericError: "Property '%s.%s' not found" / "... is not readable", or the getter's error.
    """
    if type(name) is not str or not isinstance(obj, Object):
        v = QObjectOutputVisitor()
        object_property_get_visitor(obj, name, v)  # the checks and their exact errors
        return v.result
    # object_property_get_visitor with the lookup inlined (hot path: arguments checked once)
    if obj.state is _FINALIZED:
        raise use_after_finalize(obj, "object_property_get")
    klass = obj.klass
    lookup = (
        klass._lookup if klass._lookup_gen == obj.universe.class_generation else klass.class_property_lookup()
    )
    prop = lookup.get(name)
    if prop is None:
        if obj.state is not _LIVE:
            check_table(obj, "object_property_find")
        prop = obj.properties.get(name)
        if prop is None:
            raise GenericError(f"Property '{obj.klass.type.name}.{name}' not found")
    get = prop.get
    if get is None:
        raise GenericError(f"Property '{obj.klass.type.name}.{name}' is not readable")
    # The output visitor only stores what these getters hand it: skip it for them.
    if get is _ptr_get:
        return getattr(obj, prop.opaque[0], 0)
    if get is _get_str:
        text = prop.opaque.get(obj)
        return text if text is not None else ""
    if get is _get_bool:
        return prop.opaque.get(obj)  # type: ignore[no-any-return]
    v = QObjectOutputVisitor()
    get(obj, v, name, prop.opaque)
    return v.result


def object_property_set(obj: Object, name: str, value: JSON) -> None:
    """Write a property from a JSON value (QObject input visitor: exact types, as ``qom-set``).

    :param obj: the object.
    :param name: the property name.
    :param value: the JSON value.
    :raise GenericError: "Property '%s.%s' not found" / "... is not writable", or the setter's error.
    :raise TypeError: when ``value`` is not JSON-like.
    """
    if not isinstance(obj, Object):
        raise TypeError(f"obj must be an Object, not {type(obj).__name__}")
    if type(name) is not str:
        _str(name, "name")
    vt = type(value)
    if vt is not int and vt is not str and vt is not bool:
        check_json(value)  # plain JSON scalars of these exact types always pass
    # object_property_set_visitor with the lookup inlined (the arguments are checked above)
    if obj.state is _FINALIZED:
        raise use_after_finalize(obj, "object_property_set")
    klass = obj.klass
    lookup = (
        klass._lookup if klass._lookup_gen == obj.universe.class_generation else klass.class_property_lookup()
    )
    prop = lookup.get(name)
    if prop is None:
        if obj.state is not _LIVE:
            check_table(obj, "object_property_find")
        prop = obj.properties.get(name)
        if prop is None:
            raise GenericError(f"Property '{obj.klass.type.name}.{name}' not found")
    set = prop.set
    if set is None:
        raise GenericError(f"Property '{obj.klass.type.name}.{name}' is not writable")
    # Values the input visitor would pass unchanged skip it; anything else (wrong type, out of
    # range, negative uint64 coercion) takes the visitor path for its exact error or result.
    if set is _ptr_set:
        attr, kind = prop.opaque
        if type(value) is int and 0 <= value <= _UINT_MAX[kind]:
            setattr(obj, attr, value)
            return
    elif set is _set_str:
        if vt is str:
            prop.opaque.set(obj, value)
            return
    elif set is _set_bool and vt is bool:
        prop.opaque.set(obj, value)
        return
    set(obj, QObjectInputVisitor(value), name, prop.opaque)


def object_property_parse(obj: Object, name: str, string: str) -> None:
    """Write a property from a string (string input visitor, as ``-global``).

    :param obj: the object.
    :param name: the property name.
    :param string: the text.
    :raise GenericError: as :func:`object_property_set`, or a parse error.
    """
    check_live(obj, "object_property_parse")
    _str(name, "name")
    _str(string, "string")
    object_property_set_visitor(obj, name, StringInputVisitor(string))


def object_property_print(obj: Object, name: str, human: bool = False) -> str:
    """Read a property as a string (string output visitor).

    :param obj: the object.
    :param name: the property name.
    :param human: HMP's human-readable mode.
    :return: the text.
    :raise GenericError: as :func:`object_property_get`.
    :raise TypeError: when an argument has the wrong type.
    """
    if not isinstance(human, bool):
        raise TypeError(f"object_property_print(): human must be a bool, not {type(human).__name__}")
    check_live(obj, "object_property_print")
    v = StringOutputVisitor(human)
    object_property_get_visitor(obj, name, v)
    return v.result


def object_property_get_str(obj: Object, name: str) -> str:
    """:param obj: the object.
    :param name: the property name.
    :return: its string value.
    :raise GenericError: "Invalid parameter type for '%s', expected: string", or get errors."""
    value = object_property_get(obj, name)
    if not isinstance(value, str):
        raise GenericError(f"Invalid parameter type for '{name}', expected: string")
    return value


def object_property_get_bool(obj: Object, name: str) -> bool:
    """:param obj: the object.
    :param name: the property name.
    :return: its boolean value.
    :raise GenericError: "Invalid parameter type for '%s', expected: boolean", or get errors."""
    value = object_property_get(obj, name)
    if not isinstance(value, bool):
        raise GenericError(f"Invalid parameter type for '{name}', expected: boolean")
    return value


def object_property_get_int(obj: Object, name: str) -> int:
    """:param obj: the object.
    :param name: the property name.
    :return: its signed integer value.
    :raise GenericError: "Invalid parameter type for '%s', expected: int", or get errors."""
    value = object_property_get(obj, name)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise GenericError(f"Invalid parameter type for '{name}', expected: int")
    return value


def object_property_get_uint(obj: Object, name: str) -> int:
    """:param obj: the object.
    :param name: the property name.
    :return: its unsigned integer value.
    :raise GenericError: "Invalid parameter type for '%s', expected: uint", or get errors."""
    value = object_property_get(obj, name)
    if type(value) is int and 0 <= value < 2**64:
        return value  # the common case, checked first (a bool is never exactly an int)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise GenericError(f"Invalid parameter type for '{name}', expected: uint")
    return value


def object_property_get_enum(obj: Object, name: str, typename: str) -> int:
    """Read an enum property as its index.

    :param obj: the object.
    :param name: the property name.
    :param typename: the enum type name the property must have.
    :return: the index.
    :raise GenericError: "Property %s on %s is not '%s' enum type", or get errors.
    :raise TypeError: when an argument has the wrong type.
    """
    _str(typename, "object_property_get_enum(): typename")
    prop = object_property_find_err(obj, name)
    if prop.type != typename:
        raise GenericError(f"Property {name} on {obj.klass.type.name} is not '{typename}' enum type")
    text = object_property_get_str(obj, name)
    # typed enum helpers keep the names in opaque.lookup; qdev enum properties in opaque.info
    lookup = getattr(prop.opaque, "lookup", None)
    if lookup is None:
        lookup = getattr(getattr(prop.opaque, "info", None), "enum_values", None)
    if lookup is None or text not in lookup:
        raise GenericError(f"Parameter '{name}' does not accept value '{text}'")
    return list(lookup).index(text)


def object_property_set_str(obj: Object, name: str, value: str) -> None:
    """:param obj: the object.
    :param name: the property name.
    :param value: the string.
    :raise GenericError: as :func:`object_property_set`."""
    if type(value) is not str:
        _str(value, "value")
    object_property_set(obj, name, value)


def object_property_set_bool(obj: Object, name: str, value: bool) -> None:
    """:param obj: the object.
    :param name: the property name.
    :param value: the boolean.
    :raise GenericError: as :func:`object_property_set`."""
    if not isinstance(value, bool):
        raise TypeError(f"value must be a bool, not {type(value).__name__}")
    object_property_set(obj, name, value)


def object_property_set_int(obj: Object, name: str, value: int) -> None:
    """:param obj: the object.
    :param name: the property name.
    :param value: the integer.
    :raise GenericError: as :func:`object_property_set`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, not {type(value).__name__}")
    object_property_set(obj, name, value)


def object_property_set_uint(obj: Object, name: str, value: int) -> None:
    """:param obj: the object.
    :param name: the property name.
    :param value: the non-negative integer.
    :raise GenericError: as :func:`object_property_set`."""
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"value must be an int, not {type(value).__name__}")
    object_property_set(obj, name, value)


# -- descriptions and defaults -------------------------------------------------------------------


def object_property_set_description(obj: Object, name: str, description: str | None) -> None:
    """:param obj: the object.
    :param name: the property name.
    :param description: the text.
    :raise QOMFatal: when the property does not exist (``error_abort``).
    :raise TypeError: when an argument has the wrong type."""
    if description is not None:
        _str(description, "object_property_set_description(): description")
    check_live(obj, "object_property_set_description")
    try:
        prop = object_property_find_err(obj, name)
    except QOMError as err:
        raise QOMFatal(err.desc) from None
    prop.description = description


def object_class_property_set_description(klass: ObjectClass, name: str, description: str | None) -> None:
    """:param klass: the class.
    :param name: a class property in its chain.
    :param description: the text.
    :raise QOMFatal: when the property does not exist.
    :raise TypeError: when an argument has the wrong type."""
    if description is not None:
        _str(description, "object_class_property_set_description(): description")
    prop = object_class_property_find(klass, name)
    if prop is None:
        raise QOMFatal("assertion failed: (op)")
    prop.description = description


def _init_defval(obj: Object, prop: ObjectProperty) -> None:
    if prop.set is None:
        raise QOMFatal("assertion failed: (prop->set)")
    try:
        prop.set(obj, QObjectInputVisitor(prop.defval), prop.name, prop.opaque)
    except QOMError as err:
        raise QOMFatal(err.desc) from None
    if prop.set is _ptr_set:
        # A *_ptr setter only stores what the visitor parsed, so every later instance gets the
        # same value: parse once (this first time, errors and all), then store (as qdev does).
        attr: str = prop.opaque[0]
        prop.init = AttrStore(attr, getattr(obj, attr))
    elif prop.set is _set_bool or prop.set is _set_str:
        # The first pass succeeded, so the default has the exact type the visitor returns as is:
        # later instances hand it straight to the callback (its errors stay fatal).
        hooks: _BoolHooks | _StrHooks = prop.opaque
        assert hooks.set is not None  # registered only with a setter
        prop.init = SetterDefault(hooks.set, prop.defval)
    else:
        return
    if prop._owner is not None:
        prop._owner.universe.class_generation += 1  # object_new's plans take the new init hook


def _set_default(prop: ObjectProperty, value: JSON) -> None:
    if not isinstance(prop, ObjectProperty):
        raise TypeError(f"prop must be an ObjectProperty, not {type(prop).__name__}")
    if prop.defval is not None:
        raise QOMFatal("assertion failed: (!prop->defval)")
    if prop.init is not None:
        raise QOMFatal("assertion failed: (!prop->init)")
    prop.defval = value
    prop.init = _init_defval
    if prop._owner is not None:
        # the property joins its chains' init lists: drop the cached ones (as for a new property)
        prop._owner.universe.class_generation += 1


def object_property_set_default_bool(prop: ObjectProperty, value: bool) -> None:
    """Record a default applied before ``instance_init`` (class properties only).

    :param prop: the property.
    :param value: the default.
    :raise QOMFatal: when the property already has a default.
    """
    if not isinstance(value, bool):
        raise TypeError(f"value must be a bool, not {type(value).__name__}")
    _set_default(prop, value)


def object_property_set_default_str(prop: ObjectProperty, value: str) -> None:
    """:param prop: the property.
    :param value: the default.
    :raise QOMFatal: when the property already has a default."""
    _set_default(prop, _str(value, "value"))


def object_property_set_default_int(prop: ObjectProperty, value: int) -> None:
    """:param prop: the property.
    :param value: the default.
    :raise QOMFatal: when the property already has a default."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, not {type(value).__name__}")
    _set_default(prop, value)


def object_property_set_default_uint(prop: ObjectProperty, value: int) -> None:
    """:param prop: the property.
    :param value: the default (non-negative).
    :raise QOMFatal: when the property already has a default."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("value must be a non-negative int")
    _set_default(prop, value)


# -- accessors the typed helpers install (get/set and defaults take fast paths for them) --------


class _BoolHooks:
    __slots__ = ("get", "set")

    def __init__(
        self, get: Callable[[Object], bool] | None, set: Callable[[Object, bool], None] | None
    ) -> None:
        self.get = get
        self.set = set


def _get_bool(obj: Object, v: Visitor, name: str, opaque: _BoolHooks) -> None:
    assert opaque.get is not None  # registered only with a getter
    v.type_bool(name, opaque.get(obj))


def _set_bool(obj: Object, v: Visitor, name: str, opaque: _BoolHooks) -> None:
    assert opaque.set is not None  # registered only with a setter
    opaque.set(obj, v.type_bool(name))


class _StrHooks:
    __slots__ = ("get", "set")

    def __init__(
        self, get: Callable[[Object], str | None] | None, set: Callable[[Object, str], None] | None
    ) -> None:
        self.get = get
        self.set = set


def _get_str(obj: Object, v: Visitor, name: str, opaque: _StrHooks) -> None:
    assert opaque.get is not None  # registered only with a getter
    v.type_str(name, opaque.get(obj))


def _set_str(obj: Object, v: Visitor, name: str, opaque: _StrHooks) -> None:
    assert opaque.set is not None  # registered only with a setter
    opaque.set(obj, v.type_str(name))


def _ptr_get(obj: Object, v: Visitor, name: str, opaque: tuple[str, str]) -> None:
    attr, kind = opaque
    v.type_uint(name, getattr(obj, attr, 0), kind)


def _ptr_set(obj: Object, v: Visitor, name: str, opaque: tuple[str, str]) -> None:
    attr, kind = opaque
    setattr(obj, attr, v.type_uint(name, 0, kind))
