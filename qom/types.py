"""Types and classes: registration, lazy class initialization, interface classes, casts.

Follows ``qom/object.c`` (QEMU 10.2.50): a :class:`TypeInfo` is copied into a private
:class:`TypeImpl` at registration; nothing else happens until first use, when
``type_initialize`` builds the class in QEMU's order (spec §1.3).  ``ObjectClass``
instances *are* the classes; their Python type is ``TypeInfo.class_type``.

One concept, kept whole: registration, class initialization, interface classes and casts all read and
write the same ``TypeImpl`` table, in the order ``type_initialize`` fixes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qom.errors import QOMFatal
from qom.universe import Universe, current_universe

if TYPE_CHECKING:
    from qom.object import Object
    from qom.property import ObjectProperty

__all__ = [
    "TYPE_INTERFACE",
    "TYPE_OBJECT",
    "InterfaceClass",
    "ObjectClass",
    "TypeImpl",
    "TypeInfo",
    "object_class_by_name",
    "object_class_dynamic_cast",
    "object_class_dynamic_cast_assert",
    "object_class_foreach",
    "object_class_get_list",
    "object_class_get_list_sorted",
    "object_class_get_name",
    "object_class_get_parent",
    "object_class_implements",
    "object_class_is_abstract",
    "type_initialize",
    "type_register",
    "type_register_static",
    "type_register_static_array",
]

TYPE_OBJECT = "object"
TYPE_INTERFACE = "interface"

_MAX_INTERFACES = 32
_VALID_NAME = re.compile(r"[A-Za-z1-9][A-Za-z0-9._-]+\Z")


@dataclass
class TypeInfo:
    """What a type declares (C: ``TypeInfo``); see ``docs/architecture.md``."""

    name: str
    parent: str | None = None
    instance_size: int = 0
    abstract: bool = False
    class_init: Callable[[ObjectClass, Any], None] | None = None
    class_base_init: Callable[[ObjectClass, Any], None] | None = None
    class_data: Any = None
    instance_init: Callable[[Object], None] | None = None
    instance_post_init: Callable[[Object], None] | None = None
    instance_finalize: Callable[[Object], None] | None = None
    interfaces: Sequence[str] = ()
    class_type: type[ObjectClass] | None = None
    instance_type: type[Object] | None = None


class ObjectClass:
    """The base class struct.  One instance per initialized type.

    Fields: ``type`` (its :class:`TypeImpl`), ``interfaces`` (its interface classes),
    ``properties`` (its own class properties), ``unparent`` (hook run when an instance
    loses its parent), ``universe``.
    """

    type: TypeImpl
    universe: Universe

    def __init__(self) -> None:
        self.interfaces: list[InterfaceClass] = []
        self.properties: dict[str, ObjectProperty] = {}
        self.unparent: Callable[[Object], None] | None = None
        # caches (never copied to subclasses; reset in type_initialize)
        self._cast_cache: dict[str, ObjectClass] = {}
        self._lookup_gen = -1
        self._lookup: dict[str, ObjectProperty] = {}
        self._chain_props: tuple[ObjectProperty, ...] = ()
        self._init_props: tuple[ObjectProperty, ...] = ()
        self._release_props: tuple[ObjectProperty, ...] = ()
        # object_new's plan: (instance type, default steps, instance_init + post_init hooks)
        self._new_plan_gen = -1
        self._new_plan: Any = None
        # the class_generation at which object_unref may finalize an instance inline (no
        # instance_finalize, no release hook, not a singleton), else -1; set with the plan
        self._plain_finalize_gen = -1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type.name!r}{' abstract' if self.type.abstract else ''}>"

    def _refresh(self) -> None:
        """Rebuild the property lookup caches of this class's chain (QEMU walks it each time)."""
        lookup: dict[str, ObjectProperty] = {}
        chain: list[ObjectProperty] = []
        klass: ObjectClass | None = self
        while klass is not None:
            chain.extend(klass.properties.values())
            # root-most definition wins: ancestors overwrite
            lookup.update(klass.properties)
            klass = klass.type.parent_class()
        self._lookup = lookup
        self._chain_props = tuple(chain)
        self._init_props = tuple(p for p in chain if p.init is not None)
        self._release_props = tuple(p for p in chain if p.release is not None)
        self._lookup_gen = self.universe.class_generation

    def class_property_lookup(self) -> dict[str, ObjectProperty]:
        """Return the name -> property map of this class and its ancestors (root-most wins).

        :return: a cached dict; do not modify it.
        """
        if self._lookup_gen != self.universe.class_generation:
            self._refresh()
        return self._lookup

    def class_property_chain(self) -> tuple[ObjectProperty, ...]:
        """Return the class properties in iteration order (own, then ancestors).

        :return: a cached tuple.
        """
        if self._lookup_gen != self.universe.class_generation:
            self._refresh()
        return self._chain_props

    def class_property_inits(self) -> tuple[ObjectProperty, ...]:
        """Return the class properties that have an ``init`` hook, leaf first.

        :return: a cached tuple.
        """
        if self._lookup_gen != self.universe.class_generation:
            self._refresh()
        return self._init_props

    def class_property_releases(self) -> tuple[ObjectProperty, ...]:
        """Return the class properties that have a ``release`` hook, in iteration order.

        :return: a cached tuple.
        """
        if self._lookup_gen != self.universe.class_generation:
            self._refresh()
        return self._release_props


