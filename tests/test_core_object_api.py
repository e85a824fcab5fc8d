"""The rest of object.h/qdev.h ported with their C names and texts: object_initialize,
object_initialize_child(_with_props), qdev_realize_and_unref, object_property_get_type,
object_property_help, the OBJ_PROP_FLAG_* and OBJ_PROP_LINK_* constants (qom/object.c,
qom/object_interfaces.c, hw/core/qdev.c at v10.0.0)."""

from __future__ import annotations

from typing import Any

import pytest

import qom
from qom import (
    OBJ_PROP_FLAG_READ,
    OBJ_PROP_FLAG_READWRITE,
    OBJ_PROP_FLAG_WRITE,
    OBJ_PROP_LINK_CLASS,
    OBJ_PROP_LINK_DIRECT,
    OBJ_PROP_LINK_STRONG,
    TYPE_DEVICE,
    TYPE_USER_CREATABLE,
    DeviceClass,
    DeviceState,
    GenericError,
    Object,
    ObjectClass,
    ObjectState,
    QOMFatal,
    TypeInfo,
    Universe,
    object_get_root,
    object_initialize,
    object_initialize_child,
    object_initialize_child_with_props,
    object_new,
    object_property_get,
    object_property_get_type,
    object_property_help,
    object_unref,
    qdev_new,
    qdev_realize_and_unref,
    type_register_static,
)


class Part(Object):
    def __init__(self) -> None:
        super().__init__()
        self.level = 0


class Board(Object):
    def __init__(self) -> None:
        super().__init__()
        self.part = Part()  # embedded, as ``struct Board { Part part; }``


def _types(log: list[str]) -> None:
    def part_init(o: Object) -> None:
        assert isinstance(o, Part)
        log.append(f"init level={o.level}")
        qom.object_property_add_uint32_ptr(o, "level", "level", OBJ_PROP_FLAG_READWRITE)

    def board_init(o: Object) -> None:
        assert isinstance(o, Board)
        object_initialize_child(o, "part", o.part, "t-part")

    type_register_static(TypeInfo(name="t-part", parent="object", instance_size=8, instance_type=Part,
                                  instance_init=part_init,
                                  instance_finalize=lambda o: log.append("fin part")))
    type_register_static(TypeInfo(name="t-board", parent="object", instance_size=16, instance_type=Board,
                                  instance_init=board_init))


def test_object_initialize_sets_up_storage_the_caller_owns(universe: Universe) -> None:
    log: list[str] = []
    _types(log)
    storage = Part()
    storage.level = 7  # memset: object_initialize zeroes what was there
    object_initialize(storage, 8, "t-part")
    assert (storage.ref, storage.state, storage.level, log) == (1, ObjectState.LIVE, 0, ["init level=0"])
    assert universe.live_instances("t-part") == 1 and universe.objects[storage.serial] is storage
    object_unref(storage)
    assert storage.state is ObjectState.FINALIZED and log[-1] == "fin part"
    object_initialize(storage, 8, "t-part")  # the storage may hold a new object after finalize
    assert storage.ref == 1 and storage.state.value == "live"
    with pytest.raises(QOMFatal, match=r"^object_initialize: the storage holds live object "):
        object_initialize(storage, 8, "t-part")
    object_unref(storage)


def test_object_initialize_asserts_as_c(universe: Universe) -> None:
    _types([])
    with pytest.raises(QOMFatal, match=r"^unknown type 't-nope'$"):
        object_initialize(Part(), 8, "t-nope")
    with pytest.raises(QOMFatal, match=r"^assertion failed: \(size >= type->instance_size\)$"):
        object_initialize(Part(), 4, "t-part")
    with pytest.raises(QOMFatal, match=r"^assertion failed: \(size >= type->instance_size\)$"):
        object_initialize(Object(), 64, "t-part")  # storage of a smaller struct
    type_register_static(TypeInfo(name="t-abs", parent="object", abstract=True))
    with pytest.raises(QOMFatal, match=r"^assertion failed: \(type->abstract == false\)$"):
        object_initialize(Object(), 64, "t-abs")


def test_object_initialize_child_leaves_one_reference_the_parents(universe: Universe) -> None:
    log: list[str] = []
    _types(log)
    board = object_new("t-board")
    assert isinstance(board, Board)
    assert board.part.ref == 1 and board.part.parent is board
    assert qom.object_get_canonical_path_component(board.part) == "part"
    assert object_property_get(board, "part") == ""  # the board itself is not in the tree
    qom.object_property_add_child(object_get_root(), "board", board)
    assert object_property_get(board, "part") == "/board/part"
    object_unref(board)
    qom.object_unparent(board)  # finalizes the board, whose child<> release finalizes the part
    assert board.part.state is ObjectState.FINALIZED and log[-1] == "fin part"
    b2 = object_new("t-board")
    with pytest.raises(QOMFatal, match=r"^attempt to add duplicate property 'part' to object "):
        object_initialize_child(b2, "part", Part(), "t-part")


def test_object_initialize_child_with_props_failure_leaves_no_reference(universe: Universe) -> None:
    log: list[str] = []
    _types(log)
    parent = object_new("container")
    part = Part()
    # object_set_propv parses strings (string input visitor: every unsigned width says uint64)
    with pytest.raises(GenericError, match=r"^Parameter 'level' expects uint64$"):
        object_initialize_child_with_props(parent, "p", part, 8, "t-part", {"level": "x"})
    assert part.state is ObjectState.FINALIZED and part.parent is None  # 0 references on failure
    assert qom.object_property_find(parent, "p") is None
    ok = Part()
    object_initialize_child_with_props(parent, "p", ok, 8, "t-part", {"level": "5"})
    assert (ok.ref, ok.level, ok.parent) == (1, 5, parent)  # 1 reference (the parent's) on success
    object_unref(parent)


