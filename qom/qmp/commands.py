"""The QOM commands of QMP: ``qom-*``, ``object-add``/``-del``, ``device_add``/``_del``, introspection.

Each handler takes a :class:`~qom.qmp.schema.CommandContext` and arguments the
dispatcher has already checked against the entry's schema, and raises a
:class:`~qom.errors.QOMError` with QEMU's class and text on failure.  Sources:
``qom/qom-qmp-cmds.c``, ``qom/object_interfaces.c``, ``system/qdev-monitor.c``,
``hw/core/qdev-hotplug.c``, and for the singleton behaviour Peter Xu's RFC v2
(``qom: TYPE_SINGLETON interface``).

Every handler does its checks before it changes anything, so that a command that
fails leaves the universe as it was: where QEMU would create an object and then
find the error (``object-add``/``device_add`` with a bad member), the arguments
are checked against the class first, as QEMU's QAPI schema for ``object-add``
does.  Only errors no class can predict (a ``complete`` or ``realize`` that fails,
a setter refusing a well-typed value) still create and finalize an object, as in
QEMU (docs/known-differences.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import cast

from qom.errors import DeviceNotFound, GenericError, QOMError
from qom.object import (
    Object,
    object_dynamic_cast,
    object_get_typename,
    object_new_with_class,
    object_unref,
)
from qom.property import (
    ObjectProperty,
    object_class_property_iter,
    object_property_get,
    object_property_iter,
    object_property_parse,
    object_property_set,
)
from qom.qdev import DeviceClass, DeviceState, phase_check, qdev_new, qdev_realize, qdev_unrealize
from qom.qmp.json import JSON
from qom.qmp.schema import Arg, Command, CommandContext
from qom.singleton import object_class_is_internal, object_class_is_singleton, singleton_get_instance
from qom.tree import (
    object_property_add_child,
    object_property_try_add_child,
    object_resolve_path,
    object_resolve_path_ambiguous,
    object_resolve_path_at,
    object_resolve_path_component,
    object_unparent,
)
from qom.types import (
    ObjectClass,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_get_list,
    object_class_get_name,
    object_class_get_parent,
    object_class_is_abstract,
)
from qom.universe import IntrospectionMode, MachinePhase, Universe
from qom.user_creatable import id_wellformed, user_creatable_add_type, user_creatable_del
from qom.visitor import QObjectInputVisitor, StringInputVisitor, Visitor

__all__ = [
    "DEVICE_HIDDEN_PROPERTIES",
    "QOM_COMMANDS",
    "device_list_properties",
    "introspection_properties",
    "property_info",
    "qdev_device_add",
    "qom_resolve_path",
]

TYPE_OBJECT = "object"
TYPE_DEVICE = "device"
TYPE_USER_CREATABLE = "user-creatable"
TYPE_SYS_BUS_DEVICE = "sys-bus-device"

#: properties device-list-properties leaves out (plus every ``legacy-*`` name)
DEVICE_HIDDEN_PROPERTIES = frozenset({"type", "realized", "hotpluggable", "hotplugged", "parent_bus"})

def _is_interface_type(klass: ObjectClass) -> bool:
    parent: ObjectClass | None = klass
    while parent is not None:
        if object_class_get_name(parent) == "interface":
            return True
        parent = object_class_get_parent(parent)
    return False


def _hidden(u: Universe, klass: ObjectClass) -> bool:
    """Whether the policy hides a class: it implements ``internal`` (the interface types stay visible)."""
    return u.qmp_policy.hide_internal and object_class_is_internal(klass) and not _is_interface_type(klass)


def _class_for_qmp(u: Universe, name: str) -> ObjectClass | None:
    """``module_object_class_by_name``, with internal classes invisible when the policy hides them."""
    klass = object_class_by_name(name)
    if klass is None or _hidden(u, klass):
        return None
    return klass


def _singleton_conflict(u: Universe, klass: ObjectClass) -> None:
    """RFC v2's ``object_new_allowed()`` singleton half, for the user-facing creation paths."""
    if not (u.qmp_policy.user_creation_checks_singleton and object_class_is_singleton(klass)):
        return
    live = singleton_get_instance(klass)  # a new reference, dropped at once
    if live is not None:
        object_unref(live)
        raise GenericError(
            f"Object type '{object_class_get_name(klass)}' conflicts with an existing singleton instance"
        )


