"""The ``singleton`` and ``internal`` interfaces.

``singleton`` follows Peter Xu's RFC v2 series (``TYPE_SINGLETON``, not merged in QEMU):
a class implementing it can be introspected, but the core never lets two live instances
exist; a second creation follows :attr:`Universe.singleton_policy <qom.universe.Universe>`.
``internal`` is qomsim's own marker for types hidden from user-facing listing and creation;
the QMP layer does the hiding with :func:`object_class_is_internal`.
"""

from __future__ import annotations

from collections.abc import Callable

from qom.object import Object, object_ref
from qom.types import (
    TYPE_INTERFACE,
    InterfaceClass,
    ObjectClass,
    TypeInfo,
    object_class_dynamic_cast,
    type_register_static,
)

__all__ = [
    "TYPE_INTERNAL",
    "TYPE_SINGLETON",
    "SingletonClass",
    "object_class_is_internal",
    "object_class_is_singleton",
    "singleton_get_instance",
]

TYPE_SINGLETON = "singleton"
TYPE_INTERNAL = "internal"


def _core_get_instance(klass: ObjectClass) -> Object | None:
    """Default ``get_instance``: the core's record of the live instance, with a new reference."""
    obj = klass.universe.singletons.get(klass.type.name.split("::", 1)[0])
    return None if obj is None else object_ref(obj)


class SingletonClass(InterfaceClass):
    """Class struct of ``singleton``.

    ``get_instance(klass)`` returns the live instance **with a new reference** (as in the
    RFC, where the caller drops it), or ``None``.  The default reads the core's own record;
    a type may replace it (e.g. to return a module-level ``current_migration``).  Uniqueness
    is enforced by the core regardless of this hook.
    """

    def __init__(self) -> None:
        super().__init__()
        self.get_instance: Callable[[ObjectClass], Object | None] = _core_get_instance


def register_builtin_types() -> None:
    """Register ``singleton`` and ``internal`` in the current universe."""
    type_register_static(TypeInfo(name=TYPE_SINGLETON, parent=TYPE_INTERFACE, class_type=SingletonClass))
    type_register_static(TypeInfo(name=TYPE_INTERNAL, parent=TYPE_INTERFACE))


def object_class_is_singleton(klass: ObjectClass) -> bool:
    """:param klass: a class.
    :return: whether it implements ``singleton``."""
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    return object_class_dynamic_cast(klass, TYPE_SINGLETON) is not None


def object_class_is_internal(klass: ObjectClass) -> bool:
    """:param klass: a class.
    :return: whether it implements ``internal``."""
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    return object_class_dynamic_cast(klass, TYPE_INTERNAL) is not None


def singleton_get_instance(klass: ObjectClass) -> Object | None:
    """Fetch a singleton class's live instance.

    :param klass: a class (non-singleton classes give ``None``).
    :return: the live instance with a **new reference** the caller must drop, or ``None``.
    """
    if not isinstance(klass, ObjectClass):
        raise TypeError(f"expected an ObjectClass, not {type(klass).__name__}")
    sc = object_class_dynamic_cast(klass, TYPE_SINGLETON)
    if not isinstance(sc, SingletonClass):
        return None
    return sc.get_instance(klass)
