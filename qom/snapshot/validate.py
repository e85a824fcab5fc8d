"""Checks a decoded snapshot completely before anything of it is registered.

A crafted or damaged snapshot must give one clean :class:`SnapshotFormatError` naming the offending entry,
never a hang, a traceback or a universe that later aborts a command (issue 16).  What is checked, in time
linear in the size of the file:

* the shape of every field (``docs/snapshot-format.md``): objects, lists, strings, booleans where they
  belong; ``"interfaces": "user-creatable"`` (a string, not a list) is refused rather than read letter by
  letter;
* the type graph: every ``parent`` and every interface exists; ``object`` and ``interface`` are the only
  roots; no type is its own ancestor (a self-parent, a 2-cycle, ``interface`` as its own parent); an
  interface named by ``interfaces`` descends from ``interface``; an interface type is abstract, with no
  interfaces and no instance properties (``qom/object.c:type_initialize`` asserts so);
* creation: the ``child<T>`` instance properties a type's objects create (its own and its ancestors') never
  lead back to the type (that would recurse forever), and the captured tree creates at most
  :data:`MAX_OBJECTS` objects and instance properties (a DAG of children can grow exponentially);
* sizes: at most :data:`MAX_TYPES` types declaring at most :data:`MAX_PROPERTIES` properties, class
  property tables of at most :data:`MAX_CLASS_PROPERTIES` entries in all (a class holds its own and its
  ancestors' class properties: a long chain of types with properties grows quadratically), and
  ``default-value`` nested at most :data:`MAX_VALUE_DEPTH` deep (the file's own nesting is bounded by the
  JSON reader, which refuses a too-deep file).

The limits keep a served universe small and quick (issue 26, item 6): the first ``qom-list-types``
initializes every class, and the server answers nobody while it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_CLASS_PROPERTIES", "MAX_OBJECTS", "MAX_PROPERTIES", "MAX_TYPES", "MAX_VALUE_DEPTH",
           "SnapshotFormatError", "validate_snapshot"]

#: the most types a snapshot may declare (QEMU 10.0.2 has 843)
MAX_TYPES = 5_000
#: the most properties the types may declare in all (QEMU 10.0.2: 3,266)
MAX_PROPERTIES = 10_000
#: the most entries all class property tables may hold, inherited ones included (QEMU 10.0.2: 86,603)
MAX_CLASS_PROPERTIES = 200_000
#: the most objects and instance properties the captured tree may create when it is rebuilt (QEMU 10.0.2: 19)
MAX_OBJECTS = 100_000
#: how deep a property's ``default-value`` may nest
MAX_VALUE_DEPTH = 64

_ROOTS = ("object", "interface")


class SnapshotFormatError(ValueError):
    """The file is not a snapshot this qomsim can read (the message names the offending entry)."""


def _child_of(ptype: str) -> str | None:
    return ptype[len("child<"):-1] if ptype.startswith("child<") and ptype.endswith(">") else None


def _depth_ok(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def _check_fields(where: str, data: Mapping[str, Any]) -> None:
    qemu = data.get("qemu", {})
    if not isinstance(qemu, dict):
        raise SnapshotFormatError(f"{where}: 'qemu' must be an object")
    if not isinstance(qemu.get("version", {}), dict):
        raise SnapshotFormatError(f"{where}: 'qemu.version' must be an object")
    argv = qemu.get("argv", [])
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise SnapshotFormatError(f"{where}: 'qemu.argv' must be a list of strings")
    for key, kind in (("errors", dict), ("crashes", list), ("unmodelled", list)):
        if not isinstance(data.get(key, kind()), kind):
            raise SnapshotFormatError(f"{where}: {key!r} must be {'an object' if kind is dict else 'a list'}")


def _check_type(where: str, name: str, t: Any) -> None:
    at = f"{where}: type {name!r}"
    if not isinstance(t, dict):
        raise SnapshotFormatError(f"{at} is malformed: not an object")
    if "parent" in t and not isinstance(t["parent"], str):
        raise SnapshotFormatError(f"{at}: 'parent' must be a string")
    if not isinstance(t.get("abstract", False), bool):
        raise SnapshotFormatError(f"{at}: 'abstract' must be true or false")
    for key in ("interfaces", "removes"):
        v = t.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SnapshotFormatError(f"{at}: {key!r} must be a list of strings")
    props = t.get("properties", [])
    if not isinstance(props, list):
        raise SnapshotFormatError(f"{at}: 'properties' must be a list")
    for p in props:
        named = isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("type"), str)
        if not named:
            raise SnapshotFormatError(f"{where}: a property of {name!r} is malformed")
        pat = f"{at}: property {p['name']!r}"
        if not isinstance(p.get("description", ""), str):
            raise SnapshotFormatError(f"{pat}: 'description' must be a string")
        if not isinstance(p.get("instance", False), bool):
            raise SnapshotFormatError(f"{pat}: 'instance' must be true or false")
        if "default-value" in p and not _depth_ok(p["default-value"], MAX_VALUE_DEPTH):
            raise SnapshotFormatError(f"{pat}: 'default-value' is nested deeper than {MAX_VALUE_DEPTH}")


def _check_parents(where: str, types: Mapping[str, Mapping[str, Any]]) -> None:
    for root in _ROOTS:
        if "parent" in types[root]:
            raise SnapshotFormatError(f"{where}: type {root!r} must have no parent")
    for name, t in types.items():
        parent = t.get("parent")
        if parent is None and name not in _ROOTS:
            raise SnapshotFormatError(f"{where}: type {name!r} has no parent")
        if parent is not None and parent not in types:
            raise SnapshotFormatError(f"{where}: type {name!r}: parent {parent!r} does not exist")
    # no cycle: walk each chain once; a type is 'done' when its chain reached a root
    done: set[str] = set(_ROOTS)
    for name in types:
        path: list[str] = []
        on_path: set[str] = set()
        cur: str = name
        while cur not in done:
            if cur in on_path:
                raise SnapshotFormatError(f"{where}: type {cur!r} is its own ancestor (a cycle of parents)")
            path.append(cur)
            on_path.add(cur)
            cur = types[cur]["parent"]
        done.update(path)


def _interface_types(types: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Every type that descends from ``interface`` (parents are known acyclic here)."""
    result: dict[str, bool] = {"interface": True, "object": False}
    for name in types:
        path: list[str] = []
        cur = name
        while cur not in result:
            path.append(cur)
            cur = types[cur]["parent"]
        for p in path:
            result[p] = result[cur]
    return {n for n, yes in result.items() if yes}


