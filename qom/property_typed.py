"""Properties, the typed helpers: the ``bool``, ``str``, enum and ``uintN_ptr`` adders of
``qom/object.c``, each in an instance form (``object_property_add_*``) and a class form
(``object_class_property_add_*``).  They build on :mod:`qom.property`, which holds the core
machinery and the accessors these adders install.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qom.object import Object
from qom.property import (
    ObjectProperty,
    ObjectPropertyAccessor,
    ObjectPropertyFlags,
    _BoolHooks,
    _get_bool,
    _get_str,
    _hooks,
    _ptr_get,
    _ptr_set,
    _set_bool,
    _set_str,
    _str,
    _StrHooks,
    object_class_property_add,
    object_property_add,
)
from qom.types import ObjectClass
from qom.visitor import Visitor

__all__ = [
    "object_class_property_add_bool",
    "object_class_property_add_enum",
    "object_class_property_add_str",
    "object_class_property_add_uint8_ptr",
    "object_class_property_add_uint16_ptr",
    "object_class_property_add_uint32_ptr",
    "object_class_property_add_uint64_ptr",
    "object_property_add_bool",
    "object_property_add_enum",
    "object_property_add_str",
    "object_property_add_uint8_ptr",
    "object_property_add_uint16_ptr",
    "object_property_add_uint32_ptr",
    "object_property_add_uint64_ptr",
]


def _bool_args(
    get: Callable[[Object], bool] | None, set: Callable[[Object, bool], None] | None
) -> tuple[ObjectPropertyAccessor | None, ObjectPropertyAccessor | None, _BoolHooks]:
    _hooks(get=get, set=set)
    return (_get_bool if get else None), (_set_bool if set else None), _BoolHooks(get, set)


def object_property_add_bool(
    obj: Object, name: str, get: Callable[[Object], bool] | None, set: Callable[[Object, bool], None] | None
) -> ObjectProperty:
    """Add a ``bool`` instance property backed by two callbacks.

    :param obj: the object.
    :param name: the property name.
    :param get: returns the value (``None``: not readable).
    :param set: stores a value (``None``: not writable).
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _bool_args(get, set)
    return object_property_add(obj, name, "bool", g, s, None, opaque)


def object_class_property_add_bool(
    klass: ObjectClass,
    name: str,
    get: Callable[[Object], bool] | None,
    set: Callable[[Object, bool], None] | None,
) -> ObjectProperty:
    """Class form of :func:`object_property_add_bool`.

    :param klass: the class.
    :param name: the property name.
    :param get: returns the value.
    :param set: stores a value.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _bool_args(get, set)
    return object_class_property_add(klass, name, "bool", g, s, None, opaque)


def _str_args(
    get: Callable[[Object], str | None] | None, set: Callable[[Object, str], None] | None
) -> tuple[ObjectPropertyAccessor | None, ObjectPropertyAccessor | None, _StrHooks]:
    _hooks(get=get, set=set)
    return (_get_str if get else None), (_set_str if set else None), _StrHooks(get, set)


def object_property_add_str(
    obj: Object,
    name: str,
    get: Callable[[Object], str | None] | None,
    set: Callable[[Object, str], None] | None,
) -> ObjectProperty:
    """Add a ``string`` instance property backed by two callbacks.

    :param obj: the object.
    :param name: the property name.
    :param get: returns the value (``None`` reads as ``""``).
    :param set: stores a value.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _str_args(get, set)
    return object_property_add(obj, name, "string", g, s, None, opaque)


def object_class_property_add_str(
    klass: ObjectClass,
    name: str,
    get: Callable[[Object], str | None] | None,
    set: Callable[[Object, str], None] | None,
) -> ObjectProperty:
    """Class form of :func:`object_property_add_str`.

    :param klass: the class.
    :param name: the property name.
    :param get: returns the value.
    :param set: stores a value.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _str_args(get, set)
    return object_class_property_add(klass, name, "string", g, s, None, opaque)


class _EnumHooks:
    __slots__ = ("get", "lookup", "set")

    def __init__(
        self,
        lookup: Sequence[str],
        get: Callable[[Object], int] | None,
        set: Callable[[Object, int], None] | None,
    ) -> None:
        self.lookup = tuple(lookup)
        self.get = get
        self.set = set


def _get_enum(obj: Object, v: Visitor, name: str, opaque: _EnumHooks) -> None:
    assert opaque.get is not None  # registered only with a getter
    v.type_enum(name, opaque.get(obj), opaque.lookup)


def _set_enum(obj: Object, v: Visitor, name: str, opaque: _EnumHooks) -> None:
    assert opaque.set is not None  # registered only with a setter
    opaque.set(obj, v.type_enum(name, 0, opaque.lookup))


def _enum_args(
    typename: str,
    lookup: Sequence[str],
    get: Callable[[Object], int] | None,
    set: Callable[[Object, int], None] | None,
) -> tuple[ObjectPropertyAccessor | None, ObjectPropertyAccessor | None, _EnumHooks]:
    _str(typename, "typename")
    if isinstance(lookup, str) or not all(isinstance(x, str) for x in lookup):
        raise TypeError("lookup must be a sequence of str")
    _hooks(get=get, set=set)
    return (_get_enum if get else None), (_set_enum if set else None), _EnumHooks(lookup, get, set)


def object_property_add_enum(
    obj: Object,
    name: str,
    typename: str,
    lookup: Sequence[str],
    get: Callable[[Object], int] | None,
    set: Callable[[Object, int], None] | None,
) -> ObjectProperty:
    """Add an enum instance property (type string = ``typename``; values travel as names).

    :param obj: the object.
    :param name: the property name.
    :param typename: the enum type name.
    :param lookup: the names, by index.
    :param get: returns the index.
    :param set: stores an index.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _enum_args(typename, lookup, get, set)
    return object_property_add(obj, name, typename, g, s, None, opaque)


