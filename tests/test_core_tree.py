"""The composition tree, paths, links and aliases (spec §3.4-§3.5, §4.5-§4.6)."""

from __future__ import annotations

from typing import Any

import pytest

from qom import (
    OBJ_PROP_LINK_STRONG,
    DeviceNotFound,
    GenericError,
    Object,
    ObjectClass,
    ObjectPropertyLinkFlags,
    QOMError,
    QOMFatal,
    TypeInfo,
    Universe,
    object_child_foreach,
    object_child_foreach_recursive,
    object_class_property_add_link,
    object_get_canonical_path,
    object_get_canonical_path_component,
    object_get_container,
    object_get_internal_root,
    object_get_objects_root,
    object_get_root,
    object_new,
    object_new_with_props,
    object_property_add_alias,
    object_property_add_bool,
    object_property_add_child,
    object_property_add_const_link,
    object_property_add_link,
    object_property_allow_set_link,
    object_property_find,
    object_property_get,
    object_property_get_link,
    object_property_set,
    object_property_set_default_bool,
    object_property_set_link,
    object_property_try_add_child,
    object_resolve_path,
    object_resolve_path_ambiguous,
    object_resolve_path_at,
    object_resolve_path_component,
    object_resolve_path_type,
    object_resolve_type_unambiguous,
    object_unparent,
    object_unref,
    type_register_static,
)


def _child(parent: Object, name: str, typename: str = "container") -> Object:
    c = object_new(typename)
    object_property_add_child(parent, name, c)
    object_unref(c)
    return c


def test_root_and_containers(universe: Universe) -> None:
    root = object_get_root()
    assert object_get_canonical_path(root) == "/"
    for name in ("audiodevs", "chardevs", "objects", "backend"):
        c = object_get_container(name)
        assert object_get_canonical_path(c) == f"/{name}"
    assert object_get_objects_root() is object_get_container("objects")
    with pytest.raises(QOMFatal):
        object_get_container("machine")  # not a container
    internal = object_get_internal_root()
    kid = _child(internal, "hidden")
    assert object_get_canonical_path(internal) is None
    assert object_get_canonical_path(kid) is None
    assert object_get_canonical_path_component(kid) == "hidden"
    assert object_get_canonical_path_component(root) is None


def test_machine_none_layout(universe: Universe) -> None:
    paths = dict(universe.snapshot().tree)
    assert paths["/machine"] == "none-machine"
    for name in ("unattached", "peripheral", "peripheral-anon"):
        assert paths[f"/machine/{name}"] == "container"
    assert paths["/machine/unattached/sysbus"] == "System"


def test_child_refs_and_unparent_order(universe: Universe) -> None:
    log: list[str] = []

    def class_init(k: ObjectClass, d: Any) -> None:
        def unparent(o: Object) -> None:
            log.append(f"unparent parent={o.parent is not None} ref={o.ref}")

        k.unparent = unparent

    type_register_static(
        TypeInfo(
            name="kid",
            parent="container",
            class_init=class_init,
            instance_finalize=lambda o: log.append("finalize"),
        )
    )
    parent = _child(object_get_root(), "p")
    child = object_new("kid")
    prop = object_property_add_child(parent, "k", child)
    assert prop.type == "child<kid>" and prop.set is None and child.ref == 2
    assert child.parent is parent
    assert object_property_get(parent, "k") == "/p/k"
    with pytest.raises(QOMFatal):
        object_property_add_child(object_get_root(), "again", child)  # already has a parent
    object_unref(child)
    object_unparent(child)
    assert log == ["unparent parent=True ref=1", "finalize"]
    assert object_property_find(parent, "k") is None
    # the child was finalized by the unparent: a second one reads freed memory in C
    with pytest.raises(QOMFatal, match=r"^heap-use-after-free: object_unparent\(\) on object 'kid' #\d+, "
                       r"finalized by object_unref\(\) from object_unparent \(tree\.py:\d+\)$"):
        object_unparent(child)
    orphan = object_new("kid")
    object_unparent(orphan)  # no parent: no-op
    assert orphan.ref == 1
    object_unref(orphan)


