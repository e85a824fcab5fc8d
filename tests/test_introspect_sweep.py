"""The device-introspect sweep (``qom/snapshot/introspect.py``) on the packaged snapshot and broken types."""

from __future__ import annotations

from qom import (
    QOMFatal,
    TypeInfo,
    Universe,
    object_new,
    object_property_add_child,
    object_resolve_path,
    object_unref,
    type_register_static,
    use_universe,
)
from qom.object import Object
from qom.snapshot import load_universe, packaged_snapshot_path
from qom.snapshot.introspect import IntrospectFailure, introspect_sweep


def test_packaged_snapshot_passes_the_sweep() -> None:
    u = load_universe(packaged_snapshot_path())
    created = u.instances_created()
    live = list(u.iter_live_objects())
    report = introspect_sweep(u)
    assert report.failures == []
    assert report.ok
    assert (report.device_types, report.types) == (446, 754)
    # temporary instances were made for every concrete type and all are gone again: the same objects live
    # as before, and the per-type counts agree with the live set
    assert u.instances_created() - created > 446
    after = list(u.iter_live_objects())
    assert len(after) == len(live) and all(a is b for a, b in zip(after, live, strict=True))
    assert sum(ti.n_live for ti in u.types.values()) == len(live)


def test_default_universe_passes_the_sweep() -> None:
    report = introspect_sweep(Universe())
    assert report.failures == []
    assert report.types > 10


def _crash(obj: Object) -> None:
    raise QOMFatal("assertion failed: (current_migration == NULL)")


def _leak_into_tree(obj: Object) -> None:
    # what an instance_init with a side effect does: a temporary instance changes the tree
    machine = object_resolve_path("/machine")
    if machine is not None and "leaked" not in machine.properties:
        child = object_new("container")
        object_property_add_child(machine, "leaked", child)
        object_unref(child)


def _universe_with(info: TypeInfo) -> Universe:
    u = Universe()
    with use_universe(u):
        type_register_static(info)
    return u


def test_sweep_reports_a_crash() -> None:
    report = introspect_sweep(_universe_with(
        TypeInfo(name="crashy-device", parent="device", instance_init=_crash)))
    crash = "crash: assertion failed: (current_migration == NULL)"
    assert report.failures == [
        IntrospectFailure("device-list-properties", "crashy-device", crash),
        IntrospectFailure("qom-list-properties", "crashy-device", crash),
    ]
    assert not report.ok


def test_sweep_reports_a_changed_tree() -> None:
    report = introspect_sweep(_universe_with(
        TypeInfo(name="leaky-object", parent="object", instance_init=_leak_into_tree)))
    assert report.failures == [
        IntrospectFailure("qom-list-properties", "", "info qom-tree changed"),
        IntrospectFailure("qom-list-properties", "", "live objects 10 -> 11"),
    ]


def test_sweep_can_be_limited_to_some_types() -> None:
    report = introspect_sweep(_universe_with(
        TypeInfo(name="crashy-device", parent="device", instance_init=_crash)), types=["crashy-device"])
    assert {f.typename for f in report.failures} == {"crashy-device"}
    assert (report.device_types, report.types) == (1, 1)
