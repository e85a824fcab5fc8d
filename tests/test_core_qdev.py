"""Devices, qdev static properties, realize, -global, machine phase (spec §4.8)."""

from __future__ import annotations

from typing import Any

import pytest

from qom import (
    DeviceClass,
    DeviceState,
    GenericError,
    MachinePhase,
    ObjectClass,
    Property,
    QOMFatal,
    TypeInfo,
    Universe,
    device_class_set_props,
    object_class_by_name,
    object_class_property_find,
    object_get_canonical_path,
    object_property_get,
    object_property_get_enum,
    object_property_iter,
    object_property_parse,
    object_property_set,
    object_unparent,
    object_unref,
    qbus_new,
    qdev_machine_creation_done,
    qdev_new,
    qdev_prop_bool,
    qdev_prop_enum,
    qdev_prop_int32,
    qdev_prop_register_global,
    qdev_prop_size,
    qdev_prop_str_or_null,
    qdev_prop_string,
    qdev_prop_uint8,
    qdev_prop_uint32,
    qdev_prop_uint64,
    qdev_realize,
    qdev_unrealize,
)

MIG_MODE = qdev_prop_enum("MigMode", ("normal", "cpr-reboot", "cpr-transfer", "cpr-exec"))
PROPS = [
    Property("store-global-state", qdev_prop_bool, "store_global_state", True, True),
    Property("x-clear-bitmap-shift", qdev_prop_uint8, "clear_bitmap_shift", 18, True),
    Property("x-max-bandwidth", qdev_prop_size, "max_bandwidth", 128 << 20, True),
    Property("x-downtime", qdev_prop_uint64, "downtime", 300, True),
    Property("x-count", qdev_prop_uint32, "count", None, False),
    Property("x-signed", qdev_prop_int32, "signed", -5, True),
    Property("tls-creds", qdev_prop_str_or_null, "tls_creds", None, True),
    Property("name", qdev_prop_string, "name", None, False),
    Property("mode", MIG_MODE, "mode", "normal", True),
]


class MyDev(DeviceState):
    def __init__(self) -> None:
        super().__init__()
        self.store_global_state = False
        self.tls_creds: str | None = None
        self.mode = 0
        self.log: list[str] = []


def _class_init(k: ObjectClass, d: Any) -> None:
    assert isinstance(k, DeviceClass)
    device_class_set_props(k, PROPS)

    def realize(dev: DeviceState) -> None:
        if getattr(dev, "name", None) == "fail":
            raise GenericError("realize failed")
        assert isinstance(dev, MyDev)
        dev.log.append("realize")

    def unrealize(dev: DeviceState) -> None:
        assert isinstance(dev, MyDev)
        dev.log.append("unrealize")

    k.realize = realize
    k.unrealize = unrealize


@pytest.fixture
def mydev(universe: Universe) -> str:
    from qom import type_register_static

    type_register_static(
        TypeInfo(name="my-dev", parent="device", class_init=_class_init, instance_type=MyDev)
    )
    type_register_static(TypeInfo(name="my-sub-dev", parent="my-dev"))
    return "my-dev"


def test_device_class_properties(universe: Universe) -> None:
    dc = object_class_by_name("device")
    assert isinstance(dc, DeviceClass)
    assert dc.user_creatable is True and dc.hotpluggable is True and dc.props_ == []
    types = {p.name: (p.type, p.get is not None, p.set is not None) for p in dc.properties.values()}
    assert types == {
        "realized": ("bool", True, True),
        "hotpluggable": ("bool", True, False),
        "hotplugged": ("bool", True, False),
        "parent_bus": ("link<bus>", True, False),
    }


def test_static_props_types_defaults_descriptions(mydev: str) -> None:
    dev = qdev_new(mydev)
    klass = dev.klass
    assert isinstance(klass, DeviceClass) and klass.props_ == PROPS
    sub = object_class_by_name("my-sub-dev")
    assert isinstance(sub, DeviceClass) and sub.props_ == []  # class_base_init reset it
    expect = {
        "store-global-state": ("bool", True, "on/off"),
        "x-clear-bitmap-shift": ("uint8", 18, None),
        "x-max-bandwidth": ("size", 128 << 20, None),
        "x-downtime": ("uint64", 300, None),
        "x-count": ("uint32", None, None),
        "x-signed": ("int32", -5, None),
        "tls-creds": ("StrOrNull", "", None),
        "name": ("str", None, None),
        "mode": ("MigMode", "normal", None),
    }
    for name, (typ, defval, desc) in expect.items():
        prop = object_class_property_find(klass, name)
        assert prop is not None
        assert (prop.type, prop.defval, prop.description) == (typ, defval, desc), name
    values = {name: object_property_get(dev, name) for name in expect}
    assert values == {
        "store-global-state": True,
        "x-clear-bitmap-shift": 18,
        "x-max-bandwidth": 128 << 20,
        "x-downtime": 300,
        "x-count": 0,
        "x-signed": -5,
        "tls-creds": "",
        "name": "",
        "mode": "normal",
    }
    names = [p.name for p in object_property_iter(dev)]
    assert names[-5:] == ["realized", "hotpluggable", "hotplugged", "parent_bus", "type"]
    object_unref(dev)


