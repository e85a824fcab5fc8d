"""Properties: add/find/iterate/delete, visitors, typed helpers, defaults (spec §4.1-§4.4, §4.7)."""

from __future__ import annotations

from typing import Any

import pytest
from typeguard import TypeCheckError

from qom import (
    GenericError,
    Object,
    ObjectClass,
    ObjectPropertyFlags,
    QOMFatal,
    TypeInfo,
    Universe,
    object_class_property_add_bool,
    object_class_property_add_str,
    object_class_property_add_uint8_ptr,
    object_class_property_find,
    object_class_property_iter,
    object_new,
    object_property_add,
    object_property_add_bool,
    object_property_add_enum,
    object_property_add_str,
    object_property_add_uint16_ptr,
    object_property_add_uint32_ptr,
    object_property_add_uint64_ptr,
    object_property_del,
    object_property_find,
    object_property_get,
    object_property_get_bool,
    object_property_get_enum,
    object_property_get_int,
    object_property_get_str,
    object_property_get_uint,
    object_property_iter,
    object_property_parse,
    object_property_print,
    object_property_set,
    object_property_set_bool,
    object_property_set_default_bool,
    object_property_set_default_str,
    object_property_set_default_uint,
    object_property_set_description,
    object_property_set_int,
    object_property_set_str,
    object_property_try_add,
    object_unref,
    type_register_static,
)

BAD_ARG = (TypeError, TypeCheckError)
ANIMALS = ("frog", "alligator", "platypus")


class Dummy(Object):
    def __init__(self) -> None:
        super().__init__()
        self.bv = False
        self.sv: str | None = None
        self.av = 0
        self.u8 = 0
        self.u16 = 0
        self.u32 = 0
        self.u64 = 0


def _dummy(o: Object) -> Dummy:
    assert isinstance(o, Dummy)
    return o


def _set_bv(o: Object, v: bool) -> None:
    _dummy(o).bv = v


def _set_sv(o: Object, v: str) -> None:
    _dummy(o).sv = v


def _set_av(o: Object, v: int) -> None:
    _dummy(o).av = v


def _dummy_class_init(k: ObjectClass, d: Any) -> None:
    object_class_property_add_bool(k, "bv", lambda o: _dummy(o).bv, _set_bv)
    object_class_property_add_str(k, "sv", lambda o: _dummy(o).sv, _set_sv)
    object_class_property_add_uint8_ptr(k, "u8", "u8", ObjectPropertyFlags.READWRITE)


@pytest.fixture
def dummy(universe: Universe) -> Dummy:
    type_register_static(
        TypeInfo(name="dummy", parent="object", class_init=_dummy_class_init, instance_type=Dummy)
    )
    obj = object_new("dummy")
    object_property_add_enum(obj, "av", "DummyAnimal", ANIMALS, lambda o: _dummy(o).av, _set_av)
    object_property_add_uint16_ptr(obj, "u16", "u16", ObjectPropertyFlags.READWRITE)
    object_property_add_uint32_ptr(obj, "u32", "u32", ObjectPropertyFlags.READ)
    object_property_add_uint64_ptr(obj, "u64", "u64", ObjectPropertyFlags.READWRITE)
    return _dummy(obj)


def test_types_strings(dummy: Dummy) -> None:
    types = {p.name: p.type for p in object_property_iter(dummy)}
    assert types == {
        "av": "DummyAnimal",
        "u16": "uint16",
        "u32": "uint32",
        "u64": "uint64",
        "bv": "bool",
        "sv": "string",
        "u8": "uint8",
        "type": "string",
    }


def test_iteration_order_instance_then_class_chain(dummy: Dummy) -> None:
    names = [p.name for p in object_property_iter(dummy)]
    assert set(names[:4]) == {"av", "u16", "u32", "u64"}
    assert set(names[4:7]) == {"bv", "sv", "u8"}
    assert names[7:] == ["type"]
    assert [p.name for p in object_class_property_iter(dummy.klass)][-1] == "type"


def test_get_set_qobject_exact_types(dummy: Dummy) -> None:
    object_property_set(dummy, "bv", True)
    assert dummy.bv is True and object_property_get(dummy, "bv") is True
    object_property_set(dummy, "sv", "hello")
    assert object_property_get(dummy, "sv") == "hello"
    object_property_set(dummy, "av", "platypus")
    assert dummy.av == 2 and object_property_get(dummy, "av") == "platypus"
    object_property_set(dummy, "u8", 255)
    assert object_property_get(dummy, "u8") == 255
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "bv", "on")
    assert exc.value.desc == "Invalid parameter type for 'bv', expected: boolean"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "sv", 3)
    assert exc.value.desc == "Invalid parameter type for 'sv', expected: string"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "av", "dog")
    assert exc.value.desc == "Parameter 'av' does not accept value 'dog'"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "u8", 256)
    assert exc.value.desc == "Parameter 'u8' expects uint8"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "u8", "1")
    assert exc.value.desc == "Parameter 'u8' expects uint64"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "u8", True)
    assert exc.value.desc == "Parameter 'u8' expects uint64"
    assert dummy.u8 == 255 and dummy.bv is True and dummy.av == 2


