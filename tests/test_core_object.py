"""Object construction, refcounts, finalize order, events, counters (spec §3.1-§3.3, §8)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from typeguard import TypeCheckError

from qom import (
    EventKind,
    GenericError,
    Object,
    ObjectClass,
    ObjectProperty,
    ObjectState,
    QOMEvent,
    QOMFatal,
    TypeInfo,
    Universe,
    current_universe,
    object_class_property_add_bool,
    object_dynamic_cast,
    object_dynamic_cast_assert,
    object_get_class,
    object_get_typename,
    object_new,
    object_property_add,
    object_property_add_bool,
    object_property_add_child,
    object_property_del,
    object_property_get,
    object_property_set_default_bool,
    object_ref,
    object_unref,
    type_register_static,
    use_universe,
)

BAD_ARG = (TypeError, TypeCheckError)


class Rec(Object):
    def __init__(self) -> None:
        super().__init__()
        self.flag = False
        self.log: list[str] = []


def _hierarchy(log: list[str]) -> None:
    def hook(kind: str, name: str) -> Any:
        return lambda o: log.append(f"{kind}:{name}")

    def a_class_init(k: ObjectClass, d: Any) -> None:
        def set_flag(o: Object, v: bool) -> None:
            log.append(f"default:a={v}")

        prop = object_class_property_add_bool(k, "flag-a", lambda o: True, set_flag)
        object_property_set_default_bool(prop, True)

    def c_class_init(k: ObjectClass, d: Any) -> None:
        def set_flag(o: Object, v: bool) -> None:
            log.append(f"default:c={v}")

        prop = object_class_property_add_bool(k, "flag-c", lambda o: False, set_flag)
        object_property_set_default_bool(prop, False)

    for name, parent, ci in (
        ("o-a", "object", a_class_init),
        ("o-b", "o-a", None),
        ("o-c", "o-b", c_class_init),
    ):
        type_register_static(
            TypeInfo(
                name=name,
                parent=parent,
                class_init=ci,
                instance_init=hook("init", name),
                instance_post_init=hook("post", name),
                instance_finalize=hook("fin", name),
                instance_type=Rec if name == "o-a" else None,
            )
        )


def test_construction_and_finalize_order(universe: Universe) -> None:
    log: list[str] = []
    _hierarchy(log)
    obj = object_new("o-c")
    assert isinstance(obj, Rec)
    assert log == [
        "default:c=False",  # class-property defaults, leaf first, before any instance_init
        "default:a=True",
        "init:o-a",
        "init:o-b",
        "init:o-c",
        "post:o-a",  # root -> leaf since QEMU commit 220c739903
        "post:o-b",
        "post:o-c",
    ]
    assert obj.ref == 1 and obj.state is ObjectState.LIVE and obj.universe is universe
    assert object_get_typename(obj) == "o-c"
    assert object_get_class(obj).type.name == "o-c"
    log.clear()
    assert object_ref(obj) is obj and obj.ref == 2
    object_unref(obj)
    assert log == [] and obj.ref == 1
    object_unref(obj)
    assert log == ["fin:o-c", "fin:o-b", "fin:o-a"]
    assert obj.state.name == "FINALIZED" and obj.ref == 0


def test_unref_at_zero_is_fatal(universe: Universe) -> None:
    obj = object_new("container")
    line = sys._getframe().f_lineno + 1
    object_unref(obj)
    with pytest.raises(QOMFatal) as exc:
        object_unref(obj)
    # a second unref of a freed object is a use after finalize (the sanitizer's report)
    assert exc.value.message == (
        f"heap-use-after-free: object_unref() on object 'container' #{obj.serial}, finalized by "
        f"object_unref() from test_unref_at_zero_is_fatal (test_core_object.py:{line})"
    )


def test_none_is_ignored(universe: Universe) -> None:
    object_unref(None)
    assert object_dynamic_cast(None, "object") is None


def test_counters(universe: Universe) -> None:
    total = universe.instances_created()
    live = universe.live_instances()
    a = object_new("container")
    b = object_new("container")
    assert universe.instances_created("container") >= 2
    assert universe.instances_created() == total + 2
    assert universe.live_instances() == live + 2
    object_unref(a)
    object_unref(b)
    assert universe.live_instances() == live
    assert universe.instances_created() == total + 2


def test_release_each_property_once_with_restart(universe: Universe) -> None:
    """Like check-qom-proplist's delchild: a release may delete other properties."""
    released: list[str] = []
    obj = object_new("container")

    def rel(name: str, also_delete: str | None = None) -> Any:
        def release(o: Object, n: str, opaque: Any) -> None:
            released.append(n)
            if also_delete and also_delete in o.properties:
                object_property_del(o, also_delete)

        return release

    object_property_add(obj, "p1", "x", None, None, rel("p1", "p2"))
    object_property_add(obj, "p2", "x", None, None, rel("p2"))
    object_property_add(obj, "p3", "x", None, None, rel("p3"))
    object_unref(obj)
    # p1 deletes p2 (its release runs via object_property_del), and nothing runs twice
    assert sorted(released) == ["p1", "p2", "p3"]
    assert len(released) == 3