def test_static_prop_setters(mydev: str) -> None:
    dev = qdev_new(mydev)
    assert isinstance(dev, MyDev)
    object_property_set(dev, "mode", "cpr-exec")
    assert dev.mode == 3
    assert object_property_get_enum(dev, "mode", "MigMode") == 3
    object_property_parse(dev, "x-max-bandwidth", "1G")
    assert object_property_get(dev, "x-max-bandwidth") == 1 << 30
    object_property_parse(dev, "x-max-bandwidth", "1.5k")
    assert object_property_get(dev, "x-max-bandwidth") == 1536
    for bad in ("lots", "1.5", "0x10k", "1 k", ""):
        with pytest.raises(GenericError) as exc:
            object_property_parse(dev, "x-max-bandwidth", bad)
        assert exc.value.desc == "Parameter 'x-max-bandwidth' expects a non-negative number below 2^64"
    with pytest.raises(GenericError) as exc:
        object_property_parse(dev, "x-max-bandwidth", "16E")
    assert exc.value.desc == "Value '16E' is out of range for parameter 'x-max-bandwidth'"
    object_property_parse(dev, "x-max-bandwidth", "0x10")
    assert object_property_get(dev, "x-max-bandwidth") == 16
    object_property_set(dev, "tls-creds", "creds0")
    assert dev.tls_creds == "creds0"
    with pytest.raises(GenericError) as exc:
        object_property_set(dev, "tls-creds", None)
    assert exc.value.desc == "Invalid parameter type for 'tls-creds', expected: string"
    with pytest.raises(GenericError) as exc:
        object_property_set(dev, "x-signed", 2**31)
    assert exc.value.desc == "Parameter 'x-signed' expects int32"
    object_unref(dev)
    assert dev.tls_creds is None  # released at finalize


def test_realize_unrealize_and_refusal(mydev: str, universe: Universe) -> None:
    dev = qdev_new(mydev)
    assert isinstance(dev, MyDev)
    qdev_realize(dev, None)
    assert dev.realized and dev.log == ["realize"]
    assert object_get_canonical_path(dev) == "/machine/unattached/device[0]"
    assert object_property_get(dev, "realized") is True
    with pytest.raises(GenericError) as exc:
        object_property_set(dev, "x-count", 1)
    assert exc.value.desc == (
        "Attempt to set property 'x-count' on anonymous device (type 'my-dev') after it was realized"
    )
    dev.id = "d0"
    with pytest.raises(GenericError) as exc:
        object_property_parse(dev, "store-global-state", "off")
    assert exc.value.desc == (
        "Attempt to set property 'store-global-state' on device 'd0' (type 'my-dev') after it was realized"
    )
    qdev_unrealize(dev)
    assert not dev.realized and dev.log == ["realize", "unrealize"]
    object_property_set(dev, "x-count", 1)
    qdev_realize(dev, None)
    object_unref(dev)
    assert dev.ref == 1
    object_unparent(dev)  # device_unparent unrealizes first
    assert dev.log == ["realize", "unrealize", "realize", "unrealize"]
    assert dev.state.name == "FINALIZED"


def test_realize_failure_leaves_unrealized(mydev: str) -> None:
    dev = qdev_new(mydev)
    object_property_set(dev, "name", "fail")
    with pytest.raises(GenericError, match="realize failed"):
        qdev_realize(dev, None)
    assert not dev.realized
    object_unref(dev)


def test_bus_plug_and_hotpluggable(mydev: str, universe: Universe) -> None:
    from qom import TypeInfo as TI
    from qom import type_register_static

    type_register_static(TI(name="my-bus", parent="bus"))
    host = qdev_new(mydev)
    bus = qbus_new("my-bus", host, "bus0")
    assert object_get_canonical_path(bus) is None  # host is detached
    dev = qdev_new(mydev)
    qdev_realize(dev, bus)
    assert dev.parent_bus is bus and bus.ref == 2
    assert object_property_get(dev, "hotpluggable") is False  # the bus has no hotplug handler
    assert object_property_get(dev, "parent_bus") == ""  # bus has no canonical path
    object_unref(dev)
    object_unparent(dev)
    assert dev.state.name == "FINALIZED" and bus.ref == 1 and bus.children == []
    object_unref(host)
    assert bus.state.name == "FINALIZED"


