"""user-creatable, object-add/object-del, singleton and internal interfaces."""

from __future__ import annotations

from typing import Any

import pytest
from typeguard import TypeCheckError

from qom import (
    TYPE_INTERNAL,
    TYPE_SINGLETON,
    TYPE_USER_CREATABLE,
    GenericError,
    Object,
    ObjectClass,
    QOMFatal,
    SingletonClass,
    SingletonPolicy,
    TypeInfo,
    Universe,
    UserCreatableClass,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_is_internal,
    object_class_is_singleton,
    object_get_canonical_path,
    object_new,
    object_property_add_bool,
    object_property_get,
    object_resolve_path,
    object_unref,
    singleton_get_instance,
    type_register_static,
    user_creatable_add_type,
    user_creatable_del,
)

BAD_ARG = (TypeError, TypeCheckError)


class Backend(Object):
    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.in_use = False


def _backend(o: Object) -> Backend:
    assert isinstance(o, Backend)
    return o


def _set_size(o: Object, v: bool) -> None:
    _backend(o).size = int(v)


def _init(o: Object) -> None:
    object_property_add_bool(o, "size", lambda obj: bool(_backend(obj).size), _set_size)


def _class_init(k: ObjectClass, d: Any) -> None:
    ucc = object_class_dynamic_cast(k, TYPE_USER_CREATABLE)
    assert isinstance(ucc, UserCreatableClass)

    def complete(o: Object) -> None:
        if not _backend(o).size:
            raise GenericError("can't create backend with size 0")

    ucc.complete = complete
    ucc.can_be_deleted = lambda o: not _backend(o).in_use


@pytest.fixture
def backend(universe: Universe) -> str:
    type_register_static(
        TypeInfo(
            name="test-backend",
            parent="object",
            instance_init=_init,
            class_init=_class_init,
            interfaces=[TYPE_USER_CREATABLE],
            instance_type=Backend,
        )
    )
    type_register_static(
        TypeInfo(name="abstract-backend", parent="object", abstract=True, interfaces=[TYPE_USER_CREATABLE])
    )
    return "test-backend"


def test_object_add_del_cycle(backend: str, universe: Universe) -> None:
    """The shape of qmp-cmd-test's object-add-failure-modes, at the core level."""
    start = universe.snapshot()

    def fails(fn: Any, *args: Any) -> str:
        before = universe.snapshot()
        with pytest.raises(GenericError) as exc:
            fn(*args)
        after = universe.snapshot()
        assert (after.tree, after.live, after.refcounts) == (before.tree, before.live, before.refcounts)
        return exc.value.desc

    assert fails(user_creatable_add_type, backend, "ram1", {}) == "can't create backend with size 0"
    assert fails(user_creatable_del, "ram1") == "object 'ram1' not found"
    obj = user_creatable_add_type(backend, "ram1", {"size": True})
    assert obj.ref == 2 and object_get_canonical_path(obj) == "/objects/ram1"
    object_unref(obj)  # the QMP layer's unref
    dup = fails(user_creatable_add_type, backend, "ram1", {"size": True})
    assert dup == "attempt to add duplicate property 'ram1' to object (type 'container')"
    assert fails(user_creatable_add_type, backend, "ram2", {"size": "big"}) == (
        "Invalid parameter type for 'size', expected: boolean"
    )
    assert (
        fails(user_creatable_add_type, backend, "ram2", {"sized": True})
        == "Property 'test-backend.sized' not found"
    )
    user_creatable_del("ram1")
    assert obj.state.name == "FINALIZED"
    assert fails(user_creatable_del, "ram1") == "object 'ram1' not found"
    end = universe.snapshot()
    assert (end.tree, end.live) == (start.tree, start.live)


def test_object_add_check_order(backend: str) -> None:
    def err(typename: str, id: str | None) -> str:
        with pytest.raises(GenericError) as exc:
            user_creatable_add_type(typename, id, {})
        return exc.value.desc

    assert err("no-such-type", "1bad") == "Parameter 'id' expects an identifier"
    assert err("no-such-type", "ok") == "invalid object type: no-such-type"
    assert err("container", "ok") == "object type 'container' isn't supported by object-add"
    assert err("abstract-backend", "ok") == "object type 'abstract-backend' is abstract"
    assert err("user-creatable", "ok") == "object type 'user-creatable' is abstract"