def test_release_adding_property_is_seen(universe: Universe) -> None:
    released: list[str] = []
    obj = object_new("container")

    def late_release(o: Object, n: str, opaque: Any) -> None:
        released.append(n)

    def release(o: Object, n: str, opaque: Any) -> None:
        released.append(n)
        object_property_add(o, "late", "x", None, None, late_release)

    object_property_add(obj, "first", "x", None, None, release)
    object_unref(obj)
    assert released == ["first", "late"]


def test_children_released_before_instance_finalize(universe: Universe) -> None:
    log: list[str] = []
    type_register_static(
        TypeInfo(name="logger", parent="container", instance_finalize=lambda o: log.append(f"fin {o.serial}"))
    )
    parent = object_new("logger")
    child = object_new("logger")
    object_property_add_child(parent, "kid", child)
    object_unref(child)
    assert child.ref == 1 and child.parent is parent
    object_unref(parent)
    assert log == [f"fin {child.serial}", f"fin {parent.serial}"]
    assert child.parent is None and child.state is ObjectState.FINALIZED


def test_dynamic_cast(universe: Universe) -> None:
    obj = object_new("container")
    assert object_dynamic_cast(obj, "object") is obj
    assert object_dynamic_cast(obj, "device") is None
    assert object_dynamic_cast_assert(obj, "container") is obj
    with pytest.raises(QOMFatal):
        object_dynamic_cast_assert(obj, "device")
    object_unref(obj)


def test_repr_is_one_line(universe: Universe) -> None:
    root_objects = object_dynamic_cast(universe.objects[5], "container")
    assert root_objects is not None
    text = repr(root_objects)
    assert "\n" not in text and text.startswith("<Object 'container' /") and "ref=1" in text
    detached = object_new("container")
    assert repr(detached) == "<Object 'container' ref=1>"
    object_unref(detached)
    assert repr(detached) == "<Object 'container' ref=0 finalized>"


def test_events(universe: Universe) -> None:
    events: list[QOMEvent] = []
    unsubscribe = universe.subscribe(events.append)
    parent = object_new("container")
    child = object_new("container")
    object_property_add_child(parent, "c", child)
    object_unref(child)
    object_property_add_bool(parent, "b", lambda o: True, None)
    object_property_del(parent, "b")
    object_unref(parent)
    kinds = [(e.kind, e.name) for e in events]
    assert kinds == [
        (EventKind.INSTANCE_CREATED, None),
        (EventKind.INSTANCE_CREATED, None),
        (EventKind.PROPERTY_ADDED, "c"),
        (EventKind.CHILD_ADDED, "c"),
        (EventKind.PROPERTY_ADDED, "b"),
        (EventKind.PROPERTY_REMOVED, "b"),
        (EventKind.CHILD_REMOVED, "c"),
        (EventKind.INSTANCE_FINALIZED, None),
        (EventKind.PROPERTY_REMOVED, "c"),
        (EventKind.INSTANCE_FINALIZED, None),
    ]
    assert events[-1].obj is parent and events[-2].obj is parent and events[-3].obj is child
    unsubscribe()
    object_unref(object_new("container"))
    assert len(events) == 10