def object_class_property_add_enum(
    klass: ObjectClass,
    name: str,
    typename: str,
    lookup: Sequence[str],
    get: Callable[[Object], int] | None,
    set: Callable[[Object, int], None] | None,
) -> ObjectProperty:
    """Class form of :func:`object_property_add_enum`.

    :param klass: the class.
    :param name: the property name.
    :param typename: the enum type name.
    :param lookup: the names, by index.
    :param get: returns the index.
    :param set: stores an index.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    g, s, opaque = _enum_args(typename, lookup, get, set)
    return object_class_property_add(klass, name, typename, g, s, None, opaque)


def _ptr_args(
    attr: str, flags: ObjectPropertyFlags | int
) -> tuple[ObjectPropertyAccessor | None, ObjectPropertyAccessor | None]:
    _str(attr, "attr")
    if type(flags) is int and 0 <= flags <= 3:
        flags = ObjectPropertyFlags(flags)  # C callers pass the OBJ_PROP_FLAG_* ints
    if not isinstance(flags, ObjectPropertyFlags):
        raise TypeError(f"flags must be ObjectPropertyFlags, not {type(flags).__name__}")
    g = _ptr_get if ObjectPropertyFlags.READ in flags else None
    s = _ptr_set if ObjectPropertyFlags.WRITE in flags else None
    return g, s


def _add_ptr(
    obj: Object, name: str, attr: str, flags: ObjectPropertyFlags | int, kind: str
) -> ObjectProperty:
    g, s = _ptr_args(attr, flags)
    return object_property_add(obj, name, kind, g, s, None, (attr, kind))


def _class_add_ptr(
    klass: ObjectClass, name: str, attr: str, flags: ObjectPropertyFlags | int, kind: str
) -> ObjectProperty:
    g, s = _ptr_args(attr, flags)
    return object_class_property_add(klass, name, kind, g, s, None, (attr, kind))


def object_property_add_uint8_ptr(
    obj: Object, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """Add a ``uint8`` property backed by instance attribute ``attr``.

    :param obj: the object.
    :param name: the property name.
    :param attr: the attribute holding the value.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    return _add_ptr(obj, name, attr, flags, "uint8")


def object_property_add_uint16_ptr(
    obj: Object, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """As :func:`object_property_add_uint8_ptr`, for ``uint16``.

    :param obj: the object.
    :param name: the property name.
    :param attr: the attribute holding the value.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property.
    """
    return _add_ptr(obj, name, attr, flags, "uint16")


def object_property_add_uint32_ptr(
    obj: Object, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """As :func:`object_property_add_uint8_ptr`, for ``uint32``.

    :param obj: the object.
    :param name: the property name.
    :param attr: the attribute holding the value.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property.
    """
    return _add_ptr(obj, name, attr, flags, "uint32")


def object_property_add_uint64_ptr(
    obj: Object, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """As :func:`object_property_add_uint8_ptr`, for ``uint64``.

    :param obj: the object.
    :param name: the property name.
    :param attr: the attribute holding the value.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property.
    """
    return _add_ptr(obj, name, attr, flags, "uint64")


def object_class_property_add_uint8_ptr(
    klass: ObjectClass, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """Class form of :func:`object_property_add_uint8_ptr` (``attr`` lives on each instance).

    :param klass: the class.
    :param name: the property name.
    :param attr: the instance attribute holding the value.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property.
    """
    return _class_add_ptr(klass, name, attr, flags, "uint8")


def object_class_property_add_uint16_ptr(
    klass: ObjectClass, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """:param klass: the class.
    :param name: the property name.
    :param attr: the instance attribute.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property."""
    return _class_add_ptr(klass, name, attr, flags, "uint16")


def object_class_property_add_uint32_ptr(
    klass: ObjectClass, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """:param klass: the class.
    :param name: the property name.
    :param attr: the instance attribute.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property."""
    return _class_add_ptr(klass, name, attr, flags, "uint32")


def object_class_property_add_uint64_ptr(
    klass: ObjectClass, name: str, attr: str, flags: ObjectPropertyFlags | int
) -> ObjectProperty:
    """:param klass: the class.
    :param name: the property name.
    :param attr: the instance attribute.
    :param flags: READ and/or WRITE (``OBJ_PROP_FLAG_*``, or their int values).
    :return: the property."""
    return _class_add_ptr(klass, name, attr, flags, "uint64")