def test_machine_phase_sets_hotplugged(mydev: str, universe: Universe) -> None:
    assert universe.machine_phase is MachinePhase.MACHINE_CREATED
    before = qdev_new(mydev)
    assert not before.hotplugged and not universe.qdev_hot_added
    qdev_machine_creation_done()
    after = qdev_new(mydev)
    assert after.hotplugged and universe.qdev_hot_added
    assert object_property_get(after, "hotplugged") is True
    object_unref(before)
    object_unref(after)


def test_globals_applied_in_post_init(mydev: str, universe: Universe) -> None:
    qdev_prop_register_global("my-dev", "x-count", "7")
    qdev_prop_register_global("device", "x-downtime", "0x10")  # matches by cast
    qdev_prop_register_global("other-dev", "x-count", "9")
    dev = qdev_new("my-sub-dev")
    assert object_property_get(dev, "x-count") == 7
    assert object_property_get(dev, "x-downtime") == 16
    object_unref(dev)


def test_bad_global_is_fatal_unless_hotplugged(mydev: str, universe: Universe) -> None:
    qdev_prop_register_global("my-dev", "x-count", "many")
    live = universe.live_instances("my-dev")
    with pytest.raises(QOMFatal) as exc:
        qdev_new(mydev)
    assert exc.value.message == "can't apply global my-dev.x-count=many: Parameter 'x-count' expects uint64"
    assert universe.live_instances("my-dev") == live + 1  # QEMU exits; the half-made object stays
    qdev_machine_creation_done()
    dev = qdev_new(mydev)
    assert universe.warnings == ["can't apply global my-dev.x-count=many: Parameter 'x-count' expects uint64"]
    object_unref(dev)


def test_qdev_new_refuses_non_devices(universe: Universe) -> None:
    with pytest.raises(QOMFatal):
        qdev_new("container")
    with pytest.raises(QOMFatal):
        qdev_new("device")


def test_bad_props(universe: Universe) -> None:
    def bad_default(k: ObjectClass, d: Any) -> None:
        assert isinstance(k, DeviceClass)
        device_class_set_props(k, [Property("s", qdev_prop_string, "s", "x", True)])

    def empty(k: ObjectClass, d: Any) -> None:
        assert isinstance(k, DeviceClass)
        device_class_set_props(k, [])

    from qom import type_register_static

    type_register_static(TypeInfo(name="bad-default", parent="device", class_init=bad_default))
    type_register_static(TypeInfo(name="empty-props", parent="device", class_init=empty))
    with pytest.raises(QOMFatal):
        object_class_by_name("bad-default")
    with pytest.raises(QOMFatal):
        object_class_by_name("empty-props")


def test_unrealize_failure_is_fatal(universe: Universe) -> None:
    def class_init(k: ObjectClass, d: Any) -> None:
        assert isinstance(k, DeviceClass)

        def unrealize(dev: DeviceState) -> None:
            raise GenericError("no")

        k.unrealize = unrealize

    from qom import type_register_static

    type_register_static(TypeInfo(name="stuck-dev", parent="device", class_init=class_init))
    dev = qdev_new("stuck-dev")
    qdev_realize(dev, None)
    with pytest.raises(QOMFatal):
        qdev_unrealize(dev)
    assert object_property_get(dev, "realized") is True  # QEMU would have aborted here


def test_default_of_custom_info_goes_through_its_setter(universe: Universe) -> None:
    from qom import Object, PropertyInfo, Visitor, object_property_set_default_uint, type_register_static

    calls: list[int] = []

    def get(obj: Object, v: Visitor, name: str, prop: Property) -> None:
        v.type_uint(name, getattr(obj, prop.attr, 0), "uint32")

    def set_(obj: Object, v: Visitor, name: str, prop: Property) -> None:
        value = v.type_uint(name, 0, "uint32")
        calls.append(value)
        setattr(obj, prop.attr, value)

    def set_default(op: Any, prop: Property) -> None:
        assert isinstance(prop.default, int)
        object_property_set_default_uint(op, prop.default)

    info = PropertyInfo(type="counted", get=get, set=set_, set_default_value=set_default)

    def class_init(k: ObjectClass, d: Any) -> None:
        assert isinstance(k, DeviceClass)
        device_class_set_props(k, [Property("c", info, "c", 4, True)])

    type_register_static(TypeInfo(name="counted-dev", parent="device", class_init=class_init))
    for _ in range(2):
        object_unref(qdev_new("counted-dev"))
    assert calls == [4, 4]  # once per instance, before instance_init, as QEMU does
