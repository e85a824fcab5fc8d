"""The composition tree: ``child<>``, ``link<>``, aliases, containers, root, paths.

Spec §3.4-§3.5 and §4.5-§4.6; QEMU's ``qom/object.c`` and ``qom/container.c``.

One concept, kept whole: children, links and aliases are the edges of one graph, and path resolution,
canonical paths and unparent walk exactly those edges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Flag

from qom.errors import DeviceNotFound, GenericError, QOMError, QOMFatal
from qom.object import (
    Object,
    check_live,
    check_table,
    object_dynamic_cast,
    object_get_typename,
    object_new,
    object_ref,
    object_unref,
)
from qom.property import (
    ObjectProperty,
    object_class_property_add,
    object_property_add,
    object_property_find,
    object_property_find_err,
    object_property_get_visitor,
    object_property_parse,
    object_property_set_description,
    object_property_set_visitor,
    object_property_try_add,
)
from qom.types import TYPE_OBJECT, ObjectClass, TypeInfo, object_class_by_name, type_register_static
from qom.universe import EventKind, Universe, current_universe
from qom.visitor import Visitor

__all__ = [
    "OBJ_PROP_LINK_CLASS",
    "OBJ_PROP_LINK_DIRECT",
    "OBJ_PROP_LINK_STRONG",
    "TYPE_CONTAINER",
    "LinkCheck",
    "ObjectPropertyLinkFlags",
    "object_child_foreach",
    "object_child_foreach_recursive",
    "object_class_property_add_link",
    "object_get_canonical_path",
    "object_get_canonical_path_component",
    "object_get_container",
    "object_get_internal_root",
    "object_get_objects_root",
    "object_get_root",
    "object_new_with_props",
    "object_property_add_alias",
    "object_property_add_child",
    "object_property_add_const_link",
    "object_property_add_link",
    "object_property_allow_set_link",
    "object_property_get_link",
    "object_property_is_child",
    "object_property_is_link",
    "object_property_set_link",
    "object_property_try_add_child",
    "object_resolve_path",
    "object_resolve_path_ambiguous",
    "object_resolve_path_at",
    "object_resolve_path_component",
    "object_resolve_path_type",
    "object_resolve_type_unambiguous",
    "object_unparent",
]

TYPE_CONTAINER = "container"
#: root containers created with the root since QEMU commit 5cfd38a2e7
ROOT_CONTAINERS = ("audiodevs", "chardevs", "objects", "backend")


class ObjectPropertyLinkFlags(Flag):
    """``ObjectPropertyLinkFlags``: ``STRONG`` links hold a reference on their target; the
    private ``DIRECT`` (a const link holds its target itself) and ``CLASS`` (a class link) are
    set by the adders, as ``qom/object.c`` does."""

    NONE = 0
    STRONG = 1
    DIRECT = 2
    CLASS = 4


#: ``include/qom/object.h``'s names for the flags
OBJ_PROP_LINK_STRONG = ObjectPropertyLinkFlags.STRONG
OBJ_PROP_LINK_DIRECT = ObjectPropertyLinkFlags.DIRECT
OBJ_PROP_LINK_CLASS = ObjectPropertyLinkFlags.CLASS

#: link check hook ``(obj, name, new_target)``; raises QOMError to veto
LinkCheck = Callable[[Object, str, "Object | None"], None]


def register_builtin_types() -> None:
    """Register ``container`` (``qom/container.c``) in the current universe."""
    type_register_static(TypeInfo(name=TYPE_CONTAINER, parent=TYPE_OBJECT))


def _obj(obj: object, what: str = "obj") -> Object:
    if not isinstance(obj, Object):
        raise TypeError(f"{what} must be an Object, not {type(obj).__name__}")
    return obj


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


# -- child<> ----------------------------------------------------------------------------------------


def object_property_is_child(prop: ObjectProperty) -> bool:
    """:param prop: a property.
    :return: whether it is a ``child<>`` property."""
    return prop.type.startswith("child<")


def object_property_is_link(prop: ObjectProperty) -> bool:
    """:param prop: a property.
    :return: whether it is a ``link<>`` property."""
    return prop.type.startswith("link<")


def _get_child(obj: Object, v: Visitor, name: str, child: Object) -> None:
    v.type_str(name, object_get_canonical_path(child))


def _resolve_child(obj: Object, child: Object, part: str) -> Object:
    return child


def _release_child(obj: Object, name: str, child: Object) -> None:
    unparent = child.klass.unparent
    if unparent is not None:
        unparent(child)
    child.parent = None
    child.child_name = None
    u = obj.universe
    if u.listeners:
        u.emit(EventKind.CHILD_REMOVED, obj, obj.klass.type.name, name)
    object_unref(child)


def object_property_try_add_child(obj: Object, name: str, child: Object) -> ObjectProperty:
    """Make ``child`` a child of ``obj`` under ``name``; the parent takes a reference.

    :param obj: the parent.
    :param name: the property name (``[*]`` suffix allowed).
    :param child: an object without a parent.
    :return: the ``child<TYPE>`` property.
    :raise GenericError: on a duplicate name.
    :raise QOMFatal: when ``child`` already has a parent.
    """
    check_table(obj, "object_property_try_add_child")
    check_live(child, "object_property_try_add_child", "child")
    _str(name, "name")
    if child.parent is not None:
        raise QOMFatal("assertion failed: (!child->parent)")
    prop = object_property_try_add(
        obj, name, f"child<{object_get_typename(child)}>", _get_child, None, _release_child, child
    )
    prop.resolve = _resolve_child
    object_ref(child)
    child.parent = obj
    child.child_name = prop.name
    u = obj.universe
    if u.listeners:
        u.emit(EventKind.CHILD_ADDED, obj, obj.klass.type.name, prop.name)
    return prop


def object_property_add_child(obj: Object, name: str, child: Object) -> ObjectProperty:
    """As :func:`object_property_try_add_child`, but a duplicate is fatal.

    :param obj: the parent.
    :param name: the property name.
    :param child: an object without a parent.
    :return: the property.
    :raise QOMFatal: on a duplicate name or a child that has a parent.
    """
    try:
        return object_property_try_add_child(obj, name, child)
    except QOMError as err:
        raise QOMFatal(err.desc) from None


def object_unparent(obj: Object) -> None:
    """Remove ``obj`` from its parent (release, then delete the child property).

    :param obj: the object; nothing happens without a parent.
    """
    check_live(obj, "object_unparent")
    parent = obj.parent
    if parent is None:
        return
    name = obj.child_name
    prop = parent.properties.get(name) if name is not None else None
    if prop is None or prop.opaque is not obj:
        raise QOMFatal("object_unparent: parent has no child property for the object")
    release = prop.release
    if release is not None:
        prop.release = None
        release(parent, prop.name, obj)
    if parent.properties.get(prop.name) is prop:
        del parent.properties[prop.name]
        parent.prop_generation += 1
        u = parent.universe
        if u.listeners:
            u.emit(EventKind.PROPERTY_REMOVED, parent, parent.klass.type.name, prop.name)


def object_child_foreach(obj: Object, fn: Callable[[Object], int]) -> int:
    """Call ``fn`` on each child until it returns non-zero.

    :param obj: the parent.
    :param fn: the callback.
    :return: the first non-zero result, else 0.
    """
    for prop in list(check_table(obj, "object_child_foreach").properties.values()):
        if object_property_is_child(prop):
            ret = fn(prop.opaque)
            if ret:
                return ret
    return 0


def object_child_foreach_recursive(obj: Object, fn: Callable[[Object], int]) -> int:
    """As :func:`object_child_foreach`, depth first over all descendants.

    :param obj: the root of the walk (not visited itself).
    :param fn: the callback.
    :return: the first non-zero result, else 0.
    """
    for prop in list(check_table(obj, "object_child_foreach_recursive").properties.values()):
        if object_property_is_child(prop):
            ret = fn(prop.opaque)
            if ret:
                return ret
            ret = object_child_foreach_recursive(prop.opaque, fn)
            if ret:
                return ret
    return 0


# -- root, containers, paths ---------------------------------------------------------------------


def _universe_root(u: Universe) -> Object:
    root = u.root
    if root is None:
        from qom.universe import use_universe

        with use_universe(u):
            root = object_new(TYPE_CONTAINER)
            u.root = root
            for name in ROOT_CONTAINERS:
                c = object_new(TYPE_CONTAINER)
                object_property_add_child(root, name, c)
                object_unref(c)
    return root


def object_get_root() -> Object:
    """:return: the root container of the current universe (created with its four children)."""
    return _universe_root(current_universe())


def object_get_container(name: str) -> Object:
    """:param name: a child of the root.
    :return: that container.
    :raise QOMFatal: when it is missing or not a container."""
    c = object_resolve_path_component(object_get_root(), _str(name, "name"))
    if c is None or object_dynamic_cast(c, TYPE_CONTAINER) is None:
        raise QOMFatal("assertion failed: (object_dynamic_cast(container, TYPE_CONTAINER))")
    return c


def object_get_objects_root() -> Object:
    """:return: ``/objects``."""
    return object_get_container("objects")


def object_get_internal_root() -> Object:
    """:return: a container outside the tree (its descendants have no canonical path)."""
    u = current_universe()
    if u.internal_root is None:
        u.internal_root = object_new(TYPE_CONTAINER)
    return u.internal_root


def object_get_canonical_path_component(obj: Object) -> str | None:
    """:param obj: the object.
    :return: the name of the child property of its parent that holds it, or ``None``."""
    if check_live(obj, "object_get_canonical_path_component").parent is None:
        return None
    return obj.child_name


def object_get_canonical_path(obj: Object) -> str | None:
    """:param obj: the object.
    :return: ``/a/b/...`` up to the root, ``"/"`` for the root, ``None`` when detached."""
    check_live(obj, "object_get_canonical_path")
    root = obj.universe.root
    if obj is root:
        return "/"
    parts: list[str] = []
    o: Object | None = obj
    while o is not root:
        if o is None or o.parent is None or o.child_name is None:
            return None
        parts.append(o.child_name)
        o = o.parent
    return "/" + "/".join(reversed(parts))


def object_resolve_path_component(parent: Object, part: str) -> Object | None:
    """Follow one path component (child, link or alias).

    :param parent: where to start.
    :param part: a property name.
    :return: the target, or ``None``.
    """
    check_live(parent, "object_resolve_path_component", "parent")
    prop = object_property_find(parent, _str(part, "part"))
    if prop is None or prop.resolve is None:
        return None
    return prop.resolve(parent, prop.opaque, part)


def _resolve_abs(parent: Object, parts: list[str], typename: str) -> Object | None:
    obj: Object | None = parent
    for part in parts:
        if part == "":
            continue
        assert obj is not None  # loop invariant
        obj = object_resolve_path_component(obj, part)
        if obj is None:
            return None
    return object_dynamic_cast(obj, typename)


def _resolve_partial(parent: Object, parts: list[str], typename: str) -> tuple[Object | None, bool]:
    obj = _resolve_abs(parent, parts, typename)
    for prop in list(parent.properties.values()):
        if not object_property_is_child(prop):
            continue
        found, ambiguous = _resolve_partial(prop.opaque, parts, typename)
        if ambiguous:
            return None, True
        if found is not None:
            if obj is not None:
                return None, True
            obj = found
    return obj, False


def _split(path: str) -> list[str]:
    return [] if path == "" else path.split("/")


def object_resolve_path_ambiguous(path: str, typename: str = TYPE_OBJECT) -> tuple[Object | None, bool]:
    """Resolve an absolute or partial path (spec §3.5).

    :param path: ``/a/b`` (absolute) or ``b`` (partial: matched from every tree object).
    :param typename: the type the result must cast to.
    :return: ``(object, ambiguous)``; a partial path matching twice gives ``(None, True)``.
    """
    _str(path, "path")
    _str(typename, "typename")
    root = object_get_root()
    parts = _split(path)
    if not parts or parts[0] != "":
        return _resolve_partial(root, parts, typename)
    return _resolve_abs(root, parts[1:], typename), False


def object_resolve_path_type(path: str, typename: str) -> Object | None:
    """:param path: an absolute or partial path.
    :param typename: the type the result must cast to.
    :return: the object, or ``None`` (also when ambiguous)."""
    return object_resolve_path_ambiguous(path, typename)[0]


def object_resolve_path(path: str) -> Object | None:
    """:param path: an absolute or partial path.
    :return: the object, or ``None`` (also when ambiguous)."""
    return object_resolve_path_ambiguous(path, TYPE_OBJECT)[0]


def object_resolve_type_unambiguous(typename: str) -> Object:
    """Find the only object of a type in the tree.

    :param typename: the type.
    :return: the object.
    :raise GenericError: "More than one object of type %s" / "No object found of type %s".
    """
    obj, ambiguous = object_resolve_path_ambiguous("", typename)
    if ambiguous:
        raise GenericError(f"More than one object of type {typename}")
    if obj is None:
        raise GenericError(f"No object found of type {typename}")
    return obj


def object_resolve_path_at(parent: Object, path: str) -> Object | None:
    """:param parent: the start for a relative path.
    :param path: ``/...`` is absolute, anything else is walked from ``parent``.
    :return: the object, or ``None``."""
    check_live(parent, "object_resolve_path_at", "parent")
    _str(path, "path")
    parts = _split(path)
    if path.startswith("/"):
        return _resolve_abs(object_get_root(), parts[1:], TYPE_OBJECT)
    return _resolve_abs(parent, parts, TYPE_OBJECT)


# -- link<> ------------------------------------------------------------------------------------


class _Link:
    """Opaque of a link property: where the target lives and how it is checked."""

    __slots__ = ("attr", "check", "flags", "target", "typename")

    def __init__(
        self, typename: str, attr: str | None, check: LinkCheck | None, flags: ObjectPropertyLinkFlags
    ) -> None:
        self.typename = typename
        self.attr = attr
        self.check = check
        self.flags = flags
        self.target: Object | None = None  # const links only

    def load(self, obj: Object) -> Object | None:
        if self.attr is None:
            return self.target
        value: Object | None = getattr(obj, self.attr, None)
        return value


def _get_link(obj: Object, v: Visitor, name: str, link: _Link) -> None:
    target = link.load(obj)
    v.type_str(name, (object_get_canonical_path(target) or "") if target is not None else "")


def _resolve_link_path(name: str, path: str, typename: str) -> Object:
    target, ambiguous = object_resolve_path_ambiguous(path, typename)
    if ambiguous:
        raise GenericError(f"Path '{path}' does not uniquely identify an object")
    if target is None:
        other, ambiguous = object_resolve_path_ambiguous(path, TYPE_OBJECT)
        if other is not None or ambiguous:
            raise GenericError(f"Invalid parameter type for '{name}', expected: {typename}")
        raise DeviceNotFound(f"Device '{path}' not found")
    return target


def _set_link(obj: Object, v: Visitor, name: str, link: _Link) -> None:
    old_target = link.load(obj)
    path = v.type_str(name)
    new_target: Object | None = None
    if path:
        from qom.universe import use_universe

        with use_universe(obj.universe):
            new_target = _resolve_link_path(name, path, link.typename)
    assert link.check is not None and link.attr is not None  # only settable links get here
    link.check(obj, name, new_target)
    setattr(obj, link.attr, new_target)
    if ObjectPropertyLinkFlags.STRONG in link.flags:
        if new_target is not None:
            object_ref(new_target)
        if old_target is not None:
            object_unref(old_target)


def _resolve_link(obj: Object, link: _Link, part: str) -> Object | None:
    return link.load(obj)


def _release_link(obj: Object, name: str, link: _Link) -> None:
    if ObjectPropertyLinkFlags.STRONG in link.flags:
        target = link.load(obj)
        if target is not None:
            object_unref(target)


def _link_args(
    typename: str, attr: str, check: LinkCheck | None, flags: ObjectPropertyLinkFlags | int
) -> _Link:
    _str(typename, "typename")
    _str(attr, "attr")
    if check is not None and not callable(check):
        raise TypeError("check must be callable or None")
    if type(flags) is int and 0 <= flags <= 7:
        flags = ObjectPropertyLinkFlags(flags)  # C callers pass the OBJ_PROP_LINK_* ints (or 0)
    if not isinstance(flags, ObjectPropertyLinkFlags):
        raise TypeError(f"flags must be ObjectPropertyLinkFlags, not {type(flags).__name__}")
    return _Link(typename, attr, check, flags)


def object_property_add_link(
    obj: Object,
    name: str,
    typename: str,
    attr: str,
    check: LinkCheck | None,
    flags: ObjectPropertyLinkFlags | int,
) -> ObjectProperty:
    """Add a ``link<TYPE>`` property whose target is stored in ``obj.<attr>``.

    :param obj: the object.
    :param name: the property name.
    :param typename: the target type.
    :param attr: the instance attribute holding the target.
    :param check: vetoes a new target by raising; ``None`` makes the link read-only.
    :param flags: ``STRONG`` links hold a reference (``OBJ_PROP_LINK_*``, or their int values, ``0``).
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    link = _link_args(typename, attr, check, flags)
    prop = object_property_add(
        obj, name, f"link<{typename}>", _get_link, _set_link if check else None, _release_link, link
    )
    prop.resolve = _resolve_link
    return prop


