"""The ``migration`` QOM type, registered in a real :class:`qom.Universe` per run.

``TYPE_MIGRATION`` is a concrete ``device`` subclass with ``user_creatable = False``
and its tag's qdev class properties (:mod:`migration.model.options`: 52 at master, 51 at 10.0), following
``migration/migration.c``.  Its ``instance_init``/``instance_finalize`` create and destroy
the object's locks in the model heap and do what the design's knobs say with the
global pointer; a run's :class:`~migration.model.runtime.World` is the only state they touch.

The property descriptors are built once (they are immutable); a :class:`MigrationUniverse`
(universe + initialized class) is reused from run to run only after :meth:`reset
<MigrationUniverse.reset>` proved it back to its baseline.
"""

from __future__ import annotations

from functools import cache

from typeguard import typeguard_ignore

from migration.model.designs import Design, PointerClear, PointerSet, Protection
from migration.model.functions import hook, qemu_function
from migration.model.heap import OBJECT_LOCKS, Crash, HeapObj, Lock, LockState, MemState
from migration.model.options import MigrationPropertySpec, properties_for
from migration.model.outcomes import Outcome
from migration.model.runtime import World
from migration.model.sources import source
from qom.object import Object, object_ref, object_unref
from qom.qdev import (
    DeviceClass,
    DeviceState,
    Property,
    PropertyInfo,
    device_class_set_props,
    qdev_machine_creation_done,
    qdev_prop_bool,
    qdev_prop_enum,
    qdev_prop_str_or_null,
    qdev_prop_string,
    qdev_prop_uint8,
    qdev_prop_uint32,
    qdev_prop_uint64,
)
from qom.qdev import qdev_prop_size as _qdev_prop_size
from qom.singleton import TYPE_INTERNAL, TYPE_SINGLETON, SingletonClass
from qom.types import (
    ObjectClass,
    TypeInfo,
    object_class_by_name,
    object_class_dynamic_cast,
    type_register_static,
)
from qom.universe import QMPPolicy, Universe, use_universe

__all__ = [
    "TYPE_MIGRATION",
    "MigrationState",
    "MigrationUniverse",
    "heap_of",
    "migration_qdev_properties",
    "new_universe",
]

TYPE_MIGRATION = "migration"


class MigrationState(DeviceState):
    """The instance struct; the model's state lives in the heap under ``heap_label``."""

    def __init__(self) -> None:
        super().__init__()
        self.heap_label = ""

    def __repr__(self) -> str:
        return f"MigrationState({self.heap_label or '?'}, ref={self.ref})"


class MigrationClass(DeviceClass):
    """``MigrationClass`` adds nothing to ``DeviceClass``."""


def _info(spec: MigrationPropertySpec) -> PropertyInfo:
    if spec.kind == "bool":
        return qdev_prop_bool
    if spec.kind == "uint8":
        return qdev_prop_uint8
    if spec.kind == "uint32":
        return qdev_prop_uint32
    if spec.kind == "uint64":
        return qdev_prop_uint64
    if spec.kind == "size":
        return _qdev_prop_size
    if spec.kind == "str-or-null":
        return qdev_prop_str_or_null
    if spec.kind == "str":
        return qdev_prop_string
    return qdev_prop_enum(spec.qom_type, spec.enum_values)


@cache
def migration_qdev_properties(tag: str = "master") -> tuple[Property, ...]:
    """:param tag: the QEMU tag whose list to build (:data:`~migration.model.options.PROPERTIES_BY_TAG`).
    :return: the qdev property descriptors at that tag (built once per tag; they are immutable).
    """
    out = []
    for spec in properties_for(tag):
        attr = "prop_" + spec.name.replace("-", "_")
        out.append(Property(spec.name, _info(spec), attr, spec.default, set_default=spec.kind != "str"))
    return tuple(out)


def _policy(design: Design) -> QMPPolicy:
    return QMPPolicy(
        qom_list_properties=design.qom_list_properties,
        device_list_properties=design.device_list_properties,
        user_creation_checks_singleton=design.user_creation_checks_singleton,
        hide_internal=design.hide_internal,
    )


@qemu_function("migration_instance_init", "(obj: Object) -> None",
               "a new object's heap entry and locks; set current_migration when the design sets it here "
               "(pointer_set), asserting it unset (init_asserts_unset)", "instance_init", steps=False)
@typeguard_ignore  # called for every instance; mypy checks it
def _instance_init(world: World, obj: Object) -> None:
    d = world.design
    world.counter += 1
    label = f"mig#{world.counter}"
    if isinstance(obj, MigrationState):
        obj.heap_label = label
    h = HeapObj(label, locks={n: Lock(f"{n}@{label}") for n in OBJECT_LOCKS})
    world.heap[label] = h
    world.qom[label] = obj
    world.label_of[id(obj)] = label
    world.record("instance_init", label, note="locks created", function=source("instance_init", d.tag))
    if d.pointer_set is PointerSet.INSTANCE_INIT:
        cur = world.pointers["current_migration"]
        if d.init_asserts_unset and cur is not None:
            raise Crash(world.fault(
                Outcome.ASSERT, label,
                f"migration_instance_init: assertion '!current_migration' failed ({cur} set)"))
        world.store("current_migration", label, "set in instance_init")
    world.check_second_instance()


