"""Devices and buses: ``device``, ``bus``, qdev static properties, realize, ``-global`` (spec §4.8).

Follows ``hw/core/qdev.c``, ``hw/core/bus.c`` and ``hw/core/qdev-properties.c``.  A qdev
static property is a :class:`Property` descriptor; :func:`device_class_set_props` turns each
one into a class property whose value lives in the instance attribute ``Property.attr``.
Enum values are stored as their index (as in C), strings as ``str | None``.

One concept, kept whole: qdev's devices, buses and static properties refer to one another at every
step (realize walks the bus, a static property checks the realized state, ``-global`` applies at
``instance_post_init``), as in QEMU's ``hw/core``; splitting them would only add import cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qom.errors import GenericError, QOMError, QOMFatal
from qom.object import AttrStore, Object, object_dynamic_cast, object_new, object_ref, object_unref
from qom.property import (
    ObjectProperty,
    object_class_property_add,
    object_class_property_set_description,
    object_property_find,
    object_property_parse,
    object_property_set_bool,
    object_property_set_default_bool,
    object_property_set_default_int,
    object_property_set_default_str,
    object_property_set_default_uint,
)
from qom.property_typed import object_class_property_add_bool
from qom.tree import (
    ObjectPropertyLinkFlags,
    object_class_property_add_link,
    object_get_root,
    object_property_add_child,
    object_resolve_path_component,
    object_unparent,
)
from qom.types import TYPE_INTERFACE, TYPE_OBJECT, InterfaceClass, ObjectClass, TypeInfo, type_register_static
from qom.universe import GlobalProperty, MachinePhase, current_universe
from qom.visitor import JSON, QObjectInputVisitor, Visitor

__all__ = [
    "TYPE_BUS",
    "TYPE_DEVICE",
    "TYPE_RESETTABLE_INTERFACE",
    "TYPE_SYSTEM_BUS",
    "TYPE_SYS_BUS_DEVICE",
    "TYPE_VMSTATE_IF",
    "BusClass",
    "BusState",
    "DeviceClass",
    "DeviceState",
    "Property",
    "PropertyInfo",
    "device_class_set_props",
    "phase_check",
    "qbus_new",
    "qdev_get_machine",
    "qdev_machine_creation_done",
    "qdev_new",
    "qdev_prop_allow_set_link_before_realize",
    "qdev_prop_bool",
    "qdev_prop_enum",
    "qdev_prop_int32",
    "qdev_prop_int64",
    "qdev_prop_register_global",
    "qdev_prop_size",
    "qdev_prop_str_or_null",
    "qdev_prop_string",
    "qdev_prop_uint8",
    "qdev_prop_uint16",
    "qdev_prop_uint32",
    "qdev_prop_uint64",
    "qdev_realize",
    "qdev_realize_and_unref",
    "qdev_set_parent_bus",
    "qdev_unrealize",
]

TYPE_DEVICE = "device"
TYPE_BUS = "bus"
TYPE_SYS_BUS_DEVICE = "sys-bus-device"
TYPE_SYSTEM_BUS = "System"
TYPE_VMSTATE_IF = "vmstate-if"
TYPE_RESETTABLE_INTERFACE = "resettable"

_MAX_PROPS = 65535


# -- class and instance structs ------------------------------------------------------------------


class DeviceClass(ObjectClass):
    """``DeviceClass``: ``realize``/``unrealize`` hooks (raise QOMError to fail), ``user_creatable``,
    ``hotpluggable``, ``props_`` (this class's own static properties), ``desc``, ``bus_type``."""

    def __init__(self) -> None:
        super().__init__()
        self.realize: Callable[[DeviceState], None] | None = None
        self.unrealize: Callable[[DeviceState], None] | None = None
        self.user_creatable = True
        self.hotpluggable = True
        self.props_: list[Property] = []
        self.desc: str | None = None
        self.bus_type: str | None = None


class DeviceState(Object):
    """``DeviceState``: ``id``, ``realized``, ``hotplugged``, ``parent_bus``, ``child_bus``."""

    def __init__(self) -> None:
        super().__init__()
        self.id: str | None = None
        self.realized = False
        self.hotplugged = False
        self.parent_bus: BusState | None = None
        self.child_bus: list[BusState] = []
        self.pending_deleted_event = False
        self.instance_id_alias = -1


class BusClass(ObjectClass):
    """``BusClass``."""


class BusState(Object):
    """``BusState``: ``parent`` device (``bus_parent``), ``name``, ``children``, ``realized``."""

    def __init__(self) -> None:
        super().__init__()
        self.bus_parent: DeviceState | None = None
        self.name: str | None = None
        self.children: list[DeviceState] = []
        self.realized = False
        self.hotplug_handler: Object | None = None


# -- qdev static properties ------------------------------------------------------------------------

FieldGet = Callable[[Object, Visitor, str, "Property"], None]
FieldRelease = Callable[[Object, str, "Property"], None]
SetDefault = Callable[[ObjectProperty, "Property"], None]


@dataclass(frozen=True)
class PropertyInfo:
    """A qdev property kind (C: ``PropertyInfo``).

    ``get``/``set`` work on the instance attribute ``Property.attr``; ``set_default_value``
    records ``Property.default`` as the class property's ``defval``.
    """

    type: str
    description: str | None = None
    enum_values: tuple[str, ...] | None = None
    get: FieldGet | None = None
    set: FieldGet | None = None
    release: FieldRelease | None = None
    set_default_value: SetDefault | None = None
    realized_set_allowed: bool = False
    #: ``set`` only stores the parsed value (no side effects), so a default may be parsed once
    plain_store: bool = False


@dataclass(frozen=True)
class Property:
    """A qdev static property descriptor (C: ``Property``, ``DEFINE_PROP_*``)."""

    name: str
    info: PropertyInfo
    attr: str
    default: JSON = None
    set_default: bool = False


def _zero(prop: Property) -> Any:
    return getattr(_ZERO, prop.info.type, 0)


class _Zero:
    bool = False
    str = None
    StrOrNull = None


_ZERO = _Zero()


def _field(obj: Object, prop: Property) -> Any:
    return getattr(obj, prop.attr, _zero(prop))


def _int_info(kind: str, signed: bool) -> PropertyInfo:
    if signed:

        def get(obj: Object, v: Visitor, name: str, prop: Property) -> None:
            v.type_int(name, _field(obj, prop), kind)

        def set_(obj: Object, v: Visitor, name: str, prop: Property) -> None:
            setattr(obj, prop.attr, v.type_int(name, 0, kind))

        def default(op: ObjectProperty, prop: Property) -> None:
            if isinstance(prop.default, bool) or not isinstance(prop.default, int):
                raise QOMFatal(f"qdev property '{prop.name}': default must be an int")
            object_property_set_default_int(op, prop.default)

    else:

        def get(obj: Object, v: Visitor, name: str, prop: Property) -> None:
            v.type_uint(name, _field(obj, prop), kind)

        def set_(obj: Object, v: Visitor, name: str, prop: Property) -> None:
            setattr(obj, prop.attr, v.type_uint(name, 0, kind))

        def default(op: ObjectProperty, prop: Property) -> None:
            if isinstance(prop.default, bool) or not isinstance(prop.default, int) or prop.default < 0:
                raise QOMFatal(f"qdev property '{prop.name}': default must be a non-negative int")
            object_property_set_default_uint(op, prop.default)

    return PropertyInfo(type=kind, get=get, set=set_, set_default_value=default, plain_store=True)


def _get_bool(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    v.type_bool(name, _field(obj, prop))


def _set_bool(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    setattr(obj, prop.attr, v.type_bool(name))


def _default_bool(op: ObjectProperty, prop: Property) -> None:
    if not isinstance(prop.default, bool):
        raise QOMFatal(f"qdev property '{prop.name}': default must be a bool")
    object_property_set_default_bool(op, prop.default)


def _get_size(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    v.type_size(name, _field(obj, prop))


def _set_size(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    setattr(obj, prop.attr, v.type_size(name))


def _get_string(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    v.type_str(name, _field(obj, prop) or "")


def _set_string(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    setattr(obj, prop.attr, v.type_str(name))


def _release_string(obj: Object, name: str, prop: Property) -> None:
    setattr(obj, prop.attr, None)


def _default_str_or_null(op: ObjectProperty, prop: Property) -> None:
    # migration/options.c set_default_value_tls_opt: always the empty string
    object_property_set_default_str(op, prop.default if isinstance(prop.default, str) else "")


qdev_prop_bool = PropertyInfo(
    type="bool",
    description="on/off",
    get=_get_bool,
    set=_set_bool,
    set_default_value=_default_bool,
    plain_store=True,
)
qdev_prop_uint8 = _int_info("uint8", False)
qdev_prop_uint16 = _int_info("uint16", False)
qdev_prop_uint32 = _int_info("uint32", False)
qdev_prop_uint64 = _int_info("uint64", False)
qdev_prop_int32 = _int_info("int32", True)
qdev_prop_int64 = _int_info("int64", True)
qdev_prop_size = PropertyInfo(
    type="size",
    get=_get_size,
    set=_set_size,
    set_default_value=qdev_prop_uint64.set_default_value,
    plain_store=True,
)
qdev_prop_string = PropertyInfo(type="str", get=_get_string, set=_set_string, release=_release_string)
#: TYPE_MIGRATION's TLS options (``migration/options.c``): reads as a string, default ""
qdev_prop_str_or_null = PropertyInfo(
    type="StrOrNull",
    get=_get_string,
    set=_set_string,
    release=_release_string,
    set_default_value=_default_str_or_null,
    plain_store=True,
)


def qdev_prop_enum(typename: str, values: Sequence[str], description: str | None = None) -> PropertyInfo:
    """Make the ``PropertyInfo`` of a QAPI enum (e.g. ``MigMode``); the field holds the index.

    :param typename: the enum type name (the property's type string).
    :param values: the names, by index.
    :param description: e.g. ``"on/off/auto"``.
    :return: the info; ``Property.default`` may be an index or a name.
    :raise TypeError: when an argument has the wrong type.
    """
    if not isinstance(typename, str):
        raise TypeError(f"typename must be a str, not {type(typename).__name__}")
    if isinstance(values, str) or not all(isinstance(x, str) for x in values):
        raise TypeError("values must be a sequence of str")
    if description is not None and not isinstance(description, str):
        raise TypeError(
            f"qdev_prop_enum(): description must be a str or None, not {type(description).__name__}"
        )
    lookup = tuple(values)

    def get(obj: Object, v: Visitor, name: str, prop: Property) -> None:
        v.type_enum(name, _field(obj, prop), lookup)

    def set_(obj: Object, v: Visitor, name: str, prop: Property) -> None:
        setattr(obj, prop.attr, v.type_enum(name, 0, lookup))

    def default(op: ObjectProperty, prop: Property) -> None:
        d = prop.default
        if isinstance(d, str) and d in lookup:
            object_property_set_default_str(op, d)
        elif isinstance(d, int) and not isinstance(d, bool) and 0 <= d < len(lookup):
            object_property_set_default_str(op, lookup[d])
        else:
            raise QOMFatal(f"qdev property '{prop.name}': default {d!r} is not a {typename} value")

    return PropertyInfo(
        type=typename,
        description=description,
        enum_values=lookup,
        get=get,
        set=set_,
        set_default_value=default,
        plain_store=True,
    )


def _set_after_realize(dev: DeviceState, name: str) -> GenericError:
    if dev.id:
        return GenericError(
            f"Attempt to set property '{name}' on device '{dev.id}' (type '{dev.klass.type.name}') "
            "after it was realized"
        )
    return GenericError(
        f"Attempt to set property '{name}' on anonymous device (type '{dev.klass.type.name}') "
        "after it was realized"
    )


def _field_prop_get(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    getter = prop.info.get
    assert getter is not None  # installed only when the info has a getter
    getter(obj, v, name, prop)


def _field_prop_set(obj: Object, v: Visitor, name: str, prop: Property) -> None:
    if isinstance(obj, DeviceState) and obj.realized and not prop.info.realized_set_allowed:
        raise _set_after_realize(obj, name)
    setter = prop.info.set
    assert setter is not None  # installed only when the info has a setter
    setter(obj, v, name, prop)


def _field_prop_release(obj: Object, name: str, prop: Property) -> None:
    release = prop.info.release
    assert release is not None  # installed only when the info has a release hook
    release(obj, name, prop)


class _Scratch(Object):
    """A stand-in instance on which a default is parsed once, at class init."""


def _fast_default(op: ObjectProperty, prop: Property) -> Callable[[Object, ObjectProperty], None]:
    """Parse ``defval`` once with the property's own setter; each instance then gets a plain store.

    Equivalent to QEMU's ``object_property_init_defval`` (QObject input visitor into the setter):
    at init time a device is never realized and a field setter only stores the parsed value.
    """
    setter = prop.info.set
    assert setter is not None  # checked by the caller
    scratch = _Scratch()
    try:
        setter(scratch, QObjectInputVisitor(op.defval), prop.name, prop)
    except QOMError as err:
        raise QOMFatal(err.desc) from None
    return AttrStore(prop.attr, getattr(scratch, prop.attr))


def _qdev_class_add_property(klass: ObjectClass, prop: Property) -> None:
    info = prop.info
    op = object_class_property_add(
        klass,
        prop.name,
        info.type,
        _field_prop_get if info.get else None,
        _field_prop_set if info.set else None,
        _field_prop_release if info.release else None,
        prop,
    )
    if prop.set_default:
        if info.set_default_value is None:
            raise QOMFatal(f"qdev property '{prop.name}' of type '{info.type}' cannot have a default")
        info.set_default_value(op, prop)
        if info.plain_store and info.set is not None and op.init is not None:
            op.init = _fast_default(op, prop)
    object_class_property_set_description(klass, prop.name, info.description)


def device_class_set_props(dc: DeviceClass, props: Sequence[Property]) -> None:
    """Declare a device class's static properties (``device_class_set_props_n``).

    :param dc: the class (from its ``class_init``).
    :param props: the descriptors (non-empty, at most 65535).
    :raise QOMFatal: on an empty list, a duplicate name, or a default the kind cannot hold.
    """
    if not isinstance(dc, DeviceClass):
        raise TypeError(f"dc must be a DeviceClass, not {type(dc).__name__}")
    if isinstance(props, Property) or not all(isinstance(p, Property) for p in props):
        raise TypeError("props must be a sequence of Property")
    if not 0 < len(props) <= _MAX_PROPS:
        raise QOMFatal("assertion failed: (n > 0 && n <= UINT16_MAX)")
    dc.props_ = list(props)
    for prop in props:
        _qdev_class_add_property(dc, prop)


# -- device behaviour -------------------------------------------------------------------------------


def phase_check(phase: MachinePhase) -> bool:
    """:param phase: a machine phase.
    :return: whether the current universe has reached it."""
    return current_universe().machine_phase.value >= phase.value


def qdev_machine_creation_done() -> None:
    """Advance the machine phase to ``MACHINE_READY`` (devices created later are hotplugged)."""
    current_universe().machine_phase = MachinePhase.MACHINE_READY


def qdev_get_machine() -> Object:
    """:return: ``/machine``.
    :raise QOMFatal: when the universe has no machine."""
    machine = object_resolve_path_component(object_get_root(), "machine")
    if machine is None:
        raise QOMFatal("assertion failed: (dev)")
    return machine


def qdev_prop_register_global(driver: str, property: str, value: str) -> None:
    """Register ``-global DRIVER.PROPERTY=VALUE``; applied in ``device``'s ``instance_post_init``.

    :param driver: a type name (matches every object that casts to it).
    :param property: the property name.
    :param value: the value, parsed by the string input visitor.
    """
    for what, x in (("driver", driver), ("property", property), ("value", value)):
        if not isinstance(x, str):
            raise TypeError(f"{what} must be a str, not {type(x).__name__}")
    current_universe().globals.append(GlobalProperty(driver, property, value))


def _apply_globals(obj: Object, fatal: bool) -> None:
    u = obj.universe
    for g in list(u.globals):
        if object_dynamic_cast(obj, g.driver) is None:
            continue
        if g.optional and object_property_find(obj, g.property) is None:
            continue
        try:
            object_property_parse(obj, g.property, g.value)
        except QOMError as err:
            msg = f"can't apply global {g.driver}.{g.property}={g.value}: {err.desc}"
            if fatal:
                raise QOMFatal(msg) from None
            u.warnings.append(msg)


def _device_initfn(obj: Object) -> None:
    dev = _dev(obj)
    u = obj.universe
    if u.machine_phase is MachinePhase.MACHINE_READY:
        dev.hotplugged = True
        u.qdev_hot_added = True
    dev.instance_id_alias = -1
    dev.realized = False


def _device_post_init(obj: Object) -> None:
    dev = _dev(obj)
    _apply_globals(obj, fatal=not dev.hotplugged)


def _dev(obj: Object) -> DeviceState:
    if not isinstance(obj, DeviceState):
        raise QOMFatal(f"device type '{obj.klass.type.name}' must use a DeviceState instance_type")
    return obj


def _dc(obj: Object) -> DeviceClass:
    if not isinstance(obj.klass, DeviceClass):
        raise QOMFatal(f"device type '{obj.klass.type.name}' must use a DeviceClass class_type")
    return obj.klass


def _device_get_realized(obj: Object) -> bool:
    return _dev(obj).realized


def _device_set_realized(obj: Object, value: bool) -> None:
    dev = _dev(obj)
    dc = _dc(obj)
    u = obj.universe
    if value and not dev.realized:
        unattached_parent = False
        if obj.parent is None:
            from qom.universe import use_universe

            with use_universe(u):
                unattached = object_resolve_path_component(qdev_get_machine(), "unattached")
                if unattached is None:
                    raise QOMFatal("qdev: /machine/unattached is missing")
                name = f"device[{u.unattached_count}]"
                u.unattached_count += 1
                object_property_add_child(unattached, name, obj)
                unattached_parent = True
        if dc.realize is not None:
            try:
                dc.realize(dev)
            except QOMError:
                # hw/core/qdev.c:device_set_realized, label fail: undo the unattached parent
                if unattached_parent:
                    object_unparent(obj)
                    u.unattached_count -= 1
                raise
        for bus in dev.child_bus:
            bus.realized = True
        dev.pending_deleted_event = False
        dev.realized = True
    elif not value and dev.realized:
        for bus in dev.child_bus:
            bus.realized = False
        if dc.unrealize is not None:
            dc.unrealize(dev)
        dev.pending_deleted_event = True
        dev.realized = False


def _device_get_hotpluggable(obj: Object) -> bool:
    dev = _dev(obj)
    bus = dev.parent_bus
    return _dc(obj).hotpluggable and (bus is None or bus.hotplug_handler is not None)


def _device_get_hotplugged(obj: Object) -> bool:
    return _dev(obj).hotplugged


def _bus_remove_child(bus: BusState, child: DeviceState) -> None:
    if child in bus.children:
        bus.children.remove(child)
        object_unref(child)


def _device_unparent(obj: Object) -> None:
    dev = _dev(obj)
    if dev.realized:
        qdev_unrealize(dev)
    while dev.child_bus:
        object_unparent(dev.child_bus[0])
    bus = dev.parent_bus
    if bus is not None:
        _bus_remove_child(bus, dev)
        dev.parent_bus = None
        object_unref(bus)


def _device_class_init(oc: ObjectClass, data: Any) -> None:
    dc = oc
    if not isinstance(dc, DeviceClass):
        raise QOMFatal("device class must be a DeviceClass")
    dc.unparent = _device_unparent
    dc.hotpluggable = True
    dc.user_creatable = True
    object_class_property_add_bool(oc, "realized", _device_get_realized, _device_set_realized)
    object_class_property_add_bool(oc, "hotpluggable", _device_get_hotpluggable, None)
    object_class_property_add_bool(oc, "hotplugged", _device_get_hotplugged, None)
    object_class_property_add_link(
        oc, "parent_bus", TYPE_BUS, "parent_bus", None, ObjectPropertyLinkFlags.NONE
    )


def _device_class_base_init(oc: ObjectClass, data: Any) -> None:
    # undo the byte copy: each class lists only its own static properties
    if isinstance(oc, DeviceClass):
        oc.props_ = []


def qdev_prop_allow_set_link_before_realize(obj: Object, name: str, target: Object | None) -> None:
    """Link check refusing changes once the device is realized.

    :param obj: the device.
    :param name: the link property.
    :param target: the new target.
    :raise GenericError: "Attempt to set link property '%s' on device '%s' (type '%s') after it was realized".
    :raise TypeError: when an argument has the wrong type.
    """
    fn = "qdev_prop_allow_set_link_before_realize()"
    if not isinstance(obj, Object):
        raise TypeError(f"{fn}: obj must be an Object, not {type(obj).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{fn}: name must be a str, not {type(name).__name__}")
    if target is not None and not isinstance(target, Object):
        raise TypeError(f"{fn}: target must be an Object or None, not {type(target).__name__}")
    if isinstance(obj, DeviceState) and obj.realized:
        raise GenericError(
            f"Attempt to set link property '{name}' on device '{obj.id}' (type '{obj.klass.type.name}') "
            "after it was realized"
        )


def _bus_unparent(obj: Object) -> None:
    bus = obj
    if not isinstance(bus, BusState):
        return
    while bus.children:
        child = bus.children[0]
        if child.parent is not None:
            object_unparent(child)
        else:
            _bus_remove_child(bus, child)
            if child.parent_bus is bus:
                child.parent_bus = None
                object_unref(bus)
    parent = bus.bus_parent
    if parent is not None and bus in parent.child_bus:
        parent.child_bus.remove(bus)
    bus.bus_parent = None


def _bus_class_init(oc: ObjectClass, data: Any) -> None:
    oc.unparent = _bus_unparent


def register_builtin_types() -> None:
    """Register ``vmstate-if``, ``resettable``, ``device``, ``sys-bus-device``, ``bus``, ``System``."""
    type_register_static(TypeInfo(name=TYPE_VMSTATE_IF, parent=TYPE_INTERFACE, class_type=InterfaceClass))
    type_register_static(TypeInfo(name=TYPE_RESETTABLE_INTERFACE, parent=TYPE_INTERFACE))
    type_register_static(
        TypeInfo(
            name=TYPE_DEVICE,
            parent=TYPE_OBJECT,
            abstract=True,
            class_init=_device_class_init,
            class_base_init=_device_class_base_init,
            instance_init=_device_initfn,
            instance_post_init=_device_post_init,
            interfaces=(TYPE_VMSTATE_IF, TYPE_RESETTABLE_INTERFACE),
            class_type=DeviceClass,
            instance_type=DeviceState,
        )
    )
    type_register_static(TypeInfo(name=TYPE_SYS_BUS_DEVICE, parent=TYPE_DEVICE, abstract=True))
    type_register_static(
        TypeInfo(
            name=TYPE_BUS,
            parent=TYPE_OBJECT,
            abstract=True,
            class_init=_bus_class_init,
            interfaces=(TYPE_RESETTABLE_INTERFACE,),
            class_type=BusClass,
            instance_type=BusState,
        )
    )
    type_register_static(TypeInfo(name=TYPE_SYSTEM_BUS, parent=TYPE_BUS))


# -- creation helpers --------------------------------------------------------------------------------


def qdev_new(typename: str) -> DeviceState:
    """Create a device (``qdev_new``).

    :param typename: a concrete device type.
    :return: the device, with the caller's reference.
    :raise QOMFatal: when the type is unknown, abstract or not a device.
    """
    obj = object_new(typename)
    if not isinstance(obj, DeviceState) or object_dynamic_cast(obj, TYPE_DEVICE) is None:
        object_unref(obj)
        raise QOMFatal(
            f"qom/object.c:object_dynamic_cast_assert: Object {typename} is not an instance of type "
            f"{TYPE_DEVICE}"
        )
    return obj


def qbus_new(typename: str, parent: DeviceState | None, name: str | None) -> BusState:
    """Create a bus; with a parent device, it becomes that device's child ``name``.

    :param typename: a concrete bus type.
    :param parent: the device owning the bus, or ``None``.
    :param name: the bus name (default: ``<type>.<n>``, lower-cased as QEMU does).
    :return: the bus (owned by its parent when there is one, else by the caller).
    :raise QOMFatal: when the type is not a bus.
    :raise TypeError: when an argument has the wrong type (nothing is created then).
    """
    if parent is not None and not isinstance(parent, DeviceState):
        raise TypeError(f"qbus_new(): parent must be a DeviceState or None, not {type(parent).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"qbus_new(): name must be a str or None, not {type(name).__name__}")
    obj = object_new(typename)
    if not isinstance(obj, BusState):
        object_unref(obj)
        raise QOMFatal(f"type '{typename}' is not a bus")
    if name is None:
        count = len(parent.child_bus) if parent is not None else 0
        name = f"{typename}.{count}".lower()
    obj.name = name
    if parent is not None:
        obj.bus_parent = parent
        parent.child_bus.append(obj)
        object_property_add_child(parent, name, obj)
        object_unref(obj)
    return obj


def qdev_set_parent_bus(dev: DeviceState, bus: BusState) -> None:
    """Plug ``dev`` into ``bus`` (the device and the bus reference each other).

    :param dev: the device.
    :param bus: the bus.
    """
    old = dev.parent_bus
    if old is not None:
        _bus_remove_child(old, dev)
        dev.parent_bus = None
        object_unref(old)
    dev.parent_bus = object_ref(bus)  # type: ignore[assignment]  # object_ref returns its argument
    bus.children.append(object_ref(dev))  # type: ignore[arg-type]


def qdev_realize(dev: DeviceState, bus: BusState | None) -> None:
    """Plug into ``bus`` (if given) and realize (``realized = true``).

    :param dev: the device.
    :param bus: its bus, or ``None``.
    :raise QOMError: when realize fails.
    :raise TypeError: when an argument has the wrong type.
    """
    if not isinstance(dev, DeviceState):
        raise TypeError(f"dev must be a DeviceState, not {type(dev).__name__}")
    if bus is not None and not isinstance(bus, BusState):
        raise TypeError(f"qdev_realize(): bus must be a BusState or None, not {type(bus).__name__}")
    if bus is not None:
        qdev_set_parent_bus(dev, bus)
    object_property_set_bool(dev, "realized", True)


def qdev_realize_and_unref(dev: DeviceState, bus: BusState | None) -> None:
    """Realize, then drop the caller's reference whatever the outcome
    (``hw/core/qdev.c:qdev_realize_and_unref``): the usual end of ``qdev_new``.

    On success the device lives on through its parent (``/machine/unattached`` when it had
    none); on failure the unref finalizes a device nothing else holds.

    :param dev: the device, with the reference :func:`qdev_new` gave the caller.
    :param bus: its bus, or ``None``.
    :raise QOMError: when realize fails (after the unref).
    """
    if not isinstance(dev, DeviceState):
        raise TypeError(f"dev must be a DeviceState, not {type(dev).__name__}")
    if bus is not None and not isinstance(bus, BusState):
        raise TypeError(f"qdev_realize_and_unref(): bus must be a BusState or None, not {type(bus).__name__}")
    try:
        qdev_realize(dev, bus)
    finally:
        object_unref(dev)


def qdev_unrealize(dev: DeviceState) -> None:
    """Unrealize (``realized = false``, with ``error_abort``).

    :param dev: the device.
    :raise QOMFatal: when unrealize fails.
    """
    if not isinstance(dev, DeviceState):
        raise TypeError(f"dev must be a DeviceState, not {type(dev).__name__}")
    try:
        object_property_set_bool(dev, "realized", False)
    except QOMError as err:
        raise QOMFatal(err.desc) from None