def object_class_property_add_link(
    klass: ObjectClass,
    name: str,
    typename: str,
    attr: str,
    check: LinkCheck | None,
    flags: ObjectPropertyLinkFlags | int,
) -> ObjectProperty:
    """Class form of :func:`object_property_add_link` (each instance stores its own target).

    :param klass: the class.
    :param name: the property name.
    :param typename: the target type.
    :param attr: the instance attribute holding the target.
    :param check: vetoes a new target; ``None`` makes the link read-only.
    :param flags: ``STRONG`` links hold a reference (``OBJ_PROP_LINK_*``, or their int values, ``0``).
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    link = _link_args(typename, attr, check, flags)
    link.flags |= ObjectPropertyLinkFlags.CLASS
    prop = object_class_property_add(
        klass, name, f"link<{typename}>", _get_link, _set_link if check else None, _release_link, link
    )
    prop.resolve = _resolve_link
    return prop


def object_property_add_const_link(obj: Object, name: str, target: Object) -> ObjectProperty:
    """Add a read-only ``link<TARGET-TYPE>`` that holds ``target`` directly (no reference).

    :param obj: the object.
    :param name: the property name.
    :param target: the target.
    :return: the property.
    :raise QOMFatal: on a duplicate.
    """
    check_live(target, "object_property_add_const_link", "target")
    link = _Link(object_get_typename(target), None, None, ObjectPropertyLinkFlags.DIRECT)
    link.target = target
    prop = object_property_add(obj, name, f"link<{object_get_typename(target)}>", _get_link, None, None, link)
    prop.resolve = _resolve_link
    return prop


def object_property_allow_set_link(obj: Object, name: str, target: Object | None) -> None:
    """The always-allow link check.

    :param obj: the object.
    :param name: the property.
    :param target: the new target.
    :raise TypeError: when an argument has the wrong type.
    """
    _obj(obj, "object_property_allow_set_link(): obj")
    _str(name, "object_property_allow_set_link(): name")
    if target is not None:
        _obj(target, "object_property_allow_set_link(): target")


def object_property_set_link(obj: Object, name: str, target: Object | None) -> None:
    """Point a link at ``target`` by writing its canonical path (``""`` for none or no path).

    :param obj: the object.
    :param name: the link property.
    :param target: the new target.
    :raise QOMError: as the link setter.
    """
    from qom.property import object_property_set_str

    if target is not None:
        check_live(target, "object_property_set_link", "target")
    path = object_get_canonical_path(target) if target is not None else None
    object_property_set_str(obj, name, path or "")


def object_property_get_link(obj: Object, name: str) -> Object | None:
    """Read a link property and resolve its path.

    :param obj: the object.
    :param name: the link property.
    :return: the target, or ``None`` when empty.
    :raise DeviceNotFound: "Device '%s' not found" when the stored path no longer resolves.
    """
    from qom.property import object_property_get_str

    path = object_property_get_str(obj, name)
    if not path:
        return None
    target = object_resolve_path(path)
    if target is None:
        raise DeviceNotFound(f"Device '{path}' not found")
    return target


# -- alias ---------------------------------------------------------------------------------------------


class _Alias:
    __slots__ = ("target_name", "target_obj")

    def __init__(self, target_obj: Object, target_name: str) -> None:
        self.target_obj = target_obj
        self.target_name = target_name


def _get_alias(obj: Object, v: Visitor, name: str, alias: _Alias) -> None:
    object_property_get_visitor(alias.target_obj, alias.target_name, v)


def _set_alias(obj: Object, v: Visitor, name: str, alias: _Alias) -> None:
    object_property_set_visitor(alias.target_obj, alias.target_name, v)


def _resolve_alias(obj: Object, alias: _Alias, part: str) -> Object | None:
    return object_resolve_path_component(alias.target_obj, alias.target_name)


def object_property_add_alias(obj: Object, name: str, target_obj: Object, target_name: str) -> ObjectProperty:
    """Add ``name`` on ``obj`` forwarding to ``target_obj.target_name`` (no reference held).

    :param obj: the object.
    :param name: the alias name.
    :param target_obj: the object holding the real property.
    :param target_name: the real property.
    :return: the alias property (a ``child<X>`` target is exposed as ``link<X>``); it always has
        a getter and a setter, which report the target's "not readable/writable" errors.
    :raise QOMFatal: when the target property does not exist, or on a duplicate.
    """
    check_live(obj, "object_property_add_alias")
    check_live(target_obj, "object_property_add_alias", "target_obj")
    _str(name, "name")
    _str(target_name, "target_name")
    try:
        target = object_property_find_err(target_obj, target_name)
    except QOMError as err:
        raise QOMFatal(err.desc) from None
    prop_type = "link" + target.type[len("child") :] if object_property_is_child(target) else target.type
    prop = object_property_add(
        obj,
        name,
        prop_type,
        _get_alias,
        _set_alias,
        None,
        _Alias(target_obj, target_name),
    )
    prop.resolve = _resolve_alias
    prop.defval = target.defval
    object_property_set_description(obj, prop.name, target.description)
    return prop


# -- object_new_with_props ------------------------------------------------------------------------------


def object_new_with_props(
    typename: str, parent: Object | None, id: str | None, props: Mapping[str, str] | None = None
) -> Object:
    """Create, set string properties, attach as ``parent/id``, complete; the parent owns it.

    :param typename: the type.
    :param parent: the parent (``None``: not attached; the caller then owns the reference).
    :param id: the child name.
    :param props: property name -> string value (string input visitor).
    :return: the object.
    :raise GenericError: "invalid object type: %s", "object type '%s' is abstract", or a setter's or
        ``complete``'s error (the object is then gone).
    :raise QOMFatal: on a duplicate ``id``.
    :raise TypeError: when an argument has the wrong type (nothing is created then).
    """
    from qom.user_creatable import TYPE_USER_CREATABLE, user_creatable_complete

    _str(typename, "typename")
    if parent is not None:
        _obj(parent, "parent")
    if id is not None:
        _str(id, "id")
    if props is not None and not isinstance(props, Mapping):
        raise TypeError(
            f"object_new_with_props(): props must be a mapping or None, not {type(props).__name__}"
        )
    items = dict(props or {})
    for key, value in items.items():
        _str(key, "property name")
        _str(value, "property value")
    klass = object_class_by_name(typename)
    if klass is None:
        raise GenericError(f"invalid object type: {typename}")
    if klass.type.abstract:
        raise GenericError(f"object type '{typename}' is abstract")
    obj = object_new(typename)
    try:
        for key, value in items.items():
            object_property_parse(obj, key, value)
    except QOMError:
        object_unref(obj)
        raise
    if id is not None and parent is not None:
        object_property_add_child(parent, id, obj)
    if object_dynamic_cast(obj, TYPE_USER_CREATABLE) is not None:
        try:
            user_creatable_complete(obj)
        except QOMError:
            if id is not None and parent is not None:
                object_unparent(obj)
            object_unref(obj)
            raise
    if parent is not None and id is not None:
        object_unref(obj)
    return obj