def qom_resolve_path(path: str) -> Object:
    """Resolve a path as ``qom-list`` does.

    :param path: an absolute or partial path.
    :return: the object.
    :raise GenericError: when a partial path is ambiguous.
    :raise DeviceNotFound: when nothing matches.
    """
    obj, ambiguous = object_resolve_path_ambiguous(path)
    if obj is None:
        if ambiguous:
            raise GenericError(f"Path '{path}' is ambiguous")
        raise DeviceNotFound(f"Device '{path}' not found")
    return obj


def property_info(prop: ObjectProperty) -> dict[str, JSON]:
    """:param prop: a property.
    :return: its ``ObjectPropertyInfo`` (``name``, ``type``, ``description?``, ``default-value?``).
    """
    info: dict[str, JSON] = {"name": prop.name, "type": prop.type}
    if prop.description is not None:
        info["description"] = prop.description
    if prop.defval is not None:
        info["default-value"] = prop.defval
    return info


def _reversed(props: Iterable[ObjectProperty]) -> list[ObjectProperty]:
    # QEMU builds every list by prepending, so the answer is the iteration order reversed
    out = list(props)
    out.reverse()
    return out


def introspection_properties(
    u: Universe, klass: ObjectClass, mode: IntrospectionMode
) -> list[ObjectProperty]:
    """The properties a concrete class shows to introspection, under a policy mode.

    ``INSTANTIATE`` creates and finalizes a temporary instance (QEMU master);
    ``CLASS_ONLY`` never instantiates; ``SINGLETON_CLASS_ONLY`` lists class
    properties for singleton classes only; ``SINGLETON_FETCH`` uses a singleton's
    live instance (a new reference, dropped afterwards) and otherwise a temporary.

    :param u: the universe.
    :param klass: a concrete class.
    :param mode: the policy mode.
    :return: the properties in QEMU's answer order (iteration order reversed).
    """
    singleton = object_class_is_singleton(klass)
    if mode is IntrospectionMode.CLASS_ONLY or (mode is IntrospectionMode.SINGLETON_CLASS_ONLY and singleton):
        return _reversed(object_class_property_iter(klass))
    obj: Object | None = None
    if mode is IntrospectionMode.SINGLETON_FETCH and singleton:
        obj = singleton_get_instance(klass)  # a new reference, or None
    if obj is None:
        obj = object_new_with_class(klass)
    try:
        return _reversed(object_property_iter(obj))
    finally:
        object_unref(obj)


# -- qom-list, qom-get, qom-set, qom-list-get ---------------------------------------------------------