class InterfaceClass(ObjectClass):
    """The class struct of interfaces; ``interface_type`` is the interface implemented."""

    def __init__(self) -> None:
        super().__init__()
        self.interface_type: TypeImpl | None = None


_CLASS_PRIVATE = (
    "_cast_cache", "_lookup_gen", "_lookup", "_chain_props", "_init_props", "_release_props", "_new_plan_gen",
    "_new_plan", "_plain_finalize_gen",
)


class TypeImpl:
    """The private, registered form of a type (C: ``TypeImpl``)."""

    def __init__(self, universe: Universe, info: TypeInfo, *, hidden: bool = False) -> None:
        self.universe = universe
        self.name = info.name
        self.parent_name = info.parent
        self.instance_size = info.instance_size
        self.abstract = info.abstract
        self.class_init = info.class_init
        self.class_base_init = info.class_base_init
        self.class_data = info.class_data
        self.instance_init = info.instance_init
        self.instance_post_init = info.instance_post_init
        self.instance_finalize = info.instance_finalize
        self.interface_names: tuple[str, ...] = tuple(info.interfaces)
        self.class_type = info.class_type
        self.instance_type = info.instance_type
        self.hidden = hidden
        self.class_: ObjectClass | None = None
        self.parent_type: TypeImpl | None = None
        # filled by type_initialize: the hooks in call order, and the Python instance type
        self.init_hooks: tuple[Callable[[Object], None], ...] = ()
        self.post_init_hooks: tuple[Callable[[Object], None], ...] = ()
        self.finalize_hooks: tuple[Callable[[Object], None], ...] = ()
        self.py_instance_type: type[Object] | None = None
        self.is_singleton = False
        # also filled by type_initialize, so that a child's initialization reads its parent's answers
        # instead of walking the whole chain (linear in the number of types, not quadratic)
        self.resolved: dict[str, Any] = {}
        #: created and finalized instances of exactly this type (``Universe.live_instances``): one
        #: counter moves per object_new and one per finalize
        self.n_created = 0
        self.n_finalized = 0
        #: object_new's compiled path for this type and the class generation it was built at
        self.new_fn: Callable[[], Object] | None = None
        self.new_gen = -1

    @property
    def n_live(self) -> int:
        """:return: the instances of exactly this type not yet finalized."""
        return self.n_created - self.n_finalized

    def __repr__(self) -> str:
        return f"<TypeImpl {self.name!r} parent={self.parent_name!r}>"

    def parent(self) -> TypeImpl | None:
        """Resolve the parent type (``type_get_parent``).

        :return: the parent, or ``None`` for a root type.
        :raise QOMFatal: when the parent was never registered.
        """
        if self.parent_type is None and self.parent_name is not None:
            p = self.universe.types.get(self.parent_name)
            if p is None:
                raise QOMFatal(f"Type '{self.name}' is missing its parent '{self.parent_name}'")
            self.parent_type = p
        return self.parent_type

    def parent_class(self) -> ObjectClass | None:
        """Return the parent's class (the parent is initialized already when we are).

        :return: the class, or ``None`` for a root type.
        """
        p = self.parent()
        return None if p is None else p.class_

    def is_ancestor(self, target: TypeImpl) -> bool:
        """``type_is_ancestor``: is ``target`` this type or one of its ancestors?

        :param target: the candidate ancestor.
        :return: whether it is.
        """
        t: TypeImpl | None = self
        while t is not None:
            if t is target:
                return True
            t = t.parent()
        return False


