"""Every QOM command in-process, with exact answers, every error path, and the universe left
unchanged by each failed command (qom/qmp/commands.py, qom/qmp/hmp.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from qom.errors import QOMFatal
from qom.property import object_property_help
from qom.qdev import qdev_machine_creation_done
from qom.qmp import execute
from qom.qmp.examples import register_example_types
from qom.qmp.hmp import property_help
from qom.universe import IntrospectionMode, QMPPolicy, SingletonPolicy, Universe, use_universe


@pytest.fixture
def u() -> Iterator[Universe]:
    universe = Universe(machine="none")
    with use_universe(universe):
        register_example_types()
    yield universe


def ok(u: Universe, command: str, arguments: dict[str, Any] | None = None) -> Any:
    answer = execute(command, arguments, universe=u)
    assert "return" in answer, answer
    return answer["return"]


def fails(u: Universe, command: str, arguments: dict[str, Any] | None, error_class: str, desc: str) -> None:
    """The command fails with exactly this error and leaves the universe exactly as it was."""
    before = u.snapshot()
    assert execute(command, arguments, universe=u) == {"error": {"class": error_class, "desc": desc}}
    assert u.snapshot() == before


def fails_after_creating(u: Universe, command: str, arguments: dict[str, Any], desc: str) -> None:
    """``device_add`` failed after ``qdev_new`` (QEMU's order): exactly this error, one instance was
    created and finalized, and nothing else changed (registry, tree, refcounts, counters of live)."""
    before = u.snapshot()
    assert execute(command, arguments, universe=u) == {"error": {"class": "GenericError", "desc": desc}}
    after = u.snapshot()
    assert after.created_total == before.created_total + 1
    assert after.live == before.live and after.refcounts == before.refcounts and after.tree == before.tree
    assert dataclasses.replace(after, created=before.created, created_total=before.created_total) == before


def names(props: list[dict[str, Any]]) -> set[str]:
    return {p["name"] for p in props}


def hmp(u: Universe, line: str) -> str:
    out = ok(u, "human-monitor-command", {"command-line": line})
    assert isinstance(out, str)
    return out


DEVICE_CLASS_PROPS = [  # the device class's own properties, as QEMU lists them after "type"
    {"name": "parent_bus", "type": "link<bus>"},
    {"name": "hotplugged", "type": "bool"},
    {"name": "hotpluggable", "type": "bool"},
    {"name": "realized", "type": "bool"},
]


# -- qom-list ------------------------------------------------------------------------------------------


def test_qom_list_root(u: Universe) -> None:
    props = ok(u, "qom-list", {"path": "/"})
    assert props[0] == {"name": "type", "type": "string"}  # the one guaranteed order
    assert sorted(props, key=lambda p: p["name"]) == [
        {"name": "audiodevs", "type": "child<container>"},
        {"name": "backend", "type": "child<container>"},
        {"name": "chardevs", "type": "child<container>"},
        {"name": "machine", "type": "child<none-machine>"},
        {"name": "objects", "type": "child<container>"},
        {"name": "type", "type": "string"},
    ]


def test_qom_list_partial_and_doubled_slashes(u: Universe) -> None:
    assert ok(u, "qom-list", {"path": "sysbus"}) == [{"name": "type", "type": "string"}]
    assert ok(u, "qom-list", {"path": "//machine//peripheral/"}) == [{"name": "type", "type": "string"}]


def test_qom_list_errors(u: Universe) -> None:
    fails(u, "qom-list", {"path": "/nope"}, "DeviceNotFound", "Device '/nope' not found")
    fails(u, "qom-list", {"path": "nope"}, "DeviceNotFound", "Device 'nope' not found")
    fails(u, "qom-list", {"path": ""}, "GenericError", "Path '' is ambiguous")
    fails(u, "qom-list", {"path": "peripheral/nope"}, "DeviceNotFound", "Device 'peripheral/nope' not found")


# -- qom-get / qom-set ---------------------------------------------------------------------------------


def test_qom_get_values(u: Universe) -> None:
    assert ok(u, "qom-get", {"path": "/machine", "property": "type"}) == "none-machine"
    assert ok(u, "qom-get", {"path": "/machine", "property": "peripheral"}) == "/machine/peripheral"
    assert ok(u, "qom-get", {"path": "sysbus", "property": "type"}) == "System"


def test_qom_get_errors(u: Universe) -> None:
    fails(u, "qom-get", {"path": "/nope", "property": "type"}, "DeviceNotFound", "Device '/nope' not found")
    # an ambiguous path is reported as not found by qom-get (no ambiguity flag)
    fails(u, "qom-get", {"path": "", "property": "type"}, "DeviceNotFound", "Device '' not found")
    fails(
        u, "qom-get", {"path": "/", "property": "nope"}, "GenericError", "Property 'container.nope' not found"
    )


def test_qom_set_and_its_errors(u: Universe) -> None:
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m0", "size": 4096})
    assert ok(u, "qom-set", {"path": "/objects/m0", "property": "share", "value": True}) == {}
    assert ok(u, "qom-get", {"path": "/objects/m0", "property": "share"}) is True
    fails(
        u,
        "qom-set",
        {"path": "/", "property": "type", "value": "x"},
        "GenericError",
        "Property 'container.type' is not writable",
    )
    fails(
        u,
        "qom-set",
        {"path": "/objects/m0", "property": "share", "value": "on"},
        "GenericError",
        "Invalid parameter type for 'share', expected: boolean",
    )
    fails(
        u,
        "qom-set",
        {"path": "/objects/m0", "property": "size", "value": -1.5},
        "GenericError",
        "Parameter 'size' expects uint64",
    )
    fails(
        u,
        "qom-set",
        {"path": "/objects/zz", "property": "size", "value": 1},
        "DeviceNotFound",
        "Device '/objects/zz' not found",
    )
    fails(
        u,
        "qom-set",
        {"path": "/objects/m0", "property": "nope", "value": 1},
        "GenericError",
        "Property 'example-memory.nope' not found",
    )


# -- qom-list-get --------------------------------------------------------------------------------------


def test_qom_list_get_in_path_order_with_values(u: Universe) -> None:
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m0", "size": 8})
    answer = ok(u, "qom-list-get", {"paths": ["/objects/m0", "/machine/unattached/sysbus"]})
    assert len(answer) == 2
    assert answer[0]["properties"][0] == {"name": "type", "type": "string", "value": "example-memory"}
    assert sorted(answer[0]["properties"], key=lambda p: p["name"]) == [
        {"name": "pinned", "type": "bool", "value": False},
        {"name": "share", "type": "bool", "value": False},
        {"name": "size", "type": "uint64", "value": 8},
        {"name": "type", "type": "string", "value": "example-memory"},
    ]
    assert answer[1] == {"properties": [{"name": "type", "type": "string", "value": "System"}]}
    assert ok(u, "qom-list-get", {"paths": []}) == []


def test_qom_list_get_one_bad_path_fails_the_whole_command(u: Universe) -> None:
    fails(u, "qom-list-get", {"paths": ["/machine", "/nope"]}, "DeviceNotFound", "Device '/nope' not found")
    fails(u, "qom-list-get", {"paths": [""]}, "GenericError", "Path '' is ambiguous")


# -- qom-list-types ------------------------------------------------------------------------------------


CONCRETE = [
    {"name": "System", "parent": "bus"},
    {"name": "container", "parent": "object"},
    {"name": "example-device", "parent": "device"},
    {"name": "example-memory", "parent": "object"},
    {"name": "example-singleton", "parent": "device"},
    {"name": "none-machine", "parent": "machine"},
]


def by_name(types: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(types, key=lambda t: str(t["name"]))


def test_qom_list_types_default_is_concrete_only(u: Universe) -> None:
    assert by_name(ok(u, "qom-list-types")) == CONCRETE
    assert by_name(ok(u, "qom-list-types", {"abstract": False})) == CONCRETE


def test_qom_list_types_abstract_flag_and_roots_without_parent(u: Universe) -> None:
    everything = by_name(ok(u, "qom-list-types", {"abstract": True}))
    abstract = [t for t in everything if t.get("abstract")]
    assert abstract == [
        {"name": "bus", "abstract": True, "parent": "object"},
        {"name": "device", "abstract": True, "parent": "object"},
        {"name": "interface", "abstract": True},
        {"name": "internal", "abstract": True, "parent": "interface"},
        {"name": "machine", "abstract": True, "parent": "object"},
        {"name": "object", "abstract": True},
        {"name": "resettable", "abstract": True, "parent": "interface"},
        {"name": "singleton", "abstract": True, "parent": "interface"},
        {"name": "sys-bus-device", "abstract": True, "parent": "device"},
        {"name": "user-creatable", "abstract": True, "parent": "interface"},
        {"name": "vmstate-if", "abstract": True, "parent": "interface"},
    ]
    assert [t for t in everything if not t.get("abstract")] == CONCRETE
    assert "abstract" not in str([t for t in everything if not t.get("abstract")])  # never "abstract": false
    assert not any("::" in t["name"] for t in everything)  # hidden interface classes never appear
    assert {"name": "internal", "abstract": True, "parent": "interface"} in everything  # the interface shows
    assert "example-internal" not in {t["name"] for t in everything}  # its implementations are hidden


def test_qom_list_types_implements(u: Universe) -> None:
    assert by_name(ok(u, "qom-list-types", {"implements": "device"})) == [
        {"name": "example-device", "parent": "device"},
        {"name": "example-singleton", "parent": "device"},
    ]
    assert by_name(ok(u, "qom-list-types", {"implements": "user-creatable"})) == [
        {"name": "example-memory", "parent": "object"},
    ]
    assert ok(u, "qom-list-types", {"implements": "nonexistent"}) == []


def test_qom_list_types_shows_internal_types_when_not_hidden(u: Universe) -> None:
    u.qmp_policy.hide_internal = False
    names_ = {t["name"] for t in ok(u, "qom-list-types", {"abstract": True})}
    assert {"internal", "example-internal"} <= names_


# -- qom-list-properties -------------------------------------------------------------------------------


MEMORY_PROPS = [
    {"name": "type", "type": "string"},
    {"name": "pinned", "type": "bool"},
    {"name": "share", "type": "bool", "default-value": False},
    {"name": "size", "type": "uint64", "description": "size of the memory region in bytes"},
]


def test_qom_list_properties_concrete_class_uses_a_temporary_instance(u: Universe) -> None:
    created, live = u.instances_created("example-memory"), u.live_instances("example-memory")
    assert ok(u, "qom-list-properties", {"typename": "example-memory"}) == MEMORY_PROPS
    assert u.instances_created("example-memory") == created + 1
    assert u.live_instances("example-memory") == live


def test_qom_list_properties_abstract_class_is_class_only(u: Universe) -> None:
    created = u.instances_created()
    assert ok(u, "qom-list-properties", {"typename": "device"}) == [
        {"name": "type", "type": "string"},
        *DEVICE_CLASS_PROPS,
    ]
    assert ok(u, "qom-list-properties", {"typename": "object"}) == [{"name": "type", "type": "string"}]
    assert u.instances_created() == created


def test_qom_list_properties_errors(u: Universe) -> None:
    fails(
        u,
        "qom-list-properties",
        {"typename": "nonexistent"},
        "DeviceNotFound",
        "Class 'nonexistent' not found",
    )
    fails(
        u,
        "qom-list-properties",
        {"typename": "user-creatable"},
        "GenericError",
        "Parameter 'typename' expects a QOM type",
    )
    fails(
        u,
        "qom-list-properties",
        {"typename": "interface"},
        "GenericError",
        "Parameter 'typename' expects a QOM type",
    )
    fails(
        u,
        "qom-list-properties",
        {"typename": "example-internal"},
        "DeviceNotFound",
        "Class 'example-internal' not found",
    )


def test_qom_list_properties_of_an_internal_type_when_not_hidden(u: Universe) -> None:
    u.qmp_policy.hide_internal = False
    assert ok(u, "qom-list-properties", {"typename": "example-internal"}) == [
        {"name": "type", "type": "string"}
    ]


# -- device-list-properties ----------------------------------------------------------------------------


DEVICE_PROPS = [
    {"name": "label", "type": "str"},
    {"name": "level", "type": "uint8", "default-value": 3},
]


def test_device_list_properties_hides_the_device_basics(u: Universe) -> None:
    created = u.instances_created("example-device")
    assert ok(u, "device-list-properties", {"typename": "example-device"}) == DEVICE_PROPS
    assert u.instances_created("example-device") == created + 1
    assert u.live_instances("example-device") == 0


def test_device_list_properties_errors(u: Universe) -> None:
    fails(
        u,
        "device-list-properties",
        {"typename": "nonexistent"},
        "DeviceNotFound",
        "Device 'nonexistent' not found",
    )
    for typename in ("container", "device", "sys-bus-device", "user-creatable"):
        fails(
            u,
            "device-list-properties",
            {"typename": typename},
            "GenericError",
            "Parameter 'typename' expects a non-abstract device type",
        )


# -- introspection policy for singletons ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "live_instance", "new_instances", "qom_props"),
    [
        (IntrospectionMode.INSTANTIATE, False, 1, 5),
        (IntrospectionMode.CLASS_ONLY, False, 0, 0),
        (IntrospectionMode.CLASS_ONLY, True, 0, 0),
        (IntrospectionMode.SINGLETON_CLASS_ONLY, False, 0, 0),
        (IntrospectionMode.SINGLETON_CLASS_ONLY, True, 0, 0),
        (IntrospectionMode.SINGLETON_FETCH, False, 1, 5),
        (IntrospectionMode.SINGLETON_FETCH, True, 0, 5),  # the live instance, with a ref taken and dropped
    ],
)
def test_singleton_introspection_modes(
    u: Universe, mode: IntrospectionMode, live_instance: bool, new_instances: int, qom_props: int
) -> None:
    u.qmp_policy = QMPPolicy(qom_list_properties=mode, device_list_properties=mode)
    if live_instance:
        ok(u, "device_add", {"driver": "example-singleton", "id": "s"})
    before = u.snapshot()
    created = u.instances_created("example-singleton")
    props = ok(u, "qom-list-properties", {"typename": "example-singleton"})
    assert u.instances_created("example-singleton") == created + new_instances
    # class-only lists the singleton's own class properties (none) and its ancestors' ("type", device's)
    assert len(props) == (qom_props or 5)
    assert names(props) == {"type", "parent_bus", "hotplugged", "hotpluggable", "realized"}
    assert ok(u, "device-list-properties", {"typename": "example-singleton"}) == []
    assert u.instances_created("example-singleton") == created + 2 * new_instances
    after = u.snapshot()
    assert after.refcounts == before.refcounts and after.tree == before.tree  # nothing leaked or lost


def test_instantiate_mode_with_a_live_singleton_follows_the_core_policy(u: Universe) -> None:
    # QEMU master's behaviour (a temporary second instance) meets the core's singleton guard
    u.qmp_policy = QMPPolicy(
        qom_list_properties=IntrospectionMode.INSTANTIATE,
        device_list_properties=IntrospectionMode.INSTANTIATE,
    )
    ok(u, "device_add", {"driver": "example-singleton", "id": "s"})
    conflict = "Object type 'example-singleton' conflicts with an existing singleton instance"
    fails(u, "qom-list-properties", {"typename": "example-singleton"}, "GenericError", conflict)
    fails(u, "device-list-properties", {"typename": "example-singleton"}, "GenericError", conflict)
    assert hmp(u, "device_add example-singleton,help") == conflict + "\r\n"
    u.singleton_policy = SingletonPolicy.RETURN_EXISTING
    before = u.snapshot()
    assert len(ok(u, "qom-list-properties", {"typename": "example-singleton"})) == 5
    assert u.snapshot() == before  # the live instance was lent (ref +1, -1), nothing created
    u.singleton_policy = SingletonPolicy.FATAL
    with pytest.raises(QOMFatal):
        execute("qom-list-properties", {"typename": "example-singleton"}, universe=u)


def test_class_only_mode_hides_instance_properties() -> None:
    universe = Universe(machine="none")
    from qom.property_typed import object_property_add_bool
    from qom.types import TypeInfo, type_register_static

    def init(obj: Any) -> None:
        object_property_add_bool(obj, "instance-only", lambda o: True, None)

    with use_universe(universe):
        type_register_static(TypeInfo(name="with-instance-prop", parent="object", instance_init=init))
    assert names(ok(universe, "qom-list-properties", {"typename": "with-instance-prop"})) == {
        "type",
        "instance-only",
    }
    universe.qmp_policy.qom_list_properties = IntrospectionMode.CLASS_ONLY
    assert ok(universe, "qom-list-properties", {"typename": "with-instance-prop"}) == [
        {"name": "type", "type": "string"}
    ]


# -- object-add / object-del (the qmp-cmd-test object-add-failure-modes sequence) ----------------------


def test_object_add_failure_modes(u: Universe) -> None:
    e = "GenericError"
    fails(u, "object-add", {"id": "ram1", "size": 1}, e, "Parameter 'qom-type' is missing")
    fails(u, "object-del", {"id": "ram1"}, e, "object 'ram1' not found")
    add = {"qom-type": "example-memory", "id": "ram1", "size": 1048576}
    assert ok(u, "object-add", add) == {}
    fails(u, "object-add", add, e, "attempt to add duplicate property 'ram1' to object (type 'container')")
    assert ok(u, "object-del", {"id": "ram1"}) == {}
    fails(u, "object-add", {**add, "size": "1048576"}, e, "Parameter 'size' expects uint64")
    fails(u, "object-add", {"qom-type": "example-memory", "size": 1}, e, "Parameter 'id' is missing")
    fails(u, "object-add", {**add, "sized": 1}, e, "Parameter 'sized' is unexpected")
    fails(u, "object-add", {**add, "id": 1}, e, "Invalid parameter type for 'id', expected: string")
    fails(u, "object-add", {**add, "id": "1ram"}, e, "Parameter 'id' expects an identifier")
    fails(
        u, "object-add", {**add, "qom-type": 3}, e, "Invalid parameter type for 'qom-type', expected: string"
    )
    fails(u, "object-add", {**add, "type": "x"}, e, "Property 'example-memory.type' is not writable")
    fails(
        u, "object-add", {**add, "share": "yes"}, e, "Invalid parameter type for 'share', expected: boolean"
    )
    assert ok(u, "object-add", {**add, "share": True}) == {}
    fails(u, "object-del", {"ida": "ram1"}, e, "Parameter 'id' is missing")
    assert ok(u, "object-del", {"id": "ram1"}) == {}
    fails(u, "object-del", {"id": "ram1"}, e, "object 'ram1' not found")


def test_object_add_leaves_only_the_tree_reference(u: Universe) -> None:
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m", "size": 1})
    obj = next(o for o in u.iter_live_objects() if o.klass.type.name == "example-memory")
    assert obj.ref == 1
    assert ok(u, "qom-get", {"path": "/objects/m", "property": "size"}) == 1
    ok(u, "object-del", {"id": "m"})
    assert u.live_instances("example-memory") == 0


@pytest.mark.parametrize(
    "qom_type",
    ["nonexistent", "container", "object", "user-creatable", "device", "example-device", "example-internal"],
)
def test_object_add_types_outside_qapis_enum(u: Universe, qom_type: str) -> None:
    fails(
        u,
        "object-add",
        {"qom-type": qom_type, "id": "x"},
        "GenericError",
        f"Parameter 'qom-type' does not accept value '{qom_type}'",
    )


def test_object_add_internal_type_when_not_hidden(u: Universe) -> None:
    u.qmp_policy.hide_internal = False
    assert ok(u, "object-add", {"qom-type": "example-internal", "id": "i"}) == {}


def test_object_del_refused_while_in_use(u: Universe) -> None:
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m", "size": 1, "pinned": True})
    fails(u, "object-del", {"id": "m"}, "GenericError", "object 'm' is in use, can not be deleted")
    ok(u, "qom-set", {"path": "/objects/m", "property": "pinned", "value": False})
    assert ok(u, "object-del", {"id": "m"}) == {}


# -- device_add / device_del ---------------------------------------------------------------------------


def test_device_add_cold_plug_by_id_and_anonymous(u: Universe) -> None:
    assert ok(u, "device_add", {"driver": "example-device", "id": "d1", "level": 7, "label": "x"}) == {}
    assert ok(u, "qom-get", {"path": "/machine/peripheral/d1", "property": "level"}) == 7
    assert ok(u, "qom-get", {"path": "/machine/peripheral/d1", "property": "realized"}) is True
    assert ok(u, "device_add", {"driver": "example-device"}) == {}
    assert ok(u, "device_add", {"driver": "example-device", "id": 5}) == {}  # a non-string id is no id
    assert ok(u, "qom-get", {"path": "/machine/peripheral-anon/device[1]", "property": "level"}) == 3
    dev = next(o for o in u.iter_live_objects() if getattr(o, "id", None) == "d1")
    assert dev.ref == 1


def test_device_add_errors(u: Universe) -> None:
    e = "GenericError"
    fails(u, "device_add", {}, e, "Parameter 'driver' is missing")
    fails(u, "device_add", {"driver": 1}, e, "Parameter 'driver' is missing")
    fails(u, "device_add", {"driver": "nonexistent"}, e, "'nonexistent' is not a valid device model name")
    fails(u, "device_add", {"driver": "container"}, e, "'container' is not a valid device model name")
    fails(
        u,
        "device_add",
        {"driver": "example-internal"},
        e,
        "'example-internal' is not a valid device model name",
    )
    fails(u, "device_add", {"driver": "device"}, e, "Parameter 'driver' expects a non-abstract device type")
    fails(u, "device_add", {"driver": "example-device", "bus": "pci.0"}, e, "Bus 'pci.0' not found")
    # qdev_device_add creates the device, then sets its id and properties, then realizes
    dev = {"driver": "example-device"}
    fails_after_creating(u, "device_add", {**dev, "lev": 3}, "Property 'example-device.lev' not found")
    fails_after_creating(u, "device_add", {**dev, "level": 256}, "Parameter 'level' expects uint8")
    # QEMU's QObject input visitor says "expects uint64" for any non-number, whatever the width
    fails_after_creating(u, "device_add", {**dev, "level": "3"}, "Parameter 'level' expects uint64")
    ok(u, "device_add", {"driver": "example-device", "id": "d1"})
    fails_after_creating(u, "device_add", {**dev, "id": "d1"}, "Duplicate device ID 'd1'")
    # the id is taken before the properties are looked at (qdev_set_id comes first)
    fails_after_creating(u, "device_add", {**dev, "id": "d1", "lev": 3}, "Duplicate device ID 'd1'")


def test_device_add_after_machine_ready_is_hotplug_and_machine_none_refuses(u: Universe) -> None:
    with use_universe(u):
        qdev_machine_creation_done()
    fails_after_creating(
        u,
        "device_add",
        {"driver": "example-device"},
        "Device 'example-device' can not be hotplugged on this machine",
    )


def test_device_add_singleton_conflict(u: Universe) -> None:
    ok(u, "device_add", {"driver": "example-singleton", "id": "s"})
    fails(
        u,
        "device_add",
        {"driver": "example-singleton"},
        "GenericError",
        "Object type 'example-singleton' conflicts with an existing singleton instance",
    )


def test_device_add_singleton_without_the_qmp_check_reaches_the_core() -> None:
    universe = Universe(machine="none", qmp_policy=QMPPolicy(user_creation_checks_singleton=False))
    with use_universe(universe):
        register_example_types()
    ok(universe, "device_add", {"driver": "example-singleton", "id": "s"})
    answer = execute("device_add", {"driver": "example-singleton"}, universe=universe)
    # the core's SingletonPolicy.QMP_ERROR answers instead (after creating nothing that survives)
    assert answer == {
        "error": {
            "class": "GenericError",
            "desc": "Object type 'example-singleton' conflicts with an existing singleton instance",
        }
    }
    assert universe.live_instances("example-singleton") == 1


def test_device_del(u: Universe) -> None:
    fails(u, "device_del", {"id": "nope"}, "DeviceNotFound", "Device 'nope' not found")
    ok(u, "device_add", {"driver": "example-device", "id": "d1"})
    # machine "none" has no hotplug handler and the device has no bus: QEMU refuses the unplug too
    fails(
        u,
        "device_del",
        {"id": "d1"},
        "GenericError",
        "Device 'example-device' can not be hotplugged on this machine",
    )


# -- human-monitor-command -----------------------------------------------------------------------------


def test_hmp_info_qom_tree(u: Universe) -> None:
    ok(u, "device_add", {"driver": "example-device", "id": "d1"})
    ok(u, "device_add", {"driver": "example-device"})
    assert hmp(u, "info qom-tree") == (
        "/machine (none-machine)\r\n"
        "  /peripheral (container)\r\n"
        "    /d1 (example-device)\r\n"
        "  /peripheral-anon (container)\r\n"
        "    /device[0] (example-device)\r\n"
        "  /unattached (container)\r\n"
        "    /sysbus (System)\r\n"
    )
    assert hmp(u, "info qom-tree /") == (
        "/ (container)\r\n"
        "  /audiodevs (container)\r\n"
        "  /backend (container)\r\n"
        "  /chardevs (container)\r\n"
        "  /machine (none-machine)\r\n"
        "    /peripheral (container)\r\n"
        "      /d1 (example-device)\r\n"
        "    /peripheral-anon (container)\r\n"
        "      /device[0] (example-device)\r\n"
        "    /unattached (container)\r\n"
        "      /sysbus (System)\r\n"
        "  /objects (container)\r\n"
    )
    assert hmp(u, "info qom-tree sysbus") == "/sysbus (System)\r\n"
    assert hmp(u, "info qom-tree /nope") == "Path '/nope' could not be resolved.\r\n"
    assert hmp(u, "info qom-tree peripheral-anon/device[0]") == "/device[0] (example-device)\r\n"


def test_hmp_info_qom_tree_ambiguous_partial_path(u: Universe) -> None:
    ok(u, "object-add", {"qom-type": "example-memory", "id": "sysbus", "size": 1})
    assert hmp(u, "info qom-tree sysbus") == "Path 'sysbus' could not be resolved.\r\n"


def test_hmp_qom_list_get_set(u: Universe) -> None:
    assert hmp(u, "qom-list") == "/\r\n"
    assert hmp(u, "qom-list /machine/unattached") == "type (string)\r\nsysbus (child<System>)\r\n"
    assert hmp(u, "qom-list /nope") == "Error: Device '/nope' not found\r\n"
    assert hmp(u, "qom-get /machine type") == '"none-machine"\r\n'
    assert hmp(u, 'qom-get "/machine" "type"') == '"none-machine"\r\n'
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m", "size": 1})
    assert hmp(u, "qom-set /objects/m share on") == ""
    assert hmp(u, "qom-get /objects/m share") == "true\r\n"
    assert hmp(u, "qom-set -j /objects/m size 4096") == ""
    assert hmp(u, "qom-get /objects/m size") == "4096\r\n"
    assert hmp(u, "qom-set /objects/m size 1k") == "Error: Parameter 'size' expects uint64\r\n"
    assert hmp(u, "qom-set /objects/m share maybe") == "Error: Parameter 'share' expects 'on' or 'off'\r\n"
    assert hmp(u, "qom-set -j /objects/m size }") == "Error: JSON parse error, expecting value\r\n"
    assert hmp(u, "qom-set -j /objects/m share 1") == (
        "Error: Invalid parameter type for 'share', expected: boolean\r\n"
    )
    assert hmp(u, "qom-set /nope x 1") == "Error: Device '/nope' not found\r\n"
    assert hmp(u, "qom-get /machine nope") == "Error: Property 'none-machine.nope' not found\r\n"


def test_hmp_pretty_json() -> None:
    from qom.qmp.hmp import json_pretty

    assert json_pretty({"a": [1, {"b": None}], "c": {}}) == (
        '{\n    "a": [\n        1,\n        {\n            "b": null\n        }\n    ],\n    "c": {\n    }\n}'
    )
    assert json_pretty([]) == "[\n]"


def test_hmp_help(u: Universe) -> None:
    assert hmp(u, "help qom-get") == "qom-get path property -- print QOM property\r\n"
    assert hmp(u, "help info") == "info qom-tree [path] -- show QOM composition tree\r\n"
    assert hmp(u, "help").splitlines()[-1] == (
        "info [subcommand] -- show various information about the system state"
    )
    assert len(hmp(u, "help").splitlines()) == 8


def test_hmp_usage_errors(u: Universe) -> None:
    assert hmp(u, "") == ""
    assert hmp(u, "   ") == ""
    assert hmp(u, "nope x") == "unknown command: 'nope'\r\n"
    assert hmp(u, "info nope") == "unknown command: 'info nope'\r\n"
    assert hmp(u, "info") == "info qom-tree [path] -- show QOM composition tree\r\n"
    assert (
        hmp(u, "qom-get /machine")
        == 'qom-get: string expected\r\nTry "help qom-get" for more information\r\n'
    )
    assert hmp(u, "qom-get /machine type x") == (
        'qom-get: extraneous characters at the end of line\r\nTry "help qom-get" for more information\r\n'
    )
    assert hmp(u, "qom-set -x /machine type 1") == (
        'qom-set: unsupported option -x\r\nTry "help qom-set" for more information\r\n'
    )
    assert (
        hmp(u, 'qom-get "/machine type')
        == 'qom-get: string expected\r\nTry "help qom-get" for more information\r\n'
    )
    fails(
        u,
        "human-monitor-command",
        {"command-line": "qom-list", "cpu-index": 0},
        "GenericError",
        "Parameter 'cpu-index' expects a CPU number",
    )


@pytest.mark.parametrize(("info", "line"), [
    ({"name": "level", "type": "uint8"}, "  level=<uint8>"),
    # JSON null is no default (the core's None, C's NULL): QEMU never makes a null default
    ({"name": "level", "type": "uint8", "default-value": None}, "  level=<uint8>"),
    ({"name": "level", "type": "uint8", "default-value": None, "description": "d"},
     "  level=<uint8>          - d"),
    ({"name": "level", "type": "uint8", "default-value": 3}, "  level=<uint8>          -  (default: 3)"),
    ({"name": "on", "type": "bool", "default-value": True, "description": "on/off"},
     "  on=<bool>              - on/off (default: on)"),
    ({"name": "label", "type": "str", "default-value": "x y"}, "  label=<str>            -  (default: x y)"),
    ({"name": "l", "type": "list", "default-value": []}, "  l=<list>               -  (default: [])"),
])
def test_hmp_property_help_is_object_property_help(info: dict[str, Any], line: str) -> None:
    """device_add T,help formats each property with object_property_help (qdev_device_help)."""
    assert property_help(info) == line
    default, description = info.get("default-value"), info.get("description")
    assert object_property_help(info["name"], info["type"], default, description) == line


def test_hmp_device_add_help(u: Universe) -> None:
    created = u.instances_created("example-device")
    assert hmp(u, "device_add example-device,help") == (
        "example-device options:\r\n  label=<str>\r\n  level=<uint8>          -  (default: 3)\r\n"
    )
    assert u.instances_created("example-device") == created + 1  # through device-list-properties
    assert hmp(u, "device_add nonexistent,help") == "Device 'nonexistent' not found\r\n"
    assert hmp(u, "device_add device,help") == "Parameter 'typename' expects a non-abstract device type\r\n"
    assert hmp(u, "device_add example-singleton,?") == "There are no options for example-singleton.\r\n"
    assert hmp(u, "device_add help") == (
        "Uncategorized devices:\r\n"
        'name "example-device", desc "an example device without a bus"\r\n'
        'name "example-singleton", desc "an example device of which only one may exist"\r\n'
    )


def test_hmp_device_add_del_and_object_del(u: Universe) -> None:
    assert hmp(u, "device_add example-device,id=h1,level=4,label=a,,b") == ""
    assert ok(u, "qom-get", {"path": "/machine/peripheral/h1", "property": "label"}) == "a,b"
    assert hmp(u, "device_add example-device,level=x") == "Error: Parameter 'level' expects uint64\r\n"
    assert hmp(u, "device_add example-device,level=300") == "Error: Parameter 'level' expects uint8\r\n"
    assert hmp(u, "device_add") == "Error: Parameter 'driver' is missing\r\n"
    assert (
        hmp(u, "device_del h1") == "Error: Device 'example-device' can not be hotplugged on this machine\r\n"
    )
    ok(u, "object-add", {"qom-type": "example-memory", "id": "m", "size": 1})
    assert hmp(u, "object_del m") == ""
    assert hmp(u, "object_del m") == "Error: object 'm' not found\r\n"


def _register_my_dev(fail_realize: bool = False) -> None:
    """A device whose ``level`` property is added by ``instance_init`` (not a class property)."""
    from qom import (
        TYPE_DEVICE,
        DeviceClass,
        DeviceState,
        GenericError,
        Object,
        ObjectClass,
        TypeInfo,
        object_property_add_uint32_ptr,
        type_register_static,
    )
    from qom.property import ObjectPropertyFlags

    class MyDev(DeviceState):
        def __init__(self) -> None:
            super().__init__()
            self.level = 0

    def init(obj: Object) -> None:
        object_property_add_uint32_ptr(obj, "level", "level", ObjectPropertyFlags.READWRITE)

    def realize(dev: DeviceState) -> None:
        if fail_realize:
            assert isinstance(dev, MyDev)
            raise GenericError(f"my-dev: level {dev.level} is out of order")

    def class_init(k: ObjectClass, _d: Any) -> None:
        assert isinstance(k, DeviceClass)
        k.user_creatable = True
        k.realize = realize

    type_register_static(TypeInfo(name="my-dev", parent=TYPE_DEVICE, instance_type=MyDev, instance_init=init,
                                  class_init=class_init))


def test_device_add_sets_properties_instance_init_added(u: Universe) -> None:
    with use_universe(u):
        _register_my_dev()
    assert ok(u, "device_add", {"driver": "my-dev", "id": "m", "level": 2}) == {}
    assert ok(u, "qom-get", {"path": "/machine/peripheral/m", "property": "level"}) == 2
    assert hmp(u, "device_add my-dev,id=h,level=5") == ""
    assert ok(u, "qom-get", {"path": "/machine/peripheral/h", "property": "level"}) == 5
    fails_after_creating(u, "device_add", {"driver": "my-dev", "lev": 1}, "Property 'my-dev.lev' not found")


def test_device_add_realize_failure_finalizes_the_half_made_device(u: Universe) -> None:
    with use_universe(u):
        _register_my_dev(fail_realize=True)
    before = u.live_instances("my-dev")
    fails_after_creating(u, "device_add", {"driver": "my-dev", "id": "m", "level": 9},
                         "my-dev: level 9 is out of order")
    assert u.live_instances("my-dev") == before == 0
    assert u.instances_created("my-dev") == 1
    assert u.sanitizer == []
