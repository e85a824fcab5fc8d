"""The universe: one QOM world (type table, object tree, counters, events, policies).

QEMU has exactly one of everything; qomsim keeps it all in a :class:`Universe` so that
tests and Hypothesis examples can each make a fresh one.  Module-level functions such as
:func:`qom.object_new` act on :func:`current_universe`, which :func:`use_universe`
switches::

    >>> from qom import Universe, use_universe, object_new, object_unref
    >>> with use_universe(Universe()) as u:
    ...     obj = object_new("container")
    ...     u.live_instances("container") >= 1
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qom.object import Object, UseAfterFinalize
    from qom.types import TypeImpl

__all__ = [
    "EventKind",
    "GlobalProperty",
    "IntrospectionMode",
    "MachinePhase",
    "QMPPolicy",
    "QOMEvent",
    "SingletonPolicy",
    "Universe",
    "UniverseSnapshot",
    "current_universe",
    "use_universe",
]


class SingletonPolicy(Enum):
    """What a second creation of a ``singleton`` type does while one instance is live."""

    FATAL = "fatal"  #: QEMU's g_assert in object_initialize_with_type (RFC v2)
    QMP_ERROR = "qmp-error"  #: GenericError "Object type '%s' conflicts with an existing singleton instance"
    RETURN_EXISTING = "return-existing"  #: the live instance, with a new reference


class IntrospectionMode(Enum):
    """How ``qom-list-properties`` / ``device-list-properties`` get their properties."""

    INSTANTIATE = "instantiate"
    CLASS_ONLY = "class-only"
    SINGLETON_CLASS_ONLY = "singleton-class-only"
    SINGLETON_FETCH = "singleton-fetch"


@dataclass
class QMPPolicy:
    """Data the QMP layer reads; the core itself does not interpret it."""

    qom_list_properties: IntrospectionMode = IntrospectionMode.SINGLETON_FETCH
    device_list_properties: IntrospectionMode = IntrospectionMode.SINGLETON_FETCH
    user_creation_checks_singleton: bool = True
    hide_internal: bool = True


class MachinePhase(Enum):
    """QEMU's ``MachineInitPhase`` (``hw/core/qdev.c``), in order."""

    NO_MACHINE = 0
    MACHINE_CREATED = 1
    ACCEL_CREATED = 2
    MACHINE_INITIALIZED = 3
    MACHINE_READY = 4


class EventKind(Enum):
    """Kinds of :class:`QOMEvent`."""

    INSTANCE_CREATED = "instance-created"
    INSTANCE_FINALIZED = "instance-finalized"
    PROPERTY_ADDED = "property-added"
    PROPERTY_REMOVED = "property-removed"
    CHILD_ADDED = "child-added"
    CHILD_REMOVED = "child-removed"
    #: the sanitizer caught a use of a finalized object (``name``: the QEMU function)
    USE_AFTER_FINALIZE = "use-after-finalize"


@dataclass(frozen=True)
class QOMEvent:
    """Something observable happened in a universe.

    ``obj`` is the object concerned (the parent for child and property events), ``typename``
    its type, ``name`` the property or child name (``None`` for instance events).
    """

    kind: EventKind
    obj: Object | None
    typename: str
    name: str | None


@dataclass(frozen=True)
class GlobalProperty:
    """One ``-global DRIVER.PROPERTY=VALUE`` entry."""

    driver: str
    property: str
    value: str
    optional: bool = False


@dataclass(frozen=True)
class UniverseSnapshot:
    """A frozen, ``==``-comparable picture of a universe.

    ``types``: (name, parent) per registered type; ``tree``: (canonical path, type) per object
    reachable from the root; ``refcounts``: (serial, type, refcount) per live object;
    ``live``/``created``: per-type counters; ``globals``: registered ``-global`` entries.
    """

    types: tuple[tuple[str, str | None], ...]
    tree: tuple[tuple[str, str], ...]
    refcounts: tuple[tuple[int, str, int], ...]
    live: tuple[tuple[str, int], ...]
    created: tuple[tuple[str, int], ...]
    created_total: int
    globals: tuple[GlobalProperty, ...]
    machine_phase: MachinePhase