def test_parse_string_mode(dummy: Dummy) -> None:
    for text, value in [("on", True), ("off", False), ("yes", True), ("n", False), ("true", True)]:
        object_property_parse(dummy, "bv", text)
        assert dummy.bv is value
    with pytest.raises(GenericError) as exc:
        object_property_parse(dummy, "bv", "maybe")
    assert exc.value.desc == "Parameter 'bv' expects 'on' or 'off'"
    object_property_parse(dummy, "u16", "0x10")
    assert dummy.u16 == 16
    object_property_parse(dummy, "u16", "010")
    assert dummy.u16 == 8
    with pytest.raises(GenericError) as exc:
        object_property_parse(dummy, "u16", "12abc")
    assert exc.value.desc == "Parameter 'u16' expects uint64"
    with pytest.raises(GenericError) as exc:
        object_property_parse(dummy, "u16", "65536")
    assert exc.value.desc == "Parameter 'u16' expects uint16"
    object_property_parse(dummy, "av", "alligator")
    assert dummy.av == 1
    with pytest.raises(GenericError) as exc:
        object_property_parse(dummy, "av", "dog")
    assert exc.value.desc == "Parameter 'av' does not accept value 'dog'"
    object_property_parse(dummy, "sv", "on")
    assert dummy.sv == "on"


def test_print(dummy: Dummy) -> None:
    dummy.u64 = 255
    assert object_property_print(dummy, "u64") == "255"
    assert object_property_print(dummy, "u64", human=True) == "255 (0xff)"
    assert object_property_print(dummy, "bv") == "false"
    dummy.sv = "x"
    assert object_property_print(dummy, "sv", human=True) == '"x"'
    assert object_property_print(dummy, "type") == "dummy"


def test_not_found_readable_writable(dummy: Dummy) -> None:
    with pytest.raises(GenericError) as exc:
        object_property_get(dummy, "nope")
    assert exc.value.desc == "Property 'dummy.nope' not found"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "u32", 1)
    assert exc.value.desc == "Property 'dummy.u32' is not writable"
    with pytest.raises(GenericError) as exc:
        object_property_set(dummy, "type", "x")
    assert exc.value.desc == "Property 'dummy.type' is not writable"
    object_property_add(dummy, "wo", "int", None, lambda o, v, n, op: None)
    with pytest.raises(GenericError) as exc:
        object_property_get(dummy, "wo")
    assert exc.value.desc == "Property 'dummy.wo' is not readable"


def test_typed_getters(dummy: Dummy) -> None:
    dummy.sv = "s"
    assert object_property_get_str(dummy, "sv") == "s"
    assert object_property_get_bool(dummy, "bv") is False
    dummy.u64 = 2**64 - 1
    assert object_property_get_uint(dummy, "u64") == 2**64 - 1
    with pytest.raises(GenericError) as exc:
        object_property_get_int(dummy, "u64")
    assert exc.value.desc == "Invalid parameter type for 'u64', expected: int"
    with pytest.raises(GenericError) as exc:
        object_property_get_str(dummy, "bv")
    assert exc.value.desc == "Invalid parameter type for 'bv', expected: string"
    with pytest.raises(GenericError) as exc:
        object_property_get_bool(dummy, "sv")
    assert exc.value.desc == "Invalid parameter type for 'sv', expected: boolean"
    with pytest.raises(GenericError) as exc:
        object_property_get_uint(dummy, "sv")
    assert exc.value.desc == "Invalid parameter type for 'sv', expected: uint"
    object_property_set_str(dummy, "sv", "t")
    object_property_set_bool(dummy, "bv", True)
    object_property_set_int(dummy, "u16", 7)
    assert (dummy.sv, dummy.bv, dummy.u16) == ("t", True, 7)
    dummy.av = 2
    assert object_property_get_enum(dummy, "av", "DummyAnimal") == 2
    with pytest.raises(GenericError) as exc:
        object_property_get_enum(dummy, "av", "OtherEnum")
    assert exc.value.desc == "Property av on dummy is not 'OtherEnum' enum type"


