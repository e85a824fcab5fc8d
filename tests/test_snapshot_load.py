"""Snapshots without QEMU: the reduction, the file format, the loader, the packaged snapshot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from qom import object_class_by_name, use_universe
from qom.qmp import execute as _execute
from qom.snapshot import (
    PACKAGED_VERSIONS,
    LoadedUniverse,
    RawCapture,
    SnapshotFormatError,
    dump_snapshot,
    load_universe,
    packaged_snapshot_path,
    read_snapshot,
    snapshot_from_raw,
)
from qom.universe import Universe


def execute(command: str, arguments: dict[str, Any] | None = None, *, universe: Universe) -> dict[str, Any]:
    return _execute(command, arguments, universe=universe)


def _names(answer: dict[str, Any]) -> set[str]:
    return {str(item["name"]) for item in answer["return"]}


def _props(answer: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(p["name"], p["type"], p.get("description")) for p in answer["return"]}


# -- a tiny capture, written by hand -------------------------------------------------------------


def _prop(name: str, type: str = "uint32", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type, **extra}


def _returned(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(answer["return"])


def _ok(*props: dict[str, Any]) -> dict[str, Any]:
    return {"return": list(props)}


TYPE = _prop("type", "string")
NOT_QOM: dict[str, Any] = {
    "error": {"class": "GenericError", "desc": "Parameter 'typename' expects a QOM type"}}


def tiny_raw() -> RawCapture:
    """object <- base (abstract, class prop b) <- p (concrete: x, y) <- c (drops x), a (abstract)."""
    return RawCapture(
        version={"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "tiny"},
        argv=["qemu-tiny"],
        types=[
            {"name": "object", "abstract": True}, {"name": "interface", "abstract": True},
            {"name": "i1", "parent": "interface", "abstract": True},
            {"name": "i2", "parent": "interface", "abstract": True},
            {"name": "container", "parent": "object"},
            {"name": "base", "parent": "object", "abstract": True},
            {"name": "p", "parent": "base"}, {"name": "c", "parent": "p"},
            {"name": "a", "parent": "p", "abstract": True},
        ],
        concrete=["c", "container", "p"],
        implements={"interface": ["a", "i1", "i2", "interface", "p"], "i1": ["a", "c", "i1", "p"],
                    "i2": ["c", "i2"]},
        tree={"/": [TYPE]},
        qom_list_properties={
            "object": _ok(TYPE), "interface": NOT_QOM, "i1": NOT_QOM, "i2": NOT_QOM,
            "container": _ok(TYPE), "base": _ok(TYPE, _prop("b", description="a class property")),
            "p": _ok(TYPE, _prop("b", description="a class property"), _prop("x"), _prop("y", "bool")),
            "c": _ok(TYPE, _prop("b", description="a class property"), _prop("y", "bool")),
            "a": _ok(TYPE, _prop("b", description="a class property"), _prop("x")),
        },
        crashes=[{"command": "qom-list-properties", "typename": "zz", "detail": "killed by signal 6"}],
    )


def test_reduction_keeps_only_what_each_type_adds() -> None:
    data = snapshot_from_raw(tiny_raw())
    assert data["format"] == "qomsim-snapshot" and data["version"] == 1
    assert data["types"] == {
        "interface": {"abstract": True},
        "i1": {"abstract": True, "parent": "interface"},
        "i2": {"abstract": True, "parent": "interface"},
        "object": {"abstract": True, "properties": [TYPE]},
        "base": {"abstract": True, "parent": "object",
                 "properties": [_prop("b", description="a class property")]},
        # x is a class property (the abstract child lists it); y is instance-only (it does not)
        "p": {"parent": "base", "interfaces": ["i1"],
              "properties": [_prop("x"), _prop("y", "bool", instance=True)]},
        "a": {"abstract": True, "parent": "p"},
        "c": {"parent": "p", "interfaces": ["i2"]},
        "container": {"parent": "object"},
    }
    assert data["unmodelled"] == ["c.x: inherited class property not listed"]
    assert data["errors"] == {"qom-list-properties": {"i1": NOT_QOM["error"], "i2": NOT_QOM["error"],
                                                      "interface": NOT_QOM["error"]}}
    assert data["crashes"] == [{"command": "qom-list-properties", "typename": "zz",
                                "detail": "killed by signal 6"}]


def test_instance_property_dropped_by_a_subclass_is_removed(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw.qom_list_properties["c"] = _ok(TYPE, _prop("b", description="a class property"), _prop("x"))
    data = snapshot_from_raw(raw)
    assert data["types"]["c"] == {"parent": "p", "interfaces": ["i2"], "removes": ["y"]}
    assert data["unmodelled"] == []
    path = tmp_path / "tiny.json"
    with open(path, "w", encoding="utf-8") as f:
        dump_snapshot(data, f)
    u = load_universe(path)
    for name in ("base", "p", "c", "a", "object", "container"):
        answer = execute("qom-list-properties", {"typename": name}, universe=u)
        assert _props(answer) == _props(raw.qom_list_properties[name]), name
    answer = execute("qom-list-properties", {"typename": "base"}, universe=u)
    assert {"name": "b", "type": "uint32", "description": "a class property"} in answer["return"]


def test_defaults_seen_only_by_qom_list_properties_are_kept(tmp_path: Path) -> None:
    # QEMU >= 9.1 lists default-value in qom-list-properties too; device-list-properties hides
    # legacy-* properties, so for those it is the only place the default shows (10.0's x86 CPUs)
    raw = tiny_raw()
    legacy = _prop("legacy-z", "bool", description="on/off")
    for name in ("p", "c", "a"):
        raw.qom_list_properties[name] = _ok(*_returned(raw.qom_list_properties[name]),
                                            {**legacy, "default-value": True})
    raw.device_list_properties["p"] = _ok({**_prop("x"), "default-value": 3})
    data = snapshot_from_raw(raw)
    assert {**legacy, "default-value": True} in data["types"]["p"]["properties"]
    assert {**_prop("x"), "default-value": 3} in data["types"]["p"]["properties"]
    path = tmp_path / "tiny.json"
    with open(path, "w", encoding="utf-8") as f:
        dump_snapshot(data, f)
    answer = execute("qom-list-properties", {"typename": "c"}, universe=load_universe(path))
    assert {**legacy, "default-value": True} in answer["return"]


def test_loader_derives_interfaces_and_the_ambiguous_rule(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    with open(path, "w", encoding="utf-8") as f:
        dump_snapshot(snapshot_from_raw(tiny_raw()), f)
    u = load_universe(path)
    raw = tiny_raw()
    for iface, expected in raw.implements.items():
        assert _names(execute("qom-list-types", {"implements": iface, "abstract": True}, universe=u)) \
            == set(expected), iface
    # c has two interface classes (i1 from p, i2 of its own): a cast to "interface" is ambiguous
    assert _names(execute("qom-list-types", {"implements": "interface"}, universe=u)) == {"p"}
    assert execute("query-version", universe=u) == {
        "return": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "tiny"}}


# -- the file format --------------------------------------------------------------------------------


def test_dump_is_deterministic_and_reads_back(tmp_path: Path) -> None:
    data = snapshot_from_raw(tiny_raw())
    first, second = io.StringIO(), io.StringIO()
    dump_snapshot(data, first)
    dump_snapshot(snapshot_from_raw(tiny_raw()), second)
    assert first.getvalue() == second.getvalue()
    assert first.getvalue().splitlines()[:3] == ["{", '"format":"qomsim-snapshot",', '"version":1,']
    path = tmp_path / "s.json"
    path.write_text(first.getvalue(), encoding="utf-8")
    assert read_snapshot(path) == json.loads(json.dumps(data))


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ('{"format": "other"}', "not a qomsim-snapshot file"),
    ('{"format": "qomsim-snapshot", "version": 2}',
     "snapshot version 2, this qomsim reads version 1"),
    ('{"format": "qomsim-snapshot", "version": 1, "types": [], "tree": {}}',
     "'types' and 'tree' must be objects"),
    ('{"format": "qomsim-snapshot", "version": 1, "types": {"object": {}, "interface": {}}, "tree": {}}',
     "built-in type 'container' is missing"),
    ('{"format": "qomsim-snapshot", "version": 1, "tree": {}, "types": {"object": {}, "interface": {},'
     ' "container": {"properties": [{"name": 1}]}}}',
     "a property of 'container' is malformed"),
])
def test_bad_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SnapshotFormatError) as exc:
        load_universe(path)
    assert str(exc.value) == f"{path}: {message}"
    assert isinstance(exc.value, ValueError)


# -- the packaged snapshot ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> Universe:
    return load_universe(packaged_snapshot_path())


def test_packaged_snapshot_loads(packaged: Universe) -> None:
    assert isinstance(packaged, LoadedUniverse)
    assert execute("query-version", universe=packaged) == {"return": {
        "qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}}
    data = read_snapshot(packaged_snapshot_path())
    assert len(data["types"]) == len(packaged.types) == 754
    assert data["unmodelled"] == []
    assert packaged_snapshot_path().stat().st_size < 300_000
    with use_universe(packaged):
        # master's built-ins that 7.2 does not have are dropped; 7.2's own names are kept
        assert object_class_by_name("singleton") is None
        assert object_class_by_name("internal") is None
        assert object_class_by_name("qemu:ram-discard-manager") is not None


@pytest.fixture(scope="module")
def packaged10() -> Universe:
    return load_universe(packaged_snapshot_path("10.0.2"))


def test_packaged_versions_are_named_by_version() -> None:
    assert PACKAGED_VERSIONS == ("7.2.22", "10.0.2")
    assert packaged_snapshot_path() == packaged_snapshot_path("7.2.22")
    assert [packaged_snapshot_path(v).name for v in PACKAGED_VERSIONS] == [
        "qemu-system-x86_64-7.2.22.json", "qemu-system-x86_64-10.0.2.json"]
    with pytest.raises(ValueError) as exc:
        packaged_snapshot_path("9.2.0")
    assert str(exc.value) == "no packaged snapshot of QEMU '9.2.0' (packaged: 7.2.22, 10.0.2)"


def test_packaged_10_0_snapshot_loads(packaged10: Universe) -> None:
    assert isinstance(packaged10, LoadedUniverse)
    assert execute("query-version", universe=packaged10) == {"return": {
        "qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}}
    data = read_snapshot(packaged_snapshot_path("10.0.2"))
    assert len(data["types"]) == len(packaged10.types) == 843
    assert data["unmodelled"] == []
    assert data["qemu"]["argv"][0] == "qemu-system-x86_64-10.0"
    assert {c["typename"] for c in data["crashes"]} == {
        "colo-compare", "memory-region-portio-list", "qemu-text-console", "x-remote-object"}
    assert packaged_snapshot_path("10.0.2").stat().st_size < 300_000
    with use_universe(packaged10):
        # 10.0 renamed 7.2's 'qemu:ram-discard-manager' and dropped rdma
        assert object_class_by_name("ram-discard-manager") is not None
        assert object_class_by_name("qemu:ram-discard-manager") is None
        assert object_class_by_name("singleton") is None


def test_packaged_10_0_root_and_migration(packaged10: Universe) -> None:
    # 10.0 creates backend and objects with the root (7.2 on first use); the loader adds audiodevs
    assert _names(execute("qom-list", {"path": "/"}, universe=packaged10)) == \
        {"type", "machine", "chardevs", "backend", "objects", "audiodevs"}
    migration = execute("device-list-properties", {"typename": "migration"}, universe=packaged10)["return"]
    assert len(migration) == 51
    assert {"name": "zero-page-detection", "type": "ZeroPageDetection", "default-value": "multifd",
            "description": "Zero page detection (none/legacy/multifd)"} in migration
    assert "x-compress" not in {p["name"] for p in migration}


def test_packaged_instance_only_properties(packaged: Universe) -> None:
    assert _names(execute("qom-list-properties", {"typename": "memory-region"}, universe=packaged)) == \
        {"type", "container", "addr", "size", "priority"}
    # the abstract subclass lists class properties only: memory-region's are instance-only
    assert _names(execute("qom-list-properties", {"typename": "iommu-memory-region"},
                          universe=packaged)) == {"type"}


def test_packaged_tree_is_the_captured_one(packaged: Universe) -> None:
    assert _names(execute("qom-list", {"path": "/machine/unattached"}, universe=packaged)) == \
        {"type", "sysbus", "io[0]", "system[0]"}
    assert execute("qom-list", {"path": "/chardevs/compat_monitor0"}, universe=packaged)["return"][0] == \
        {"name": "type", "type": "string"}
    tree = execute("human-monitor-command", {"command-line": "info qom-tree"}, universe=packaged)
    assert tree["return"] == (
        "/machine (none-machine)\r\n  /peripheral (container)\r\n  /peripheral-anon (container)\r\n"
        "  /unattached (container)\r\n    /io[0] (memory-region)\r\n    /sysbus (System)\r\n"
        "    /system[0] (memory-region)\r\n")


def test_packaged_device_defaults(packaged: Universe) -> None:
    answer = execute("device-list-properties", {"typename": "isa-debugcon"}, universe=packaged)
    assert sorted(answer["return"], key=lambda p: p["name"]) == [
        {"name": "chardev", "type": "str", "description": "ID of a chardev to use as a backend"},
        {"name": "iobase", "type": "uint32", "default-value": 233},
        {"name": "readback", "type": "uint32", "default-value": 233},
    ]


def test_property_shared_by_all_children_is_stored_once(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw.types.append({"name": "q", "parent": "base"})
    raw.concrete.append("q")
    shared = _prop("s", "bool", description="on/off")
    raw.qom_list_properties["q"] = _ok(TYPE, _prop("b", description="a class property"), shared)
    # p has an abstract child (a), so p/q's common property is not hoisted into base ...
    for name in ("p", "c", "a"):
        raw.qom_list_properties[name] = _ok(*_returned(raw.qom_list_properties[name]), shared)
    assert "s" in {p["name"] for p in snapshot_from_raw(raw)["types"]["q"]["properties"]}
    # ... but once a is gone it is, as an instance property of base
    raw.types = [t for t in raw.types if t["name"] != "a"]
    del raw.qom_list_properties["a"]
    data = snapshot_from_raw(raw)
    assert data["types"]["base"]["properties"] == [_prop("b", description="a class property"),
                                                   {**shared, "instance": True}]
    assert "properties" not in data["types"]["q"]
    assert data["unmodelled"] == ["c.x: inherited class property not listed"]
    path = tmp_path / "hoisted.json"
    with open(path, "w", encoding="utf-8") as f:
        dump_snapshot(data, f)
    u = load_universe(path)
    for name in ("base", "p", "q"):
        answer = execute("qom-list-properties", {"typename": name}, universe=u)
        assert _props(answer) == _props(raw.qom_list_properties[name]), name