@qemu_function("migration_instance_finalize", "(obj: Object) -> None",
               "clear current_migration when the design clears it here (pointer_clear), destroy the "
               "object's locks, free it (after the grace period under Protection.RCU)", "instance_finalize",
               steps=False)
@typeguard_ignore  # called for every instance; mypy checks it
def _instance_finalize(world: World, obj: Object) -> None:
    d = world.design
    label = world.label_of[id(obj)]
    h = world.heap[label]
    world.record("instance_finalize", label, function=source("instance_finalize", d.tag))
    if d.pointer_clear is PointerClear.FINALIZE or (
        d.pointer_clear is PointerClear.FINALIZE_IF_SELF and world.pointers["current_migration"] == label
    ):
        world.store("current_migration", None, "cleared in instance_finalize")
    for lk in h.locks.values():
        lk.state, lk.owner = LockState.DESTROYED, None
    world.finalizing.discard(label)
    if d.protection is Protection.RCU and world.rcu_readers:
        h.mem = MemState.FINALIZED
        world.rcu_deferred.append(label)
        world.record("call_rcu(free)", label, note="free deferred to the grace period")
    else:
        h.mem = MemState.FREED


class MigrationUniverse:
    """A universe, machine-ready, with ``migration`` registered (class initialized) for one design.

    It is built once and reused run after run: :meth:`bind` attaches a run's world, and
    :meth:`reset` drops every reference the run left and checks that the universe is back to
    its baseline (live objects, singleton records); if it is not (e.g. QEMU "crashed" inside a
    QOM call), the caller must not reuse it.  So runs share class tables, never state.

    :param design: the design (QOM-side knobs: singleton, internal, policies).
    """

    def __init__(self, design: Design) -> None:
        self.design = design
        self.world: World | None = None
        self.universe = Universe(singleton_policy=design.singleton_policy, qmp_policy=_policy(design))
        _register(self)
        with use_universe(self.universe):
            object_class_by_name(TYPE_MIGRATION)  # run class_init now, once
        self.baseline = self._fingerprint()

    def __repr__(self) -> str:
        return f"MigrationUniverse({self.design.name}, bound={self.world is not None})"

    def _fingerprint(self) -> tuple[object, ...]:
        u = self.universe
        return (tuple(sorted((k, v) for k, v in u.live.items() if v)), tuple(sorted(u.singletons)),
                len(u.objects))

    def bind(self, world: World) -> None:
        """:param world: the run that uses this universe from now on."""
        self.world = world

    def reset(self) -> bool:
        """Unbind the run's world and drop the references it left.

        :return: whether the universe is back to its baseline (safe to reuse).
        """
        world = self.world
        self.world = None
        if world is None:
            return True
        if world.qom_dirty:
            return False
        with use_universe(self.universe):
            for obj in list(world.qom.values()):
                while obj.ref > 0:
                    object_unref(obj)
        return self._fingerprint() == self.baseline


def new_universe(design: Design) -> Universe:
    """:param design: the design.
    :return: a fresh universe with ``migration`` registered (its hooks bound to no world yet).
    """
    return MigrationUniverse(design).universe


def _register(mu: MigrationUniverse) -> None:
    d = mu.design
    props = migration_qdev_properties(d.tag)

    def class_init(klass: ObjectClass, data: object) -> None:
        if isinstance(klass, DeviceClass):
            klass.user_creatable = False
            device_class_set_props(klass, props)
        sc = object_class_dynamic_cast(klass, TYPE_SINGLETON)
        if isinstance(sc, SingletonClass):
            sc.get_instance = get_instance

    @typeguard_ignore  # called for every instance; mypy checks it
    def get_instance(klass: ObjectClass) -> Object | None:
        # migration_get_instance(): OBJECT(current_migration), here with the new reference
        # qom.singleton's contract asks for (the caller drops it).
        world = mu.world
        if world is None:
            return None
        label = world.pointers["current_migration"]
        if label is None:
            return None
        world.heap[label].check_access("singleton get_instance", world.steps - 1, world.actor.name)
        return object_ref(world.qom[label])

    @typeguard_ignore  # called for every instance; mypy checks it
    def instance_init(obj: Object) -> None:
        if mu.world is not None:
            hook(mu.world, "migration_instance_init", obj)

    @typeguard_ignore  # called for every instance; mypy checks it
    def instance_finalize(obj: Object) -> None:
        if mu.world is not None:
            hook(mu.world, "migration_instance_finalize", obj)

    interfaces = []
    if d.singleton:
        interfaces.append(TYPE_SINGLETON)
    if d.internal:
        interfaces.append(TYPE_INTERNAL)
    with use_universe(mu.universe):
        type_register_static(TypeInfo(
            name=TYPE_MIGRATION,
            parent="device",
            instance_size=1,
            class_init=class_init,
            instance_init=instance_init,
            instance_finalize=instance_finalize,
            interfaces=tuple(interfaces),
            class_type=MigrationClass,
            instance_type=MigrationState,
        ))
        qdev_machine_creation_done()


def heap_of(world: World, obj: Object) -> HeapObj:
    """:param world: the run's world.
    :param obj: a migration instance.
    :return: its heap object.
    """
    return world.heap[world.label_of[id(obj)]]
