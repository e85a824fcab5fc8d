"""The finer points of ``../shared/spec/qom-semantics.md`` that QEMU's own unit tests do not cover.

Each test names the spec section it checks.  Lists QEMU keeps in hash tables (types,
properties, children) are compared as sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qom import (
    TYPE_INTERFACE,
    TYPE_OBJECT,
    DeviceNotFound,
    GenericError,
    Object,
    ObjectClass,
    ObjectPropertyLinkFlags,
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
    object_class_property_add_bool,
    object_class_property_find,
    object_dynamic_cast,
    object_get_objects_root,
    object_get_root,
    object_new,
    object_property_add,
    object_property_add_bool,
    object_property_add_child,
    object_property_add_link,
    object_property_allow_set_link,
    object_property_del,
    object_property_find,
    object_property_get,
    object_property_iter,
    object_property_set,
    object_property_set_default_bool,
    object_resolve_path,
    object_resolve_path_ambiguous,
    object_unparent,
    object_unref,
    type_register_static,
    use_universe,
)


@pytest.fixture
def universe() -> Iterator[Universe]:
    with use_universe(Universe(machine=None)) as u:
        yield u


def _fatal(fn: Any, *args: Any) -> str:
    with pytest.raises(QOMFatal) as exc:
        fn(*args)
    return exc.value.message


# -- §1.2 registration ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["0abc", "-ab", ".ab", "_ab", "a b", "a+b", "a/b", "a::b", "é1"])
def test_illegal_type_names_are_fatal(universe: Universe, name: str) -> None:
    before = universe.snapshot()
    assert _fatal(type_register_static, TypeInfo(name=name, parent=TYPE_OBJECT)) == (
        f"Registering '{name}' with illegal type name"
    )
    assert universe.snapshot() == before


@pytest.mark.parametrize("name", ["a", ""])
def test_one_character_type_names_are_fatal(universe: Universe, name: str) -> None:
    before = universe.snapshot()
    _fatal(type_register_static, TypeInfo(name=name, parent=TYPE_OBJECT))
    assert universe.snapshot() == before


@pytest.mark.parametrize("name", ["a", "", "0", "-"])
def test_one_character_type_name_is_glib_assertion(universe: Universe, name: str) -> None:
    # QEMU's type_name_is_valid() (qom/object.c) asserts slen > 1 before checking characters
    message = _fatal(type_register_static, TypeInfo(name=name, parent=TYPE_OBJECT))
    assert message == "assertion failed: (slen > 1)"


@pytest.mark.parametrize("name", ["ab", "A1", "9x", "x.y-z_w", "1-"])
def test_legal_type_names_register(universe: Universe, name: str) -> None:
    type_register_static(TypeInfo(name=name, parent=TYPE_OBJECT))
    klass = object_class_by_name(name)
    assert klass is not None and object_class_get_name(klass) == name


def test_duplicate_registration_is_fatal_with_backtick(universe: Universe) -> None:
    type_register_static(TypeInfo(name="dup", parent=TYPE_OBJECT))
    before = universe.snapshot()
    assert _fatal(type_register_static, TypeInfo(name="dup", parent=TYPE_OBJECT)) == (
        "Registering `dup' which already exists"
    )
    assert _fatal(type_register_static, TypeInfo(name="container", parent=TYPE_OBJECT)) == (
        "Registering `container' which already exists"
    )
    assert universe.snapshot() == before


def test_missing_parent_is_fatal_at_registration(universe: Universe) -> None:
    before = universe.snapshot()
    _fatal(type_register_static, TypeInfo(name="orphan"))
    assert universe.snapshot() == before


def test_unknown_parent_is_detected_lazily(universe: Universe) -> None:
    type_register_static(TypeInfo(name="kid", parent="nowhere"))  # no error yet
    assert _fatal(object_class_by_name, "kid") == "Type 'kid' is missing its parent 'nowhere'"
    assert _fatal(object_new, "kid") == "Type 'kid' is missing its parent 'nowhere'"


def test_child_may_be_registered_before_its_parent(universe: Universe) -> None:
    type_register_static(TypeInfo(name="late-kid", parent="late-parent"))
    type_register_static(TypeInfo(name="late-parent", parent=TYPE_OBJECT))
    obj = object_new("late-kid")
    assert object_dynamic_cast(obj, "late-parent") is obj
    object_unref(obj)


def test_unknown_declared_interface_names_the_parent(universe: Universe) -> None:
    type_register_static(TypeInfo(name="base", parent=TYPE_OBJECT))
    type_register_static(TypeInfo(name="impl", parent="base", interfaces=("no-such-if",)))
    assert _fatal(object_class_by_name, "impl") == "missing interface 'no-such-if' for object 'base'"


# -- §1.3 class initialization ----------------------------------------------------------------


def test_class_base_init_runs_for_ancestors_nearest_first_then_class_init(universe: Universe) -> None:
    log: list[tuple[str, str, object]] = []

    def hooks(name: str) -> dict[str, Any]:
        def base_init(oc: ObjectClass, data: object) -> None:
            log.append((f"{name}.base_init", object_class_get_name(oc), data))

        def class_init(oc: ObjectClass, data: object) -> None:
            log.append((f"{name}.class_init", object_class_get_name(oc), data))

        return {"class_base_init": base_init, "class_init": class_init, "class_data": f"data-{name}"}

    type_register_static(TypeInfo(name="ca", parent=TYPE_OBJECT, **hooks("ca")))
    type_register_static(TypeInfo(name="cb", parent="ca", **hooks("cb")))
    type_register_static(TypeInfo(name="cc", parent="cb", **hooks("cc")))
    assert log == []  # registration does no work
    object_class_by_name("cc")
    assert log == [
        ("ca.class_init", "ca", "data-ca"),
        ("ca.base_init", "cb", "data-cb"),
        ("cb.class_init", "cb", "data-cb"),
        ("cb.base_init", "cc", "data-cc"),
        ("ca.base_init", "cc", "data-cc"),
        ("cc.class_init", "cc", "data-cc"),
    ]
    object_class_by_name("cc")
    assert len(log) == 6  # at most once per type


def test_interface_types_are_implicitly_abstract(universe: Universe) -> None:
    type_register_static(TypeInfo(name="my-if", parent=TYPE_INTERFACE, abstract=False))
    klass = object_class_by_name("my-if")
    assert klass is not None and object_class_is_abstract(klass)
    assert _fatal(object_new, "my-if") == "assertion failed: (type->abstract == false)"


def test_explicit_abstract_and_unknown_type(universe: Universe) -> None:
    type_register_static(TypeInfo(name="abs", parent=TYPE_OBJECT, abstract=True))
    type_register_static(TypeInfo(name="conc", parent="abs"))
    assert object_class_is_abstract(object_class_by_name("abs"))  # type: ignore[arg-type]
    assert not object_class_is_abstract(object_class_by_name("conc"))  # type: ignore[arg-type]
    before = universe.snapshot()
    assert _fatal(object_new, "abs") == "assertion failed: (type->abstract == false)"
    assert _fatal(object_new, "never-registered") == "unknown type 'never-registered'"
    assert universe.snapshot() == before


def test_class_parent_and_class_data_copy(universe: Universe) -> None:
    def set_field(oc: ObjectClass, data: object) -> None:
        oc.unparent = None
        oc.__dict__["qs_marker"] = data

    type_register_static(TypeInfo(name="pp", parent=TYPE_OBJECT, class_init=set_field, class_data=7))
    type_register_static(TypeInfo(name="qq", parent="pp"))
    q = object_class_by_name("qq")
    p = object_class_by_name("pp")
    assert q is not None and p is not None
    assert object_class_get_parent(q) is p
    assert q.__dict__["qs_marker"] == 7  # inherited by the byte copy
    assert object_class_get_parent(object_class_by_name(TYPE_OBJECT)) is None  # type: ignore[arg-type]


# -- §1.4 / §2.1 interfaces and casts -----------------------------------------------------------


@pytest.fixture
def ifaces(universe: Universe) -> Universe:
    """I1 <- I2 (I2 derives from I1); X declares (I1, I2): ambiguous; Y declares (I2, I1)."""
    type_register_static(TypeInfo(name="I1", parent=TYPE_INTERFACE))
    type_register_static(TypeInfo(name="I2", parent="I1"))
    type_register_static(TypeInfo(name="xx", parent=TYPE_OBJECT, interfaces=("I1", "I2")))
    type_register_static(TypeInfo(name="yy", parent=TYPE_OBJECT, interfaces=("I2", "I1")))
    type_register_static(TypeInfo(name="zz", parent=TYPE_OBJECT, interfaces=("I1",)))
    type_register_static(TypeInfo(name="zzsub", parent="zz"))
    return universe


def _cast_name(klass: ObjectClass | None, target: str) -> str | None:
    got = object_class_dynamic_cast(klass, target)
    return None if got is None else got.type.name


def test_interface_class_lists(ifaces: Universe) -> None:
    def names(t: str) -> list[str]:
        k = object_class_by_name(t)
        assert k is not None
        return [i.type.name for i in k.interfaces]

    assert names("xx") == ["xx::I1", "xx::I2"]
    assert names("yy") == ["yy::I2"]  # I1 is skipped: already an ancestor of Y::I2
    assert names("zzsub") == ["zzsub::I1"]
    zsub = object_class_by_name("zzsub")
    assert zsub is not None and zsub.interfaces[0].type.parent_name == "zz::I1"


def test_ambiguous_interface_cast_is_null(ifaces: Universe) -> None:
    x = object_class_by_name("xx")
    y = object_class_by_name("yy")
    assert _cast_name(x, "I1") is None  # two interface classes match
    assert _cast_name(x, "I2") == "xx::I2"
    assert _cast_name(y, "I1") == "yy::I2"
    assert _cast_name(y, "I2") == "yy::I2"
    ox, oy = object_new("xx"), object_new("yy")
    assert object_dynamic_cast(ox, "I1") is None
    assert object_dynamic_cast(ox, "I2") is ox
    assert object_dynamic_cast(oy, "I1") is oy
    message = _fatal(object_class_dynamic_cast_assert, x, "I1")
    assert message.endswith("is not an instance of type I1")
    object_unref(ox)
    object_unref(oy)


def test_cast_to_interface_root_needs_exactly_one_interface_class(ifaces: Universe) -> None:
    assert _cast_name(object_class_by_name("xx"), TYPE_INTERFACE) is None
    assert _cast_name(object_class_by_name("yy"), TYPE_INTERFACE) == "yy::I2"
    assert _cast_name(object_class_by_name("zz"), TYPE_INTERFACE) == "zz::I1"
    assert _cast_name(object_class_by_name("container"), TYPE_INTERFACE) is None


def test_interface_cast_ignores_own_chain_and_fast_path(ifaces: Universe) -> None:
    x = object_class_by_name("xx")
    assert _cast_name(x, "xx") == "xx"
    assert _cast_name(x, TYPE_OBJECT) == "xx"
    assert _cast_name(x, "unregistered-type") is None
    assert object_class_dynamic_cast(None, "xx") is None
    assert object_dynamic_cast(None, "xx") is None
    assert _cast_name(object_class_by_name("I2"), "I1") == "I2"  # interface types: by ancestry


def test_class_get_list_with_interfaces(ifaces: Universe) -> None:
    def names(implements: str | None, include_abstract: bool) -> set[str]:
        return {object_class_get_name(k) for k in object_class_get_list(implements, include_abstract)}

    assert names("I1", False) == {"yy", "zz", "zzsub"}  # X is ambiguous
    assert names("I1", True) == {"yy", "zz", "zzsub", "I1", "I2"}
    assert names("I2", True) == {"xx", "yy", "I2"}
    via_root = names(TYPE_INTERFACE, False)
    assert {"yy", "zz", "zzsub"} <= via_root and "xx" not in via_root
    everything = names(None, True)
    assert {"object", "interface", "xx", "yy", "zz", "zzsub", "I1", "I2", "container"} <= everything
    assert "xx::I1" not in everything  # hidden interface classes never listed
    assert names(None, False) == everything - {
        object_class_get_name(k) for k in object_class_get_list(None, True) if object_class_is_abstract(k)
    }
    ordered = [object_class_get_name(k) for k in object_class_get_list_sorted("I1", True)]
    assert ordered == sorted(ordered, key=str.casefold)
    assert set(ordered) == {"yy", "zz", "zzsub", "I1", "I2"}


# -- §3.1 / §3.3 construction and finalization orders ------------------------------------------


def test_construction_and_finalize_orders_and_defaults_first(universe: Universe) -> None:
    log: list[str] = []

    def hooks(name: str) -> dict[str, Any]:
        return {
            "instance_init": lambda o: log.append(f"{name}.init:{object_property_get(o, 'flag')}"),
            "instance_post_init": lambda o: log.append(f"{name}.post_init"),
            "instance_finalize": lambda o: log.append(f"{name}.finalize"),
        }

    class Flagged(Object):
        def __init__(self) -> None:
            super().__init__()
            self.flag = False

    def class_init(oc: ObjectClass, data: object) -> None:
        def get(o: Object) -> bool:
            assert isinstance(o, Flagged)
            return o.flag

        def set_(o: Object, v: bool) -> None:
            assert isinstance(o, Flagged)
            o.flag = v

        object_property_set_default_bool(object_class_property_add_bool(oc, "flag", get, set_), True)

    type_register_static(
        TypeInfo(name="rr", parent=TYPE_OBJECT, instance_type=Flagged, class_init=class_init, **hooks("rr"))
    )
    type_register_static(TypeInfo(name="ss", parent="rr", **hooks("ss")))
    type_register_static(TypeInfo(name="tt", parent="ss", **hooks("tt")))
    obj = object_new("tt")
    # the class default is applied before any instance_init; post_init root -> leaf (220c739903)
    assert log == [
        "rr.init:True",
        "ss.init:True",
        "tt.init:True",
        "rr.post_init",
        "ss.post_init",
        "tt.post_init",
    ]
    log.clear()
    object_unref(obj)
    assert log == ["tt.finalize", "ss.finalize", "rr.finalize"]


def test_finalize_releases_properties_before_instance_finalize(universe: Universe) -> None:
    log: list[str] = []
    type_register_static(
        TypeInfo(name="ff", parent=TYPE_OBJECT, instance_finalize=lambda o: log.append("finalize"))
    )
    obj = object_new("ff")
    kid = object_new("ff")
    object_property_add_child(obj, "kid", kid)
    object_unref(kid)
    object_property_add(obj, "r", "int", None, None, lambda o, n, op: log.append(f"release {n}"), None)
    object_unref(obj)
    # the child's release finalizes the child (its own "finalize") before the parent's finalize
    assert len(log) == 3
    assert sorted(log[:2]) == ["finalize", "release r"]
    assert log[2] == "finalize"
    assert kid.parent is None and kid.ref == 0
    assert universe.live_instances("ff") == 0


def test_refcount_asserts(universe: Universe) -> None:
    type_register_static(TypeInfo(name="gg", parent=TYPE_OBJECT))
    obj = object_new("gg")
    assert obj.ref == 1
    object_unref(obj)
    assert obj.ref == 0
    _fatal(object_unref, obj)  # g_assert(obj->ref > 0)


# -- §4.3 lookup ----------------------------------------------------------------------------------


def test_property_lookup_root_most_class_definition_wins(universe: Universe) -> None:
    type_register_static(TypeInfo(name="base-t", parent=TYPE_OBJECT))
    type_register_static(TypeInfo(name="leaf-t", parent="base-t"))
    leaf = object_class_by_name("leaf-t")
    base = object_class_by_name("base-t")
    assert leaf is not None and base is not None
    own = object_class_property_add_bool(leaf, "p", lambda o: True, None)
    # the leaf class exists already, so the base may still add the same name afterwards
    rooted = object_class_property_add_bool(base, "p", lambda o: False, None)
    assert object_class_property_find(leaf, "p") is rooted
    obj = object_new("leaf-t")
    assert object_property_find(obj, "p") is rooted
    assert object_property_get(obj, "p") is False
    assert [p for p in object_property_iter(obj) if p.name == "p"] == [own, rooted]  # both iterated
    object_unref(obj)


def test_class_property_beats_older_instance_property(universe: Universe) -> None:
    type_register_static(TypeInfo(name="hh", parent=TYPE_OBJECT))
    obj = object_new("hh")
    inst = object_property_add_bool(obj, "q", lambda o: False, None)
    klass = object_class_by_name("hh")
    assert klass is not None
    cls_prop = object_class_property_add_bool(klass, "q", lambda o: True, None)  # no instance check
    assert object_property_find(obj, "q") is cls_prop
    assert object_property_find(obj, "q") is not inst
    assert object_property_get(obj, "q") is True
    object_unref(obj)


# -- §3.5 paths ----------------------------------------------------------------------------------


def _container_at(parent: Object, name: str) -> Object:
    c = object_new("container")
    object_property_add_child(parent, name, c)
    object_unref(c)
    return c


def test_empty_path_components_are_skipped(universe: Universe) -> None:
    a = _container_at(object_get_objects_root(), "a")
    b = _container_at(a, "b")
    assert object_resolve_path("//objects//a//b") is b
    assert object_resolve_path("/objects/a/b/") is b
    assert object_resolve_path("/") is object_get_root()
    assert object_resolve_path("objects//a") is a


def test_partial_path_ambiguous_even_when_routes_agree(universe: Universe) -> None:
    type_register_static(TypeInfo(name="ll", parent=TYPE_OBJECT))
    target = _container_at(object_get_objects_root(), "target")
    holders = [object_new("ll"), object_new("ll")]
    for i, h in enumerate(holders):
        h.__dict__["qs_to"] = None
        object_property_add_link(
            h, "to", "container", "qs_to", object_property_allow_set_link, ObjectPropertyLinkFlags(0)
        )
        object_property_add_child(object_get_objects_root(), f"h{i}", h)
        object_unref(h)
        object_property_set(h, "to", "/objects/target")
    assert object_resolve_path_ambiguous("to") == (None, True)  # two starting points, one target
    assert object_resolve_path_ambiguous("target") == (target, False)
    assert object_resolve_path("/objects/h0/to") is target  # absolute paths follow links


# -- §4.5 links -----------------------------------------------------------------------------------


def test_link_set_errors_in_order_and_strong_references(universe: Universe) -> None:
    type_register_static(TypeInfo(name="tgt", parent=TYPE_OBJECT))
    type_register_static(TypeInfo(name="other", parent=TYPE_OBJECT))
    objs = object_get_objects_root()
    checked: list[Object | None] = []

    def check(obj: Object, name: str, new: Object | None) -> None:
        checked.append(new)
        if new is not None and new.child_name == "vetoed":
            raise GenericError("veto")

    holder = object_new("container")
    holder.__dict__["qs_l"] = None
    object_property_add_link(holder, "l", "tgt", "qs_l", check, ObjectPropertyLinkFlags.STRONG)
    t1, t2, o = object_new("tgt"), object_new("tgt"), object_new("other")
    for name, obj in (("t1", t1), ("t2", t2), ("o", o)):
        object_property_add_child(objs, name, obj)
        object_unref(obj)
    c = _container_at(objs, "c")
    t3 = object_new("tgt")
    object_property_add_child(c, "t1", t3)  # a second "t1": partial path "t1" is ambiguous
    object_unref(t3)
    vetoed = object_new("tgt")
    object_property_add_child(objs, "vetoed", vetoed)
    object_unref(vetoed)

    cases: list[tuple[str, type[Exception], str]] = [
        ("t1", GenericError, "Path 't1' does not uniquely identify an object"),
        ("/objects/o", GenericError, "Invalid parameter type for 'l', expected: tgt"),
        ("/objects/none", DeviceNotFound, "Device '/objects/none' not found"),
        ("/objects/vetoed", GenericError, "veto"),
    ]
    for path, cls, desc in cases:
        with pytest.raises(cls) as exc:
            object_property_set(holder, "l", path)
        assert exc.value.desc == desc  # type: ignore[attr-defined]
    assert checked == [vetoed]  # the check runs only once the path resolved
    assert object_property_get(holder, "l") == ""

    object_property_set(holder, "l", "/objects/t1")
    assert (t1.ref, object_property_get(holder, "l")) == (2, "/objects/t1")
    object_property_set(holder, "l", "/objects/t2")
    assert (t1.ref, t2.ref) == (1, 2)
    object_property_set(holder, "l", "")
    assert t2.ref == 1
    object_property_set(holder, "l", "/objects/t2")
    object_unref(holder)  # release drops the strong reference
    assert t2.ref == 1


# -- §4.2 array properties ------------------------------------------------------------------------


def test_array_suffix_takes_first_free_index(universe: Universe) -> None:
    obj = object_new("container")
    names = [object_property_add(obj, "slot[*]", "int", None, None).name for _ in range(3)]
    assert names == ["slot[0]", "slot[1]", "slot[2]"]
    object_property_del(obj, "slot[1]")
    assert object_property_add(obj, "slot[*]", "int", None, None).name == "slot[1]"
    assert object_property_add(obj, "slot[*]", "int", None, None).name == "slot[3]"
    kid = object_new("container")
    prop = object_property_add_child(obj, "kid[*]", kid)
    assert prop.name == "kid[0]" and prop.type == "child<container>"
    object_unref(kid)
    object_unref(obj)
    assert kid.ref == 0


# -- §3.4 root containers --------------------------------------------------------------------------


def test_root_containers(universe: Universe) -> None:
    root = object_get_root()
    children = {p.name for p in object_property_iter(root) if p.type.startswith("child<")}
    assert children == {"audiodevs", "chardevs", "objects", "backend"}
    assert object_resolve_path("/objects") is object_get_objects_root()


def test_none_machine_tree() -> None:
    with use_universe(Universe()):
        root = object_get_root()
        children = {p.name for p in object_property_iter(root) if p.type.startswith("child<")}
        assert children == {"audiodevs", "chardevs", "objects", "backend", "machine"}
        machine = object_resolve_path("/machine")
        assert machine is not None and object_dynamic_cast(machine, "none-machine") is machine
        for path in (
            "/machine/unattached",
            "/machine/peripheral",
            "/machine/peripheral-anon",
            "/machine/unattached/sysbus",
        ):
            assert object_resolve_path(path) is not None, path


def test_unparent_without_parent_is_a_no_op(universe: Universe) -> None:
    obj = object_new("container")
    before = universe.snapshot()
    object_unparent(obj)
    assert universe.snapshot() == before and obj.ref == 1
    object_unref(obj)


def test_duplicate_child_is_error_in_try_and_fatal_otherwise(universe: Universe) -> None:
    from qom import object_property_try_add_child

    parent = object_new("container")
    a, b = object_new("container"), object_new("container")
    object_property_add_child(parent, "x", a)
    before = universe.snapshot()
    with pytest.raises(GenericError) as exc:
        object_property_try_add_child(parent, "x", b)
    assert exc.value.desc == "attempt to add duplicate property 'x' to object (type 'container')"
    assert "attempt to add duplicate property 'x'" in _fatal(object_property_add_child, parent, "x", b)
    _fatal(object_property_add_child, b, "again", a)  # a already has a parent
    assert universe.snapshot() == before
    for o in (a, b, parent):
        object_unref(o)
    assert b.ref == 0 and a.ref == 0


def test_property_del_of_missing_name_is_fatal(universe: Universe) -> None:
    obj = object_new("container")
    before = universe.snapshot()
    _fatal(object_property_del, obj, "nope")
    assert universe.snapshot() == before
    object_property_add_bool(obj, "b", None, None)
    object_property_del(obj, "b")
    assert object_property_find(obj, "b") is None
    object_unref(obj)


# -- more of §1.3, §3.3, §3.4, §4.7 ----------------------------------------------------------------


def test_interface_type_with_instance_hooks_is_fatal(universe: Universe) -> None:
    type_register_static(TypeInfo(name="bad-if", parent=TYPE_INTERFACE, instance_init=lambda o: None))
    type_register_static(TypeInfo(name="bad-if2", parent=TYPE_INTERFACE, interfaces=("user-creatable",)))
    _fatal(object_class_by_name, "bad-if")
    _fatal(object_class_by_name, "bad-if2")


def test_registering_while_enumerating_is_fatal(universe: Universe) -> None:
    from qom import object_class_foreach

    def register(klass: ObjectClass) -> None:
        type_register_static(TypeInfo(name="too-late", parent=TYPE_OBJECT))

    _fatal(object_class_foreach, register, None, False)
    assert "too-late" not in {name for name, _ in universe.snapshot().types}


def test_class_property_release_runs_once_per_instance(universe: Universe) -> None:
    released: list[int] = []

    def class_init(oc: ObjectClass, data: object) -> None:
        from qom import object_class_property_add

        object_class_property_add(
            oc, "r", "int", None, None, lambda o, n, op: released.append(o.serial), None
        )

    type_register_static(TypeInfo(name="rel", parent=TYPE_OBJECT, class_init=class_init))
    a, b = object_new("rel"), object_new("rel")
    object_unref(a)
    object_unref(b)
    assert released == [a.serial, b.serial]


def test_second_default_is_fatal(universe: Universe) -> None:
    klass = object_class_by_name("container")
    assert klass is not None
    prop = object_class_property_add_bool(klass, "d", lambda o: True, None)
    object_property_set_default_bool(prop, True)
    assert prop.defval is True
    _fatal(object_property_set_default_bool, prop, False)
    assert prop.defval is True


def test_new_with_props_duplicate_id_is_fatal(universe: Universe) -> None:
    from qom import object_new_with_props

    objs = object_get_objects_root()
    first = object_new_with_props("container", objs, "dup", {})
    assert first.ref == 1
    _fatal(object_new_with_props, "container", objs, "dup", {})
    assert object_resolve_path("/objects/dup") is first


def test_new_with_props_unknown_and_abstract_are_errors(universe: Universe) -> None:
    from qom import object_new_with_props

    before = universe.snapshot()
    for typename, desc in (
        ("no-such", "invalid object type: no-such"),
        ("object", "object type 'object' is abstract"),
    ):
        with pytest.raises(GenericError) as exc:
            object_new_with_props(typename, None, None, {})
        assert exc.value.desc == desc
    assert universe.snapshot() == before


def test_internal_root_has_no_canonical_path(universe: Universe) -> None:
    from qom import object_get_canonical_path, object_get_internal_root

    internal = object_get_internal_root()
    kid = _container_at(internal, "hidden")
    assert object_get_canonical_path(kid) is None
    assert object_get_canonical_path(object_get_root()) == "/"
    assert object_resolve_path("hidden") is None


# -- §4.5 const links, §4.6 alias metadata, §3.5 relative paths, child iteration -----------------


def test_const_link_is_read_only_and_holds_no_reference(universe: Universe) -> None:
    from qom import object_property_add_const_link

    target = _container_at(object_get_objects_root(), "t")
    holder = object_new("container")
    prop = object_property_add_const_link(holder, "c", target)
    assert prop.type == "link<container>"
    assert target.ref == 1
    assert object_property_get(holder, "c") == "/objects/t"
    with pytest.raises(GenericError) as exc:
        object_property_set(holder, "c", "")
    assert exc.value.desc == "Property 'container.c' is not writable"
    from qom import object_resolve_path_component

    assert object_resolve_path_component(holder, "c") is target
    object_unref(holder)
    assert target.ref == 1


def test_alias_copies_description_and_default(universe: Universe) -> None:
    from qom import (
        object_class_property_set_description,
        object_property_add_alias,
        object_property_set_description,
    )

    type_register_static(TypeInfo(name="aliased", parent=TYPE_OBJECT))
    klass = object_class_by_name("aliased")
    assert klass is not None
    prop = object_class_property_add_bool(klass, "on", lambda o: True, lambda o, v: None)
    object_property_set_default_bool(prop, True)
    object_class_property_set_description(klass, "on", "the switch")
    target = object_new("aliased")
    src = object_new("container")
    alias = object_property_add_alias(src, "al", target, "on")
    assert (alias.type, alias.defval, alias.description) == ("bool", True, "the switch")
    # the instance form finds the class property and changes it, for every instance
    object_property_set_description(target, "on", "changed")
    assert prop.description == "changed"
    assert alias.description == "the switch"  # copied, not shared
    object_unref(src)
    object_unref(target)


def test_resolve_path_at_is_relative_unless_absolute(universe: Universe) -> None:
    from qom import object_resolve_path_at

    a = _container_at(object_get_objects_root(), "a")
    b = _container_at(a, "b")
    assert object_resolve_path_at(object_get_objects_root(), "a/b") is b
    assert object_resolve_path_at(a, "b") is b
    assert object_resolve_path_at(a, "/objects/a") is a
    assert object_resolve_path_at(a, "objects") is None  # relative to a, not a partial path


def test_child_foreach_stops_at_non_zero_and_recurses_depth_first(universe: Universe) -> None:
    from qom import object_child_foreach, object_child_foreach_recursive, object_get_canonical_path

    top = _container_at(object_get_objects_root(), "top")
    for name in ("x", "y"):
        _container_at(_container_at(top, name), "leaf")
    seen: list[str | None] = []

    def visit(o: Object) -> int:
        seen.append(object_get_canonical_path(o))
        return 0

    assert object_child_foreach(top, visit) == 0
    assert set(seen) == {"/objects/top/x", "/objects/top/y"}
    seen.clear()
    assert object_child_foreach_recursive(top, visit) == 0
    assert len(seen) == 4
    for name in ("x", "y"):  # each child comes right before its own child
        i = seen.index(f"/objects/top/{name}")
        assert seen[i + 1] == f"/objects/top/{name}/leaf"
    seen.clear()

    def stop(o: Object) -> int:
        seen.append(object_get_canonical_path(o))
        return 7

    assert object_child_foreach_recursive(top, stop) == 7
    assert len(seen) == 1


# -- §5.3 user_creatable_add_type / user_creatable_del checks, in order ----------------------------


def test_user_creatable_checks(universe: Universe) -> None:
    from qom import UserCreatableClass, user_creatable_add_type, user_creatable_del

    def class_init(oc: ObjectClass, data: object) -> None:
        uc = object_class_dynamic_cast(oc, "user-creatable")
        assert isinstance(uc, UserCreatableClass)
        uc.can_be_deleted = lambda o: False

    type_register_static(
        TypeInfo(name="uc-abs", parent=TYPE_OBJECT, abstract=True, interfaces=("user-creatable",))
    )
    type_register_static(TypeInfo(name="uc-sticky", parent="uc-abs", class_init=class_init))
    before = universe.snapshot()
    cases = [
        (("uc-sticky", "1bad"), "Parameter 'id' expects an identifier"),
        (("no-such", "1bad"), "Parameter 'id' expects an identifier"),  # the id is checked first
        (("no-such", "ok"), "invalid object type: no-such"),
        (("container", "ok"), "object type 'container' isn't supported by object-add"),
        (("uc-abs", "ok"), "object type 'uc-abs' is abstract"),
    ]
    for (typename, id_), desc in cases:
        with pytest.raises(GenericError) as exc:
            user_creatable_add_type(typename, id_, {})
        assert exc.value.desc == desc
    assert universe.snapshot() == before
    obj = user_creatable_add_type("uc-sticky", "s", {})
    object_unref(obj)
    with pytest.raises(GenericError) as exc:
        user_creatable_del("s")
    assert exc.value.desc == "object 's' is in use, can not be deleted"
    assert object_resolve_path("/objects/s") is obj


# -- §4.4 visitor and typed-accessor messages ---------------------------------------------------

VISITOR_ERRORS: list[tuple[str, str, object, str]] = [
    # (function, property, argument, exact description)
    ("set", "flag", "yes", "Invalid parameter type for 'flag', expected: boolean"),
    ("set", "flag", None, "Invalid parameter type for 'flag', expected: boolean"),
    ("set", "s", 1, "Invalid parameter type for 's', expected: string"),
    ("set", "i", 300, "Parameter 'i' expects uint8"),
    ("set", "i", -1, "Parameter 'i' expects uint8"),  # -1 is accepted as 2**64-1, then range-checked
    ("set", "i", "1", "Parameter 'i' expects uint64"),
    ("parse", "i", "300", "Parameter 'i' expects uint8"),
    ("parse", "i", "abc", "Parameter 'i' expects uint64"),
    ("parse", "flag", "maybe", "Parameter 'flag' expects 'on' or 'off'"),
    ("get", "wo", None, "Property 'container.wo' is not readable"),
    ("set", "ro", True, "Property 'container.ro' is not writable"),
    ("get_str", "flag", None, "Invalid parameter type for 'flag', expected: string"),
    ("get_bool", "s", None, "Invalid parameter type for 's', expected: boolean"),
    ("get_int", "s", None, "Invalid parameter type for 's', expected: int"),
    ("get_uint", "s", None, "Invalid parameter type for 's', expected: uint"),
]


@pytest.mark.parametrize(
    ("fn", "name", "arg", "desc"), VISITOR_ERRORS, ids=[f"{v[0]}-{v[1]}-{v[2]!r}" for v in VISITOR_ERRORS]
)
def test_visitor_error_messages(universe: Universe, fn: str, name: str, arg: Any, desc: str) -> None:
    import qom
    from qom import ObjectPropertyFlags, object_property_add_str, object_property_add_uint8_ptr

    o = object_new("container")
    o.__dict__["i"] = 7
    object_property_add_bool(o, "flag", lambda x: True, lambda x, v: None)
    object_property_add_bool(o, "wo", None, lambda x, v: None)
    object_property_add_bool(o, "ro", lambda x: True, None)
    object_property_add_uint8_ptr(o, "i", "i", ObjectPropertyFlags.READWRITE)
    object_property_add_str(o, "s", lambda x: "v", lambda x, v: None)
    call = getattr(qom, f"object_property_{fn}")
    with pytest.raises(GenericError) as exc:
        call(o, name) if fn.startswith("get") else call(o, name, arg)
    assert exc.value.desc == desc
    assert o.__dict__["i"] == 7  # nothing was written
    object_unref(o)


def test_string_input_parses_c_integers(universe: Universe) -> None:
    from qom import ObjectPropertyFlags, object_property_add_uint8_ptr, object_property_parse

    o = object_new("container")
    o.__dict__["i"] = 0
    object_property_add_uint8_ptr(o, "i", "i", ObjectPropertyFlags.READWRITE)
    for text, value in (("0x10", 16), ("010", 8), ("255", 255)):
        object_property_parse(o, "i", text)
        assert object_property_get(o, "i") == value
    object_unref(o)