# -- registration --------------------------------------------------------------------------


def _check_info(info: TypeInfo) -> None:
    if not isinstance(info, TypeInfo):
        raise TypeError(f"expected a TypeInfo, not {type(info).__name__}")
    if not isinstance(info.name, str):
        raise TypeError(f"TypeInfo.name must be a str, not {type(info.name).__name__}")
    if info.parent is not None and not isinstance(info.parent, str):
        raise TypeError(f"TypeInfo.parent must be a str or None, not {type(info.parent).__name__}")
    if isinstance(info.interfaces, str) or not all(isinstance(i, str) for i in info.interfaces):
        raise TypeError("TypeInfo.interfaces must be a sequence of type names")
    for hook in ("class_init", "class_base_init", "instance_init", "instance_post_init", "instance_finalize"):
        value = getattr(info, hook)
        if value is not None and not callable(value):
            raise TypeError(f"TypeInfo.{hook} must be callable or None")
    if info.class_type is not None and not (
        isinstance(info.class_type, type) and issubclass(info.class_type, ObjectClass)
    ):
        raise TypeError("TypeInfo.class_type must be an ObjectClass subclass")
    if info.instance_type is not None:
        from qom.object import Object

        if not (isinstance(info.instance_type, type) and issubclass(info.instance_type, Object)):
            raise TypeError("TypeInfo.instance_type must be an Object subclass")


def _register(u: Universe, info: TypeInfo, *, internal: bool = False) -> TypeImpl:
    _check_info(info)
    if not internal and info.parent is None:
        raise QOMFatal("assertion failed: (info->parent)")
    # type_name_is_valid() (qom/object.c) asserts the length, in bytes, before looking at characters
    if len(info.name.encode("utf-8", "surrogatepass")) <= 1:
        raise QOMFatal("assertion failed: (slen > 1)")
    if not _VALID_NAME.match(info.name):
        raise QOMFatal(f"Registering '{info.name}' with illegal type name")
    if info.name in u.types:
        raise QOMFatal(f"Registering `{info.name}' which already exists")
    if len(info.interfaces) > _MAX_INTERFACES:
        raise QOMFatal("assertion failed: (i < MAX_INTERFACES)")
    if u.enumerating_types:
        raise QOMFatal("assertion failed: (!enumerating_types)")
    ti = TypeImpl(u, info)
    u.types[info.name] = ti
    return ti


def type_register_static(info: TypeInfo) -> TypeImpl:
    """Register a type in the current universe; nothing is initialized yet.

    :param info: the declaration (copied).
    :return: the registered type.
    :raise QOMFatal: when the name is illegal or taken, or the parent is missing.
    :raise TypeError: when ``info`` is not a well-formed :class:`TypeInfo`.
    """
    return _register(current_universe(), info)


def type_register(info: TypeInfo) -> TypeImpl:
    """Same as :func:`type_register_static` (QEMU keeps both names).

    :param info: the declaration (copied).
    :return: the registered type.
    :raise QOMFatal: when the name is illegal or taken, or the parent is missing.
    """
    return _register(current_universe(), info)


def type_register_static_array(infos: Sequence[TypeInfo]) -> None:
    """Register several types, in order.

    :param infos: the declarations.
    :raise QOMFatal: as :func:`type_register_static`.
    """
    if isinstance(infos, TypeInfo) or not all(isinstance(i, TypeInfo) for i in infos):
        raise TypeError("type_register_static_array() needs a sequence of TypeInfo")
    for info in infos:
        type_register_static(info)


def register_builtin_types() -> None:
    """Register ``object`` and ``interface`` (the only parentless types) in the current universe."""
    from qom.object import Object, object_get_typename
    from qom.property_typed import object_class_property_add_str

    u = current_universe()

    def object_class_init(oc: ObjectClass, data: Any) -> None:
        object_class_property_add_str(oc, "type", object_get_typename, None)

    _register(
        u,
        TypeInfo(
            name=TYPE_OBJECT,
            instance_size=1,  # any non-zero size: only interfaces are implicitly abstract
            abstract=True,
            class_init=object_class_init,
            class_type=ObjectClass,
            instance_type=Object,
        ),
        internal=True,
    )
    _register(u, TypeInfo(name=TYPE_INTERFACE, abstract=True, class_type=InterfaceClass), internal=True)


