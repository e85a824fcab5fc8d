"""The ``user-creatable`` interface and ``object-add``/``object-del`` (``qom/object_interfaces.c``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from qom.errors import GenericError, QOMError
from qom.object import Object, object_new_with_class, object_unref
from qom.property import object_property_del, object_property_set
from qom.tree import (
    object_get_objects_root,
    object_property_try_add_child,
    object_resolve_path_component,
    object_unparent,
)
from qom.types import (
    TYPE_INTERFACE,
    InterfaceClass,
    TypeInfo,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_dynamic_cast_assert,
    type_register_static,
)
from qom.visitor import JSON, check_json

__all__ = [
    "TYPE_USER_CREATABLE",
    "UserCreatableClass",
    "id_wellformed",
    "user_creatable_add_type",
    "user_creatable_can_be_deleted",
    "user_creatable_complete",
    "user_creatable_del",
]

TYPE_USER_CREATABLE = "user-creatable"

_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")


class UserCreatableClass(InterfaceClass):
    """Class struct of ``user-creatable``: optional ``complete`` and ``can_be_deleted`` hooks.

    ``complete(obj)`` raises a :class:`~qom.errors.QOMError` to fail;
    ``can_be_deleted(obj)`` returns False to refuse ``object-del``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.complete: Callable[[Object], None] | None = None
        self.can_be_deleted: Callable[[Object], bool] | None = None


def register_builtin_types() -> None:
    """Register the ``user-creatable`` interface in the current universe."""
    type_register_static(
        TypeInfo(name=TYPE_USER_CREATABLE, parent=TYPE_INTERFACE, class_type=UserCreatableClass)
    )


def id_wellformed(id: str) -> bool:
    """``id_wellformed``: letters, digits, ``-``, ``.``, ``_``, starting with a letter.

    :param id: the identifier.
    :return: whether it is well formed.
    """
    return isinstance(id, str) and _ID_RE.match(id) is not None


def _ucc(obj: Object) -> UserCreatableClass:
    klass = object_class_dynamic_cast_assert(obj.klass, TYPE_USER_CREATABLE)
    if not isinstance(klass, UserCreatableClass):
        raise TypeError(f"{klass!r} is not a UserCreatableClass")
    return klass


def user_creatable_complete(obj: Object) -> None:
    """Run the ``complete`` hook, if any.

    :param obj: a user-creatable object.
    :raise QOMError: when ``complete`` fails.
    :raise QOMFatal: when ``obj`` is not user-creatable.
    """
    if not isinstance(obj, Object):
        raise TypeError(f"obj must be an Object, not {type(obj).__name__}")
    ucc = _ucc(obj)
    if ucc.complete is not None:
        ucc.complete(obj)


def user_creatable_can_be_deleted(obj: Object) -> bool:
    """:param obj: a user-creatable object.
    :return: the ``can_be_deleted`` hook's answer (True without one)."""
    ucc = _ucc(obj)
    return True if ucc.can_be_deleted is None else bool(ucc.can_be_deleted(obj))


def user_creatable_add_type(typename: str, id: str | None, props: Mapping[str, JSON]) -> Object:
    """``object-add`` after QAPI validation: create, set, attach as ``/objects/ID``, complete.

    The checks run in QEMU's order.  On success the returned object carries the caller's
    reference *and* the ``/objects`` child reference; the QMP layer drops its own, as
    ``qmp_object_add`` does, leaving ``/objects/ID`` as the only owner.

    :param typename: the type.
    :param id: the child name under ``/objects`` (``None``: not attached).
    :param props: property name -> JSON value (QObject input visitor).
    :return: the object.
    :raise GenericError: "Parameter 'id' expects an identifier", "invalid object type: %s",
        "object type '%s' isn't supported by object-add", "object type '%s' is abstract",
        a setter's error, a duplicate id, or ``complete``'s error; nothing is left behind.
    """
    if not isinstance(typename, str):
        raise TypeError(f"typename must be a str, not {type(typename).__name__}")
    if id is not None and not isinstance(id, str):
        raise TypeError(f"id must be a str or None, not {type(id).__name__}")
    if not isinstance(props, Mapping):
        raise TypeError(f"props must be a mapping, not {type(props).__name__}")
    for key, value in props.items():
        if not isinstance(key, str):
            raise TypeError(f"property names must be str, not {type(key).__name__}")
        check_json(value, f"property '{key}'")
    if id is not None and not id_wellformed(id):
        raise GenericError("Parameter 'id' expects an identifier")
    klass = object_class_by_name(typename)
    if klass is None:
        raise GenericError(f"invalid object type: {typename}")
    if object_class_dynamic_cast(klass, TYPE_USER_CREATABLE) is None:
        raise GenericError(f"object type '{typename}' isn't supported by object-add")
    if klass.type.abstract:
        raise GenericError(f"object type '{typename}' is abstract")
    obj = object_new_with_class(klass)
    try:
        for key, value in props.items():
            object_property_set(obj, key, value)
        if id is not None:
            object_property_try_add_child(object_get_objects_root(), id, obj)
        try:
            user_creatable_complete(obj)
        except QOMError:
            if id is not None:
                object_property_del(object_get_objects_root(), id)
            raise
    except QOMError:
        object_unref(obj)
        raise
    return obj


def user_creatable_del(id: str) -> None:
    """``object-del``: unparent ``/objects/ID`` so that its last reference goes away.

    :param id: the child name under ``/objects``.
    :raise GenericError: "object '%s' not found", "object '%s' is in use, can not be deleted".
    """
    if not isinstance(id, str):
        raise TypeError(f"id must be a str, not {type(id).__name__}")
    obj = object_resolve_path_component(object_get_objects_root(), id)
    if obj is None:
        raise GenericError(f"object '{id}' not found")
    if not user_creatable_can_be_deleted(obj):
        raise GenericError(f"object '{id}' is in use, can not be deleted")
    object_unparent(obj)