def test_finalize_removes_instance_properties_with_events(universe: Universe) -> None:
    """Every PROPERTY_ADDED of an object is matched by a PROPERTY_REMOVED by its finalize."""
    events: list[QOMEvent] = []
    universe.subscribe(events.append)
    parent = object_new("container")
    for i in range(2):
        child = object_new("container")
        object_property_add_child(parent, f"c{i}", child)
        object_property_add_bool(child, "flag", lambda o: True, None)
        object_unref(child)
    object_property_add_bool(parent, "b", lambda o: True, None)
    object_unref(parent)
    added = sorted((id(e.obj), e.name) for e in events if e.kind is EventKind.PROPERTY_ADDED)
    removed = sorted((id(e.obj), e.name) for e in events if e.kind is EventKind.PROPERTY_REMOVED)
    assert len(added) == 5 and removed == added
    assert [e.name for e in events if e.kind is EventKind.PROPERTY_REMOVED and e.obj is parent] == [
        "c0",
        "c1",
        "b",
    ]


def test_an_object_gets_its_own_property_table_with_its_first_instance_property(universe: Universe) -> None:
    """Objects without instance properties share one empty, read-only table (object_new allocates
    none); the first instance property gives an object a table of its own."""
    a, b = object_new("container"), object_new("container")
    assert a.properties == {} and a.properties is b.properties
    refused = r"^an object's instance properties are added with object_property_add\(\)$"
    with pytest.raises(TypeError, match=refused):
        a.properties["p"] = ObjectProperty("p", "int", None, None)
    prop = ObjectProperty("p", "int", None, None)
    writes: list[Callable[[dict[str, ObjectProperty]], object]] = [
        lambda t: t.clear(), lambda t: t.pop("p"), lambda t: t.update({}), lambda t: t.setdefault("p", prop),
        lambda t: t.popitem(), lambda t: t.__delitem__("p"), lambda t: t.__ior__({}),
    ]
    for write in writes:
        with pytest.raises(TypeError, match=refused):
            write(a.properties)
    object_property_add_bool(a, "flag", lambda o: True, None)
    assert list(a.properties) == ["flag"] and b.properties == {} and a.properties is not b.properties
    object_property_del(a, "flag")
    assert a.properties == {} and object_get_typename(b) == "container"
    object_unref(a)
    object_unref(b)


def test_snapshot_detects_changes(universe: Universe) -> None:
    s1 = universe.snapshot()
    assert s1 == universe.snapshot()
    assert ("/objects", "container") in s1.tree
    assert ("/machine/unattached/sysbus", "System") in s1.tree
    obj = object_new("container")
    s2 = universe.snapshot()
    assert s2 != s1
    object_property_add_child(universe.root, "extra", obj)  # type: ignore[arg-type]
    object_unref(obj)
    s3 = universe.snapshot()
    assert ("/extra", "container") in s3.tree
    with pytest.raises(AttributeError):
        s3.created_total = 0  # type: ignore[misc]


def test_default_universe_and_switching() -> None:
    u1 = Universe(machine=None)
    u2 = Universe(builtins=False)
    assert u2.types == {}
    with use_universe(u1):
        assert current_universe() is u1
        with use_universe(u2):
            assert current_universe() is u2
        assert current_universe() is u1
        obj = object_new("container")
    # objects remember their universe
    assert obj.universe is u1
    object_unref(obj)
    assert ("/machine", "none-machine") not in u1.snapshot().tree
    assert isinstance(current_universe(), Universe)


def test_bad_arguments(universe: Universe) -> None:
    before = universe.snapshot()
    with pytest.raises(BAD_ARG):
        object_new(42)  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_ref("container")  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_unref(3)  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        use_universe("u")  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        Universe(singleton_policy="fatal")  # type: ignore[arg-type]
    assert universe.snapshot() == before


def test_property_errors_do_not_leak(universe: Universe) -> None:
    obj = object_new("container")
    with pytest.raises(GenericError) as exc:
        object_property_get(obj, "nope")
    assert exc.value.desc == "Property 'container.nope' not found"
    assert isinstance(obj.klass.properties, dict)
    assert all(isinstance(p, ObjectProperty) for p in obj.klass.class_property_chain())
    object_unref(obj)