def test_duplicates(dummy: Dummy) -> None:
    with pytest.raises(GenericError) as exc:
        object_property_try_add(dummy, "bv", "bool", None, None)  # clashes with a class property
    assert exc.value.desc == "attempt to add duplicate property 'bv' to object (type 'dummy')"
    with pytest.raises(QOMFatal) as fexc:
        object_property_add(dummy, "av", "x", None, None)
    assert fexc.value.message == "attempt to add duplicate property 'av' to object (type 'dummy')"
    with pytest.raises(QOMFatal):
        object_class_property_add_bool(dummy.klass, "type", None, None)  # already on 'object'


def test_array_names(dummy: Dummy) -> None:
    p0 = object_property_add(dummy, "slot[*]", "x", None, None)
    p1 = object_property_add(dummy, "slot[*]", "x", None, None)
    assert (p0.name, p1.name) == ("slot[0]", "slot[1]")
    object_property_del(dummy, "slot[0]")
    assert object_property_add(dummy, "slot[*]", "x", None, None).name == "slot[0]"
    assert object_property_add(dummy, "slot[*]", "x", None, None).name == "slot[2]"


def test_lookup_class_first_root_most_wins(universe: Universe) -> None:
    def a_init(k: ObjectClass, d: Any) -> None:
        object_class_property_add_str(k, "shared", lambda o: "from-a", None)

    type_register_static(TypeInfo(name="la", parent="object", class_init=a_init))
    type_register_static(TypeInfo(name="lb", parent="la"))
    lb = universe.types["lb"]
    from qom import object_class_by_name

    klass = object_class_by_name("lb")
    assert klass is not None and lb.class_ is klass
    # a subclass cannot add a class property its ancestor already has
    with pytest.raises(QOMFatal):
        object_class_property_add_str(klass, "shared", lambda o: "from-b", None)
    obj = object_new("lb")
    # nor an instance property
    with pytest.raises(GenericError):
        object_property_try_add(obj, "shared", "string", None, None)
    prop = object_property_find(obj, "shared")
    assert prop is not None and object_property_get(obj, "shared") == "from-a"
    assert object_class_property_find(klass, "shared") is prop
    object_unref(obj)


def test_defaults_are_class_only_and_exact(universe: Universe) -> None:
    def init(k: ObjectClass, d: Any) -> None:
        object_property_set_default_bool(object_class_property_add_bool(k, "bv", None, _set_bv), True)
        object_property_set_default_str(
            object_class_property_add_str(k, "sv", lambda o: _dummy(o).sv, _set_sv), "dflt"
        )
        object_property_set_default_uint(
            object_class_property_add_uint8_ptr(k, "u8", "u8", ObjectPropertyFlags.READWRITE), 9
        )

    type_register_static(
        TypeInfo(name="with-defaults", parent="object", class_init=init, instance_type=Dummy)
    )
    obj = _dummy(object_new("with-defaults"))
    assert (obj.bv, obj.sv, obj.u8) == (True, "dflt", 9)
    klass = obj.klass
    assert [object_class_property_find(klass, n).defval for n in ("bv", "sv", "u8")] == [True, "dflt", 9]  # type: ignore[union-attr]
    prop = object_class_property_find(klass, "bv")
    assert prop is not None
    with pytest.raises(QOMFatal):
        object_property_set_default_bool(prop, False)
    # an instance property's default is recorded but never applied automatically
    p = object_property_add_bool(obj, "ib", lambda o: False, None)
    object_property_set_default_bool(p, True)
    assert p.defval is True
    # an instance string property reads None as ""
    object_property_add_str(obj, "none-str", lambda o: None, None)
    assert object_property_get(obj, "none-str") == ""
    object_unref(obj)


def test_default_set_after_first_instance_applies_to_later_ones(universe: Universe) -> None:
    from qom import object_class_by_name

    type_register_static(TypeInfo(name="late-default", parent="object", instance_type=Dummy))
    type_register_static(TypeInfo(name="late-default-sub", parent="late-default", instance_type=Dummy))
    klass = object_class_by_name("late-default")
    assert klass is not None
    prop = object_class_property_add_bool(klass, "bv", None, _set_bv)
    first = _dummy(object_new("late-default"))  # builds the class caches
    sub_first = _dummy(object_new("late-default-sub"))
    assert (first.bv, sub_first.bv) == (False, False)
    object_property_set_default_bool(prop, True)  # QEMU: object_property_set_default() takes effect at once
    second = _dummy(object_new("late-default"))
    sub_second = _dummy(object_new("late-default-sub"))
    assert (first.bv, second.bv, sub_second.bv) == (False, True, True)
    for o in (first, sub_first, second, sub_second):
        object_unref(o)


