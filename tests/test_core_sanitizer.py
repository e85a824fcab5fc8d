"""The QOM core as a sanitizer: every entry point that touches a finalized object is a fatal at the
first touch, reported like AddressSanitizer's heap-use-after-free (the operation, the object's type
and serial, where it was finalized), and recorded in the universe; instance_finalize may touch what
QEMU's ``qom/object.c:object_finalize`` order leaves (the object and its class, not the instance
property table that ``object_property_del_all`` freed)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

import qom
from qom import (
    EventKind,
    Object,
    ObjectPropertyLinkFlags,
    ObjectState,
    QOMEvent,
    QOMFatal,
    TypeInfo,
    Universe,
    object_get_root,
    object_new,
    object_unref,
    type_register_static,
)

_FINALIZED_AT: list[int] = []


def make_zombie() -> Object:
    """Create a ``t-zombie`` and drop its only reference (the report names this function)."""
    obj = object_new("t-zombie")
    _FINALIZED_AT[:] = [sys._getframe().f_lineno + 1]
    object_unref(obj)
    return obj


def _allow(o: Object, name: str, target: Object | None) -> None:
    return None


# (entry point named in the report, call on zombie z and a live object h)
ENTRY_POINTS: list[tuple[str, Callable[[Object, Object], object]]] = [
    ("object_ref", lambda z, h: qom.object_ref(z)),
    ("object_unref", lambda z, h: qom.object_unref(z)),
    ("object_dynamic_cast", lambda z, h: qom.object_dynamic_cast(z, "object")),
    ("object_dynamic_cast_assert", lambda z, h: qom.object_dynamic_cast_assert(z, "object")),
    ("object_get_typename", lambda z, h: qom.object_get_typename(z)),
    ("object_get_class", lambda z, h: qom.object_get_class(z)),
    ("object_property_try_add", lambda z, h: qom.object_property_try_add(z, "p", "int", None, None)),
    ("object_property_try_add", lambda z, h: qom.object_property_add(z, "p", "int", None, None)),
    ("object_property_try_add", lambda z, h: qom.object_property_add_bool(z, "b", lambda o: True, None)),
    ("object_property_del", lambda z, h: qom.object_property_del(z, "p")),
    ("object_property_find", lambda z, h: qom.object_property_find(z, "type")),
    ("object_property_find", lambda z, h: qom.object_property_find_err(z, "type")),
    ("object_property_iter", lambda z, h: list(qom.object_property_iter(z))),
    ("object_property_get", lambda z, h: qom.object_property_get(z, "type")),
    ("object_property_get", lambda z, h: qom.object_property_get_str(z, "type")),
    ("object_property_set", lambda z, h: qom.object_property_set(z, "flag", True)),
    ("object_property_set", lambda z, h: qom.object_property_set_bool(z, "flag", True)),
    ("object_property_parse", lambda z, h: qom.object_property_parse(z, "flag", "on")),
    ("object_property_print", lambda z, h: qom.object_property_print(z, "type")),
    ("object_property_set_description", lambda z, h: qom.object_property_set_description(z, "type", "d")),
    ("object_property_try_add_child", lambda z, h: qom.object_property_add_child(object_get_root(), "zz", z)),
    ("object_property_try_add_child", lambda z, h: qom.object_property_try_add_child(z, "kid", h)),
    ("object_property_try_add", lambda z, h: qom.object_property_add_link(
        z, "l", "object", "lnk", _allow, ObjectPropertyLinkFlags.STRONG)),
    ("object_property_add_const_link", lambda z, h: qom.object_property_add_const_link(h, "c", z)),
    ("object_property_add_alias", lambda z, h: qom.object_property_add_alias(h, "a", z, "type")),
    ("object_property_set_link", lambda z, h: qom.object_property_set_link(h, "lnk", z)),
    ("object_unparent", lambda z, h: qom.object_unparent(z)),
    ("object_get_canonical_path", lambda z, h: qom.object_get_canonical_path(z)),
    ("object_get_canonical_path_component", lambda z, h: qom.object_get_canonical_path_component(z)),
    ("object_resolve_path_component", lambda z, h: qom.object_resolve_path_component(z, "x")),
    ("object_resolve_path_at", lambda z, h: qom.object_resolve_path_at(z, "x")),
    ("object_child_foreach", lambda z, h: qom.object_child_foreach(z, lambda o: 0)),
    ("object_child_foreach_recursive", lambda z, h: qom.object_child_foreach_recursive(z, lambda o: 0)),
]


def _register() -> None:
    def class_init(k: qom.ObjectClass, _d: Any) -> None:
        qom.object_class_property_add_bool(k, "flag", lambda o: True, lambda o, v: None)

    type_register_static(TypeInfo(name="t-zombie", parent="object", class_init=class_init))


@pytest.mark.parametrize(
    ("op", "call"), ENTRY_POINTS, ids=[f"{i}-{op}" for i, (op, _) in enumerate(ENTRY_POINTS)]
)
def test_every_entry_point_reports_a_finalized_object(
    universe: Universe, op: str, call: Callable[[Object, Object], object]
) -> None:
    _register()
    holder = object_new("t-zombie")
    qom.object_property_add_link(holder, "lnk", "object", "lnk", _allow, ObjectPropertyLinkFlags.NONE)
    setattr(holder, "lnk", None)  # noqa: B010 -- a plain Object subclass field
    zombie = make_zombie()
    events: list[QOMEvent] = []
    universe.subscribe(events.append)
    before = universe.snapshot()
    with pytest.raises(QOMFatal) as exc:
        call(zombie, holder)
    assert exc.value.message == (
        f"heap-use-after-free: {op}() on object 't-zombie' #{zombie.serial}, finalized by "
        f"object_unref() from make_zombie (test_core_sanitizer.py:{_FINALIZED_AT[0]})"
    )
    assert universe.snapshot() == before  # caught at the first touch: nothing changed
    assert [(r.op, r.typename, r.serial, r.state) for r in universe.sanitizer] == [
        (op, "t-zombie", zombie.serial, ObjectState.FINALIZED)
    ]
    assert [(e.kind, e.obj, e.name) for e in events] == [(EventKind.USE_AFTER_FINALIZE, zombie, op)]
    assert zombie.ref == 0 and zombie.state is ObjectState.FINALIZED
    object_unref(holder)


def test_second_unref_no_longer_finalizes_twice(universe: Universe) -> None:
    log: list[str] = []
    type_register_static(
        TypeInfo(name="t-once", parent="object", instance_finalize=lambda o: log.append("fin"))
    )
    obj = object_new("t-once")
    object_unref(obj)
    with pytest.raises(QOMFatal, match=r"^heap-use-after-free: object_unref\(\) on object 't-once'"):
        object_unref(obj)
    assert log == ["fin"]


def test_report_names_the_public_caller(universe: Universe) -> None:
    """Finalized through object_unparent, the report names object_unparent, not its helpers."""
    child = object_new("container")
    qom.object_property_add_child(object_get_root(), "c", child)
    object_unref(child)
    qom.object_unparent(child)
    with pytest.raises(QOMFatal) as exc:
        qom.object_ref(child)
    assert exc.value.message.startswith(
        f"heap-use-after-free: object_ref() on object 'container' #{child.serial}, finalized by "
        "object_unref() from object_unparent (tree.py:"
    )
    assert universe.sanitizer[0].finalized_by.startswith("object_unparent (tree.py:")


# -- what instance_finalize may touch (qom/object.c:object_finalize at v10.0.0) --------------------


def finalize_probe(universe: Universe, body: Callable[[Object], object]) -> list[str]:
    out: list[str] = []

    def fin(o: Object) -> None:
        out.append(o.state.value)
        try:
            body(o)
            out.append("ok")
        except QOMFatal as exc:
            out.append(exc.message)

    def class_init(k: qom.ObjectClass, _d: Any) -> None:
        qom.object_class_property_add_bool(k, "flag", lambda o: True, lambda o, v: None)

    type_register_static(
        TypeInfo(name="t-fin", parent="object", class_init=class_init, instance_finalize=fin)
    )
    obj = object_new("t-fin")
    line = sys._getframe().f_lineno + 1
    object_unref(obj)
    return [m.replace(f"(test_core_sanitizer.py:{line})", "(HERE)") for m in out]


def test_instance_finalize_may_use_the_object_and_its_class(universe: Universe) -> None:
    got = finalize_probe(universe, lambda o: (
        qom.object_get_typename(o), qom.object_property_get(o, "flag"), qom.object_dynamic_cast(o, "object"),
        qom.object_get_canonical_path(o), qom.object_property_find(o, "flag")))
    assert got == ["deinit", "ok"]
    assert universe.sanitizer == []


@pytest.mark.parametrize(("op", "body"), [
    ("object_property_try_add", lambda o: qom.object_property_add_bool(o, "late", lambda x: True, None)),
    ("object_property_find", lambda o: qom.object_property_find(o, "no-such")),
    ("object_property_find", lambda o: qom.object_property_get(o, "no-such")),
    ("object_property_iter", lambda o: list(qom.object_property_iter(o))),
    ("object_child_foreach", lambda o: qom.object_child_foreach(o, lambda c: 0)),
])
def test_instance_finalize_may_not_use_the_freed_property_table(
    universe: Universe, op: str, body: Callable[[Object], object]
) -> None:
    got = finalize_probe(universe, body)
    serial = universe.instances_created()
    assert got == ["deinit", (
        f"heap-use-after-free: {op}() on the property table of object 't-fin' #{serial}, freed by "
        "object_property_del_all() before instance_finalize (object_unref() from finalize_probe (HERE))"
    )]
    assert [(r.op, r.state) for r in universe.sanitizer] == [(op, ObjectState.DEINIT)]


def test_release_hooks_still_see_the_property_table(universe: Universe) -> None:
    """Property releases run in object_property_del_all, before the table is freed."""
    seen: list[object] = []
    type_register_static(TypeInfo(name="t-rel", parent="object"))
    obj = object_new("t-rel")
    qom.object_property_add(obj, "a", "int", None, None, lambda o, n, op: seen.append(
        (o.state.value, qom.object_property_find(o, "b") is not None)))
    qom.object_property_add(obj, "b", "int", None, None)
    object_unref(obj)
    assert seen == [("finalizing", True)]
    assert universe.sanitizer == []


def test_realizing_a_finalized_device(universe: Universe) -> None:
    type_register_static(TypeInfo(name="t-zdev", parent=qom.TYPE_DEVICE))
    dev = qom.qdev_new("t-zdev")
    object_unref(dev)
    with pytest.raises(QOMFatal, match=r"^heap-use-after-free: object_property_set\(\) on object 't-zdev' "):
        qom.qdev_realize(dev, None)


# -- where an object was finalized is recorded whenever it can still be reached -------------------


class _Box:
    """A plain Python object holding a QOM object in an attribute."""

    def __init__(self, obj: Object) -> None:
        self.obj = obj


# (how the finalized object stays reachable; make it, drop its last reference, return what reaches it
# and the line of the finalizing call; the keepers' names are public: the report names them)
def keep_in_local() -> tuple[Callable[[], Object], int]:
    obj = object_new("t-kept")
    line = sys._getframe().f_lineno + 1
    object_unref(obj)
    return (lambda: obj), line


def keep_in_list() -> tuple[Callable[[], Object], int]:
    box = [object_new("t-kept")]
    line = sys._getframe().f_lineno + 1
    object_unref(box[0])
    return (lambda: box[0]), line


def keep_in_attribute() -> tuple[Callable[[], Object], int]:
    box = _Box(object_new("t-kept"))
    line = sys._getframe().f_lineno + 1
    object_unref(box.obj)
    return (lambda: box.obj), line


def keep_in_dict() -> tuple[Callable[[], Object], int]:
    box = {"o": object_new("t-kept")}
    line = sys._getframe().f_lineno + 1
    object_unref(box["o"])
    return (lambda: box["o"]), line


def keep_and_unref_from_c() -> tuple[Callable[[], Object], int]:
    box = [object_new("t-kept")]
    line = sys._getframe().f_lineno + 1
    list(map(object_unref, box))
    return (lambda: box[0]), line


KEEPERS: list[Callable[[], tuple[Callable[[], Object], int]]] = [
    keep_in_local, keep_in_list, keep_in_attribute, keep_in_dict, keep_and_unref_from_c,
]


def _finalized_by_of_kept(universe: Universe, keeper: Callable[[], tuple[Callable[[], Object], int]]) -> str:
    kept, line = keeper()
    with pytest.raises(QOMFatal) as exc:
        qom.object_ref(kept())
    assert exc.value.message.startswith("heap-use-after-free: object_ref() on object 't-kept' #")
    return universe.sanitizer[-1].finalized_by.replace(f":{line})", ":LINE)")


@pytest.mark.parametrize("keeper", KEEPERS, ids=[k.__name__ for k in KEEPERS])
def test_report_names_where_a_still_reachable_object_was_finalized(
    universe: Universe, keeper: Callable[[], tuple[Callable[[], Object], int]]
) -> None:
    """object_unref skips the record only for an object nothing else can reach (freed on return)."""
    type_register_static(TypeInfo(name="t-kept", parent="object"))
    # (map, a C caller, is no Python frame: the report names the function that called it)
    assert _finalized_by_of_kept(universe, keeper) == f"{keeper.__name__} (test_core_sanitizer.py:LINE)"


def test_the_reachability_table_catches_a_core_that_trusts_one_reference_too_many(
    universe: Universe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a threshold one too high, an object kept in a variable or a container loses its finalize
    location (only map's own reference saves the last one)."""
    import qom.object as core

    type_register_static(TypeInfo(name="t-kept", parent="object"))
    monkeypatch.setattr(core, "_SOLE_OWNER_REFS", core._SOLE_OWNER_REFS + 1)
    lost = [k.__name__ for k in KEEPERS if _finalized_by_of_kept(universe, k) == "?"]
    assert lost == ["keep_in_local", "keep_in_list", "keep_in_attribute", "keep_in_dict"]


def test_an_object_finalized_as_a_temporary_is_freed_at_once(universe: Universe) -> None:
    """Nothing (no record, no frame) keeps an object alive once its last reference is dropped."""
    import weakref

    refs: list[weakref.ref[Object]] = []
    type_register_static(
        TypeInfo(name="t-temp", parent="object", instance_init=lambda o: refs.append(weakref.ref(o)))
    )
    object_unref(object_new("t-temp"))
    kept = object_new("t-temp")
    object_unref(kept)
    del kept
    assert [r() for r in refs] == [None, None]
    assert universe.live_instances("t-temp") == 0