def test_object_initialize_child_with_props_completes_user_creatables(universe: Universe) -> None:
    def complete(o: Object) -> None:
        raise GenericError("not complete")

    def class_init(k: ObjectClass, _d: Any) -> None:
        ucc = qom.object_class_dynamic_cast(k, TYPE_USER_CREATABLE)
        assert isinstance(ucc, qom.UserCreatableClass)
        ucc.complete = complete

    type_register_static(TypeInfo(name="t-uc", parent="object", instance_size=8, instance_type=Part,
                                  class_init=class_init, interfaces=(TYPE_USER_CREATABLE,)))
    parent = object_new("container")
    child = Part()
    with pytest.raises(GenericError, match=r"^not complete$"):
        object_initialize_child_with_props(parent, "u", child, 8, "t-uc", {})
    # object_unparent then object_unref: nothing left
    assert child.state is ObjectState.FINALIZED and qom.object_property_find(parent, "u") is None
    with pytest.raises(QOMFatal, match=r"^not complete$"):
        object_initialize_child(parent, "u", Part(), "t-uc")  # error_abort
    object_unref(parent)


def _device(fail: bool) -> None:
    def realize(dev: DeviceState) -> None:
        if fail:
            raise GenericError("t-dev: cannot realize")

    def class_init(k: ObjectClass, _d: Any) -> None:
        assert isinstance(k, DeviceClass)
        k.realize = realize

    type_register_static(TypeInfo(name="t-dev", parent=TYPE_DEVICE, class_init=class_init))


def test_qdev_realize_and_unref_success_leaves_the_parents_reference(universe: Universe) -> None:
    _device(fail=False)
    dev = qdev_new("t-dev")
    qdev_realize_and_unref(dev, None)
    assert dev.realized and dev.ref == 1  # held by /machine/unattached only
    assert qom.object_get_canonical_path(dev) == "/machine/unattached/device[0]"


def test_qdev_realize_and_unref_failure_finalizes(universe: Universe) -> None:
    _device(fail=True)
    dev = qdev_new("t-dev")
    with pytest.raises(GenericError, match=r"^t-dev: cannot realize$"):
        qdev_realize_and_unref(dev, None)
    # device_set_realized unparents from /machine/unattached on failure; the unref finalizes
    assert dev.state is ObjectState.FINALIZED and universe.live_instances("t-dev") == 0
    dev2 = qdev_new("t-dev")  # and gives its device[N] name back
    with pytest.raises(GenericError):
        qom.qdev_realize(dev2, None)
    assert dev2.parent is None and universe.unattached_count == 0
    object_unref(dev2)


def test_object_property_get_type(universe: Universe) -> None:
    obj = object_new("container")
    qom.object_property_add_child(obj, "kid", object_new("container"))
    assert object_property_get_type(obj, "type") == "string"
    assert object_property_get_type(obj, "kid") == "child<container>"
    with pytest.raises(GenericError, match=r"^Property 'container\.nope' not found$"):
        object_property_get_type(obj, "nope")


@pytest.mark.parametrize(("args", "line"), [
    # " - " then the (empty) description then " (default: ...)": QEMU prints two spaces
    (("level", "uint8", None, None), "  level=<uint8>"),
    (("level", "uint8", 3, None), "  level=<uint8>          -  (default: 3)"),
    (("on", "bool", True, "a flag"), "  on=<bool>              - a flag (default: on)"),
    (("on", "bool", False, None), "  on=<bool>              -  (default: off)"),
    (("label", "str", "x y", None), "  label=<str>            -  (default: x y)"),
    (("l", "list", [1, "a"], "d"), '  l=<list>               - d (default: [1, "a"])'),
    (("a-very-long-property-name", "uint64", None, "long"), "  a-very-long-property-name=<uint64> - long"),
])
def test_object_property_help_formats_as_qemu(args: tuple[str, str, Any, str | None], line: str) -> None:
    assert object_property_help(*args) == line


def test_flag_constants_have_cs_values_and_ints_work(universe: Universe) -> None:
    assert (OBJ_PROP_FLAG_READ.value, OBJ_PROP_FLAG_WRITE.value, OBJ_PROP_FLAG_READWRITE.value) == (1, 2, 3)
    assert (OBJ_PROP_LINK_STRONG.value, OBJ_PROP_LINK_DIRECT.value, OBJ_PROP_LINK_CLASS.value) == (1, 2, 4)
    obj = Part()
    object_initialize(obj, 8, "container") if False else None
    o = object_new("container")
    setattr(o, "v", 4)  # noqa: B010
    p = qom.object_property_add_uint8_ptr(o, "v", "v", 1)  # OBJ_PROP_FLAG_READ as an int
    assert p.set is None and object_property_get(o, "v") == 4
    # add_link(..., None, 0): a read-only weak link
    setattr(o, "lnk", None)  # noqa: B010
    link = qom.object_property_add_link(o, "l", "object", "lnk", None, 0)
    assert (link.type, link.set, object_property_get(o, "l")) == ("link<object>", None, "")
    with pytest.raises(GenericError, match=r"^Property 'container\.l' is not writable$"):
        qom.object_property_set_link(o, "l", o)
    const = qom.object_property_add_const_link(o, "c", object_get_root())
    assert OBJ_PROP_LINK_DIRECT in const.opaque.flags
    object_unref(o)
