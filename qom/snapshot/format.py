"""The snapshot format: raw capture answers, their reduction, and reading and writing the file.

A snapshot (``docs/snapshot-format.md``) is compact JSON written by ``qomsim capture``.  Each type
keeps only what it adds to its parent: its abstract flag, its own interfaces and its own properties.
:class:`RawCapture` holds the answers :mod:`qom.snapshot.capture` got from a real QEMU;
:func:`snapshot_from_raw` reduces them; :func:`dump_snapshot` and :func:`read_snapshot` write and
read the file.  :mod:`qom.snapshot.load` turns a snapshot back into a universe.  Both of those
modules import this one, and neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from qom.fileio import read_file
from qom.snapshot.validate import SnapshotFormatError, validate_snapshot
from qom.types import TYPE_INTERFACE
from qom.visitor import JSON

__all__ = [
    "FORMAT",
    "PACKAGED_VERSIONS",
    "VERSION",
    "RawCapture",
    "SnapshotFormatError",
    "dump_snapshot",
    "packaged_snapshot_path",
    "read_snapshot",
    "snapshot_from_raw",
]

FORMAT = "qomsim-snapshot"
#: the largest snapshot file qomsim reads (QEMU 10.0.2's is 0.5 MB)
MAX_FILE_SIZE = 16 << 20
VERSION = 1

#: what ``device-list-properties`` hides (``qom/qom-qmp-cmds.c``, ``qmp_device_list_properties``)
DEVICE_HIDDEN = frozenset({"type", "realized", "hotpluggable", "hotplugged", "parent_bus"})


#: the QEMU versions whose snapshot ships in ``qom/snapshot/data/``, the default first: Debian 12's
#: ``qemu-system-x86_64`` and bookworm-backports' (``qemu-system-x86_64-VERSION.json``)
PACKAGED_VERSIONS = ("7.2.22", "10.0.2")


def packaged_snapshot_path(version: str = PACKAGED_VERSIONS[0]) -> Path:
    """Find a snapshot shipped with qomsim.

    :param version: which QEMU (one of :data:`PACKAGED_VERSIONS`; default Debian 12's 7.2.22).
    :return: the snapshot of that ``qemu-system-x86_64``, in ``qom/snapshot/data/``.
    :raise ValueError: when no snapshot of that version is packaged.
    """
    if version not in PACKAGED_VERSIONS:
        packaged = ", ".join(PACKAGED_VERSIONS)
        raise ValueError(f"no packaged snapshot of QEMU {version!r} (packaged: {packaged})")
    return Path(__file__).resolve().parent / "data" / f"qemu-system-x86_64-{version}.json"


# -- reduction: raw answers -> snapshot -------------------------------------------------------------


Prop = dict[str, JSON]


def _props(answer: Mapping[str, JSON] | None) -> list[Prop] | None:
    if answer is None:
        return None
    listed = answer.get("return")
    if not isinstance(listed, list):
        return None
    return [p for p in listed if isinstance(p, dict) and isinstance(p.get("name"), str)]


def _key(p: Prop) -> tuple[JSON, JSON]:
    return p.get("type"), p.get("description")


def _order(types: Mapping[str, Mapping[str, JSON]]) -> list[str]:
    """Type names, every parent before its children (then by name)."""
    children: dict[str | None, list[str]] = {}
    for name, t in types.items():
        parent = t.get("parent")
        children.setdefault(parent if isinstance(parent, str) and parent in types else None, []).append(name)
    out: list[str] = []
    pending = sorted(children.get(None, []), reverse=True)
    while pending:
        name = pending.pop()
        out.append(name)
        pending.extend(sorted(children.get(name, []), reverse=True))
    return out


def snapshot_from_raw(raw: RawCapture) -> dict[str, Any]:
    """Reduce a capture to the snapshot format (every type keeps only what it adds).

    Whatever the reduction cannot express is listed under ``"unmodelled"``.

    :param raw: the capture.
    :return: the snapshot, ready for :func:`dump_snapshot`.
    """
    types: dict[str, dict[str, JSON]] = {str(t["name"]): t for t in raw.types}
    order = _order(types)
    unmodelled: list[str] = []
    interface_types = {n for n in order if _is_interface(types, n)}
    # interfaces each (non-interface) type is seen to implement
    seen: dict[str, set[str]] = {n: set() for n in types}
    for iface, names in raw.implements.items():
        if iface == TYPE_INTERFACE:
            continue
        for n in names:
            if n in seen and n not in interface_types:
                seen[n].add(iface)
    observed: dict[str, dict[str, Prop] | None] = {}
    seen_by_dlp: set[str] = set()  # qom-list-properties failed: device-list-properties' (filtered) view
    for n in order:
        listed = _props(raw.qom_list_properties.get(n))
        if listed is None:
            listed = _props(raw.device_list_properties.get(n))
            if listed is not None:
                seen_by_dlp.add(n)
        observed[n] = None if listed is None else {str(p["name"]): p for p in listed}
    abstract = {n for n, t in types.items() if t.get("abstract") is True}
    descendants: dict[str, list[str]] = {n: [] for n in types}
    for n in reversed(order):
        parent = types[n].get("parent")
        if isinstance(parent, str) and parent in descendants:
            descendants[parent] += [n, *descendants[n]]
    out_types: dict[str, dict[str, Any]] = {}
    model_class: dict[str, dict[str, Prop]] = {}
    model_inst: dict[str, dict[str, Prop]] = {}
    own_all: dict[str, dict[str, Prop]] = {}
    for n in order:
        t = types[n]
        parent = t.get("parent")
        pname = parent if isinstance(parent, str) and parent in types else None
        pclass = dict(model_class[pname]) if pname else {}
        pinst = dict(model_inst[pname]) if pname else {}
        concrete = n not in abstract
        base = {**pclass, **pinst} if concrete else dict(pclass)
        entry: dict[str, Any] = {}
        if pname is not None:
            entry["parent"] = pname
        if not concrete:
            entry["abstract"] = True
        own_ifaces = sorted(seen[n] - (seen[pname] if pname else set()))
        lost = sorted((seen[pname] if pname else set()) - seen[n])
        if lost:
            unmodelled.append(f"{n}: implements none of {lost} that its parent implements")
        if own_ifaces:
            entry["interfaces"] = list(own_ifaces)
        obs = observed[n]
        own: list[Prop] = []
        removed: list[str] = []
        if obs is not None:
            via_dlp = n in seen_by_dlp
            for name, p in obs.items():
                if name not in base:
                    own.append({k: v for k, v in p.items() if k in ("name", "type", "description")})
                elif _key(base[name]) != _key(p):
                    unmodelled.append(f"{n}.{name}: type/description differ from the inherited property")
            for name in base:
                if name in obs or (via_dlp and (name in DEVICE_HIDDEN or name.startswith("legacy-"))):
                    continue
                if name in pinst and concrete:
                    removed.append(name)
                else:
                    unmodelled.append(f"{n}.{name}: inherited class property not listed")
        cls: dict[str, Prop] = {}
        inst: dict[str, Prop] = {}
        for p in own:
            name = str(p["name"])
            # a concrete type's property is an instance property when it is a child<> (children
            # are made per instance) or when an abstract descendant (which lists class
            # properties only) does not list it
            instance_only = (concrete and str(p.get("type")).startswith("child<")) or (concrete and any(
                d in abstract and observed.get(d) is not None and name not in (observed[d] or {})
                for d in descendants[n]))
            if instance_only:
                inst[name] = {**p, "instance": True}
            else:
                cls[name] = p
        own_all[n] = {**cls, **inst}
        model_class[n] = {**pclass, **cls}
        model_inst[n] = {k: v for k, v in {**pinst, **inst}.items() if k not in removed}
        if own_all[n]:
            entry["properties"] = sorted(own_all[n].values(), key=lambda p: str(p["name"]))
        if removed:
            entry["removes"] = sorted(removed)
        out_types[n] = entry
    _attach_defaults(raw, types, own_all, unmodelled)
    _hoist_shared(types, abstract, own_all,
                  {n for n in types if any(d in abstract for d in descendants[n])})
    for n, entry in out_types.items():
        entry.pop("properties", None)
        if own_all[n]:
            props = sorted(own_all[n].values(), key=lambda p: str(p["name"]))
            entry["properties"] = props
            if "removes" in entry:  # keep the key order: parent, abstract, interfaces, properties, removes
                entry["removes"] = entry.pop("removes")
    errors: dict[str, Any] = {}
    for command, table in (("qom-list-properties", raw.qom_list_properties),
                           ("device-list-properties", raw.device_list_properties)):
        errs = {n: a["error"] for n, a in sorted(table.items()) if "error" in a}
        if errs:
            errors[command] = errs
    # qom-list order is unspecified (GLib hash tables): sorted, so equal trees give equal bytes
    tree: dict[str, Any] = {path: sorted([str(p.get("name")), str(p.get("type"))] for p in props)
                            for path, props in sorted(raw.tree.items())}
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "qemu": {"version": raw.version, "argv": list(raw.argv)},
        "types": out_types,
        "tree": tree,
        "errors": errors,
        "crashes": [dict(c) for c in raw.crashes],
        "unmodelled": sorted(unmodelled),
    }
    return data


def _is_interface(types: Mapping[str, Mapping[str, JSON]], name: str) -> bool:
    current: JSON = name
    seen: set[str] = set()
    while isinstance(current, str) and current in types and current not in seen:
        if current == TYPE_INTERFACE:
            return True
        seen.add(current)
        current = types[current].get("parent")
    return False


def _hoist_shared(types: Mapping[str, Mapping[str, JSON]], abstract: set[str],
                  own: dict[str, dict[str, Prop]], above_abstract: set[str]) -> None:
    """Move a property that every (concrete) child of an abstract type adds, identically, to that
    type's instance properties: it is then stored once, as QEMU's virtio-*-pci base types add it
    in their ``instance_init``.  The abstract type's own (class-only) listing does not change.
    Children with an abstract descendant are left alone: it may list their class properties.
    """
    children: dict[str, list[str]] = {}
    for n, t in types.items():
        parent = t.get("parent")
        if isinstance(parent, str):
            children.setdefault(parent, []).append(n)
    for parent, kids in sorted(children.items()):
        if parent not in abstract or len(kids) < 2 or any(k in abstract or k in above_abstract for k in kids):
            continue

        def spec(p: Prop) -> Prop:
            return {k: v for k, v in p.items() if k != "instance"}

        shared = [name for name, p in own[kids[0]].items()
                  if all(name in own[k] and spec(own[k][name]) == spec(p) for k in kids[1:])]
        for name in shared:
            own[parent][name] = {**spec(own[kids[0]][name]), "instance": True}
            for k in kids:
                del own[k][name]


def _attach_defaults(raw: RawCapture, types: Mapping[str, Mapping[str, JSON]],
                     own: dict[str, dict[str, Prop]], unmodelled: list[str]) -> None:
    """Put each ``default-value`` seen on the declaring type: ``device-list-properties`` has them
    since QEMU 5.0; ``qom-list-properties`` too since 9.1 (commit 443df40cad), and only it shows
    those of the properties ``device-list-properties`` hides (``legacy-*``, e.g. x86 CPUs'
    ``legacy-cache``)."""
    answers = [*sorted(raw.device_list_properties.items()), *sorted(raw.qom_list_properties.items())]
    for n, answer in answers:
        for p in _props(answer) or []:
            if "default-value" not in p:
                continue
            name = str(p["name"])
            current: JSON = n
            while isinstance(current, str) and current in types and name not in own.get(current, {}):
                current = types[current].get("parent")
            if not isinstance(current, str) or current not in own:
                unmodelled.append(f"{n}.{name}: default without a declaring type")
                continue
            decl = own[current][name]
            if "default-value" in decl and decl["default-value"] != p["default-value"]:
                unmodelled.append(f"{n}.{name}: default differs from {current}'s")
                continue
            decl["default-value"] = p["default-value"]


# -- reading and writing ------------------------------------------------------------------------------


def dump_snapshot(data: Mapping[str, Any], f: IO[str]) -> None:
    """Write a snapshot as compact JSON, one type per line (stable bytes for stable input).

    :param data: the snapshot.
    :param f: a text stream.
    """
    def compact(v: Any) -> str:
        return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    f.write("{\n")
    keys = list(data)
    for i, key in enumerate(keys):
        end = ",\n" if i < len(keys) - 1 else "\n"
        value = data[key]
        if key == "types" and isinstance(value, dict):
            f.write('"types":{\n')
            names = list(value)
            for j, name in enumerate(names):
                sep = "," if j < len(names) - 1 else ""
                f.write(f"{compact(name)}:{compact(value[name])}{sep}\n")
            f.write("}" + end)
        else:
            f.write(f"{compact(key)}:{compact(value)}{end}")
    f.write("}\n")


def read_snapshot(path: str | Path) -> dict[str, Any]:
    """Read and check a snapshot file.

    :param path: the file.
    :return: the snapshot.
    :raise OSError: when the file cannot be read, is not a regular file (:class:`qom.fileio.FileRefused`)
        or is larger than :data:`MAX_FILE_SIZE`.
    :raise SnapshotFormatError: when it is not JSON, not a snapshot, or of another version.
    """
    raw = read_file(path, MAX_FILE_SIZE)  # a regular file only: /dev/zero never ends, a FIFO blocks
    try:
        data = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise SnapshotFormatError(f"{path}: not JSON: {exc}") from None
    except RecursionError:
        raise SnapshotFormatError(f"{path}: not JSON qomsim can read: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise SnapshotFormatError(f"{path}: not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise SnapshotFormatError(f"{path}: not JSON qomsim can read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotFormatError(f"{path}: not a {FORMAT} file")
    if data.get("version") != VERSION:
        raise SnapshotFormatError(f"{path}: snapshot version {data.get('version')!r}, "
                                  f"this qomsim reads version {VERSION}")
    if not isinstance(data.get("types"), dict) or not isinstance(data.get("tree"), dict):
        raise SnapshotFormatError(f"{path}: 'types' and 'tree' must be objects")
    for builtin in ("object", "interface", "container"):
        if builtin not in data["types"]:
            raise SnapshotFormatError(f"{path}: built-in type {builtin!r} is missing")
    validate_snapshot(str(path), data)
    return data


@dataclass
class RawCapture:
    """Every answer the sweep got, before reduction.

    ``qom_list_properties``/``device_list_properties`` map a type name to either
    ``{"return": [...]}`` or ``{"error": {"class": ..., "desc": ...}}``.
    """

    version: dict[str, JSON] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    types: list[dict[str, JSON]] = field(default_factory=list)
    concrete: list[str] = field(default_factory=list)
    implements: dict[str, list[str]] = field(default_factory=dict)
    tree: dict[str, list[dict[str, JSON]]] = field(default_factory=dict)
    qom_list_properties: dict[str, dict[str, JSON]] = field(default_factory=dict)
    device_list_properties: dict[str, dict[str, JSON]] = field(default_factory=dict)
    #: one ``{"command", "typename", "detail"}`` per crash
    crashes: list[dict[str, str]] = field(default_factory=list)
    restarts: int = 0
    seconds: float = 0.0