def test_default_errors_stay_fatal_for_every_instance(universe: Universe) -> None:
    calls: list[str] = []

    def set_sv(o: Object, v: str) -> None:
        calls.append(v)
        if len(calls) == 2:
            raise GenericError("refused")
        _set_sv(o, v)

    def init(k: ObjectClass, d: Any) -> None:
        object_property_set_default_str(object_class_property_add_str(k, "sv", None, set_sv), "d")

    type_register_static(TypeInfo(name="picky", parent="object", class_init=init, instance_type=Dummy))
    first = _dummy(object_new("picky"))
    with pytest.raises(QOMFatal) as exc:
        object_new("picky")
    assert str(exc.value) == "refused"
    third = _dummy(object_new("picky"))
    assert (first.sv, third.sv, calls) == ("d", "d", ["d", "d", "d"])


class _Text(str):
    pass


def test_set_get_shortcuts_match_the_visitor_path(dummy: Dummy) -> None:
    from qom import QOMError
    from qom.property import object_property_get_visitor, object_property_set_visitor
    from qom.visitor import QObjectInputVisitor, QObjectOutputVisitor

    def outcome(setter: Any, name: str, value: Any) -> tuple[str, Any]:
        try:
            setter(name, value)
        except QOMError as err:
            return ("error", err.desc)
        v = QObjectOutputVisitor()
        object_property_get_visitor(dummy, name, v)
        got = object_property_get(dummy, name)
        assert type(got) is type(v.result) and got == v.result
        return ("ok", got)

    def direct(name: str, value: Any) -> None:
        object_property_set(dummy, name, value)

    def visited(name: str, value: Any) -> None:
        object_property_set_visitor(dummy, name, QObjectInputVisitor(value))

    cases = [("u8", v) for v in (0, 255, 256, -1, True, 1.0, "1")]
    cases += [("u64", v) for v in (2**64 - 1, 2**64, -1, -(2**63), -(2**63) - 1)]
    cases += [("bv", v) for v in (True, False, 1, "on")] + [("sv", v) for v in ("", "x", _Text("t"), 3)]
    results = [(outcome(direct, n, v), outcome(visited, n, v)) for n, v in cases]
    assert all(a == b for a, b in results), results
    expects_u8 = ("error", "Parameter 'u8' expects uint8")
    assert [a for a, _ in results][:4] == [("ok", 0), ("ok", 255), expects_u8, expects_u8]
    assert outcome(direct, "u64", -1) == ("ok", 2**64 - 1)
    dummy.sv = None
    assert object_property_get(dummy, "sv") == ""


def test_description_and_del(dummy: Dummy) -> None:
    object_property_set_description(dummy, "av", "the animal")
    prop = object_property_find(dummy, "av")
    assert prop is not None and prop.description == "the animal"
    with pytest.raises(QOMFatal):
        object_property_set_description(dummy, "nope", "x")
    object_property_del(dummy, "av")
    assert object_property_find(dummy, "av") is None
    with pytest.raises(QOMFatal):
        object_property_del(dummy, "av")
    with pytest.raises(QOMFatal):
        object_property_del(dummy, "bv")  # class properties cannot be deleted


def test_bad_arguments_change_nothing(dummy: Dummy, universe: Universe) -> None:
    before = universe.snapshot()
    with pytest.raises(BAD_ARG):
        object_property_set(dummy, "bv", object())  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_property_set(dummy, "sv", {"a": {1: 2}})  # type: ignore[dict-item]
    with pytest.raises(BAD_ARG):
        object_property_get(dummy, 5)  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_property_add(dummy, "x", "t", "not callable", None)  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_property_parse(dummy, "bv", True)  # type: ignore[arg-type]
    with pytest.raises(BAD_ARG):
        object_property_set_bool(dummy, "bv", 1)  # type: ignore[arg-type]
    assert universe.snapshot() == before
    assert object_property_find(dummy, "x") is None


def test_root_most_definition_wins_when_parent_adds_later(universe: Universe) -> None:
    from qom import object_class_by_name

    def child_init(k: ObjectClass, d: Any) -> None:
        object_class_property_add_str(k, "p", lambda o: "child", None)

    type_register_static(TypeInfo(name="rm-parent", parent="object"))
    type_register_static(TypeInfo(name="rm-child", parent="rm-parent", class_init=child_init))
    child = object_class_by_name("rm-child")
    parent = object_class_by_name("rm-parent")
    assert child is not None and parent is not None
    # the chain check only looks upwards, so the parent may still add the same name
    object_class_property_add_str(parent, "p", lambda o: "parent", None)
    obj = object_new("rm-child")
    assert object_property_get(obj, "p") == "parent"
    assert [p.name for p in object_property_iter(obj)].count("p") == 2  # iteration sees both
    object_unref(obj)
