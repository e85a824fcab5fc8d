"""Snapshot files: a real QEMU's type universe, and :func:`load_universe` to emulate it.

A snapshot (``docs/snapshot-format.md``) is compact JSON written by ``qomsim capture``::

    >>> from qom.snapshot import load_universe, packaged_snapshot_path
    >>> from qom.qmp import execute
    >>> u = load_universe(packaged_snapshot_path())
    >>> execute("query-version", universe=u)["return"]["qemu"]
    {'micro': 22, 'minor': 2, 'major': 7}
    >>> execute("qom-list-properties", {"typename": "iommu-memory-region"}, universe=u)
    {'return': [{'name': 'type', 'type': 'string'}]}

Each type keeps only what it adds to its parent: its abstract flag, its own interfaces and its
own properties (:mod:`qom.snapshot.format`); :func:`load_universe` declares every type with a
:class:`~qom.types.TypeInfo` whose ``class_init`` adds the class properties and whose
``instance_init`` adds the instance-only ones, so the emulator *derives* ``qom-list-types``,
``qom-list-properties`` and ``device-list-properties`` answers from parents and interfaces
rather than replaying them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from qom.object import Object, object_new, object_unref
from qom.property import (
    ObjectProperty,
    object_class_property_add,
    object_class_property_find,
    object_property_add,
    object_property_del,
    object_property_find,
)
from qom.qmp.schema import VersionInfo
from qom.snapshot.format import read_snapshot
from qom.tree import object_get_root, object_property_add_child, object_resolve_path
from qom.types import ObjectClass, TypeImpl, TypeInfo
from qom.universe import MachinePhase, Universe, use_universe

__all__ = ["LoadedUniverse", "load_universe"]


# -- loading ------------------------------------------------------------------------------------------


class LoadedUniverse(Universe):
    """A :class:`~qom.universe.Universe` built from a snapshot.

    ``qemu_version`` is what ``query-version`` reports; ``snapshot`` is the file's content.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(machine=None)
        self.snapshot_data: Mapping[str, Any] = data
        version = data.get("qemu", {}).get("version", {})
        q = version.get("qemu", {}) if isinstance(version, dict) else {}
        try:
            self.qemu_version: VersionInfo | None = VersionInfo(
                int(q["major"]), int(q["minor"]), int(q["micro"]), str(version.get("package", "")))
        except (KeyError, TypeError, ValueError):
            self.qemu_version = None


def _stub(prop: ObjectProperty, spec: Mapping[str, Any]) -> None:
    desc = spec.get("description")
    if isinstance(desc, str):
        prop.description = desc
    if "default-value" in spec:
        # recorded, never applied: a stub holds no value (no init hook, no setter)
        prop.defval = spec["default-value"]


def _class_init(own: list[Mapping[str, Any]], inner: Callable[[ObjectClass, Any], None] | None
                ) -> Callable[[ObjectClass, Any], None]:
    def class_init(oc: ObjectClass, data: Any) -> None:
        if inner is not None:
            inner(oc, data)
        for spec in own:
            if object_class_property_find(oc, spec["name"]) is None:
                _stub(object_class_property_add(oc, spec["name"], spec["type"], None, None), spec)
    return class_init


def _child_type(spec: Mapping[str, Any], u: Universe) -> str | None:
    ptype = str(spec["type"])
    if not (ptype.startswith("child<") and ptype.endswith(">")):
        return None
    name = ptype[len("child<"):-1]
    ti = u.types.get(name)
    return name if ti is not None and not ti.abstract else None


def _instance_init(own: list[Mapping[str, Any]], removes: list[str], u: Universe,
                   inner: Callable[[Object], None] | None) -> Callable[[Object], None]:
    def instance_init(obj: Object) -> None:
        if inner is not None:
            inner(obj)
        for name in removes:
            if name in obj.properties:
                object_property_del(obj, name)
        for spec in own:
            if spec["name"] in obj.properties or object_class_property_find(obj.klass, spec["name"]):
                continue
            child = _child_type(spec, u)
            if child is not None:
                c = object_new(child)
                object_property_add_child(obj, spec["name"], c)
                object_unref(c)
            else:
                _stub(object_property_add(obj, spec["name"], spec["type"], None, None), spec)
    return instance_init


def _declare(u: Universe, name: str, t: Mapping[str, Any]) -> None:
    props = [p for p in t.get("properties", []) if not p.get("instance")]
    inst = [p for p in t.get("properties", []) if p.get("instance")]
    removes = list(t.get("removes", []))
    ti = u.types.get(name)
    if ti is None:
        info = TypeInfo(name=name, parent=t.get("parent"), abstract=bool(t.get("abstract", False)),
                        interfaces=tuple(t.get("interfaces", ())))
        # registered directly, not through type_register_static: QEMU 7.2 predates the type-name
        # check (``qom/object.c``, type_name_is_valid) and has e.g. 'qemu:ram-discard-manager'
        ti = TypeImpl(u, info)
        u.types[name] = ti
    else:
        # a built-in: keep its behaviour (hooks, Python classes), take the snapshot's shape
        ti.parent_name = t.get("parent")
        ti.abstract = bool(t.get("abstract", False))
        ti.interface_names = tuple(t.get("interfaces", ()))
    ti.class_init = _class_init(props, ti.class_init)
    if inst or removes:
        ti.instance_init = _instance_init(inst, removes, u, ti.instance_init)


def _tree(u: Universe, tree: Mapping[str, list[list[str]]]) -> None:
    """Recreate the captured composition tree, parents first."""
    root = object_get_root()
    for path in sorted(tree, key=lambda p: (p.count("/"), p)):
        parent = root if path == "/" else object_resolve_path(path)
        if parent is None:
            continue
        for name, ptype in tree[path]:
            if not ptype.startswith("child<") or object_property_find(parent, name) is not None:
                continue
            typename = ptype[len("child<"):-1]
            ti = u.types.get(typename)
            if ti is None or ti.abstract:
                continue
            child = object_new(typename)
            object_property_add_child(parent, name, child)
            if path == "/" and name == "machine":
                u.current_machine = child  # keeps the creation reference, as qemu_create_machine does
            else:
                object_unref(child)


def load_universe(path: str | Path) -> Universe:
    """Build a fresh universe from a snapshot file.

    Built-in types the snapshot names keep their Python behaviour but take the snapshot's
    parent, abstract flag, interfaces and extra properties; built-ins it does not name
    (e.g. ``singleton``) are dropped.  The tree is rebuilt from the captured one and the machine
    phase is ``MACHINE_READY``, as in a QEMU started with ``-S``.

    :param path: the snapshot file.
    :return: the universe (a :class:`LoadedUniverse`).
    :raise OSError: when the file cannot be read.
    :raise SnapshotFormatError: when it is not a readable snapshot.
    :raise TypeError: when ``path`` is not a str or path-like (an int would be taken as a file
        descriptor by ``open()``).
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"load_universe(): path must be a str or os.PathLike, not {type(path).__name__}")
    data = read_snapshot(path)
    u = LoadedUniverse(data)
    types: dict[str, Any] = data["types"]
    for name in [n for n in u.types if n not in types]:
        del u.types[name]
    for name, t in types.items():
        _declare(u, name, t)
    with use_universe(u):
        _tree(u, data["tree"])
    u.machine_phase = MachinePhase.MACHINE_READY
    return u
