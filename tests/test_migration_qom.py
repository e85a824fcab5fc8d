"""The model's QOM side agrees with QOM: the type, its tag's properties, introspection, counters."""

from __future__ import annotations

from migration.model.designs import DESIGNS
from migration.model.options import MIGRATION_PROPERTIES, by_name
from migration.model.program import ev
from migration.model.qomtype import MigrationUniverse
from migration.model.run import run_program
from qom.qdev import DeviceClass
from qom.qmp import execute
from qom.types import object_class_by_name, object_class_get_parent, object_class_is_abstract
from qom.universe import use_universe


def _listing(mu: MigrationUniverse, command: str) -> dict[str, dict[str, object]]:
    resp = execute(command, {"typename": "migration"}, universe=mu.universe)
    assert "return" in resp, resp
    items = resp["return"]
    assert isinstance(items, list)
    return {str(p["name"]): p for p in items}


def test_the_type_is_a_concrete_non_user_creatable_device() -> None:
    mu = MigrationUniverse(DESIGNS["qemu-10.0"])
    with use_universe(mu.universe):
        klass = object_class_by_name("migration")
        assert klass is not None
        parent = object_class_get_parent(klass)
        assert parent is not None and parent.type.name == "device"
        assert not object_class_is_abstract(klass)
        assert isinstance(klass, DeviceClass)
        assert klass.user_creatable is False


def test_qom_list_properties_shows_masters_52_with_types_and_defaults() -> None:
    assert len(MIGRATION_PROPERTIES) == 52
    mu = MigrationUniverse(DESIGNS["qemu-master"])
    listed = _listing(mu, "qom-list-properties")
    for spec in MIGRATION_PROPERTIES:
        info = listed[spec.name]
        assert info["type"] == spec.qom_type, spec.name
        assert info["default-value"] == spec.default, spec.name
    # the 52, plus what device contributes
    assert set(listed) - {p.name for p in MIGRATION_PROPERTIES} == {
        "type", "realized", "hotpluggable", "hotplugged", "parent_bus"}
    assert by_name("x-max-bandwidth").default == 128 * 1024 * 1024
    assert listed["tls-creds"]["default-value"] == ""
    assert listed["mode"]["default-value"] == "normal"
    assert listed["store-global-state"]["default-value"] is True


def test_qemu_10_0_registers_10_0s_51() -> None:
    mu = MigrationUniverse(DESIGNS["qemu-10.0"])
    listed = _listing(mu, "qom-list-properties")
    own = set(listed) - {"type", "realized", "hotpluggable", "hotplugged", "parent_bus"}
    assert len(own) == 51
    assert "x-zero-blocks" in own and "postcopy-blocktime" not in own and "x-ignore-shared" not in own
    # DEFINE_PROP_STRING: type "str", no default-value
    assert listed["tls-creds"]["type"] == "str" and "default-value" not in listed["tls-creds"]


def test_introspection_creates_a_temporary_through_qmp() -> None:
    mu = MigrationUniverse(DESIGNS["qemu-10.0"])
    u = mu.universe
    before = u.instances_created("migration")
    _listing(mu, "qom-list-properties")
    assert u.instances_created("migration") == before + 1
    assert u.live_instances("migration") == 0
    _listing(mu, "device-list-properties")
    assert u.instances_created("migration") == before + 2
    assert u.live_instances("migration") == 0


def test_class_only_introspection_creates_nothing() -> None:
    mu = MigrationUniverse(DESIGNS["class-only-introspection"])
    before = mu.universe.instances_created("migration")
    listed = _listing(mu, "qom-list-properties")
    assert len(listed) == 48 + 5  # the design follows 9.1: 48 properties, plus device's 5
    assert mu.universe.instances_created("migration") == before


def test_the_live_count_the_checks_see_is_qoms_counter() -> None:
    # qemu-10.0: object_new("migration") beside the live object makes a second instance;
    # SECOND_INSTANCE is raised at the step where QOM's own live counter reaches 2
    r = run_program(DESIGNS["qemu-10.0"], (ev("object_init"), ev("create", path="object_new")))
    assert r.fault is not None
    assert r.fault.outcome.value == "SECOND_INSTANCE"
    assert r.fault.detail == "2 live migration instances"
    assert r.fault.obj == "mig#1,mig#2"
    steps = [t.action for t in r.trace]
    assert steps[r.fault.step] == "instance_init"
    # the caller of the unconverted path drops its reference: finalize of the second instance
    assert steps[-1] == "instance_finalize"


def test_singleton_fetch_reuses_the_live_instance() -> None:
    # singleton-v2 fetches the live instance for both commands: no temporary, same refcount
    r = run_program(DESIGNS["singleton-v2"], (
        ev("object_init"),
        ev("introspect", command="qom-list-properties", label="qlp"),
        ev("introspect", command="device-list-properties", label="dlp"),
    ))
    assert r.fault is None
    assert [rec.ok for rec in r.introspection] == [True, True]
    assert [t.action for t in r.trace].count("instance_init") == 1
    assert r.impure == []
