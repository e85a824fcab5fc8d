"""Objects: construction, reference counts and synchronous finalization (spec §3.1-§3.3)."""

from __future__ import annotations

import keyword
import sys
from collections.abc import Callable
from enum import Enum
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from qom.errors import GenericError, QOMError, QOMFatal
from qom.types import ObjectClass, TypeImpl, object_class_dynamic_cast, type_initialize
from qom.universe import _CURRENT, EventKind, SingletonPolicy, Universe, current_universe

if TYPE_CHECKING:
    from qom.property import ObjectProperty

__all__ = [
    "AttrStore",
    "Object",
    "ObjectState",
    "SetterDefault",
    "UseAfterFinalize",
    "object_dynamic_cast",
    "object_dynamic_cast_assert",
    "object_get_class",
    "object_get_typename",
    "object_initialize",
    "object_new",
    "object_new_with_class",
    "object_ref",
    "object_unref",
]

_INT_MAX = 2**31 - 1
#: the innermost use_universe() universe, or None (ContextVar.get, bound once)
_current_or_none = _CURRENT.get


class ObjectState(Enum):
    """Lifecycle of an :class:`Object`; only :mod:`qom.object` changes it.

    ``object_finalize`` (``qom/object.c``) first releases the properties
    (``object_property_del_all``, state ``FINALIZING``: the release hooks may still use the
    instance property table), then frees that table and runs ``instance_finalize`` leaf to root
    (``object_deinit``, state ``DEINIT``: the object and its class are still there, its
    instance property table is not), then frees the object (``FINALIZED``).
    """

    LIVE = "live"
    FINALIZING = "finalizing"
    DEINIT = "deinit"
    FINALIZED = "finalized"


# Enum member access costs a descriptor call on Python 3.11: the hot paths use these names
_LIVE = ObjectState.LIVE
_FINALIZING = ObjectState.FINALIZING
_DEINIT = ObjectState.DEINIT
_FINALIZED = ObjectState.FINALIZED


class UseAfterFinalize:
    """What the sanitizer recorded about one use of a finalized object (``Universe.sanitizer``).

    :param op: the QEMU function that touched the object.
    :param typename: the object's type.
    :param serial: the object's serial in its universe.
    :param state: its state at the touch (``finalized``, or ``deinit`` for the freed property table).
    :param finalized_by: where the finalizing ``object_unref`` was called from.
    """

    __slots__ = ("finalized_by", "op", "serial", "state", "typename")

    def __init__(self, op: str, typename: str, serial: int, state: ObjectState, finalized_by: str) -> None:
        self.op = op
        self.typename = typename
        self.serial = serial
        self.state = state
        self.finalized_by = finalized_by

    def __repr__(self) -> str:
        return f"<UseAfterFinalize {self.op} on {self.typename!r} #{self.serial} ({self.state.value})>"

    @property
    def message(self) -> str:
        """:return: the report's text (the ``QOMFatal`` message)."""
        what = f"object '{self.typename}' #{self.serial}"
        by = f"object_unref() from {self.finalized_by}"
        if self.state is ObjectState.DEINIT:
            return (
                f"heap-use-after-free: {self.op}() on the property table of {what}, freed by "
                f"object_property_del_all() before instance_finalize ({by})"
            )
        return f"heap-use-after-free: {self.op}() on {what}, finalized by {by}"


