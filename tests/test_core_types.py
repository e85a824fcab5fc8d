"""Type registration, lazy class initialization, interface classes, casts (spec §1-§2)."""

from __future__ import annotations

from typing import Any

import pytest
from typeguard import TypeCheckError

from qom import (
    TYPE_INTERFACE,
    InterfaceClass,
    ObjectClass,
    QOMFatal,
    TypeInfo,
    Universe,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_dynamic_cast_assert,
    object_class_get_list,
    object_class_get_list_sorted,
    object_class_get_name,
    object_class_get_parent,
    object_class_is_abstract,
    object_new,
    type_register_static,
    type_register_static_array,
)


def test_builtin_types(universe: Universe) -> None:
    names = {object_class_get_name(k) for k in object_class_get_list(None, True)}
    assert {"object", "interface", "container", "user-creatable", "device", "bus", "machine"} <= names
    assert {"none-machine", "singleton", "internal"} <= names
    obj_class = object_class_by_name("object")
    assert obj_class is not None and object_class_is_abstract(obj_class)
    assert object_class_get_parent(obj_class) is None
    container = object_class_by_name("container")
    assert container is not None and not object_class_is_abstract(container)
    assert object_class_get_parent(container) is obj_class


@pytest.mark.parametrize("name", ["0abc", "-abc", "a b", "a+b", "x::y", "é1", "é"])
def test_illegal_names_are_fatal(universe: Universe, name: str) -> None:
    with pytest.raises(QOMFatal) as exc:
        type_register_static(TypeInfo(name=name, parent="object"))
    assert exc.value.message == f"Registering '{name}' with illegal type name"


def test_legal_names(universe: Universe) -> None:
    for name in ["ab", "1a", "A.b_c-d", "x86_64-cpu"]:
        type_register_static(TypeInfo(name=name, parent="object"))
        assert name in universe.types


def test_duplicate_is_fatal_with_backtick_quote(universe: Universe) -> None:
    type_register_static(TypeInfo(name="dup", parent="object"))
    with pytest.raises(QOMFatal) as exc:
        type_register_static(TypeInfo(name="dup", parent="object"))
    assert exc.value.message == "Registering `dup' which already exists"


def test_parent_is_mandatory(universe: Universe) -> None:
    with pytest.raises(QOMFatal):
        type_register_static(TypeInfo(name="orphan"))
    assert "orphan" not in universe.types


def test_missing_parent_detected_lazily(universe: Universe) -> None:
    type_register_static(TypeInfo(name="child-first", parent="parent-later"))
    with pytest.raises(QOMFatal) as exc:
        object_class_by_name("child-first")
    assert exc.value.message == "Type 'child-first' is missing its parent 'parent-later'"
    type_register_static(TypeInfo(name="parent-later", parent="object"))
    klass = object_class_by_name("child-first")
    assert klass is not None and klass.type.parent_name == "parent-later"


def test_missing_interface_names_the_parent(universe: Universe) -> None:
    type_register_static(TypeInfo(name="needs-iface", parent="container", interfaces=["no-such-iface"]))
    with pytest.raises(QOMFatal) as exc:
        object_class_by_name("needs-iface")
    assert exc.value.message == "missing interface 'no-such-iface' for object 'container'"


# typeguard (on in the test suite) may catch a bad argument before our own TypeError does
BAD_ARG = (TypeError, TypeCheckError)


