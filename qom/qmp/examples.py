"""A few example types to try QMP with (``qomsim serve --examples``), also used by the QMP tests.

The built-in ``-machine none`` universe models no user-creatable object type and
no pluggable device, so ``object-add`` and ``device_add`` could only fail there.
These types give them something to create:

========================  ==========================================================
``example-memory``        user-creatable object: ``size`` (uint64), ``share`` (bool,
                          default false); ``object-del`` refuses while ``pinned``
``example-device``        pluggable device without a bus: ``level`` (uint8, default
                          3), ``label`` (str)
``example-singleton``     pluggable device implementing ``singleton``
``example-internal``      user-creatable object implementing ``internal``
========================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from qom.object import Object
from qom.property import (
    ObjectPropertyFlags,
    object_class_property_set_description,
    object_property_set_default_bool,
)
from qom.property_typed import object_class_property_add_bool, object_class_property_add_uint64_ptr
from qom.qdev import DeviceClass, Property, device_class_set_props, qdev_prop_string, qdev_prop_uint8
from qom.types import ObjectClass, TypeInfo, object_class_dynamic_cast, type_register_static
from qom.user_creatable import UserCreatableClass

__all__ = ["EXAMPLE_TYPES", "ExampleMemory", "register_example_types"]

#: the names registered by :func:`register_example_types`
EXAMPLE_TYPES = ("example-memory", "example-device", "example-singleton", "example-internal")


class ExampleMemory(Object):
    """The instance struct of ``example-memory``."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.share = False
        self.pinned = False


def _mem(obj: Object) -> ExampleMemory:
    if not isinstance(obj, ExampleMemory):
        raise TypeError(f"expected an example-memory instance, not {type(obj).__name__}")
    return obj


def _memory_class_init(oc: ObjectClass, data: Any) -> None:
    object_class_property_add_uint64_ptr(oc, "size", "size", ObjectPropertyFlags.READWRITE)
    object_class_property_set_description(oc, "size", "size of the memory region in bytes")
    share = object_class_property_add_bool(oc, "share", _get_share, _set_share)
    object_property_set_default_bool(share, False)
    object_class_property_add_bool(oc, "pinned", _get_pinned, _set_pinned)
    uc = object_class_dynamic_cast(oc, "user-creatable")
    if isinstance(uc, UserCreatableClass):
        uc.can_be_deleted = _can_be_deleted


def _get_share(obj: Object) -> bool:
    return _mem(obj).share


def _set_share(obj: Object, value: bool) -> None:
    _mem(obj).share = value


def _get_pinned(obj: Object) -> bool:
    return _mem(obj).pinned


def _set_pinned(obj: Object, value: bool) -> None:
    _mem(obj).pinned = value


def _can_be_deleted(obj: Object) -> bool:
    return not _mem(obj).pinned


def _device_class_init(oc: ObjectClass, data: Any) -> None:
    if isinstance(oc, DeviceClass):
        oc.desc = "an example device without a bus"
        device_class_set_props(oc, [
            Property("level", qdev_prop_uint8, "level", default=3, set_default=True),
            Property("label", qdev_prop_string, "label"),
        ])


def _singleton_class_init(oc: ObjectClass, data: Any) -> None:
    if isinstance(oc, DeviceClass):
        oc.desc = "an example device of which only one may exist"


def register_example_types() -> None:
    """Register the example types in the current universe."""
    type_register_static(TypeInfo(
        name="example-memory", parent="object", class_init=_memory_class_init,
        interfaces=("user-creatable",), instance_type=ExampleMemory,
    ))
    type_register_static(TypeInfo(name="example-device", parent="device", class_init=_device_class_init))
    type_register_static(TypeInfo(
        name="example-singleton", parent="device", class_init=_singleton_class_init,
        interfaces=("singleton",),
    ))
    type_register_static(TypeInfo(
        name="example-internal", parent="object", interfaces=("user-creatable", "internal"),
    ))