class _NoInstanceProperties(dict[str, "ObjectProperty"]):
    """The instance property table of every object that has no instance property yet: one shared,
    empty, read-only table (an object gets a table of its own with its first instance property,
    from :func:`own_properties`), so that ``object_new`` allocates none for the many objects
    that never get one."""

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("an object's instance properties are added with object_property_add()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only


#: see :class:`_NoInstanceProperties`
_NO_PROPERTIES = _NoInstanceProperties()


def own_properties(obj: Object) -> dict[str, ObjectProperty]:
    """:param obj: an object.
    :return: its instance property table, created if it still shares the empty one."""
    props = obj.properties
    if type(props) is _NoInstanceProperties:  # (the shared table, or a copy of it)
        props = obj.properties = {}
    return props


class Object:
    """The base instance struct.

    Fields: ``klass``, ``ref``, ``parent``, ``properties`` (own instance properties),
    ``state``, ``universe``, ``serial`` (creation number within the universe).
    Subclasses (``TypeInfo.instance_type``) declare their zero-initialized fields in
    ``__init__``, which takes no arguments: it plays the role of QEMU's ``memset(0)``.
    """

    klass: ObjectClass
    universe: Universe
    # Zero fields that most objects never change are class-level defaults (an instance gets its
    # own value at the first write): object_new then sets fewer attributes.
    ref = 0
    serial = 0
    #: name of the child<> property in ``parent`` that holds this object
    child_name: str | None = None
    #: bumped on every instance-property add/remove (restart logic of finalize)
    prop_generation = 0
    #: (code, instruction offset) of the call of the finalizing ``object_unref``
    finalized_at: tuple[CodeType, int] | None = None

    def __init__(self) -> None:
        self.parent: Object | None = None
        self.properties: dict[str, ObjectProperty] = _NO_PROPERTIES  # (a table of its own on demand)
        self.state = _LIVE

    def __repr__(self) -> str:
        name = getattr(getattr(self, "klass", None), "type", None)
        typename = name.name if name is not None else "?"
        path = _canonical_path_or_none(self)
        where = f" {path}" if path is not None else ""
        extra = "" if self.state is ObjectState.LIVE else f" {self.state.value}"
        return f"<Object {typename!r}{where} ref={self.ref}{extra}>"


def _canonical_path_or_none(obj: Object) -> str | None:
    if getattr(obj, "universe", None) is None:
        return None
    root = obj.universe.root
    parts: list[str] = []
    o: Object | None = obj
    while o is not None and o is not root:
        if o.child_name is None:
            return None
        parts.append(o.child_name)
        o = o.parent
    if o is None:
        return None
    return "/" + "/".join(reversed(parts))


def _finalized_by(obj: Object) -> str:
    at = obj.finalized_at
    if at is None:
        return "?"
    code, lasti = at
    line = next((pos[0] for i, pos in enumerate(code.co_positions()) if i == lasti // 2), None)
    return f"{code.co_qualname} ({code.co_filename.rsplit('/', 1)[-1]}:{line})"


def use_after_finalize(obj: Object, op: str) -> QOMFatal:
    """Record a use of a finalized object (or of its freed property table) and build the fatal.

    :param obj: the object touched.
    :param op: the QEMU function that touched it.
    :return: the :class:`QOMFatal` to raise (its message names ``op``, the object, and where it
        was finalized).
    """
    report = UseAfterFinalize(op, obj.klass.type.name, obj.serial, obj.state, _finalized_by(obj))
    u = obj.universe
    u.sanitizer.append(report)
    if u.listeners:
        u.emit(EventKind.USE_AFTER_FINALIZE, obj, report.typename, op)
    return QOMFatal(report.message)


def check_live(obj: object, op: str, what: str = "obj") -> Object:
    """Check an argument is an object whose memory is still there (not ``FINALIZED``).

    :param obj: the argument.
    :param op: the QEMU function being called.
    :param what: the argument's name in a ``TypeError``.
    :return: ``obj``.
    :raise QOMFatal: when ``obj`` was finalized.
    """
    if not isinstance(obj, Object):
        raise TypeError(f"{what} must be an Object, not {type(obj).__name__}")
    if obj.state is _FINALIZED:
        raise use_after_finalize(obj, op)
    return obj


def check_table(obj: object, op: str, what: str = "obj") -> Object:
    """Check an argument is an object whose instance property table is still there (``LIVE``, or
    ``FINALIZING`` while its properties are released).

    :param obj: the argument.
    :param op: the QEMU function being called.
    :param what: the argument's name in a ``TypeError``.
    :return: ``obj``.
    :raise QOMFatal: when ``obj`` was finalized or its property table was freed.
    """
    if not isinstance(obj, Object):
        raise TypeError(f"{what} must be an Object, not {type(obj).__name__}")
    state = obj.state
    if state is not _LIVE and (state is _FINALIZED or state is _DEINIT):
        raise use_after_finalize(obj, op)
    return obj


class AttrStore:
    """A property ``init`` hook that stores one parsed default in an instance attribute.

    The typed ``uintN_ptr`` helpers and qdev's field properties install it once their default is
    parsed; :func:`object_new` folds runs of them into one update of the instance dict when the
    instance type stores attributes plainly (no ``__setattr__``, no descriptor of that name).

    :param attr: the attribute.
    :param value: the parsed default.
    """

    __slots__ = ("attr", "value")

    def __init__(self, attr: str, value: object) -> None:
        self.attr = attr
        self.value = value

    def __call__(self, obj: Object, _prop: object) -> None:
        setattr(obj, self.attr, self.value)


class SetterDefault:
    """A property ``init`` hook that hands one checked default to a typed helper's setter
    callback; a ``QOMError`` it raises is fatal (``object_property_init_defval`` uses
    ``error_abort``).

    :param set: the setter callback ``(obj, value)``.
    :param value: the default.
    """

    __slots__ = ("set", "value")

    def __init__(self, set: Callable[[Object, Any], None], value: object) -> None:
        self.set = set
        self.value = value

    def __call__(self, obj: Object, _prop: object) -> None:
        try:
            self.set(obj, self.value)
        except QOMError as err:
            raise QOMFatal(err.desc) from None


def _plain_attr(cls: type, attr: str) -> bool:
    plain: bool = getattr(cls, "__setattr__") is object.__setattr__  # noqa: B009 -- mypy sees the slot types
    return plain and attr.isidentifier() and not keyword.iskeyword(attr) and not hasattr(
        getattr(cls, attr, None), "__set__"
    )


def _compile_init(
    ti: TypeImpl, klass: ObjectClass, cls: type[Object], hooks: tuple[Callable[[Object], None], ...]
) -> tuple[Callable[[Object], None], Callable[[], Object]]:
    """Build, for one class, the functions that do what ``object_new`` does.

    ``init(obj)`` applies the class properties' defaults in ``class_property_inits`` order (QEMU:
    ``object_class_property_init_all``), then runs ``instance_init`` and ``instance_post_init``
    root to leaf, each as its own statement: a default stored in a plain attribute becomes an
    attribute assignment, a typed helper's default a call of its setter (a ``QOMError`` is
    fatal), any other ``init`` hook a call.  ``new()`` is the whole of ``object_new`` for a
    concrete, non-singleton type: allocate, take the first reference and the next serial,
    count, ``init``, announce.  The order and every call are those of the loops they replace;
    only the interpretation overhead goes.

    :param ti: the type.
    :param klass: its class.
    :param cls: its instance type.
    :param hooks: ``instance_init`` then ``instance_post_init`` hooks, root to leaf.
    :return: ``(init, new)``.
    """
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"a{len(args) - 1}"

    body: list[str] = []
    for prop in klass.class_property_inits():
        init = prop.init
        if type(init) is AttrStore:
            if _plain_attr(cls, init.attr):
                body.append(f"obj.{init.attr} = {arg(init.value)}")
            else:
                body.append(f"setattr(obj, {arg(init.attr)}, {arg(init.value)})")
        elif type(init) is SetterDefault:
            body += [
                "try:",
                f"    {arg(init.set)}(obj, {arg(init.value)})",
                "except QOMError as err:",
                "    raise QOMFatal(err.desc) from None",
            ]
        else:
            body.append(f"{arg(init)}(obj, {arg(prop)})")
    body += [f"{arg(hook)}(obj)" for hook in hooks]
    u, name = ti.universe, ti.name
    new_body = [
        f"obj = {arg(cls)}()",
        f"obj.klass = {arg(klass)}",
        f"obj.universe = u = {arg(u)}",
        "obj.ref = 1",
        "obj.serial = serial = u.next_serial",
        "u.next_serial = serial + 1",
        "u.objects[serial] = obj",
        f"ti = {arg(ti)}",
        "ti.n_created += 1",
        *body,
        "if u.listeners:",
        f"    u.emit({arg(EventKind.INSTANCE_CREATED)}, obj, {arg(name)})",
        "return obj",
    ]
    source = "\n".join([
        f"def make({', '.join(f'a{i}' for i in range(len(args)))}):",
        "  def init(obj):",
        *(f"    {line}" for line in body),
        "    return None",
        "  def new():",
        *(f"    {line}" for line in new_body),
        "  return init, new",
        "",
    ])
    namespace: dict[str, Any] = {"QOMError": QOMError, "QOMFatal": QOMFatal}
    exec(compile(source, f"<qom new of {name}>", "exec"), namespace)
    made: tuple[Callable[[Object], None], Callable[[], Object]] = namespace["make"](*args)
    return made


def _new_plan(ti: TypeImpl, klass: ObjectClass, u: Universe) -> tuple[type[Object], Callable[[Object], None]]:
    cls = ti.py_instance_type or Object
    init, new = _compile_init(ti, klass, cls, ti.init_hooks + ti.post_init_hooks)
    plan = (cls, init)
    klass._new_plan = plan
    klass._new_plan_gen = u.class_generation
    plain = not (ti.finalize_hooks or ti.is_singleton or klass.class_property_releases())
    klass._plain_finalize_gen = u.class_generation if plain else -1
    # object_new's whole path, for the types it may take (a singleton needs its checks)
    ti.new_fn = None if ti.abstract or ti.is_singleton else new
    ti.new_gen = u.class_generation
    return plan


def _object_new_with_type(ti: TypeImpl) -> Object:
    klass = ti.class_
    if klass is None:
        klass = type_initialize(ti)
    if ti.abstract:
        raise QOMFatal("assertion failed: (type->abstract == false)")
    u = ti.universe
    if ti.is_singleton:
        existing = u.singletons.get(ti.name)
        if existing is not None:
            policy = u.singleton_policy
            if policy is SingletonPolicy.RETURN_EXISTING:
                return object_ref(existing)
            if policy is SingletonPolicy.QMP_ERROR:
                raise GenericError(f"Object type '{ti.name}' conflicts with an existing singleton instance")
            raise QOMFatal("assertion failed: (!singleton_get_instance(type->class))")
    cls, init = klass._new_plan if klass._new_plan_gen == u.class_generation else _new_plan(ti, klass, u)
    obj = cls()
    obj.klass = klass
    obj.universe = u
    obj.ref = 1
    obj.serial = serial = u.next_serial
    u.next_serial = serial + 1
    u.objects[serial] = obj
    ti.n_created += 1
    if ti.is_singleton:
        u.singletons[ti.name] = obj
    init(obj)  # property defaults, instance_init and instance_post_init (see _compile_init)
    if u.listeners:
        u.emit(EventKind.INSTANCE_CREATED, obj, ti.name)
    return obj


def object_new(typename: str) -> Object:
    """Create an object of type ``typename`` with one reference, owned by the caller.

    :param typename: a concrete registered type.
    :return: the new object (or, for a singleton under ``RETURN_EXISTING``, the live one).
    :raise QOMFatal: when the type is unknown or abstract, or a second singleton under ``FATAL``.
    :raise GenericError: for a second singleton under ``QMP_ERROR``.
    """
    u = _current_or_none() or current_universe()
    try:
        ti = u.types[typename]  # (only a str, or what hashes and compares as one, finds a type)
    except (KeyError, TypeError):
        if not isinstance(typename, str):
            raise TypeError(f"type name must be a str, not {type(typename).__name__}") from None
        raise QOMFatal(f"unknown type '{typename}'") from None
    new = ti.new_fn
    if new is not None and ti.new_gen == u.class_generation:
        return new()  # _object_new_with_type's steps, compiled for this type (see _compile_init)
    return _object_new_with_type(ti)


def object_initialize(data: Object, size: int, typename: str) -> None:
    """Initialize an object in storage the caller owns (``qom/object.c:object_initialize``): the
    C idiom for a child embedded in its parent's state struct.

    ``data`` is an instance of the type's instance type, made by the caller (the storage); it is
    reset by running its ``__init__`` again (QEMU's ``memset(obj, 0, ...)``), then initialized
    as :func:`object_new` does: one reference, class defaults, ``instance_init`` and
    ``instance_post_init`` root to leaf.  QEMU does no singleton check here, nor does qomsim.

    :param data: the storage.
    :param size: the storage's size, as ``sizeof`` would give it (compared with the type's
        ``instance_size``, inherited from its parents when 0).
    :param typename: a concrete registered type.
    :raise QOMFatal: "unknown type '%s'" (``error_fatal``), an abstract type, a ``size`` below
        the type's, storage that is not an instance of the type's instance type (a struct too
        small for it), or storage that still holds a live object.
    """
    if not isinstance(data, Object):
        raise TypeError(f"data must be an Object, not {type(data).__name__}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, not {type(size).__name__}")
    if type(typename) is not str:
        raise TypeError(f"type name must be a str, not {type(typename).__name__}")
    u = _CURRENT.get() or current_universe()
    ti = u.types.get(typename)
    if ti is None:
        raise QOMFatal(f"unknown type '{typename}'")
    klass = ti.class_
    if klass is None:
        klass = type_initialize(ti)
    if ti.abstract:
        raise QOMFatal("assertion failed: (type->abstract == false)")
    cls, init = klass._new_plan if klass._new_plan_gen == u.class_generation else _new_plan(ti, klass, u)
    if size < _instance_size(ti) or not isinstance(data, cls):
        raise QOMFatal("assertion failed: (size >= type->instance_size)")
    if getattr(data, "klass", None) is not None and data.state is not _FINALIZED:
        # C would memset a live object away; qomsim refuses rather than corrupt its registry
        raise QOMFatal(f"object_initialize: the storage holds live object {data!r}")
    type(data).__init__(data)  # memset(obj, 0, type->instance_size)
    for field in ("ref", "serial", "child_name", "prop_generation", "finalized_at"):
        data.__dict__.pop(field, None)  # back to the class-level zero values
    data.klass = klass
    data.universe = u
    data.ref = 1
    data.serial = serial = u.next_serial
    u.next_serial = serial + 1
    u.objects[serial] = data
    ti.n_created += 1
    init(data)
    if u.listeners:
        u.emit(EventKind.INSTANCE_CREATED, data, typename)


def _instance_size(ti: TypeImpl) -> int:
    t: TypeImpl | None = ti
    while t is not None:
        if t.instance_size:
            return t.instance_size
        t = t.parent()
    return 0


def object_new_with_class(klass: ObjectClass) -> Object:
    """Create an object of ``klass``'s type (no name lookup).

    :param klass: the class.
    :return: the new object.
    :raise QOMFatal: as :func:`object_new`.
    :raise GenericError: as :func:`object_new`.
    """
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    return _object_new_with_type(klass.type)


def object_ref(obj: Object) -> Object:
    """Take a reference.

    :param obj: the object.
    :return: ``obj``.
    :raise QOMFatal: on overflow.
    """
    if obj is None:
        return obj
    check_live(obj, "object_ref")
    if obj.ref >= _INT_MAX:
        raise QOMFatal("assertion failed: (ref < INT_MAX)")
    obj.ref += 1
    return obj


def _refcount_in_callee(obj: object) -> int:
    return sys.getrefcount(obj)


def _sole_owner_refcount() -> int:
    """How many references ``sys.getrefcount`` sees in a function whose argument was a temporary
    of its Python caller (the callee's parameter and getrefcount's own argument: 2 on CPython
    3.11-3.13); 0 where that count cannot be told from one held by the caller as well (an
    interpreter that lends references), so that :func:`object_unref` always records."""
    held = object()
    sole = _refcount_in_callee(object())
    return sole if _refcount_in_callee(held) > sole else 0


#: see :func:`_sole_owner_refcount`
_SOLE_OWNER_REFS = _sole_owner_refcount()
_getrefcount = sys.getrefcount


def _record_finalized_at(obj: Object, frame: FrameType) -> None:
    """Record where the finalizing ``object_unref`` was called: ``frame`` (object_unref's caller),
    or the first caller out of ``_``-named helpers (object_unparent, not _release_child)."""
    f, back = frame, frame.f_back
    while f.f_code.co_name[0] == "_" and back is not None:
        f, back = back, back.f_back
    obj.finalized_at = (f.f_code, f.f_lasti)  # the line is looked up only for a report


def object_unref(obj: Object | None) -> None:
    """Drop a reference; at zero the object is finalized synchronously (spec §3.3).

    :param obj: the object (``None`` is ignored).
    :raise QOMFatal: when the refcount is already 0.
    """
    if obj is None:
        return
    if not isinstance(obj, Object):
        raise TypeError(f"obj must be an Object, not {type(obj).__name__}")
    ref = obj.ref
    if ref != 1:
        if ref > 1:
            obj.ref = ref - 1
            return
        if obj.state is _FINALIZED:  # (only a finalized object or a bug has no reference left)
            raise use_after_finalize(obj, "object_unref")
        raise QOMFatal("assertion failed: (obj->ref > 0)")
    obj.ref = 0
    klass = obj.klass
    u = obj.universe
    if (
        obj.properties
        or obj.parent is not None
        or u.listeners
        or klass._plain_finalize_gen != u.class_generation
    ):
        # instance_finalize, a release hook or a listener may see the object or report a use of it
        # while it is finalized: record where before anything runs
        _record_finalized_at(obj, sys._getframe(1))
        _object_finalize(obj)
        return
    # Nothing to release, no instance_finalize, nobody listening (ObjectClass._plain_finalize_gen):
    # the steps of _object_finalize come down to these, their intermediate states seen by no one.
    obj.state = _FINALIZED
    u.objects.pop(obj.serial, None)
    klass.type.n_finalized += 1
    if _getrefcount(obj) > _SOLE_OWNER_REFS:
        # Someone else can still reach the object, so a use after finalize can still come: record
        # where it was finalized for the report.  (Otherwise it is freed when this call returns
        # and no report can ever name it.)
        f = sys._getframe(1)
        code = f.f_code
        if code.co_name[0] == "_":
            _record_finalized_at(obj, f)
        else:
            obj.finalized_at = (code, f.f_lasti)  # (what _record_finalized_at records, inline)


def object_property_del_all(obj: Object) -> None:
    """Release every property at most once, restarting after each release (QEMU's loop), then
    drop the instance properties, each with a ``PROPERTY_REMOVED`` event (after any
    ``CHILD_REMOVED`` its release sent), so added and removed events balance.

    :param obj: the object being finalized.
    """
    # Only properties with a release hook do anything in QEMU's loop; the others are merely
    # marked done, so we skip them up front.
    u = obj.universe
    klass = obj.klass
    if not obj.properties and not klass.class_property_releases():
        return  # nothing to release and nothing to remove (the common case: no per-call allocations)
    done: set[int] = set()
    keep: list[ObjectProperty] = []  # keeps ids stable while ``done`` refers to them
    while True:
        restart = False
        gen = (obj.prop_generation, u.class_generation)
        props = [p for p in obj.properties.values() if p.release is not None]
        props.extend(klass.class_property_releases())
        for prop in props:
            key = id(prop)
            if key in done:
                continue
            done.add(key)
            keep.append(prop)
            release = prop.release
            if release is not None:
                release(obj, prop.name, prop.opaque)
                # QEMU restarts the iteration after every release; when neither table
                # changed, a restart would only skip the entries already done, so we go on.
                if gen != (obj.prop_generation, u.class_generation):
                    restart = True
                    break
        if not restart:
            break
    removed = list(obj.properties) if u.listeners else []
    if obj.properties:
        obj.properties.clear()
    for name in removed:
        u.emit(EventKind.PROPERTY_REMOVED, obj, klass.type.name, name)


def _object_finalize(obj: Object) -> None:
    u = obj.universe
    klass = obj.klass
    ti = klass.type
    obj.state = _FINALIZING
    if obj.properties or (
        klass._release_props if klass._lookup_gen == u.class_generation else klass.class_property_releases()
    ):
        object_property_del_all(obj)  # (else there is nothing to release and nothing to remove)
    obj.state = _DEINIT
    for hook in ti.finalize_hooks:
        hook(obj)
    if obj.ref != 0:
        raise QOMFatal("assertion failed: (obj->ref == 0)")
    if obj.parent is not None:
        raise QOMFatal("assertion failed: (obj->parent == NULL)")
    obj.state = _FINALIZED
    u.objects.pop(obj.serial, None)
    ti.n_finalized += 1
    if u.singletons and u.singletons.get(ti.name) is obj:
        del u.singletons[ti.name]
    if u.listeners:
        u.emit(EventKind.INSTANCE_FINALIZED, obj, ti.name)


def object_dynamic_cast(obj: Object | None, typename: str) -> Object | None:
    """Cast an object: itself when its class casts to ``typename``, else ``None``.

    :param obj: the object, or ``None``.
    :param typename: the target type.
    :return: ``obj`` or ``None``.
    """
    if obj is None:
        return None
    check_live(obj, "object_dynamic_cast")
    if object_class_dynamic_cast(obj.klass, typename) is not None:
        return obj
    return None


def object_dynamic_cast_assert(obj: Object, typename: str) -> Object:
    """Cast, aborting on failure (``OBJECT_CHECK``).

    :param obj: the object.
    :param typename: the target type.
    :return: ``obj``.
    :raise QOMFatal: when ``obj`` is not an instance of ``typename``.
    """
    if obj is None:
        return obj
    check_live(obj, "object_dynamic_cast_assert")
    if object_dynamic_cast(obj, typename) is None:
        raise QOMFatal(
            f"qom/object.c:object_dynamic_cast_assert: Object {obj!r} is not an instance of type {typename}"
        )
    return obj


def object_get_typename(obj: Object) -> str:
    """:param obj: the object.
    :return: its type name."""
    return check_live(obj, "object_get_typename").klass.type.name


def object_get_class(obj: Object) -> ObjectClass:
    """:param obj: the object.
    :return: its class."""
    return check_live(obj, "object_get_class").klass