def _check_class_tables(where: str, types: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse class property tables of more than :data:`MAX_CLASS_PROPERTIES` entries in all (parents are
    known acyclic here)."""
    inherited: dict[str, int] = {}
    total = 0
    for name in types:
        path: list[str] = []
        cur: str | None = name
        while cur is not None and cur not in inherited:
            path.append(cur)
            cur = types[cur].get("parent")
        count = 0 if cur is None else inherited[cur]
        for node in reversed(path):
            count += sum(1 for p in types[node].get("properties", []) if not p.get("instance"))
            inherited[node] = count
            total += count
    if total > MAX_CLASS_PROPERTIES:
        raise SnapshotFormatError(f"{where}: the class property tables would hold {total} entries in all "
                                  f"(inherited ones included), more than {MAX_CLASS_PROPERTIES}")


def _check_creation(where: str, types: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Refuse a ``child<>`` cycle; return how many objects and instance properties creating each type makes
    (capped)."""
    own_children: dict[str, list[str]] = {}
    own_props: dict[str, int] = {}
    for name, t in types.items():
        kids = []
        plain = 0
        for p in t.get("properties", []):
            child = _child_of(p["type"]) if p.get("instance") else None
            if child is not None and child in types and not types[child].get("abstract", False):
                kids.append(child)
            elif p.get("instance"):
                plain += 1
        own_children[name] = kids
        own_props[name] = plain
    # the graph: T -> parent(T) (its creation runs the parent's instance_init), T -> X (a child<X> it adds)
    size: dict[str, int] = {}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in types:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            node, i = stack.pop()
            t = types[node]
            succ = own_children[node] + ([t["parent"]] if "parent" in t else [])
            if i < len(succ):
                stack.append((node, i + 1))
                nxt = succ[i]
                if state.get(nxt) == 1:
                    raise SnapshotFormatError(
                        f"{where}: type {nxt!r}: creating it leads back to itself through {node!r} "
                        "(a cycle of child<> properties)")
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                continue
            state[node] = 2
            inherited = size[t["parent"]] - 1 if "parent" in t else 0
            made = 1 + inherited + own_props[node] + sum(size[k] for k in own_children[node])
            size[node] = min(MAX_OBJECTS + 1, made)
    return size


def _check_tree(
    where: str, tree: Mapping[str, Any], types: Mapping[str, Any], size: Mapping[str, int]
) -> None:
    total = 0
    for path, props in tree.items():
        if not path.startswith("/"):
            raise SnapshotFormatError(f"{where}: tree path {path!r} is not absolute")
        ok = isinstance(props, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in props)
        if not ok:
            raise SnapshotFormatError(f"{where}: tree entry {path!r} must be a list of [name, type] pairs")
        for _, ptype in props:
            child = _child_of(ptype)
            if child is not None and child in types:
                total += size[child]
                if total > MAX_OBJECTS:
                    raise SnapshotFormatError(
                        f"{where}: tree entry {path!r}: rebuilding the tree would create more than "
                        f"{MAX_OBJECTS} objects and instance properties")


def validate_snapshot(where: str, data: Mapping[str, Any]) -> None:
    """Check a decoded snapshot (the format and version are already checked).

    :param where: the file's name, for messages.
    :param data: the decoded snapshot.
    :raise SnapshotFormatError: naming the first offending entry.
    """
    _check_fields(where, data)
    types = data["types"]
    if len(types) > MAX_TYPES:
        raise SnapshotFormatError(f"{where}: {len(types)} types, more than {MAX_TYPES}")
    for name, t in types.items():
        _check_type(where, name, t)
    declared = sum(len(t.get("properties", [])) for t in types.values())
    if declared > MAX_PROPERTIES:
        raise SnapshotFormatError(f"{where}: the types declare {declared} properties, more than "
                                  f"{MAX_PROPERTIES}")
    _check_parents(where, types)
    _check_class_tables(where, types)
    interfaces = _interface_types(types)
    for name in interfaces:
        # qom/object.c:type_initialize asserts an interface type has no instance data and no interfaces
        t = types[name]
        if not t.get("abstract", False):
            raise SnapshotFormatError(f"{where}: interface type {name!r} must be abstract")
        if t.get("interfaces") or t.get("removes") or any(p.get("instance") for p in t.get("properties", [])):
            raise SnapshotFormatError(
                f"{where}: interface type {name!r} may have no interfaces and no instance properties")
    for name, t in types.items():
        for iface in t.get("interfaces", []):
            if iface not in types:
                raise SnapshotFormatError(f"{where}: type {name!r}: interface {iface!r} does not exist")
            if iface not in interfaces:
                raise SnapshotFormatError(f"{where}: type {name!r}: {iface!r} is not an interface type")
    size = _check_creation(where, types)
    _check_tree(where, data["tree"], types, size)