# -- lazy class initialization --------------------------------------------------------------


def _effective(ti: TypeImpl, attr: str) -> Any:
    """The first truthy ``attr`` from ``ti`` up; stops at an initialized ancestor, which knows its answer."""
    t: TypeImpl | None = ti
    while t is not None:
        value = getattr(t, attr)
        if value:
            return value
        if t.class_ is not None and attr in t.resolved:
            return t.resolved[attr]
        t = t.parent()
    return None


def _under_interface(ti: TypeImpl, iface_root: TypeImpl) -> bool:
    """``ti.is_ancestor(iface_root)``, stopping at an initialized ancestor."""
    t: TypeImpl | None = ti
    while t is not None:
        if t is iface_root:
            return True
        if t.class_ is not None and "interface" in t.resolved:
            return bool(t.resolved["interface"])
        t = t.parent()
    return False


def _initialize_ancestors(ti: TypeImpl) -> None:
    """Initialize the uninitialized ancestors root first, so no initialization recurses deeply."""
    chain: list[TypeImpl] = []
    p = ti.parent()
    while p is not None and p.class_ is None:
        chain.append(p)
        if len(chain) > len(ti.universe.types):
            raise QOMFatal(f"Type '{ti.name}' is its own ancestor")
        p = p.parent()
    for p in reversed(chain[1:]):
        type_initialize(p)


def _new_class(ti: TypeImpl, parent_class: ObjectClass | None) -> ObjectClass:
    class_type: type[ObjectClass] = _effective(ti, "class_type") or ObjectClass
    klass = class_type()
    if parent_class is not None:
        # "memcpy" of the parent class: a shallow copy of its fields
        fresh = {k: klass.__dict__[k] for k in _CLASS_PRIVATE}
        klass.__dict__.update(parent_class.__dict__)
        klass.__dict__.update(fresh)
        klass._cast_cache = {}
    klass.interfaces = []
    klass.properties = {}
    klass.type = ti
    klass.universe = ti.universe
    return klass


def _initialize_interface(ti: TypeImpl, interface_type: TypeImpl, parent_type: TypeImpl) -> None:
    assert ti.class_ is not None  # called from type_initialize only
    iface = TypeImpl(
        ti.universe,
        TypeInfo(name=f"{ti.name}::{interface_type.name}", parent=parent_type.name, abstract=True),
        hidden=True,
    )
    iface.parent_type = parent_type
    type_initialize(iface)
    new_iface = iface.class_
    if not isinstance(new_iface, InterfaceClass):
        raise QOMFatal(f"assertion failed: interface class of '{iface.name}' is not an InterfaceClass")
    new_iface.interface_type = interface_type
    ti.class_.interfaces.append(new_iface)


def type_initialize(ti: TypeImpl) -> ObjectClass:
    """Build ``ti``'s class if it does not exist yet (spec §1.3, in QEMU's order).

    :param ti: the type.
    :return: its class.
    :raise QOMFatal: on a missing parent or interface, or a malformed interface type.
    """
    klass = ti.class_
    if klass is not None:
        return klass
    _initialize_ancestors(ti)
    u = ti.universe
    iface_root = u.types.get(TYPE_INTERFACE)
    size = _effective(ti, "instance_size") or 0
    if size == 0:
        ti.abstract = True
    under_interface = iface_root is not None and _under_interface(ti, iface_root)
    if (
        under_interface
        and not ti.hidden
        and (
            size
            or not ti.abstract
            or ti.instance_init
            or ti.instance_post_init
            or ti.instance_finalize
            or ti.interface_names
        )
    ):
        raise QOMFatal(f"assertion failed: interface type '{ti.name}' has instance data or interfaces")
    parent = ti.parent()
    parent_class: ObjectClass | None = None
    if parent is not None:
        parent_class = type_initialize(parent)
    klass = _new_class(ti, parent_class)
    ti.class_ = klass
    try:
        if parent is not None and parent_class is not None:
            for iface_class in parent_class.interfaces:
                if iface_class.interface_type is None:
                    raise QOMFatal("assertion failed: (iface->interface_type)")
                _initialize_interface(ti, iface_class.interface_type, iface_class.type)
            for name in ti.interface_names:
                t = u.types.get(name)
                if t is None:
                    raise QOMFatal(f"missing interface '{name}' for object '{parent.name}'")
                if any(e.type.is_ancestor(t) for e in klass.interfaces):
                    continue
                _initialize_interface(ti, t, t)
        elif ti.interface_names:
            for name in ti.interface_names:
                if name not in u.types:
                    raise QOMFatal(f"missing interface '{name}' for object '{ti.parent_name}'")
        _compute_hooks(ti)
        ti.resolved["interface"] = under_interface
        ti.resolved["instance_size"] = size
        ti.resolved["class_type"] = _effective(ti, "class_type")
        ti.resolved["instance_type"] = ti.py_instance_type
        # every ancestor's class_base_init, nearest first (type_initialize's loop over the parents)
        base_inits: tuple[Callable[[ObjectClass, Any], None], ...] = ()
        if parent is not None:
            own = () if parent.class_base_init is None else (parent.class_base_init,)
            base_inits = own + parent.resolved.get("base_inits", ())
        ti.resolved["base_inits"] = base_inits
        for base_init in base_inits:
            base_init(klass, ti.class_data)
        if ti.class_init is not None:
            ti.class_init(klass, ti.class_data)
    except BaseException:
        ti.class_ = None
        ti.resolved = {}
        raise
    return klass