def test_wrong_argument_types(universe: Universe) -> None:
    before = universe.snapshot()
    with pytest.raises(BAD_ARG):
        type_register_static({"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        type_register_static(TypeInfo(name=3, parent="object"))  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        type_register_static(TypeInfo(name="ok-name", parent="object", interfaces="abc"))
    with pytest.raises(BAD_ARG):
        object_class_by_name(None)  # type: ignore[arg-type]
    assert universe.snapshot() == before


def test_init_order(universe: Universe) -> None:
    log: list[str] = []

    def base_init(name: str) -> Any:
        return lambda k, d: log.append(f"base_init:{name} on {k.type.name}")

    def cls_init(name: str) -> Any:
        return lambda k, d: log.append(f"class_init:{name} data={d}")

    type_register_static_array(
        [
            TypeInfo(name="t-c", parent="t-b", class_init=cls_init("c"), class_base_init=base_init("c")),
            TypeInfo(
                name="t-b",
                parent="t-a",
                class_init=cls_init("b"),
                class_base_init=base_init("b"),
                class_data=2,
            ),
            TypeInfo(name="t-a", parent="object", class_init=cls_init("a"), class_base_init=base_init("a")),
        ]
    )
    assert log == []  # nothing happens at registration
    object_class_by_name("t-c")
    assert log == [
        "class_init:a data=None",
        "base_init:a on t-b",
        "class_init:b data=2",
        "base_init:b on t-c",
        "base_init:a on t-c",
        "class_init:c data=None",
    ]
    object_class_by_name("t-c")
    assert len(log) == 6  # at most once


class MyClass(ObjectClass):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.items: list[int] = []


def test_class_inherits_by_shallow_copy(universe: Universe) -> None:
    def a_init(k: ObjectClass, d: Any) -> None:
        assert isinstance(k, MyClass)
        k.value = 7
        k.items.append(1)

    type_register_static(TypeInfo(name="sc-a", parent="object", class_init=a_init, class_type=MyClass))
    type_register_static(TypeInfo(name="sc-b", parent="sc-a"))
    a = object_class_by_name("sc-a")
    b = object_class_by_name("sc-b")
    assert isinstance(a, MyClass) and isinstance(b, MyClass)
    assert b.value == 7
    assert b.items is a.items  # shallow: the same list, as a memcpy copies the pointer
    assert b.properties == {} and b.interfaces == []


def _ifaces(universe: Universe) -> None:
    type_register_static(TypeInfo(name="iface-a", parent=TYPE_INTERFACE))
    type_register_static(TypeInfo(name="iface-b", parent="iface-a"))
    type_register_static(TypeInfo(name="iface-c", parent=TYPE_INTERFACE))


def test_interface_classes_are_hidden_per_type(universe: Universe) -> None:
    _ifaces(universe)
    type_register_static(TypeInfo(name="impl", parent="object", instance_size=8, interfaces=["iface-a"]))
    type_register_static(TypeInfo(name="impl-sub", parent="impl", interfaces=["iface-c"]))
    impl = object_class_by_name("impl")
    sub = object_class_by_name("impl-sub")
    assert impl is not None and sub is not None
    assert [i.type.name for i in impl.interfaces] == ["impl::iface-a"]
    assert [i.type.name for i in sub.interfaces] == ["impl-sub::iface-a", "impl-sub::iface-c"]
    # inherited interface class is parented on the parent's interface class
    assert sub.interfaces[0].type.parent_name == "impl::iface-a"
    assert sub.interfaces[1].type.parent_name == "iface-c"
    assert isinstance(sub.interfaces[0], InterfaceClass)
    assert sub.interfaces[0].interface_type is universe.types["iface-a"]
    assert "impl::iface-a" not in universe.types
    assert object_class_by_name("impl::iface-a") is None
    names = {k.type.name for k in object_class_get_list(None, True)}
    assert not any("::" in n for n in names)


def test_interface_cast_returns_interface_class(universe: Universe) -> None:
    _ifaces(universe)
    type_register_static(TypeInfo(name="impl", parent="object", interfaces=["iface-b"]))
    klass = object_class_by_name("impl")
    assert klass is not None
    ic = object_class_dynamic_cast(klass, "iface-a")
    assert ic is klass.interfaces[0] and ic.type.name == "impl::iface-b"
    assert object_class_dynamic_cast(klass, "iface-b") is ic
    assert object_class_dynamic_cast(klass, "iface-c") is None
    assert object_class_dynamic_cast(klass, "object") is klass
    assert object_class_dynamic_cast(klass, "impl") is klass
    assert object_class_dynamic_cast(klass, "container") is None
    assert object_class_dynamic_cast(klass, "no-such-type") is None
    assert object_class_dynamic_cast(None, "object") is None
    # exactly one interface class: a cast to the root "interface" succeeds
    assert object_class_dynamic_cast(klass, TYPE_INTERFACE) is ic


def test_ambiguous_interface_cast(universe: Universe) -> None:
    _ifaces(universe)
    # I2 (iface-b) derives from I1 (iface-a); I1 first => both created => ambiguous cast to I1
    type_register_static(TypeInfo(name="amb", parent="object", interfaces=["iface-a", "iface-b"]))
    # I2 first => I1 skipped
    type_register_static(TypeInfo(name="unamb", parent="object", interfaces=["iface-b", "iface-a"]))
    amb = object_class_by_name("amb")
    unamb = object_class_by_name("unamb")
    assert amb is not None and unamb is not None
    assert [i.type.name for i in amb.interfaces] == ["amb::iface-a", "amb::iface-b"]
    assert [i.type.name for i in unamb.interfaces] == ["unamb::iface-b"]
    assert object_class_dynamic_cast(amb, "iface-a") is None
    assert object_class_dynamic_cast(amb, "iface-b") is amb.interfaces[1]
    assert object_class_dynamic_cast(unamb, "iface-a") is unamb.interfaces[0]


def test_device_does_not_cast_to_interface(universe: Universe) -> None:
    dev = object_class_by_name("device")
    assert dev is not None and len(dev.interfaces) == 2
    assert object_class_dynamic_cast(dev, TYPE_INTERFACE) is None
    assert object_class_dynamic_cast(dev, "vmstate-if") is dev.interfaces[0]


def test_cast_assert(universe: Universe) -> None:
    klass = object_class_by_name("container")
    assert klass is not None
    assert object_class_dynamic_cast_assert(klass, "object") is klass
    with pytest.raises(QOMFatal) as exc:
        object_class_dynamic_cast_assert(klass, "device")
    assert exc.value.message.endswith("is not an instance of type device")


def test_implicit_and_explicit_abstract(universe: Universe) -> None:
    _ifaces(universe)
    type_register_static(TypeInfo(name="abs", parent="object", abstract=True))
    type_register_static(TypeInfo(name="conc", parent="abs"))
    iface = object_class_by_name("iface-a")
    abs_ = object_class_by_name("abs")
    conc = object_class_by_name("conc")
    assert iface is not None and abs_ is not None and conc is not None
    assert object_class_is_abstract(iface) and object_class_is_abstract(abs_)
    assert not object_class_is_abstract(conc)
    with pytest.raises(QOMFatal) as exc:
        object_new("abs")
    assert exc.value.message == "assertion failed: (type->abstract == false)"
    with pytest.raises(QOMFatal) as exc:
        object_new("iface-a")
    with pytest.raises(QOMFatal) as exc:
        object_new("nope")
    assert exc.value.message == "unknown type 'nope'"


def test_interface_type_checks(universe: Universe) -> None:
    type_register_static(TypeInfo(name="bad-iface", parent=TYPE_INTERFACE, instance_init=lambda o: None))
    with pytest.raises(QOMFatal):
        object_class_by_name("bad-iface")


def test_class_get_list_filters(universe: Universe) -> None:
    _ifaces(universe)
    type_register_static(TypeInfo(name="impl", parent="object", interfaces=["iface-b"]))
    type_register_static(TypeInfo(name="impl-abs", parent="object", abstract=True, interfaces=["iface-a"]))

    def names(implements: str | None, abstract: bool) -> set[str]:
        return {k.type.name for k in object_class_get_list(implements, abstract)}

    assert names("iface-a", False) == {"impl"}
    assert names("iface-a", True) == {"impl", "impl-abs", "iface-a", "iface-b"}
    assert names("iface-b", True) == {"impl", "iface-b"}
    assert "interface" in names(TYPE_INTERFACE, True)
    assert names("no-such", True) == set()
    assert names("container", False) == {"container"}
    sorted_names = [k.type.name for k in object_class_get_list_sorted(None, True)]
    assert sorted_names == sorted(sorted_names, key=str.casefold)


def test_registration_during_enumeration_is_fatal(universe: Universe) -> None:
    def class_init(k: ObjectClass, d: Any) -> None:
        type_register_static(TypeInfo(name="late-type", parent="object"))

    type_register_static(TypeInfo(name="registers", parent="object", class_init=class_init))
    with pytest.raises(QOMFatal) as exc:
        object_class_get_list(None, True)
    assert exc.value.message == "assertion failed: (!enumerating_types)"
    assert not universe.enumerating_types