def test_try_add_child_duplicate(universe: Universe) -> None:
    root = object_get_root()
    c = object_new("container")
    with pytest.raises(GenericError) as exc:
        object_property_try_add_child(root, "objects", c)
    assert exc.value.desc == "attempt to add duplicate property 'objects' to object (type 'container')"
    assert c.ref == 1 and c.parent is None
    object_unref(c)


def test_child_array_and_foreach(universe: Universe) -> None:
    p = _child(object_get_root(), "p")
    kids = [_child(p, "k[*]") for _ in range(3)]
    assert [object_get_canonical_path(k) for k in kids] == ["/p/k[0]", "/p/k[1]", "/p/k[2]"]
    _child(kids[0], "grand")
    seen: list[str] = []

    def visit(o: Object) -> int:
        seen.append(object_get_canonical_path(o) or "?")
        return 0

    assert object_child_foreach(p, visit) == 0
    assert sorted(seen) == ["/p/k[0]", "/p/k[1]", "/p/k[2]"]
    seen.clear()
    object_child_foreach_recursive(p, visit)
    assert sorted(seen) == ["/p/k[0]", "/p/k[0]/grand", "/p/k[1]", "/p/k[2]"]
    assert object_child_foreach(p, lambda o: 7) == 7


def test_absolute_and_partial_paths(universe: Universe) -> None:
    a = _child(object_get_root(), "a")
    b = _child(a, "b")
    uniq = _child(b, "uniq")
    assert object_resolve_path("/a/b") is b
    assert object_resolve_path("//a//b/") is b  # empty components are skipped
    assert object_resolve_path("/a/nope") is None
    assert object_resolve_path("/") is object_get_root()
    assert object_resolve_path("uniq") is uniq
    assert object_resolve_path("b/uniq") is uniq
    assert object_resolve_path_ambiguous("uniq") == (uniq, False)
    # "" matches every object: ambiguous
    assert object_resolve_path_ambiguous("") == (None, True)
    # typed partial lookup: exactly one none-machine
    machine = object_resolve_path("/machine")
    assert object_resolve_path_type("", "none-machine") is machine
    assert object_resolve_path_type("/a/b", "device") is None
    assert object_resolve_type_unambiguous("none-machine") is machine
    with pytest.raises(GenericError) as exc:
        object_resolve_type_unambiguous("container")
    assert exc.value.desc == "More than one object of type container"
    with pytest.raises(GenericError) as exc:
        object_resolve_type_unambiguous("device")
    assert exc.value.desc == "No object found of type device"
    assert object_resolve_path_at(a, "b/uniq") is uniq
    assert object_resolve_path_at(uniq, "/a") is a
    assert object_resolve_path_component(a, "b") is b
    assert object_resolve_path_component(a, "type") is None


def test_ambiguous_even_when_same_target(universe: Universe) -> None:
    a = _child(object_get_root(), "a")
    target = _child(a, "t")
    holder = _child(object_get_root(), "h")
    object_property_add_const_link(holder, "t", target)
    # /a/t and /h/t (a link) both resolve "t" from different starting points
    assert object_resolve_path_ambiguous("t") == (None, True)
    assert object_resolve_path("/h/t") is target


def _holder(universe: Universe) -> Object:
    type_register_static(TypeInfo(name="holder", parent="container"))
    return _child(object_get_root(), "holder", "holder")


def test_strong_link_set_order_and_refs(universe: Universe) -> None:
    holder = _holder(universe)
    t1 = _child(object_get_root(), "t1")
    t2 = _child(object_get_root(), "t2")
    calls: list[tuple[str, Object | None]] = []

    def check(o: Object, name: str, new: Object | None) -> None:
        calls.append((name, new))

    prop = object_property_add_link(holder, "l", "container", "lnk", check, OBJ_PROP_LINK_STRONG)
    assert prop.type == "link<container>"
    assert object_property_get(holder, "l") == ""
    object_property_set(holder, "l", "/t1")
    assert calls == [("l", t1)] and t1.ref == 2
    object_property_set_link(holder, "l", t2)
    assert t1.ref == 1 and t2.ref == 2
    assert object_property_get(holder, "l") == "/t2"
    assert object_property_get_link(holder, "l") is t2
    assert object_resolve_path("/holder/l") is t2
    object_property_set(holder, "l", "")
    assert t2.ref == 1 and object_property_get_link(holder, "l") is None
    object_property_set(holder, "l", "t1")  # partial paths work
    assert t1.ref == 2
    object_unparent(holder)  # release drops the strong reference
    assert t1.ref == 1