def _compute_hooks(ti: TypeImpl) -> None:
    # the parent is initialized (type_initialize did it first): extend its hooks instead of walking up
    p = ti.parent()
    init = () if p is None else p.init_hooks
    post = () if p is None else p.post_init_hooks
    fin = () if p is None else p.finalize_hooks
    ti.init_hooks = init + (() if ti.instance_init is None else (ti.instance_init,))
    ti.post_init_hooks = post + (() if ti.instance_post_init is None else (ti.instance_post_init,))
    ti.finalize_hooks = (() if ti.instance_finalize is None else (ti.instance_finalize,)) + fin
    ti.py_instance_type = _effective(ti, "instance_type")
    single = ti.universe.types.get("singleton")
    ti.is_singleton = single is not None and any(
        i.type.is_ancestor(single)
        for i in ti.class_.interfaces  # type: ignore[union-attr]
    )


# -- lookup and casts -------------------------------------------------------------------------


def object_class_by_name(name: str) -> ObjectClass | None:
    """Look a class up by type name, initializing it.

    :param name: the type name.
    :return: the class, or ``None`` when no such type is registered.
    """
    if not isinstance(name, str):
        raise TypeError(f"type name must be a str, not {type(name).__name__}")
    ti = current_universe().types.get(name)
    if ti is None:
        return None
    return type_initialize(ti)


def object_class_dynamic_cast(klass: ObjectClass | None, typename: str) -> ObjectClass | None:
    """Cast a class to ``typename`` (spec §2.1).

    :param klass: the class, or ``None``.
    :param typename: the target type name.
    :return: ``klass``, the unique matching interface class, or ``None``.
    """
    if klass is None:
        return None
    if not isinstance(typename, str):
        raise TypeError(f"type name must be a str, not {type(typename).__name__}")
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    ti = klass.type
    if ti.name == typename:
        return klass
    hit = klass._cast_cache.get(typename)
    if hit is not None:
        return hit
    target = klass.universe.types.get(typename)
    if target is None:
        return None
    ret: ObjectClass | None = None
    iface_root = klass.universe.types.get(TYPE_INTERFACE)
    if klass.interfaces and iface_root is not None and target.is_ancestor(iface_root):
        found = 0
        for i in klass.interfaces:
            if i.type.is_ancestor(target):
                ret = i
                found += 1
        if found > 1:
            ret = None
    elif ti.is_ancestor(target):
        ret = klass
    if ret is not None:
        klass._cast_cache[typename] = ret
    return ret


def object_class_dynamic_cast_assert(klass: ObjectClass, typename: str) -> ObjectClass:
    """Cast a class, aborting on failure (``OBJECT_CLASS_CHECK``).

    :param klass: the class.
    :param typename: the target type name.
    :return: the cast result.
    :raise QOMFatal: when the cast fails.
    """
    ret = object_class_dynamic_cast(klass, typename)
    if ret is None:
        raise QOMFatal(
            f"qom/object.c:object_class_dynamic_cast_assert: Object {klass!r} "
            f"is not an instance of type {typename}"
        )
    return ret