def _qom_list(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    obj = qom_resolve_path(cast(str, args["path"]))
    return [{"name": p.name, "type": p.type} for p in _reversed(object_property_iter(obj))]


def _resolve_unambiguous(path: str) -> Object:
    obj = object_resolve_path(path)
    if obj is None:
        raise DeviceNotFound(f"Device '{path}' not found")
    return obj


def _qom_get(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    obj = _resolve_unambiguous(cast(str, args["path"]))
    return object_property_get(obj, cast(str, args["property"]))


def _qom_set(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    obj = _resolve_unambiguous(cast(str, args["path"]))
    object_property_set(obj, cast(str, args["property"]), args["value"])
    return None


def _property_values(obj: Object) -> Iterator[dict[str, JSON]]:
    for prop in _reversed(object_property_iter(obj)):
        item: dict[str, JSON] = {"name": prop.name, "type": prop.type}
        with contextlib.suppress(QOMError):  # the value is omitted when the read fails
            item["value"] = object_property_get(obj, prop.name)
        yield item


def _qom_list_get(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    paths = cast(list[str], args["paths"])
    cap = ctx.session.max_list_paths
    if cap is not None and len(paths) > cap:  # qomsim's work cap: one command may not starve the server
        raise GenericError(f"Parameter 'paths' expects a list of at most {cap} elements")
    # any bad path fails the whole command
    objs = [qom_resolve_path(p) for p in paths]
    return [{"properties": list(_property_values(obj))} for obj in objs]


# -- qom-list-types, qom-list-properties, device-list-properties --------------------------------------


def _qom_list_types(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    u = ctx.universe
    implements = cast("str | None", args.get("implements"))
    abstract = bool(args.get("abstract", False))
    out: list[JSON] = []
    for klass in object_class_get_list(implements, abstract):
        if _hidden(u, klass):
            continue
        info: dict[str, JSON] = {"name": object_class_get_name(klass)}
        if object_class_is_abstract(klass):
            info["abstract"] = True
        parent = object_class_get_parent(klass)
        if parent is not None:
            info["parent"] = object_class_get_name(parent)
        out.append(info)
    return out


def _qom_list_properties(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    u = ctx.universe
    typename = cast(str, args["typename"])
    klass = _class_for_qmp(u, typename)
    if klass is None:
        raise DeviceNotFound(f"Class '{typename}' not found")
    if object_class_dynamic_cast(klass, TYPE_OBJECT) is None:
        raise GenericError("Parameter 'typename' expects a QOM type")
    if object_class_is_abstract(klass):
        props = _reversed(object_class_property_iter(klass))
    else:
        props = introspection_properties(u, klass, u.qmp_policy.qom_list_properties)
    return [property_info(p) for p in props]


def device_list_properties(u: Universe, typename: str) -> list[ObjectProperty]:
    """The properties ``device-list-properties`` reports (also used by HMP ``device_add T,help``).

    :param u: the universe.
    :param typename: the device type.
    :return: the properties, hidden names left out.
    :raise DeviceNotFound: when the type does not exist (or is hidden).
    :raise GenericError: when it is not a concrete device type.
    """
    klass = _class_for_qmp(u, typename)
    if klass is None:
        raise DeviceNotFound(f"Device '{typename}' not found")
    if object_class_dynamic_cast(klass, TYPE_DEVICE) is None or object_class_is_abstract(klass):
        raise GenericError("Parameter 'typename' expects a non-abstract device type")
    props = introspection_properties(u, klass, u.qmp_policy.device_list_properties)
    return [p for p in props if p.name not in DEVICE_HIDDEN_PROPERTIES and not p.name.startswith("legacy-")]


def _device_list_properties(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    return [property_info(p) for p in device_list_properties(ctx.universe, cast(str, args["typename"]))]


# -- object-add, object-del ---------------------------------------------------------------------------


def _objects_root_child(name: str) -> Object | None:
    root = object_resolve_path("/objects")
    return None if root is None else object_resolve_path_component(root, name)


def _object_add(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    u = ctx.universe
    typename = cast(str, args["qom-type"])
    klass = _class_for_qmp(u, typename)
    # QAPI's ObjectType enum lists exactly the concrete user-creatable types
    if (
        klass is None
        or object_class_dynamic_cast(klass, TYPE_USER_CREATABLE) is None
        or object_class_is_abstract(klass)
    ):
        raise GenericError(f"Parameter 'qom-type' does not accept value '{typename}'")
    if "id" not in args:
        raise GenericError("Parameter 'id' is missing")
    oid = args["id"]
    if not isinstance(oid, str):
        raise GenericError("Invalid parameter type for 'id', expected: string")
    props = {k: v for k, v in args.items() if k not in ("qom-type", "id")}
    if not id_wellformed(oid):
        raise GenericError("Parameter 'id' expects an identifier")
    _singleton_conflict(u, klass)
    if _objects_root_child(oid) is not None:
        raise GenericError(f"attempt to add duplicate property '{oid}' to object (type 'container')")
    _check_props_against_class(klass, props, "Parameter '{name}' is unexpected")
    obj = user_creatable_add_type(typename, oid, props)
    object_unref(obj)  # /objects/ID now holds the only reference
    return None


def _check_value_type(prop: ObjectProperty, value: JSON, from_json: bool = True) -> None:
    """Type-check a value the way the setter's visitor will, for the scalar property types.

    :param from_json: QObject input visitor (QMP) if true, else string input visitor (HMP, keyval).
    """
    v: Visitor = QObjectInputVisitor(value) if from_json else StringInputVisitor(str(value))
    kind = prop.type
    if kind == "bool":
        v.type_bool(prop.name)
    elif kind in ("str", "string"):
        v.type_str(prop.name)
    elif kind == "size":
        v.type_size(prop.name)
    elif kind in ("int8", "int16", "int32", "int64"):
        v.type_int(prop.name, kind=kind)
    elif kind in ("uint8", "uint16", "uint32", "uint64"):
        v.type_uint(prop.name, kind=kind)
    # other types (enums, links, StrOrNull, structs) are left to the setter


def _check_props_against_class(
    klass: ObjectClass, props: dict[str, JSON], unknown: str, from_json: bool = True
) -> None:
    """Check members against the class before any object exists, as QAPI's per-type schema would.

    Only class properties are known without an instance; a type whose settable properties are
    added by ``instance_init`` cannot be created through ``object-add`` here (see
    docs/known-differences.md); ``device_add`` creates first and sets after, as QEMU does.
    """
    typename = object_class_get_name(klass)
    lookup = {p.name: p for p in object_class_property_iter(klass)}
    for name, value in props.items():
        prop = lookup.get(name)
        if prop is None:
            raise GenericError(unknown.format(type=typename, name=name))
        if prop.set is None:
            raise GenericError(f"Property '{typename}.{name}' is not writable")
        _check_value_type(prop, value, from_json)


def _object_del(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    user_creatable_del(cast(str, args["id"]))
    return None


# -- device_add, device_del ---------------------------------------------------------------------------


def _qdev_get_device_class(u: Universe, driver: str) -> DeviceClass:
    """``qdev_get_device_class`` (``system/qdev-monitor.c``), plus RFC v2's singleton check."""
    klass = _class_for_qmp(u, driver)
    if klass is None or object_class_dynamic_cast(klass, TYPE_DEVICE) is None:
        raise GenericError(f"'{driver}' is not a valid device model name")
    if object_class_is_abstract(klass):
        raise GenericError("Parameter 'driver' expects a non-abstract device type")
    _singleton_conflict(u, klass)
    dc = cast(DeviceClass, klass)
    if not dc.user_creatable:
        raise GenericError("Parameter 'driver' expects a pluggable device type")
    if object_class_dynamic_cast(klass, TYPE_SYS_BUS_DEVICE) is not None:
        # machine "none" allows no dynamic sysbus device
        raise GenericError("Parameter 'driver' expects a dynamic sysbus device type for the machine")
    return dc


def _machine_hotplug_handler() -> bool:
    machine = object_resolve_path("/machine")
    return machine is not None and getattr(machine.klass, "get_hotplug_handler", None) is not None


def _hotplug_allowed_common(dc: DeviceClass, typename: str) -> None:
    """``qdev_hotplug_unplug_allowed_common`` for a device without a bus."""
    if not dc.hotpluggable:
        raise GenericError(f"Device '{typename}' does not support hotplugging")
    if not _machine_hotplug_handler():
        raise GenericError(f"Device '{typename}' can not be hotplugged on this machine")


def _container(path: str) -> Object:
    obj = object_resolve_path(path)
    if obj is None:
        raise GenericError(f"Path '{path}' could not be resolved.")
    return obj


def _device_add(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    qdev_device_add(ctx.universe, args, from_json=True)
    return None


def qdev_device_add(u: Universe, args: dict[str, JSON], *, from_json: bool) -> None:
    """``qdev_device_add_from_qdict`` (``system/qdev-monitor.c``) in QEMU's order: the driver and
    bus checks, then create the device, check hotplug, set its id (parent), set its properties
    (those ``instance_init`` added included), realize; a failure after the creation unparents and
    unrefs the half-made device, which leaves no trace but the creation counters.

    :param u: the universe.
    :param args: ``driver``, ``bus``, ``id`` and the properties.
    :param from_json: property values are JSON (QMP) if true, else strings to parse (HMP).
    :raise QOMError: QEMU's error for the first step that fails.
    """
    driver = args.get("driver")
    if not isinstance(driver, str):
        raise GenericError("Parameter 'driver' is missing")
    dc = _qdev_get_device_class(u, driver)
    bus = args.get("bus")
    if isinstance(bus, str):
        raise GenericError(f"Bus '{bus}' not found")  # qomsim models no buses for -device yet
    if dc.bus_type is not None:
        raise GenericError(f"No '{dc.bus_type}' bus found for device '{driver}'")
    oid = args.get("id")
    oid = oid if isinstance(oid, str) else None  # qdict_get_try_str: a non-string id is no id
    props = {k: v for k, v in args.items() if k not in ("driver", "bus", "id")}
    dev = qdev_new(driver)
    try:
        if phase_check(MachinePhase.MACHINE_READY):
            _hotplug_allowed_common(dc, driver)
        # qdev_set_id
        if oid is not None:
            try:
                object_property_try_add_child(_container("/machine/peripheral"), oid, dev)
            except QOMError:
                raise GenericError(f"Duplicate device ID '{oid}'") from None
            dev.id = oid
        else:
            object_property_add_child(_container("/machine/peripheral-anon"), "device[*]", dev)
        # object_set_properties_from_keyval
        for name, value in props.items():
            if from_json:
                object_property_set(dev, name, value)
            else:
                object_property_parse(dev, name, str(value))
        qdev_realize(dev, None)
    except QOMError:
        dev.id = None
        object_unparent(dev)
        object_unref(dev)
        raise
    object_unref(dev)  # the parent container now holds the only reference


def _device_del(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    """``qmp_device_del``: ``find_device_state`` then ``qdev_unplug``."""
    oid = cast(str, args["id"])
    peripheral = object_resolve_path("/machine/peripheral")
    obj = None if peripheral is None else object_resolve_path_at(peripheral, oid)
    if obj is None:
        raise DeviceNotFound(f"Device '{oid}' not found")
    if object_dynamic_cast(obj, TYPE_DEVICE) is None:
        raise GenericError(f"{oid} is not a device")
    dev = cast(DeviceState, obj)
    if dev.parent_bus is not None:
        raise GenericError(f"Bus '{dev.parent_bus.name}' does not support hotplugging")
    _hotplug_allowed_common(cast(DeviceClass, dev.klass), object_get_typename(dev))
    qdev_unrealize(dev)
    object_unparent(dev)
    return None


QOM_COMMANDS: tuple[Command, ...] = (
    Command("qom-list", _qom_list, (Arg("path", "str"),)),
    Command("qom-get", _qom_get, (Arg("path", "str"), Arg("property", "str"))),
    Command("qom-set", _qom_set, (Arg("path", "str"), Arg("property", "str"), Arg("value", "any"))),
    Command("qom-list-get", _qom_list_get, (Arg("paths", "[str]"),)),
    Command("qom-list-types", _qom_list_types,
            (Arg("implements", "str", optional=True), Arg("abstract", "bool", optional=True))),
    Command("qom-list-properties", _qom_list_properties, (Arg("typename", "str"),)),
    Command("device-list-properties", _device_list_properties, (Arg("typename", "str"),)),
    Command("object-add", _object_add, (Arg("qom-type", "str"),), extra_args=True),
    Command("object-del", _object_del, (Arg("id", "str"),)),
    Command("device_add", _device_add, (), extra_args=True),
    Command("device_del", _device_del, (Arg("id", "str"),)),
)