def test_object_del_in_use(backend: str) -> None:
    obj = user_creatable_add_type(backend, "b", {"size": True})
    object_unref(obj)
    _backend(obj).in_use = True
    with pytest.raises(GenericError) as exc:
        user_creatable_del("b")
    assert exc.value.desc == "object 'b' is in use, can not be deleted"
    _backend(obj).in_use = False
    user_creatable_del("b")
    assert object_resolve_path("/objects/b") is None


def test_object_add_bad_arguments(backend: str, universe: Universe) -> None:
    before = universe.snapshot()
    with pytest.raises(BAD_ARG):
        user_creatable_add_type(backend, "x", {"size": object()})  # type: ignore[dict-item]
    with pytest.raises(BAD_ARG):
        user_creatable_add_type(backend, 5, {})  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        user_creatable_del(None)  # type: ignore[arg-type]
    assert universe.snapshot() == before


# -- singleton / internal ---------------------------------------------------------------------------


def _register_singleton(universe: Universe) -> None:
    type_register_static(TypeInfo(name="the-one", parent="object", interfaces=[TYPE_SINGLETON]))
    type_register_static(TypeInfo(name="hidden", parent="object", interfaces=[TYPE_INTERNAL]))


@pytest.mark.parametrize("policy", list(SingletonPolicy))
def test_singleton_second_creation(universe: Universe, policy: SingletonPolicy) -> None:
    _register_singleton(universe)
    universe.singleton_policy = policy
    klass = object_class_by_name("the-one")
    assert klass is not None and object_class_is_singleton(klass) and not object_class_is_internal(klass)
    assert isinstance(object_class_dynamic_cast(klass, TYPE_SINGLETON), SingletonClass)
    assert singleton_get_instance(klass) is None
    first = object_new("the-one")
    got = singleton_get_instance(klass)
    assert got is first and first.ref == 2  # a new reference
    object_unref(first)
    created = universe.instances_created("the-one")
    if policy is SingletonPolicy.RETURN_EXISTING:
        again = object_new("the-one")
        assert again is first and first.ref == 2
        object_unref(again)
    elif policy is SingletonPolicy.QMP_ERROR:
        with pytest.raises(GenericError) as exc:
            object_new("the-one")
        assert exc.value.desc == "Object type 'the-one' conflicts with an existing singleton instance"
    else:
        with pytest.raises(QOMFatal) as fexc:
            object_new("the-one")
        assert fexc.value.message == "assertion failed: (!singleton_get_instance(type->class))"
    assert universe.instances_created("the-one") == created
    assert universe.live_instances("the-one") == 1
    object_unref(first)
    assert singleton_get_instance(klass) is None
    second = object_new("the-one")  # allowed again once the first is gone
    assert second is not first
    object_unref(second)


def test_singleton_custom_get_instance(universe: Universe) -> None:
    slot: dict[str, Object] = {}

    def class_init(k: ObjectClass, d: Any) -> None:
        sc = object_class_dynamic_cast(k, TYPE_SINGLETON)
        assert isinstance(sc, SingletonClass)
        sc.get_instance = lambda klass: slot.get("current")

    type_register_static(
        TypeInfo(name="custom-one", parent="object", class_init=class_init, interfaces=[TYPE_SINGLETON])
    )
    klass = object_class_by_name("custom-one")
    assert klass is not None
    obj = object_new("custom-one")
    assert singleton_get_instance(klass) is None  # the hook decides what it reports
    slot["current"] = obj
    assert singleton_get_instance(klass) is obj
    with pytest.raises(GenericError):
        object_new("custom-one")  # the core enforces uniqueness regardless of the hook
    object_unref(obj)


def test_internal(universe: Universe) -> None:
    _register_singleton(universe)
    klass = object_class_by_name("hidden")
    assert klass is not None and object_class_is_internal(klass)
    assert not object_class_is_singleton(klass)
    obj = object_new("hidden")  # internal creation still works
    assert object_property_get(obj, "type") == "hidden"
    object_unref(obj)