def object_class_implements(klass: ObjectClass, iface: str) -> bool:
    """Does ``klass`` cast to ``iface``?  (A convenience for singleton/internal checks.)

    :param klass: the class.
    :param iface: an interface (or any type) name.
    :return: whether the cast succeeds.
    """
    return object_class_dynamic_cast(klass, iface) is not None


def _check_class_filter(fn: str, implements: object, include_abstract: object) -> None:
    if implements is not None and not isinstance(implements, str):
        raise TypeError(f"{fn}(): implements must be a str or None, not {type(implements).__name__}")
    if not isinstance(include_abstract, bool):
        raise TypeError(f"{fn}(): include_abstract must be a bool, not {type(include_abstract).__name__}")


def object_class_foreach(
    fn: Callable[[ObjectClass], None], implements: str | None, include_abstract: bool
) -> None:
    """Call ``fn`` on every registered class (initializing each), filtered as QEMU does.

    :param fn: the callback.
    :param implements: only classes that cast to this type (``None``: all).
    :param include_abstract: include abstract classes.
    :raise TypeError: when an argument has the wrong type (nothing is initialized then).
    """
    _check_class_filter("object_class_foreach", implements, include_abstract)
    u = current_universe()
    target = None if implements is None else u.types.get(implements)
    iface_root = u.types.get(TYPE_INTERFACE)
    # a type that is not an interface: the cast is the ancestry, remembered per type (linear, not quadratic)
    by_ancestry = target is not None and iface_root is not None and not _under_interface(target, iface_root)
    memo: dict[str, bool] = {}
    u.enumerating_types = True
    try:
        for ti in list(u.types.values()):
            klass = type_initialize(ti)
            if not include_abstract and ti.abstract:
                continue
            if implements is not None:
                casts = _descends(ti, target, memo) if by_ancestry else (
                    object_class_dynamic_cast(klass, implements) is not None)
                if not casts:
                    continue
            fn(klass)
    finally:
        u.enumerating_types = False


def _descends(ti: TypeImpl, target: TypeImpl | None, memo: dict[str, bool]) -> bool:
    """``ti.is_ancestor(target)`` with the answers of every type on the way remembered in ``memo``."""
    path: list[TypeImpl] = []
    t: TypeImpl | None = ti
    answer = False
    while t is not None:
        if t is target:
            answer = True
            break
        known = memo.get(t.name)
        if known is not None:
            answer = known
            break
        path.append(t)
        t = t.parent()
    for p in path:
        memo[p.name] = answer
    return answer


def object_class_get_list(implements: str | None, include_abstract: bool) -> list[ObjectClass]:
    """List classes (order unspecified; QEMU prepends).

    :param implements: only classes that cast to this type (``None``: all).
    :param include_abstract: include abstract classes.
    :return: the classes.
    :raise TypeError: when an argument has the wrong type.
    """
    _check_class_filter("object_class_get_list", implements, include_abstract)
    out: list[ObjectClass] = []
    object_class_foreach(out.append, implements, include_abstract)
    out.reverse()
    return out


def object_class_get_list_sorted(implements: str | None, include_abstract: bool) -> list[ObjectClass]:
    """As :func:`object_class_get_list`, sorted case-insensitively by name.

    :param implements: only classes that cast to this type (``None``: all).
    :param include_abstract: include abstract classes.
    :return: the classes.
    :raise TypeError: when an argument has the wrong type.
    """
    _check_class_filter("object_class_get_list_sorted", implements, include_abstract)
    return sorted(object_class_get_list(implements, include_abstract), key=lambda k: k.type.name.casefold())


def object_class_get_parent(klass: ObjectClass) -> ObjectClass | None:
    """Return the parent class, initialized.

    :param klass: the class.
    :return: the parent class, or ``None`` for a root type.
    """
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    p = klass.type.parent()
    return None if p is None else type_initialize(p)


def object_class_is_abstract(klass: ObjectClass) -> bool:
    """:param klass: the class.
    :return: whether its type is abstract (explicitly or implicitly)."""
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    return klass.type.abstract


def object_class_get_name(klass: ObjectClass) -> str:
    """:param klass: the class.
    :return: its type name."""
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    return klass.type.name