def test_link_errors(universe: Universe) -> None:
    holder = _holder(universe)
    _child(object_get_root(), "t1")
    _child(object_get_container("objects"), "t1")
    object_property_add_link(
        holder, "l", "container", "lnk", object_property_allow_set_link, OBJ_PROP_LINK_STRONG
    )
    object_property_add_link(
        holder, "dev", "device", "dlnk", object_property_allow_set_link, OBJ_PROP_LINK_STRONG
    )

    def error(prop: str, value: str) -> QOMError:
        with pytest.raises(QOMError) as exc:
            object_property_set(holder, prop, value)
        return exc.value

    err = error("l", "t1")
    assert (err.error_class, err.desc) == ("GenericError", "Path 't1' does not uniquely identify an object")
    err = error("dev", "/t1")
    assert (err.error_class, err.desc) == (
        "GenericError",
        "Invalid parameter type for 'dev', expected: device",
    )
    err = error("l", "/nowhere")
    assert isinstance(err, DeviceNotFound) and err.desc == "Device '/nowhere' not found"
    err = error("l", 3)  # type: ignore[arg-type]
    assert err.desc == "Invalid parameter type for 'l', expected: string"


def test_check_veto_keeps_old_target(universe: Universe) -> None:
    holder = _holder(universe)
    t1 = _child(object_get_root(), "t1")

    def veto(o: Object, name: str, new: Object | None) -> None:
        raise GenericError("vetoed")

    object_property_add_link(holder, "l", "container", "lnk", veto, OBJ_PROP_LINK_STRONG)
    with pytest.raises(GenericError, match=r"^vetoed$"):
        object_property_set(holder, "l", "/t1")
    assert t1.ref == 1 and getattr(holder, "lnk", None) is None


def test_weak_readonly_const_and_class_links(universe: Universe) -> None:
    def class_init(k: ObjectClass, d: Any) -> None:
        object_class_property_add_link(
            k, "cl", "container", "cl_target", object_property_allow_set_link, ObjectPropertyLinkFlags.STRONG
        )

    type_register_static(TypeInfo(name="with-class-link", parent="container", class_init=class_init))
    target = _child(object_get_root(), "tgt")
    a = _child(object_get_root(), "a", "with-class-link")
    b = _child(object_get_root(), "b", "with-class-link")
    object_property_set(a, "cl", "/tgt")
    object_property_set(b, "cl", "/tgt")
    assert target.ref == 3
    object_unparent(a)
    object_unparent(b)
    assert target.ref == 1  # released once per instance
    holder = _holder(universe)
    object_property_add_link(
        holder, "weak", "container", "w", object_property_allow_set_link, ObjectPropertyLinkFlags.NONE
    )
    object_property_set(holder, "weak", "/tgt")
    assert target.ref == 1
    ro = object_property_add_link(holder, "ro", "container", "r", None, OBJ_PROP_LINK_STRONG)
    assert ro.set is None
    with pytest.raises(GenericError, match="is not writable"):
        object_property_set(holder, "ro", "/tgt")
    c = object_property_add_const_link(holder, "const", target)
    assert c.type == "link<container>" and c.set is None and target.ref == 1
    assert object_property_get(holder, "const") == "/tgt"


def test_set_link_to_object_without_path_clears(universe: Universe) -> None:
    holder = _holder(universe)
    t = _child(object_get_root(), "t")
    object_property_add_link(
        holder, "l", "container", "lnk", object_property_allow_set_link, OBJ_PROP_LINK_STRONG
    )
    object_property_set_link(holder, "l", t)
    detached = object_new("container")
    object_property_set_link(holder, "l", detached)
    assert getattr(holder, "lnk", None) is None and t.ref == 1
    object_unref(detached)


