"""Children embedded in their parent's storage: ``object_initialize_child`` and its ``_with_props``
form (``qom/object.c``).  :func:`qom.object.object_initialize` does the initializing; this module
adds the child to its parent, sets its properties and completes user-creatable children.
"""

from __future__ import annotations

from collections.abc import Mapping

from qom.errors import QOMError, QOMFatal
from qom.object import Object, check_table, object_dynamic_cast, object_initialize, object_unref
from qom.property import object_property_parse
from qom.tree import object_property_add_child, object_unparent
from qom.user_creatable import TYPE_USER_CREATABLE, user_creatable_complete

__all__ = ["object_initialize_child", "object_initialize_child_with_props"]

_SIZEOF_STORAGE = 2**31 - 1


def object_initialize_child_with_props(
    parentobj: Object, propname: str, childobj: Object, size: int, type: str, props: Mapping[str, str]
) -> None:
    """Initialize ``childobj`` as a ``type``, set ``props`` (strings, parsed as ``object_set_props``
    does), add it as child ``propname`` of ``parentobj`` and complete it if it is user-creatable.

    As in C, the child ends with one reference (its parent's) on success and none on failure:
    the reference :func:`~qom.object.object_initialize` took is dropped either way.

    :param parentobj: the parent.
    :param propname: the child property's name.
    :param childobj: the storage (an instance of the type's instance type).
    :param size: the storage's size (see :func:`~qom.object.object_initialize`).
    :param type: the child's type.
    :param props: property name -> value text.
    :raise QOMError: a property or ``complete`` failed (the child is then finalized).
    :raise QOMFatal: as :func:`~qom.object.object_initialize`, or a duplicate child name.
    """
    check_table(parentobj, "object_initialize_child_with_props", "parentobj")
    if not isinstance(propname, str):
        raise TypeError(f"propname must be a str, not {propname.__class__.__name__}")
    if not isinstance(props, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in props.items()
    ):
        raise TypeError("props must be a mapping of str to str")
    object_initialize(childobj, size, type)
    try:
        for name, value in props.items():
            object_property_parse(childobj, name, value)
        object_property_add_child(parentobj, propname, childobj)
        if object_dynamic_cast(childobj, TYPE_USER_CREATABLE) is not None:
            try:
                user_creatable_complete(childobj)
            except QOMError:
                object_unparent(childobj)
                raise
    finally:
        object_unref(childobj)


def object_initialize_child(parent: Object, propname: str, child: Object, type: str) -> None:
    """``object_initialize_child()``: :func:`object_initialize_child_with_props` with no properties
    and ``error_abort`` (``object_initialize_child_internal``); the size is the type's own.

    :param parent: the parent.
    :param propname: the child property's name.
    :param child: the storage (an instance of the type's instance type).
    :param type: the child's type.
    :raise QOMFatal: on any failure.
    """
    try:
        # sizeof(*child): the storage is the instance itself, so its instance type is the check
        object_initialize_child_with_props(parent, propname, child, _SIZEOF_STORAGE, type, {})
    except QOMError as err:
        raise QOMFatal(err.desc) from None