@dataclass
class _Holder:
    default: Universe | None = None


_DEFAULT = _Holder()
_CURRENT: ContextVar[Universe | None] = ContextVar("qomsim_current_universe", default=None)


class Universe:
    """One QOM world.

    :param builtins: register the built-in types (``object``, ``interface``, ``container``,
        ``user-creatable``, ``device``, ``bus``, ``machine``, ``singleton``, ``internal``...).
    :param machine: create ``/machine`` of this machine type name without the ``-machine``
        suffix (``"none"`` gives ``none-machine``), or ``None`` for no machine.  Ignored when
        ``builtins`` is false.  The machine phase is then ``MACHINE_CREATED``; call
        :func:`qom.qdev.qdev_machine_creation_done` for ``MACHINE_READY``.
    :param singleton_policy: what a second creation of a singleton type does.
    :param qmp_policy: introspection/creation policy read by the QMP layer.
    """

    def __init__(
        self,
        *,
        builtins: bool = True,
        machine: str | None = "none",
        singleton_policy: SingletonPolicy = SingletonPolicy.QMP_ERROR,
        qmp_policy: QMPPolicy | None = None,
    ) -> None:
        if not isinstance(singleton_policy, SingletonPolicy):
            raise TypeError(
                f"singleton_policy must be a SingletonPolicy, not {type(singleton_policy).__name__}"
            )
        if qmp_policy is not None and not isinstance(qmp_policy, QMPPolicy):
            raise TypeError(f"qmp_policy must be a QMPPolicy, not {type(qmp_policy).__name__}")
        if machine is not None and not isinstance(machine, str):
            raise TypeError(f"machine must be a str or None, not {type(machine).__name__}")
        self.singleton_policy: SingletonPolicy = singleton_policy
        self.qmp_policy: QMPPolicy = qmp_policy if qmp_policy is not None else QMPPolicy()
        #: the type table (hidden ``X::I`` interface types are never in it)
        self.types: dict[str, TypeImpl] = {}
        self.enumerating_types = False
        #: bumped whenever a class property table changes (invalidates lookup caches)
        self.class_generation = 0
        self.root: Object | None = None
        self.internal_root: Object | None = None
        self.objects: dict[int, Object] = {}
        self.next_serial = 1
        self.listeners: list[Callable[[QOMEvent], None]] = []
        self.globals: list[GlobalProperty] = []
        self.machine_phase = MachinePhase.NO_MACHINE
        self.qdev_hot_added = False
        self.unattached_count = 0
        #: QEMU's ``current_machine`` (holds the machine's creation reference)
        self.current_machine: Object | None = None
        #: live instance of each singleton type, by type name
        self.singletons: dict[str, Object] = {}
        #: warnings QEMU would print with warn_report (e.g. failing -global on hotplug)
        self.warnings: list[str] = []
        #: the sanitizer's reports: every use of a finalized object, in order
        self.sanitizer: list[UseAfterFinalize] = []
        if builtins:
            with use_universe(self):
                self._register_builtins()
                if machine is not None:
                    from qom.machine import create_machine

                    create_machine(f"{machine}-machine")

    def _register_builtins(self) -> None:
        from qom import machine, qdev, singleton, tree, types, user_creatable

        types.register_builtin_types()
        tree.register_builtin_types()
        user_creatable.register_builtin_types()
        singleton.register_builtin_types()
        qdev.register_builtin_types()
        machine.register_builtin_types()

    def __repr__(self) -> str:
        return (
            f"<Universe types={len(self.types)} live={len(self.objects)} "
            f"created={self.created_total} singleton_policy={self.singleton_policy.name}>"
        )

    # -- observability -------------------------------------------------------------------

    @property
    def live(self) -> dict[str, int]:
        """:return: live instances per type name (types that ever had one), a fresh dict."""
        return {name: ti.n_live for name, ti in self.types.items() if ti.n_created}

    @property
    def created(self) -> dict[str, int]:
        """:return: instances ever created per type name (types that had one), a fresh dict."""
        return {name: ti.n_created for name, ti in self.types.items() if ti.n_created}

    @property
    def created_total(self) -> int:
        """:return: instances ever created in this universe (each took the next serial)."""
        return self.next_serial - 1

    def live_instances(self, typename: str | None = None) -> int:
        """Count live (not yet finalized) instances.

        :param typename: an exact type name, or ``None`` for all types.
        :return: the number of live instances.
        """
        if typename is None:
            return len(self.objects)
        if not isinstance(typename, str):
            raise TypeError(f"typename must be a str or None, not {type(typename).__name__}")
        ti = self.types.get(typename)
        return 0 if ti is None else ti.n_live

    def instances_created(self, typename: str | None = None) -> int:
        """Count instances ever created.

        :param typename: an exact type name, or ``None`` for all types.
        :return: the number of instances created so far.
        """
        if typename is None:
            return self.created_total
        if not isinstance(typename, str):
            raise TypeError(f"typename must be a str or None, not {type(typename).__name__}")
        ti = self.types.get(typename)
        return 0 if ti is None else ti.n_created

    def subscribe(self, callback: Callable[[QOMEvent], None]) -> Callable[[], None]:
        """Call ``callback`` for every event from now on.

        :param callback: receives each :class:`QOMEvent`, synchronously.
        :return: a function that unsubscribes.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        self.listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self.listeners:
                self.listeners.remove(callback)

        return unsubscribe

    def emit(self, kind: EventKind, obj: Object | None, typename: str, name: str | None = None) -> None:
        """Deliver an event to the subscribers (cheap when there are none).

        :param kind: the event kind.
        :param obj: the object concerned.
        :param typename: its type name.
        :param name: the property or child name, if any.
        """
        if self.listeners:
            event = QOMEvent(kind, obj, typename, name)
            for cb in list(self.listeners):
                cb(event)

    def snapshot(self) -> UniverseSnapshot:
        """Take a frozen picture of this universe; it never creates anything.

        :return: the snapshot.
        """
        tree: list[tuple[str, str]] = []
        if self.root is not None:
            self._walk(self.root, "", tree)
        return UniverseSnapshot(
            types=tuple((t.name, t.parent_name) for t in self.types.values()),
            tree=tuple(sorted(tree)),
            refcounts=tuple(sorted((o.serial, o.klass.type.name, o.ref) for o in self.objects.values())),
            live=tuple(sorted((k, v) for k, v in self.live.items() if v)),
            created=tuple(sorted(self.created.items())),
            created_total=self.created_total,
            globals=tuple(self.globals),
            machine_phase=self.machine_phase,
        )

    def _walk(self, obj: Object, path: str, out: list[tuple[str, str]]) -> None:
        out.append((path or "/", obj.klass.type.name))
        for prop in list(obj.properties.values()):
            if prop.type.startswith("child<"):
                self._walk(prop.opaque, f"{path}/{prop.name}", out)

    def iter_live_objects(self) -> Iterator[Object]:
        """Iterate the live objects in creation order.

        :return: an iterator over a copy of the live set.
        """
        return iter(list(self.objects.values()))


def current_universe() -> Universe:
    """Return the universe module-level functions act on.

    :return: the innermost :func:`use_universe` universe, else a lazily created default one.
    """
    u = _CURRENT.get()
    if u is not None:
        return u
    if _DEFAULT.default is None:
        _DEFAULT.default = Universe()
    return _DEFAULT.default


class _UseUniverse(contextlib.AbstractContextManager["Universe"]):
    def __init__(self, u: Universe) -> None:
        self.u = u
        self.tokens: list[Token[Universe | None]] = []

    def __enter__(self) -> Universe:
        self.tokens.append(_CURRENT.set(self.u))
        return self.u

    def __exit__(self, *exc: object) -> None:
        _CURRENT.reset(self.tokens.pop())


def use_universe(u: Universe) -> contextlib.AbstractContextManager[Universe]:
    """Make ``u`` the current universe inside a ``with`` block.

    :param u: the universe.
    :return: a context manager yielding ``u``.
    :raise TypeError: when ``u`` is not a :class:`Universe` (raised at the call, before ``with``).
    """
    if not isinstance(u, Universe):
        raise TypeError(f"use_universe() needs a Universe, not {type(u).__name__}")
    return _UseUniverse(u)