def test_weak_link_to_detached_target_reads_empty(universe: Universe) -> None:
    holder = _holder(universe)
    t = _child(object_get_root(), "t")
    object_property_add_link(
        holder, "l", "container", "lnk", object_property_allow_set_link, ObjectPropertyLinkFlags.NONE
    )
    object_property_set(holder, "l", "/t")
    object_unparent(t)  # weak link: the target left the tree and was finalized (a dangling pointer in C)
    assert t.state.name == "FINALIZED"
    # reading the link follows the dangling pointer: the sanitizer reports it at the first touch
    with pytest.raises(QOMFatal, match=r"^heap-use-after-free: object_get_canonical_path\(\) on object "
                       r"'container' #\d+, finalized by object_unref\(\) from object_unparent"):
        object_property_get(holder, "l")
    assert [r.op for r in universe.sanitizer] == ["object_get_canonical_path"]
    object_property_set(holder, "l", "")  # pointing it elsewhere does not touch the old target
    assert object_property_get_link(holder, "l") is None


def test_alias(universe: Universe) -> None:
    holder = _holder(universe)
    src = _child(object_get_root(), "src")
    kid = _child(src, "kid")
    flag = {"v": False}

    def set_flag(o: Object, v: bool) -> None:
        flag["v"] = v

    p = object_property_add_bool(src, "flag", lambda o: flag["v"], set_flag)
    object_property_set_default_bool(p, True)
    p.description = "a flag"
    ref_before = src.ref
    alias = object_property_add_alias(holder, "aflag", src, "flag")
    assert src.ref == ref_before  # no reference on the target
    assert (alias.type, alias.defval, alias.description) == ("bool", True, "a flag")
    object_property_set(holder, "aflag", True)
    assert flag["v"] is True and object_property_get(holder, "aflag") is True
    child_alias = object_property_add_alias(holder, "akid", src, "kid")
    assert child_alias.type == "link<container>"
    with pytest.raises(GenericError) as exc:
        object_property_set(holder, "akid", "/src")
    assert exc.value.desc == "Property 'container.kid' is not writable"  # the target's error
    assert object_resolve_path("/holder/akid") is kid
    object_property_add_alias(holder, "atype", src, "type")
    assert object_property_get(holder, "atype") == "container"
    with pytest.raises(GenericError) as exc:
        object_property_set(holder, "atype", "x")
    assert exc.value.desc == "Property 'container.type' is not writable"
    with pytest.raises(QOMFatal):
        object_property_add_alias(holder, "bad", src, "nope")


def test_object_new_with_props(universe: Universe) -> None:
    flag = {"v": False}

    def init(o: Object) -> None:
        def set_flag(obj: Object, v: bool) -> None:
            flag["v"] = v

        object_property_add_bool(o, "flag", lambda obj: flag["v"], set_flag)

    type_register_static(TypeInfo(name="with-flag", parent="container", instance_init=init))
    objects = object_get_objects_root()
    obj = object_new_with_props("with-flag", objects, "f1", {"flag": "on"})
    assert flag["v"] is True and obj.ref == 1 and object_get_canonical_path(obj) == "/objects/f1"
    before = universe.snapshot()
    with pytest.raises(GenericError) as exc:
        object_new_with_props("with-flag", objects, "f2", {"flag": "maybe"})
    assert exc.value.desc == "Parameter 'flag' expects 'on' or 'off'"
    with pytest.raises(GenericError) as exc:
        object_new_with_props("no-such", objects, "f3")
    assert exc.value.desc == "invalid object type: no-such"
    with pytest.raises(GenericError) as exc:
        object_new_with_props("device", objects, "f3")
    assert exc.value.desc == "object type 'device' is abstract"
    after = universe.snapshot()
    assert after.tree == before.tree and after.live == before.live
    with pytest.raises(QOMFatal):
        object_new_with_props("with-flag", objects, "f1")  # duplicate id is fatal here


def test_deleting_the_strong_self_link_that_keeps_an_object_alive_is_fatal(universe: Universe) -> None:
    # object_property_del releases before it removes (qom/object.c): the release drops the last
    # reference, finalize releases the still-listed link again, and QEMU's refcount assertion
    # fires.  qom.strategies' state machine therefore never draws this program.
    from qom import object_property_del

    holder = _child(object_get_root(), "holder")
    check = object_property_allow_set_link
    object_property_add_link(holder, "me", "container", "lnk", check, OBJ_PROP_LINK_STRONG)
    object_property_set_link(holder, "me", holder)
    assert holder.ref == 2
    object_unparent(holder)
    assert holder.ref == 1
    with pytest.raises(QOMFatal, match=r"^assertion failed: \(obj->ref > 0\)$"):
        object_property_del(holder, "me")
